"""TradeSettlement: DvP of a voucher against payment, settled by a licensed exchange."""

from __future__ import annotations

from typing import Any

import pytest
from eth_utils import keccak

from tests.contracts.helpers import ANY, Roles, event, events, expect_revert, send
from tests.contracts.trading import (
    BUY,
    DAY,
    MAX_UINT,
    SELL,
    ZERO,
    Trading,
    calldata,
    forward_request,
    sign_order,
    trading,
)


def test_settle_happy_path_with_fee_and_brokers(trading: Trading) -> None:
    t, m = trading, trading.m
    vid, aid = t.issue(m.holder_cn)
    sell, buy = t.pair(m.holder_cn, m.bank_cn, vid, 10_000,
                       sell={"broker": m.broker, "commission": 300}, buy={"broker": m.broker, "commission": 50})
    parties = (m.holder_cn, m.bank_cn, m.exchange, m.broker)
    before = {w: t.balance(w) for w in parties}
    receipt = t.settle(sell, buy)
    sh = m.settlement.functions.hashOrder(sell.as_tuple()).call()
    bh = m.settlement.functions.hashOrder(buy.as_tuple()).call()
    trade_id = keccak(sh + bh)
    ev = event(m.settlement, receipt, "TradeSettled")
    assert ev == {"tradeId": trade_id, "voucherId": vid, "seller": m.holder_cn, "buyer": m.bank_cn,
                  "exchange": m.exchange, "paymentToken": m.token.address, "price": 10_000, "fee": 100}
    paid = events(m.settlement, receipt, "BrokerPaid")
    assert paid == [{"tradeId": trade_id, "broker": m.broker, "client": m.holder_cn, "amount": 300},
                    {"tradeId": trade_id, "broker": m.broker, "client": m.bank_cn, "amount": 50}]
    delta = {w: t.balance(w) - before[w] for w in parties}
    assert delta == {m.holder_cn: 9_600, m.bank_cn: -10_050, m.exchange: 100, m.broker: 350}
    assert sum(delta.values()) == 0  # conservation: seller + exchange + broker got what the buyer paid
    assert m.voucher.functions.ownerOf(vid).call() == m.bank_cn
    assert m.settlement.functions.isNonceUsed(m.holder_cn, sell.nonce).call()
    assert m.settlement.functions.isNonceUsed(m.bank_cn, buy.nonce).call()
    assert m.voucher.functions.assetOf(vid).call() == aid


def test_settle_zero_fee_no_broker(trading: Trading) -> None:
    t, m = trading, trading.m
    send(m.settlement.functions.setExchangeFee(m.exchange, 0), m.admin)
    vid, _ = t.issue()
    sell, buy = t.pair(m.holder_cn, m.bank_cn, vid, 777)
    before = t.balance(m.holder_cn)
    receipt = t.settle(sell, buy)
    assert event(m.settlement, receipt, "TradeSettled")["fee"] == 0
    assert events(m.settlement, receipt, "BrokerPaid") == []
    assert t.balance(m.holder_cn) == before + 777


def test_set_exchange_fee(trading: Trading) -> None:
    m = trading.m
    receipt = send(m.settlement.functions.setExchangeFee(m.exchange, 250), m.admin)
    assert event(m.settlement, receipt, "ExchangeFeeSet") == {"exchange": m.exchange, "previousBps": 100, "bps": 250}
    assert m.settlement.functions.exchangeFeeBps(m.exchange).call() == 250
    expect_revert(m.settlement.functions.setExchangeFee(m.exchange, 2001), "FeeTooHigh", 2001, 2000, sender=m.admin)
    expect_revert(m.settlement.functions.setExchangeFee(m.exchange, 1), "OwnableUnauthorizedAccount", m.exchange,
                  sender=m.exchange)


def test_replay_and_cancel(trading: Trading) -> None:
    t, m = trading, trading.m
    vid, _ = t.issue()
    sell, buy = t.pair(m.holder_cn, m.bank_cn, vid)
    t.settle(sell, buy)
    send(m.voucher.functions.transferFrom(m.bank_cn, m.holder_cn, vid), m.bank_cn)  # give it back
    expect_revert(t.settle_fn(sell, buy), "NonceAlreadyUsed", m.holder_cn, sell.nonce, sender=m.exchange)
    sell2, buy2 = t.pair(m.holder_cn, m.bank_cn, vid)
    receipt = send(m.settlement.functions.cancelOrder(buy2.nonce), m.bank_cn)
    assert event(m.settlement, receipt, "OrderCancelled") == {"maker": m.bank_cn, "nonce": buy2.nonce}
    expect_revert(m.settlement.functions.cancelOrder(buy2.nonce), "NonceAlreadyUsed", m.bank_cn, buy2.nonce,
                  sender=m.bank_cn)
    expect_revert(t.settle_fn(sell2, buy2), "NonceAlreadyUsed", m.bank_cn, buy2.nonce, sender=m.exchange)


