"""Actions from the web pages: the server builds, the wallet signs.

The pages never hold a key. For each action the page asks this gateway to *prepare* it: the call
is encoded from the deployed ABIs, simulated as the signed-in participant (a call that would revert
is refused here with its decoded custom error, before the wallet is asked for anything), and
returned either as

- ``forward``: an ERC-2771 ``ForwardRequest`` and its EIP-712 typed data (``eth_signTypedData_v4``);
  the page posts the signed request to ``POST /v1/relay/forward`` (gas-free), or
- ``transaction``: a plain transaction (``eth_sendTransaction``) for the calls the relay does not
  forward (customs, regulator, data officer, clearance requests, approving the settlement contract).

Also here: the transfer restriction verdict for a chosen recipient (code, message, what to do),
purpose / reason documents stored in the IPFS store (their CID recorded on chain), the EIP-712 order
a maker signs, and the exchange's settlement checks. Signatures are only ever made by the wallet.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from typing import Annotated, Any, Optional

from eth_account import Account
from eth_account.messages import encode_typed_data
from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field
from sqlmodel import Session, col, select
from web3 import Web3
from web3.exceptions import ContractLogicError, Web3RPCError

from gateway.api.common import AUTH_ERRORS, ERRORS
from gateway.api.deps import Caller, ParticipantCallerDep, SessionDep, SettingsDep
from gateway.api.routes.relay import SignedOrderIn, relayer
from gateway.core.errors import ApiError
from gateway.models import Organisation, Participant, Voucher
from gateway.web.i18n import N_
from ledger.chain import Ledger
from ledger.contracts.models import Role, cid_to_chain, hash32
from ledger.contracts.vouchers import FORWARD_GAS_MARGIN
from ledger.errors import ContractRevert, InvalidInput, as_revert
from ledger.ipfs.errors import IpfsError
from ledger.vocabulary import Restriction
from ledger.wallet import (
    FORWARD_REQUEST_FIELDS,
    FORWARD_REQUEST_TYPES,
    ORDER_FIELDS,
    ORDER_TYPES,
    forwarder_domain,
    settlement_domain,
)

router = APIRouter(tags=["actions"], responses={**ERRORS, **AUTH_ERRORS,
                                                409: {"description": "Refused: the call would revert (decoded)"}})

_ADDR = r"^0x[0-9a-fA-F]{40}$"
#: what to do about each restriction code of DataVoucher.detectTransferRestriction
ADVICE: dict[int, str] = {
    0: N_("Nothing: the transfer is allowed."),
    1: N_("Your account is not active: ask your organisation's data officer or the registrar to reinstate it."),
    2: N_("The recipient is not an active participant: check the address, or ask the recipient to register with "
          "its organisation's data officer."),
    3: N_("Your licence has expired: ask the registrar to renew it."),
    4: N_("The recipient's licence has expired: the recipient must ask the registrar to renew it."),
    5: N_("A regulator froze this voucher: it cannot move until a regulator unfreezes it. Contact the regulator."),
    6: N_("The voucher was revoked: it can no longer move."),
    7: N_("The voucher has expired: it can no longer move."),
    8: N_("The voucher was issued as not transferable: only a use by an authorised user is possible."),
    9: N_("The data asset is frozen: wait until the registrar unfreezes it."),
    10: N_("The data asset is revoked: its vouchers can no longer move."),
    11: N_("Request a data customs clearance for this asset to the recipient's jurisdiction, naming the recipient; "
           "transfer once customs approves it."),
    12: N_("No such voucher."),
}
#: restriction code -> its name, from the generated vocabulary (DataVoucher's constants)
RESTRICTION_NAMES = {int(r): r.name for r in Restriction}


def _ledger(request: Request, settings: Any) -> Ledger:
    return relayer(request, settings)  # read-only use: calls, encoding, simulation


def _checksum(value: str, what: str) -> str:
    if not Web3.is_address(value):
        raise ApiError(422, "InvalidAddress", f"{what} is not an address: {value!r}", {what: value})
    return Web3.to_checksum_address(value)


# ---------------------------------------------------------------- restriction verdict


class ClearanceHint(BaseModel):
    asset_id: int
    destination: str
    recipient: str


class RestrictionPublic(BaseModel):
    voucher_id: int
    sender: str
    recipient: str
    code: int
    name: str
    allowed: bool
    message: str = Field(description="the contract's messageForTransferRestriction")
    advice: str = Field(description="what to do about it (English msgid; the pages translate it)")
    frozen_reason: Optional[str] = None
    clearance: Optional[ClearanceHint] = Field(default=None, description="the clearance to request (code 11)")


def frozen_reason(db: Session, voucher_id: int) -> Optional[str]:
    """The reason of the voucher's latest VoucherFrozen event in the index (one indexed lookup)."""
    import json

    from sqlalchemy import text

    from gateway.core.db import arg_expr

    conn = db.connection()
    row = conn.execute(text(
        f"SELECT args FROM events WHERE {arg_expr(conn.dialect.name, 'voucherId')} = :v AND contract = 'DataVoucher' "
        "AND event = 'VoucherFrozen' ORDER BY block_number DESC, log_index DESC LIMIT 1"), {"v": str(voucher_id)}).first()
    if row is None:
        return None
    data = json.loads(row[0]) if isinstance(row[0], str) else dict(row[0])
    return str(data.get("reason", "")) or None


