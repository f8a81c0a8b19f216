"""Web pages of the gateway (server-rendered Jinja2, hand-written CSS/JS/SVG, all served locally).

Every page is in the viewer's language (gateway.web.i18n: 简体中文 by default, 繁體中文, English)
with decoded values (gateway.web.fmt: local ISO 8601 times, ¥ amounts, names by code) and names
instead of addresses where the index has them (gateway.web.names). Bad input on a page route gets
an HTML error page (400/404/422); the API (/v1) keeps its JSON errors."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Optional, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from sqlalchemy import text
from sqlmodel import Session, col, select
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.api.common import IdPath
from gateway.api.deps import caller_for, session_token
from gateway.api.routes.assets import asset_detail
from gateway.api.routes.clearances import clearance_out
from gateway.api.routes.participants import participant_out
from gateway.api.routes.search import search
from gateway.api.routes.vouchers import voucher_detail, voucher_out
from gateway.core import units
from gateway.core.errors import ApiError
from gateway.core.security import is_revoked, read_token
from gateway.models import Asset, Clearance, Organisation, Participant, Trade, Voucher, VoucherUse
from gateway.services import legible, provenance, redaction, story
from gateway.services.stats import cached_statistics as statistics
from gateway.web import charts, fmt, i18n, lists
from gateway.web.i18n import N_, _
from gateway.web.names import Names

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(include_in_schema=False)

i18n.install(templates.env)
for _name in ("ts", "money", "short", "jurisdiction", "right", "level", "source_type", "status", "role", "number",
              "cid_link", "iso_local", "date", "check_state", "restriction"):
    templates.env.filters[_name] = getattr(fmt, _name)
templates.env.globals["LANGUAGE_NAMES"] = i18n.LANGUAGE_NAMES
templates.env.globals["HTML_LANG"] = i18n.HTML_LANG

#: paths answered with JSON errors (the API and machine endpoints); everything else is a page
API_PREFIXES = ("/v1", "/health", "/metrics", "/openapi.json", "/docs", "/redoc", "/static")


def _db(request: Request) -> Session:
    return Session(request.app.state.engine)


def _caller(request: Request, db: Session) -> Any:
    token = session_token(request)
    session = read_token(request.app.state.session_secret, token) if token else None
    if session is None or is_revoked(request.app.state.engine, session):
        return None
    return caller_for(db, session.address)


def _viewer(request: Request, db: Session) -> redaction.Viewer:
    """Who is looking (session cookie or bearer token), for the redaction policy."""
    return redaction.viewer_of(_caller(request, db), db.connection())


def lang_url(request: Request, locale: str) -> str:
    params = dict(request.query_params)
    params["lang"] = i18n.HTML_LANG[locale]
    return f"{request.url.path}?{urlencode(params)}"


def render(request: Request, name: str, status: int = 200, names: Optional[Names] = None, **ctx: Any) -> HTMLResponse:
    locale = i18n.current_locale()
    ctx.setdefault("q", "")
    ctx.update(locale=locale, html_lang=i18n.HTML_LANG[locale], tz=i18n.current_tz(),
               lang_urls={loc: lang_url(request, loc) for loc in i18n.LOCALES})
    if names is None:
        with _db(request) as db:
            ctx["names"] = Names(db)
            response = templates.TemplateResponse(request, name, ctx, status_code=status)
    else:
        ctx["names"] = names
        response = templates.TemplateResponse(request, name, ctx, status_code=status)
    return localised(response)


R = TypeVar("R", bound=Response)


def localised(response: R) -> R:
    """The page's language in Content-Language; caches told that it depends on the language choice."""
    response.headers["Content-Language"] = i18n.HTML_LANG[i18n.current_locale()]
    response.headers["Vary"] = "Accept-Language, Cookie"
    return response


def error_page(request: Request, status: int, title: str, detail: str) -> HTMLResponse:
    return render(request, "error.html", status=status, title=title, detail=detail, code=status)


def not_found_page(request: Request, what: str) -> HTMLResponse:
    return error_page(request, 404, _("Not found"), _("%(what)s is not in the index.", what=what))


