"""Gasless relay: participants' signed ERC-2771 requests, exchanges' settlements, allowance permits.

Only a signed-in, active participant is relayed, and only its own signed request. Every request is
checked before any gas is spent: an allow-list of target contracts and functions (voucher moves,
user authorisation, redemption, withdrawing voucher approvals, cancelling one's order; settlements
by exchanges on their own route; PaymentToken permits of value 0 on theirs), caps on call data and
gas, the budget of the signer and of the client IP (requests and gas per period, in the database),
domain (chain id, forwarder), deadline, nonce, signature, the voucher restriction view for
transfers, and a simulation of the forwarded call. A request that would revert is refused with the
decoded reason and never sent.

Sending does not wait for the receipt: the caller gets the transaction hash at once and polls
``GET /v1/tx/{hash}`` (pending / indexed / reverted with the decoded reason). No lock is held
while a transaction is mined; a per-signer lock only orders one signer's checks and broadcast (a
concurrent request of the same signer is refused at once, not queued). Relays run in their own
small pool of worker threads (RELAY_WORKERS), so a burst of relays never occupies the threadpool
that serves readers.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, Optional

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.abi import function_abi_to_4byte_selector
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from web3 import Web3

from gateway.api.common import AUTH_ERRORS, ERRORS, Uint255, Uint256, udoc
from gateway.api.deps import EngineDep, ParticipantCallerDep, SettingsDep
from gateway.core.config import ConfigError, relayer_key
from gateway.core.errors import ApiError
from gateway.services.relaybudget import Budget, BudgetExceeded, charge
from gateway.services.relaynonce import SharedNonceManager
from ledger.chain import Ledger
from ledger.contracts.models import Role
from ledger.contracts.settlement import Order, SignedOrder
from ledger.contracts.vouchers import ForwardRequest
from ledger.errors import InvalidInput, TransferRefused

router = APIRouter(prefix="/v1/relay", tags=["relay"],
                   responses={**ERRORS, **AUTH_ERRORS, 409: {"description": "Refused: would revert (decoded reason)"},
                              413: {"description": "Call data above the cap"},
                              429: {"description": "Relay budget of the signer or client IP exhausted"}})


def _selector(signature: str) -> bytes:
    return bytes(Web3.keccak(text=signature)[:4])


# selectors of DataVoucher moves whose restriction view is checked before simulating
_TRANSFERS = {
    _selector("safeTransferFrom(address,address,uint256)"): ["address", "address", "uint256"],
    _selector("safeTransferFrom(address,address,uint256,bytes)"): ["address", "address", "uint256", "bytes"],
    _selector("transferFrom(address,address,uint256)"): ["address", "address", "uint256"],
}


def _approve_withdraws(data: bytes) -> Optional[str]:
    (spender, _token) = abi_decode(["address", "uint256"], data[4:])
    return None if int(spender, 16) == 0 else "only approve(address(0), tokenId) (withdrawing an approval) is relayed"


def _operator_withdraws(data: bytes) -> Optional[str]:
    (_operator, approved) = abi_decode(["address", "bool"], data[4:])
    return None if not approved else "only setApprovalForAll(operator, false) (withdrawing an approval) is relayed"


Check = Optional[Callable[[bytes], Optional[str]]]
#: what POST /v1/relay/forward relays: contract -> {selector: (function, extra check of the arguments)}
VOUCHER_CALLS: dict[bytes, tuple[str, Check]] = {
    **{sel: ("safeTransferFrom/transferFrom", None) for sel in _TRANSFERS},
    _selector("authoriseUser(uint256,address,bool)"): ("authoriseUser", None),
    _selector("redeem(uint256,bytes32)"): ("redeem", None),
    _selector("approve(address,uint256)"): ("approve(address(0), tokenId)", _approve_withdraws),
    _selector("setApprovalForAll(address,bool)"): ("setApprovalForAll(operator, false)", _operator_withdraws),
}
SETTLEMENT_CALLS: dict[bytes, tuple[str, Check]] = {
    _selector("cancelOrder(uint256)"): ("cancelOrder", None),
}
#: settlement functions relayed only by POST /v1/relay/settlements (signed-in exchanges)
SETTLE_FUNCTIONS = ("settle", "settleBatch")


def _selectors_of(contract: Any, names: tuple[str, ...]) -> set[bytes]:
    """Selectors of ``names`` from the deployed contract's ABI (not a copy of its signature)."""
    return {bytes(function_abi_to_4byte_selector(entry)) for entry in contract.abi
            if entry.get("type") == "function" and entry.get("name") in names}
