"""DataVoucher: issuance, compliance on every transfer (restriction codes), use, supervision, meta-tx."""

from __future__ import annotations

from typing import Any

import pytest

from tests.contracts.helpers import (
    ANY,
    AssetStatus,
    Roles,
    SourceType,
    event,
    events,
    expect_revert,
    mapping_slot,
    send,
)
from tests.contracts.trading import (
    DAY,
    HOLDING,
    OPERATING,
    USE,
    ZERO,
    Trading,
    calldata,
    forward_request,
    trading,
)

PURPOSE = b"\x22" * 32


def code(t: Trading, frm: str, to: str, vid: int) -> int:
    return int(t.m.voucher.functions.detectTransferRestriction(frm, to, vid).call())


def transfer(m: Any, frm: str, to: str, vid: int) -> Any:
    return m.voucher.functions.transferFrom(frm, to, vid)


# ------------------------------------------------------------------ issuance


def test_issue_enterprise_voucher_by_holder(trading: Trading) -> None:
    t, m = trading, trading.m
    aid = m.register_asset(m.holder_cn)
    now = t.now()
    receipt = send(
        m.voucher.functions.issue(m.holder_cn, aid, USE, b"\x11" * 32, now, now + DAY, 5, True), m.holder_cn
    )
    ev = event(m.voucher, receipt, "VoucherIssued")
    vid = ev["voucherId"]
    assert (ev["assetId"], ev["issuer"], ev["holder"], ev["right"]) == (aid, m.holder_cn, m.holder_cn, USE)
    assert (ev["validFrom"], ev["validUntil"], ev["maxUses"], ev["transferable"]) == (now, now + DAY, 5, True)
    assert ev["scopeHash"] == b"\x11" * 32
    mint = event(m.voucher, receipt, "Transfer")
    assert (mint["from"], mint["to"], mint["tokenId"]) == (ZERO, m.holder_cn, vid)
    assert m.voucher.functions.ownerOf(vid).call() == m.holder_cn
    core, issuer, scope = m.voucher.functions.voucher(vid).call()
    assert core == [aid, USE, 1, True, now, now + DAY, 5, 0] or tuple(core) == (aid, USE, 1, True, now, now + DAY, 5, 0)
    assert issuer == m.holder_cn and scope == b"\x11" * 32
    assert m.voucher.functions.assetOf(vid).call() == aid
    assert m.voucher.functions.voucherCount().call() == vid


def test_voucher_hot_fields_in_one_slot(trading: Trading) -> None:
    t, m = trading, trading.m
    vid, aid = t.issue(max_uses=7)
    # ERC721 slots 0-5, then _lastTokenId (6), _cores (7)
    base = mapping_slot(vid, 7)
    word = int.from_bytes(m.w3.eth.get_storage_at(m.voucher.address, base), "big")
    assert word & (2**64 - 1) == aid
    assert int.from_bytes(m.w3.eth.get_storage_at(m.voucher.address, base + 1), "big") == 0
    assert m.voucher.functions.voucherCore(vid).call()[6] == 7


def test_issue_requires_asset_holder_for_enterprise_data(trading: Trading) -> None:
    t, m = trading, trading.m
    aid = m.register_asset(m.holder_cn)
    now = t.now()
    fn = m.voucher.functions.issue(m.bank_cn, aid, USE, b"\0" * 32, now, now + DAY, 1, True)
    expect_revert(fn, "NotAuthorisedIssuer", m.bank_cn, aid, int(SourceType.ENTERPRISE), sender=m.bank_cn)
    expect_revert(fn, "NotAuthorisedIssuer", m.authority, aid, int(SourceType.ENTERPRISE), sender=m.authority)
    aid2 = m.register_asset(m.holder_cn, source=SourceType.PERSONAL_DERIVED)
    fn2 = m.voucher.functions.issue(m.bank_cn, aid2, USE, b"\0" * 32, now, now + DAY, 1, True)
    expect_revert(fn2, "NotAuthorisedIssuer", m.bank_cn, aid2, int(SourceType.PERSONAL_DERIVED), sender=m.bank_cn)
    send(fn2, m.holder_cn)


