"""State verification: every field the gateway serves about a voucher or an asset (and the trades,
uses, transfers, manifests, valuations, clearances that come with it) checked against the chain.

Two chain-side sources, both trusting only the node:

1. **events**: the subject's history (receipt-proven by gateway.verify.blockproof) replayed through the
   indexer's own projections (gateway.indexer.projections, pure functions of the events) into
   in-memory rows: the rows an honest gateway holds, field for field;
2. **views**: the contracts' own state at the verified block (``eth_call`` with ``block`` = that
   number): ``DataVoucher.voucher`` + ``ownerOf``, ``AssetRegistry.assetCore`` + ``latestManifest``
   + ``valuationCount``, ``DataCustoms.clearance``. The replayed rows must agree with the views
   (else the chain's events and state disagree: a failure, never "verified").

Each served field gets one :class:`FieldCheck`: ``ok`` (equal to the replayed value, and to the view
where one exists), ``mismatch`` (named: subject, field, both values), ``redacted`` (listed in the
item's ``redacted`` list: not served, not checked), ``not_served`` (a chain row the gateway does not
serve at all) or ``unverified`` (a presentation field with no chain counterpart, listed by name).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode

from gateway.indexer import projections as pj
from gateway.indexer.decode import DecodedEvent, abi_type
from ledger.artifacts import load_artifact
from ledger.contracts.models import ClearanceState, VoucherStatus

#: tables compared per history kind, and the row filter (column, subject) selecting them
TABLES: dict[str, tuple[tuple[str, str], ...]] = {
    "voucher": (("vouchers", "voucher_id"), ("voucher_transfers", "voucher_id"), ("trades", "voucher_id"),
                ("voucher_uses", "voucher_id"), ("voucher_users", "voucher_id"), ("broker_payments", "")),
    "asset": (("assets", "asset_id"), ("asset_manifests", "asset_id"), ("valuations", "asset_id"),
              ("clearances", "asset_id"), ("voucher_uses", "asset_id")),
}
KEYS: dict[str, tuple[str, ...]] = {**pj.STATE_TABLES, **pj.LOG_TABLES}

#: served fields that are labels computed from verified fields (no chain counterpart of their own)
PRESENTATION = frozenset({"right_name", "effective_status", "manifest_cid_text", "level_label", "source_type_label",
                          "kind", "id", "redacted"})

FAIL = frozenset({"mismatch"})


@dataclass
class FieldCheck:
    subject: str  # "voucher 4", "trade 0x12ab…", "use 1 of voucher 4", "clearance 2", ...
    field: str
    status: str  # ok | mismatch | redacted | not_served | unverified
    served: Any = None
    chain: Any = None  # replayed from the receipt-proven events
    view: Any = None  # the contract's own state at the verified block (None: no view for it)
    against: str = ""  # what it was checked against
    origin: str = ""  # where the gateway serves it (route or table)
    #: the values are withheld from this caller (redaction policy): checked, but not shown
    withheld: bool = False

    @property
    def failed(self) -> bool:
        return self.status in FAIL

    def describe(self) -> str:
        if self.status == "mismatch" and self.withheld:
            return f"{self.subject} {self.field}: served value differs from the chain (values withheld from this caller)"
        if self.status == "mismatch":
            return f"{self.subject} {self.field}: served {_show(self.served)}, chain {_show(self.chain)}" + \
                (f" ({self.against})" if self.against else "")
        return f"{self.subject} {self.field}: {self.status}"


def _show(v: Any) -> str:
    if v is None:
        return "nothing"
    s = str(v)
    return s if len(s) <= 44 else s[:20] + "…" + s[-8:]


def norm(value: Any) -> Any:
    """Comparable form: bools, decimal strings of integers, lowercase strings."""
    if value is None:
        return value
    if isinstance(value, bool):  # SQLite serves booleans as 0 / 1
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        v = value.strip().lower()
        if v.lstrip("-").isdigit():
            return str(int(v))
        return v
    return value


# ---------------------------------------------------------------- replay of the events


class MemRows:
    """An in-memory :class:`gateway.indexer.projections.Rows`."""

    def __init__(self) -> None:
        self.state: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {}
        self.logs: dict[str, list[dict[str, Any]]] = {}

    def get(self, table: str, key: tuple[Any, ...]) -> Optional[dict[str, Any]]:
        return self.state.get(table, {}).get(key)

    def put(self, table: str, key: tuple[Any, ...], row: dict[str, Any]) -> None:
        self.state.setdefault(table, {})[key] = row

    def append(self, table: str, row: dict[str, Any]) -> None:
        self.logs.setdefault(table, []).append(row)

    def rows(self, table: str) -> list[dict[str, Any]]:
        if table in pj.STATE_TABLES:
            return list(self.state.get(table, {}).values())
        return list(self.logs.get(table, []))


def replay(events: Iterable[Mapping[str, Any]], timestamps: Mapping[int, int], upto: Optional[int] = None) -> MemRows:
    """The projections' rows of ``events`` (API shape, chain order) up to block ``upto``."""
    rows = MemRows()
    for e in events:
        n = int(e["block_number"])
        if upto is not None and n > upto:
            continue
        ev = DecodedEvent(n, e["block_hash"], e["tx_hash"], int(e.get("tx_index", 0)), int(e["log_index"]),
                          e["address"], e["contract"], e["event"], dict(e["args"]), timestamps.get(n, 0))
        pj.apply(ev, rows)
    return rows


