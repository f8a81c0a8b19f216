"""Signature attacks on TradeSettlement orders (EIP-712, SignatureChecker: EOA + ERC-1271)."""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account

from tests.contracts.helpers import Roles, expect_revert, send
from tests.contracts.trading import (
    MAX_UINT,
    ZERO,
    Trading,
    order_digest,
    sign_order,
    to_high_s,
    trading,
)


def _struct_hash(m: Any, order: Any) -> bytes:
    return bytes(m.settlement.functions.hashOrder(order.as_tuple()).call())


def test_digest_matches_eip712_domain(trading: Trading) -> None:
    t, m = trading, trading.m
    vid, _ = t.issue()
    sell, _ = t.pair(m.holder_cn, m.bank_cn, vid)
    local = order_digest(sell, t.chain_id, m.settlement.address)
    assert bytes(m.settlement.functions.orderDigest(sell.as_tuple()).call()) == local
    domain = m.settlement.functions.eip712Domain().call()
    assert domain[1:5] == ["dataledger-settlement", "1", t.chain_id, m.settlement.address] or \
        tuple(domain[1:5]) == ("dataledger-settlement", "1", t.chain_id, m.settlement.address)


@pytest.mark.parametrize("attack", ["wrong_chain", "wrong_contract", "wrong_name", "other_key", "tampered"])
def test_forged_eoa_signatures_rejected(trading: Trading, attack: str) -> None:
    t, m = trading, trading.m
    vid, _ = t.issue()
    sell, buy = t.pair(m.holder_cn, m.bank_cn, vid)
    signer = t.account(m.holder_cn)
    if attack == "wrong_chain":
        sig = sign_order(signer, sell, t.chain_id + 1, m.settlement.address)
    elif attack == "wrong_contract":
        sig = sign_order(signer, sell, t.chain_id, m.voucher.address)
    elif attack == "wrong_name":
        sig = sign_order(signer, sell, t.chain_id, m.settlement.address, name="dataledger-bare-dvp")
    elif attack == "other_key":
        sig = t.sign(sell, signer=t.account(m.bank_cn))
    else:  # signed a different price than submitted
        sig = t.sign(sell.but(price=1))
    expect_revert(t.settle_fn(sell, buy, sell_sig=sig), "InvalidSignature", m.holder_cn, _struct_hash(m, sell),
                  sender=m.exchange)


def test_high_s_signature_rejected(trading: Trading) -> None:
    t, m = trading, trading.m
    vid, _ = t.issue()
    sell, buy = t.pair(m.holder_cn, m.bank_cn, vid)
    sig = t.sign(buy)
    twin = to_high_s(sig)
    # the malleable twin recovers the same key off-chain ...
    digest = order_digest(buy, t.chain_id, m.settlement.address)
    v = twin[64]
    assert Account._recover_hash(digest, vrs=(v, int.from_bytes(twin[:32], "big"),
                                              int.from_bytes(twin[32:64], "big"))) == m.bank_cn
    # ... but the contract rejects high-s
    expect_revert(t.settle_fn(sell, buy, buy_sig=twin), "InvalidSignature", m.bank_cn, _struct_hash(m, buy),
                  sender=m.exchange)
    t.settle(sell, buy, buy_sig=sig)


def test_signature_recovering_to_zero_rejected(trading: Trading) -> None:
    t, m = trading, trading.m
    vid, _ = t.issue()
    sell, buy = t.pair(m.holder_cn, m.bank_cn, vid)
    zero_sig = b"\x00" * 64 + b"\x1b"  # ecrecover returns address(0)
    # an order "made" by address(0) with a signature that recovers to zero
    ghost = sell.but(maker=ZERO)
    expect_revert(t.settle_fn(ghost, buy, sell_sig=zero_sig), "InvalidSignature", ZERO, _struct_hash(m, ghost),
                  sender=m.exchange)
    expect_revert(t.settle_fn(sell, buy, sell_sig=zero_sig), "InvalidSignature", m.holder_cn, _struct_hash(m, sell),
                  sender=m.exchange)
    bad_v = t.sign(sell)[:64] + b"\x05"
    expect_revert(t.settle_fn(sell, buy, sell_sig=bad_v), "InvalidSignature", m.holder_cn, _struct_hash(m, sell),
                  sender=m.exchange)
    expect_revert(t.settle_fn(sell, buy, sell_sig=t.sign(sell)[:64]), "InvalidSignature", m.holder_cn,
                  _struct_hash(m, sell), sender=m.exchange)
    expect_revert(t.settle_fn(sell, buy, sell_sig=b""), "InvalidSignature", m.holder_cn, _struct_hash(m, sell),
                  sender=m.exchange)


