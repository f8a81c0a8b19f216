"""DataCustoms (数据海关): clearance cases, state machine, isCleared — against anvil."""

from __future__ import annotations

import pytest

from tests.contracts.helpers import (
    ZERO_ADDRESS,
    AssetStatus,
    ClearanceState,
    Roles,
    event,
    expect_deploy_revert,
    expect_revert,
    jur,
    send,
)

DAY = 24 * 3600


@pytest.fixture
def customs(market):
    return market.datacustoms


@pytest.fixture
def asset_id(market):
    """A level-3 enterprise dataset registered in CN."""
    return market.register_asset(market.holder_cn, level=3)


def _request(market, customs, asset_id, dest="HK", recipient=None, sender=None, purpose=b"purpose-cid"):
    recipient = market.holder_hk if recipient is None else recipient
    receipt = send(customs.functions.requestClearance(asset_id, jur(dest), recipient, purpose), sender or market.holder_cn)
    return int(event(customs, receipt, "ClearanceRequested")["clearanceId"]), receipt


def test_constructor(market, customs):
    assert customs.functions.participants().call() == market.participants.address
    assert customs.functions.assets().call() == market.assets.address
    assert customs.functions.clearanceCount().call() == 0
    p, a = market.participants.address, market.assets.address
    expect_deploy_revert(market.w3, "DataCustoms", (ZERO_ADDRESS, a), "ZeroAddress", sender=market.admin)
    expect_deploy_revert(market.w3, "DataCustoms", (p, ZERO_ADDRESS), "ZeroAddress", sender=market.admin)


# ------------------------------------------------------------------ request


def test_request_clearance(market, customs, asset_id):
    clearance_id, receipt = _request(market, customs, asset_id)
    assert clearance_id == 1
    assert event(customs, receipt, "ClearanceRequested") == {
        "clearanceId": 1,
        "assetId": asset_id,
        "requester": market.holder_cn,
        "destination": b"HK",
        "recipient": market.holder_hk,
        "purposeCid": b"purpose-cid",
    }
    ts = market.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert tuple(customs.functions.clearance(1).call()) == (
        asset_id,
        market.holder_cn,
        b"HK",
        ClearanceState.REQUESTED,
        ts,
        market.holder_hk,
        0,
        ZERO_ADDRESS,
        0,
        b"purpose-cid",
        b"",
    )
    # any active participant may ask (e.g. a voucher holder, not the asset holder); ids sequential
    case2, _ = _request(market, customs, asset_id, dest="SG", recipient=ZERO_ADDRESS, sender=market.bank_cn)
    assert case2 == 2 and customs.functions.clearanceCount().call() == 2
    assert not customs.functions.isCleared(asset_id, jur("HK"), market.holder_hk).call()


def test_request_clearance_rejects(market, customs, asset_id):
    hk = jur("HK")
    fn = customs.functions.requestClearance(asset_id, hk, market.holder_hk, b"p")
    expect_revert(fn, "NotActive", market.outsider, sender=market.outsider)
    expect_revert(
        customs.functions.requestClearance(99, hk, market.holder_hk, b"p"), "UnknownAsset", 99, sender=market.holder_cn
    )
    expect_revert(
        customs.functions.requestClearance(asset_id, b"hk", ZERO_ADDRESS, b"p"),
        "InvalidJurisdiction",
        b"hk",
        sender=market.holder_cn,
    )
    expect_revert(
        customs.functions.requestClearance(asset_id, hk, market.holder_mo, b"p"),
        "RecipientNotInDestination",
        market.holder_mo,
        b"HK",
        b"MO",
        sender=market.holder_cn,
    )
    expect_revert(
        customs.functions.requestClearance(asset_id, hk, market.outsider, b"p"),
        "RecipientNotInDestination",
        market.outsider,
        b"HK",
        b"\0\0",
        sender=market.holder_cn,
    )
    expect_revert(
        customs.functions.requestClearance(asset_id, hk, market.holder_hk, b""), "EmptyPurpose", sender=market.holder_cn
    )
    send(market.assets.functions.freeze(asset_id, "dispute"), market.regulator)
    expect_revert(fn, "InvalidAssetStatus", asset_id, AssetStatus.FROZEN, sender=market.holder_cn)


# ------------------------------------------------------------------ approve


def test_approve_clearance(market, customs, asset_id, chain):
    clearance_id, _ = _request(market, customs, asset_id)
    expiry = chain.now() + 30 * DAY
    receipt = send(customs.functions.approveClearance(clearance_id, expiry, b"conditions-cid"), market.customs)
    assert event(customs, receipt, "ClearanceApproved") == {
        "clearanceId": clearance_id,
        "assetId": asset_id,
        "officer": market.customs,
        "destination": b"HK",
        "recipient": market.holder_hk,
        "expiry": expiry,
        "conditionsCid": b"conditions-cid",
    }
    ts = market.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    case = customs.functions.clearance(clearance_id).call()
    assert (case[3], case[6], case[7], case[8], case[10]) == (
        ClearanceState.APPROVED,
        expiry,
        market.customs,
        ts,
        b"conditions-cid",
    )
    assert tuple(customs.functions.coverOf(asset_id, jur("HK"), market.holder_hk).call()) == (expiry, clearance_id)
    # the named recipient only, in that destination, for that asset
    assert customs.functions.isCleared(asset_id, jur("HK"), market.holder_hk).call()
    assert customs.functions.isCleared(asset_id, jur("HK"), market.holder_hk).call()  # not consumed
    assert not customs.functions.isCleared(asset_id, jur("HK"), market.spare[0]).call()
    assert not customs.functions.isCleared(asset_id, jur("MO"), market.holder_hk).call()
    assert not customs.functions.isCleared(asset_id + 1, jur("HK"), market.holder_hk).call()