def restriction_verdict(request: Request, settings: Any, db: Session, voucher_id: int, recipient: str,
                        sender: Optional[str] = None) -> RestrictionPublic:
    ledger = _ledger(request, settings)
    to = _checksum(recipient, "to")
    holder = ledger.vouchers.owner_of(voucher_id)
    frm = _checksum(sender, "from") if sender else (holder or "0x" + "00" * 20)
    r = ledger.vouchers.restriction(frm, to, voucher_id)
    out = RestrictionPublic(voucher_id=voucher_id, sender=frm, recipient=to, code=r.code,
                            name=RESTRICTION_NAMES.get(r.code, str(r.code)), allowed=r.code == 0, message=r.message,
                            advice=ADVICE.get(r.code, ""))
    if r.code == 5:
        out.frozen_reason = frozen_reason(db, voucher_id)
    if r.code == 11:
        v = db.get(Voucher, voucher_id)
        p = db.get(Participant, to.lower())
        if v is not None and p is not None:
            out.clearance = ClearanceHint(asset_id=v.asset_id, destination=p.jurisdiction, recipient=to)
    return out


@router.get("/v1/vouchers/{voucher_id}/restriction", response_model=RestrictionPublic)
def get_restriction(request: Request, settings: SettingsDep, db: SessionDep,
                    voucher_id: Annotated[int, Path(ge=0, le=2**255)],
                    to: Annotated[str, Query(pattern=_ADDR, description="the recipient")],
                    from_: Annotated[Optional[str], Query(alias="from", pattern=_ADDR,
                                                          description="the sender (default: the holder)")] = None,
                    ) -> RestrictionPublic:
    """Would a transfer of the voucher to ``to`` be allowed now? The contract's own view
    (``detectTransferRestriction``, the rule every transfer runs), its message, and what to do."""
    return restriction_verdict(request, settings, db, voucher_id, to, from_)


# ---------------------------------------------------------------- documents (purpose, reasons)


class DocumentIn(BaseModel):
    kind: str = Field(pattern=r"^(purpose|conditions|reason)$")
    text: str = Field(min_length=1, max_length=4000)


class DocumentStored(BaseModel):
    cid: str
    sha256: str = Field(description="0x sha-256 of the document: the bytes32 recorded on chain for a purpose "
                                    "(a single raw block: the CID's own digest)")
    byte_size: int


@router.post("/v1/documents", response_model=DocumentStored, status_code=201)
def store_document(body: DocumentIn, request: Request, caller: ParticipantCallerDep) -> DocumentStored:
    """Store a short text document (a use's purpose, clearance conditions) in the gateway's IPFS
    store, pinned; its CID (or, for ``redeem``, its sha-256, the CID's digest) goes on chain. Active
    participants only. Documents are not served publicly by this route."""
    data = body.text.encode("utf-8")
    try:
        cid = request.app.state.manifests.store.add(data, pin=True)
    except (IpfsError, OSError) as exc:
        raise ApiError(502, "IpfsUnavailable", f"could not store the document: {exc}") from None
    return DocumentStored(cid=cid, sha256="0x" + hashlib.sha256(data).hexdigest(), byte_size=len(data))


# ---------------------------------------------------------------- prepare an action


class PrepareIn(BaseModel):
    action: str = Field(max_length=40)
    params: dict[str, Any] = Field(default_factory=dict)


class PreparedPublic(BaseModel):
    kind: str = Field(description="forward (sign typed data, post to /v1/relay/forward) | transaction "
                                  "(eth_sendTransaction)")
    action: str
    summary: str
    request: Optional[dict[str, Any]] = None
    typed_data: Optional[dict[str, Any]] = None
    tx: Optional[dict[str, Any]] = None


def _int(params: dict[str, Any], key: str, lo: int = 0, hi: int = 2**256 - 1) -> int:
    try:
        value = int(params[key])
    except (KeyError, TypeError, ValueError):
        raise ApiError(422, "InvalidParameter", f"{key} must be an integer", {"param": key}) from None
    if not lo <= value <= hi:
        raise ApiError(422, "InvalidParameter", f"{key} out of range", {"param": key, "value": value})
    return value


def _text(params: dict[str, Any], key: str, max_len: int = 500) -> str:
    value = params.get(key)
    if not isinstance(value, str) or not value.strip() or len(value) > max_len:
        raise ApiError(422, "InvalidParameter", f"{key} must be a non-empty text of at most {max_len} characters",
                       {"param": key})
    return value.strip()


def _addr(params: dict[str, Any], key: str) -> str:
    value = params.get(key)
    if not isinstance(value, str):
        raise ApiError(422, "InvalidParameter", f"{key} must be an address", {"param": key})
    return _checksum(value, key)


def _b32(params: dict[str, Any], key: str) -> bytes:
    value = params.get(key)
    if not isinstance(value, str) or len(value) != 66 or not value.startswith("0x"):
        raise ApiError(422, "InvalidParameter", f"{key} must be a 0x bytes32", {"param": key})
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise ApiError(422, "InvalidParameter", f"{key} must be a 0x bytes32", {"param": key}) from None


def _cid(params: dict[str, Any], key: str, required: bool = True) -> bytes:
    value = params.get(key)
    if not value and not required:
        return b""
    try:
        return cid_to_chain(str(value))
    except Exception:
        raise ApiError(422, "InvalidParameter", f"{key} is not a CID", {"param": key}) from None


