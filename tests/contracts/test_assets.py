"""AssetRegistry (确权登记): registration, manifest versions, valuations, supervision — against anvil."""

from __future__ import annotations

import pytest
from web3.exceptions import ContractLogicError

from tests.contracts.helpers import (
    ZERO_ADDRESS,
    AssetStatus,
    Roles,
    SourceType,
    b32,
    event,
    expect_deploy_revert,
    expect_revert,
    fresh_content,
    mapping_slot,
    send,
)


@pytest.fixture
def assets(market):
    return market.assets


def test_constructor(market, assets):
    assert assets.functions.participants().call() == market.participants.address
    assert assets.functions.assetCount().call() == 0
    expect_deploy_revert(market.w3, "AssetRegistry", (ZERO_ADDRESS,), "ZeroAddress", sender=market.admin)


# ------------------------------------------------------------------ registration


def test_register_asset(market, assets, chain):
    cid, digest = fresh_content()
    receipt = send(assets.functions.registerAsset(cid, digest, 3, int(SourceType.ENTERPRISE)), market.holder_hk)
    ts = market.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert event(assets, receipt, "AssetRegistered") == {
        "assetId": 1,
        "holder": market.holder_hk,
        "contentHash": digest,
        "manifestCid": cid,
        "level": 3,
        "sourceType": SourceType.ENTERPRISE,
        "homeJurisdiction": b"HK",
    }
    assert tuple(assets.functions.assetCore(1).call()) == (
        market.holder_hk,
        3,
        SourceType.ENTERPRISE,
        AssetStatus.ACTIVE,
        b"HK",
        1,
    )
    assert tuple(assets.functions.manifestVersion(1, 0).call()) == (digest, ts, cid)
    version, manifest = assets.functions.latestManifest(1).call()
    assert version == 0 and tuple(manifest) == (digest, ts, cid)
    assert assets.functions.assetOfContent(digest).call() == 1
    assert assets.functions.assetCount().call() == 1
    # ids are sequential
    assert market.register_asset(market.holder_sg, level=1) == 2
    assert market.register_asset(market.holder_mo, level=4, source=SourceType.PERSONAL_DERIVED) == 3
    assert assets.functions.assetCore(2).call()[4] == b"SG"
    assert assets.functions.assetCore(3).call()[4] == b"MO"
    assert assets.functions.assetCount().call() == 3


def test_public_source_needs_authority_or_operator(market, assets, chain):
    cid, digest = fresh_content()
    expect_revert(
        assets.functions.registerAsset(cid, digest, 1, int(SourceType.PUBLIC)),
        "NotAuthorised",
        market.holder_cn,
        Roles.AUTHORITY | Roles.OPERATOR,
        sender=market.holder_cn,
    )
    assert market.register_asset(market.authority, level=1, source=SourceType.PUBLIC) == 1
    assert market.register_asset(market.operator, level=2, source=SourceType.PUBLIC) == 2
    # an operator whose licence expired no longer may
    chain.time_travel(366 * 24 * 3600)
    cid, digest = fresh_content()
    expect_revert(
        assets.functions.registerAsset(cid, digest, 1, int(SourceType.PUBLIC)),
        "NotAuthorised",
        market.operator,
        Roles.AUTHORITY | Roles.OPERATOR,
        sender=market.operator,
    )
    # ...but may still register its own enterprise data (an active participant)
    assert market.register_asset(market.operator, source=SourceType.ENTERPRISE) == 3


def test_register_requires_active_participant(market, assets):
    cid, digest = fresh_content()
    fn = assets.functions.registerAsset(cid, digest, 2, int(SourceType.ENTERPRISE))
    expect_revert(fn, "NotActive", market.outsider, sender=market.outsider)
    # an officer administers its organisation but is not a participant
    expect_revert(fn, "NotActive", market.officer_cn, sender=market.officer_cn)
    send(market.participants.functions.suspendAccount(market.holder_hk, "kyc"), market.admin)
    expect_revert(fn, "NotActive", market.holder_hk, sender=market.holder_hk)
    send(market.participants.functions.suspendOrganisation(market.orgs["holder_mo"], "audit"), market.admin)
    expect_revert(fn, "NotActive", market.holder_mo, sender=market.holder_mo)