def _wallet_buyer(t: Trading) -> Any:
    m = t.m
    wallet = t.deploy("MockERC1271Wallet", m.bank_cn)
    t.add_account("bank_cn", wallet.address, Roles.HOLDER)
    send(m.token.functions.mint(wallet.address, 1_000_000), m.admin)
    send(wallet.functions.approveToken(m.token.address, m.settlement.address, MAX_UINT), m.bank_cn)
    send(wallet.functions.approveVouchers(m.voucher.address, m.settlement.address), m.bank_cn)
    return wallet


def test_erc1271_wallet_signs_orders(trading: Trading) -> None:
    t, m = trading, trading.m
    wallet = _wallet_buyer(t)
    vid, _ = t.issue()
    sell, buy = t.pair(m.holder_cn, wallet.address, vid)
    t.settle(sell, buy, buy_sig=t.sign(buy, signer=t.account(m.bank_cn)))
    assert m.voucher.functions.ownerOf(vid).call() == wallet.address
    # the wallet can sell it on, too
    sell2, buy2 = t.pair(wallet.address, m.operator, vid)
    send(m.settlement.functions.setExchangeFee(m.exchange, 0), m.admin)
    t.settle(sell2, buy2, sell_sig=t.sign(sell2, signer=t.account(m.bank_cn)))
    assert m.voucher.functions.ownerOf(vid).call() == m.operator


@pytest.mark.parametrize("mode,what", [(0, "wrong signer"), (1, "wrong value"), (2, "short data"), (3, "reverts")])
def test_misbehaving_erc1271_wallet_rejected(trading: Trading, mode: int, what: str) -> None:
    t, m = trading, trading.m
    wallet = _wallet_buyer(t)
    send(wallet.functions.setMode(mode), m.bank_cn)
    vid, _ = t.issue()
    sell, buy = t.pair(m.holder_cn, wallet.address, vid)
    sig = t.sign(buy, signer=t.account(m.holder_hk if mode == 0 else m.bank_cn))
    expect_revert(t.settle_fn(sell, buy, buy_sig=sig), "InvalidSignature", wallet.address, _struct_hash(m, buy),
                  sender=m.exchange)


def test_replay_across_settlement_and_bare_dvp_domains(trading: Trading) -> None:
    """A signature collected for the benchmark DvP (its own domain and the original Order type) is useless
    on TradeSettlement."""
    t, m = trading, trading.m
    dvp = t.deploy("BareDvP", m.voucher.address)
    vid, _ = t.issue()
    sell, buy = t.pair(m.holder_cn, m.bank_cn, vid)
    sig = sign_order(t.account(m.bank_cn), buy, t.chain_id, dvp.address, name="dataledger-bare-dvp")
    assert bytes(dvp.functions.orderDigest(buy.as_tuple(bare=True)).call()) == order_digest(
        buy, t.chain_id, dvp.address, name="dataledger-bare-dvp")
    expect_revert(t.settle_fn(sell, buy, buy_sig=sig), "InvalidSignature", m.bank_cn, _struct_hash(m, buy),
                  sender=m.exchange)


# the order's 13 calldata words are hashed as they are (TradeSettlement._hashOrder): dirty high bits
# in an address or enum word must never settle (the field read reverts, and the hash would differ)
_DIRTY_WORDS = {"maker": 0, "side": 1, "paymentToken": 4, "exchange": 5, "broker": 6}


@pytest.mark.parametrize("side_offset", [0, 14], ids=["sell", "buy"])
@pytest.mark.parametrize("field", sorted(_DIRTY_WORDS))
def test_dirty_high_bits_in_an_order_word_never_settle(trading: Trading, field: str, side_offset: int) -> None:
    t, m = trading, trading.m
    vid, _ = t.issue()
    sell, buy = t.pair(m.holder_cn, m.bank_cn, vid, sell={"broker": m.broker, "commission": 1},
                       buy={"broker": m.broker, "commission": 1})
    data = bytearray(bytes.fromhex(t.settle_fn(sell, buy)._encode_transaction_data()[2:]))
    call = {"from": m.exchange, "to": m.settlement.address}
    t.w3.eth.call({**call, "data": bytes(data)})  # the clean call settles
    word = 4 + 32 * (side_offset + _DIRTY_WORDS[field])  # selector, then sell (13 words) + sig offset, buy
    data[word] = 0x01  # the highest byte of the word
    with pytest.raises(Exception) as info:
        t.w3.eth.call({**call, "data": bytes(data)})
    assert "revert" in str(info.value).lower() or "execution" in str(info.value).lower()