_HEX = r"^0x([0-9a-fA-F]{2})*$"
_ADDR = r"^0x[0-9a-fA-F]{40}$"


class ForwardRequestIn(BaseModel):
    """An ERC-2771 ForwardRequest signed (EIP-712) by ``from`` for the LedgerForwarder.

    Domain: ``{name: "dataledger", version: "1", chainId, verifyingContract: forwarder}``.
    Type: ``ForwardRequest(address from,address to,uint256 value,uint256 gas,uint256 nonce,uint48
    deadline,bytes data)`` (``nonce`` is the forwarder's ``nonces(from)``). The signature is over the
    request without ``signature``/``chainId``/``forwarder``; those two name the domain. A worked
    example: docs/api.md, "Relay requests"."""

    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from", pattern=_ADDR, description="the signer: the signed-in participant")
    to: str = Field(pattern=_ADDR, description="the target contract (DataVoucher or TradeSettlement)")
    value: Uint255 = Field(default=0, description=udoc("wei sent along (0)"))
    gas: int = Field(ge=21_000, le=30_000_000, description="gas limit of the forwarded call")
    nonce: Uint255 = Field(description=udoc("LedgerForwarder.nonces(from)"))
    deadline: int = Field(ge=0, le=2**48 - 1, description="unix seconds after which the forwarder refuses it")
    data: str = Field(pattern=_HEX, max_length=200_000, description="ABI-encoded call of an allowed function")
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$", description="65-byte EIP-712 signature (r, s, v)")
    chainId: int = Field(ge=0, le=2**63, description="the domain's chain id")
    forwarder: str = Field(pattern=_ADDR, description="the domain's verifyingContract: the LedgerForwarder")

    def request(self) -> ForwardRequest:
        d = self.model_dump(by_alias=True)
        return ForwardRequest.from_dict(d)


class OrderIn(BaseModel):
    """A trade order (EIP-712 type ``Order``, domain ``{name: "dataledger-settlement", version: "1",
    chainId, verifyingContract: TradeSettlement}``); fields in the type's order. ``price`` and
    ``commission`` are amounts of the payment token in fen (2 decimals of CNY)."""

    maker: str = Field(pattern=_ADDR)
    side: int = Field(ge=0, le=1, description="0 sell, 1 buy")
    voucherId: Uint255
    price: Uint255 = Field(description=udoc("fen (10^-2 CNY): \"15000000\" is ¥150,000.00"))
    paymentToken: str = Field(pattern=_ADDR)
    exchange: str = Field(pattern=_ADDR)
    broker: str = Field(default="0x" + "00" * 20, pattern=_ADDR)
    commission: Uint255 = Field(default=0, description=udoc("fen paid by the maker to its broker"))
    maxFeeBps: Uint255 = Field(default=0, description=udoc("the highest exchange fee (basis points) the maker accepts"))
    minUsesLeft: Uint255 = Field(default=0, description=udoc("least uses left on the voucher (0: no term)"))
    minValidUntil: Uint255 = Field(default=0, description=udoc("earliest validity end, unix seconds (0: no term)"))
    nonce: Uint255 = Field(description=udoc("the maker's order nonce (cancelOrder(nonce) voids it)"))
    deadline: Uint255 = Field(description=udoc("unix seconds"))