def history_verification(kind: str, subject_id: int, request: Request) -> dict[str, Any]:
    """Re-check what this gateway serves about the subject against the node (gateway.verify): every
    event in a canonical block and in its receipt (receipts root recomputed), every served state
    field against the events replayed and the contracts' views (eth_call), manifests re-hashed.
    ``scope`` says exactly what was checked against what; ``detail`` names the first differences.
    ``state`` is the machine value (verified | behind | mismatch | unchecked)."""
    from fastapi import HTTPException

    from gateway.api.routes.verify import history_verdict

    try:
        verdict = history_verdict(kind, subject_id, request, request.app.state.settings, manifests=True)
    except HTTPException as exc:
        return {"state": "unchecked", "status": _("not verified"), "detail": str(exc.detail)[:300],
                "scope": _("nothing was checked")}
    except Exception as exc:  # a failing check is shown on the page, not raised
        return {"state": "unchecked", "status": _("verification failed"), "detail": str(exc)[:300],
                "scope": _("nothing was checked")}
    name = verdict.get("verdict", "mismatch")
    counts = verdict.get("counts", {})
    states: dict[str, int] = verdict.get("state_counts", {})
    checks = verdict.get("state", [])
    unverified = sorted({c["field"] for c in checks if c["status"] in ("unverified", "redacted")})
    block = verdict.get("block")
    scope = _("checked against the node at block %(block)s: %(events)s events of the history (block hashes, "
              "receipts roots, logs in their receipts), %(fields)s served fields (against the events replayed "
              "and the contracts' state by eth_call at block %(block)s)",
              block=block, events=counts.get("served", 0), fields=states.get("ok", 0))
    if verdict.get("manifests"):
        scope += _("; %(n)s manifest(s) re-hashed from IPFS", n=len(verdict.get("manifests", [])))
    if unverified:
        scope += _(". Not checked: %(fields)s", fields=", ".join(unverified))
    if name == "verified":
        state, status, detail = "verified", _("history verified"), scope
    elif name == "behind":
        state, status, detail = "behind", _("gateway behind"), verdict.get("summary", "")
    else:
        state, status = "mismatch", _("history NOT verified")
        detail = "; ".join(verdict.get("mismatches", [])[:3] + [str(p) for p in verdict.get("problems", [])[:2]])
    return {"state": state, "status": status, "detail": detail[:600], "scope": scope}


# ---------------------------------------------------------------- provenance events, decoded