def _jurisdiction(params: dict[str, Any], key: str) -> bytes:
    value = params.get(key)
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z]{2}", value.strip()):
        raise ApiError(422, "InvalidParameter", f"{key} must be a two-letter jurisdiction code", {"param": key})
    return value.strip().upper().encode()


def _org(db: Session, caller: Caller) -> tuple[Participant, Organisation]:
    p = db.get(Participant, str(caller.address).lower())
    org = db.get(Organisation, p.org_id) if p is not None else None
    if p is None or org is None:
        raise ApiError(403, "NotAParticipant", "you are not a registered participant")
    return p, org


class _Safe(dict[str, Any]):
    """Summary formatting: a missing parameter reads as '?' (never a KeyError)."""

    def __missing__(self, key: str) -> str:
        return "?"


Builder = Callable[[Ledger, dict[str, Any], str, Session, Caller], tuple[Any, str, tuple[Any, ...], str]]


def _voucher_call(fn: str, args: Callable[[dict[str, Any], str], tuple[Any, ...]], summary: str) -> Builder:
    def build(led: Ledger, p: dict[str, Any], me: str, db: Session, caller: Caller) -> tuple[Any, str, tuple[Any, ...], str]:
        return led.vouchers, fn, args(p, me), summary.format_map(_Safe(p))
    return build


def _registry_call(fn: str, args: Callable[[dict[str, Any], str, str], tuple[Any, ...]], summary: str) -> Builder:
    def build(led: Ledger, p: dict[str, Any], me: str, db: Session, caller: Caller) -> tuple[Any, str, tuple[Any, ...], str]:
        _part, org = _org(db, caller)
        return led.participants, fn, args(p, me, org.org_id), summary.format_map(_Safe(p))
    return build


def _customs_call(fn: str, args: Callable[[dict[str, Any], str], tuple[Any, ...]], summary: str) -> Builder:
    def build(led: Ledger, p: dict[str, Any], me: str, db: Session, caller: Caller) -> tuple[Any, str, tuple[Any, ...], str]:
        return led.customs, fn, args(p, me), summary.format_map(_Safe(p))
    return build


def _settlement_call(fn: str, args: Callable[[dict[str, Any], str], tuple[Any, ...]], summary: str) -> Builder:
    def build(led: Ledger, p: dict[str, Any], me: str, db: Session, caller: Caller) -> tuple[Any, str, tuple[Any, ...], str]:
        return led.settlement, fn, args(p, me), summary.format_map(_Safe(p))
    return build


def _approve_settlement(led: Ledger, p: dict[str, Any], me: str, db: Session,
                        caller: Caller) -> tuple[Any, str, tuple[Any, ...], str]:
    return led.vouchers, "setApprovalForAll", (led.settlement.address, True), \
        "approve the settlement contract to move your vouchers when your sell orders settle"


def _org_id(org_id: str) -> bytes:
    return bytes.fromhex(org_id.removeprefix("0x"))


#: relayed gas-free through the forwarder (the relay's allow-list)
FORWARD_ACTIONS: dict[str, Builder] = {
    "transfer": _voucher_call("safeTransferFrom", lambda p, me: (me, _addr(p, "to"), _int(p, "voucher_id")),
                              "transfer voucher {voucher_id} to {to}"),
    "authorize": _voucher_call("authoriseUser",
                               lambda p, me: (_int(p, "voucher_id"), _addr(p, "user"), bool(p.get("allowed", True))),
                               "authorise {user} on voucher {voucher_id}: {allowed}"),
    "redeem": _voucher_call("redeem", lambda p, me: (_int(p, "voucher_id"), _b32(p, "purpose_hash")),
                            "redeem one use of voucher {voucher_id}, purpose {purpose_cid}"),
    "cancel_order": _settlement_call("cancelOrder", lambda p, me: (_int(p, "nonce"),), "cancel your order {nonce}"),
}
def _withdraw_settlement(led: Ledger, p: dict[str, Any], me: str, db: Session,
                         caller: Caller) -> tuple[Any, str, tuple[Any, ...], str]:
    return led.vouchers, "setApprovalForAll", (led.settlement.address, False), \
        "withdraw the settlement contract's approval over your vouchers"


def _issue(led: Ledger, p: dict[str, Any], me: str, db: Session,
           caller: Caller) -> tuple[Any, str, tuple[Any, ...], str]:
    now = led.now()
    days = _int(p, "valid_days", 1, 36500)
    args = (_addr(p, "to"), _int(p, "asset_id", 1, 2**256 - 1), _int(p, "right", 0, 2), hash32(_text(p, "scope", 2000)),
            now, now + days * 86400, _int(p, "max_uses", 0, 2**32 - 1),
            str(p.get("transferable", "")).lower() in ("true", "1", "on", "yes"))
    return led.vouchers, "issue", args, "issue a voucher over asset {asset_id} to {to}".format_map(_Safe(p))