class SignedOrderIn(BaseModel):
    order: OrderIn
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$", description="the maker's EIP-712 signature of order")
    chainId: int = Field(ge=0, le=2**63)
    settlement: str = Field(pattern=_ADDR, description="the domain's verifyingContract: TradeSettlement")

    def signed(self) -> SignedOrder:
        return SignedOrder(order=Order(**self.order.model_dump()), signature=self.signature, chainId=self.chainId,
                           settlement=self.settlement)


class SettlementIn(BaseModel):
    """A settlement: the two signed orders and the exchange's ForwardRequest calling
    ``TradeSettlement.settle(sell, buy)`` (docs/api.md, "Relay requests")."""

    sell: SignedOrderIn
    buy: SignedOrderIn
    request: ForwardRequestIn = Field(description="the exchange's signed ForwardRequest calling settle(sell, buy)")


class PermitIn(BaseModel):
    """An EIP-2612 permit of PaymentToken withdrawing an allowance (value 0), signed by its owner.

    Domain: ``{name: "Data Settlement CNY", version: "1", chainId, verifyingContract: PaymentToken}``;
    type ``Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)`` with
    ``nonce`` = ``PaymentToken.nonces(owner)``."""

    owner: str = Field(pattern=_ADDR)
    spender: str = Field(pattern=_ADDR)
    value: Uint256 = Field(default=0, description=udoc("must be 0: only withdrawals are relayed"))
    deadline: Uint256 = Field(description=udoc("unix seconds"))
    signature: str = Field(pattern=r"^0x[0-9a-fA-F]{130}$")


class BudgetLeft(BaseModel):
    requests_left: int
    gas_left: int


class RelayedPublic(BaseModel):
    """Accepted and broadcast; poll ``status_url`` for pending / indexed / reverted."""

    tx_hash: str
    state: str = "pending"
    status_url: str
    trade_id: Optional[str] = None
    budget: dict[str, BudgetLeft] = Field(default_factory=dict, description="left in this period, per key")
    # kept for clients of the synchronous relay: always null now (the receipt is not awaited)
    block_number: Optional[int] = None
    gas_used: Optional[int] = None
    events: list[dict[str, Any]] = Field(default_factory=list)


_connect_lock = threading.Lock()


def relayer(request: Request, settings: Any) -> Ledger:
    ledger: Optional[Ledger] = getattr(request.app.state, "relayer", None)
    if ledger is not None:
        return ledger
    with _connect_lock:
        again: Optional[Ledger] = getattr(request.app.state, "relayer", None)
        if again is not None:
            return again
        chain_id = settings.CHAIN_ID or getattr(request.app.state, "chain_id", None)
        try:
            if chain_id is None:
                chain_id = int(request.app.state.web3.eth.chain_id)
            key = relayer_key(settings, chain_id)  # a dev key on the local chain only
        except ConfigError as exc:
            raise ApiError(503, "RelayerNotConfigured", str(exc)) from None
        except Exception as exc:
            raise ApiError(503, "NodeUnavailable", f"cannot reach the chain: {exc}") from None
        try:
            ledger = Ledger.connect(settings.RPC_URL, chain_id=settings.CHAIN_ID, account=key,
                                    state_dir=settings.STATE_DIR, timeout=60)
        except Exception as exc:
            raise ApiError(503, "NodeUnavailable", f"cannot reach the chain: {exc}") from None
        if not ledger.has_deployment():
            raise ApiError(503, "NoDeployment", "no deployment record for this chain")
        # nonces from the database: every gateway replica relaying with this key shares them
        ledger.nonces = SharedNonceManager(ledger.w3, request.app.state.engine, int(ledger.chain_id))
        request.app.state.relayer = ledger
        return ledger


# ---------------------------------------------------------------- per-signer ordering, in flight

_signer_locks: dict[str, threading.Lock] = {}
_signer_locks_guard = threading.Lock()
#: forwarder requests this gateway (app) sent and has not seen mined yet:
#: (chain id, forwarder, signer) -> (nonce, tx hash, sent at)
Flights = dict[tuple[int, str, str], tuple[int, str, float]]