#: event names as people say them (the raw name stays beside it)
EVENT_NAMES = {
    "AccountAdded": N_("Account added"),
    "AccountReinstated": N_("Account reinstated"),
    "AccountRemoved": N_("Account removed"),
    "AccountRolesChanged": N_("Account roles changed"),
    "AccountSuspended": N_("Account suspended"),
    "Approval": N_("Approval"),
    "ApprovalForAll": N_("Approval for all"),
    "AssetFrozen": N_("Data asset frozen"),
    "AssetRegistered": N_("Data asset registered"),
    "AssetRevoked": N_("Data asset revoked"),
    "AssetUnfrozen": N_("Data asset unfrozen"),
    "BrokerPaid": N_("Broker paid"),
    "ClearanceApproved": N_("Clearance approved"),
    "ClearanceRejected": N_("Clearance rejected"),
    "ClearanceRequested": N_("Clearance requested"),
    "ClearanceRevoked": N_("Clearance revoked"),
    "ContentReleased": N_("Content released"),
    "ExchangeFeeSet": N_("Exchange fee set"),
    "ExecutedForwardRequest": N_("Relayed request executed"),
    "HoldingsBound": N_("Holdings bound"),
    "LicenceExpirySet": N_("Licence expiry set"),
    "ManifestUpdated": N_("Manifest updated"),
    "Minted": N_("Minted"),
    "OfficerChanged": N_("Officer changed"),
    "OrderCancelled": N_("Order cancelled"),
    "OrganisationRegistered": N_("Organisation registered"),
    "OrganisationReinstated": N_("Organisation reinstated"),
    "OrganisationSuspended": N_("Organisation suspended"),
    "RecoveryCancelled": N_("Recovery cancelled"),
    "RecoveryProposed": N_("Recovery proposed"),
    "Settled": N_("Settled"),
    "TradeSettled": N_("Trade settled"),
    "Transfer": N_("Ownership transferred"),
    "UserAuthorised": N_("User authorised"),
    "ValuationRecorded": N_("Valuation recorded"),
    "VoucherFrozen": N_("Voucher frozen"),
    "VoucherIssued": N_("Voucher issued"),
    "VoucherRecovered": N_("Voucher recovered by the regulator"),
    "VoucherRevoked": N_("Voucher revoked"),
    "VoucherUnfrozen": N_("Voucher unfrozen"),
    "VoucherUsed": N_("Use redeemed"),
}
#: event arguments by label (the ABI name on hover)
ARG_LABELS = {
    "acceptSchedule": N_("Accept schedule"),
    "account": N_("Account"),
    "admin": N_("Admin"),
    "allowed": N_("Allowed"),
    "allowedRoles": N_("Allowed roles"),
    "amount": N_("Amount"),
    "appraiser": N_("Appraiser"),
    "approved": N_("Approved"),
    "assetId": N_("Data asset"),
    "bps": N_("Rate (basis points)"),
    "broker": N_("Broker"),
    "buyer": N_("Buyer"),
    "caseId": N_("Clearance"),
    "clearanceId": N_("Clearance"),
    "claimant": N_("Claimant"),
    "client": N_("Client"),
    "conditionsCid": N_("Conditions"),
    "contentHash": N_("Content hash"),
    "currency": N_("Currency"),
    "destination": N_("Destination"),
    "effectSchedule": N_("Effective from"),
    "exchange": N_("Exchange"),
    "expiresAt": N_("Expires"),
    "expiry": N_("Expiry"),
    "fee": N_("Fee"),
    "from": N_("From"),
    "holder": N_("Holder"),
    "homeJurisdiction": N_("Home jurisdiction"),
    "index": N_("Index"),
    "issuer": N_("Issuer"),
    "jurisdiction": N_("Jurisdiction"),
    "level": N_("Level"),
    "maker": N_("Maker"),
    "manifestCid": N_("Manifest"),
    "maxUses": N_("Maximum uses"),
    "method": N_("Method"),
    "minter": N_("Minter"),
    "newAdmin": N_("New admin"),
    "newAdminRole": N_("New admin role"),
    "newDelay": N_("New delay"),
    "newOfficer": N_("New officer"),
    "newOwner": N_("New owner"),
    "nonce": N_("Nonce"),
    "officer": N_("Officer"),
    "operator": N_("Operator"),
    "orgId": N_("Organisation"),
    "owner": N_("Owner"),
    "paymentToken": N_("Payment token"),
    "previousAdminRole": N_("Previous admin role"),
    "previousBps": N_("Previous rate (basis points)"),
    "previousExpiry": N_("Previous expiry"),
    "previousOfficer": N_("Previous officer"),
    "previousOwner": N_("Previous owner"),
    "previousRoles": N_("Previous roles"),
    "price": N_("Price"),
    "purposeCid": N_("Purpose"),
    "purposeHash": N_("Purpose (hash)"),
    "reason": N_("Reason"),
    "recipient": N_("Recipient"),
    "registrar": N_("Registrar"),
    "regulator": N_("Regulator"),
    "requester": N_("Requester"),
    "revoker": N_("Revoked by"),
    "right": N_("Right"),
    "role": N_("Role"),
    "roles": N_("Roles"),
    "scopeHash": N_("Scope hash"),
    "seller": N_("Seller"),
    "sender": N_("Sender"),
    "signer": N_("Signer"),
    "sourceType": N_("Source type"),
    "sources": N_("Sources"),
    "spender": N_("Spender"),
    "success": N_("Succeeded"),
    "to": N_("To"),
    "tokenId": N_("Voucher"),
    "tradeId": N_("Trade id"),
    "transferable": N_("Transferable"),
    "useNumber": N_("Use no."),
    "user": N_("User"),
    "validFrom": N_("Valid from"),
    "validUntil": N_("Valid until"),
    "value": N_("Value"),
    "version": N_("Version"),
    "voucherId": N_("Voucher"),
}
_TIME_ARGS = {"validFrom", "validUntil", "expiry", "licenceExpiry", "licenseExpiry", "timestamp", "until",
              "deadline", "usedAt", "settledAt"}
_MONEY_ARGS = {"price", "fee", "amount", "value", "valuation"}
_JUR_ARGS = {"homeJurisdiction", "jurisdiction", "destination", "fromJurisdiction", "toJurisdiction"}


def _ascii(value: Any) -> Optional[str]:
    s = str(value or "")
    if s.startswith("0x") and 2 < len(s) <= 18:
        try:
            out = bytes.fromhex(s[2:]).rstrip(b"\0").decode("ascii")
        except (ValueError, UnicodeDecodeError):
            return None
        return out if out.isprintable() else None
    return s if s.isalpha() else None


