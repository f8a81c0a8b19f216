"""Typed clients end to end against anvil: models, decoded reverts, refused transfers, trades, relay."""

from __future__ import annotations

import pytest

from ledger.contracts import Order, SignedOrder
from ledger.errors import ContractRevert, TransferRefused, UnknownAsset, UnknownClearance, UnknownVoucher
from tests.ledger.conftest import SdkMarket, fresh_content


def test_participant_and_organisation_models(sdk_market: SdkMarket) -> None:
    led = sdk_market.base
    p = led.participants.participant(sdk_market.addr["exchange"])
    assert p.active and p.jurisdiction == "CN" and p.role_names == ["exchange"] and p.licence_expiry > 0
    unknown = led.participants.participant(sdk_market.outsider)
    assert unknown.status == "none" and not unknown.active and not unknown.registered
    org = led.participants.organisation("L-HOHK-0010")
    assert org.jurisdiction == "HK" and org.account_count == 1
    assert led.participants.has_roles(sdk_market.addr["customs"], "customs")


def test_register_asset_and_valuation(sdk_market: SdkMarket) -> None:
    cid, digest = fresh_content("asset")
    holder = sdk_market.as_("holder_cn")
    result = holder.assets.register(cid, digest, 3, "enterprise")
    asset = holder.assets.asset(result.value)
    assert asset.holder == sdk_market.addr["holder_cn"] and asset.level == 3
    assert asset.manifest is not None and asset.manifest.cid == cid
    assert asset.manifest.content_hash == "0x" + digest.hex()
    assert asset.home_jurisdiction == "CN" and asset.status == "active"
    report, _ = fresh_content("report")
    sdk_market.as_("appraiser").assets.record_valuation(result.value, 12345, "CNY", "income", report)
    [val] = holder.assets.valuations(result.value)
    assert val.amount == 12345 and val.currency == "CNY" and val.method == "income" and val.report_cid == report
    with pytest.raises(UnknownAsset):
        holder.assets.asset(9999)


def test_double_registration_is_decoded_and_not_sent(sdk_market: SdkMarket) -> None:
    cid, digest = fresh_content("dup")
    holder = sdk_market.as_("holder_cn")
    asset_id = holder.assets.register(cid, digest, 2, "enterprise").value
    block = holder.block_number()
    nonce = holder.w3.eth.get_transaction_count(holder.address)
    with pytest.raises(ContractRevert) as info:
        holder.assets.register(cid, digest, 2, "enterprise")
    exc = info.value
    assert exc.name == "ContentAlreadyRegistered"
    assert exc.values == {"contentHash": digest, "assetId": asset_id}
    assert "ContentAlreadyRegistered" in str(exc) and str(asset_id) in str(exc)
    assert holder.block_number() == block
    assert holder.w3.eth.get_transaction_count(holder.address) == nonce


def test_voucher_issue_show_and_transfer(sdk_market: SdkMarket) -> None:
    vid = sdk_market.voucher("holder_cn")
    holder = sdk_market.as_("holder_cn")
    v = holder.vouchers.voucher(vid)
    assert v.holder == sdk_market.addr["holder_cn"] and v.right == "use" and v.status == "active"
    holder.vouchers.transfer(sdk_market.addr["bank_cn"], vid)
    assert holder.vouchers.owner_of(vid) == sdk_market.addr["bank_cn"]
    with pytest.raises(UnknownVoucher):
        holder.vouchers.voucher(424242)


def test_refused_transfers_raise_before_sending(sdk_market: SdkMarket) -> None:
    vid = sdk_market.voucher("holder_cn")
    holder = sdk_market.as_("holder_cn")
    block = holder.block_number()
    with pytest.raises(TransferRefused) as info:
        holder.vouchers.transfer(sdk_market.outsider, vid)
    assert info.value.code == 2 and "recipient is not an active" in info.value.message
    with pytest.raises(TransferRefused) as info:
        holder.vouchers.transfer(sdk_market.addr["holder_hk"], vid)
    assert info.value.code == 11 and "clearance" in str(info.value)
    assert holder.block_number() == block
    r = holder.vouchers.why_not(vid, sdk_market.addr["holder_hk"])
    assert r.code == 11 and not r.allowed
    assert holder.vouchers.why_not(999, sdk_market.addr["bank_cn"]).code == 12