def _flights(request: Request) -> Flights:
    """This gateway's requests in flight (per app, so two gateways in one process never mix)."""
    flights: Optional[Flights] = getattr(request.app.state, "relay_in_flight", None)
    if flights is None:
        with _connect_lock:
            flights = getattr(request.app.state, "relay_in_flight", None)
            if flights is None:
                flights = {}
                request.app.state.relay_in_flight = flights
    return flights


def _flight_key(ledger: Ledger, sender: str) -> tuple[int, str, str]:
    return (int(ledger.chain_id), str(ledger.forwarder.address).lower(), sender.lower())
IN_FLIGHT_SECONDS = 120.0


def _signer_lock(address: str) -> threading.Lock:
    with _signer_locks_guard:
        if len(_signer_locks) > 10_000:
            for k in [k for k, lk in _signer_locks.items() if not lk.locked()]:
                del _signer_locks[k]
        return _signer_locks.setdefault(address.lower(), threading.Lock())


@contextmanager
def _signer_turn(address: str) -> Iterator[None]:
    """The signer's checks and broadcast, one at a time; a second request of the same signer in
    the meantime is refused at once (its nonce could only be the same one) instead of waiting."""
    lock = _signer_lock(address)
    if not lock.acquire(blocking=False):
        raise ApiError(409, "RequestInFlight", f"another request of {address} is being relayed right now; "
                       "retry once it has its transaction hash", {"from": address})
    try:
        yield
    finally:
        lock.release()


def _executor(request: Request, settings: Any) -> ThreadPoolExecutor:
    """The relay's own worker threads: relays queue here, never in the threadpool readers use."""
    pool: Optional[ThreadPoolExecutor] = getattr(request.app.state, "relay_executor", None)
    if pool is None:
        with _connect_lock:
            pool = getattr(request.app.state, "relay_executor", None)
            if pool is None:
                pool = ThreadPoolExecutor(max_workers=settings.RELAY_WORKERS, thread_name_prefix="relay")
                request.app.state.relay_executor = pool
    return pool


async def _in_relay_pool(request: Request, settings: Any, fn: Callable[..., RelayedPublic],
                         *args: Any) -> RelayedPublic:
    return await asyncio.get_running_loop().run_in_executor(_executor(request, settings), fn, *args)


def _mined(ledger: Ledger, tx_hash: str) -> bool:
    try:
        return ledger.w3.eth.get_transaction_receipt(tx_hash) is not None  # type: ignore[arg-type]
    except Exception:  # TransactionNotFound: still pending
        return False


def _refuse_in_flight(ledger: Ledger, sender: str, nonce: int, flights: Flights) -> None:
    """Refuse a request whose forwarder nonce this process already sent and is not mined yet (it
    could only revert). Once mined (even reverted: the nonce is then still free) it is forgotten."""
    key = _flight_key(ledger, sender)
    entry = flights.get(key)
    if entry is None or entry[0] != nonce or time.monotonic() - entry[2] >= IN_FLIGHT_SECONDS:
        return
    if _mined(ledger, entry[1]):
        flights.pop(key, None)
        return
    raise ApiError(409, "RequestInFlight", f"request nonce {nonce} of {sender} was already relayed "
                   f"({entry[1]}); poll /v1/tx/{entry[1]}", {"nonce": nonce, "tx_hash": entry[1]})


# ---------------------------------------------------------------- checks