def test_cancel_via_forwarder(trading: Trading) -> None:
    t, m = trading, trading.m
    fwd = m.contracts["LedgerForwarder"]
    vid, _ = t.issue()
    sell, buy = t.pair(m.holder_cn, m.bank_cn, vid)
    req = forward_request(m.w3, fwd, t.account(m.holder_cn), m.settlement.address,
                          calldata(m.settlement.functions.cancelOrder(sell.nonce)))
    receipt = send(fwd.functions.execute(req), m.accounts[17].address)
    assert event(m.settlement, receipt, "OrderCancelled") == {"maker": m.holder_cn, "nonce": sell.nonce}
    expect_revert(t.settle_fn(sell, buy), "NonceAlreadyUsed", m.holder_cn, sell.nonce, sender=m.exchange)


def test_expired_order(trading: Trading) -> None:
    t, m = trading, trading.m
    vid, _ = t.issue()
    deadline = t.now() + 60
    sell, buy = t.pair(m.holder_cn, m.bank_cn, vid, buy={"deadline": deadline})
    m.chain.time_travel(120)
    expect_revert(t.settle_fn(sell, buy), "OrderExpired", m.bank_cn, buy.nonce, deadline, ANY, sender=m.exchange)


def test_exchange_must_be_licensed_and_named(trading: Trading) -> None:
    t, m = trading, trading.m
    vid, _ = t.issue()
    sell, buy = t.pair(m.holder_cn, m.bank_cn, vid)
    expect_revert(t.settle_fn(sell, buy), "ExchangeNotLicensed", m.holder_cn, sender=m.holder_cn)
    expect_revert(t.settle_fn(sell, buy), "ExchangeNotLicensed", m.broker, sender=m.broker)
    other = m.spare[1]
    s2, b2 = t.pair(m.holder_cn, m.bank_cn, vid, sell={"exchange": other})
    expect_revert(t.settle_fn(s2, b2), "WrongExchange", m.holder_cn, other, m.exchange, sender=m.exchange)
    send(m.participants.functions.setLicenceExpiry(m.exchange, t.now() + 5), m.admin)
    m.chain.time_travel(10)
    expect_revert(t.settle_fn(sell, buy), "ExchangeNotLicensed", m.exchange, sender=m.exchange)


def test_broker_licence(trading: Trading) -> None:
    t, m = trading, trading.m
    vid, _ = t.issue()
    sell, buy = t.pair(m.holder_cn, m.bank_cn, vid, buy={"broker": m.broker, "commission": 10})
    send(m.participants.functions.suspendAccount(m.broker, "misconduct"), m.admin)
    expect_revert(t.settle_fn(sell, buy), "BrokerNotLicensed", m.broker, sender=m.exchange)
    send(m.participants.functions.reinstateAccount(m.broker, "ok"), m.admin)
    send(m.participants.functions.setLicenceExpiry(m.broker, t.now() + 5), m.admin)
    m.chain.time_travel(10)
    expect_revert(t.settle_fn(sell, buy), "BrokerNotLicensed", m.broker, sender=m.exchange)
    s2, b2 = t.pair(m.holder_cn, m.bank_cn, vid, sell={"broker": m.bank_cn, "commission": 1})
    expect_revert(t.settle_fn(s2, b2), "BrokerNotLicensed", m.bank_cn, sender=m.exchange)
    s3, b3 = t.pair(m.holder_cn, m.bank_cn, vid, sell={"commission": 5})
    expect_revert(t.settle_fn(s3, b3), "CommissionWithoutBroker", m.holder_cn, 5, sender=m.exchange)