def test_public_data_vouchers_only_by_authority(trading: Trading) -> None:
    t, m = trading, trading.m
    aid = m.register_asset(m.operator, source=SourceType.PUBLIC)
    now = t.now()
    fn = m.voucher.functions.issue(m.holder_cn, aid, OPERATING, b"\0" * 32, now, now + DAY, 1, False)
    # even the asset's holder (a licensed operator) may not issue public-data vouchers
    expect_revert(fn, "NotAuthorisedIssuer", m.operator, aid, int(SourceType.PUBLIC), sender=m.operator)
    receipt = send(fn, m.authority)  # primary market grant
    ev = event(m.voucher, receipt, "VoucherIssued")
    assert ev["issuer"] == m.authority and ev["holder"] == m.holder_cn and ev["right"] == OPERATING


def test_issue_rejects_inactive_asset_and_bad_window(trading: Trading) -> None:
    t, m = trading, trading.m
    now = t.now()
    expect_revert(
        m.voucher.functions.issue(m.holder_cn, 999, USE, b"\0" * 32, now, now + 1, 1, True),
        "AssetNotActive", 999, int(AssetStatus.NONE), sender=m.holder_cn,
    )
    expect_revert(
        m.voucher.functions.issue(m.holder_cn, 2**64, USE, b"\0" * 32, now, now + 1, 1, True),
        "AssetIdOutOfRange", 2**64, sender=m.holder_cn,
    )
    aid = m.register_asset(m.holder_cn)
    expect_revert(
        m.voucher.functions.issue(m.holder_cn, aid, USE, b"\0" * 32, now + 5, now + 5, 1, True),
        "InvalidValidity", now + 5, now + 5, sender=m.holder_cn,
    )
    send(m.assets.functions.freeze(aid, "court order"), m.regulator)
    expect_revert(
        m.voucher.functions.issue(m.holder_cn, aid, USE, b"\0" * 32, now, now + DAY, 1, True),
        "AssetNotActive", aid, int(AssetStatus.FROZEN), sender=m.holder_cn,
    )


def test_mint_is_compliance_checked(trading: Trading) -> None:
    t, m = trading, trading.m
    aid = m.register_asset(m.holder_cn)
    now = t.now()
    nxt = m.voucher.functions.voucherCount().call() + 1
    expect_revert(
        m.voucher.functions.issue(m.outsider, aid, USE, b"\0" * 32, now, now + DAY, 1, True),
        "TransferRestricted", 2, ZERO, m.outsider, nxt, sender=m.holder_cn,
    )
    expect_revert(
        m.voucher.functions.issue(m.holder_hk, aid, USE, b"\0" * 32, now, now + DAY, 1, True),
        "TransferRestricted", 11, ZERO, m.holder_hk, nxt, sender=m.holder_cn,
    )
    expect_revert(  # already expired at issuance
        m.voucher.functions.issue(m.bank_cn, aid, USE, b"\0" * 32, now - 100, now - 50, 1, True),
        "TransferRestricted", 7, ZERO, m.bank_cn, nxt, sender=m.holder_cn,
    )
    m.clear(aid, "HK", m.holder_hk)
    vid, _ = t.issue(m.holder_cn, to=m.holder_hk, asset_id=aid)
    assert m.voucher.functions.ownerOf(vid).call() == m.holder_hk


# ------------------------------------------------------------------ restriction codes


def test_restriction_messages(trading: Trading) -> None:
    m = trading.m
    for c in range(13):
        assert len(m.voucher.functions.messageForTransferRestriction(c).call()) > 10
    assert "customs" in m.voucher.functions.messageForTransferRestriction(11).call()
    expect_revert(m.voucher.functions.messageForTransferRestriction(13), "UnknownRestrictionCode", 13)


def test_transfer_between_active_participants(trading: Trading) -> None:
    t, m = trading, trading.m
    vid, _ = t.issue()
    assert code(t, m.holder_cn, m.bank_cn, vid) == 0
    receipt = send(transfer(m, m.holder_cn, m.bank_cn, vid), m.holder_cn)
    assert event(m.voucher, receipt, "Transfer")["to"] == m.bank_cn