#: sent from the wallet (the relay does not forward them)
TX_ACTIONS: dict[str, Builder] = {
    "approve_settlement": _approve_settlement,
    "withdraw_settlement": _withdraw_settlement,
    "issue": _issue,
    "revoke_clearance": _customs_call("revokeClearance", lambda p, me: (_int(p, "clearance_id"), _text(p, "reason")),
                                      "revoke clearance {clearance_id}: {reason}"),
    "request_clearance": _customs_call(
        "requestClearance", lambda p, me: (_int(p, "asset_id"), _jurisdiction(p, "destination"),
                                           _addr(p, "recipient"), _cid(p, "purpose_cid")),
        "request a clearance of asset {asset_id} to {destination} for {recipient}"),
    "approve_clearance": _customs_call(
        "approveClearance", lambda p, me: (_int(p, "clearance_id"), _int(p, "expiry", 1, 2**64 - 1),
                                           _cid(p, "conditions_cid", required=False)),
        "approve clearance {clearance_id} until {expiry}"),
    "reject_clearance": _customs_call("rejectClearance", lambda p, me: (_int(p, "clearance_id"), _text(p, "reason")),
                                      "reject clearance {clearance_id}: {reason}"),
    "freeze": _voucher_call("freeze", lambda p, me: (_int(p, "voucher_id"), _text(p, "reason")),
                            "freeze voucher {voucher_id}: {reason}"),
    "unfreeze": _voucher_call("unfreeze", lambda p, me: (_int(p, "voucher_id"), _text(p, "reason")),
                              "unfreeze voucher {voucher_id}: {reason}"),
    "revoke": _voucher_call("revoke", lambda p, me: (_int(p, "voucher_id"), _text(p, "reason")),
                            "revoke voucher {voucher_id}: {reason}"),
    "propose_recovery": _voucher_call(
        "proposeRecovery", lambda p, me: (_int(p, "voucher_id"), _addr(p, "to"), _text(p, "reason")),
        "propose recovering voucher {voucher_id} to {to}: {reason}"),
    "execute_recovery": _voucher_call("executeRecovery", lambda p, me: (_int(p, "voucher_id"), _text(p, "reason")),
                                      "execute the recovery of voucher {voucher_id}: {reason}"),
    "cancel_recovery": _voucher_call("cancelRecovery", lambda p, me: (_int(p, "voucher_id"), _text(p, "reason")),
                                     "cancel the recovery of voucher {voucher_id}: {reason}"),
    "add_account": _registry_call(
        "addAccount", lambda p, me, org: (_org_id(org), _addr(p, "account"), _int(p, "roles", 1, 2**16 - 1)),
        "add account {account} to your organisation with roles {roles}"),
    "set_roles": _registry_call(
        "setAccountRoles", lambda p, me, org: (_org_id(org), _addr(p, "account"), _int(p, "roles", 0, 2**16 - 1)),
        "set the roles of {account} to {roles}"),
    "remove_account": _registry_call("removeAccount", lambda p, me, org: (_org_id(org), _addr(p, "account")),
                                     "remove account {account} from your organisation"),
    "suspend_account": _registry_call("suspendAccount", lambda p, me, org: (_addr(p, "account"), _text(p, "reason")),
                                      "suspend account {account}: {reason}"),
    "reinstate_account": _registry_call("reinstateAccount",
                                        lambda p, me, org: (_addr(p, "account"), _text(p, "reason")),
                                        "reinstate account {account}: {reason}"),
}


def _typed(domain: dict[str, Any], types: dict[str, list[dict[str, str]]], primary: str,
           message: dict[str, Any]) -> dict[str, Any]:
    """EIP-712 typed data as eth_signTypedData_v4 takes it (integers as decimal strings)."""
    domain_types = [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}]
    return {"types": {"EIP712Domain": domain_types, **types}, "domain": domain, "primaryType": primary,
            "message": message}


def _simulate_tx(led: Ledger, client: Any, sender: str, tx: dict[str, Any]) -> int:
    try:
        call: Any = {"from": sender, "to": tx["to"], "data": tx["data"], "value": 0}
        return int(led.w3.eth.estimate_gas(call))
    except (ContractLogicError, Web3RPCError) as exc:
        revert = as_revert(exc, client.NAME)
        if revert is not None:
            raise revert from None
        raise ApiError(409, "WouldRevert", f"the call would fail: {exc}") from None


def forward_request(led: Ledger, sender: str, target: str, data: bytes, deadline_s: int = 900) -> dict[str, Any]:
    """An unsigned ForwardRequest for ``sender`` (gas from a simulation as the sender: a call that
    would revert raises the decoded ContractRevert) and its EIP-712 typed data."""
    fwd = led.forwarder
    gas = int(fwd._simulate(sender, target, data, 0, estimate=True) * FORWARD_GAS_MARGIN) + 20_000
    nonce = fwd.nonce(sender)
    deadline = led.now() + deadline_s
    request = {"from": sender, "to": target, "value": 0, "gas": gas, "nonce": nonce, "deadline": deadline,
               "data": "0x" + data.hex(), "chainId": led.chain_id, "forwarder": fwd.address}
    message = {"from": sender, "to": target, "value": "0", "gas": str(gas), "nonce": str(nonce),
               "deadline": str(deadline), "data": "0x" + data.hex()}
    assert [n for n, _t in FORWARD_REQUEST_FIELDS] == list(message)
    typed = _typed(forwarder_domain(led.chain_id, fwd.address), FORWARD_REQUEST_TYPES, "ForwardRequest", message)
    return {"request": request, "typed_data": typed}


