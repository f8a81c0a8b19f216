"""Which events make up the history of a voucher or an asset: ONE definition shared by the chain
rebuild (eth_getLogs topic filters), the offline bundle check (bloom + receipt scan) and the SQL
reader of the gateway's ``events`` table (:func:`select_history`). It is the selection the
provenance API serves (gateway.services.provenance), generated from the contract ABIs:

Voucher ``V``:
  every DataVoucher event with ``voucherId == V`` (VoucherIssued, UserAuthorised, VoucherUsed,
  VoucherFrozen / Unfrozen / Revoked, RecoveryProposed / Cancelled, VoucherRecovered) and the
  ERC-721 standard's own Transfer and Approval with ``tokenId == V``; TradeSettlement
  ``TradeSettled`` with ``voucherId == V``, and ``BrokerPaid`` of those trades (``tradeId`` in the
  settled trade ids).
Asset ``A``:
  every event of the market's contracts with ``assetId == A``: AssetRegistered, ManifestUpdated,
  ValuationRecorded, AssetFrozen / Unfrozen / Revoked; the DataCustoms clearances of the
  asset; the DataVoucher events over it (VoucherIssued, VoucherUsed, VoucherFrozen / Unfrozen /
  Revoked, RecoveryProposed / Cancelled, VoucherRecovered).

Participant ``P`` (an account address; :data:`PARTICIPANT_RULES`, not a numbered history kind):
  the ParticipantRegistry events with ``account == P`` (AccountAdded / Removed, AccountRolesChanged,
  LicenceExpirySet, AccountSuspended / Reinstated), and the organisation events
  (OrganisationRegistered / Suspended / Reinstated, OfficerChanged, OrganisationProfileSet) of every ``orgId`` those
  account events name (the organisations ``P`` belonged to).

Every key argument is indexed, so each rule is one topic filter.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional

from eth_utils.crypto import keccak

from gateway.indexer.decode import abi_type
from ledger.artifacts import load_artifact

KINDS = ("voucher", "asset")

MANIFEST_EVENTS = ("AssetRegistered", "ManifestUpdated")
#: contracts whose events can belong to a history
HISTORY_CONTRACTS = ("AssetRegistry", "DataCustoms", "DataVoucher", "TradeSettlement")


@dataclass(frozen=True)
class Rule:
    """Events ``names`` of ``contract`` whose argument ``arg`` (topic number ``topic``) is the key."""

    contract: str
    names: tuple[str, ...]
    arg: str
    topic: int
    #: "subject": the voucher/asset id; "trades": a trade id of the voucher's TradeSettled events
    key: str = "subject"


def _rules_for(arg: str, contracts: Sequence[str]) -> list[Rule]:
    """One rule per (contract, topic position) of the events having an indexed input ``arg``."""
    out = []
    for contract in contracts:
        groups: dict[int, list[str]] = {}
        for entry in load_artifact(contract)["abi"]:
            if entry.get("type") != "event" or entry.get("anonymous"):
                continue
            indexed = [i["name"] for i in entry["inputs"] if i.get("indexed")]
            names = [i["name"] for i in entry["inputs"]]
            if arg not in names:
                continue
            if arg not in indexed:
                raise RuntimeError(f"{contract}.{entry['name']}: {arg} is not indexed (no topic filter)")
            groups.setdefault(1 + indexed.index(arg), []).append(entry["name"])
        for topic, names_ in sorted(groups.items()):
            out.append(Rule(contract, tuple(sorted(set(names_))), arg, topic))
    return out


RULES: dict[str, tuple[Rule, ...]] = {
    "voucher": (
        *_rules_for("voucherId", ["DataVoucher"]),  # DataVoucher's own events
        *_rules_for("tokenId", ["DataVoucher"]),  # the ERC-721 standard's Transfer, Approval
        *_rules_for("voucherId", ["TradeSettlement"]),
        Rule("TradeSettlement", ("BrokerPaid",), "tradeId", 1, key="trades"),
    ),
    "asset": tuple(_rules_for("assetId", HISTORY_CONTRACTS)),
}

#: a participant's account events and the events of its organisations (key "orgs": the orgIds its
#: account events name)
ACCOUNT_EVENTS = ("AccountAdded", "AccountReinstated", "AccountRemoved", "AccountRolesChanged", "AccountSuspended",
                  "LicenceExpirySet")
ORGANISATION_EVENTS = ("OfficerChanged", "OrganisationProfileSet", "OrganisationRegistered", "OrganisationReinstated",
                       "OrganisationSuspended")


def _named_rule(contract: str, names: Sequence[str], arg: str, key: str = "subject") -> Rule:
    """The rule of events ``names`` keyed by ``arg``: it must be indexed at the same topic in each."""
    rules = [r for r in _rules_for(arg, [contract]) if set(names) & set(r.names)]
    if len(rules) != 1 or not set(names) <= set(rules[0].names):
        raise RuntimeError(f"{contract}: {arg} is not one indexed topic of {names}")
    return Rule(contract, tuple(sorted(names)), arg, rules[0].topic, key=key)


PARTICIPANT_RULES: tuple[Rule, ...] = (
    _named_rule("ParticipantRegistry", ACCOUNT_EVENTS, "account"),
    _named_rule("ParticipantRegistry", ORGANISATION_EVENTS, "orgId", key="orgs"),
)
RULES["participant"] = PARTICIPANT_RULES

_TOPIC0: dict[tuple[str, str], str] = {}


def topic0(contract: str, event: str) -> str:
    """keccak of the event signature from the shipped ABI (0x hex)."""
    key = (contract, event)
    if key not in _TOPIC0:
        for entry in load_artifact(contract)["abi"]:
            if entry.get("type") == "event" and entry["name"] == event:
                sig = f"{event}({','.join(abi_type(i) for i in entry['inputs'])})"
                _TOPIC0[key] = "0x" + keccak(text=sig).hex()
                break
        else:
            raise KeyError(f"{contract} has no event {event}")
    return _TOPIC0[key]


def check_kind(kind: str) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown history kind {kind!r} (voucher or asset)")
    return kind


def uint_topic(value: int) -> str:
    return "0x" + int(value).to_bytes(32, "big").hex()


def same_id(value: Any, wanted: int) -> bool:
    try:
        return int(str(value), 0) == wanted if isinstance(value, str) and value.startswith("0x") \
            else int(value) == wanted
    except (TypeError, ValueError):
        return False


def matches(kind: str, subject_id: int, contract: str, event: str, args: Mapping[str, Any],
            trade_ids: Optional[set[str]] = None) -> bool:
    """Whether a decoded event belongs to the history (``trade_ids``: the voucher's trades)."""
    for rule in RULES[kind]:
        if contract != rule.contract or event not in rule.names:
            continue
        value = args.get(rule.arg)
        if rule.key == "trades":
            if trade_ids is not None and isinstance(value, str) and value.lower() in trade_ids:
                return True
        elif same_id(value, subject_id):
            return True
    return False


def filter_history(kind: str, subject_id: int, events: Iterable[Any]) -> list[Any]:
    """Select, in the given order, the history of ``subject_id`` from decoded events (objects with
    ``contract``, ``event`` (or ``name``) and ``args``). Trade ids are collected in a first pass."""
    check_kind(kind)
    items = list(events)

    def parts(ev: Any) -> tuple[Any, Any, Any]:
        if isinstance(ev, Mapping):
            return ev["contract"], ev["event"], ev["args"]
        return ev.contract, getattr(ev, "event", None) or getattr(ev, "name", ""), ev.args

    trades: set[str] = set()
    if kind == "voucher":
        for ev in items:
            contract, event, args = parts(ev)
            if contract == "TradeSettlement" and event == "TradeSettled" and same_id(args.get("voucherId"), subject_id):
                trades.add(str(args.get("tradeId", "")).lower())
    return [ev for ev in items if matches(kind, subject_id, *parts(ev), trade_ids=trades)]


def trade_ids_of(events: Iterable[Mapping[str, Any]]) -> list[str]:
    return sorted({str(e["args"]["tradeId"]).lower() for e in events
                   if e["contract"] == "TradeSettlement" and e["event"] == "TradeSettled"})


def log_filters(kind: str, subject_id: int, addresses: Mapping[str, str],
                trade_ids: Sequence[str] = ()) -> list[dict[str, Any]]:
    """eth_getLogs filters (without block range) of the history. With ``trade_ids`` empty the
    BrokerPaid rule is left out (it needs the trade ids the first round returns)."""
    out = []
    for rule in RULES[check_kind(kind)]:
        if rule.key == "trades":
            if not trade_ids:
                continue
            value: Any = list(trade_ids)
        else:
            value = uint_topic(subject_id)
        topics: list[Any] = [[topic0(rule.contract, n) for n in rule.names]]
        topics += [None] * (rule.topic - 1)
        topics.append(value)
        out.append({"address": addresses[rule.contract], "topics": topics, "_rule": rule})
    return out


def sql_candidates(kind: str, subject_id: int, trade_ids: Sequence[str] = ()) -> list[tuple[str, tuple[str, ...], str]]:
    """(contract, event names, LIKE pattern on the canonical args JSON) per rule: a prefilter the
    exact :func:`matches` check follows (uint256 ids are JSON strings in canonical args)."""
    out = []
    for rule in RULES[check_kind(kind)]:
        if rule.key == "trades":
            for t in trade_ids:
                out.append((rule.contract, rule.names, f'%"{rule.arg}":"{t.lower()}"%'))
        else:
            out.append((rule.contract, rule.names, f'%"{rule.arg}":"{int(subject_id)}"%'))
    return out


def links_of(contract: str, event: str, args: Mapping[str, Any], voucher_assets: Mapping[int, int],
             trade_vouchers: Mapping[str, int]) -> dict[str, Any]:
    """Chain-side links of one event: asset_id, voucher_id, trade_id, clearance_id (None when n/a).
    ``voucher_assets``: voucher id -> asset id (VoucherIssued); ``trade_vouchers``: trade -> voucher."""

    def num(key: str) -> Optional[int]:
        v = args.get(key)
        try:
            return int(v) if v is not None else None
        except (TypeError, ValueError):
            return None

    links: dict[str, Any] = {"asset_id": num("assetId"), "voucher_id": None, "trade_id": None, "clearance_id": None}
    if contract == "DataVoucher":
        links["voucher_id"] = num("voucherId") if "voucherId" in args else num("tokenId")
    elif contract == "TradeSettlement":
        trade = args.get("tradeId")
        links["trade_id"] = str(trade).lower() if trade is not None else None
        links["voucher_id"] = num("voucherId")
        if links["voucher_id"] is None and links["trade_id"] is not None:
            links["voucher_id"] = trade_vouchers.get(links["trade_id"])
    elif contract == "DataCustoms":
        links["clearance_id"] = num("clearanceId")
    if links["asset_id"] is None and links["voucher_id"] is not None:
        links["asset_id"] = voucher_assets.get(links["voucher_id"])
    return links


def _select_events(conn: Any, contract: str, names: Sequence[str], pattern: str,
                   rows: dict[tuple[int, int], dict[str, Any]]) -> None:
    """Rows of the gateway's ``events`` table of ``contract``'s events ``names`` whose JSON args
    match the LIKE ``pattern``, ``args`` parsed, into ``rows`` by (block, log index)."""
    from sqlalchemy import text

    from gateway.indexer.decode import loads

    params: dict[str, Any] = {"contract": contract, "pattern": pattern}
    marks = []
    for i, n in enumerate(names):
        params[f"e{i}"] = n
        marks.append(f":e{i}")
    sql = text("SELECT block_number, log_index, block_hash, tx_hash, tx_index, address, contract, "
               f"event, args FROM events WHERE contract = :contract AND event IN ({', '.join(marks)}) "
               "AND args LIKE :pattern")
    for r in conn.execute(sql, params):
        m = r._mapping
        row = dict(m)
        row["args"] = loads(m["args"])
        rows[(int(m["block_number"]), int(m["log_index"]))] = row


def select_history(conn: Any, kind: str, subject_id: int) -> list[dict[str, Any]]:
    """The history rows of the gateway's ``events`` table in chain order (block, log index), with
    ``args`` parsed: for the provenance API and :class:`gateway.verify.sources.SqlSource`.
    ``conn``: a SQLAlchemy Connection."""
    def fetch(cands: list[tuple[str, tuple[str, ...], str]]) -> list[dict[str, Any]]:
        rows: dict[tuple[int, int], dict[str, Any]] = {}
        for contract, names, pattern in cands:
            _select_events(conn, contract, names, pattern, rows)
        return [rows[k] for k in sorted(rows)]

    check_kind(kind)
    first = fetch(sql_candidates(kind, subject_id))
    trades = trade_ids_of([r for r in first if matches(kind, subject_id, r["contract"], r["event"], r["args"])]) \
        if kind == "voucher" else []
    rows = fetch(sql_candidates(kind, subject_id, trades)) if trades else first
    return filter_history(kind, subject_id, rows)


# ---------------------------------------------------------------- participants (keyed by address)


def check_account(text: Any) -> str:
    """``0x`` + 40 hex digits, lowercased; ValueError with a readable reason otherwise."""
    t = str(text).strip()
    body = t[2:] if t[:2] in ("0x", "0X") else ""
    if len(body) != 40 or any(c not in "0123456789abcdefABCDEF" for c in body):
        raise ValueError(f"not an account address (0x and 40 hex digits): {text!r}")
    return "0x" + body.lower()


def address_topic(account: str) -> str:
    return "0x" + "00" * 12 + check_account(account)[2:]


def participant_org_ids(account: str, events: Iterable[Any]) -> list[str]:
    """The orgIds the participant's account events name (its organisations, in order of first use)."""
    acct = check_account(account)
    out: list[str] = []
    for ev in events:
        contract, event, args = _parts(ev)
        if (contract == PARTICIPANT_RULES[0].contract and event in ACCOUNT_EVENTS
                and str(args.get("account", "")).lower() == acct):
            org = str(args.get("orgId", "")).lower()
            if org and org not in out:
                out.append(org)
    return out


def _parts(ev: Any) -> tuple[Any, Any, Any]:
    if isinstance(ev, Mapping):
        return ev["contract"], ev["event"], ev["args"]
    return ev.contract, getattr(ev, "event", None) or getattr(ev, "name", ""), ev.args


def participant_matches(account: str, contract: str, event: str, args: Mapping[str, Any],
                        org_ids: Iterable[str]) -> bool:
    """Whether a decoded event belongs to the participant's history (``org_ids``: its organisations)."""
    orgs = {o.lower() for o in org_ids}
    for rule in PARTICIPANT_RULES:
        if contract != rule.contract or event not in rule.names:
            continue
        value = str(args.get(rule.arg, "")).lower()
        if (rule.key == "orgs" and value in orgs) or (rule.key == "subject" and value == account):
            return True
    return False


def filter_participant(account: str, events: Iterable[Any]) -> list[Any]:
    """Select, in the given order, the participant's history (its organisations found first)."""
    acct = check_account(account)
    items = list(events)
    orgs = participant_org_ids(acct, items)
    return [ev for ev in items if participant_matches(acct, *_parts(ev), org_ids=orgs)]


def participant_log_filters(account: str, addresses: Mapping[str, str],
                            org_ids: Sequence[str] = ()) -> list[dict[str, Any]]:
    """eth_getLogs filters of the participant's history: the account rule, and with ``org_ids`` the
    organisation rule (it needs the orgIds the first round returns)."""
    out = []
    for rule in PARTICIPANT_RULES:
        if rule.key == "orgs":
            if not org_ids:
                continue
            value: Any = [o.lower() for o in org_ids]
        else:
            value = address_topic(account)
        topics: list[Any] = [[topic0(rule.contract, n) for n in rule.names]]
        topics += [None] * (rule.topic - 1)
        topics.append(value)
        out.append({"address": addresses[rule.contract], "topics": topics, "_rule": rule})
    return out


def select_participant_history(conn: Any, account: str) -> list[dict[str, Any]]:
    """The participant's history rows of the gateway's ``events`` table in chain order (the same
    rules as the chain side); ``conn``: a SQLAlchemy Connection."""
    acct = check_account(account)
    rows: dict[tuple[int, int], dict[str, Any]] = {}

    def fetch(rule: Rule, value: str) -> None:
        _select_events(conn, rule.contract, rule.names, f'%"{rule.arg}":"{value}"%', rows)

    account_rule, org_rule = PARTICIPANT_RULES
    fetch(account_rule, acct)
    for org in participant_org_ids(acct, list(rows.values())):
        fetch(org_rule, org)
    return filter_participant(acct, [rows[k] for k in sorted(rows)])
