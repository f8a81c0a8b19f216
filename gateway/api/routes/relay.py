"""Gasless relay: holders' signed ERC-2771 requests and exchanges' settlements.

Every request is checked before any gas is spent: domain (chain id, forwarder), deadline, nonce,
signature (the forwarder's own ``verify``), the target, the voucher restriction view for
transfers, and a simulation of the forwarded call (the target sees the signer as the sender).
A request that would revert is refused with the decoded reason and never sent.
"""

from __future__ import annotations

import threading
from typing import Any, Optional

from eth_abi.abi import decode as abi_decode
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from gateway.api.common import AUTH_ERRORS, ERRORS
from gateway.api.deps import AuthedCallerDep, SettingsDep
from gateway.core.errors import ApiError, jsonable
from ledger.anvil import DEFAULT_MNEMONIC
from ledger.chain import Ledger
from ledger.contracts.models import Role
from ledger.contracts.settlement import Order, SignedOrder
from ledger.contracts.vouchers import ForwardRequest
from ledger.errors import InvalidInput, TransferRefused

router = APIRouter(prefix="/v1/relay", tags=["relay"],
                   responses={**ERRORS, **AUTH_ERRORS, 409: {"description": "Refused: would revert (decoded reason)"}})

_lock = threading.Lock()

# selectors of DataVoucher moves whose restriction view is checked before simulating
_TRANSFERS = {
    bytes.fromhex("42842e0e"): ["address", "address", "uint256"],  # safeTransferFrom(address,address,uint256)
    bytes.fromhex("b88d4fde"): ["address", "address", "uint256", "bytes"],  # safeTransferFrom(...,bytes)
    bytes.fromhex("23b872dd"): ["address", "address", "uint256"],  # transferFrom
}
_HEX = r"^0x([0-9a-fA-F]{2})*$"
_ADDR = r"^0x[0-9a-fA-F]{40}$"