def expected_rows(kind: str, subject_id: int, rows: MemRows) -> dict[str, dict[tuple[str, ...], dict[str, Any]]]:
    """Per table, the rows of this subject keyed by their normalised primary key."""
    out: dict[str, dict[tuple[str, ...], dict[str, Any]]] = {}
    trades = {str(r["trade_id"]).lower() for r in rows.rows("trades") if int(r["voucher_id"]) == subject_id}
    for table, column in TABLES[kind]:
        picked = {}
        for r in rows.rows(table):
            if table == "broker_payments":
                if str(r["trade_id"]).lower() not in trades:
                    continue
            elif int(r[column]) != subject_id:
                continue
            picked[row_key(table, r)] = r
        out[table] = picked
    return out


def row_key(table: str, row: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(str(norm(row.get(k))) for k in KEYS[table])


#: the values of these tables are withheld from callers the redaction policy hides them from
WITHHELD_NAMES = {"voucher_users": "a user authorisation of voucher {voucher_id}",
                  "voucher_uses": "use {use_number} of voucher {voucher_id}",
                  "clearances": "clearance {clearance_id}"}


def subject_name(kind: str, subject_id: int, table: str, row: Mapping[str, Any],
                 withhold: frozenset[str] = frozenset()) -> str:
    """How a check names its subject; for a ``withhold`` table a name that carries no hidden value."""
    def g(k: str) -> Any:
        return row.get(k)

    if table in withhold:
        return WITHHELD_NAMES.get(table, table).format_map({k: row.get(k) for k in ("voucher_id", "use_number", "clearance_id")})

    if table == "vouchers":
        return f"voucher {g('voucher_id')}"
    if table == "assets":
        return f"asset {g('asset_id')}"
    if table == "voucher_transfers":
        return f"transfer of voucher {g('voucher_id')} at block {g('block_number')} log {g('log_index')}"
    if table == "trades":
        t = str(g("trade_id"))
        return f"trade {t[:10]}…{t[-4:]}" if len(t) > 16 else f"trade {t}"
    if table == "voucher_uses":
        return f"use {g('use_number')} of voucher {g('voucher_id')}"
    if table == "voucher_users":
        return f"user {g('user')} of voucher {g('voucher_id')}"
    if table == "broker_payments":
        return f"broker payment at block {g('block_number')} log {g('log_index')}"
    if table == "asset_manifests":
        return f"manifest v{g('version')} of asset {g('asset_id')}"
    if table == "valuations":
        return f"valuation {g('index')} of asset {g('asset_id')}"
    if table == "clearances":
        return f"clearance {g('clearance_id')}"
    return f"{table} {row_key(table, row)}"


# ---------------------------------------------------------------- the contracts' views


def _fn(contract: str, name: str) -> Mapping[str, Any]:
    for entry in load_artifact(contract)["abi"]:
        if entry.get("type") == "function" and entry["name"] == name:
            return dict(entry)
    raise KeyError(f"{contract} has no function {name}")


def call_data(contract: str, name: str, args: Sequence[Any]) -> str:
    from eth_utils.crypto import keccak

    fn = _fn(contract, name)
    types = [abi_type(i) for i in fn["inputs"]]
    selector = keccak(text=f"{name}({','.join(types)})")[:4]
    return "0x" + (selector + abi_encode(types, list(args))).hex()


def _named(params: Sequence[Mapping[str, Any]], values: Sequence[Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i, (p, v) in enumerate(zip(params, values)):
        key = p.get("name") or f"_{i}"
        if str(p["type"]) == "tuple":
            out[key] = _named(p["components"], v)
        elif isinstance(v, bytes):
            out[key] = "0x" + v.hex()
        elif isinstance(v, str) and v.startswith("0x"):
            out[key] = v.lower()
        else:
            out[key] = v
    return out


def decode_return(contract: str, name: str, data: str) -> dict[str, Any]:
    fn = _fn(contract, name)
    values = abi_decode([abi_type(o) for o in fn["outputs"]], bytes.fromhex(data[2:]))
    return _named(fn["outputs"], values)


def view_calls(kind: str, subject_id: int, addresses: Mapping[str, str],
               expected: Mapping[str, Mapping[tuple[str, ...], Mapping[str, Any]]]) -> list[tuple[str, str, str, tuple[Any, ...]]]:
    """(label, contract, function, args) of the views read at the verified block."""
    calls: list[tuple[str, str, str, tuple[Any, ...]]] = []
    if kind == "voucher":
        calls += [("voucher", "DataVoucher", "voucher", (subject_id,)), ("holder", "DataVoucher", "ownerOf", (subject_id,))]
    else:
        calls += [("asset", "AssetRegistry", "assetCore", (subject_id,)),
                  ("latest", "AssetRegistry", "latestManifest", (subject_id,)),
                  ("valuations", "AssetRegistry", "valuationCount", (subject_id,))]
        for key in expected.get("clearances", {}):
            calls.append((f"clearance:{key[0]}", "DataCustoms", "clearance", (int(key[0]),)))
    return calls


def read_views(node: Any, kind: str, subject_id: int, addresses: Mapping[str, str], block: int,
               expected: Mapping[str, Mapping[tuple[str, ...], Mapping[str, Any]]]) -> dict[str, Any]:
    """label -> decoded return value (None when the call reverted, e.g. ownerOf of no voucher)."""
    calls = view_calls(kind, subject_id, addresses, expected)
    replies = node.try_batch([("eth_call", [{"to": addresses[c], "data": call_data(c, f, a)}, hex(block)])
                              for _, c, f, a in calls], phase="rpc_state")
    out: dict[str, Any] = {}
    for (label, contract, fn, _), (ok, value) in zip(calls, replies):
        out[label] = decode_return(contract, fn, value) if ok and value not in (None, "0x") else None
    return out


def _status(enum: Any, value: Any) -> str:
    return str(enum(int(value)).name).lower()


def view_values(kind: str, subject_id: int, views: Mapping[str, Any]) -> dict[str, dict[tuple[str, ...], dict[str, Any]]]:
    """The views mapped onto the projection's columns: {table: {key: {column: value}}}."""
    out: dict[str, dict[tuple[str, ...], dict[str, Any]]] = {}
    sid = (str(subject_id),)
    if kind == "voucher":
        v = (views.get("voucher") or {}).get("_0")
        if v is not None and int(v["core"]["status"]) != VoucherStatus.NONE:
            core = v["core"]
            row = {"asset_id": core["assetId"], "right": core["right"], "status": _status(VoucherStatus, core["status"]),
                   "transferable": core["transferable"], "valid_from": core["validFrom"],
                   "valid_until": core["validUntil"], "max_uses": core["maxUses"], "uses": core["uses"],
                   "issuer": v["issuer"], "scope_hash": v["scopeHash"]}
            holder = views.get("holder")
            if holder is not None:
                row["holder"] = holder["_0"]
            out["vouchers"] = {sid: row}
    else:
        a = views.get("asset")
        if a is not None and int(a["_0"]["status"]) != 0:
            core = a["_0"]
            from ledger.contracts.models import AssetStatus

            row = {"holder": core["holder"], "level": core["level"], "source_type": core["sourceType"],
                   "status": _status(AssetStatus, core["status"]),
                   "home_jurisdiction": pj.text_of(core["homeJurisdiction"]),
                   "manifest_version": int(core["versionCount"]) - 1}
            latest = views.get("latest")
            if latest is not None:
                row["manifest_cid"] = latest["manifest"]["cid"]
                row["content_hash"] = latest["manifest"]["contentHash"]
            if views.get("valuations") is not None:
                row["valuation_count"] = views["valuations"]["_0"]
            out["assets"] = {sid: row}
        cases: dict[tuple[str, ...], dict[str, Any]] = {}
        for label, c in views.items():
            if not label.startswith("clearance:") or c is None:
                continue
            c = c["_0"]
            row = {"asset_id": c["assetId"], "requester": c["requester"], "destination": pj.text_of(c["destination"]),
                   "recipient": c["recipient"], "status": _status(ClearanceState, c["state"]), "purpose_cid": c["purposeCid"]}
            if row["status"] == "approved":
                row.update(expiry=c["expiry"], officer=c["decidedBy"], conditions_cid=c["conditionsCid"])
            elif row["status"] == "rejected":
                row["officer"] = c["decidedBy"]
            cases[(label[len("clearance:"):],)] = row
        out["clearances"] = cases
    return out


# ---------------------------------------------------------------- served vs chain


def redacted_fields(row: Mapping[str, Any]) -> set[str]:
    """Fields an item says it withholds: ``"redacted": ["requester", "args.purpose", ...]`` (a bare
    ``true`` marks every field served as null)."""
    r = row.get("redacted")
    if isinstance(r, list):
        return {str(x).removeprefix("args.") for x in r}
    if r is True:
        return {k for k, v in row.items() if v is None}
    return set()


def check_state(kind: str, subject_id: int, served: Mapping[str, Sequence[Mapping[str, Any]]],
                expected: Mapping[str, Mapping[tuple[str, ...], Mapping[str, Any]]],
                expected_head: Mapping[str, Mapping[tuple[str, ...], Mapping[str, Any]]],
                views: Mapping[str, Mapping[tuple[str, ...], Mapping[str, Any]]], block: int,
                compared_to: int, partial: Iterable[str] = (),
                withhold: frozenset[str] = frozenset()) -> tuple[list[FieldCheck], list[str]]:
    """Field checks of what the gateway serves (``served``: table -> rows, each optionally with
    ``_origin`` and ``redacted``) against the replayed rows ``expected`` (at ``compared_to``) and
    the views (at ``block``). Returns (checks, chain problems: events vs views disagreeing).

    ``withhold``: tables whose values the caller may not see (gateway.services.redaction): their
    fields are still checked, but the checks and problems name them without values."""
    checks: list[FieldCheck] = []
    problems: list[str] = []
    # the chain against itself: replayed events vs views, at the verified block
    for table, by_key in views.items():
        for key, vrow in by_key.items():
            erow = expected_head.get(table, {}).get(key)
            name = subject_name(kind, subject_id, table, erow or dict(zip(KEYS[table], key)), withhold)
            if erow is None:
                problems.append(f"{name}: in the contract's state at block {block} but no event of the history creates it")
                continue
            for f, v in vrow.items():
                if norm(erow.get(f)) != norm(v) and table in withhold:
                    problems.append(f"{name} {f}: events and contract state at block {block} disagree")
                elif norm(erow.get(f)) != norm(v):
                    problems.append(f"{name} {f}: events give {_show(erow.get(f))}, contract state at block {block} "
                                    f"{_show(v)}")
    for table, _ in TABLES[kind]:
        first = len(checks)
        _check_table(kind, subject_id, table, served.get(table), expected.get(table, {}), views, block, compared_to,
                     partial, withhold, checks)
        if table in withhold:
            for c in checks[first:]:
                c.served = c.chain = c.view = None
                c.withheld = True
    return checks, problems


def _check_table(kind: str, subject_id: int, table: str, rows: Optional[Sequence[Mapping[str, Any]]],
                 want: Mapping[tuple[str, ...], Mapping[str, Any]],
                 views: Mapping[str, Mapping[tuple[str, ...], Mapping[str, Any]]], block: int, compared_to: int,
                 partial: Iterable[str], withhold: frozenset[str], checks: list[FieldCheck]) -> None:
    at = f"block {compared_to}"
    if rows is None:  # this source does not serve these rows at all (to this caller): listed, not checked
        for wrow in want.values():
            checks.append(FieldCheck(subject_name(kind, subject_id, table, wrow, withhold), "(row)", "not_served",
                                     chain="on chain", against="not served by this source — not checked",
                                     origin=table))
        return
    seen: set[tuple[str, ...]] = set()
    for row in rows:
        origin = str(row.get("_origin", table))
        key = row_key(table, row)
        name = subject_name(kind, subject_id, table, row, withhold)
        erow = want.get(key)
        if erow is None:
            checks.append(FieldCheck(name, "(row)", "mismatch", served="served", chain=None,
                                     against=f"no such {table[:-1].replace('_', ' ')} on chain at {at}",
                                     origin=origin))
            continue
        seen.add(key)
        hidden = redacted_fields(row)
        vrow = views.get(table, {}).get(key, {}) if compared_to == block else {}
        for f, value in row.items():
            if f.startswith("_"):
                continue
            if f in hidden:
                checks.append(FieldCheck(name, f, "redacted", against="not served — not checked", origin=origin))
            elif f in erow:
                ok = norm(value) == norm(erow[f])
                against = f"events to {at}" + (f" + eth_call at block {block}" if f in vrow else "")
                checks.append(FieldCheck(name, f, "ok" if ok else "mismatch", served=value, chain=erow[f],
                                         view=vrow.get(f), against=against, origin=origin))
            else:
                checks.append(FieldCheck(name, f, "unverified", served=value,
                                         against="presentation field: no chain counterpart", origin=origin))
    for key, erow in want.items():
        if key not in seen and table in set(partial):
            checks.append(FieldCheck(subject_name(kind, subject_id, table, erow, withhold), "(row)", "not_served",
                                     chain="on chain", against="not served to this caller — not checked",
                                     origin=table))
        elif key not in seen:
            checks.append(FieldCheck(subject_name(kind, subject_id, table, erow, withhold), "(row)", "mismatch",
                                     served=None, chain="on chain", against=f"on chain at {at}, not served",
                                     origin=table))


def latest_manifest(w3: Any, registry: str, asset_id: int) -> Optional[dict[str, Any]]:
    """``AssetRegistry.latestManifest(asset_id)`` at the node's head, by ``eth_call``:
    ``{"block", "version", "manifest_cid" (0x hex), "content_hash"}``; None when the node is
    unreachable or the asset unknown (the call reverts)."""
    try:
        block = int(w3.eth.block_number)
    except Exception:  # node unreachable: not verified
        return None
    try:
        raw = w3.eth.call({"to": w3.to_checksum_address(registry),
                           "data": call_data("AssetRegistry", "latestManifest", (int(asset_id),))}, block)
        out = decode_return("AssetRegistry", "latestManifest", "0x" + bytes(raw).hex())
    except Exception as exc:
        return {"block": block, "error": f"{type(exc).__name__}: {str(exc)[:120]}"}
    return {"block": block, "version": int(out["version"]), "manifest_cid": out["manifest"]["cid"],
            "content_hash": out["manifest"]["contentHash"]}
