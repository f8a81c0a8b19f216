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
from gateway.services import legible
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


def _pick(row: Any, zh: tuple[str, ...], en: tuple[str, ...], plain: tuple[str, ...]) -> Optional[str]:
    order = (zh, en) if current_locale().startswith("zh") else (en, zh)
    return _first(row, order[0]) or _first(row, order[1]) or _first(row, plain)


def org_name(org: Any) -> Optional[str]:
    """The organisation's name from its profile (None: the index has none)."""
    return _pick(org, _ORG_ZH, _ORG_EN, ("name", "legal_name")) if org is not None else None


def asset_title(asset: Any) -> Optional[str]:
    return _pick(asset, _TITLE_ZH, _TITLE_EN, ("title",)) if asset is not None else None


class _Title:
    """An asset's manifest title (verified) in both languages, read like a row by ``asset_title``."""

    def __init__(self, title: Optional[str], title_zh: Optional[str]) -> None:
        self.title_en, self.title_zh = title, title_zh


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
            self._titles[key] = _Title(*found) if found else None
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
        name, _org = self.account(addr)
        label = name or fmt.short(addr)
        cls = "named" if name else "addr"
        return Markup(f'<a class="{cls}" href="/address/{escape(addr)}" title="{escape(addr)}">{escape(label)}</a>')

    def org_text(self, org_id: str) -> str:
        return self.org_name(org_id) or _("Organisation %(id)s", id=fmt.short(org_id, 6))

    def org_link(self, org_id: str) -> Markup:
        name = self.org_name(org_id)
        label = name or _("Organisation %(id)s", id=fmt.short(org_id, 6))
        return Markup(f'<a class="{"named" if name else "addr"}" href="/organisations/{escape(org_id)}" '
                      f'title="{escape(org_id)}">{escape(label)}</a>')

    def asset_text(self, asset_id: Any) -> str:
        title = asset_title(self.asset(asset_id))
        return title or _("Asset %(id)s", id=asset_id)

    def asset_link(self, asset_id: Any) -> Markup:
        if asset_id is None:
            return Markup("")
        title = asset_title(self.asset(asset_id))
        label = title or _("Asset %(id)s", id=asset_id)
        hover = _("Asset %(id)s", id=asset_id)
        return Markup(f'<a href="/assets/{escape(str(asset_id))}" title="{escape(hover)}">{escape(label)}</a>')

    def voucher_link(self, voucher_id: Any) -> Markup:
        if voucher_id is None:
            return Markup("")
        label = _("Voucher %(id)s", id=voucher_id)
        return Markup(f'<a href="/vouchers/{escape(str(voucher_id))}">{escape(label)}</a>')
