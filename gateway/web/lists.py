"""List pages: organisations, assets, vouchers, trades, uses, clearances — filters (jurisdiction,
level, right, status, period), pagination, and the same rows as CSV (UTF-8 with BOM, so Excel
shows the Chinese). One spec per list: its SQL, its filters, its columns (a cell for the page and
the same value as text for the CSV)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date as Date
from datetime import datetime, timedelta
from datetime import time as Time
from typing import Any, Optional

from markupsafe import Markup
from sqlalchemy import Connection, text

from gateway.api.common import bounded_total
from gateway.core import units
from gateway.services import redaction
from gateway.web import fmt
from gateway.web.i18n import N_, _, current_tz, zone
from gateway.web.names import Names

MAX_LIMIT = 500
DEFAULT_LIMIT = 50


class BadFilter(ValueError):
    """A filter value the page refuses (400 page naming the parameter)."""

    def __init__(self, param: str, value: str, expected: str) -> None:
        super().__init__(f"{param}={value!r}: {expected}")
        self.param = param
        self.value = value
        self.expected = expected


@dataclass
class Column:
    key: str
    label: str  # msgid
    html: Callable[[Any, Names], Any]
    text: Callable[[Any, Names], str]
    numeric: bool = False


@dataclass
class Filter:
    name: str
    label: str  # msgid
    choices: list[tuple[str, str]] = field(default_factory=list)  # (value, msgid); empty: free text / date


@dataclass
class ListSpec:
    name: str
    title: str  # msgid
    sql: str  # SELECT ... FROM ... (aliases used by the conditions)
    order: str
    conditions: dict[str, str]  # filter name -> SQL condition with :value
    period: Optional[str]  # SQL expression of the row's unix time
    columns: list[Column]
    filters: list[Filter]
    restricted: bool = False  # rows depend on the viewer (uses)
    row_class: str = ""  # an extra class of each row
    row_id: Optional[Callable[[Any], str]] = None  # an anchor per row (/clearances#clearance-1)


def _status_choices(*names: str) -> list[tuple[str, str]]:
    return [(n, fmt.STATUSES[n]) for n in names]


JURISDICTION_CHOICES: list[tuple[str, str]] = [(k, v) for k, v in fmt.JURISDICTIONS.items()]
LEVEL_CHOICES = [(str(k), v) for k, v in fmt.LEVELS.items()]
RIGHT_CHOICES = [("holding", fmt.RIGHTS[0]), ("use", fmt.RIGHTS[1]), ("operating", fmt.RIGHTS[2])]
SOURCE_CHOICES = [(str(k), v) for k, v in fmt.SOURCE_TYPES.items()]
ROLE_CHOICES = [(k, v) for k, v in fmt.ROLES.items()]

F_JUR = Filter("jurisdiction", N_("Jurisdiction"), JURISDICTION_CHOICES)
F_LEVEL = Filter("level", N_("Level"), LEVEL_CHOICES)
F_RIGHT = Filter("right", N_("Right"), RIGHT_CHOICES)
F_SOURCE = Filter("source_type", N_("Source type"), SOURCE_CHOICES)
F_FROM = Filter("from", N_("From"))
F_TO = Filter("to", N_("To"))


def _money_cell(key: str) -> Column:
    return Column(key, "", lambda r, n: fmt.money(r[key]), lambda r, n: units.yuan(r[key]), numeric=True)


def _c(key: str, label: str, html: Callable[[Any, Names], Any], txt: Optional[Callable[[Any, Names], str]] = None,
       numeric: bool = False) -> Column:
    return Column(key, label, html, txt or (lambda r, n: str(html(r, n))), numeric)


def _time(key: str, label: str) -> Column:
    return Column(key, label, lambda r, n: fmt.ts(r[key]), lambda r, n: fmt.iso_local(r[key]))


def _roles(mask: Any) -> str:
    from ledger.contracts.models import Role

    return "、".join(fmt.role(r.name.lower()) for r in Role if r.name is not None and int(mask or 0) & int(r))


ROLE_BITS = {"authority": 0, "operator": 0, "exchange": 0, "broker": 0, "appraiser": 0, "customs": 0,
             "regulator": 0, "holder": 0}


def _role_bit(name: str) -> int:
    from ledger.contracts.models import Role

    return int(Role[name.upper()])


ORGANISATIONS = ListSpec(
    name="participants", title=N_("Organisations"),
    sql="SELECT o.org_id, o.jurisdiction, o.allowed_roles, o.officer, o.status, o.registered_block, "
        "b.timestamp AS registered_at, (SELECT COUNT(*) FROM participants p WHERE p.org_id = o.org_id) AS accounts "
        "FROM organisations o LEFT JOIN blocks b ON b.number = o.registered_block",
    order="o.registered_block, o.org_id",
    conditions={"jurisdiction": "o.jurisdiction = :jurisdiction", "status": "o.status = :status",
                "role": "(o.allowed_roles & :role) != 0"},
    period="b.timestamp",
    columns=[
        _c("organisation", N_("Organisation"), lambda r, n: n.org_link(r["org_id"]), lambda r, n: n.org_text(r["org_id"])),
        _c("org_id", N_("Organisation id"), lambda r, n: Markup(f'<code class="raw" title="{r["org_id"]}">{fmt.short(r["org_id"], 8)}</code>'),
           lambda r, n: str(r["org_id"])),
        _c("jurisdiction", N_("Jurisdiction"), lambda r, n: fmt.jurisdiction(r["jurisdiction"])),
        _c("roles", N_("Roles"), lambda r, n: _roles(r["allowed_roles"])),
        _c("accounts", N_("Accounts"), lambda r, n: fmt.number(r["accounts"]), numeric=True),
        _c("status", N_("Status"), lambda r, n: fmt.status(r["status"])),
        _time("registered_at", N_("Registered")),
    ],
    filters=[F_JUR, Filter("role", N_("Role"), ROLE_CHOICES),
             Filter("status", N_("Status"), _status_choices("active", "suspended")), F_FROM, F_TO],
)

ASSETS = ListSpec(
    name="assets", title=N_("Data assets"),
    sql="SELECT a.* FROM assets a",
    order="a.asset_id",
    conditions={"jurisdiction": "a.home_jurisdiction = :jurisdiction", "level": "a.level = :level",
                "status": "a.status = :status", "source_type": "a.source_type = :source_type"},
    period="a.registered_at",
    columns=[
        _c("asset", N_("Data asset"), lambda r, n: n.asset_link(r["asset_id"]), lambda r, n: n.asset_text(r["asset_id"])),
        _c("asset_id", N_("Asset id"), lambda r, n: str(r["asset_id"]), numeric=True),
        _c("holder", N_("Holder"), lambda r, n: n.account_link(r["holder"]), lambda r, n: n.account_text(r["holder"])),
        _c("level", N_("Level"), lambda r, n: fmt.level(r["level"])),
        _c("source_type", N_("Source type"), lambda r, n: fmt.source_type(r["source_type"])),
        _c("jurisdiction", N_("Home jurisdiction"), lambda r, n: fmt.jurisdiction(r["home_jurisdiction"])),
        _c("valuations", N_("Valuations"), lambda r, n: fmt.number(r["valuation_count"]), numeric=True),
        _c("status", N_("Status"), lambda r, n: fmt.status(r["status"])),
        _time("registered_at", N_("Registered")),
    ],
    filters=[F_JUR, F_LEVEL, F_SOURCE, Filter("status", N_("Status"), _status_choices("active", "frozen", "revoked")),
             F_FROM, F_TO],
)

VOUCHERS = ListSpec(
    name="vouchers", title=N_("Data vouchers"),
    sql="SELECT v.*, a.level, a.home_jurisdiction, p.jurisdiction AS holder_jurisdiction, "
        "CASE WHEN v.status = 'active' AND v.valid_until < :now THEN 'expired' ELSE v.status END AS effective_status "
        "FROM vouchers v LEFT JOIN assets a ON a.asset_id = v.asset_id "
        "LEFT JOIN participants p ON p.account = v.holder",
    order="v.voucher_id",
    conditions={"jurisdiction": "p.jurisdiction = :jurisdiction", "level": "a.level = :level",
                "right": "v.\"right\" = :right",
                # the effective status, written so that the index (status, voucher_id) serves it: the stored
                # status compared with an expression of the parameter only, then the expiry for active/expired
                "status": "v.status = (CASE WHEN :status = 'expired' THEN 'active' ELSE :status END) AND "
                          "(:status NOT IN ('active', 'expired') OR (v.valid_until < :now) = (:status = 'expired'))"},
    period="v.issued_at",
    columns=[
        _c("voucher", N_("Voucher"), lambda r, n: n.voucher_link(r["voucher_id"]), lambda r, n: str(r["voucher_id"])),
        _c("asset", N_("Data asset"), lambda r, n: n.asset_link(r["asset_id"]), lambda r, n: n.asset_text(r["asset_id"])),
        _c("right", N_("Right"), lambda r, n: fmt.right(r["right"])),
        _c("holder", N_("Holder"), lambda r, n: n.account_link(r["holder"]), lambda r, n: n.account_text(r["holder"])),
        _c("jurisdiction", N_("Holder's jurisdiction"), lambda r, n: fmt.jurisdiction(r["holder_jurisdiction"])),
        _c("uses", N_("Uses"), lambda r, n: f"{r['uses']}/{r['max_uses'] or '∞'}", numeric=True),
        _time("valid_until", N_("Valid until")),
        _c("status", N_("Status"), lambda r, n: fmt.status(r["effective_status"])),
        _time("issued_at", N_("Issued")),
    ],
    filters=[F_JUR, F_LEVEL, F_RIGHT,
             Filter("status", N_("Status"), _status_choices("active", "frozen", "revoked", "expired")), F_FROM, F_TO],
)

TRADES = ListSpec(
    name="trades", title=N_("Trades"),
    sql="SELECT t.*, v.\"right\" AS voucher_right, a.level, ps.jurisdiction AS seller_jurisdiction, "
        "pb.jurisdiction AS buyer_jurisdiction FROM trades t LEFT JOIN vouchers v ON v.voucher_id = t.voucher_id "
        "LEFT JOIN assets a ON a.asset_id = t.asset_id LEFT JOIN participants ps ON ps.account = t.seller "
        "LEFT JOIN participants pb ON pb.account = t.buyer",
    order="t.block_number DESC, t.log_index DESC",
    conditions={"jurisdiction": "(ps.jurisdiction = :jurisdiction OR pb.jurisdiction = :jurisdiction)",
                "level": "a.level = :level", "right": "v.\"right\" = :right"},
    period="t.settled_at",
    columns=[
        _time("settled_at", N_("Settled")),
        _c("voucher", N_("Voucher"), lambda r, n: n.voucher_link(r["voucher_id"]), lambda r, n: str(r["voucher_id"])),
        _c("asset", N_("Data asset"), lambda r, n: n.asset_link(r["asset_id"]), lambda r, n: n.asset_text(r["asset_id"])),
        _c("right", N_("Right"), lambda r, n: fmt.right(r["voucher_right"])),
        _c("seller", N_("Seller"), lambda r, n: n.account_link(r["seller"]), lambda r, n: n.account_text(r["seller"])),
        _c("buyer", N_("Buyer"), lambda r, n: n.account_link(r["buyer"]), lambda r, n: n.account_text(r["buyer"])),
        _c("exchange", N_("Exchange"), lambda r, n: n.account_link(r["exchange"]), lambda r, n: n.account_text(r["exchange"])),
        Column("price", N_("Price (CNY)"), lambda r, n: fmt.money(r["price"]), lambda r, n: units.yuan(r["price"]), True),
        Column("fee", N_("Fee (CNY)"), lambda r, n: fmt.money(r["fee"]), lambda r, n: units.yuan(r["fee"]), True),
        _c("trade_id", N_("Trade id"), lambda r, n: Markup(f'<code id="trade-{r["trade_id"]}" title="{r["trade_id"]}">'
                                                          f'{fmt.short(r["trade_id"], 8)}</code>'),
           lambda r, n: str(r["trade_id"])),
    ],
    filters=[F_JUR, F_LEVEL, F_RIGHT, F_FROM, F_TO],
)

USES = ListSpec(
    name="uses", title=N_("Uses"),
    sql="SELECT u.*, v.\"right\" AS voucher_right, a.level, pu.jurisdiction AS user_jurisdiction "
        "FROM voucher_uses u LEFT JOIN vouchers v ON v.voucher_id = u.voucher_id "
        "LEFT JOIN assets a ON a.asset_id = u.asset_id LEFT JOIN participants pu ON pu.account = u.user",
    order="u.block_number DESC, u.log_index DESC",
    conditions={"jurisdiction": "pu.jurisdiction = :jurisdiction", "level": "a.level = :level",
                "right": "v.\"right\" = :right"},
    period="u.used_at",
    columns=[
        _time("used_at", N_("Used")),
        _c("voucher", N_("Voucher"), lambda r, n: n.voucher_link(r["voucher_id"]), lambda r, n: str(r["voucher_id"])),
        _c("use_number", N_("Use no."), lambda r, n: str(r["use_number"]), numeric=True),
        _c("asset", N_("Data asset"), lambda r, n: n.asset_link(r["asset_id"]), lambda r, n: n.asset_text(r["asset_id"])),
        _c("right", N_("Right"), lambda r, n: fmt.right(r["voucher_right"])),
        _c("user", N_("User"), lambda r, n: n.account_link(r["user"]), lambda r, n: n.account_text(r["user"])),
        _c("holder", N_("Holder"), lambda r, n: n.account_link(r["holder"]), lambda r, n: n.account_text(r["holder"])),
        _c("purpose", N_("Purpose (hash)"), lambda r, n: Markup(f'<code title="{r["purpose_hash"]}">'
                                                               f'{fmt.short(r["purpose_hash"], 8)}</code>'),
           lambda r, n: str(r["purpose_hash"])),
    ],
    filters=[F_JUR, F_LEVEL, F_RIGHT, F_FROM, F_TO],
    restricted=True,
)

CLEARANCES = ListSpec(
    name="clearances", title=N_("Clearances"),
    sql="SELECT c.*, a.level, b.timestamp AS requested_at FROM clearances c "
        "LEFT JOIN assets a ON a.asset_id = c.asset_id LEFT JOIN blocks b ON b.number = c.requested_block",
    order="c.clearance_id",
    conditions={"jurisdiction": "c.destination = :jurisdiction", "level": "a.level = :level",
                "status": "c.status = :status"},
    period="b.timestamp",
    columns=[
        _c("case", N_("Case"), lambda r, n: Markup(f'<a href="/clearances/{r["clearance_id"]}">'
                                                  f'{_("Clearance %(id)s", id=r["clearance_id"])}</a>'),
           lambda r, n: str(r["clearance_id"])),
        _c("asset", N_("Data asset"), lambda r, n: n.asset_link(r["asset_id"]), lambda r, n: n.asset_text(r["asset_id"])),
        _c("destination", N_("Destination"), lambda r, n: fmt.jurisdiction(r["destination"])),
        _c("requester", N_("Requester"), lambda r, n: _hidden(r, "requester") or n.account_link(r["requester"]),
           lambda r, n: _hidden_text(r, "requester") or n.account_text(r["requester"])),
        _c("recipient", N_("Recipient"), lambda r, n: _hidden(r, "recipient") or n.account_link(r["recipient"]),
           lambda r, n: _hidden_text(r, "recipient") or n.account_text(r["recipient"])),
        _c("status", N_("Status"), lambda r, n: fmt.status(r["status"])),
        _c("officer", N_("Officer"), lambda r, n: _hidden(r, "officer") or n.account_link(r["officer"]),
           lambda r, n: _hidden_text(r, "officer") or n.account_text(r["officer"])),
        _time("expiry", N_("Expiry")),
        _time("requested_at", N_("Requested")),
    ],
    row_class="clearance", row_id=lambda r: f"clearance-{r['clearance_id']}",
    filters=[Filter("jurisdiction", N_("Destination"), JURISDICTION_CHOICES), F_LEVEL,
             Filter("status", N_("Status"), _status_choices("requested", "approved", "rejected", "revoked")),
             F_FROM, F_TO],
)

SPECS = {s.name: s for s in (ORGANISATIONS, ASSETS, VOUCHERS, TRADES, USES, CLEARANCES)}


def _hidden(row: Any, key: str) -> Optional[Markup]:
    if key in (row.get("redacted") or []):
        return Markup(f'<em class="redacted" data-redacted="{key}">{_("hidden")}</em>')
    return None


def _hidden_text(row: Any, key: str) -> Optional[str]:
    return _("hidden") if key in (row.get("redacted") or []) else None


# ---------------------------------------------------------------- parsing the filters

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _day_start(value: str, param: str) -> int:
    if not _DATE.match(value):
        raise BadFilter(param, value, _("a date as YYYY-MM-DD"))
    try:
        d = Date.fromisoformat(value)
    except ValueError:
        raise BadFilter(param, value, _("a date as YYYY-MM-DD")) from None
    return int(datetime.combine(d, Time(0), tzinfo=zone(current_tz())).timestamp())


def period_bounds(params: dict[str, str]) -> tuple[Optional[int], Optional[int]]:
    """?from / ?to (dates in the viewer's zone, both inclusive) -> unix bounds (None: open)."""
    lo = _day_start(params["from"], "from") if params.get("from") else None
    hi = _day_start(params["to"], "to") + 86399 if params.get("to") else None
    if lo is not None and hi is not None and lo > hi:
        raise BadFilter("to", params["to"], _("a date on or after %(date)s", date=params["from"]))
    return lo, hi


def parse(spec: ListSpec, query: dict[str, str]) -> tuple[dict[str, Any], dict[str, str], int, int]:
    """(SQL params of the filters set, the filters as given, limit, offset); BadFilter on bad input."""
    given = {f.name: (query.get(f.name) or "").strip() for f in spec.filters}
    params: dict[str, Any] = {}
    for f in spec.filters:
        value = given[f.name]
        if not value or f.name in ("from", "to"):
            continue
        if f.choices:
            allowed = [c for c, _label in f.choices]
            if f.name == "jurisdiction":
                if not re.fullmatch(r"[A-Za-z]{2}", value):
                    raise BadFilter(f.name, value, _("a two-letter jurisdiction code such as CN or HK"))
                value = value.upper()
                given[f.name] = value
            elif value not in allowed:
                raise BadFilter(f.name, value, _("one of: %(values)s", values=", ".join(allowed)))
        if f.name == "level" or f.name == "source_type":
            params[f.name] = int(value)
        elif f.name == "right":
            params[f.name] = fmt.RIGHT_CODES[value]
        elif f.name == "role":
            params[f.name] = _role_bit(value)
        else:
            params[f.name] = value
    lo, hi = period_bounds(given)
    if lo is not None:
        params["since"] = lo
    if hi is not None:
        params["until"] = hi

    def num(name: str, default: int, low: int, high: int) -> int:
        raw = (query.get(name) or "").strip()
        if not raw:
            return default
        if not raw.isdigit() or not low <= int(raw) <= high:
            raise BadFilter(name, raw, _("a whole number from %(low)s to %(high)s", low=low, high=high))
        return int(raw)

    return params, given, num("limit", DEFAULT_LIMIT, 1, MAX_LIMIT), num("offset", 0, 0, 10_000_000)


# ---------------------------------------------------------------- running a list


@dataclass
class Result:
    spec: ListSpec
    rows: list[dict[str, Any]]
    total: int
    limit: int
    offset: int
    given: dict[str, str]
    restricted_note: Optional[str] = None
    #: false when more than TOTAL_CAP rows match: ``total`` is then a lower bound (shown "10,000+")
    total_exact: bool = True

    @property
    def has_next(self) -> bool:
        return self.offset + self.limit < self.total or (not self.total_exact and len(self.rows) == self.limit)


def run(spec: ListSpec, conn: Connection, params: dict[str, Any], given: dict[str, str], limit: int, offset: int,
        viewer: Optional[redaction.Viewer], now: int) -> Result:
    where: list[str] = []
    for name in params:
        if name in spec.conditions:
            where.append(spec.conditions[name])
    if spec.period and "since" in params:
        where.append(f"{spec.period} >= :since")
    if spec.period and "until" in params:
        where.append(f"{spec.period} <= :until")
    sql_params = {**params, "now": now}
    note = None
    if spec.restricted:
        # the uses of a voucher: the same policy as GET /v1/uses (gateway.services.redaction)
        if viewer is None or viewer.anonymous:
            return Result(spec, [], 0, limit, offset, given,
                          _("Uses are shown to signed-in participants only: regulators, customs and the data "
                            "authority see every use, others the uses where they are the holder or the user."))
        if not (viewer.supervisor or viewer.authority):
            mine = sorted(redaction.party_accounts(viewer, conn))
            names = [f":mine{i}" for i in range(len(mine))] or ["''"]
            where.append(f"(u.holder IN ({', '.join(names)}) OR u.user IN ({', '.join(names)}))")
            sql_params.update({f"mine{i}": a for i, a in enumerate(mine)})
            note = _("Only the uses where your organisation is the holder or the user are shown.")
    clause = (" WHERE " + " AND ".join(where)) if where else ""
    rows = [dict(r._mapping) for r in conn.execute(
        text(f"{spec.sql}{clause} ORDER BY {spec.order} LIMIT :limit OFFSET :offset"),
        {**sql_params, "limit": limit, "offset": offset})]
    # the same bounded count as the API's lists
    total, exact = bounded_total(offset, limit, len(rows), lambda n: int(conn.execute(
        text(f"SELECT COUNT(*) FROM ({spec.sql}{clause} LIMIT :cap) AS q"), {**sql_params, "cap": n}).scalar_one()))
    if spec.name == "clearances" and viewer is not None:
        rows = [{**r, **redaction.redact_clearance(r, viewer, conn)} for r in rows]
    return Result(spec, rows, total, limit, offset, given, note, exact)


def cell(value: str) -> str:
    """A CSV cell a spreadsheet shows as text: names come from documents anyone may publish, and a
    cell starting with = + - @ (or a tab/CR) would be run as a formula by Excel."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def csv_bytes(header: list[str], rows: list[list[str]]) -> bytes:
    """UTF-8 with a BOM (Excel then reads the Chinese), CRLF, formula-safe cells."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([cell(h) for h in header])
    for row in rows:
        writer.writerow([cell(v) for v in row])
    return ("\ufeff" + buf.getvalue()).encode("utf-8")


def to_csv(result: Result, names: Names) -> bytes:
    """The rows of the page as CSV: translated headers, decoded values, UTF-8 with a BOM."""
    return csv_bytes([_(c.label) for c in result.spec.columns],
                     [[c.text(row, names) for c in result.spec.columns] for row in result.rows])


def query_string(given: dict[str, str], **changes: Any) -> str:
    from urllib.parse import urlencode

    merged = {k: v for k, v in given.items() if v}
    for k, v in changes.items():
        if v in (None, ""):
            merged.pop(k, None)
        else:
            merged[k] = str(v)
    return urlencode(merged)


__all__ = ["SPECS", "BadFilter", "parse", "run", "to_csv", "query_string", "timedelta", "ROLE_BITS"]