@pytest.mark.parametrize("case", ["outsider", "suspended_recipient", "suspended_sender", "suspended_org"])
def test_inactive_parties_restricted(trading: Trading, case: str) -> None:
    t, m = trading, trading.m
    vid, _ = t.issue()
    frm, to, expected = m.holder_cn, m.bank_cn, 0
    if case == "outsider":
        to, expected = m.outsider, 2
    elif case == "suspended_recipient":
        send(m.participants.functions.suspendAccount(m.bank_cn, "audit"), m.admin)
        expected = 2
    elif case == "suspended_sender":
        send(m.participants.functions.suspendAccount(m.holder_cn, "audit"), m.admin)
        expected = 1
    else:
        send(m.participants.functions.suspendOrganisation(m.orgs["holder_cn"], "audit"), m.admin)
        expected = 1
    assert code(t, frm, to, vid) == expected
    expect_revert(transfer(m, frm, to, vid), "TransferRestricted", expected, frm, to, vid, sender=frm)


def test_licence_expiry_restricts_both_sides(trading: Trading) -> None:
    t, m = trading, trading.m
    vid, _ = t.issue(valid_until=t.now() + 400 * DAY)
    other, _ = t.issue(to=m.operator, valid_until=t.now() + 400 * DAY)
    assert code(t, m.holder_cn, m.operator, vid) == 0
    send(m.participants.functions.setLicenceExpiry(m.operator, t.now() + 10), m.admin)
    m.chain.time_travel(20)
    assert code(t, m.holder_cn, m.operator, vid) == 4
    expect_revert(transfer(m, m.holder_cn, m.operator, vid), "TransferRestricted", 4, m.holder_cn, m.operator, vid,
                  sender=m.holder_cn)
    assert code(t, m.operator, m.holder_cn, other) == 3
    expect_revert(transfer(m, m.operator, m.holder_cn, other), "TransferRestricted", 3, m.operator, m.holder_cn,
                  other, sender=m.operator)


def test_voucher_state_restrictions(trading: Trading) -> None:
    t, m = trading, trading.m
    fixed, _ = t.issue(transferable=False)
    assert code(t, m.holder_cn, m.bank_cn, fixed) == 8
    expect_revert(transfer(m, m.holder_cn, m.bank_cn, fixed), "TransferRestricted", 8, m.holder_cn, m.bank_cn,
                  fixed, sender=m.holder_cn)
    vid, aid = t.issue()
    send(m.voucher.functions.freeze(vid, "dispute"), m.regulator)
    assert code(t, m.holder_cn, m.bank_cn, vid) == 5
    expect_revert(transfer(m, m.holder_cn, m.bank_cn, vid), "TransferRestricted", 5, m.holder_cn, m.bank_cn, vid,
                  sender=m.holder_cn)
    send(m.voucher.functions.revoke(vid, "fraud"), m.regulator)
    assert code(t, m.holder_cn, m.bank_cn, vid) == 6
    assert code(t, m.holder_cn, m.bank_cn, 4242) == 12
    short, aid2 = t.issue(valid_until=t.now() + 100)
    send(m.assets.functions.freeze(aid2, "investigation"), m.regulator)
    assert code(t, m.holder_cn, m.bank_cn, short) == 9
    send(m.assets.functions.revoke(aid2, "invalid registration"), m.regulator)
    assert code(t, m.holder_cn, m.bank_cn, short) == 10
    expect_revert(transfer(m, m.holder_cn, m.bank_cn, short), "TransferRestricted", 10, m.holder_cn, m.bank_cn,
                  short, sender=m.holder_cn)
    m.chain.time_travel(200)
    assert code(t, m.holder_cn, m.bank_cn, short) == 7


def test_cross_border_rule(trading: Trading) -> None:
    t, m = trading, trading.m
    # level 2, home CN: moving to HK needs a clearance; within CN not
    vid, aid = t.issue(level=2)
    assert code(t, m.holder_cn, m.holder_hk, vid) == 11
    expect_revert(transfer(m, m.holder_cn, m.holder_hk, vid), "TransferRestricted", 11, m.holder_cn, m.holder_hk,
                  vid, sender=m.holder_cn)
    m.clear(aid, "HK")  # any recipient in HK
    assert code(t, m.holder_cn, m.holder_hk, vid) == 0
    assert code(t, m.holder_cn, m.holder_mo, vid) == 11
    send(transfer(m, m.holder_cn, m.holder_hk, vid), m.holder_cn)
    # back home at level 2: no clearance needed
    assert code(t, m.holder_hk, m.bank_cn, vid) == 0
    # level 3: crossing ANY border needs a clearance, also back into the home jurisdiction
    v3, a3 = t.issue(level=3)
    m.clear(a3, "HK", m.holder_hk)
    send(transfer(m, m.holder_cn, m.holder_hk, v3), m.holder_cn)
    assert code(t, m.holder_hk, m.bank_cn, v3) == 11
    m.clear(a3, "CN", m.bank_cn)
    assert code(t, m.holder_hk, m.bank_cn, v3) == 0
    assert code(t, m.holder_hk, m.holder_cn, v3) == 11  # clearance named another recipient
    send(transfer(m, m.holder_hk, m.bank_cn, v3), m.holder_hk)