def test_mismatched_orders(trading: Trading) -> None:
    t, m = trading, trading.m
    vid, _ = t.issue()
    other, _ = t.issue()
    sell, buy = t.pair(m.holder_cn, m.bank_cn, vid, 1000)
    x = m.exchange
    expect_revert(t.settle_fn(sell, buy.but(voucherId=other)), "VoucherMismatch", vid, other, sender=x)
    expect_revert(t.settle_fn(sell, buy.but(price=999)), "PriceMismatch", 1000, 999, sender=x)
    expect_revert(t.settle_fn(sell, buy.but(paymentToken=m.voucher.address)), "PaymentTokenMismatch",
                  m.token.address, m.voucher.address, sender=x)
    expect_revert(t.settle_fn(sell, buy.but(side=SELL)), "WrongSide", m.bank_cn, BUY, SELL, sender=x)
    expect_revert(t.settle_fn(sell, buy.but(maker=m.holder_cn)), "SelfTrade", m.holder_cn, sender=x)
    expect_revert(t.settle_fn(sell.but(side=BUY), buy), "WrongSide", m.holder_cn, SELL, BUY, sender=x)
    s2, b2 = t.pair(m.holder_cn, m.bank_cn, vid, 1000, sell={"broker": m.broker, "commission": 995})
    expect_revert(t.settle_fn(s2, b2), "FeesExceedPrice", 1000, 10, 995, sender=x)
    # a seller that does not own the voucher
    s3, b3 = t.pair(m.holder_hk, m.bank_cn, vid, 1000)
    expect_revert(t.settle_fn(s3, b3), "ERC721IncorrectOwner", m.holder_hk, vid, m.holder_cn, sender=x)


def test_non_compliant_transfer_rejected(trading: Trading) -> None:
    t, m = trading, trading.m
    vid, _ = t.issue()
    sell, buy = t.pair(m.holder_cn, m.holder_hk, vid)
    expect_revert(t.settle_fn(sell, buy), "TransferRestricted", 11, m.holder_cn, m.holder_hk, vid, sender=m.exchange)
    send(m.voucher.functions.freeze(vid, "dispute"), m.regulator)
    s2, b2 = t.pair(m.holder_cn, m.bank_cn, vid)
    expect_revert(t.settle_fn(s2, b2), "TransferRestricted", 5, m.holder_cn, m.bank_cn, vid, sender=m.exchange)
    fixed, _ = t.issue(transferable=False)
    s3, b3 = t.pair(m.holder_cn, m.bank_cn, fixed)
    expect_revert(t.settle_fn(s3, b3), "TransferRestricted", 8, m.holder_cn, m.bank_cn, fixed, sender=m.exchange)
    # a suspended buyer cannot pay (payment token is permissioned too)
    v4, _ = t.issue()
    s4, b4 = t.pair(m.holder_cn, m.bank_cn, v4)
    send(m.participants.functions.suspendAccount(m.bank_cn, "audit"), m.admin)
    expect_revert(t.settle_fn(s4, b4), "InactiveParticipant", m.bank_cn, sender=m.exchange)


def test_settle_batch(trading: Trading) -> None:
    t, m = trading, trading.m
    vids = [t.issue()[0] for _ in range(3)]
    trades = [t.trade_tuple(*t.pair(m.holder_cn, m.bank_cn, v, 1000 * (i + 1))) for i, v in enumerate(vids)]
    ids = m.settlement.functions.settleBatch(trades).call({"from": m.exchange})
    receipt = send(m.settlement.functions.settleBatch(trades), m.exchange)
    settled = events(m.settlement, receipt, "TradeSettled")
    assert [e["voucherId"] for e in settled] == vids and [e["tradeId"] for e in settled] == ids
    assert [e["fee"] for e in settled] == [10, 20, 30]
    assert all(m.voucher.functions.ownerOf(v).call() == m.bank_cn for v in vids)
    expect_revert(m.settlement.functions.settleBatch([]), "EmptyBatch", sender=m.exchange)


def test_settle_batch_is_atomic(trading: Trading) -> None:
    t, m = trading, trading.m
    vids = [t.issue()[0] for _ in range(3)]
    good = [t.pair(m.holder_cn, m.bank_cn, v) for v in vids[:2]]
    bad_sell, bad_buy = t.pair(m.holder_cn, m.holder_hk, vids[2])  # needs a clearance
    trades = [t.trade_tuple(*p) for p in good] + [t.trade_tuple(bad_sell, bad_buy)]
    expect_revert(m.settlement.functions.settleBatch(trades), "TransferRestricted", 11, m.holder_cn, m.holder_hk,
                  vids[2], sender=m.exchange)
    assert all(m.voucher.functions.ownerOf(v).call() == m.holder_cn for v in vids)
    expect_revert(m.settlement.functions.settleBatch(trades[:2]), "ExchangeNotLicensed", m.holder_cn,
                  sender=m.holder_cn)


