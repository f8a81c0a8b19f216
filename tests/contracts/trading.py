"""Shared helpers and fixtures for the voucher / payment / settlement tests.

    from tests.contracts.trading import Trading, trading, Order, SELL, BUY  # noqa: F401

* ``Order`` + ``sign_order``: EIP-712 orders signed with eth_account (TradeSettlement's domain
  ``("dataledger-settlement", "1", chainId, settlement)``, or any other domain for attack tests).
* ``forward_request``: an ERC-2771 meta-transaction signed for LedgerForwarder.
* ``trading`` fixture: the ``market`` with exchange fee set, payment tokens minted, approvals given,
  and helpers to issue vouchers and settle trades.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from web3 import Web3
from web3.contract import Contract

from ledger.deploy import contract_at, deploy_contract
from tests.contracts.helpers import SourceType, event, send

ZERO = "0x" + "00" * 20
SELL, BUY = 0, 1
HOLDING, USE, OPERATING = 0, 1, 2
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
MAX_UINT = 2**256 - 1
DAY = 24 * 3600

ORDER_TYPES = {
    "Order": [
        {"name": "maker", "type": "address"},
        {"name": "side", "type": "uint8"},
        {"name": "voucherId", "type": "uint256"},
        {"name": "price", "type": "uint256"},
        {"name": "paymentToken", "type": "address"},
        {"name": "exchange", "type": "address"},
        {"name": "broker", "type": "address"},
        {"name": "commission", "type": "uint256"},
        {"name": "maxFeeBps", "type": "uint256"},
        {"name": "minUsesLeft", "type": "uint256"},
        {"name": "minValidUntil", "type": "uint256"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ]
}
TERMS = ("maxFeeBps", "minUsesLeft", "minValidUntil")
# BareDvP (the gas baseline) keeps the order type as it was before orders committed to terms
BARE_DVP = "dataledger-bare-dvp"
BARE_ORDER_TYPES = {"Order": [f for f in ORDER_TYPES["Order"] if f["name"] not in TERMS]}
MAX_FEE_BPS = 2000

FORWARD_TYPES = {
    "ForwardRequest": [
        {"name": "from", "type": "address"},
        {"name": "to", "type": "address"},
        {"name": "value", "type": "uint256"},
        {"name": "gas", "type": "uint256"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint48"},
        {"name": "data", "type": "bytes"},
    ]
}


@dataclass(frozen=True)
class Order:
    maker: str
    side: int
    voucherId: int
    price: int
    paymentToken: str
    exchange: str
    broker: str = ZERO
    commission: int = 0
    nonce: int = 0
    deadline: int = 0
    maxFeeBps: int = MAX_FEE_BPS  # accept any fee the contract allows, unless a test says otherwise
    minUsesLeft: int = 0
    minValidUntil: int = 0

    def message(self, bare: bool = False) -> dict[str, Any]:
        types = BARE_ORDER_TYPES if bare else ORDER_TYPES
        return {k: getattr(self, k) for k in (f["name"] for f in types["Order"])}

    def as_tuple(self, bare: bool = False) -> tuple[Any, ...]:
        return tuple(self.message(bare).values())

    def but(self, **changes: Any) -> Order:
        return replace(self, **changes)


def order_digest(order: Order, chain_id: int, verifying_contract: str, name: str = "dataledger-settlement") -> bytes:
    signable = encode_typed_data(
        domain_data={"name": name, "version": "1", "chainId": chain_id, "verifyingContract": verifying_contract},
        message_types=BARE_ORDER_TYPES if name == BARE_DVP else ORDER_TYPES,
        message_data=order.message(bare=name == BARE_DVP),
    )
    return bytes(Web3.keccak(b"\x19" + signable.version + signable.header + signable.body))


def sign_order(
    account: Any, order: Order, chain_id: int, verifying_contract: str, name: str = "dataledger-settlement"
) -> bytes:
    """65-byte r||s||v EIP-712 signature of ``order`` by ``account`` (a LocalAccount); for the
    BareDvP domain, of the baseline's original order type (no terms)."""
    signable = encode_typed_data(
        domain_data={"name": name, "version": "1", "chainId": chain_id, "verifyingContract": verifying_contract},
        message_types=BARE_ORDER_TYPES if name == BARE_DVP else ORDER_TYPES,
        message_data=order.message(bare=name == BARE_DVP),
    )
    return bytes(Account.sign_message(signable, account.key).signature)


def to_high_s(signature: bytes) -> bytes:
    """The malleable twin of a signature: s' = n - s, v flipped (recovers the same key)."""
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    return r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])


def forward_request(
    w3: Web3, forwarder: Contract, account: Any, target: str, data: str | bytes, gas: int = 1_000_000, deadline: int | None = None
) -> tuple[Any, ...]:
    """ERC2771Forwarder.ForwardRequestData signed by ``account`` for a call of ``target`` with ``data``."""
    if deadline is None:
        deadline = int(w3.eth.get_block("latest")["timestamp"]) + 3600
    nonce = forwarder.functions.nonces(account.address).call()
    data_bytes = bytes(Web3.to_bytes(hexstr=data)) if isinstance(data, str) else bytes(data)
    signable = encode_typed_data(
        domain_data={
            "name": "dataledger",
            "version": "1",
            "chainId": w3.eth.chain_id,
            "verifyingContract": forwarder.address,
        },
        message_types=FORWARD_TYPES,
        message_data={
            "from": account.address,
            "to": target,
            "value": 0,
            "gas": gas,
            "nonce": nonce,
            "deadline": deadline,
            "data": data_bytes,
        },
    )
    signature = bytes(Account.sign_message(signable, account.key).signature)
    return (account.address, target, 0, gas, deadline, data_bytes, signature)