# ------------------------------------------------------------------ use


def test_redeem_by_holder_and_authorised_bank(trading: Trading) -> None:
    t, m = trading, trading.m
    vid, aid = t.issue(max_uses=2)
    receipt = send(m.voucher.functions.redeem(vid, PURPOSE), m.holder_cn)
    ev = event(m.voucher, receipt, "VoucherUsed")
    assert (ev["voucherId"], ev["assetId"], ev["user"], ev["holder"], ev["purposeHash"], ev["useNumber"]) == (
        vid, aid, m.holder_cn, m.holder_cn, PURPOSE, 1)
    expect_revert(m.voucher.functions.redeem(vid, PURPOSE), "NotAuthorisedUser", vid, m.bank_cn, m.holder_cn,
                  sender=m.bank_cn)
    receipt = send(m.voucher.functions.authoriseUser(vid, m.bank_cn, True), m.holder_cn)
    assert event(m.voucher, receipt, "UserAuthorised") == {
        "voucherId": vid, "holder": m.holder_cn, "user": m.bank_cn, "allowed": True}
    assert m.voucher.functions.isAuthorisedUser(vid, m.bank_cn).call()
    receipt = send(m.voucher.functions.redeem(vid, b"\x33" * 32), m.bank_cn)  # Foshan: loan decision
    ev = event(m.voucher, receipt, "VoucherUsed")
    assert (ev["user"], ev["holder"], ev["useNumber"]) == (m.bank_cn, m.holder_cn, 2)
    expect_revert(m.voucher.functions.redeem(vid, PURPOSE), "UsesExhausted", vid, 2, sender=m.bank_cn)
    send(m.voucher.functions.authoriseUser(vid, m.bank_cn, False), m.holder_cn)
    assert not m.voucher.functions.isAuthorisedUser(vid, m.bank_cn).call()


def test_authorize_user_only_by_holder_and_lapses_on_transfer(trading: Trading) -> None:
    t, m = trading, trading.m
    vid, _ = t.issue(max_uses=5)
    expect_revert(m.voucher.functions.authoriseUser(vid, m.bank_cn, True), "NotVoucherHolder", vid, m.bank_cn,
                  m.holder_cn, sender=m.bank_cn)
    expect_revert(m.voucher.functions.authoriseUser(777, m.bank_cn, True), "ERC721NonexistentToken", 777,
                  sender=m.bank_cn)
    send(m.voucher.functions.authoriseUser(vid, m.operator, True), m.holder_cn)
    send(transfer(m, m.holder_cn, m.bank_cn, vid), m.holder_cn)
    assert not m.voucher.functions.isAuthorisedUser(vid, m.operator).call()
    expect_revert(m.voucher.functions.redeem(vid, PURPOSE), "NotAuthorisedUser", vid, m.operator, m.bank_cn,
                  sender=m.operator)