def _hostile_buyer(t: Trading) -> Any:
    m = t.m
    owner = t.account(m.bank_cn)
    hostile = t.deploy("HostileReceiver", owner.address)
    t.add_account("bank_cn", hostile.address, Roles.HOLDER)
    send(m.token.functions.mint(hostile.address, 1_000_000), m.admin)
    send(hostile.functions.approveToken(m.token.address, m.settlement.address, MAX_UINT), m.bank_cn)
    return hostile


def test_reentrant_receiver_cannot_reenter_settlement(trading: Trading) -> None:
    t, m = trading, trading.m
    hostile = _hostile_buyer(t)
    owner = t.account(m.bank_cn)
    v1, _ = t.issue()
    v2, _ = t.issue()
    sell, buy = t.pair(m.holder_cn, hostile.address, v1)
    buy_sig = t.sign(buy, signer=owner)
    # the receiver tries to settle a second trade from inside onERC721Received
    s2, b2 = t.pair(m.holder_cn, hostile.address, v2)
    inner = calldata(m.settlement.functions.settle(s2.as_tuple(), t.sign(s2), b2.as_tuple(), t.sign(b2, signer=owner)))
    send(hostile.functions.arm(m.settlement.address, inner, 1), m.bank_cn)
    expect_revert(t.settle_fn(sell, buy, buy_sig=buy_sig), "ReentrancyGuardReentrantCall", sender=m.exchange)
    # swallowing the failure: the outer trade settles, the re-entry did not
    send(hostile.functions.arm(m.settlement.address, inner, 2), m.bank_cn)
    send(t.settle_fn(sell, buy, buy_sig=buy_sig), m.exchange)
    assert m.voucher.functions.ownerOf(v1).call() == hostile.address
    assert m.voucher.functions.ownerOf(v2).call() == m.holder_cn
    assert not hostile.functions.reentered().call()
    assert bytes(hostile.functions.lastError().call())[:4] == keccak(text="ReentrancyGuardReentrantCall()")[:4]
    # batch entry point is guarded as well
    inner_batch = calldata(m.settlement.functions.settleBatch(
        [(s2.as_tuple(), t.sign(s2), b2.as_tuple(), t.sign(b2, signer=owner))]))
    v3, _ = t.issue()
    s3, b3 = t.pair(m.holder_cn, hostile.address, v3)
    send(hostile.functions.arm(m.settlement.address, inner_batch, 1), m.bank_cn)
    expect_revert(t.settle_fn(s3, b3, buy_sig=t.sign(b3, signer=owner)), "ReentrancyGuardReentrantCall",
                  sender=m.exchange)


@pytest.mark.gas
def test_gas_settle_vs_bare_dvp(trading: Trading) -> None:
    """Steady-state gas (balances non-zero, nonce words touched): compliant settle vs BareDvP.

    The seller keeps one more NFT / voucher than it sells (id 101, the extra issue) so that no
    measured trade empties its balance: that SSTORE refund (4,800 gas on both sides) is not steady state."""
    t, m = trading, trading.m
    nft, tok, dvp = t.deploy("BareVoucher"), t.deploy("BareToken"), None
    dvp = t.deploy("BareDvP", nft.address)
    for who in (m.holder_cn, m.bank_cn):
        send(tok.functions.mint(who, 10**9), who)
        send(tok.functions.approve(dvp.address, MAX_UINT), who)
        send(nft.functions.setApprovalForAll(dvp.address, True), who)
    for i in (1, 2, 3, 100, 101):
        send(nft.functions.mint(m.bank_cn if i == 100 else m.holder_cn, i), m.holder_cn)
    bare = []
    for i in (1, 2, 3):
        sell = t.order(m.holder_cn, SELL, i, 10_000, paymentToken=tok.address)
        buy = t.order(m.bank_cn, BUY, i, 10_000, paymentToken=tok.address)
        s1 = sign_order(t.account(m.holder_cn), sell, t.chain_id, dvp.address, name="dataledger-bare-dvp")
        s2 = sign_order(t.account(m.bank_cn), buy, t.chain_id, dvp.address, name="dataledger-bare-dvp")
        bare.append(send(dvp.functions.settle(sell.as_tuple(bare=True), s1, buy.as_tuple(bare=True), s2),
                         m.exchange)["gasUsed"])
    vids = [t.issue()[0] for _ in range(3)]
    t.issue(m.bank_cn)
    t.issue(m.holder_cn)
    ours = [t.settle(*t.pair(m.holder_cn, m.bank_cn, v, 10_000))["gasUsed"] for v in vids]
    vids = [t.issue()[0] for _ in range(50)]
    batch = send(m.settlement.functions.settleBatch([t.trade_tuple(*t.pair(m.holder_cn, m.bank_cn, v)) for v in vids]),
                 m.exchange)["gasUsed"]
    print(f"\nbare DvP {bare}  settle {ours}  ratio {ours[-1] / bare[-1]:.3f}  "
          f"batch50/trade {batch / 50:.0f} ({batch / 50 / ours[-1]:.3f} of single)")
    assert batch / 50 <= 0.75 * ours[-1]
    assert ours[-1] <= 1.5 * bare[-1]