@pytest.mark.parametrize("level", [0, 5, 255])
def test_register_rejects_level(market, assets, level):
    cid, digest = fresh_content()
    expect_revert(
        assets.functions.registerAsset(cid, digest, level, int(SourceType.ENTERPRISE)),
        "InvalidLevel",
        level,
        sender=market.holder_cn,
    )


def test_register_rejects_bad_manifest(market, assets):
    cid, digest = fresh_content()
    enterprise = int(SourceType.ENTERPRISE)
    expect_revert(assets.functions.registerAsset(b"", digest, 2, enterprise), "EmptyManifest", sender=market.holder_cn)
    expect_revert(
        assets.functions.registerAsset(cid, b"\0" * 32, 2, enterprise),
        "InvalidContentHash",
        b"\0" * 32,
        sender=market.holder_cn,
    )
    send(assets.functions.registerAsset(cid, digest, 2, enterprise), market.holder_cn)
    # the same content cannot be registered twice, by anyone
    expect_revert(
        assets.functions.registerAsset(cid, digest, 2, enterprise),
        "ContentAlreadyRegistered",
        digest,
        1,
        sender=market.holder_hk,
    )


def test_register_rejects_invalid_source_type(market, assets):
    cid, digest = fresh_content()
    with pytest.raises(ContractLogicError):  # enum out of range: the ABI decoder reverts (no custom error)
        assets.functions.registerAsset(cid, digest, 2, 3).call({"from": market.holder_cn})


def test_asset_core_is_one_slot(market, assets):
    asset_id = market.register_asset(market.holder_hk, level=4, source=SourceType.PERSONAL_DERIVED)
    slot = mapping_slot(asset_id, 1)  # _cores: slot 1 after _assetCount
    word = int.from_bytes(market.w3.eth.get_storage_at(assets.address, slot), "big")
    assert word & (2**160 - 1) == int(market.holder_hk, 16)
    assert (word >> 160) & 0xFF == 4
    assert (word >> 168) & 0xFF == SourceType.PERSONAL_DERIVED
    assert (word >> 176) & 0xFF == AssetStatus.ACTIVE
    assert ((word >> 184) & 0xFFFF).to_bytes(2, "big") == b"HK"
    assert (word >> 200) & 0xFFFFFFFF == 1
    assert market.w3.eth.get_storage_at(assets.address, slot + 1) == b"\0" * 32


def test_unknown_asset_core_reads_none(market, assets):
    assert tuple(assets.functions.assetCore(42).call()) == (ZERO_ADDRESS, 0, 0, AssetStatus.NONE, b"\0\0", 0)


# ------------------------------------------------------------------ manifest versions


def test_update_manifest_appends_versions(market, assets):
    asset_id = market.register_asset(market.holder_cn)
    history = [tuple(assets.functions.manifestVersion(asset_id, 0).call())]
    for expected_version in (1, 2):
        cid, digest = fresh_content()
        receipt = send(assets.functions.updateManifest(asset_id, cid, digest), market.holder_cn)
        assert event(assets, receipt, "ManifestUpdated") == {
            "assetId": asset_id,
            "version": expected_version,
            "contentHash": digest,
            "manifestCid": cid,
            "holder": market.holder_cn,
        }
        ts = market.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
        history.append((digest, ts, cid))
    assert assets.functions.assetCore(asset_id).call()[5] == 3
    for v, entry in enumerate(history):
        assert tuple(assets.functions.manifestVersion(asset_id, v).call()) == entry
        assert assets.functions.assetOfContent(entry[0]).call() == asset_id
    version, latest = assets.functions.latestManifest(asset_id).call()
    assert version == 2 and tuple(latest) == history[2]
    expect_revert(
        assets.functions.manifestVersion(asset_id, 3), "UnknownVersion", asset_id, 3, 3, sender=market.holder_cn
    )


