"""Projections: the tables the API reads, as pure functions of the decoded events.

Each handler takes one event and a :class:`Rows` view (get / put of *state* rows, append of
*log* rows) and changes nothing else: no clock, no node, no randomness. Replaying the same
events in (block, log index) order over empty tables therefore always gives the same rows,
which is what makes re-indexing byte-identical and reorg rollback exact.

Two kinds of tables:

- state tables (one mutable row per entity): organisations, participants, assets, vouchers,
  voucher_users, clearances, payment_balances. Rollback restores pre-images (undo log) or
  replays (see gateway.indexer.store);
- log tables (one immutable row per event, keyed by its position or its own id, carrying
  ``block_number``): asset_manifests, valuations, voucher_transfers, voucher_uses, trades,
  broker_payments. Rollback deletes the rows above the common ancestor.

Each handler also declares the state rows it will read (``reads``) so a batch can load them in a
few ``IN`` queries; a read that was not declared is still served (lazily), only slower.

Events that no handler projects (approvals, role admin, forwarder, ownership...) are kept in
``events`` only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Optional, Protocol

from gateway.indexer import native
from gateway.indexer.decode import DecodedEvent

Key = tuple[Any, ...]
Row = dict[str, Any]
ZERO = "0x" + "00" * 20

#: state table -> primary key columns (order of the key tuples)
STATE_TABLES: dict[str, tuple[str, ...]] = {
    "organisations": ("org_id",),
    "participants": ("account",),
    "assets": ("asset_id",),
    "vouchers": ("voucher_id",),
    "voucher_users": ("voucher_id", "user", "holder"),  # as the chain: _users[voucherId][holder][user]
    "clearances": ("clearance_id",),
    "payment_balances": ("account",),
}

#: log table -> primary key columns
LOG_TABLES: dict[str, tuple[str, ...]] = {
    "asset_manifests": ("asset_id", "version"),
    "valuations": ("asset_id", "index"),
    "voucher_transfers": ("block_number", "log_index"),
    "voucher_uses": ("voucher_id", "use_number"),
    "trades": ("trade_id",),
    "broker_payments": ("block_number", "log_index"),
}

PROJECTION_TABLES = tuple(STATE_TABLES) + tuple(LOG_TABLES)


class Rows(Protocol):
    def get(self, table: str, key: Key) -> Optional[Row]: ...

    def put(self, table: str, key: Key, row: Row) -> None: ...

    def append(self, table: str, row: Row) -> None: ...


Reads = Callable[[dict[str, Any]], list[tuple[str, Key]]]
Apply = Callable[[DecodedEvent, Rows], None]


@dataclass(frozen=True)
class Handler:
    contract: str
    event: str
    reads: Reads
    apply: Apply


HANDLERS: dict[tuple[str, str], Handler] = {}


def handles(contract: str, event: str, reads: Reads) -> Callable[[Apply], Apply]:
    def register(fn: Apply) -> Apply:
        HANDLERS[(contract, event)] = Handler(contract, event, reads, fn)
        return fn

    return register


# ---------------------------------------------------------------- value helpers


def text_of(hex_value: str) -> str:
    """bytesN holding short ASCII (jurisdiction, currency, method tag) -> the text; else the hex."""
    raw = bytes.fromhex(hex_value[2:]).rstrip(b"\0")
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        return hex_value
    return text if text.isprintable() else hex_value


#: a uint argument as an int (the decoder gives uint256 as a decimal string, narrower ones as int)
as_int: Callable[[Any], int] = int


def _update(rows: Rows, table: str, key: Key, ev: DecodedEvent, **changes: Any) -> None:
    row = rows.get(table, key)
    if row is None:  # an event about an entity we never saw created: nothing to update
        return
    # a new dict: the old one may be the pre-image the undo log keeps
    rows.put(table, key, {**row, **changes, "updated_block": ev.block_number})


# ---------------------------------------------------------------- ParticipantRegistry

PR = "ParticipantRegistry"


def _org(a: dict[str, Any]) -> list[tuple[str, Key]]:
    return [("organisations", (a["orgId"],))]


def _account(a: dict[str, Any]) -> list[tuple[str, Key]]:
    return [("participants", (a["account"],))]


@handles(PR, "OrganisationRegistered", _org)
def organisation_registered(ev: DecodedEvent, rows: Rows) -> None:
    a = ev.args
    rows.put("organisations", (a["orgId"],), {
        "org_id": a["orgId"],
        "jurisdiction": text_of(a["jurisdiction"]),
        "allowed_roles": a["allowedRoles"],
        "officer": a["officer"],
        "status": "active",
        "registrar": a["registrar"],
        "registered_block": ev.block_number,
        "updated_block": ev.block_number,
        "profile_cid": None,
    })


@handles(PR, "OfficerChanged", _org)
def officer_changed(ev: DecodedEvent, rows: Rows) -> None:
    _update(rows, "organisations", (ev.args["orgId"],), ev, officer=ev.args["newOfficer"])


@handles(PR, "OrganisationSuspended", _org)
def organisation_suspended(ev: DecodedEvent, rows: Rows) -> None:
    _update(rows, "organisations", (ev.args["orgId"],), ev, status="suspended")


@handles(PR, "OrganisationReinstated", _org)
def organisation_reinstated(ev: DecodedEvent, rows: Rows) -> None:
    _update(rows, "organisations", (ev.args["orgId"],), ev, status="active")


@handles(PR, "OrganisationProfileSet", _org)
def organisation_profile_set(ev: DecodedEvent, rows: Rows) -> None:
    _update(rows, "organisations", (ev.args["orgId"],), ev, profile_cid=ev.args["cid"])


@handles(PR, "AccountAdded", _account)
def account_added(ev: DecodedEvent, rows: Rows) -> None:
    a = ev.args
    rows.put("participants", (a["account"],), {
        "account": a["account"],
        "org_id": a["orgId"],
        "jurisdiction": text_of(a["jurisdiction"]),
        "roles": a["roles"],
        "licence_expiry": 0,
        "status": "active",
        "added_by": a["officer"],
        "added_block": ev.block_number,
        "updated_block": ev.block_number,
    })


@handles(PR, "AccountRolesChanged", _account)
def account_roles_changed(ev: DecodedEvent, rows: Rows) -> None:
    _update(rows, "participants", (ev.args["account"],), ev, roles=ev.args["roles"])


@handles(PR, "AccountSuspended", _account)
def account_suspended(ev: DecodedEvent, rows: Rows) -> None:
    _update(rows, "participants", (ev.args["account"],), ev, status="suspended")


@handles(PR, "AccountReinstated", _account)
def account_reinstated(ev: DecodedEvent, rows: Rows) -> None:
    _update(rows, "participants", (ev.args["account"],), ev, status="active")


@handles(PR, "AccountRemoved", _account)
def account_removed(ev: DecodedEvent, rows: Rows) -> None:
    _update(rows, "participants", (ev.args["account"],), ev, status="removed")


@handles(PR, "LicenceExpirySet", _account)
def licence_expiry_set(ev: DecodedEvent, rows: Rows) -> None:
    _update(rows, "participants", (ev.args["account"],), ev, licence_expiry=as_int(ev.args["expiry"]))


# ---------------------------------------------------------------- AssetRegistry

AR = "AssetRegistry"


def _asset(a: dict[str, Any]) -> list[tuple[str, Key]]:
    return [("assets", (as_int(a["assetId"]),))]


@handles(AR, "AssetRegistered", _asset)
def asset_registered(ev: DecodedEvent, rows: Rows) -> None:
    a = ev.args
    asset_id = as_int(a["assetId"])
    rows.put("assets", (asset_id,), {
        "asset_id": asset_id,
        "holder": a["holder"],
        "content_hash": a["contentHash"],
        "manifest_cid": a["manifestCid"],
        "manifest_version": 0,
        "level": a["level"],
        "source_type": a["sourceType"],
        "home_jurisdiction": text_of(a["homeJurisdiction"]),
        "status": "active",
        "valuation_count": 0,
        "registered_block": ev.block_number,
        "registered_tx": ev.tx_hash,
        "registered_at": ev.timestamp,
        "updated_block": ev.block_number,
    })
    rows.append("asset_manifests", {
        "asset_id": asset_id, "version": 0, "manifest_cid": a["manifestCid"],
        "content_hash": a["contentHash"], "holder": a["holder"],
        "block_number": ev.block_number, "tx_hash": ev.tx_hash, "log_index": ev.log_index,
    })


@handles(AR, "ManifestUpdated", _asset)
def manifest_updated(ev: DecodedEvent, rows: Rows) -> None:
    a = ev.args
    asset_id = as_int(a["assetId"])
    _update(rows, "assets", (asset_id,), ev, content_hash=a["contentHash"], manifest_cid=a["manifestCid"],
            manifest_version=as_int(a["version"]))
    rows.append("asset_manifests", {
        "asset_id": asset_id, "version": as_int(a["version"]), "manifest_cid": a["manifestCid"],
        "content_hash": a["contentHash"], "holder": a["holder"],
        "block_number": ev.block_number, "tx_hash": ev.tx_hash, "log_index": ev.log_index,
    })


@handles(AR, "ValuationRecorded", _asset)
def valuation_recorded(ev: DecodedEvent, rows: Rows) -> None:
    a = ev.args
    asset_id = as_int(a["assetId"])
    index = as_int(a["index"])
    row = rows.get("assets", (asset_id,))
    if row is not None:
        _update(rows, "assets", (asset_id,), ev, valuation_count=max(int(row["valuation_count"]), index + 1))
    rows.append("valuations", {
        "asset_id": asset_id, "index": index, "appraiser": a["appraiser"], "amount": str(a["amount"]),
        "currency": text_of(a["currency"]), "method": text_of(a["method"]), "report_cid": a["reportCid"],
        "block_number": ev.block_number, "tx_hash": ev.tx_hash, "log_index": ev.log_index,
    })


@handles(AR, "AssetFrozen", _asset)
def asset_frozen(ev: DecodedEvent, rows: Rows) -> None:
    _update(rows, "assets", (as_int(ev.args["assetId"]),), ev, status="frozen")


@handles(AR, "AssetUnfrozen", _asset)
def asset_unfrozen(ev: DecodedEvent, rows: Rows) -> None:
    _update(rows, "assets", (as_int(ev.args["assetId"]),), ev, status="active")


@handles(AR, "AssetRevoked", _asset)
def asset_revoked(ev: DecodedEvent, rows: Rows) -> None:
    _update(rows, "assets", (as_int(ev.args["assetId"]),), ev, status="revoked")


# ---------------------------------------------------------------- DataCustoms

DC = "DataCustoms"


def _case(a: dict[str, Any]) -> list[tuple[str, Key]]:
    return [("clearances", (as_int(a["clearanceId"]),))]


@handles(DC, "ClearanceRequested", _case)
def clearance_requested(ev: DecodedEvent, rows: Rows) -> None:
    a = ev.args
    clearance_id = as_int(a["clearanceId"])
    rows.put("clearances", (clearance_id,), {
        "clearance_id": clearance_id,
        "asset_id": as_int(a["assetId"]),
        "requester": a["requester"],
        "destination": text_of(a["destination"]),
        "recipient": a["recipient"],
        "purpose_cid": a["purposeCid"],
        "status": "requested",
        "officer": None,
        "expiry": None,
        "conditions_cid": None,
        "reason": None,
        "requested_block": ev.block_number,
        "updated_block": ev.block_number,
    })


@handles(DC, "ClearanceApproved", _case)
def clearance_approved(ev: DecodedEvent, rows: Rows) -> None:
    a = ev.args
    _update(rows, "clearances", (as_int(a["clearanceId"]),), ev, status="approved", officer=a["officer"],
            expiry=as_int(a["expiry"]), conditions_cid=a["conditionsCid"])


@handles(DC, "ClearanceRejected", _case)
def clearance_rejected(ev: DecodedEvent, rows: Rows) -> None:
    a = ev.args
    _update(rows, "clearances", (as_int(a["clearanceId"]),), ev, status="rejected", officer=a["officer"],
            reason=a["reason"])


@handles(DC, "ClearanceRevoked", _case)
def clearance_revoked(ev: DecodedEvent, rows: Rows) -> None:
    a = ev.args
    _update(rows, "clearances", (as_int(a["clearanceId"]),), ev, status="revoked", reason=a["reason"])


# ---------------------------------------------------------------- DataVoucher

DV = "DataVoucher"


def _voucher(a: dict[str, Any]) -> list[tuple[str, Key]]:
    return [("vouchers", (as_int(a["voucherId"]),))]


def _erc721_voucher(a: dict[str, Any]) -> list[tuple[str, Key]]:
    """The ERC-721 standard's own events (Transfer) spell the voucher id ``tokenId``."""
    return [("vouchers", (as_int(a["tokenId"]),))]