# ------------------------------------------------------------------ payment paths


def _logs_of(receipt: Any, address: str) -> list[Any]:
    return [log for log in receipt["logs"] if log["address"].lower() == address.lower()]


def test_settle_in_another_erc20(trading: Trading) -> None:
    """An order may name another ERC-20: each non-zero leg is one transferFrom of that token."""
    t, m = trading, trading.m
    tok = t.deploy("BareToken")
    send(tok.functions.mint(m.bank_cn, 10**6), m.bank_cn)
    send(tok.functions.approve(m.settlement.address, MAX_UINT), m.bank_cn)
    vid, _ = t.issue(m.holder_cn)
    sell, buy = t.pair(m.holder_cn, m.bank_cn, vid, 10_000,
                       sell={"paymentToken": tok.address, "broker": m.broker, "commission": 300},
                       buy={"paymentToken": tok.address, "broker": m.broker, "commission": 50})
    parties = (m.holder_cn, m.bank_cn, m.exchange, m.broker)
    before = {w: tok.functions.balanceOf(w).call() for w in parties}
    before_dcny = {w: t.balance(w) for w in parties}
    receipt = t.settle(sell, buy)
    delta = {w: tok.functions.balanceOf(w).call() - before[w] for w in parties}
    assert delta == {m.holder_cn: 9_600, m.bank_cn: -10_050, m.exchange: 100, m.broker: 350}
    assert sum(delta.values()) == 0  # conservation
    assert {w: t.balance(w) for w in parties} == before_dcny  # the market currency did not move
    assert events(tok, receipt, "Transfer") == [
        {"from": m.bank_cn, "to": m.holder_cn, "value": 9_600},
        {"from": m.bank_cn, "to": m.exchange, "value": 100},
        {"from": m.bank_cn, "to": m.broker, "value": 300},
        {"from": m.bank_cn, "to": m.broker, "value": 50},
    ]
    assert _logs_of(receipt, m.token.address) == []
    ev = event(m.settlement, receipt, "TradeSettled")
    assert (ev["paymentToken"], ev["price"], ev["fee"]) == (tok.address, 10_000, 100)
    assert len(events(m.settlement, receipt, "BrokerPaid")) == 2
    assert m.voucher.functions.ownerOf(vid).call() == m.bank_cn
    # zero legs are skipped: price 0, no fee, no commission -> no token call at all (no allowance needed)
    send(tok.functions.approve(m.settlement.address, 0), m.bank_cn)
    v2, _ = t.issue(m.holder_cn)
    receipt = t.settle(*t.pair(m.holder_cn, m.bank_cn, v2, 0, sell={"paymentToken": tok.address},
                               buy={"paymentToken": tok.address}))
    assert _logs_of(receipt, tok.address) == []
    assert m.voucher.functions.ownerOf(v2).call() == m.bank_cn
    # a failing transfer of the other token reverts the whole settlement
    v3, _ = t.issue(m.holder_cn)
    s3, b3 = t.pair(m.holder_cn, m.bank_cn, v3, 500, sell={"paymentToken": tok.address},
                    buy={"paymentToken": tok.address})
    expect_revert(t.settle_fn(s3, b3), "ERC20InsufficientAllowance", m.settlement.address, 0, ANY, sender=m.exchange)
    assert m.voucher.functions.ownerOf(v3).call() == m.holder_cn