def arg_value(key: str, value: Any, names: Names) -> Any:
    """One event argument as people read it (Markup); the raw value stays in the page's raw view."""
    if value is None:
        return Markup("")
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, str) and len(value) == 42 and value.startswith("0x"):
        return names.account_link(value)
    if key in _JUR_ARGS:
        code = _ascii(value)
        return fmt.jurisdiction(code) if code else str(value)
    if key == "currency":
        return _ascii(value) or str(value)
    if key in _TIME_ARGS:
        return fmt.ts(value) or str(value)
    if key in _MONEY_ARGS:
        return fmt.money(value)
    if key == "right":
        return fmt.right(value)
    if key in ("level", "classificationLevel"):
        return fmt.level(value)
    if key == "sourceType":
        return fmt.source_type(value)
    if key == "assetId":
        return names.asset_link(value)
    if key in ("tokenId", "voucherId"):
        return names.voucher_link(value)
    if key in ("caseId", "clearanceId"):
        return Markup(f'<a href="/clearances/{int(value)}">{_("Clearance %(id)s", id=value)}</a>') \
            if str(value).isdigit() else str(value)
    if key.lower().endswith("cid") and isinstance(value, str) and value.startswith("0x") and len(value) > 40:
        return fmt.cid_link(value)
    return str(value)


def story_html(s: dict[str, Any]) -> Markup:
    """The event's sentence in the viewer's language (template and msgid parameters translated by
    story.tell), every parameter escaped; the clearance a cross-border move relied on is a link."""
    params: dict[str, Any] = dict(s.get("params") or {})
    link = s.get("clearance")
    if link is not None and "clearance" in params:
        params["clearance"] = Markup('<a href="/clearances/{0}" class="story-clearance">{0}</a>').format(
            int(link["clearance_id"]))
    msgid = str(s["template"])
    try:
        return Markup.escape(_(msgid)).format(**params)
    except (KeyError, IndexError, ValueError):  # a translation naming a parameter the msgid lacks
        return Markup.escape(s["text"])


def decorate(events: list[dict[str, Any]], conn: Any) -> list[dict[str, Any]]:
    """Each event with its block time, its name in words and its story (one sentence in the viewer's
    language, names and asset titles in Chinese unless the page is in English)."""
    lang = {"en": "en", "zh_Hant": "zh-Hant"}.get(i18n.current_locale(), "zh")
    told = story.tell(conn, events, legible.Directory(conn), lang=lang, translate=_, when=fmt.iso_local)
    return [{**e, "time": e["timestamp"], "title": EVENT_NAMES.get(e.get("event") or ""),
             "sentence": story_html(e["story"])} for e in told]


templates.env.globals["arg_value"] = arg_value
templates.env.globals["ARG_LABELS"] = ARG_LABELS


# ---------------------------------------------------------------- pages


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    with _db(request) as db:
        conn = db.connection()

        def count(table: str) -> int:
            return int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())

        counts = [
            ("participants", N_("Organisations"), count("organisations")),
            ("assets", N_("Data assets"), count("assets")),
            ("vouchers", N_("Data vouchers"), count("vouchers")),
            ("trades", N_("Trades"), count("trades")),
            ("uses", N_("Uses"), count("voucher_uses")),
            ("clearances", N_("Clearances"), count("clearances")),
        ]
        recent = db.exec(select(Trade).order_by(Trade.block_number.desc()).limit(5)).all()  # type: ignore[attr-defined]
        assets = db.exec(select(Asset).order_by(Asset.asset_id.desc()).limit(5)).all()  # type: ignore[attr-defined]
        return render(request, "home.html", names=Names(db), counts=counts, recent=recent, assets=assets)


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request, q: str = Query("", max_length=100)) -> Response:
    with _db(request) as db:
        hits = search(db, q) if q.strip() else []
    if len(hits) == 1:
        hit = hits[0]
        return RedirectResponse(f"/clearances/{hit.id}" if hit.kind in ("case", "clearance") else hit.url, status_code=303)
    return render(request, "search.html", q=q, hits=hits)


