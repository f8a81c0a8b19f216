"""Values a person can read, next to the raw ones the API keeps: names for addresses and
organisation ids, amounts as decimal strings with their currency and scale, times in ISO 8601,
jurisdictions, rights, levels and source types by name.

- **Names** come from the organisations' profile documents (``documents``, verified against the
  CID the registrar recorded: gateway.services.documents). An address is named by the organisation
  it belongs to (``participants.org_id`` -> ``organisations.profile_cid`` -> the document). No
  verified profile: the name is ``null`` (pages fall back to the shortened address). A profile whose
  bytes did not match its CID is never used.
- **Amounts**: the payment token and valuations are in fen (分): scale 2, currency CNY. ``150000.00``.
- **Times**: ISO 8601 in UTC+08:00 (Asia/Shanghai: no daylight saving since 1991, so a fixed offset is
  exact for every date the ledger holds), beside the raw unix seconds.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Optional

from pydantic import BaseModel, Field
from sqlalchemy import Connection, bindparam, text

from gateway.web.i18n import N_

#: UTC+08:00, the zone every user of the market is in (Asia/Shanghai, Hong Kong, Macao)
ZONE = timezone(timedelta(hours=8), "+08:00")
CURRENCY = "CNY"
DECIMALS = 2

JURISDICTIONS: dict[str, str] = {
    "CN": N_("Mainland China"), "HK": N_("Hong Kong SAR"), "MO": N_("Macao SAR"), "TW": N_("Taiwan"),
    "SG": N_("Singapore"), "US": N_("United States"), "GB": N_("United Kingdom"), "DE": N_("Germany"),
    "JP": N_("Japan"), "FR": N_("France"), "KR": N_("South Korea"), "AE": N_("United Arab Emirates"),
    "MY": N_("Malaysia"), "TH": N_("Thailand"), "AU": N_("Australia"),
}
RIGHTS = {0: N_("holding right"), 1: N_("use right"), 2: N_("operating right")}
RIGHT_KEYS = {0: "holding", 1: "use", 2: "operating"}
LEVELS = {1: N_("public"), 2: N_("general"), 3: N_("important"), 4: N_("core")}
SOURCE_TYPES = {0: N_("public data"), 1: N_("enterprise data"), 2: N_("personal-derived data")}

#: row fields holding an account address
ADDRESS_FIELDS = ("holder", "issuer", "seller", "buyer", "exchange", "appraiser", "requester", "recipient",
                  "officer", "user", "registrar", "account", "broker", "client", "from_address", "to_address",
                  "added_by", "payment_token")
#: row fields holding unix seconds
TIME_FIELDS = ("registered_at", "issued_at", "valid_from", "valid_until", "used_at", "settled_at", "expiry",
               "licence_expiry", "timestamp")
#: row fields holding a token amount in fen
AMOUNT_FIELDS = ("price", "fee", "amount", "balance", "commission")


class OrganisationName(BaseModel):
    """An organisation by name (from its verified profile document; null names when none)."""

    id: str
    name_zh: Optional[str] = None
    name_en: Optional[str] = None
    credit_code: Optional[str] = None
    profile_cid: Optional[str] = None
    #: the profile document's state: none (no CID on chain) | pending | missing | verified | mismatch | invalid
    profile_status: str = "none"
    #: the Traditional-script legal name when the profile carries one (``legal_name.zh_hant``); the 繁體
    #: pages otherwise convert ``name_zh`` (gateway.services.script)
    name_zh_hant: Optional[str] = Field(default=None, exclude=True)


def iso(ts: Any) -> Optional[str]:
    """Unix seconds -> ISO 8601 in +08:00 (None for None/0-less garbage)."""
    try:
        value = int(ts)
    except (TypeError, ValueError):
        return None
    if value <= 0 or value > 253402300799:  # 0 means "none" wherever the ledger stores a time
        return None
    return datetime.fromtimestamp(value, ZONE).isoformat()


def decimal_amount(raw: Any, decimals: int = DECIMALS) -> Optional[str]:
    """Base units (a decimal string or int) -> "150000.00"."""
    if raw is None:
        return None
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        return None
    return f"{value.scaleb(-decimals):.{decimals}f}"


def yuan(raw: Any) -> str:
    """¥150,000.00"""
    text_ = decimal_amount(raw)
    if text_ is None:
        return str(raw)
    whole, _, frac = text_.partition(".")
    return f"¥{int(whole):,}.{frac}"


def jurisdiction_text(code: Any) -> Optional[str]:
    """"CN" from "CN" or from the raw bytes2 of an event argument ("0x434e")."""
    if not isinstance(code, str) or not code:
        return None
    if code.startswith("0x"):
        try:
            decoded = bytes.fromhex(code[2:]).decode("ascii")
        except (ValueError, UnicodeDecodeError):
            return code
        return decoded if decoded.isalpha() else code
    return code.upper()


def jurisdiction_name(code: Any) -> Optional[str]:
    """The jurisdiction's English name (a msgid), from its code or its raw bytes2."""
    text_ = jurisdiction_text(code)
    if text_ is None:
        return None
    return JURISDICTIONS.get(text_, text_)


