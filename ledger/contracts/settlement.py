"""Typed clients of TradeSettlement (EIP-712 orders, DvP) and PaymentToken."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

from eth_account.signers.local import LocalAccount
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from ledger.contracts.base import ZERO_ADDRESS, ContractClient, TxResult, checksum
from ledger.contracts.models import Side, parse_enum
from ledger.errors import InvalidInput, TransferRefused
from ledger.wallet import ORDER_FIELDS, order_digest, sign_order


class Order(BaseModel):
    """TradeSettlement.Order (field names as in the Solidity struct).

    ``maxFeeBps`` caps the exchange fee the maker accepts (0 = no fee); ``minUsesLeft`` and
    ``minValidUntil`` are the voucher terms the order commits to (0 = none): settlement reverts when
    the voucher has fewer uses left or an earlier validity end. :meth:`SettlementClient.make_order`
    fills them from the chain as the maker sees it."""

    model_config = ConfigDict(frozen=True)

    maker: str
    side: int
    voucherId: int
    price: int
    paymentToken: str
    exchange: str
    broker: str = ZERO_ADDRESS
    commission: int = 0
    maxFeeBps: int = 0
    minUsesLeft: int = 0
    minValidUntil: int = 0
    nonce: int
    deadline: int

    @field_validator("maker", "paymentToken", "exchange", "broker")
    @classmethod
    def _addr(cls, v: str) -> str:
        return checksum(v)

    @field_validator("side", mode="before")
    @classmethod
    def _side(cls, v: Any) -> int:
        return int(parse_enum(Side, v))

    def as_tuple(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name, _ in ORDER_FIELDS)

    def message(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name, _ in ORDER_FIELDS}


class SignedOrder(BaseModel):
    """An order, its signature, and the domain it was signed for (the order file format)."""

    model_config = ConfigDict(frozen=True)

    order: Order
    signature: str
    chainId: int
    settlement: str

    def signature_bytes(self) -> bytes:
        return bytes.fromhex(self.signature.removeprefix("0x"))

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def write(self, path: Path) -> Path:
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        tmp.replace(path)
        return path

    @classmethod
    def read(cls, path: Path | str) -> SignedOrder:
        try:
            return cls.model_validate(json.loads(Path(path).read_text()))
        except FileNotFoundError:
            raise InvalidInput(f"order file {path} does not exist") from None
        except (ValueError, ValidationError) as exc:
            first = str(exc).splitlines()[0]
            raise InvalidInput(f"order file {path} is not a signed order: {first}") from None


class SettlementClient(ContractClient):
    """TradeSettlement: sign orders, settle matched trades atomically, cancel nonces."""

    NAME = "TradeSettlement"

    def make_order(self, side: Any, voucher_id: int, price: int, exchange: str, deadline: int,
                   broker: Optional[str] = None, commission: int = 0, nonce: Optional[int] = None,
                   payment_token: Optional[str] = None, maker: Optional[str] = None,
                   max_fee_bps: Optional[int] = None, min_uses_left: Optional[int] = None,
                   min_valid_until: Optional[int] = None) -> Order:
        """An unsigned order. Its terms default to what the chain shows now: the fee cap to the
        exchange's current fee; for a buy order, the voucher's uses left and validity end (a sell
        order commits to no voucher terms unless given)."""
        side_ = parse_enum(Side, side)
        if max_fee_bps is None:
            max_fee_bps = self.exchange_fee(exchange)
        if side_ == Side.BUY and (min_uses_left is None or min_valid_until is None):
            v = self.ledger.vouchers.voucher(int(voucher_id))
            if min_uses_left is None:
                min_uses_left = max(v.max_uses - v.uses, 0)
            if min_valid_until is None:
                min_valid_until = v.valid_until
        for name, value in (("max fee", max_fee_bps), ("min uses left", min_uses_left),
                            ("min valid until", min_valid_until)):
            if value is not None and not 0 <= int(value) < 2**256:
                raise InvalidInput(f"{name} {value} is out of range")
        return Order(
            maker=maker or self.ledger.address,
            side=int(side_),
            voucherId=int(voucher_id),
            price=int(price),
            paymentToken=payment_token or self.ledger.address_of("PaymentToken"),
            exchange=exchange,
            broker=broker or ZERO_ADDRESS,
            commission=int(commission),
            maxFeeBps=int(max_fee_bps),
            minUsesLeft=int(min_uses_left or 0),
            minValidUntil=int(min_valid_until or 0),
            nonce=secrets.randbits(64) if nonce is None else int(nonce),
            deadline=int(deadline),
        )

    def sign(self, order: Order, signer: Optional[LocalAccount] = None) -> SignedOrder:
        account = signer or self.ledger.require_account()
        signature = sign_order(account, order.message(), self.ledger.chain_id, self.address)
        return SignedOrder(order=order, signature="0x" + signature.hex(), chainId=self.ledger.chain_id,
                           settlement=self.address)

    def digest(self, order: Order) -> bytes:
        """The digest computed locally (equals the contract's orderDigest)."""
        return order_digest(order.message(), self.ledger.chain_id, self.address)

    def onchain_digest(self, order: Order) -> bytes:
        return bytes(self.call("orderDigest", order.as_tuple()))

    def _check_domain(self, signed: SignedOrder) -> None:
        if signed.chainId != self.ledger.chain_id or checksum(signed.settlement) != self.address:
            raise InvalidInput(
                f"order of {signed.order.maker} nonce {signed.order.nonce} was signed for chain {signed.chainId} "
                f"settlement {signed.settlement}, not chain {self.ledger.chain_id} settlement {self.address}"
            )

    def _precheck(self, sell: SignedOrder, buy: SignedOrder) -> None:
        for s in (sell, buy):
            self._check_domain(s)
        vouchers = self.ledger.vouchers
        r = vouchers.restriction(sell.order.maker, buy.order.maker, sell.order.voucherId)
        if r.code != 0:
            raise TransferRefused(r.code, r.message, sell.order.voucherId, sell.order.maker, buy.order.maker)

    def settle(self, sell: SignedOrder, buy: SignedOrder) -> TxResult:
        """Settle one trade as the exchange; ``result.value`` is the trade id (hex)."""
        self._precheck(sell, buy)
        result = self.transact("settle", sell.order.as_tuple(), sell.signature_bytes(),
                               buy.order.as_tuple(), buy.signature_bytes())
        result.value = "0x" + bytes(result.event("TradeSettled")["tradeId"]).hex()
        return result

    def settle_batch(self, trades: Sequence[tuple[SignedOrder, SignedOrder]]) -> TxResult:
        """Settle many trades atomically; ``result.value`` is the list of trade ids."""
        if not trades:
            raise InvalidInput("an empty batch")
        for sell, buy in trades:
            self._precheck(sell, buy)
        arg = [(s.order.as_tuple(), s.signature_bytes(), b.order.as_tuple(), b.signature_bytes())
               for s, b in trades]
        result = self.transact("settleBatch", arg)
        result.value = ["0x" + bytes(e["args"]["tradeId"]).hex() for e in result.events
                        if e["event"] == "TradeSettled"]
        return result

    def cancel(self, nonce: int) -> TxResult:
        return self.transact("cancelOrder", int(nonce))

    def is_nonce_used(self, maker: str, nonce: int) -> bool:
        return bool(self.call("isNonceUsed", checksum(maker), int(nonce)))

    def set_exchange_fee(self, exchange: str, bps: int) -> TxResult:
        return self.transact("setExchangeFee", checksum(exchange), int(bps))

    def exchange_fee(self, exchange: str) -> int:
        return int(self.call("exchangeFeeBps", checksum(exchange)))


class PaymentTokenClient(ContractClient):
    """PaymentToken (permissioned ERC-20, 2 decimals, EIP-2612 permits)."""

    NAME = "PaymentToken"

    def mint(self, to: str, amount: int) -> TxResult:
        return self.transact("mint", checksum(to), int(amount))

    def transfer(self, to: str, amount: int) -> TxResult:
        return self.transact("transfer", checksum(to), int(amount))

    def approve(self, spender: str, amount: int) -> TxResult:
        return self.transact("approve", checksum(spender), int(amount))

    def burn(self, amount: int) -> TxResult:
        return self.transact("burn", int(amount))

    def balance_of(self, account: str) -> int:
        return int(self.call("balanceOf", checksum(account)))

    def allowance(self, owner: str, spender: str) -> int:
        return int(self.call("allowance", checksum(owner), checksum(spender)))

    def decimals(self) -> int:
        return int(self.call("decimals"))

    def total_supply(self) -> int:
        return int(self.call("totalSupply"))