@router.post("/v1/actions/prepare", response_model=PreparedPublic)
def prepare(body: PrepareIn, request: Request, settings: SettingsDep, db: SessionDep,
            caller: ParticipantCallerDep) -> PreparedPublic:
    """Encode and simulate an action of the signed-in participant; what the wallet is to sign or send.

    Refusals come back decoded (409 with the custom error and its values) before the wallet is asked."""
    me = str(Web3.to_checksum_address(str(caller.address)))
    builder = FORWARD_ACTIONS.get(body.action) or TX_ACTIONS.get(body.action)
    if builder is None:
        raise ApiError(422, "UnknownAction", f"no such action: {body.action}",
                       {"actions": sorted([*FORWARD_ACTIONS, *TX_ACTIONS])})
    led = _ledger(request, settings)
    client, fn, args, summary = builder(led, body.params, me, db, caller)
    if body.action == "transfer":
        verdict = restriction_verdict(request, settings, db, int(args[2]), str(args[1]), me)
        if not verdict.allowed:
            raise ApiError(409, "TransferRestricted", verdict.message,
                           {"code": verdict.code, "from": me, "to": verdict.recipient, "voucherId": verdict.voucher_id,
                            "advice": verdict.advice, "frozen_reason": verdict.frozen_reason})
    try:
        tx = client.build(fn, *args)
    except (InvalidInput, ValueError, TypeError) as exc:
        raise ApiError(422, "InvalidParameter", str(exc)) from None
    try:
        if body.action in FORWARD_ACTIONS:
            fr = forward_request(led, me, client.address, bytes.fromhex(tx["data"][2:]))
            return PreparedPublic(kind="forward", action=body.action, summary=summary, **fr)
        gas = _simulate_tx(led, client, me, tx)
    except (ContractRevert, ApiError):
        raise
    except Exception as exc:  # a node error is not the caller's fault, and not a crash
        raise ApiError(503, "NodeUnavailable", f"could not simulate the call: {exc}") from None
    return PreparedPublic(kind="transaction", action=body.action, summary=summary,
                          tx={"from": me, "to": client.address, "data": tx["data"], "value": "0x0",
                              "gas": hex(int(gas * 1.3) + 10_000), "chainId": hex(led.chain_id)})


# ---------------------------------------------------------------- orders


class OrderDraftIn(BaseModel):
    side: int = Field(ge=0, le=1, description="0 sell, 1 buy")
    voucher_id: int = Field(ge=0, le=2**255)
    price: int = Field(gt=0, le=2**255, description="in the payment token's smallest unit (fen)")
    exchange: str = Field(pattern=_ADDR)
    broker: str = Field(default="0x" + "00" * 20, pattern=_ADDR)
    commission: int = Field(default=0, ge=0, le=2**255)
    valid_days: int = Field(default=7, ge=1, le=365)


class OrderDraftPublic(BaseModel):
    order: dict[str, Any]
    typed_data: dict[str, Any]
    chainId: int
    settlement: str


@router.post("/v1/actions/order", response_model=OrderDraftPublic)
def draft_order(body: OrderDraftIn, request: Request, settings: SettingsDep,
                caller: ParticipantCallerDep) -> OrderDraftPublic:
    """The EIP-712 order the signed-in maker signs: the payment token, the exchange's current fee as
    the maximum fee, for a buy the voucher's uses left and validity end as read now, a fresh nonce."""
    led = _ledger(request, settings)
    me = str(Web3.to_checksum_address(str(caller.address)))
    st = led.settlement
    fee = int(st.call("exchangeFeeBps", _checksum(body.exchange, "exchange")))
    try:
        core = led.vouchers.call("voucherCore", body.voucher_id)
    except ContractRevert as exc:
        raise ApiError(404, "UnknownVoucher", f"voucher {body.voucher_id}: {exc}") from None
    uses_left, valid_until = int(core[6]) - int(core[7]), int(core[5])
    if int(core[6]) == 0:
        uses_left = 0
    nonce = int(time.time() * 1000)
    while st.is_nonce_used(me, nonce):
        nonce += 1
    order = {"maker": me, "side": body.side, "voucherId": body.voucher_id, "price": body.price,
             "paymentToken": led.token.address, "exchange": _checksum(body.exchange, "exchange"),
             "broker": _checksum(body.broker, "broker"), "commission": body.commission, "maxFeeBps": fee,
             "minUsesLeft": uses_left if body.side == 1 else 0, "minValidUntil": valid_until if body.side == 1 else 0,
             "nonce": nonce, "deadline": led.now() + body.valid_days * 86400}
    message = {n: (str(order[n]) if t.startswith("uint") else order[n]) for n, t in ORDER_FIELDS}
    typed = _typed(settlement_domain(led.chain_id, st.address), ORDER_TYPES, "Order", message)
    return OrderDraftPublic(order=order, typed_data=typed, chainId=led.chain_id, settlement=st.address)


# ---------------------------------------------------------------- settlement console


class PairIn(BaseModel):
    sell: SignedOrderIn
    buy: SignedOrderIn


class CheckOut(BaseModel):
    name: str = Field(description="the check (a stable English name; the pages translate it)")
    ok: bool
    detail: str = Field(description="what was found, in the language of ?lang (English by default), names and ¥")
    template: str = Field(description="the English msgid of detail, its {placeholders} filled from values")
    values: dict[str, str] = Field(default_factory=dict,
                                   description="the raw values: addresses, integers (fen, unix seconds) as decimal "
                                               "strings, error names")


class SettlementCheckPublic(BaseModel):
    ok: bool
    checks: list[CheckOut]
    fee: Optional[int] = None
    seller_receives: Optional[int] = None
    prepared: Optional[PreparedPublic] = Field(default=None, description="the exchange's settle request to sign")