def test_customs_clearance_enables_cross_border(sdk_market: SdkMarket) -> None:
    vid = sdk_market.voucher("holder_cn")
    holder = sdk_market.as_("holder_cn")
    asset_id = holder.vouchers.voucher(vid).asset_id
    purpose, _ = fresh_content("purpose")
    case = holder.customs.request(asset_id, "HK", purpose, sdk_market.addr["holder_hk"]).value
    customs = sdk_market.as_("customs")
    customs.customs.approve(case, customs.now() + 86400, purpose)
    c = holder.customs.clearance(case)
    assert c.state == "approved" and c.destination == "HK" and c.purpose_cid == purpose
    holder.vouchers.transfer(sdk_market.addr["holder_hk"], vid)
    assert holder.vouchers.owner_of(vid) == sdk_market.addr["holder_hk"]
    with pytest.raises(UnknownClearance):
        holder.customs.clearance(77)
    with pytest.raises(ContractRevert) as info:
        customs.customs.reject(case, "too late")
    assert info.value.name == "InvalidClearanceState"


def test_mint_refusal_decodes_transfer_restricted(sdk_market: SdkMarket) -> None:
    asset_id = sdk_market.asset("holder_cn")
    holder = sdk_market.as_("holder_cn")
    now = holder.now()
    with pytest.raises(ContractRevert) as info:
        holder.vouchers.issue(sdk_market.outsider, asset_id, "use", "s", now, now + 100, 1, True)
    assert info.value.name == "TransferRestricted" and info.value.values["code"] == 2
    assert "recipient is not an active" in str(info.value)


def test_supervision_freeze_revoke_recover(sdk_market: SdkMarket) -> None:
    """Freeze, two-regulator recovery (propose, the proposer cannot execute, a second one does), revoke."""
    vid = sdk_market.voucher("holder_cn")
    reg = sdk_market.as_("regulator")
    reg.vouchers.freeze(vid, "investigation")
    with pytest.raises(TransferRefused) as info:
        sdk_market.as_("holder_cn").vouchers.transfer(sdk_market.addr["bank_cn"], vid)
    assert info.value.code == 5
    expires = reg.vouchers.propose_recovery(vid, sdk_market.addr["bank_cn"], "lost key").value
    proposal = reg.vouchers.recovery_proposal(vid)
    assert proposal.pending and proposal.to == sdk_market.addr["bank_cn"] and proposal.expires_at == expires
    assert proposal.from_ == sdk_market.addr["holder_cn"] and proposal.proposer == sdk_market.addr["regulator"]
    with pytest.raises(ContractRevert) as own:
        reg.vouchers.execute_recovery(vid, "my own proposal")
    assert own.value.name == "RecoveryNeedsSecondRegulator"
    sdk_market.as_("regulator2").vouchers.execute_recovery(vid, "second regulator")
    assert reg.vouchers.owner_of(vid) == sdk_market.addr["bank_cn"]
    assert not reg.vouchers.recovery_proposal(vid).pending
    reg.vouchers.revoke(vid, "fraud")
    assert reg.vouchers.voucher(vid).status == "revoked"
    with pytest.raises(ContractRevert) as exc:
        sdk_market.as_("holder_cn").vouchers.freeze(vid, "not a regulator")
    assert exc.value.name == "NotRegulator"


def test_redeem_and_authorised_user(sdk_market: SdkMarket) -> None:
    vid = sdk_market.voucher("holder_cn", max_uses=1)
    holder = sdk_market.as_("holder_cn")
    holder.vouchers.authorise_user(vid, sdk_market.addr["bank_cn"])
    assert sdk_market.as_("bank_cn").vouchers.redeem(vid, "loan decision").value == 1
    with pytest.raises(ContractRevert) as info:
        holder.vouchers.redeem(vid, "again")
    assert info.value.name == "UsesExhausted" and info.value.values == {"voucherId": vid, "maxUses": 1}