def test_update_manifest_rejects(market, assets):
    asset_id = market.register_asset(market.holder_cn)
    cid, digest = fresh_content()
    expect_revert(assets.functions.updateManifest(99, cid, digest), "UnknownAsset", 99, sender=market.holder_cn)
    expect_revert(
        assets.functions.updateManifest(asset_id, cid, digest),
        "NotHolder",
        asset_id,
        market.bank_cn,
        market.holder_cn,
        sender=market.bank_cn,
    )
    expect_revert(assets.functions.updateManifest(asset_id, b"", digest), "EmptyManifest", sender=market.holder_cn)
    expect_revert(
        assets.functions.updateManifest(asset_id, cid, b"\0" * 32),
        "InvalidContentHash",
        b"\0" * 32,
        sender=market.holder_cn,
    )
    v0 = assets.functions.manifestVersion(asset_id, 0).call()[0]
    expect_revert(
        assets.functions.updateManifest(asset_id, cid, v0),
        "ContentAlreadyRegistered",
        v0,
        asset_id,
        sender=market.holder_cn,
    )
    send(assets.functions.freeze(asset_id, "dispute"), market.regulator)
    expect_revert(
        assets.functions.updateManifest(asset_id, cid, digest),
        "InvalidAssetStatus",
        asset_id,
        AssetStatus.FROZEN,
        sender=market.holder_cn,
    )
    send(assets.functions.unfreeze(asset_id, "resolved"), market.regulator)
    send(market.participants.functions.suspendAccount(market.holder_cn, "kyc"), market.admin)
    expect_revert(
        assets.functions.updateManifest(asset_id, cid, digest), "NotActive", market.holder_cn, sender=market.holder_cn
    )


def test_manifest_views_reject_unknown_asset(market, assets):
    expect_revert(assets.functions.manifestVersion(7, 0), "UnknownAsset", 7)
    expect_revert(assets.functions.latestManifest(7), "UnknownAsset", 7)


# ------------------------------------------------------------------ valuations


def test_record_valuations(market, assets):
    asset_id = market.register_asset(market.holder_cn)
    recorded = []
    for i, (amount, currency, method) in enumerate([(1_250_000_00, b"CNY", "income"), (180_000_00, b"HKD", "market")]):
        report = f"report-{i}".encode()
        receipt = send(
            assets.functions.recordValuation(asset_id, amount, currency, b32(method), report), market.appraiser
        )
        assert event(assets, receipt, "ValuationRecorded") == {
            "assetId": asset_id,
            "index": i,
            "appraiser": market.appraiser,
            "amount": amount,
            "currency": currency,
            "method": b32(method),
            "reportCid": report,
        }
        ts = market.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
        recorded.append((market.appraiser, ts, currency, amount, b32(method), report))
    assert assets.functions.valuationCount(asset_id).call() == 2
    for i, entry in enumerate(recorded):
        assert tuple(assets.functions.valuation(asset_id, i).call()) == entry
    expect_revert(assets.functions.valuation(asset_id, 2), "UnknownValuation", asset_id, 2, 2)
    assert assets.functions.valuationCount(99).call() == 0


def test_record_valuation_rejects(market, assets, chain):
    asset_id = market.register_asset(market.holder_cn)
    ok = (asset_id, 100, b"CNY", b32("cost"), b"report")
    expect_revert(
        assets.functions.recordValuation(*ok), "NotAuthorised", market.holder_cn, Roles.APPRAISER, sender=market.holder_cn
    )
    expect_revert(assets.functions.recordValuation(99, 100, b"CNY", b32("cost"), b"r"), "UnknownAsset", 99,
                  sender=market.appraiser)
    expect_revert(
        assets.functions.recordValuation(asset_id, 0, b"CNY", b32("cost"), b"r"), "InvalidAmount", 0,
        sender=market.appraiser,
    )
    expect_revert(
        assets.functions.recordValuation(asset_id, 1, b"cny", b32("cost"), b"r"), "InvalidCurrency", b"cny",
        sender=market.appraiser,
    )
    expect_revert(
        assets.functions.recordValuation(asset_id, 1, b"\0\0\0", b32("cost"), b"r"), "InvalidCurrency", b"\0\0\0",
        sender=market.appraiser,
    )
    expect_revert(
        assets.functions.recordValuation(asset_id, 1, b"CNY", b32("cost"), b""), "EmptyReport", sender=market.appraiser
    )
    send(assets.functions.freeze(asset_id, "dispute"), market.regulator)
    expect_revert(
        assets.functions.recordValuation(*ok), "InvalidAssetStatus", asset_id, AssetStatus.FROZEN,
        sender=market.appraiser,
    )
    send(assets.functions.unfreeze(asset_id, "resolved"), market.regulator)
    send(assets.functions.recordValuation(*ok), market.appraiser)
    # an expired appraiser licence blocks valuations
    chain.time_travel(366 * 24 * 3600)
    expect_revert(
        assets.functions.recordValuation(*ok), "NotAuthorised", market.appraiser, Roles.APPRAISER,
        sender=market.appraiser,
    )