def _caps(settings: Any, req: ForwardRequest) -> None:
    if len(req.data) > settings.RELAY_MAX_CALLDATA_BYTES:
        raise ApiError(413, "CallDataTooLarge", f"call data of {len(req.data)} bytes exceeds the relay's cap "
                       f"of {settings.RELAY_MAX_CALLDATA_BYTES}",
                       {"size": len(req.data), "limit": settings.RELAY_MAX_CALLDATA_BYTES})
    if req.gas > settings.RELAY_MAX_GAS:
        raise ApiError(422, "GasTooHigh", f"request gas {req.gas} exceeds the relay's cap of {settings.RELAY_MAX_GAS}",
                       {"gas": req.gas, "limit": settings.RELAY_MAX_GAS})
    if req.value != 0:
        raise ApiError(422, "ValueNotRelayed", "the relay forwards no ether (value must be 0)", {"value": req.value})


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _charge(request: Request, settings: Any, engine: Any, signer: str, gas: int) -> dict[str, BudgetLeft]:
    budgets = [Budget(f"signer:{signer.lower()}", settings.RELAY_BUDGET_SIGNER_REQUESTS, settings.RELAY_BUDGET_SIGNER_GAS),
               Budget(f"ip:{_client_ip(request)}", settings.RELAY_BUDGET_IP_REQUESTS, settings.RELAY_BUDGET_IP_GAS)]
    try:
        left = charge(engine, budgets, gas, settings.RELAY_BUDGET_PERIOD)
    except BudgetExceeded as exc:
        names = {budgets[0].key: "signer", budgets[1].key: "ip"}
        raise ApiError(429, "RelayBudgetExceeded",
                       f"relay budget of the {' and '.join(names[k] for k in exc.refused)} exhausted for this period "
                       f"(a request of {gas} gas); resets in {exc.resets_in} s",
                       {"exhausted": [names[k] for k in exc.refused], "gas": gas, "resets_in": exc.resets_in,
                        **{names[k]: v for k, v in exc.left.items()}},
                       headers={"Retry-After": str(exc.resets_in)}) from None
    names = {budgets[0].key: "signer", budgets[1].key: "ip"}
    return {names[k]: BudgetLeft(**v) for k, v in left.items()}


def _allowed_call(ledger: Ledger, req: ForwardRequest) -> None:
    """The allow-list: target contract and function (and, for approvals, only withdrawals)."""
    table = {ledger.vouchers.address.lower(): ("DataVoucher", VOUCHER_CALLS),
             ledger.settlement.address.lower(): ("TradeSettlement", SETTLEMENT_CALLS)}
    target = table.get(req.to.lower())
    allowed = {name: sorted({fn for fn, _ in calls.values()}) for name, calls in table.values()}
    if target is None:
        raise ApiError(422, "UntrustedTarget", f"{req.to} is not a contract this relay forwards to",
                       {"to": req.to, "allowed": {ledger.vouchers.address: allowed["DataVoucher"],
                                                  ledger.settlement.address: allowed["TradeSettlement"]}})
    name, calls = target
    selector = bytes(req.data[:4])
    if name == "TradeSettlement" and selector in _selectors_of(ledger.settlement.contract, SETTLE_FUNCTIONS):
        raise ApiError(403, "UseSettlementRelay", "settlements are relayed by POST /v1/relay/settlements "
                       "(signed-in exchanges only)")
    entry = calls.get(selector)
    if entry is None:
        raise ApiError(403, "FunctionNotRelayed", f"{name} function 0x{selector.hex()} is not relayed",
                       {"to": req.to, "selector": "0x" + selector.hex(), "allowed": allowed[name]})
    fn, check = entry
    if check is not None:
        try:
            problem = check(bytes(req.data))
        except Exception:
            problem = "call data does not decode"
        if problem:
            raise ApiError(403, "FunctionNotRelayed", f"{name}.{fn}: {problem}", {"to": req.to, "function": fn})


def _check_forward(ledger: Ledger, req: ForwardRequest, flights: Flights) -> None:
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
    _refuse_in_flight(ledger, req.sender, req.nonce, flights)
    if not fwd.verify(req):
        raise ApiError(403, "InvalidSignature", "the signature does not match the request's signer",
                       {"from": req.sender})