def _recover(led: Ledger, s: Any) -> str:
    message = {n: s.order.message()[n] for n, _t in ORDER_FIELDS}
    signable = encode_typed_data(settlement_domain(s.chainId, s.settlement), ORDER_TYPES, message)
    return str(Account.recover_message(signable, signature=bytes.fromhex(s.signature[2:])))


#: the settlement checks' details (English msgids, str.format placeholders; translated in the catalogues)
CHECK_DETAILS: dict[str, str] = {
    "domain": N_("chain {chain_id}, settlement contract {settlement}"),
    "signed": N_("signed by {signer}; the order's maker is {maker}"),
    "unrecoverable": N_("the signature cannot be recovered ({error}); the order's maker is {maker}"),
    "side": N_("a {side} order, expected a {expected} order"),
    "exchange": N_("the order names {exchange}"),
    "nonce_unused": N_("nonce {nonce} unused"),
    "nonce_used": N_("nonce {nonce} used or cancelled"),
    "deadline": N_("deadline {deadline}, chain time {now}"),
    "voucher": N_("sell order: voucher {sell}; buy order: voucher {buy}"),
    "price": N_("sell order: {sell}; buy order: {buy}"),
    "token": N_("sell order: {sell}; buy order: {buy}"),
    "makers": N_("seller {seller}, buyer {buyer}"),
    "holder": N_("holder: {holder}"),
    "restriction": N_("code {code}: {message}"),
    "restricted": N_("code {code}: {message} What to do: {advice}"),
    "uses_left": N_("{left} uses left, the buyer signed for at least {min}"),
    "uses_unlimited": N_("unlimited uses, the buyer signed for at least {min}"),
    "validity": N_("valid until {valid_until}, the buyer signed for at least {min_valid_until}"),
    "terms_error": N_("the voucher's terms cannot be read: {error}"),
    "fee": N_("exchange fee {bps} bps; the sell order accepts at most {sell_max}, the buy order {buy_max}"),
    "fees": N_("fee {fee}, seller's commission {commission}: the seller receives {receives}"),
    "funds": N_("balance {balance}, allowance to the settlement contract {allowance}, needed {needed}"),
    "approved": N_("the seller lets the settlement contract move the voucher"),
    "not_approved": N_("the seller must let the settlement contract move the voucher (setApprovalForAll or "
                       "approve)"),
    "simulated": N_("settle(sell, buy) as the exchange succeeds"),
    "reverts": N_("settle(sell, buy) reverts: {error}"),
}
SIDES = {0: N_("sell"), 1: N_("buy")}
_ADDRESS_VALUES = ("settlement", "signer", "maker", "exchange", "seller", "buyer", "holder")
_AMOUNT_VALUES = ("fee", "commission", "receives", "balance", "allowance", "needed")
_TIME_VALUES = ("deadline", "now", "valid_until", "min_valid_until")


class _Checks:
    """The console's checks, each detail told in ``lang`` (names from the verified profiles, ¥, +08:00)."""

    def __init__(self, db: Session, lang: Optional[str]) -> None:
        from gateway.services.legible import Directory
        from gateway.web.i18n import translations

        self.lang = lang or "en"
        self.tr: Callable[[str], str] = (translations(self.lang.replace("-", "_")).gettext
                                         if self.lang in ("zh-Hans", "zh-Hant") else (lambda m: m))
        self.directory = Directory(db.connection())
        self.names_in = {"zh-Hans": "zh", "zh-Hant": "zh-Hant"}.get(self.lang, "en")
        self.items: list[CheckOut] = []

    def who(self, address: Any) -> str:
        if not isinstance(address, str) or not address.startswith("0x"):
            return self.tr(N_("nobody")) if address is None else str(address)
        return self.directory.name(address, self.names_in) or address

    def shown(self, key: str, value: Any, kind: str = "") -> str:
        from gateway.services.legible import iso, yuan

        if value is None:
            return self.tr(N_("nobody"))
        if kind == "address" or key in _ADDRESS_VALUES:
            return self.who(value)
        if kind == "amount" or key in _AMOUNT_VALUES:
            return self.tr(N_("unlimited")) if int(value) >= 2**255 else yuan(value)
        if kind == "time" or key in _TIME_VALUES:
            return iso(value) or str(value)
        if kind == "side":
            return self.tr(SIDES.get(int(value), str(value)))
        return str(value)

    def error(self, exc: ContractRevert) -> str:
        """A decoded custom error in the console's language (the pages' refusal messages)."""
        from gateway.web.act_strings import ERRORS

        template = ERRORS.get(exc.name)
        if template is None:
            return f"{exc.name}: {exc}"
        values = {k: self.shown(k, v, "address" if isinstance(v, str) and len(v) == 42 else "")
                  for k, v in exc.values.items()}
        return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), self.tr(template))

    def add(self, name: str, ok: bool, key: str, kinds: Optional[dict[str, str]] = None, **values: Any) -> None:
        kinds = kinds or {}
        template = CHECK_DETAILS[key]
        shown = {k: self.shown(k, v, kinds.get(k, "")) for k, v in values.items()}
        try:
            detail = self.tr(template).format(**shown)
        except (KeyError, IndexError, ValueError):  # a translation naming a parameter the msgid lacks
            detail = template.format(**shown)
        self.items.append(CheckOut(name=name, ok=bool(ok), detail=detail, template=template,
                                   values={k: "" if v is None else str(v) for k, v in values.items()}))