@handles(DV, "VoucherIssued", _voucher)
def voucher_issued(ev: DecodedEvent, rows: Rows) -> None:
    a = ev.args
    voucher_id = as_int(a["voucherId"])
    existing = rows.get("vouchers", (voucher_id,))
    rows.put("vouchers", (voucher_id,), {
        "voucher_id": voucher_id,
        "asset_id": as_int(a["assetId"]),
        "issuer": a["issuer"],
        # the mint's Transfer follows VoucherIssued; keep its holder if it came first
        "holder": existing["holder"] if existing is not None else a["holder"],
        "right": a["right"],
        "scope_hash": a["scopeHash"],
        "valid_from": a["validFrom"],
        "valid_until": a["validUntil"],
        "max_uses": a["maxUses"],
        "uses": 0,
        "transferable": a["transferable"],
        "status": "active",
        "issued_block": ev.block_number,
        "issued_tx": ev.tx_hash,
        "issued_at": ev.timestamp,
        "updated_block": ev.block_number,
    })


@handles(DV, "Transfer", _erc721_voucher)
def voucher_transfer(ev: DecodedEvent, rows: Rows) -> None:
    a = ev.args
    voucher_id = as_int(a["tokenId"])
    key = (voucher_id,)
    voucher = rows.get("vouchers", key)
    if voucher is not None:  # (_update, inline: the most frequent event)
        rows.put("vouchers", key, {**voucher, "holder": a["to"], "updated_block": ev.block_number})
    rows.append("voucher_transfers", {
        "block_number": ev.block_number, "log_index": ev.log_index, "voucher_id": voucher_id,
        "from_address": a["from"], "to_address": a["to"], "tx_hash": ev.tx_hash,
    })