def test_redeem_window_status_and_participants(trading: Trading) -> None:
    t, m = trading, trading.m
    now = t.now()
    vid, aid = t.issue(valid_from=now + 1000, valid_until=now + 2000)
    expect_revert(m.voucher.functions.redeem(vid, PURPOSE), "VoucherNotYetValid", vid, now + 1000, ANY,
                  sender=m.holder_cn)
    m.chain.time_travel(1100)
    # a use is checked as a transfer from the holder to the user (restriction codes of detectTransferRestriction)
    expect_revert(m.voucher.functions.authoriseUser(vid, m.outsider, True), "UseRestricted", 2, m.holder_cn,
                  m.outsider, vid, sender=m.holder_cn)
    send(m.voucher.functions.authoriseUser(vid, m.bank_cn, True), m.holder_cn)
    send(m.participants.functions.suspendAccount(m.bank_cn, "audit"), m.admin)
    expect_revert(m.voucher.functions.redeem(vid, PURPOSE), "UseRestricted", 2, m.holder_cn, m.bank_cn, vid,
                  sender=m.bank_cn)
    send(m.participants.functions.reinstateAccount(m.bank_cn, "ok"), m.admin)
    send(m.voucher.functions.freeze(vid, "dispute"), m.regulator)
    expect_revert(m.voucher.functions.redeem(vid, PURPOSE), "VoucherNotActive", vid, 2, sender=m.holder_cn)
    send(m.voucher.functions.unfreeze(vid, "resolved"), m.regulator)
    send(m.assets.functions.freeze(aid, "investigation"), m.regulator)
    expect_revert(m.voucher.functions.redeem(vid, PURPOSE), "UseRestricted", 9, m.holder_cn, m.holder_cn, vid,
                  sender=m.holder_cn)
    send(m.assets.functions.unfreeze(aid, "cleared"), m.regulator)
    send(m.participants.functions.suspendAccount(m.holder_cn, "audit"), m.admin)
    expect_revert(m.voucher.functions.redeem(vid, PURPOSE), "UseRestricted", 1, m.holder_cn, m.holder_cn, vid,
                  sender=m.holder_cn)
    send(m.participants.functions.reinstateAccount(m.holder_cn, "ok"), m.admin)
    send(m.voucher.functions.redeem(vid, PURPOSE), m.holder_cn)
    m.chain.time_travel(1000)
    expect_revert(m.voucher.functions.redeem(vid, PURPOSE), "VoucherExpired", vid, now + 2000, ANY,
                  sender=m.holder_cn)
    expect_revert(m.voucher.functions.redeem(555, PURPOSE), "ERC721NonexistentToken", 555, sender=m.holder_cn)


# ------------------------------------------------------------------ supervision


def test_freeze_unfreeze_revoke_events_and_errors(trading: Trading) -> None:
    t, m = trading, trading.m
    vid, aid = t.issue()
    for fn in ("freeze", "unfreeze", "revoke"):
        expect_revert(getattr(m.voucher.functions, fn)(vid, "x"), "NotRegulator", m.holder_cn, sender=m.holder_cn)
        expect_revert(getattr(m.voucher.functions, fn)(vid, ""), "EmptyReason", sender=m.regulator)
    expect_revert(m.voucher.functions.unfreeze(vid, "x"), "VoucherNotFrozen", vid, 1, sender=m.regulator)
    receipt = send(m.voucher.functions.freeze(vid, "suspected leak"), m.regulator)
    assert event(m.voucher, receipt, "VoucherFrozen") == {
        "voucherId": vid, "assetId": aid, "regulator": m.regulator, "reason": "suspected leak"}
    assert m.voucher.functions.voucherCore(vid).call()[2] == 2
    expect_revert(m.voucher.functions.freeze(vid, "again"), "VoucherNotActive", vid, 2, sender=m.regulator)
    receipt = send(m.voucher.functions.unfreeze(vid, "cleared"), m.regulator)
    assert event(m.voucher, receipt, "VoucherUnfrozen")["reason"] == "cleared"
    receipt = send(m.voucher.functions.revoke(vid, "fraud"), m.regulator)
    assert event(m.voucher, receipt, "VoucherRevoked") == {
        "voucherId": vid, "assetId": aid, "regulator": m.regulator, "reason": "fraud"}
    expect_revert(m.voucher.functions.revoke(vid, "again"), "VoucherAlreadyRevoked", vid, sender=m.regulator)
    expect_revert(m.voucher.functions.revoke(999, "x"), "ERC721NonexistentToken", 999, sender=m.regulator)
    expect_revert(m.voucher.functions.freeze(vid, "x"), "VoucherNotActive", vid, 3, sender=m.regulator)