def _orders(m: SdkMarket, vid: int, price: int = 10_000) -> tuple[SignedOrder, SignedOrder]:
    seller, buyer = m.as_("holder_cn"), m.as_("bank_cn")
    deadline = seller.now() + 3600
    sell = seller.settlement.make_order("sell", vid, price, m.addr["exchange"], deadline)
    buy = buyer.settlement.make_order("buy", vid, price, m.addr["exchange"], deadline)
    return seller.settlement.sign(sell), buyer.settlement.sign(buy)


def test_order_digest_matches_contract(sdk_market: SdkMarket) -> None:
    led = sdk_market.as_("holder_cn")
    order = led.settlement.make_order("sell", 1, 5, sdk_market.addr["exchange"], 10**10, nonce=7)
    assert led.settlement.digest(order) == led.settlement.onchain_digest(order)


def test_settle_trade_and_replay_rejected(sdk_market: SdkMarket) -> None:
    vid = sdk_market.voucher("holder_cn")
    seller = sdk_market.as_("holder_cn")
    seller.vouchers.approve_operator(seller.settlement.address)
    sell, buy = _orders(sdk_market, vid)
    exchange = sdk_market.as_("exchange")
    before = exchange.token.balance_of(sdk_market.addr["holder_cn"])
    result = exchange.settlement.settle(sell, buy)
    assert result.value.startswith("0x") and len(result.value) == 66
    assert exchange.vouchers.owner_of(vid) == sdk_market.addr["bank_cn"]
    assert exchange.token.balance_of(sdk_market.addr["holder_cn"]) - before == 9_900  # 1% fee
    with pytest.raises(ContractRevert) as info:
        exchange.settlement.settle(sell, buy)
    assert info.value.name in ("NonceAlreadyUsed", "TransferRestricted", "ERC721IncorrectOwner")


def test_orders_commit_to_fee_and_voucher_terms(sdk_market: SdkMarket) -> None:
    """make_order fills the terms from the chain: the fee cap is the exchange's fee now, a buy order
    commits to the voucher's uses left and validity end; a seller redeeming a use after signing makes
    the settlement revert with the decoded UsesLeftBelowTerms (issue 11, #9)."""
    vid = sdk_market.voucher("holder_cn")
    seller = sdk_market.as_("holder_cn")
    seller.vouchers.approve_operator(seller.settlement.address)
    v = seller.vouchers.voucher(vid)
    fee = seller.settlement.exchange_fee(sdk_market.addr["exchange"])
    sell, buy = _orders(sdk_market, vid)
    assert (sell.order.maxFeeBps, sell.order.minUsesLeft, sell.order.minValidUntil) == (fee, 0, 0)
    assert (buy.order.maxFeeBps, buy.order.minUsesLeft, buy.order.minValidUntil) == (
        fee, v.max_uses - v.uses, v.valid_until)
    seller.vouchers.redeem(vid, "one more use before the sale")
    with pytest.raises(ContractRevert) as info:
        sdk_market.as_("exchange").settlement.settle(sell, buy)
    assert info.value.name == "UsesLeftBelowTerms"
    assert info.value.values == {"voucherId": vid, "minUsesLeft": v.max_uses, "usesLeft": v.max_uses - 1}
    assert "UsesLeftBelowTerms" in str(info.value) and "\n" not in str(info.value)


def test_settle_cross_border_refused_before_sending(sdk_market: SdkMarket) -> None:
    vid = sdk_market.voucher("holder_cn")
    seller, buyer = sdk_market.as_("holder_cn"), sdk_market.as_("holder_sg")
    seller.vouchers.approve_operator(seller.settlement.address)
    deadline = seller.now() + 3600
    sell = seller.settlement.sign(seller.settlement.make_order("sell", vid, 10, sdk_market.addr["exchange"], deadline))
    buy = buyer.settlement.sign(buyer.settlement.make_order("buy", vid, 10, sdk_market.addr["exchange"], deadline))
    block = seller.block_number()
    with pytest.raises(TransferRefused) as info:
        sdk_market.as_("exchange").settlement.settle(sell, buy)
    assert info.value.code == 11
    assert seller.block_number() == block