def calldata(fn: Any) -> str:
    """ABI-encoded call data of a bound contract function."""
    return fn._encode_transaction_data()


@dataclass
class Trading:
    """The market plus settlement conveniences (all amounts in payment-token units, 2 decimals)."""

    m: Any
    fee_bps: int = 100
    _nonces: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    # ---------------------------------------------------------------- accounts
    def account(self, address: str) -> Any:
        for acct in self.m.accounts:
            if acct.address.lower() == address.lower():
                return acct
        raise KeyError(address)

    @property
    def w3(self) -> Web3:
        return self.m.w3

    @property
    def chain_id(self) -> int:
        return self.m.w3.eth.chain_id

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    # ---------------------------------------------------------------- vouchers
    def issue(
        self,
        holder: str | None = None,
        *,
        to: str | None = None,
        level: int = 2,
        source: SourceType = SourceType.ENTERPRISE,
        asset_id: int | None = None,
        right: int = USE,
        scope: bytes = b"\x11" * 32,
        valid_from: int | None = None,
        valid_until: int | None = None,
        max_uses: int = 3,
        transferable: bool = True,
        issuer: str | None = None,
    ) -> tuple[int, int]:
        """Register an asset (unless ``asset_id``) held by ``holder`` and issue a voucher to ``to``.

        Returns (voucher id, asset id)."""
        holder = holder or self.m.holder_cn
        if asset_id is None:
            asset_id = self.m.register_asset(holder, level=level, source=source)
        now = self.now()
        vf = now if valid_from is None else valid_from
        vu = now + 30 * DAY if valid_until is None else valid_until
        receipt = send(
            self.m.voucher.functions.issue(to or holder, asset_id, right, scope, vf, vu, max_uses, transferable),
            issuer or holder,
        )
        return int(event(self.m.voucher, receipt, "VoucherIssued")["voucherId"]), asset_id

    # ---------------------------------------------------------------- orders
    def order(self, maker: str, side: int, voucher_id: int, price: int = 10_000, **kw: Any) -> Order:
        kw.setdefault("paymentToken", self.m.token.address)
        kw.setdefault("exchange", self.m.exchange)
        kw.setdefault("nonce", next(self._nonces))
        kw.setdefault("deadline", self.now() + DAY)
        return Order(maker=maker, side=side, voucherId=voucher_id, price=price, **kw)

    def sign(self, order: Order, signer: Any = None, **kw: Any) -> bytes:
        kw.setdefault("chain_id", self.chain_id)
        kw.setdefault("verifying_contract", self.m.settlement.address)
        return sign_order(signer or self.account(order.maker), order, **kw)

    def pair(self, seller: str, buyer: str, voucher_id: int, price: int = 10_000, **kw: Any) -> tuple[Order, Order]:
        return (
            self.order(seller, SELL, voucher_id, price, **kw.get("sell", {})),
            self.order(buyer, BUY, voucher_id, price, **kw.get("buy", {})),
        )

    def settle_fn(self, sell: Order, buy: Order, sell_sig: bytes | None = None, buy_sig: bytes | None = None) -> Any:
        return self.m.settlement.functions.settle(
            sell.as_tuple(),
            self.sign(sell) if sell_sig is None else sell_sig,
            buy.as_tuple(),
            self.sign(buy) if buy_sig is None else buy_sig,
        )

    def trade_tuple(self, sell: Order, buy: Order) -> tuple[Any, ...]:
        return (sell.as_tuple(), self.sign(sell), buy.as_tuple(), self.sign(buy))

    def settle(self, sell: Order, buy: Order, sender: str | None = None, **sigs: Any) -> Any:
        return send(self.settle_fn(sell, buy, **sigs), sender or self.m.exchange)

    def balance(self, who: str) -> int:
        return int(self.m.token.functions.balanceOf(who).call())

    # ---------------------------------------------------------------- extra participants
    def add_account(self, org_of: str, account: str, roles: int) -> None:
        """Add ``account`` (e.g. a contract wallet) to the organisation of participant ``org_of``."""
        send(
            self.m.participants.functions.addAccount(self.m.orgs[org_of], account, roles),
            self.m.officers[org_of],
        )

    def deploy(self, name: str, *args: Any) -> Contract:
        return deploy_contract(self.w3, name, *args, sender=self.m.accounts[0])


FUNDED = ("holder_cn", "bank_cn", "holder_hk", "holder_mo", "operator")


@pytest.fixture
def trading(market: Any) -> Trading:
    """``market`` with fee 100 bps for the exchange, 1,000,000.00 tokens for the funded holders,
    settlement approved for their tokens and vouchers."""
    t = Trading(market)
    m = market
    send(m.settlement.functions.setExchangeFee(m.exchange, t.fee_bps), m.admin)
    for name in FUNDED:
        who = m.addr[name]
        send(m.token.functions.mint(who, 100_000_000), m.admin)
        send(m.token.functions.approve(m.settlement.address, MAX_UINT), who)
        send(m.voucher.functions.setApprovalForAll(m.settlement.address, True), who)
    return t


def forwarder(m: Any) -> Contract:
    return contract_at(m.w3, "LedgerForwarder", m.contracts["LedgerForwarder"].address)