def _list_page(request: Request, name: str, as_csv: bool) -> Response:
    spec = lists.SPECS[name]
    query = {k: v for k, v in request.query_params.items()}
    if query.get("format") not in (None, "", "html", "csv"):
        return error_page(request, 400, _("Bad request"), _("format must be html or csv"))
    as_csv = as_csv or query.get("format") == "csv"
    try:
        params, given, limit, offset = lists.parse(spec, query)
    except lists.BadFilter as exc:
        return error_page(request, 400, _("Bad request"),
                          _("%(param)s=%(value)s: expected %(expected)s", param=exc.param, value=exc.value,
                            expected=exc.expected))
    with _db(request) as db:
        conn = db.connection()
        viewer = _viewer(request, db)
        result = lists.run(spec, conn, params, given, limit, offset, viewer, int(time.time()))
        names = Names(db)
        caller = _caller(request, db)
        if as_csv:
            body = lists.to_csv(result, names)
            stamp = time.strftime("%Y%m%d")
            return localised(Response(body, media_type="text/csv; charset=utf-8", headers={
                "Content-Disposition": f'attachment; filename="dataledger-{name}-{stamp}.csv"'}))
        base = {**given, "limit": str(limit) if limit != lists.DEFAULT_LIMIT else ""}
        pages = {
            "prev": lists.query_string(base, offset=max(offset - limit, 0) or None) if offset > 0 else None,
            "next": lists.query_string(base, offset=offset + limit) if result.has_next else None,
            "csv": lists.query_string({**base, "offset": str(offset) if offset else ""}),
        }
        return render(request, "list.html", names=names, r=result, spec=spec, pages=pages, caller=caller,
                      full=bool(caller and caller.supervisor))


def _add_list_routes() -> None:
    for name in lists.SPECS:
        def page(request: Request, _name: str = name) -> Response:
            return _list_page(request, _name, False)

        def csv(request: Request, _name: str = name) -> Response:
            return _list_page(request, _name, True)

        router.add_api_route(f"/{name}", page, methods=["GET"], response_class=HTMLResponse, name=f"list-{name}")
        router.add_api_route(f"/{name}.csv", csv, methods=["GET"], name=f"csv-{name}")


_add_list_routes()



@router.get("/assets/{asset_id}", response_class=HTMLResponse)
def asset_page(request: Request, asset_id: IdPath) -> HTMLResponse:
    with _db(request) as db:
        try:
            detail = asset_detail(request, db, asset_id)
        except (ApiError, OverflowError):
            return not_found_page(request, _("Asset %(id)s", id=asset_id))
        vouchers = [voucher_out(v) for v in db.exec(select(Voucher).where(Voucher.asset_id == asset_id)
                                                     .order_by(col(Voucher.voucher_id))).all()]
        conn = db.connection()
        events = decorate(redaction.redact_events(provenance.asset_events(conn, asset_id), _viewer(request, db), conn),
                          conn)
        clearances = db.exec(select(Clearance).where(Clearance.asset_id == asset_id)
                             .order_by(col(Clearance.clearance_id))).all()
        return render(request, "asset.html", names=Names(db), a=detail, row=db.get(Asset, asset_id),
                      vouchers=vouchers, events=events, clearances=clearances)


@router.get("/vouchers/{voucher_id}", response_class=HTMLResponse)
def voucher_page(request: Request, voucher_id: IdPath) -> HTMLResponse:
    with _db(request) as db:
        try:
            v = voucher_detail(db, voucher_id)
        except (ApiError, OverflowError):
            return not_found_page(request, _("Voucher %(id)s", id=voucher_id))
        conn = db.connection()
        events = decorate(redaction.redact_events(provenance.voucher_events(conn, voucher_id), _viewer(request, db),
                                                  conn), conn)
        check = history_verification("voucher", voucher_id, request)
        asset = db.get(Asset, v.asset_id)
        clearances = db.exec(select(Clearance).where(Clearance.asset_id == v.asset_id)
                             .order_by(col(Clearance.clearance_id))).all()
        return render(request, "voucher.html", names=Names(db), v=v, events=events, check=check, asset=asset,
                      clearances=clearances)


@router.get("/address/{account}", response_class=HTMLResponse)
def address_page(request: Request, account: str = PathParam(pattern=r"^0x[0-9a-fA-F]{40}$")) -> HTMLResponse:
    acct = account.lower()
    with _db(request) as db:
        p = db.get(Participant, acct)
        org = db.get(Organisation, p.org_id) if p is not None else None
        vouchers = [voucher_out(v) for v in db.exec(select(Voucher).where(Voucher.holder == acct)).all()]
        assets = db.exec(select(Asset).where(Asset.holder == acct)).all()
        trades = db.exec(select(Trade).where((Trade.seller == acct) | (Trade.buyer == acct))).all()
        names = Names(db)
        return render(request, "address.html", names=names, account=acct,
                      p=participant_out(p) if p else None, org=org, org_name=names.org_name(p.org_id if p else None),
                      vouchers=vouchers, assets=assets, trades=trades)