def test_settle_batch(sdk_market: SdkMarket) -> None:
    seller = sdk_market.as_("holder_cn")
    seller.vouchers.approve_operator(seller.settlement.address)
    trades = [_orders(sdk_market, sdk_market.voucher("holder_cn"), 100 + i) for i in range(3)]
    result = sdk_market.as_("exchange").settlement.settle_batch(trades)
    assert len(result.value) == 3


def test_order_roundtrip_file(sdk_market: SdkMarket, tmp_path) -> None:  # type: ignore[no-untyped-def]
    sell, _ = _orders(sdk_market, sdk_market.voucher("holder_cn"))  # a buy order reads the voucher's terms
    path = sell.write(tmp_path / "sell.json")
    again = SignedOrder.read(path)
    assert again == sell and isinstance(again.order, Order)


def test_gasless_transfer_through_relay(sdk_market: SdkMarket) -> None:
    vid = sdk_market.voucher("holder_cn")
    holder = sdk_market.as_("holder_cn")
    request = holder.vouchers.transfer_request(sdk_market.addr["bank_cn"], vid, holder.now() + 600)
    holder_nonce = holder.w3.eth.get_transaction_count(holder.address)
    relayer = sdk_market.as_(15)
    relayer.forwarder.relay(request)
    assert holder.vouchers.owner_of(vid) == sdk_market.addr["bank_cn"]
    assert holder.w3.eth.get_transaction_count(holder.address) == holder_nonce  # holder paid no gas
    # a replay is refused before sending
    from ledger.errors import InvalidInput

    with pytest.raises(InvalidInput, match="stale"):
        relayer.forwarder.relay(request)


def test_gasless_redeem_and_refused_request(sdk_market: SdkMarket) -> None:
    vid = sdk_market.voucher("holder_cn")
    holder = sdk_market.as_("holder_cn")
    request = holder.vouchers.redeem_request(vid, "purpose", holder.now() + 600)
    result = sdk_market.as_(15).forwarder.relay(request)
    assert result.tx_hash and holder.vouchers.voucher(vid).uses == 1
    with pytest.raises(TransferRefused):
        holder.vouchers.transfer_request(sdk_market.outsider, vid, holder.now() + 600)


def test_use_restriction_and_licensed_roles(sdk_market: SdkMarket) -> None:
    """SDK side of issue 11: a foreign user is refused with the transfer code and message; licensed roles
    change only through the registrar; an account holding anything cannot leave its organisation."""
    vid = sdk_market.voucher("holder_cn", level=4)
    holder = sdk_market.as_("holder_cn")
    r = holder.vouchers.use_restriction(sdk_market.addr["holder_sg"], vid)
    assert r.code == 11 and "clearance" in r.message
    assert holder.vouchers.use_restriction(sdk_market.addr["bank_cn"], vid).allowed
    with pytest.raises(ContractRevert) as info:
        holder.vouchers.authorise_user(vid, sdk_market.addr["holder_sg"])
    assert info.value.name == "UseRestricted" and info.value.values["code"] == 11
    assert "clearance" in str(info.value)
    assert holder.participants.holdings_of(sdk_market.addr["holder_cn"]) == 2  # one asset, one voucher
    with pytest.raises(ContractRevert) as held:
        holder.participants.remove_account("L-HOCN-0008", sdk_market.addr["holder_cn"])
    assert held.value.name == "AccountHasHoldings" and held.value.values["count"] == 2
    operator = sdk_market.as_("operator")  # its own officer; the organisation allows operator,holder
    with pytest.raises(ContractRevert) as lic:
        operator.participants.set_account_roles("L-OPER-0002", sdk_market.addr["operator"], "holder")
    assert lic.value.name == "LicensedRolesNeedRegistrar" and lic.value.values["requested"] == 0
    sdk_market.base.participants.set_licensed_roles(sdk_market.addr["broker"], "none", 0)
    assert sdk_market.base.participants.participant(sdk_market.addr["broker"]).roles == 0