@dataclass
class Directory:
    """Names of accounts and organisations, loaded on demand (one query per batch)."""

    conn: Connection
    _accounts: dict[str, Optional[str]] = field(default_factory=dict)  # address -> org_id
    _orgs: dict[str, OrganisationName] = field(default_factory=dict)

    def load_accounts(self, addresses: Iterable[str]) -> None:
        todo = sorted({a.lower() for a in addresses if isinstance(a, str) and a.startswith("0x")} - set(self._accounts))
        for i in range(0, len(todo), 500):
            chunk = todo[i:i + 500]
            rows = self.conn.execute(text("SELECT account, org_id FROM participants WHERE account IN :a")
                                     .bindparams(bindparam("a", expanding=True)), {"a": chunk}).all()
            found = {str(r[0]): str(r[1]) for r in rows}
            for a in chunk:
                self._accounts[a] = found.get(a)
        self.load_orgs(v for v in self._accounts.values() if v)

    def load_orgs(self, org_ids: Iterable[str]) -> None:
        todo = sorted({o.lower() for o in org_ids if isinstance(o, str)} - set(self._orgs))
        for i in range(0, len(todo), 500):
            chunk = todo[i:i + 500]
            rows = self.conn.execute(text(
                "SELECT o.org_id, o.profile_cid, d.status, d.name_zh, d.name_en, d.credit_code, d.cid, d.body"
                " FROM organisations o LEFT JOIN documents d ON d.chain_cid = o.profile_cid"
                " WHERE o.org_id IN :o").bindparams(bindparam("o", expanding=True)), {"o": chunk}).all()
            for r in rows:
                verified = r[2] == "verified"
                self._orgs[str(r[0])] = OrganisationName(
                    id=str(r[0]), name_zh=r[3] if verified else None, name_en=r[4] if verified else None,
                    credit_code=r[5] if verified else None, profile_cid=r[6] if r[1] else None,
                    profile_status=str(r[2]) if r[2] else ("pending" if r[1] else "none"),
                    name_zh_hant=_json_path(r[7], "legal_name", "zh_hant") if verified else None)

    def org_of(self, address: Any) -> Optional[OrganisationName]:
        if not isinstance(address, str):
            return None
        a = address.lower()
        if a not in self._accounts:
            self.load_accounts([a])
        oid = self._accounts.get(a)
        return self.organisation(oid) if oid else None

    def organisation(self, org_id: Any) -> Optional[OrganisationName]:
        if not isinstance(org_id, str):
            return None
        o = org_id.lower()
        if o not in self._orgs:
            self.load_orgs([o])
        return self._orgs.get(o)

    def name(self, address: Any, lang: str = "en") -> Optional[str]:
        """The organisation's name in ``lang`` (en, zh or zh-Hant: the Chinese name in Traditional
        characters), else in the other language, else None."""
        org = self.org_of(address)
        if org is None:
            return None
        return org_name_in(org, lang)


def org_name_in(org: OrganisationName, lang: str) -> Optional[str]:
    """``org``'s name in ``lang`` ("en", "zh" or "zh-Hant"), else in the other language. zh-Hant: the
    profile's own Traditional name if it has one, else its Chinese name converted (memoised)."""
    from gateway.services.script import to_hant

    if lang == "zh-Hant":
        zh = org.name_zh_hant or (to_hant(org.name_zh) if org.name_zh else None)
        return zh or org.name_en
    first, second = (org.name_zh, org.name_en) if lang == "zh" else (org.name_en, org.name_zh)
    return first or second


def _json_path(body: Any, *keys: str) -> Optional[str]:
    """A string inside a JSON document's body (None: not there, not JSON)."""
    import json

    if not isinstance(body, str) or not body:
        return None
    try:
        value: Any = json.loads(body)
    except ValueError:
        return None
    for k in keys:
        if not isinstance(value, dict):
            return None
        value = value.get(k)
    return value.strip() if isinstance(value, str) and value.strip() else None


#: manifest translation tags whose title is already in Traditional characters
HANT_TAGS = ("zh-Hant", "zh-HK", "zh-MO", "zh-TW")


def hant_title(body: Any) -> Optional[str]:
    """A manifest's own Traditional title (its zh-Hant / zh-HK / zh-MO / zh-TW translation), if any."""
    for tag in HANT_TAGS:
        t = _json_path(body, "translations", tag, "title")
        if t:
            return t
    return None