def test_settle_zero_price(trading: Trading) -> None:
    """A zero-price trade (e.g. a free public-data voucher) moves no payment: no token call at all."""
    t, m = trading, trading.m
    vid, _ = t.issue(m.holder_cn)
    sell, buy = t.pair(m.holder_cn, m.bank_cn, vid, 0)
    # the buyer has neither balance nor allowance: any payment call would fail
    send(m.token.functions.approve(m.settlement.address, 0), m.bank_cn)
    send(m.token.functions.transfer(m.holder_cn, t.balance(m.bank_cn)), m.bank_cn)
    receipt = t.settle(sell, buy)
    assert _logs_of(receipt, m.token.address) == []
    ev = event(m.settlement, receipt, "TradeSettled")
    assert (ev["price"], ev["fee"], ev["seller"], ev["buyer"]) == (0, 0, m.holder_cn, m.bank_cn)
    assert m.voucher.functions.ownerOf(vid).call() == m.bank_cn
    assert m.settlement.functions.isNonceUsed(m.bank_cn, buy.nonce).call()
    # with a buyer's broker commission the commission is the only leg
    send(m.token.functions.mint(m.bank_cn, 1_000), m.admin)
    send(m.token.functions.approve(m.settlement.address, MAX_UINT), m.bank_cn)
    v2, _ = t.issue(m.holder_cn)
    receipt = t.settle(*t.pair(m.holder_cn, m.bank_cn, v2, 0, buy={"broker": m.broker, "commission": 40}))
    assert events(m.token, receipt, "Transfer") == [{"from": m.bank_cn, "to": m.broker, "value": 40}]
    assert event(m.settlement, receipt, "BrokerPaid")["amount"] == 40


def test_settle_proceeds_zero_in_payment_token(trading: Trading) -> None:
    """Fee + seller commission == price: the seller's leg is zero and skipped; the others move in one call."""
    t, m = trading, trading.m
    vid, _ = t.issue(m.holder_cn)
    sell, buy = t.pair(m.holder_cn, m.bank_cn, vid, 1_000, sell={"broker": m.broker, "commission": 990})
    before = {w: t.balance(w) for w in (m.holder_cn, m.bank_cn, m.exchange, m.broker)}
    receipt = t.settle(sell, buy)
    assert events(m.token, receipt, "Transfer") == [{"from": m.bank_cn, "to": m.exchange, "value": 10},
                                                    {"from": m.bank_cn, "to": m.broker, "value": 990}]
    assert {w: t.balance(w) - b for w, b in before.items()} == {m.holder_cn: 0, m.bank_cn: -1_000,
                                                                m.exchange: 10, m.broker: 990}
    assert m.voucher.functions.ownerOf(vid).call() == m.bank_cn


# ------------------------------------------------------------------ orders commit to the fee and the voucher (issue 11, #9)


def _core(m: Any, vid: int) -> tuple[int, int]:
    """(uses left, validUntil) of voucher ``vid`` as the chain has it now."""
    core = m.voucher.functions.voucherCore(vid).call()
    return core[6] - core[7], core[5]


def _terms_pair(t: Trading, vid: int, **kw: Any) -> tuple[Any, Any]:
    """A pair whose buy order commits to the voucher as it is now and both orders to the current fee."""
    m = t.m
    left, until = _core(m, vid)
    buy = {"minUsesLeft": left, "minValidUntil": until, "maxFeeBps": t.fee_bps, **kw.get("buy", {})}
    sell = {"maxFeeBps": t.fee_bps, **kw.get("sell", {})}
    return t.pair(m.holder_cn, m.bank_cn, vid, 10_000, sell=sell, buy=buy)


def _untouched(t: Trading, vid: int, sell: Any, buy: Any, balances: dict[str, int]) -> None:
    m = t.m
    assert m.voucher.functions.ownerOf(vid).call() == m.holder_cn
    assert not m.settlement.functions.isNonceUsed(m.holder_cn, sell.nonce).call()
    assert not m.settlement.functions.isNonceUsed(m.bank_cn, buy.nonce).call()
    assert {w: t.balance(w) for w in balances} == balances


def test_attack_seller_redeems_between_signing_and_settlement(trading: Trading) -> None:
    """Audit #9: both orders signed for a 5-use voucher; the seller then redeemed uses. Before the fix
    the buyer still paid; now settlement reverts naming the uses the buyer signed for and what is left."""
    t, m = trading, trading.m
    vid, _ = t.issue(m.holder_cn, max_uses=5)
    sell, buy = _terms_pair(t, vid)
    assert buy.minUsesLeft == 5
    before = {w: t.balance(w) for w in (m.holder_cn, m.bank_cn, m.exchange)}
    send(m.voucher.functions.redeem(vid, b"\x22" * 32), m.holder_cn)
    expect_revert(t.settle_fn(sell, buy), "UsesLeftBelowTerms", vid, 5, 4, sender=m.exchange)
    for _ in range(4):
        send(m.voucher.functions.redeem(vid, b"\x22" * 32), m.holder_cn)
    expect_revert(t.settle_fn(sell, buy), "UsesLeftBelowTerms", vid, 5, 0, sender=m.exchange)
    _untouched(t, vid, sell, buy, before)


