"""Web pages of the gateway (server-rendered Jinja2, hand-written CSS/JS/SVG, all served locally)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sqlmodel import Session, col, select

from gateway.api.deps import caller_for, session_token
from gateway.api.routes.assets import asset_detail
from gateway.api.routes.clearances import clearance_out
from gateway.api.routes.participants import participant_out
from gateway.api.routes.search import search
from gateway.api.routes.vouchers import voucher_detail, voucher_out
from gateway.core.errors import ApiError
from gateway.core.security import is_revoked, read_token
from gateway.models import Asset, Clearance, Organisation, Participant, Trade, Voucher, VoucherUse
from gateway.services import legible, provenance, redaction
from gateway.services.stats import cached_statistics as statistics
from gateway.web import charts

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
router = APIRouter(include_in_schema=False)


def _ts(value: Any) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(int(value)))
    except (TypeError, ValueError):
        return ""


def _money(value: Any) -> str:
    try:
        v = int(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{v // 100:,}.{v % 100:02d}"


def _short(value: Any, n: int = 10) -> str:
    s = str(value or "")
    return s if len(s) <= n + 4 else f"{s[:n]}…{s[-4:]}"


templates.env.filters["ts"] = _ts
templates.env.filters["money"] = _money
templates.env.filters["short"] = _short


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


def render(request: Request, name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, ctx, status_code=status)


def not_found_page(request: Request, what: str) -> HTMLResponse:
    return render(request, "notfound.html", status=404, what=what)


def history_verification(kind: str, subject_id: int, request: Request) -> dict[str, Any]:
    """Re-check what this gateway serves about the subject against the node (gateway.verify): every
    event in a canonical block and in its receipt (receipts root recomputed), every served state
    field against the events replayed and the contracts' views (eth_call), manifests re-hashed.
    ``scope`` says exactly what was checked against what; ``detail`` names the first differences."""
    from fastapi import HTTPException

    from gateway.api.routes.verify import history_verdict

    try:
        verdict = history_verdict(kind, subject_id, request, request.app.state.settings, manifests=True)
    except HTTPException as exc:
        return {"status": "not verified", "detail": str(exc.detail)[:300], "scope": "nothing was checked"}
    except Exception as exc:  # noqa: BLE001 - a failing check is shown on the page, not raised
        return {"status": "verification failed", "detail": str(exc)[:300], "scope": "nothing was checked"}
    name = verdict.get("verdict", "mismatch")
    counts = verdict.get("counts", {})
    states: dict[str, int] = verdict.get("state_counts", {})
    checks = verdict.get("state", [])
    unverified = sorted({c["field"] for c in checks if c["status"] in ("unverified", "redacted")})
    block = verdict.get("block")
    scope = (f"checked against the node at block {block}: {counts.get('served', 0)} events of the history "
             f"(block hashes, receipts roots, logs in their receipts), {states.get('ok', 0)} served fields "
             f"(against the events replayed and the contracts' state by eth_call at block {block})"
             + (f"; {len(verdict.get('manifests', []))} manifest(s) re-hashed from IPFS" if verdict.get("manifests") else "")
             + (f". Not checked: {', '.join(unverified)}" if unverified else ""))
    if name == "verified":
        status, detail = "history verified", scope
    elif name == "behind":
        status, detail = "gateway behind", verdict.get("summary", "")
    else:
        status = "history NOT verified"
        detail = "; ".join(verdict.get("mismatches", [])[:3] + [str(p) for p in verdict.get("problems", [])[:2]])
    return {"status": status, "detail": detail[:600], "scope": scope}


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    with _db(request) as db:
        counts = {
            "participants": len(db.exec(select(Participant.account)).all()),
            "assets": len(db.exec(select(Asset.asset_id)).all()),
            "vouchers": len(db.exec(select(Voucher.voucher_id)).all()),
            "trades": len(db.exec(select(Trade.trade_id)).all()),
        }
        recent = db.exec(select(Trade).order_by(Trade.block_number.desc()).limit(5)).all()  # type: ignore[attr-defined]
        assets = db.exec(select(Asset).order_by(Asset.asset_id.desc()).limit(5)).all()  # type: ignore[attr-defined]
        return render(request, "home.html", counts=counts, recent=recent, assets=assets)


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request, q: str = Query("", max_length=100)) -> Response:
    with _db(request) as db:
        hits = search(db, q) if q.strip() else []
    if len(hits) == 1:
        return RedirectResponse(hits[0].url, status_code=303)
    return render(request, "search.html", q=q, hits=hits)


@router.get("/assets/{asset_id}", response_class=HTMLResponse)
def asset_page(request: Request, asset_id: int) -> HTMLResponse:
    with _db(request) as db:
        try:
            detail = asset_detail(request, db, asset_id)
        except (ApiError, OverflowError):
            return not_found_page(request, f"asset {asset_id}")
        vouchers = [voucher_out(v) for v in db.exec(select(Voucher).where(Voucher.asset_id == asset_id)
                                                     .order_by(col(Voucher.voucher_id))).all()]
        conn = db.connection()
        events = redaction.redact_events(provenance.asset_events(conn, asset_id), _viewer(request, db), conn)
        return render(request, "asset.html", a=detail, vouchers=vouchers, events=events)


@router.get("/vouchers/{voucher_id}", response_class=HTMLResponse)
def voucher_page(request: Request, voucher_id: int) -> HTMLResponse:
    with _db(request) as db:
        try:
            v = voucher_detail(db, voucher_id)
        except (ApiError, OverflowError):
            return not_found_page(request, f"voucher {voucher_id}")
        conn = db.connection()
        events = redaction.redact_events(provenance.voucher_events(conn, voucher_id), _viewer(request, db), conn)
        check = history_verification("voucher", voucher_id, request)
        asset = db.get(Asset, v.asset_id)
        return render(request, "voucher.html", v=v, events=events, check=check, asset=asset)


@router.get("/address/{account}", response_class=HTMLResponse)
def address_page(request: Request, account: str) -> HTMLResponse:
    acct = account.lower()
    with _db(request) as db:
        p = db.get(Participant, acct)
        org = db.get(Organisation, p.org_id) if p is not None else None
        vouchers = [voucher_out(v) for v in db.exec(select(Voucher).where(Voucher.holder == acct)).all()]
        assets = db.exec(select(Asset).where(Asset.holder == acct)).all()
        trades = db.exec(select(Trade).where((Trade.seller == acct) | (Trade.buyer == acct))).all()
        names = legible.Directory(db.connection())
        return render(request, "address.html", account=acct, p=participant_out(p, names) if p else None, org=org,
                      vouchers=vouchers, assets=assets, trades=trades)


@router.get("/tx/{tx_hash}", response_class=HTMLResponse)
def tx_page(request: Request, tx_hash: str) -> HTMLResponse:
    from sqlalchemy import text

    h = tx_hash.lower()
    with _db(request) as db:
        conn = db.connection()
        rows = conn.execute(text("SELECT block_number, block_hash, tx_hash, log_index, contract, address, event, "
                                 "args FROM events WHERE tx_hash = :h ORDER BY block_number, log_index"),
                            {"h": h}).all()
        events = redaction.redact_events([provenance.event_out(r) for r in rows], _viewer(request, db), conn)
    return render(request, "tx.html", tx_hash=h, events=events)


@router.get("/trades", response_class=HTMLResponse)
def trades_page(request: Request, offset: int = Query(0, ge=0, le=10_000_000)) -> HTMLResponse:
    with _db(request) as db:
        trades = db.exec(select(Trade).order_by(Trade.block_number.desc(), Trade.log_index.desc())  # type: ignore[attr-defined]
                         .offset(offset).limit(100)).all()
        return render(request, "trades.html", trades=trades, offset=offset)


@router.get("/trades/{trade_id}", response_class=HTMLResponse)
def trade_page(request: Request, trade_id: str) -> Response:
    with _db(request) as db:
        t = db.get(Trade, trade_id.lower())
        if t is None:
            return not_found_page(request, f"trade {trade_id}")
        return RedirectResponse(f"/vouchers/{t.voucher_id}#trade-{t.trade_id}", status_code=303)


@router.get("/regulator", response_class=HTMLResponse)
def regulator_page(request: Request, period: str = Query("month", pattern="^(day|month)$")) -> HTMLResponse:
    with request.app.state.engine.connect() as conn:
        stats = statistics(conn, period)
    chart = {
        "trades": charts.bar_chart([(r["period"], r["trades"]) for r in stats["by_period"]],
                                   f"Trades per {period}", chart_id="chart-trades"),
        "value": charts.line_chart([(r["period"], int(r["value"]) / 100) for r in stats["by_period"]],
                                   f"Trade value per {period} (CNY)", chart_id="chart-value"),
        "issuance": charts.bar_chart([(r["period"], r["vouchers"]) for r in stats["by_period"]],
                                     f"Vouchers issued per {period}", color=charts.PALETTE[2], chart_id="chart-issuance"),
        "level": charts.bar_chart([(r["label"], r["assets"]) for r in stats["by_level"]],
                                  "Assets by classification level", color=charts.PALETTE[3], chart_id="chart-level"),
        "source": charts.bar_chart([(r["label"], r["vouchers"]) for r in stats["by_source_type"]],
                                   "Vouchers by source type", color=charts.PALETTE[4], chart_id="chart-source"),
        "jurisdiction": charts.bar_chart([(r["jurisdiction"], r["vouchers_held"]) for r in stats["by_jurisdiction"]],
                                         "Vouchers held by jurisdiction", color=charts.PALETTE[5],
                                         chart_id="chart-jurisdiction"),
        "flows": charts.flow_chart(stats["cross_border"], "Cross-border flows", chart_id="chart-flows"),
    }
    return render(request, "regulator.html", stats=stats, chart=chart, period=period)


@router.get("/clearances", response_class=HTMLResponse)
@router.get("/customs", response_class=HTMLResponse, include_in_schema=False)  # the 0003-era URL
def clearances_page(request: Request) -> HTMLResponse:
    with _db(request) as db:
        caller = _caller(request, db)
        from gateway.api.deps import Caller

        conn = db.connection()
        viewer = redaction.viewer_of(caller or Caller(), conn)
        clearances = [clearance_out(c, viewer, conn)
                 for c in db.exec(select(Clearance).order_by(col(Clearance.clearance_id))).all()]
        return render(request, "customs.html", clearances=clearances, caller=caller,
                      full=bool(caller and caller.supervisor))


def mount(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(router)


__all__ = ["mount", "VoucherUse", "Optional"]