def _verified_manifest_rows(conn: Connection, asset_ids: Iterable[int], columns: str) -> list[Any]:
    """(asset_id, *columns) of each asset's current verified manifest document, 500 ids a query."""
    ids = sorted({int(a) for a in asset_ids})
    rows: list[Any] = []
    for i in range(0, len(ids), 500):
        rows += conn.execute(text(
            f"SELECT a.asset_id, {columns} FROM assets a JOIN documents d ON d.chain_cid = a.manifest_cid"
            " AND d.status = 'verified' WHERE a.asset_id IN :ids").bindparams(bindparam("ids", expanding=True)),
            {"ids": ids[i:i + 500]}).all()
    return rows


def asset_hant_titles(conn: Connection, asset_ids: Iterable[int]) -> dict[int, str]:
    """asset id -> the Traditional title its current verified manifest carries (only those that have one)."""
    out: dict[int, str] = {}
    for r in _verified_manifest_rows(conn, asset_ids, "d.body"):
        t = hant_title(r[1])
        if t:
            out[int(r[0])] = t
    return out


def enrich(directory: Directory, row: dict[str, Any]) -> dict[str, Any]:
    """``row`` plus ``<address field>_name`` / ``_name_zh``, ``<time>_iso``, ``<amount>_decimal`` (+ ``currency``,
    ``decimals``), ``<jurisdiction>_name``, ``right_key``, ``level_name``, ``source_type_name`` and ``organisation``."""
    out = dict(row)
    present = [f for f in ADDRESS_FIELDS if isinstance(row.get(f), str) and f != "payment_token"]
    directory.load_accounts(row[f] for f in present)
    for f in present:
        out[f"{f}_name"] = directory.name(row[f], "en")
        out[f"{f}_name_zh"] = directory.name(row[f], "zh")
    for f in TIME_FIELDS:
        if f in row and row[f] is not None:
            out[f"{f}_iso"] = iso(row[f])
    amounts = [f for f in AMOUNT_FIELDS if f in row and row[f] is not None]
    for f in amounts:
        out[f"{f}_decimal"] = decimal_amount(row[f])
    if amounts:
        cur = row.get("currency")
        out["currency"] = cur if isinstance(cur, str) and cur else CURRENCY
        out["decimals"] = DECIMALS
    for f in ("jurisdiction", "home_jurisdiction", "destination"):
        if isinstance(row.get(f), str):
            out[f"{f}_name"] = jurisdiction_name(row[f])
    if isinstance(row.get("right"), int):
        out["right_key"] = RIGHT_KEYS.get(row["right"], str(row["right"]))
    if isinstance(row.get("level"), int):
        out["level_name"] = LEVELS.get(row["level"], str(row["level"]))
    if isinstance(row.get("source_type"), int):
        out["source_type_name"] = SOURCE_TYPES.get(row["source_type"], str(row["source_type"]))
    if isinstance(row.get("org_id"), str):
        org = directory.organisation(row["org_id"])
        out["organisation_names"] = org.model_dump() if org else None
    return out



_DOC_COLUMNS = ("cid", "chain_cid", "kind", "status", "error", "title", "title_zh", "description", "description_zh",
                "publisher", "publisher_id", "keywords", "themes", "name_zh", "name_en", "credit_code", "body")


def documents_by_chain_cid(conn: Connection, chain_cids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """documents rows by their binary CID (0x hex)."""
    wanted = sorted({c.lower() for c in chain_cids if isinstance(c, str) and c})
    out: dict[str, dict[str, Any]] = {}
    for i in range(0, len(wanted), 500):
        rows = conn.execute(text(f"SELECT {', '.join(_DOC_COLUMNS)} FROM documents WHERE chain_cid IN :c")
                            .bindparams(bindparam("c", expanding=True)), {"c": wanted[i:i + 500]}).all()
        for r in rows:
            out[str(r[1])] = dict(zip(_DOC_COLUMNS, r))
    return out


def _json_list(value: Any) -> list[str]:
    import json

    try:
        parsed = json.loads(value) if isinstance(value, str) else []
    except ValueError:
        return []
    return [str(v) for v in parsed] if isinstance(parsed, list) else []


def manifest_fields(doc: Optional[dict[str, Any]]) -> dict[str, Any]:
    """The asset fields from its manifest document (only a verified one is used)."""
    if doc is None:
        return {"manifest_status": "pending"}
    if doc["status"] != "verified":
        return {"manifest_status": doc["status"]}
    return {"manifest_status": "verified", "title": doc["title"], "title_zh": doc["title_zh"],
            "description": doc["description"], "description_zh": doc["description_zh"],
            "publisher": doc["publisher"], "keywords": _json_list(doc["keywords"]), "themes": _json_list(doc["themes"])}


def asset_titles(conn: Connection, asset_ids: Iterable[int]) -> dict[int, tuple[Optional[str], Optional[str]]]:
    """asset id -> (title, title_zh) of its current verified manifest."""
    return {int(r[0]): (r[1], r[2]) for r in _verified_manifest_rows(conn, asset_ids, "d.title, d.title_zh")}