def test_attack_authorised_user_redeems_between_signing_and_settlement(trading: Trading) -> None:
    """The same through another entry point: a user the seller authorised redeems the use."""
    t, m = trading, trading.m
    vid, _ = t.issue(m.holder_cn, max_uses=2)
    sell, buy = _terms_pair(t, vid)
    send(m.voucher.functions.authoriseUser(vid, m.operator, True), m.holder_cn)
    send(m.voucher.functions.redeem(vid, b"\x33" * 32), m.operator)
    expect_revert(t.settle_fn(sell, buy), "UsesLeftBelowTerms", vid, 2, 1, sender=m.exchange)


def test_terms_met_exactly_settle_and_a_lower_minimum_is_a_minimum(trading: Trading) -> None:
    t, m = trading, trading.m
    vid, _ = t.issue(m.holder_cn, max_uses=5)
    send(m.voucher.functions.redeem(vid, b"\x22" * 32), m.holder_cn)
    sell, buy = _terms_pair(t, vid)  # commits to 4 left, the exact validity end
    assert (buy.minUsesLeft, buy.minValidUntil) == _core(m, vid)
    t.settle(sell, buy)
    assert m.voucher.functions.ownerOf(vid).call() == m.bank_cn
    vid2, _ = t.issue(m.holder_cn, max_uses=5)
    left, until = _core(m, vid2)
    sell, buy = _terms_pair(t, vid2, buy={"minUsesLeft": 1, "minValidUntil": until - DAY})
    t.settle(sell, buy)  # a voucher better than the minimum is fine
    assert m.voucher.functions.ownerOf(vid2).call() == m.bank_cn


def test_validity_end_below_the_buy_order(trading: Trading) -> None:
    """The buyer was shown a later validity end than the voucher has (a stale or false listing)."""
    t, m = trading, trading.m
    vid, _ = t.issue(m.holder_cn)
    left, until = _core(m, vid)
    sell, buy = _terms_pair(t, vid, buy={"minValidUntil": until + 1})
    before = {w: t.balance(w) for w in (m.holder_cn, m.bank_cn, m.exchange)}
    expect_revert(t.settle_fn(sell, buy), "ValidityBelowTerms", vid, until + 1, until, sender=m.exchange)
    _untouched(t, vid, sell, buy, before)


def test_frozen_voucher_between_signing_and_settlement(trading: Trading) -> None:
    t, m = trading, trading.m
    vid, _ = t.issue(m.holder_cn)
    sell, buy = _terms_pair(t, vid)
    send(m.voucher.functions.freeze(vid, "investigation"), m.regulator)
    expect_revert(t.settle_fn(sell, buy), "TransferRestricted", 5, m.holder_cn, m.bank_cn, vid, sender=m.exchange)


def test_attack_fee_raised_above_the_signed_maximum(trading: Trading) -> None:
    """Audit #9: the owner raises the exchange fee after both orders were signed. Each order caps the
    fee; the settlement reverts naming the maker, its cap and the fee (the seller is checked first)."""
    t, m = trading, trading.m
    vid, _ = t.issue(m.holder_cn)
    sell, buy = _terms_pair(t, vid)  # both cap the fee at 100 bps
    before = {w: t.balance(w) for w in (m.holder_cn, m.bank_cn, m.exchange)}
    send(m.settlement.functions.setExchangeFee(m.exchange, 101), m.admin)
    expect_revert(t.settle_fn(sell, buy), "FeeAboveOrderMaximum", m.holder_cn, 100, 101, sender=m.exchange)
    sell2 = sell.but(maxFeeBps=2000)  # the seller accepts any fee, the buyer does not
    expect_revert(t.settle_fn(sell2, buy), "FeeAboveOrderMaximum", m.bank_cn, 100, 101, sender=m.exchange)
    _untouched(t, vid, sell, buy, before)
    # a fee lowered after signing is simply charged as it is at settlement
    send(m.settlement.functions.setExchangeFee(m.exchange, 40), m.admin)
    receipt = t.settle(sell, buy)
    assert event(m.settlement, receipt, "TradeSettled")["fee"] == 40
    # a zero cap means "no fee"
    vid2, _ = t.issue(m.holder_cn)
    sell, buy = _terms_pair(t, vid2, sell={"maxFeeBps": 0})
    expect_revert(t.settle_fn(sell, buy), "FeeAboveOrderMaximum", m.holder_cn, 0, 40, sender=m.exchange)