@handles(DV, "UserAuthorised", lambda a: [("voucher_users", (as_int(a["voucherId"]), a["user"], a["holder"]))])
def user_authorized(ev: DecodedEvent, rows: Rows) -> None:
    a = ev.args
    voucher_id = as_int(a["voucherId"])
    rows.put("voucher_users", (voucher_id, a["user"], a["holder"]), {
        "voucher_id": voucher_id, "user": a["user"], "holder": a["holder"], "allowed": a["allowed"],
        "updated_block": ev.block_number,
    })


@handles(DV, "VoucherUsed", _voucher)
def voucher_used(ev: DecodedEvent, rows: Rows) -> None:
    a = ev.args
    voucher_id = as_int(a["voucherId"])
    _update(rows, "vouchers", (voucher_id,), ev, uses=as_int(a["useNumber"]))
    rows.append("voucher_uses", {
        "voucher_id": voucher_id, "use_number": as_int(a["useNumber"]), "asset_id": as_int(a["assetId"]),
        "user": a["user"], "holder": a["holder"], "purpose_hash": a["purposeHash"],
        "block_number": ev.block_number, "tx_hash": ev.tx_hash, "log_index": ev.log_index,
        "used_at": ev.timestamp,
    })


@handles(DV, "VoucherFrozen", _voucher)
def voucher_frozen(ev: DecodedEvent, rows: Rows) -> None:
    _update(rows, "vouchers", (as_int(ev.args["voucherId"]),), ev, status="frozen")