def test_wildcard_clearance_covers_anyone_there(market, customs, asset_id, chain):
    clearance_id, _ = _request(market, customs, asset_id, dest="SG", recipient=ZERO_ADDRESS)
    expiry = chain.now() + DAY
    send(customs.functions.approveClearance(clearance_id, expiry, b""), market.customs)
    for recipient in (market.holder_sg, market.spare[0], ZERO_ADDRESS):
        assert customs.functions.isCleared(asset_id, jur("SG"), recipient).call()
    assert not customs.functions.isCleared(asset_id, jur("HK"), market.holder_hk).call()


def test_clearance_bounded_by_expiry(market, customs, asset_id, chain):
    clearance_id, _ = _request(market, customs, asset_id)
    expiry = chain.now() + 1000
    send(customs.functions.approveClearance(clearance_id, expiry, b""), market.customs)
    chain.mine(expiry - 1)
    assert customs.functions.isCleared(asset_id, jur("HK"), market.holder_hk).call()
    chain.mine(expiry)  # expiry <= block.timestamp: no longer cleared
    assert not customs.functions.isCleared(asset_id, jur("HK"), market.holder_hk).call()
    # once expired, a new case for the same key can be approved
    case2, _ = _request(market, customs, asset_id)
    send(customs.functions.approveClearance(case2, chain.now() + DAY, b""), market.customs)
    assert customs.functions.isCleared(asset_id, jur("HK"), market.holder_hk).call()
    assert customs.functions.coverOf(asset_id, jur("HK"), market.holder_hk).call()[1] == case2
    # revoking the old, expired case does not touch the new cover
    send(customs.functions.revokeClearance(clearance_id, "housekeeping"), market.customs)
    assert customs.functions.isCleared(asset_id, jur("HK"), market.holder_hk).call()


def test_approve_clearance_rejects(market, customs, asset_id, chain):
    clearance_id, _ = _request(market, customs, asset_id)
    future = chain.now() + DAY
    expect_revert(
        customs.functions.approveClearance(clearance_id, future, b""),
        "NotAuthorised",
        market.regulator,
        Roles.CUSTOMS,
        sender=market.regulator,
    )
    expect_revert(customs.functions.approveClearance(99, future, b""), "UnknownClearance", 99, sender=market.customs)
    now = chain.now()
    expect_revert(
        customs.functions.approveClearance(clearance_id, now, b""), "InvalidExpiry", now, now, sender=market.customs
    )
    expect_revert(
        customs.functions.approveClearance(clearance_id, 0, b""), "InvalidExpiry", 0, now, sender=market.customs
    )
    # customs may not decide its own request
    own, _ = _request(market, customs, asset_id, dest="SG", recipient=ZERO_ADDRESS, sender=market.customs)
    expect_revert(customs.functions.approveClearance(own, future, b""), "SelfDecision", own, market.customs,
                  sender=market.customs)
    # the asset must still be active at approval
    send(market.assets.functions.freeze(asset_id, "dispute"), market.regulator)
    expect_revert(
        customs.functions.approveClearance(clearance_id, future, b""),
        "InvalidAssetStatus",
        asset_id,
        AssetStatus.FROZEN,
        sender=market.customs,
    )
    send(market.assets.functions.unfreeze(asset_id, "resolved"), market.regulator)
    send(customs.functions.approveClearance(clearance_id, future, b""), market.customs)
    expect_revert(
        customs.functions.approveClearance(clearance_id, future, b""),
        "InvalidClearanceState",
        clearance_id,
        ClearanceState.APPROVED,
        sender=market.customs,
    )
    # one live clearance per (asset, destination, recipient)
    dup, _ = _request(market, customs, asset_id)
    expect_revert(
        customs.functions.approveClearance(dup, future + DAY, b""),
        "ClearanceActive",
        dup,
        clearance_id,
        future,
        sender=market.customs,
    )
    # a suspended customs officer is no customs officer
    send(market.participants.functions.suspendAccount(market.customs, "rotation"), market.admin)
    expect_revert(
        customs.functions.approveClearance(dup, future, b""),
        "NotAuthorised",
        market.customs,
        Roles.CUSTOMS,
        sender=market.customs,
    )


# ------------------------------------------------------------------ reject