def test_sell_order_terms_are_checked_too(trading: Trading) -> None:
    """Terms on a sell order hold like a buyer's: the stricter of the two applies."""
    t, m = trading, trading.m
    vid, _ = t.issue(m.holder_cn, max_uses=3)
    left, until = _core(m, vid)
    sell, buy = _terms_pair(t, vid, sell={"minUsesLeft": 4}, buy={"minUsesLeft": 1})
    expect_revert(t.settle_fn(sell, buy), "UsesLeftBelowTerms", vid, 4, 3, sender=m.exchange)
    sell, buy = _terms_pair(t, vid, sell={"minValidUntil": until + 5}, buy={"minValidUntil": until - 5})
    expect_revert(t.settle_fn(sell, buy), "ValidityBelowTerms", vid, until + 5, until, sender=m.exchange)


def test_batch_with_one_pair_failing_its_terms_settles_nothing(trading: Trading) -> None:
    t, m = trading, trading.m
    vids = [t.issue(m.holder_cn, max_uses=3)[0] for _ in range(3)]
    pairs = [_terms_pair(t, v) for v in vids]
    send(m.voucher.functions.redeem(vids[1], b"\x22" * 32), m.holder_cn)
    before = {w: t.balance(w) for w in (m.holder_cn, m.bank_cn, m.exchange)}
    fn = m.settlement.functions.settleBatch([t.trade_tuple(s, b) for s, b in pairs])
    expect_revert(fn, "UsesLeftBelowTerms", vids[1], 3, 2, sender=m.exchange)
    for v, (s, b) in zip(vids, pairs):
        _untouched(t, v, s, b, before)
    send(m.settlement.functions.setExchangeFee(m.exchange, 150), m.admin)
    t.fee_bps = 150
    pairs = [_terms_pair(t, v) for v in vids]  # fresh orders: these cap the fee at 150
    pairs[2] = (pairs[2][0], pairs[2][1].but(maxFeeBps=149))
    fn = m.settlement.functions.settleBatch([t.trade_tuple(s, b) for s, b in pairs])
    expect_revert(fn, "FeeAboveOrderMaximum", m.bank_cn, 149, 150, sender=m.exchange)
    pairs[2] = _terms_pair(t, vids[2])
    receipt = send(m.settlement.functions.settleBatch([t.trade_tuple(s, b) for s, b in pairs]), m.exchange)
    assert len(events(m.settlement, receipt, "TradeSettled")) == 3


def test_transfer_with_terms_is_a_safe_transfer_for_anyone_else(trading: Trading) -> None:
    """DataVoucher.safeTransferFromWithTerms adds checks only: an unapproved caller is refused, the
    holder may use it like safeTransferFrom, and the compliance rules apply."""
    t, m = trading, trading.m
    vid, _ = t.issue(m.holder_cn, max_uses=3)
    fn = m.voucher.functions.safeTransferFromWithTerms(m.holder_cn, m.bank_cn, vid, 3, 0)
    expect_revert(fn, "ERC721InsufficientApproval", m.operator, vid, sender=m.operator)
    expect_revert(m.voucher.functions.safeTransferFromWithTerms(m.holder_cn, m.bank_cn, vid, 4, 0),
                  "UsesLeftBelowTerms", vid, 4, 3, sender=m.holder_cn)
    expect_revert(m.voucher.functions.safeTransferFromWithTerms(m.holder_cn, m.outsider, vid, 0, 0),
                  "TransferRestricted", 2, m.holder_cn, m.outsider, vid, sender=m.holder_cn)
    expect_revert(m.voucher.functions.safeTransferFromWithTerms(m.holder_cn, ZERO, vid, 0, 0),
                  "ERC721InvalidReceiver", ZERO, sender=m.holder_cn)
    expect_revert(m.voucher.functions.safeTransferFromWithTerms(m.bank_cn, m.operator, vid, 0, 0),
                  "ERC721IncorrectOwner", m.bank_cn, vid, m.holder_cn, sender=m.holder_cn)
    send(fn, m.holder_cn)
    assert m.voucher.functions.ownerOf(vid).call() == m.bank_cn