@handles(DV, "VoucherUnfrozen", _voucher)
def voucher_unfrozen(ev: DecodedEvent, rows: Rows) -> None:
    _update(rows, "vouchers", (as_int(ev.args["voucherId"]),), ev, status="active")


@handles(DV, "VoucherRevoked", _voucher)
def voucher_revoked(ev: DecodedEvent, rows: Rows) -> None:
    _update(rows, "vouchers", (as_int(ev.args["voucherId"]),), ev, status="revoked")


@handles(DV, "VoucherRecovered", _voucher)
def voucher_recovered(ev: DecodedEvent, rows: Rows) -> None:
    # the holder moved with the Transfer emitted just before; recovery itself is in `events`
    _update(rows, "vouchers", (as_int(ev.args["voucherId"]),), ev, holder=ev.args["to"])


# ---------------------------------------------------------------- PaymentToken


def _balances(a: dict[str, Any]) -> list[tuple[str, Key]]:
    return [("payment_balances", (acct,)) for acct in (a["from"], a["to"]) if acct != ZERO]


@handles("PaymentToken", "Transfer", _balances)
def payment_transfer(ev: DecodedEvent, rows: Rows) -> None:
    a = ev.args
    value = int(a["value"])
    for account, sign in ((a["from"], -1), (a["to"], 1)):
        if account == ZERO:
            continue
        row = rows.get("payment_balances", (account,))
        balance = int(row["balance"]) if row is not None else 0
        rows.put("payment_balances", (account,), {
            "account": account, "balance": str(balance + sign * value), "updated_block": ev.block_number,
        })