def _nonce_turn(ledger: Ledger) -> AbstractContextManager[None]:
    """The relayer key's nonce row held (across every gateway replica) while one transaction is
    signed and broadcast (gateway.services.relaynonce)."""
    nonces = ledger.nonces
    if isinstance(nonces, SharedNonceManager):
        return nonces.turn(ledger.address)
    return nullcontext()


def _simulate_and_send(ledger: Ledger, req: ForwardRequest, flights: Flights) -> str:
    """Simulate (decoded revert raised), then broadcast without waiting for the receipt."""
    fwd = ledger.forwarder
    fwd._simulate(req.sender, req.to, req.data, req.value)  # raises the decoded ContractRevert
    tx = fwd.build("execute", req.data_tuple(), value=req.value)
    with _nonce_turn(ledger):
        sent = ledger.sender.send(tx, fwd.NAME, wait=False)  # estimates (simulates) again first
    flights[_flight_key(ledger, req.sender)] = (req.nonce, sent.tx_hash, time.monotonic())
    if len(flights) > 10_000:
        cutoff = time.monotonic() - IN_FLIGHT_SECONDS
        for k in [k for k, v in flights.items() if v[2] < cutoff]:
            flights.pop(k, None)
    return sent.tx_hash


def _accepted(tx_hash: str, budget: dict[str, BudgetLeft], trade_id: Optional[str] = None) -> RelayedPublic:
    return RelayedPublic(tx_hash=tx_hash, status_url=f"/v1/tx/{tx_hash}", trade_id=trade_id, budget=budget)


def _parse(body: ForwardRequestIn) -> ForwardRequest:
    try:
        return body.request()
    except InvalidInput as exc:
        raise ApiError(422, "InvalidRequest", str(exc)) from None


def _own(req: ForwardRequest, caller: Any) -> None:
    if req.sender.lower() != str(caller.address).lower():
        raise ApiError(403, "NotYourRequest", "the request must be signed by the signed-in participant",
                       {"from": req.sender, "caller": caller.address})


@router.post("/forward", response_model=RelayedPublic)
async def relay_forward(body: ForwardRequestIn, request: Request, settings: SettingsDep, engine: EngineDep,
                        caller: ParticipantCallerDep) -> RelayedPublic:
    """Relay the signed-in participant's own ForwardRequest: a voucher transfer, authorising a user,
    a redemption, withdrawing a voucher approval, or cancelling one of its orders. Returns the
    transaction hash at once; poll ``/v1/tx/{hash}``."""
    return await _in_relay_pool(request, settings, _forward, body, request, settings, engine, caller)


def _forward(body: ForwardRequestIn, request: Request, settings: Any, engine: Any, caller: Any) -> RelayedPublic:
    req = _parse(body)
    _own(req, caller)
    _caps(settings, req)
    ledger = relayer(request, settings)
    _allowed_call(ledger, req)
    budget = _charge(request, settings, engine, req.sender, req.gas)
    with _signer_turn(req.sender):
        _check_forward(ledger, req, _flights(request))
        types = _TRANSFERS.get(bytes(req.data[:4])) if req.to == ledger.vouchers.address else None
        if types is not None:
            try:
                frm, to, voucher_id = abi_decode(types, req.data[4:])[:3]
            except Exception:
                raise ApiError(422, "InvalidCallData", "transfer call data does not decode") from None
            r = ledger.vouchers.restriction(frm, to, voucher_id)
            if r.code != 0:
                raise TransferRefused(r.code, r.message, int(voucher_id), frm, to)
        tx_hash = _simulate_and_send(ledger, req, _flights(request))
    return _accepted(tx_hash, budget)


def _trade_id(ledger: Ledger, sell: SignedOrder, buy: SignedOrder) -> str:
    """keccak256(abi.encode(sellOrderHash, buyOrderHash)), the order hashes from the contract."""
    hs = bytes(ledger.settlement.call("hashOrder", sell.order.as_tuple()))
    hb = bytes(ledger.settlement.call("hashOrder", buy.order.as_tuple()))
    return "0x" + bytes(Web3.keccak(abi_encode(["bytes32", "bytes32"], [hs, hb]))).hex()