@router.post("/v1/actions/settlement/check", response_model=SettlementCheckPublic)
def settlement_check(body: PairIn, request: Request, settings: SettingsDep, db: SessionDep,
                     caller: ParticipantCallerDep,
                     lang: Annotated[Optional[str], Query(pattern=r"^(en|zh-Hans|zh-Hant)$",
                                                          description="the language of each check's detail "
                                                                      "(default English)")] = None,
                     ) -> SettlementCheckPublic:
    """The exchange's console: every check of a matched pair before settling (signatures, terms,
    nonces and deadlines, the restriction verdict seller -> buyer, the voucher terms the buyer
    signed, fees, funds and approvals), then a simulation of ``settle`` through the forwarder as
    the exchange; when all pass, the ForwardRequest the exchange signs for ``/v1/relay/settlements``.
    Each check: its stable ``name``, ``ok``, ``detail`` (in ``?lang``, with names, ¥ and +08:00
    times), the English ``template`` of the detail and its raw ``values``."""
    if not caller.has(Role.EXCHANGE):
        raise ApiError(403, "NotAnExchange", "only a licensed exchange settles trades",
                       {"caller": caller.address, "roles": caller.role_names})
    led = _ledger(request, settings)
    me = str(Web3.to_checksum_address(str(caller.address)))
    c = _Checks(db, lang)
    check = c.add

    try:
        sell, buy = body.sell.signed(), body.buy.signed()
    except (InvalidInput, ValueError) as exc:
        raise ApiError(422, "InvalidOrder", str(exc)) from None
    st, vouchers, token = led.settlement, led.vouchers, led.token
    for side, s, want in (("sell", sell, 0), ("buy", buy, 1)):
        o = s.order
        domain_ok = s.chainId == led.chain_id and s.settlement.lower() == st.address.lower()
        check(f"{side}: domain", domain_ok, "domain", chain_id=s.chainId, settlement=s.settlement)
        try:
            signer = _recover(led, s)
        except Exception as exc:
            check(f"{side}: signature", False, "unrecoverable", error=type(exc).__name__, maker=o.maker)
        else:
            check(f"{side}: signature", domain_ok and signer.lower() == o.maker.lower(), "signed", signer=signer,
                  maker=o.maker)
        check(f"{side}: side", o.side == want, "side", {"side": "side", "expected": "side"}, side=o.side,
              expected=want)
        check(f"{side}: exchange", o.exchange.lower() == me.lower(), "exchange", exchange=o.exchange)
        used = st.is_nonce_used(o.maker, o.nonce)
        check(f"{side}: nonce", not used, "nonce_used" if used else "nonce_unused", nonce=o.nonce)
        now = led.now()
        check(f"{side}: deadline", o.deadline >= now, "deadline", deadline=o.deadline, now=now)
    so, bo = sell.order, buy.order
    check("terms: voucher", so.voucherId == bo.voucherId, "voucher", sell=so.voucherId, buy=bo.voucherId)
    check("terms: price", so.price == bo.price, "price", {"sell": "amount", "buy": "amount"}, sell=so.price,
          buy=bo.price)
    check("terms: payment token", so.paymentToken.lower() == bo.paymentToken.lower() == token.address.lower(),
          "token", {"sell": "address", "buy": "address"}, sell=so.paymentToken, buy=bo.paymentToken)
    check("terms: not a self-trade", so.maker.lower() != bo.maker.lower(), "makers", seller=so.maker, buyer=bo.maker)
    holder = vouchers.owner_of(so.voucherId)
    check("seller holds the voucher", holder is not None and holder.lower() == so.maker.lower(), "holder",
          holder=holder)
    r = vouchers.restriction(so.maker, bo.maker, so.voucherId)
    from gateway.web.fmt import RESTRICTIONS

    message = c.tr(RESTRICTIONS[r.code]) if r.code in RESTRICTIONS else r.message
    if r.code == 0:
        check("restriction verdict seller -> buyer", True, "restriction", code=r.code, message=message)
    else:
        check("restriction verdict seller -> buyer", False, "restricted", code=r.code, message=message,
              advice=c.tr(ADVICE.get(r.code, "")))
    c.items[-1].values["name"] = RESTRICTION_NAMES.get(r.code, str(r.code))
    fee: Optional[int] = None
    receives: Optional[int] = None
    try:
        core = vouchers.call("voucherCore", so.voucherId)
        max_uses, used_n, valid_until = int(core[6]), int(core[7]), int(core[5])
        left = (2**256 - 1) if max_uses == 0 else max_uses - used_n
        if max_uses == 0:
            check("buyer's terms: uses left", left >= bo.minUsesLeft, "uses_unlimited", min=bo.minUsesLeft)
        else:
            check("buyer's terms: uses left", left >= bo.minUsesLeft, "uses_left", left=left, min=bo.minUsesLeft)
        check("buyer's terms: validity", valid_until >= bo.minValidUntil, "validity", valid_until=valid_until,
              min_valid_until=bo.minValidUntil)
    except ContractRevert as exc:
        check("voucher terms", False, "terms_error", error=c.error(exc))
        c.items[-1].values["error"] = exc.name
    bps = int(st.call("exchangeFeeBps", me))
    check("fee within both orders' maximum", bps <= so.maxFeeBps and bps <= bo.maxFeeBps, "fee", bps=bps,
          sell_max=so.maxFeeBps, buy_max=bo.maxFeeBps)
    fee = so.price * bps // 10_000
    receives = so.price - fee - so.commission
    check("fees within the price", receives >= 0, "fees", fee=fee, commission=so.commission, receives=receives)
    bal = int(token.call("balanceOf", bo.maker))
    allowance = int(token.call("allowance", bo.maker, st.address))
    need = bo.price + bo.commission
    check("buyer's funds", bal >= need and allowance >= need, "funds", balance=bal, allowance=allowance, needed=need)
    approved = bool(vouchers.call("isApprovedForAll", so.maker, st.address))
    if not approved:
        try:
            approved = str(vouchers.call("getApproved", so.voucherId)).lower() == st.address.lower()
        except ContractRevert:
            approved = False
    check("seller approved the settlement contract", approved, "approved" if approved else "not_approved")
    prepared: Optional[PreparedPublic] = None
    if all(x.ok for x in c.items):
        data = bytes.fromhex(st.build("settle", so.as_tuple(), sell.signature_bytes(), bo.as_tuple(),
                                      buy.signature_bytes())["data"][2:])
        try:
            fr = forward_request(led, me, st.address, data)
            check("simulation of settle", True, "simulated")
            prepared = PreparedPublic(kind="forward", action="settle", summary=f"settle voucher {so.voucherId} "
                                      f"for {so.price}", **fr)
        except ContractRevert as exc:
            check("simulation of settle", False, "reverts", error=c.error(exc))
            c.items[-1].values["error"] = exc.name
    return SettlementCheckPublic(ok=all(x.ok for x in c.items), checks=c.items, fee=fee, seller_receives=receives,
                                 prepared=prepared)