def test_recover_lost_key(trading: Trading) -> None:
    """Recovery takes two regulators (more in test_audit_registry_vouchers.py): one proposes, another executes."""
    t, m = trading, trading.m
    reg2 = m.spare[5]
    send(m.participants.functions.addAccount(m.orgs["regulator"], reg2, Roles.REGULATOR), m.officers["regulator"])
    vid, aid = t.issue(transferable=False)
    v = m.voucher.functions
    send(v.freeze(vid, "holder reports lost key"), m.regulator)
    expect_revert(v.proposeRecovery(vid, m.bank_cn, "x"), "NotRegulator", m.holder_cn, sender=m.holder_cn)
    expect_revert(v.proposeRecovery(vid, m.holder_cn, "x"), "InvalidRecipient", m.holder_cn, sender=m.regulator)
    expect_revert(v.proposeRecovery(vid, m.outsider, "x"), "TransferRestricted", 2, m.holder_cn,
                  m.outsider, vid, sender=m.regulator)
    expect_revert(v.proposeRecovery(vid, m.holder_hk, "x"), "TransferRestricted", 11, m.holder_cn,
                  m.holder_hk, vid, sender=m.regulator)
    # the lost key's account may even be suspended: sender-side checks are bypassed
    send(m.participants.functions.suspendAccount(m.holder_cn, "key lost"), m.admin)
    send(v.proposeRecovery(vid, m.bank_cn, "key lost; court ruling 7"), m.regulator)
    receipt = send(v.executeRecovery(vid, "key lost; court ruling 7"), reg2)
    assert event(m.voucher, receipt, "VoucherRecovered") == {
        "voucherId": vid, "assetId": aid, "regulator": reg2, "from": m.holder_cn, "to": m.bank_cn,
        "reason": "key lost; court ruling 7"}
    assert event(m.voucher, receipt, "Transfer")["to"] == m.bank_cn
    assert v.ownerOf(vid).call() == m.bank_cn
    # normal transfers still fail closed for the non-transferable, frozen voucher
    assert code(t, m.bank_cn, m.holder_cn, vid) == 5
    send(v.revoke(vid, "superseded"), m.regulator)
    expect_revert(v.proposeRecovery(vid, m.holder_cn, "x"), "TransferRestricted", 6, m.bank_cn,
                  m.holder_cn, vid, sender=m.regulator)
    expect_revert(v.proposeRecovery(31337, m.bank_cn, "x"), "ERC721NonexistentToken", 31337,
                  sender=m.regulator)


def test_unauthorised_transfer_is_an_erc721_error(trading: Trading) -> None:
    t, m = trading, trading.m
    vid, _ = t.issue()
    expect_revert(transfer(m, m.holder_cn, m.bank_cn, vid), "ERC721InsufficientApproval", m.bank_cn, vid,
                  sender=m.bank_cn)


# ------------------------------------------------------------------ meta-transactions


def test_meta_tx_transfer_and_redeem_via_forwarder(trading: Trading) -> None:
    t, m = trading, trading.m
    fwd = m.contracts["LedgerForwarder"]
    assert m.voucher.functions.isTrustedForwarder(fwd.address).call()
    holder = t.account(m.holder_cn)
    relayer = m.accounts[15].address  # unregistered relayer pays the gas
    vid, aid = t.issue(max_uses=3)
    req = forward_request(m.w3, fwd, holder, m.voucher.address,
                          calldata(m.voucher.functions.redeem(vid, PURPOSE)))
    assert fwd.functions.verify(req).call()
    receipt = send(fwd.functions.execute(req), relayer)
    ev = event(m.voucher, receipt, "VoucherUsed")
    assert ev["user"] == m.holder_cn and ev["useNumber"] == 1
    req = forward_request(m.w3, fwd, holder, m.voucher.address,
                          calldata(m.voucher.functions.transferFrom(m.holder_cn, m.bank_cn, vid)))
    receipt = send(fwd.functions.execute(req), relayer)
    assert m.voucher.functions.ownerOf(vid).call() == m.bank_cn
    # replaying the same request fails (forwarder nonce)
    expect_revert(fwd.functions.execute(req), "ERC2771ForwarderInvalidSigner", sender=relayer)
    # a forged request (signed by someone else for the bank's voucher) fails
    forged = forward_request(m.w3, fwd, holder, m.voucher.address,
                             calldata(m.voucher.functions.transferFrom(m.bank_cn, m.holder_cn, vid)))
    expect_revert(fwd.functions.execute(forged), "FailedCall", sender=relayer)