@router.post("/settlements", response_model=RelayedPublic)
async def relay_settlement(body: SettlementIn, request: Request, settings: SettingsDep, engine: EngineDep,
                           caller: ParticipantCallerDep) -> RelayedPublic:
    """An exchange's settlement of a matched trade: both signed orders and the exchange's signed
    ForwardRequest calling ``settle``. Only a signed-in, licensed EXCHANGE participant may relay,
    and only its own request for orders naming it. Returns the transaction hash and trade id at once."""
    return await _in_relay_pool(request, settings, _settlement, body, request, settings, engine, caller)


def _settlement(body: SettlementIn, request: Request, settings: Any, engine: Any, caller: Any) -> RelayedPublic:
    if not caller.has(Role.EXCHANGE):
        raise ApiError(403, "NotAnExchange", "only a licensed exchange may relay settlements",
                       {"caller": caller.address, "roles": caller.role_names})
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
    _caps(settings, req)
    ledger = relayer(request, settings)
    settlement = ledger.settlement
    if req.to != settlement.address:
        raise ApiError(422, "UntrustedTarget", "the request must call TradeSettlement",
                       {"to": req.to, "expected": settlement.address})
    expected = bytes.fromhex(settlement.build("settle", sell.order.as_tuple(), sell.signature_bytes(),
                                              buy.order.as_tuple(), buy.signature_bytes())["data"][2:])
    if req.data != expected:
        raise ApiError(422, "RequestDataMismatch", "the request's call data is not settle(sell, buy) of these orders")
    budget = _charge(request, settings, engine, req.sender, req.gas)
    with _signer_turn(req.sender):
        _check_forward(ledger, req, _flights(request))
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
        tx_hash = _simulate_and_send(ledger, req, _flights(request))
    return _accepted(tx_hash, budget, _trade_id(ledger, sell, buy))


#: gas charged to the budgets for one relayed permit (an EIP-2612 permit costs ~50-80k)
PERMIT_GAS = 100_000


@router.post("/permit", response_model=RelayedPublic)
async def relay_permit(body: PermitIn, request: Request, settings: SettingsDep, engine: EngineDep,
                       caller: ParticipantCallerDep) -> RelayedPublic:
    """Withdraw a PaymentToken allowance without gas: the owner's EIP-2612 permit of value 0 for
    ``spender``, submitted by the relayer (PaymentToken is not an ERC-2771 target: the permit's
    signature authenticates the owner). Only the signed-in owner's own permit, only value 0."""
    return await _in_relay_pool(request, settings, _permit, body, request, settings, engine, caller)


def _permit(body: PermitIn, request: Request, settings: Any, engine: Any, caller: Any) -> RelayedPublic:
    if body.owner.lower() != str(caller.address).lower():
        raise ApiError(403, "NotYourRequest", "the permit must be the signed-in participant's own",
                       {"owner": body.owner, "caller": caller.address})
    if body.value != 0:
        raise ApiError(403, "FunctionNotRelayed", "only permits of value 0 (withdrawing an allowance) are relayed",
                       {"value": body.value})
    ledger = relayer(request, settings)
    sig = bytes.fromhex(body.signature[2:])
    r, s_, v = sig[:32], sig[32:64], sig[64]
    v = v + 27 if v < 27 else v
    token = ledger.token
    tx = token.build("permit", Web3.to_checksum_address(body.owner), Web3.to_checksum_address(body.spender), 0,
                     body.deadline, v, r, s_)
    budget = _charge(request, settings, engine, body.owner, PERMIT_GAS)
    with _signer_turn(body.owner):
        with _nonce_turn(ledger):
            sent = ledger.sender.send(tx, token.NAME, wait=False)  # simulated first: a bad permit is refused, decoded
    return _accepted(sent.tx_hash, budget)