def test_reject_clearance(market, customs, asset_id, chain):
    clearance_id, _ = _request(market, customs, asset_id)
    receipt = send(customs.functions.rejectClearance(clearance_id, "level 4 content found"), market.customs)
    assert event(customs, receipt, "ClearanceRejected") == {
        "clearanceId": clearance_id,
        "assetId": asset_id,
        "officer": market.customs,
        "reason": "level 4 content found",
    }
    case = customs.functions.clearance(clearance_id).call()
    assert (case[3], case[6], case[7]) == (ClearanceState.REJECTED, 0, market.customs)
    assert not customs.functions.isCleared(asset_id, jur("HK"), market.holder_hk).call()
    future = chain.now() + DAY
    for fn in (
        customs.functions.approveClearance(clearance_id, future, b""),
        customs.functions.rejectClearance(clearance_id, "again"),
    ):
        expect_revert(fn, "InvalidClearanceState", clearance_id, ClearanceState.REJECTED, sender=market.customs)
    expect_revert(
        customs.functions.revokeClearance(clearance_id, "x"),
        "InvalidClearanceState",
        clearance_id,
        ClearanceState.REJECTED,
        sender=market.regulator,
    )


def test_reject_clearance_rejects(market, customs, asset_id):
    clearance_id, _ = _request(market, customs, asset_id)
    expect_revert(
        customs.functions.rejectClearance(clearance_id, "no"), "NotAuthorised", market.holder_cn, Roles.CUSTOMS,
        sender=market.holder_cn,
    )
    expect_revert(customs.functions.rejectClearance(99, "no"), "UnknownClearance", 99, sender=market.customs)
    expect_revert(customs.functions.rejectClearance(clearance_id, ""), "EmptyReason", sender=market.customs)
    own, _ = _request(market, customs, asset_id, dest="SG", recipient=ZERO_ADDRESS, sender=market.customs)
    expect_revert(customs.functions.rejectClearance(own, "no"), "SelfDecision", own, market.customs, sender=market.customs)


# ------------------------------------------------------------------ revoke


@pytest.mark.parametrize("revoker", ["customs", "regulator"])
def test_revoke_clearance(market, customs, asset_id, chain, revoker):
    clearance_id, _ = _request(market, customs, asset_id, dest="MO", recipient=ZERO_ADDRESS)
    send(customs.functions.approveClearance(clearance_id, chain.now() + DAY, b""), market.customs)
    assert customs.functions.isCleared(asset_id, jur("MO"), market.holder_mo).call()
    who = market.addr[revoker]
    receipt = send(customs.functions.revokeClearance(clearance_id, "conditions breached"), who)
    assert event(customs, receipt, "ClearanceRevoked") == {
        "clearanceId": clearance_id,
        "assetId": asset_id,
        "revoker": who,
        "destination": b"MO",
        "recipient": ZERO_ADDRESS,
        "reason": "conditions breached",
    }
    case = customs.functions.clearance(clearance_id).call()
    assert (case[3], case[7]) == (ClearanceState.REVOKED, who)
    assert not customs.functions.isCleared(asset_id, jur("MO"), market.holder_mo).call()
    assert tuple(customs.functions.coverOf(asset_id, jur("MO"), ZERO_ADDRESS).call()) == (0, 0)
    for fn in (
        customs.functions.revokeClearance(clearance_id, "again"),
        customs.functions.approveClearance(clearance_id, chain.now() + DAY, b""),
        customs.functions.rejectClearance(clearance_id, "again"),
    ):
        expect_revert(fn, "InvalidClearanceState", clearance_id, ClearanceState.REVOKED, sender=market.customs)
    # the key is free again after revocation
    case2, _ = _request(market, customs, asset_id, dest="MO", recipient=ZERO_ADDRESS)
    send(customs.functions.approveClearance(case2, chain.now() + DAY, b""), market.customs)
    assert customs.functions.isCleared(asset_id, jur("MO"), market.holder_mo).call()


def test_revoke_clearance_rejects(market, customs, asset_id, chain):
    clearance_id, _ = _request(market, customs, asset_id)
    expect_revert(
        customs.functions.revokeClearance(clearance_id, "x"),
        "InvalidClearanceState",
        clearance_id,
        ClearanceState.REQUESTED,
        sender=market.customs,
    )
    send(customs.functions.approveClearance(clearance_id, chain.now() + DAY, b""), market.customs)
    expect_revert(
        customs.functions.revokeClearance(clearance_id, "x"),
        "NotAuthorised",
        market.holder_cn,
        Roles.CUSTOMS | Roles.REGULATOR,
        sender=market.holder_cn,
    )
    expect_revert(customs.functions.revokeClearance(99, "x"), "UnknownClearance", 99, sender=market.regulator)
    expect_revert(customs.functions.revokeClearance(clearance_id, ""), "EmptyReason", sender=market.regulator)


def test_clear_helper_for_other_suites(market, customs, asset_id):
    """market.clear() is what the voucher/settlement tests use to open a border."""
    clearance_id = market.clear(asset_id, "HK")
    assert customs.functions.isCleared(asset_id, jur("HK"), market.holder_hk).call()
    assert customs.functions.clearance(clearance_id).call()[3] == ClearanceState.APPROVED