@router.get("/organisations/{org_id}", response_class=HTMLResponse)
def organisation_page(request: Request, org_id: str = PathParam(pattern=r"^0x[0-9a-fA-F]{64}$")) -> HTMLResponse:
    oid = org_id.lower()
    with _db(request) as db:
        org = db.get(Organisation, oid)
        if org is None:
            return not_found_page(request, _("Organisation %(id)s", id=fmt.short(oid, 6)))
        accounts = [participant_out(p) for p in db.exec(select(Participant).where(Participant.org_id == oid)
                                                         .order_by(col(Participant.added_block))).all()]
        members = [a.account for a in accounts]
        vouchers = [voucher_out(v) for v in db.exec(select(Voucher).where(col(Voucher.holder).in_(members))
                                                     .order_by(col(Voucher.voucher_id))).all()] if members else []
        assets = db.exec(select(Asset).where(col(Asset.holder).in_(members))
                         .order_by(col(Asset.asset_id))).all() if members else []
        trades = db.exec(select(Trade).where(col(Trade.seller).in_(members) | col(Trade.buyer).in_(members))
                         .order_by(col(Trade.settled_at).desc())).all() if members else []
        names = Names(db)
        return render(request, "organisation.html", names=names, org=org, org_name=names.org_name(org.org_id),
                      accounts=accounts, vouchers=vouchers, assets=assets, trades=trades, members=members,
                      roles=lists._roles(org.allowed_roles))


@router.get("/clearances/{clearance_id}", response_class=HTMLResponse)
def clearance_page(request: Request, clearance_id: IdPath) -> HTMLResponse:
    with _db(request) as db:
        c = db.get(Clearance, clearance_id)
        if c is None:
            return not_found_page(request, _("Clearance %(id)s", id=clearance_id))
        conn = db.connection()
        viewer = _viewer(request, db)
        case = clearance_out(c, viewer, conn)
        events = decorate(redaction.redact_events(
            [e for e in provenance.asset_events(conn, c.asset_id)
             if e["contract"] == "DataCustoms" and e["links"].get("clearance_id") == clearance_id], viewer, conn), conn)
        return render(request, "clearance.html", names=Names(db), c=case, events=events)


@router.get("/tx/{tx_hash}", response_class=HTMLResponse)
def tx_page(request: Request, tx_hash: str = PathParam(pattern=r"^0x[0-9a-fA-F]{64}$")) -> HTMLResponse:
    h = tx_hash.lower()
    with _db(request) as db:
        conn = db.connection()
        rows = conn.execute(text("SELECT block_number, block_hash, tx_hash, log_index, contract, address, event, "
                                 "args FROM events WHERE tx_hash = :h ORDER BY block_number, log_index"),
                            {"h": h}).all()
        events = decorate(redaction.redact_events([provenance.event_out(r) for r in rows], _viewer(request, db),
                                                  conn), conn)
        return render(request, "tx.html", names=Names(db), tx_hash=h, events=events)


@router.get("/trades/{trade_id}", response_class=HTMLResponse)
def trade_page(request: Request, trade_id: str = PathParam(pattern=r"^0x[0-9a-fA-F]{64}$")) -> Response:
    with _db(request) as db:
        t = db.get(Trade, trade_id.lower())
        if t is None:
            return not_found_page(request, _("Trade %(id)s", id=fmt.short(trade_id)))
        return RedirectResponse(f"/vouchers/{t.voucher_id}#trade-{t.trade_id}", status_code=303)


# ---------------------------------------------------------------- the regulator's dashboard

ACCOUNTING_TABLES = {
    "by_period": N_("By period"), "by_jurisdiction": N_("By jurisdiction"), "by_level": N_("By classification level"),
    "by_source_type": N_("By source type"), "by_right": N_("By right"), "cross_border": N_("Cross-border flows"),
}
COLUMN_LABELS = {
    "period": N_("Period"), "assets": N_("Data assets registered"), "vouchers": N_("Vouchers issued"),
    "trades": N_("Trades"), "value": N_("Trade value (CNY)"), "label": N_("Category"),
    "jurisdiction": N_("Jurisdiction"), "vouchers_held": N_("Vouchers held"), "trades_bought": N_("Trades bought"),
    "trades_sold": N_("Trades sold"), "value_bought": N_("Value bought (CNY)"), "from": N_("From"), "to": N_("To"),
    "transfers": N_("Transfers"),
}
TABLE_COLUMNS = {
    "by_period": ["period", "assets", "vouchers", "trades", "value"],
    "by_jurisdiction": ["jurisdiction", "assets", "vouchers_held", "trades_bought", "trades_sold", "value_bought"],
    "by_level": ["label", "assets", "vouchers", "trades", "value"],
    "by_source_type": ["label", "assets", "vouchers", "trades", "value"],
    "by_right": ["label", "vouchers", "trades", "value"],
    "cross_border": ["from", "to", "transfers", "trades", "value"],
}


