"""Decoded values on the pages: local ISO 8601 times (UTC on hover), ¥ amounts, jurisdictions,
rights, levels, source types, statuses and roles by name (in the request's language), CIDs as links,
names instead of addresses (the short address kept on hover)."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Any, Optional

from markupsafe import Markup

from gateway.core import units
from gateway.web.i18n import N_, _, current_locale, current_tz, zone

ZERO_ADDRESS = "0x" + "00" * 20

RIGHTS = {0: N_("holding right"), 1: N_("use right"), 2: N_("operating right")}
RIGHT_CODES = {"holding": 0, "use": 1, "operating": 2}
LEVELS = {1: N_("level 1 (public)"), 2: N_("level 2 (internal)"), 3: N_("level 3 (important)"), 4: N_("level 4 (core)")}
SOURCE_TYPES = {0: N_("public data"), 1: N_("enterprise data"), 2: N_("personal-derived data")}
STATUSES = {
    "active": N_("active"), "frozen": N_("frozen"), "revoked": N_("revoked"), "expired": N_("expired"),
    "suspended": N_("suspended"), "removed": N_("removed"), "requested": N_("requested"),
    "approved": N_("approved"), "rejected": N_("rejected"),
}
ROLES = {
    "authority": N_("data authority"), "operator": N_("operator"), "exchange": N_("data exchange"),
    "broker": N_("broker"), "appraiser": N_("appraiser"), "customs": N_("data customs"),
    "regulator": N_("regulator"), "holder": N_("holder"),
}
CHECK_STATES = {"verified": N_("verified"), "mismatch": N_("mismatch"), "unverified": N_("unverified"),
                "unavailable": N_("unavailable"), "invalid": N_("invalid")}
#: the contract's restriction reasons (ledger.errors.RESTRICTION_MESSAGES, messageForTransferRestriction):
#: the English text is the msgid, so a reason from the chain or the API is shown with ``_(message)``
RESTRICTIONS = {
    0: N_("No restriction: the transfer is allowed."),
    1: N_("The sender is not an active registered participant."),
    2: N_("The recipient is not an active registered participant."),
    3: N_("The sender's licence has expired."),
    4: N_("The recipient's licence has expired."),
    5: N_("The voucher is frozen by a regulator."),
    6: N_("The voucher has been revoked."),
    7: N_("The voucher has expired."),
    8: N_("The voucher is not transferable."),
    9: N_("The underlying data asset is frozen."),
    10: N_("The underlying data asset is revoked or unknown."),
    11: N_("A cross-border transfer needs an approved data customs clearance."),
    12: N_("The voucher does not exist."),
}
#: the jurisdictions of the market by their usual names; others by Babel's territory names
JURISDICTIONS = {"CN": N_("Chinese mainland"), "HK": N_("Hong Kong SAR"), "MO": N_("Macao SAR")}


# ---------------------------------------------------------------- times


def local_dt(value: Any) -> Optional[datetime]:
    try:
        ts = int(value)
    except (TypeError, ValueError):
        return None
    if ts <= 0 or ts > 253402300799:
        return None
    return datetime.fromtimestamp(ts, tz=UTC).astimezone(zone(current_tz()))


def iso_local(value: Any) -> str:
    """ISO 8601 in the viewer's zone, seconds precision: '2026-12-01T22:03:05+08:00' ('' if not a time)."""
    dt = local_dt(value)
    return dt.isoformat(timespec="seconds") if dt else ""


def iso_utc(value: Any) -> str:
    dt = local_dt(value)
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if dt else ""


def ts(value: Any) -> Markup:
    """<time> in the viewer's zone with the UTC time on hover."""
    dt = local_dt(value)
    if dt is None:
        return Markup("")
    utc = iso_utc(value)
    return Markup(f'<time datetime="{utc}" title="UTC {utc}">{escape(dt.isoformat(timespec="seconds"))}</time>')


def date(value: Any) -> str:
    dt = local_dt(value)
    return dt.date().isoformat() if dt else ""


# ---------------------------------------------------------------- numbers and money


def number(value: Any) -> str:
    """A count with the locale's grouping."""
    from babel.numbers import format_decimal

    try:
        return str(format_decimal(int(value), locale=_babel_locale()))
    except (TypeError, ValueError):
        return str(value)


def money(value: Any, currency: Any = "CNY") -> str:
    return units.money(value, str(currency or "CNY"))


def _babel_locale() -> str:
    return {"zh_Hans": "zh_Hans_CN", "zh_Hant": "zh_Hant_HK", "en": "en"}.get(current_locale(), "en")


# ---------------------------------------------------------------- codes by name


def jurisdiction(code: Any) -> str:
    c = str(code or "").strip().upper()
    if not c:
        return ""
    if c in JURISDICTIONS:
        return _(JURISDICTIONS[c])
    from babel import Locale

    try:
        name = Locale.parse(current_locale()).territories.get(c)
    except (ValueError, TypeError):
        name = None
    return str(name) if name else c


def right(value: Any) -> str:
    code: Any = RIGHT_CODES.get(str(value)) if isinstance(value, str) and not str(value).isdigit() else value
    try:
        return _(RIGHTS[int(code)])
    except (KeyError, TypeError, ValueError):
        return str(value)


def level(value: Any) -> str:
    try:
        return _(LEVELS[int(value)])
    except (KeyError, TypeError, ValueError):
        return str(value)


def source_type(value: Any) -> str:
    try:
        return _(SOURCE_TYPES[int(value)])
    except (KeyError, TypeError, ValueError):
        return str(value)


def status(value: Any) -> str:
    v = str(value or "")
    return _(STATUSES[v]) if v in STATUSES else v


def restriction(value: Any) -> str:
    """A restriction reason in the viewer's language, from its code or the contract's English text."""
    if isinstance(value, int) and not isinstance(value, bool):
        return _(RESTRICTIONS[value]) if value in RESTRICTIONS else str(value)
    return _(str(value)) if value else ""


def check_state(value: Any) -> str:
    v = str(value or "")
    return _(CHECK_STATES[v]) if v in CHECK_STATES else v


def role(value: Any) -> str:
    v = str(value or "")
    return _(ROLES[v]) if v in ROLES else v


def short(value: Any, n: int = 10) -> str:
    s = str(value or "")
    return s if len(s) <= n + 4 else f"{s[:n]}…{s[-4:]}"


def cid_text(cid: Any) -> str:
    """A CID as text: the chain's bytes (0x0155...) decoded, a text CID unchanged."""
    c = str(cid or "")
    if c.startswith("0x"):
        from ledger.ipfs import cid_from_chain

        try:
            return cid_from_chain(bytes.fromhex(c[2:]))
        except ValueError:
            return c
    return c


def cid_link(cid: Any, label: Optional[str] = None) -> Markup:
    """A CID as a link to the document served (and checked against its CID) by /v1/manifests/{cid}."""
    c = str(cid or "")
    if not c or (c.startswith("0x") and set(c[2:]) <= set("0")):
        return Markup('<span class="empty">—</span>')
    text = cid_text(c)
    return Markup(f'<a class="cid" href="/v1/manifests/{escape(text)}" title="{escape(text)}">'
                  f'<code>{escape(label or short(text, 12))}</code></a>')


__all__ = ["ts", "iso_local", "iso_utc", "money", "number", "jurisdiction", "right", "level", "source_type",
           "status", "role", "short", "cid_link", "date"]