# ------------------------------------------------------------------ supervision


def test_freeze_unfreeze_revoke(market, assets):
    asset_id = market.register_asset(market.holder_cn)
    receipt = send(assets.functions.freeze(asset_id, "court order 2025-17"), market.regulator)
    assert event(assets, receipt, "AssetFrozen") == {
        "assetId": asset_id,
        "regulator": market.regulator,
        "reason": "court order 2025-17",
    }
    assert assets.functions.assetCore(asset_id).call()[3] == AssetStatus.FROZEN
    receipt = send(assets.functions.unfreeze(asset_id, "order lifted"), market.regulator)
    assert event(assets, receipt, "AssetUnfrozen") == {
        "assetId": asset_id,
        "regulator": market.regulator,
        "reason": "order lifted",
    }
    assert assets.functions.assetCore(asset_id).call()[3] == AssetStatus.ACTIVE
    receipt = send(assets.functions.revoke(asset_id, "fraudulent registration"), market.regulator)
    assert event(assets, receipt, "AssetRevoked") == {
        "assetId": asset_id,
        "regulator": market.regulator,
        "reason": "fraudulent registration",
    }
    assert assets.functions.assetCore(asset_id).call()[3] == AssetStatus.REVOKED
    # revoked is final
    for fn, name in ((assets.functions.freeze, "f"), (assets.functions.unfreeze, "u"), (assets.functions.revoke, "r")):
        expect_revert(fn(asset_id, name), "InvalidAssetStatus", asset_id, AssetStatus.REVOKED, sender=market.regulator)


def test_revoke_frozen_asset(market, assets):
    asset_id = market.register_asset(market.holder_cn)
    send(assets.functions.freeze(asset_id, "investigation"), market.regulator)
    send(assets.functions.revoke(asset_id, "confirmed"), market.regulator)
    assert assets.functions.assetCore(asset_id).call()[3] == AssetStatus.REVOKED


def test_supervision_rejects(market, assets):
    asset_id = market.register_asset(market.holder_cn)
    for fn in (assets.functions.freeze, assets.functions.unfreeze, assets.functions.revoke):
        expect_revert(fn(asset_id, "x"), "NotAuthorised", market.customs, Roles.REGULATOR, sender=market.customs)
        expect_revert(fn(99, "x"), "UnknownAsset", 99, sender=market.regulator)
        expect_revert(fn(asset_id, ""), "EmptyReason", sender=market.regulator)
    expect_revert(
        assets.functions.unfreeze(asset_id, "x"), "InvalidAssetStatus", asset_id, AssetStatus.ACTIVE,
        sender=market.regulator,
    )
    send(assets.functions.freeze(asset_id, "x"), market.regulator)
    expect_revert(
        assets.functions.freeze(asset_id, "x"), "InvalidAssetStatus", asset_id, AssetStatus.FROZEN,
        sender=market.regulator,
    )
    # a suspended regulator is not a regulator
    send(market.participants.functions.suspendAccount(market.regulator, "rotation"), market.admin)
    expect_revert(
        assets.functions.unfreeze(asset_id, "x"), "NotAuthorised", market.regulator, Roles.REGULATOR,
        sender=market.regulator,
    )


# ------------------------------------------------------------------ content-hash squatting (issue 11, low)


def _squat(market, assets):
    """holder_hk registers the hash of a dataset it does not hold before its holder (holder_cn) does."""
    cid, digest = fresh_content()
    receipt = send(assets.functions.registerAsset(cid, digest, 2, int(SourceType.ENTERPRISE)), market.holder_hk)
    squat = event(assets, receipt, "AssetRegistered")["assetId"]
    expect_revert(assets.functions.registerAsset(cid, digest, 2, int(SourceType.ENTERPRISE)),
                  "ContentAlreadyRegistered", digest, squat, sender=market.holder_cn)
    return cid, digest, squat