def _cell(table: str, column: str, row: dict[str, Any], as_text: bool) -> str:
    v = row.get(column)
    if column.startswith("value"):
        return units.yuan(v) if as_text else fmt.money(v)
    if column in ("jurisdiction", "from", "to"):
        return fmt.jurisdiction(v)
    if column == "label":
        if table == "by_level":
            return fmt.level(row.get("level"))
        if table == "by_source_type":
            return fmt.source_type(row.get("source_type"))
        if table == "by_right":
            return fmt.right(row.get("right"))
    if isinstance(v, int) and not as_text:
        return fmt.number(v)
    return "" if v is None else str(v)


def _accounting(request: Request) -> tuple[dict[str, Any], dict[str, str], Optional[HTMLResponse]]:
    period = request.query_params.get("period") or "month"
    given = {"period": period, "from": request.query_params.get("from") or "", "to": request.query_params.get("to") or ""}
    if period not in ("day", "month"):
        return {}, given, error_page(request, 400, _("Bad request"), _("period must be day or month"))
    try:
        lo, hi = lists.period_bounds(given)
    except lists.BadFilter as exc:
        return {}, given, error_page(request, 400, _("Bad request"),
                                     _("%(param)s=%(value)s: expected %(expected)s", param=exc.param,
                                       value=exc.value, expected=exc.expected))
    delta = datetime.now(UTC).astimezone(i18n.zone(i18n.current_tz())).utcoffset()
    utc_offset = int(delta.total_seconds()) if delta is not None else 0
    with request.app.state.engine.connect() as conn:
        stats = statistics(conn, period, lo, hi, utc_offset)
    return stats, given, None


@router.get("/regulator", response_class=HTMLResponse)
def regulator_page(request: Request) -> Response:
    stats, given, err = _accounting(request)
    if err is not None:
        return err
    period = given["period"]
    per = _("per month") if period == "month" else _("per day")
    chart = {
        "trades": charts.bar_chart([(r["period"], r["trades"]) for r in stats["by_period"]],
                                   _("Trades %(per)s", per=per), chart_id="chart-trades"),
        "value": charts.line_chart([(r["period"], int(r["value"]) / 100) for r in stats["by_period"]],
                                   _("Trade value %(per)s (¥)", per=per), chart_id="chart-value"),
        "issuance": charts.bar_chart([(r["period"], r["vouchers"]) for r in stats["by_period"]],
                                     _("Vouchers issued %(per)s", per=per), color=charts.PALETTE[2],
                                     chart_id="chart-issuance"),
        "level": charts.bar_chart([(fmt.level(r["level"]), r["assets"]) for r in stats["by_level"]],
                                  _("Data assets by classification level"), color=charts.PALETTE[3],
                                  chart_id="chart-level"),
        "source": charts.bar_chart([(fmt.source_type(r["source_type"]), r["vouchers"]) for r in stats["by_source_type"]],
                                   _("Vouchers by source type"), color=charts.PALETTE[4], chart_id="chart-source"),
        "jurisdiction": charts.bar_chart([(fmt.jurisdiction(r["jurisdiction"]), r["vouchers_held"])
                                          for r in stats["by_jurisdiction"]],
                                         _("Vouchers held by jurisdiction"), color=charts.PALETTE[5],
                                         chart_id="chart-jurisdiction"),
        "flows": charts.flow_chart([{**f, "from": fmt.jurisdiction(f["from"]), "to": fmt.jurisdiction(f["to"])}
                                    for f in stats["cross_border"]], _("Cross-border flows"), chart_id="chart-flows"),
    }
    tables = [{"key": key, "title": title, "columns": [COLUMN_LABELS[c] for c in TABLE_COLUMNS[key]],
               "numeric": [c not in ("period", "label", "jurisdiction", "from", "to") for c in TABLE_COLUMNS[key]],
               "rows": [[_cell(key, c, row, False) for c in TABLE_COLUMNS[key]] for row in stats[key]]}
              for key, title in ACCOUNTING_TABLES.items()]
    qs = lists.query_string(given)
    return render(request, "regulator.html", stats=stats, chart=chart, period=period, given=given, tables=tables,
                  qs=qs, api_qs=urlencode({k: v for k, v in (("period", period), ("since", stats.get("since")),
                                                             ("until", stats.get("until"))) if v is not None}))