class ForwardRequestIn(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from", pattern=_ADDR)
    to: str = Field(pattern=_ADDR)
    value: int = Field(default=0, ge=0, le=2**255)
    gas: int = Field(ge=21_000, le=30_000_000)
    nonce: int = Field(ge=0, le=2**255)
    deadline: int = Field(ge=0, le=2**48 - 1)
    data: str = Field(pattern=_HEX, max_length=200_000)
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$")
    chainId: int = Field(ge=0, le=2**63)
    forwarder: str = Field(pattern=_ADDR)

    def request(self) -> ForwardRequest:
        d = self.model_dump(by_alias=True)
        return ForwardRequest.from_dict(d)


class OrderIn(BaseModel):
    maker: str = Field(pattern=_ADDR)
    side: int = Field(ge=0, le=1)
    voucherId: int = Field(ge=0, le=2**255)
    price: int = Field(ge=0, le=2**255)
    paymentToken: str = Field(pattern=_ADDR)
    exchange: str = Field(pattern=_ADDR)
    broker: str = Field(default="0x" + "00" * 20, pattern=_ADDR)
    commission: int = Field(default=0, ge=0, le=2**255)
    maxFeeBps: int = Field(default=0, ge=0, le=2**255)
    minUsesLeft: int = Field(default=0, ge=0, le=2**255)
    minValidUntil: int = Field(default=0, ge=0, le=2**255)
    nonce: int = Field(ge=0, le=2**255)
    deadline: int = Field(ge=0, le=2**255)


class SignedOrderIn(BaseModel):
    order: OrderIn
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$")
    chainId: int = Field(ge=0, le=2**63)
    settlement: str = Field(pattern=_ADDR)

    def signed(self) -> SignedOrder:
        return SignedOrder(order=Order(**self.order.model_dump()), signature=self.signature, chainId=self.chainId,
                           settlement=self.settlement)


class SettlementIn(BaseModel):
    sell: SignedOrderIn
    buy: SignedOrderIn
    request: ForwardRequestIn = Field(description="the exchange's signed ForwardRequest calling settle(sell, buy)")


class RelayedPublic(BaseModel):
    tx_hash: str
    block_number: Optional[int]
    gas_used: Optional[int]
    events: list[dict[str, Any]]
    trade_id: Optional[str] = None


def relayer(request: Request, settings: Any) -> Ledger:
    ledger: Optional[Ledger] = getattr(request.app.state, "relayer", None)
    if ledger is not None:
        return ledger
    key = settings.RELAYER_KEY
    if not key:
        from eth_account import Account

        Account.enable_unaudited_hdwallet_features()
        key = Account.from_mnemonic(DEFAULT_MNEMONIC, account_path="m/44'/60'/0'/0/19").key.hex()
    try:
        ledger = Ledger.connect(settings.RPC_URL, chain_id=settings.CHAIN_ID, account=key,
                                state_dir=settings.STATE_DIR, timeout=60)
    except Exception as exc:  # noqa: BLE001
        raise ApiError(503, "NodeUnavailable", f"cannot reach the chain: {exc}") from None
    if not ledger.has_deployment():
        raise ApiError(503, "NoDeployment", "no deployment record for this chain")
    request.app.state.relayer = ledger
    return ledger


def _check_forward(ledger: Ledger, req: ForwardRequest) -> None:
    fwd = ledger.forwarder
    if req.chain_id != ledger.chain_id or req.forwarder != fwd.address:
        raise ApiError(422, "WrongDomain", f"request is for chain {req.chain_id} forwarder {req.forwarder}",
                       {"chainId": ledger.chain_id, "forwarder": fwd.address})
    now = ledger.now()
    if req.deadline < now:
        raise ApiError(409, "RequestExpired", f"the request expired at {req.deadline} (chain time {now})",
                       {"deadline": req.deadline, "now": now})
    current = fwd.nonce(req.sender)
    if req.nonce != current:
        raise ApiError(409, "StaleNonce", f"request nonce {req.nonce} is not the signer's next nonce {current}",
                       {"nonce": req.nonce, "expected": current})
    if not fwd.verify(req):
        raise ApiError(403, "InvalidSignature", "the signature does not match the request's signer",
                       {"from": req.sender})


def _simulate_and_send(ledger: Ledger, req: ForwardRequest) -> Any:
    fwd = ledger.forwarder
    fwd._simulate(req.sender, req.to, req.data, req.value)  # raises the decoded ContractRevert
    return fwd.transact("execute", req.data_tuple(), value=req.value)  # estimates (simulates) again first


def _relayed(result: Any, trade_id: Optional[str] = None) -> RelayedPublic:
    events = [{"event": e["event"], "log_index": int(e["logIndex"]), "args": e["args"]} for e in result.events]
    return RelayedPublic(tx_hash=result.tx_hash if isinstance(result.tx_hash, str) else "0x" + bytes(result.tx_hash).hex(),
                         block_number=result.block_number, gas_used=result.gas_used, events=jsonable(events),
                         trade_id=trade_id)


@router.post("/forward", response_model=RelayedPublic)
def relay_forward(body: ForwardRequestIn, request: Request, settings: SettingsDep) -> RelayedPublic:
    """Relay a holder's signed ForwardRequest to DataVoucher (transfer, redeem, authorise a user...).
    The signature authenticates the holder; no session is needed."""
    ledger = relayer(request, settings)
    try:
        req = body.request()
    except InvalidInput as exc:
        raise ApiError(422, "InvalidRequest", str(exc)) from None
    vouchers = ledger.vouchers
    if req.to != vouchers.address:
        if req.to == ledger.settlement.address:
            raise ApiError(403, "UseSettlementRelay", "settlements are relayed by POST /v1/relay/settlements "
                           "(signed-in exchanges only)")
        raise ApiError(422, "UntrustedTarget", f"{req.to} is not a contract this relay forwards to",
                       {"to": req.to, "allowed": [vouchers.address]})
    with _lock:
        _check_forward(ledger, req)
        types = _TRANSFERS.get(req.data[:4])
        if types is not None:
            try:
                frm, to, token_id = abi_decode(types, req.data[4:])[:3]
            except Exception:  # noqa: BLE001
                raise ApiError(422, "InvalidCallData", "transfer call data does not decode") from None
            r = vouchers.restriction(frm, to, token_id)
            if r.code != 0:
                raise TransferRefused(r.code, r.message, int(token_id), frm, to)
        result = _simulate_and_send(ledger, req)
    return _relayed(result)


@router.post("/settlements", response_model=RelayedPublic)
def relay_settlement(body: SettlementIn, request: Request, settings: SettingsDep,
                     caller: AuthedCallerDep) -> RelayedPublic:
    """An exchange's settlement of a matched trade: both signed orders and the exchange's signed
    ForwardRequest calling ``settle``. Only a signed-in, licensed EXCHANGE participant may relay,
    and only its own request for orders naming it."""
    if not caller.has(Role.EXCHANGE):
        raise ApiError(403, "NotAnExchange", "only a licensed exchange may relay settlements",
                       {"caller": caller.address, "roles": caller.role_names})
    ledger = relayer(request, settings)
    try:
        req = body.request.request()
        sell, buy = body.sell.signed(), body.buy.signed()
    except (InvalidInput, ValueError) as exc:
        raise ApiError(422, "InvalidRequest", str(exc)) from None
    me = str(caller.address)
    if req.sender.lower() != me.lower():
        raise ApiError(403, "NotYourRequest", "the forward request must be signed by the signed-in exchange",
                       {"from": req.sender, "caller": me})
    for side, s in (("sell", sell), ("buy", buy)):
        if s.order.exchange.lower() != me.lower():
            raise ApiError(409, "WrongExchange", f"the {side} order names exchange {s.order.exchange}",
                           {"side": side, "orderExchange": s.order.exchange, "caller": me})
    settlement = ledger.settlement
    if req.to != settlement.address:
        raise ApiError(422, "UntrustedTarget", "the request must call TradeSettlement",
                       {"to": req.to, "expected": settlement.address})
    expected = bytes.fromhex(settlement.build("settle", sell.order.as_tuple(), sell.signature_bytes(),
                                              buy.order.as_tuple(), buy.signature_bytes())["data"][2:])
    if req.data != expected:
        raise ApiError(422, "RequestDataMismatch", "the request's call data is not settle(sell, buy) of these orders")
    with _lock:
        _check_forward(ledger, req)
        now = ledger.now()
        for s in (sell, buy):
            if s.order.deadline < now:
                raise ApiError(409, "OrderExpired", f"order of {s.order.maker} expired at {s.order.deadline}",
                               {"maker": s.order.maker, "nonce": s.order.nonce, "deadline": s.order.deadline})
            if settlement.is_nonce_used(s.order.maker, s.order.nonce):
                raise ApiError(409, "NonceAlreadyUsed", f"order nonce {s.order.nonce} of {s.order.maker} is used",
                               {"maker": s.order.maker, "nonce": s.order.nonce})
        try:
            settlement._precheck(sell, buy)  # domain + the voucher restriction view
        except InvalidInput as exc:
            raise ApiError(422, "WrongDomain", str(exc)) from None
        result = _simulate_and_send(ledger, req)
    trade = next((e for e in settlement.decode_events(result.receipt) if e["event"] == "TradeSettled"), None)
    trade_id = "0x" + bytes(trade["args"]["tradeId"]).hex() if trade else None
    return _relayed(result, trade_id)