# ---------------------------------------------------------------- the session, for the page header


class OrganisationBrief(BaseModel):
    org_id: str
    name: Optional[str] = Field(default=None, description="the legal name in the request's language (verified "
                                                          "profile; null without one)")
    name_zh: Optional[str] = None
    name_en: Optional[str] = None
    jurisdiction: str
    status: str
    officer: str


class SessionInfo(BaseModel):
    address: Optional[str] = None
    signed_in: bool = False
    roles: list[str] = Field(default_factory=list)
    status: str = "anonymous"
    jurisdiction: Optional[str] = None
    organisation: Optional[OrganisationBrief] = None
    data_officer: bool = False


@router.get("/v1/actions/session", response_model=SessionInfo)
def session_info(request: Request, db: SessionDep) -> SessionInfo:
    """Who the page's session is: address, roles, standing, organisation (and whether its data
    officer). Anonymous (signed_in false) without a valid session; never 401."""
    from gateway.api.deps import caller_for, current_session

    try:
        session = current_session(request)
    except ApiError:
        session = None
    if session is None:
        return SessionInfo()
    caller = caller_for(db, session.address)
    info = SessionInfo(address=str(Web3.to_checksum_address(session.address)), signed_in=True,
                       roles=caller.role_names, status=caller.status, jurisdiction=caller.jurisdiction)
    p = db.get(Participant, session.address.lower())
    org = db.get(Organisation, p.org_id) if p is not None else None
    if org is not None:
        from gateway.services.legible import Directory
        from gateway.web.names import org_name

        names = Directory(db.connection()).organisation(org.org_id)
        info.organisation = OrganisationBrief(org_id=org.org_id, name=org_name(names),
                                              name_zh=names.name_zh if names else None,
                                              name_en=names.name_en if names else None,
                                              jurisdiction=org.jurisdiction, status=org.status, officer=org.officer)
        info.data_officer = org.officer.lower() == session.address.lower() and org.status == "active"
    return info


def org_accounts(db: Session, org_id: str) -> list[Participant]:
    return list(db.exec(select(Participant).where(Participant.org_id == org_id).order_by(col(Participant.account))))


# ---------------------------------------------------------------- chain parameters for the wallet


class ChainParams(BaseModel):
    chain_id: int
    chain_id_hex: str
    chain_name: str
    rpc_urls: list[str] = Field(description="for wallet_addEthereumChain; empty when this gateway has no "
                                            "public node URL to give")
    native_currency: dict[str, Any]
    checksum: Optional[str] = Field(default=None, description="the EIP-55 form of ?address (for the SIWE message)")


@router.get("/v1/actions/chain", response_model=ChainParams)
def chain_params(request: Request, settings: SettingsDep,
                 address: Annotated[Optional[str], Query(pattern=_ADDR)] = None) -> ChainParams:
    """The deployment's chain as ``wallet_switchEthereumChain`` / ``wallet_addEthereumChain`` take
    it. The node URL is offered only when configured as public (PUBLIC_RPC_URL) or on the local
    development chain (31337), never an internal URL otherwise."""
    from gateway.api.routes.auth import chain_id_of

    cid = chain_id_of(request)
    if cid is None:
        raise ApiError(503, "NodeUnavailable", "the chain node does not answer")
    public = settings.PUBLIC_RPC_URL
    urls = [str(public)] if public else ([str(settings.RPC_URL)] if cid == 31337 else [])
    return ChainParams(chain_id=cid, chain_id_hex=hex(cid), chain_name=f"dataledger {cid}", rpc_urls=urls,
                       native_currency={"name": "Ether", "symbol": "ETH", "decimals": 18},
                       checksum=str(Web3.to_checksum_address(address)) if address else None)