@router.get("/regulator/accounting.csv")
def accounting_csv(request: Request, table: str = Query("by_period")) -> Response:
    """One statistical-accounting table of the dashboard (same period and range) as CSV."""
    if table not in ACCOUNTING_TABLES:
        return error_page(request, 400, _("Bad request"),
                          _("table must be one of: %(values)s", values=", ".join(ACCOUNTING_TABLES)))
    stats, given, err = _accounting(request)
    if err is not None:
        return err
    body = lists.csv_bytes([_(COLUMN_LABELS[c]) for c in TABLE_COLUMNS[table]],
                           [[_cell(table, c, row, True) for c in TABLE_COLUMNS[table]] for row in stats[table]])
    return localised(Response(body, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="dataledger-accounting-{table}-{given["period"]}.csv"'}))


@router.get("/customs")
def customs_page(request: Request) -> Response:
    """The customs queue is the clearances list (/clearances: filters, CSV, redaction per viewer)."""
    query = request.url.query
    return RedirectResponse("/clearances" + (f"?{query}" if query else ""), status_code=308)


# ---------------------------------------------------------------- errors as pages, offline API docs


def _is_page(request: Request) -> bool:
    path = request.url.path
    return not any(path == p or path.startswith(p + "/") or path.startswith(p + ".") for p in API_PREFIXES)


def install_error_pages(app: FastAPI) -> None:
    """Page routes answer bad input and unknown paths with an HTML page; /v1 keeps its JSON."""
    json_validation = app.exception_handlers[RequestValidationError]
    json_http = app.exception_handlers[StarletteHTTPException]

    async def validation(request: Request, exc: Exception) -> Response:
        if not _is_page(request):
            return await json_validation(request, exc)  # type: ignore[no-any-return, misc]
        assert isinstance(exc, RequestValidationError)
        parts = []
        for e in exc.errors():
            loc = ".".join(str(p) for p in e.get("loc", ())[1:]) or "?"
            parts.append(_("%(field)s: %(value)s is not valid", field=loc, value=repr(e.get("input"))[:60]))
        return error_page(request, 422, _("Invalid input"), "; ".join(parts))

    async def http(request: Request, exc: Exception) -> Response:
        if not _is_page(request):
            return await json_http(request, exc)  # type: ignore[no-any-return, misc]
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            return error_page(request, 404, _("Not found"), _("There is no page at %(path)s.", path=request.url.path))
        if exc.status_code == 405:
            return error_page(request, 405, _("Method not allowed"), _("This page can only be read."))
        return error_page(request, exc.status_code, _("Error"), str(exc.detail))

    app.add_exception_handler(RequestValidationError, validation)
    app.add_exception_handler(StarletteHTTPException, http)


def install_docs(app: FastAPI) -> None:
    """Swagger UI and ReDoc from the fastapi-offline package's files, served by the gateway: no CDN."""
    import fastapi_offline
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html

    assets = Path(fastapi_offline.__file__).resolve().parent / "static"
    app.mount("/static/docs", StaticFiles(directory=str(assets)), name="docs-assets")

    async def swagger(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} — Swagger UI",
                                   swagger_js_url="/static/docs/swagger-ui-bundle.js",
                                   swagger_css_url="/static/docs/swagger-ui.css",
                                   swagger_favicon_url="/static/docs/favicon.png")

    # ReDoc's bundle shows a "powered by" logo from its CDN: served here with the logo pointed at ours
    redoc_js = (assets / "redoc.standalone.js").read_bytes().replace(
        b"https://cdn.redoc.ly/redoc/logo-mini.svg", b"/static/docs/favicon.png")

    async def redoc_bundle(request: Request) -> Response:
        return Response(redoc_js, media_type="application/javascript",
                        headers={"Cache-Control": "public, max-age=86400"})

    async def redoc(request: Request) -> HTMLResponse:
        return get_redoc_html(openapi_url="/openapi.json", title=f"{app.title} — ReDoc",
                              redoc_js_url="/redoc/redoc.standalone.js",
                              redoc_favicon_url="/static/docs/favicon.png", with_google_fonts=False)

    app.add_api_route("/docs", swagger, methods=["GET"], include_in_schema=False)
    app.add_api_route("/redoc", redoc, methods=["GET"], include_in_schema=False)
    app.add_api_route("/redoc/redoc.standalone.js", redoc_bundle, methods=["GET"], include_in_schema=False)


def mount(app: FastAPI) -> None:
    install_docs(app)  # before /static: its mount would shadow /static/docs
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(router)
    install_error_pages(app)
    app.add_middleware(i18n.LocaleMiddleware)


__all__ = ["mount", "VoucherUse", "Optional"]
