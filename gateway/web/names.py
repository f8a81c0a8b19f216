"""Names instead of addresses and ids on the pages, with a graceful fallback.

The names come from the documents the indexer fetched and checked against the CIDs the chain
records (gateway.services.documents; only ``verified`` documents name anything): an organisation's
name from its profile in the viewer's language, else in the other; an asset's title from its
current manifest. Where the index has no name the page shows the shortened address (or
"Organisation 0xb946…faf3", "Asset 2"), the full value on hover. One ``Names`` per request
memoises the lookups."""

from __future__ import annotations

from html import escape
from typing import Any, Optional

from markupsafe import Markup
from sqlmodel import Session

from gateway.models import Organisation
from gateway.services import legible, script
from gateway.web import fmt
from gateway.web.i18n import _, current_locale

_ORG_ZH = ("name_zh", "legal_name_zh", "name_cn")
_ORG_EN = ("name_en", "legal_name_en")
_TITLE_ZH = ("title_zh",)
_TITLE_EN = ("title_en",)


def _first(row: Any, fields: tuple[str, ...]) -> Optional[str]:
    for f in fields:
        v = getattr(row, f, None)
        if isinstance(v, str) and v.strip():
            return v.strip()
    return None


def _pick(row: Any, zh: tuple[str, ...], en: tuple[str, ...], plain: tuple[str, ...],
          hant: tuple[str, ...] = ()) -> Optional[str]:
    locale = current_locale()
    if locale == "zh_Hant":  # the document's own Traditional form, else its 简体 form converted
        own = _first(row, hant)
        if own:
            return own
        chinese = _first(row, zh)
        if chinese:
            return script.to_hant(chinese)
    order = (zh, en) if locale.startswith("zh") else (en, zh)
    return _first(row, order[0]) or _first(row, order[1]) or _first(row, plain)


def _original(row: Any, zh: tuple[str, ...], shown: Optional[str]) -> Optional[str]:
    """The document's own Chinese text when the page shows it converted (kept on hover)."""
    original = _first(row, zh) if row is not None else None
    return original if original and shown and original != shown else None


def org_name(org: Any) -> Optional[str]:
    """The organisation's name from its profile in the page's language and script (None: the index has none)."""
    return _pick(org, _ORG_ZH, _ORG_EN, ("name", "legal_name"), ("name_zh_hant",)) if org is not None else None


def asset_title(asset: Any) -> Optional[str]:
    return _pick(asset, _TITLE_ZH, _TITLE_EN, ("title",), ("title_zh_hant",)) if asset is not None else None


class _Title:
    """An asset's manifest title (verified) in both languages (and its own Traditional one, if the
    manifest has it), read like a row by ``asset_title``."""

    def __init__(self, title: Optional[str], title_zh: Optional[str], title_zh_hant: Optional[str] = None) -> None:
        self.title_en, self.title_zh, self.title_zh_hant = title, title_zh, title_zh_hant


class Names:
    def __init__(self, db: Session) -> None:
        self.db = db
        self.directory = legible.Directory(db.connection())
        self._orgs: dict[str, Any] = {}
        self._titles: dict[int, Optional[_Title]] = {}

    def org(self, org_id: str) -> Any:
        """The organisation's row (status, officer, jurisdiction), or None."""
        key = (org_id or "").lower()
        if key not in self._orgs:
            self._orgs[key] = self.db.get(Organisation, key) if key else None
        return self._orgs[key]

    def org_name(self, org_id: Any) -> Optional[str]:
        """The organisation's name from its verified profile, in the viewer's language first."""
        return org_name(self.directory.organisation(org_id)) if org_id else None

    def account(self, address: str) -> tuple[Optional[str], Optional[str]]:
        """(organisation name or None, org_id or None) of an account."""
        org = self.directory.org_of(address) if address else None
        return (org_name(org), org.id) if org is not None else (None, None)

    def asset(self, asset_id: Any) -> Any:
        """The asset's verified manifest title (an object with title_en / title_zh), or None."""
        try:
            key = int(asset_id)
        except (TypeError, ValueError):
            return None
        if not 0 <= key < 2**63:
            return None
        if key not in self._titles:
            found = legible.asset_titles(self.db.connection(), [key]).get(key)
            hant = legible.asset_hant_titles(self.db.connection(), [key]).get(key) \
                if found and current_locale() == "zh_Hant" else None
            self._titles[key] = _Title(*found, hant) if found else None
        return self._titles[key]

    # ------------------------------------------------------------ text (CSV) and links (HTML)

    def account_text(self, address: Any) -> str:
        addr = str(address or "")
        if not addr:
            return ""
        if addr == fmt.ZERO_ADDRESS:
            return _("(none)")
        name, _org = self.account(addr)
        return name or fmt.short(addr)

    def account_link(self, address: Any) -> Markup:
        addr = str(address or "")
        if not addr:
            return Markup("")
        if addr == fmt.ZERO_ADDRESS:
            return Markup(f'<span class="empty" title="{escape(addr)}">{escape(_("(none)"))}</span>')
        name, org_id = self.account(addr)
        label = name or fmt.short(addr)
        cls = "named" if name else "addr"
        original = _original(self.directory.organisation(org_id) if org_id else None, _ORG_ZH, name)
        hover = f"{original} · {addr}" if original else addr
        return Markup(f'<a class="{cls}" href="/address/{escape(addr)}" title="{escape(hover)}">{escape(label)}</a>')

    def org_text(self, org_id: str) -> str:
        return self.org_name(org_id) or _("Organisation %(id)s", id=fmt.short(org_id, 6))

    def org_link(self, org_id: str) -> Markup:
        name = self.org_name(org_id)
        label = name or _("Organisation %(id)s", id=fmt.short(org_id, 6))
        original = _original(self.directory.organisation(org_id), _ORG_ZH, name)
        hover = f"{original} · {org_id}" if original else org_id
        return Markup(f'<a class="{"named" if name else "addr"}" href="/organisations/{escape(org_id)}" '
                      f'title="{escape(hover)}">{escape(label)}</a>')

    def asset_text(self, asset_id: Any) -> str:
        title = asset_title(self.asset(asset_id))
        return title or _("Asset %(id)s", id=asset_id)

    def asset_link(self, asset_id: Any) -> Markup:
        if asset_id is None:
            return Markup("")
        row = self.asset(asset_id)
        title = asset_title(row)
        label = title or _("Asset %(id)s", id=asset_id)
        hover = _("Asset %(id)s", id=asset_id)
        original = _original(row, _TITLE_ZH, title)
        if original:
            hover = f"{original} · {hover}"
        return Markup(f'<a href="/assets/{escape(str(asset_id))}" title="{escape(hover)}">{escape(label)}</a>')

    def voucher_link(self, voucher_id: Any) -> Markup:
        if voucher_id is None:
            return Markup("")
        label = _("Voucher %(id)s", id=voucher_id)
        return Markup(f'<a href="/vouchers/{escape(str(voucher_id))}">{escape(label)}</a>')