def test_attack_squatted_hash_released_to_the_claimant(market, assets):
    """Audit: a squatted hash stayed taken even after its asset was revoked. Now the regulator revokes,
    the registrar releases the hash to the rightful holder, who alone may register it next."""
    cid, digest, squat = _squat(market, assets)
    send(assets.functions.revoke(squat, "registered a dataset it does not hold"), market.regulator)
    # revoking alone frees nothing (the finding)
    expect_revert(assets.functions.registerAsset(cid, digest, 2, int(SourceType.ENTERPRISE)),
                  "ContentAlreadyRegistered", digest, squat, sender=market.holder_cn)
    receipt = send(assets.functions.releaseContentHash(digest, market.holder_cn, "ruling 2026-17"), market.admin)
    assert event(assets, receipt, "ContentReleased") == {
        "assetId": squat, "contentHash": digest, "claimant": market.holder_cn, "registrar": market.admin,
        "reason": "ruling 2026-17"}
    assert assets.functions.assetOfContent(digest).call() == 0
    assert assets.functions.claimantOf(digest).call() == market.holder_cn
    # the squatter (or anyone else) cannot take it again in between
    for other in (market.holder_hk, market.bank_cn):
        expect_revert(assets.functions.registerAsset(cid, digest, 2, int(SourceType.ENTERPRISE)),
                      "ContentReservedFor", digest, market.holder_cn, other, sender=other)
    receipt = send(assets.functions.registerAsset(cid, digest, 2, int(SourceType.ENTERPRISE)), market.holder_cn)
    legit = event(assets, receipt, "AssetRegistered")["assetId"]
    assert assets.functions.assetOfContent(digest).call() == legit != squat
    assert assets.functions.claimantOf(digest).call() == ZERO_ADDRESS
    # the revoked asset keeps its record (provenance), the hash is unique again
    assert assets.functions.manifestVersion(squat, 0).call()[0] == digest
    expect_revert(assets.functions.registerAsset(cid, digest, 2, int(SourceType.ENTERPRISE)),
                  "ContentAlreadyRegistered", digest, legit, sender=market.holder_hk)


def test_released_hash_open_to_anyone_also_as_a_new_version(market, assets):
    cid, digest, squat = _squat(market, assets)
    send(assets.functions.revoke(squat, "squat"), market.regulator)
    send(assets.functions.releaseContentHash(digest, ZERO_ADDRESS, "open"), market.admin)
    own = market.register_asset(market.holder_cn)
    receipt = send(assets.functions.updateManifest(own, cid, digest), market.holder_cn)
    assert event(assets, receipt, "ManifestUpdated")["contentHash"] == digest
    assert assets.functions.assetOfContent(digest).call() == own


def test_release_only_by_the_registrar(market, assets):
    cid, digest, squat = _squat(market, assets)
    send(assets.functions.revoke(squat, "squat"), market.regulator)
    for who in (market.regulator, market.holder_cn, market.holder_hk, market.outsider):
        expect_revert(assets.functions.releaseContentHash(digest, market.holder_cn, "x"), "NotRegistrar", who,
                      sender=who)
    expect_revert(assets.functions.releaseContentHash(digest, market.holder_cn, ""), "EmptyReason",
                  sender=market.admin)
    assert assets.functions.assetOfContent(digest).call() == squat


def test_release_of_a_live_or_unknown_hash_refused(market, assets):
    cid, digest, squat = _squat(market, assets)
    expect_revert(assets.functions.releaseContentHash(digest, market.holder_cn, "x"), "InvalidAssetStatus",
                  squat, int(AssetStatus.ACTIVE), sender=market.admin)
    send(assets.functions.freeze(squat, "dispute"), market.regulator)
    expect_revert(assets.functions.releaseContentHash(digest, market.holder_cn, "x"), "InvalidAssetStatus",
                  squat, int(AssetStatus.FROZEN), sender=market.admin)
    unknown = b"\x77" * 32
    expect_revert(assets.functions.releaseContentHash(unknown, market.holder_cn, "x"), "UnknownContent", unknown,
                  sender=market.admin)
    assert assets.functions.assetOfContent(digest).call() == squat