# ---------------------------------------------------------------- TradeSettlement

TS = "TradeSettlement"


def _trade_voucher(a: dict[str, Any]) -> list[tuple[str, Key]]:
    return [("vouchers", (as_int(a["voucherId"]),))]


@handles(TS, "TradeSettled", _trade_voucher)
def trade_settled(ev: DecodedEvent, rows: Rows) -> None:
    # TradeSettled carries no assetId: the voucher's asset comes from the vouchers projection
    # (a voucher's asset never changes after VoucherIssued, so this is a pure read)
    a = ev.args
    voucher_id = as_int(a["voucherId"])
    voucher = rows.get("vouchers", (voucher_id,))
    if voucher is None:  # a voucher never issued on the followed DataVoucher: keep it in `events` only
        return
    rows.append("trades", {
        "trade_id": a["tradeId"], "voucher_id": voucher_id, "asset_id": int(voucher["asset_id"]),
        "seller": a["seller"], "buyer": a["buyer"], "exchange": a["exchange"],
        "payment_token": a["paymentToken"], "price": str(a["price"]), "fee": str(a["fee"]),
        "block_number": ev.block_number, "tx_hash": ev.tx_hash, "log_index": ev.log_index,
        "settled_at": ev.timestamp,
    })


@handles(TS, "BrokerPaid", lambda a: [])
def broker_paid(ev: DecodedEvent, rows: Rows) -> None:
    a = ev.args
    rows.append("broker_payments", {
        "block_number": ev.block_number, "log_index": ev.log_index, "trade_id": a["tradeId"],
        "broker": a["broker"], "client": a["client"], "amount": str(a["amount"]),
    })


# ---------------------------------------------------------------- driver


def reads_of(events: Iterable[DecodedEvent], compiled: bool = True) -> dict[str, set[Key]]:
    """State rows the events will read, per table (for batch loading). DataVoucher's
    ``VoucherIssued`` and ``Transfer`` are read by compiled code when it is here and ``compiled``
    (native.voucher_reader), the other events by their handler's ``reads``."""
    wanted: dict[str, set[Key]] = {}
    fast = native.voucher_reader() if compiled else None
    if fast is not None:
        vouchers: set[Key] = set()
        events = fast(events if isinstance(events, list) else list(events), vouchers)
        if vouchers:
            wanted["vouchers"] = vouchers
    for ev in events:
        handler = HANDLERS.get((ev.contract, ev.name))
        if handler is None:
            continue
        try:
            pairs = handler.reads(ev.args)
        except (KeyError, TypeError, ValueError):
            continue  # the apply will meet the same problem and skip the event
        for table, key in pairs:
            keys = wanted.get(table)
            if keys is None:
                keys = wanted[table] = set()
            keys.add(key)
    return wanted


def apply(ev: DecodedEvent, rows: Rows) -> bool:
    """Project one event; False when no handler applies (or its arguments do not fit, which
    can only happen with an ABI the handler was not written for: the event stays in ``events``)."""
    handler = HANDLERS.get((ev.contract, ev.name))
    if handler is None:
        return False
    try:
        handler.apply(ev, rows)
    except (KeyError, TypeError, ValueError):
        return False
    return True
