"""The wallet pages: ``/me`` (my vouchers, my organisation, and the actions of each of my roles:
holder, data officer, customs, regulator, exchange). Server-rendered from the index; every action
is prepared by ``/v1/actions/*``, signed or sent by the browser wallet (static/wallet.js), relayed
or broadcast, and followed through ``/v1/tx/{hash}`` until the index has it."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import text
from sqlmodel import Session, col, select

from gateway.api.routes.actions import frozen_reason, org_accounts
from gateway.api.routes.vouchers import voucher_out
from gateway.models import Clearance, Organisation, Participant, Voucher, VoucherUser
from gateway.web import pages
from gateway.web.act_strings import strings
from ledger.contracts.models import Role

router = APIRouter(include_in_schema=False)

ROLE_BITS = [(str(r.name).lower(), int(r)) for r in Role if r.name is not None]


def _pending_recoveries(db: Session) -> list[dict[str, Any]]:
    """Recovery proposals not executed or cancelled yet (from the events table)."""
    rows = db.connection().execute(text(
        "SELECT event, args, tx_hash FROM events WHERE contract = 'DataVoucher' AND event IN "
        "('RecoveryProposed', 'RecoveryCancelled', 'VoucherRecovered') ORDER BY block_number, log_index")).all()
    open_: dict[int, dict[str, Any]] = {}
    for event, args, tx_hash in rows:
        a = json.loads(args) if isinstance(args, str) else dict(args)
        tid = int(a.get("voucherId", -1))
        if event == "RecoveryProposed":
            open_[tid] = {"voucher_id": tid, "to": a.get("to"), "regulator": a.get("regulator"),
                          "reason": a.get("reason"), "tx_hash": tx_hash}
        else:
            open_.pop(tid, None)
    return list(open_.values())


@router.get("/me", response_class=HTMLResponse)
def me_page(request: Request) -> HTMLResponse:
    with pages._db(request) as db:
        caller = pages._caller(request, db)
        ctx: dict[str, Any] = {"caller": caller, "role_bits": ROLE_BITS}
        if caller is None:
            return pages.render(request, "act_me.html", **ctx)
        me = str(caller.address).lower()
        p = db.get(Participant, me)
        org = db.get(Organisation, p.org_id) if p is not None else None
        ctx.update(p=p, org=org, officer=bool(org and org.officer.lower() == me),
                   accounts=org_accounts(db, org.org_id) if org else [])
        ctx["vouchers"] = [voucher_out(v) for v in
                           db.exec(select(Voucher).where(Voucher.holder == me).order_by(col(Voucher.voucher_id))).all()]
        # a frozen voucher's transfer form says why at once (the regulator's reason, from the index)
        ctx["frozen_reasons"] = {v.voucher_id: frozen_reason(db, v.voucher_id) or "" for v in ctx["vouchers"]
                                 if v.status == "frozen"}
        users = db.exec(select(VoucherUser).where(VoucherUser.user == me, VoucherUser.allowed == True)).all()  # noqa: E712
        usable = []
        for u in users:
            v = db.get(Voucher, u.voucher_id)
            if v is not None and v.holder == u.holder:  # the authorisation of the current holder
                usable.append(voucher_out(v))
        ctx["usable"] = usable
        exchanges = [x for x in db.exec(select(Participant).where(Participant.status == "active")).all()
                     if int(x.roles) & int(Role.EXCHANGE)]
        ctx["exchanges"] = exchanges
        ctx["requested"] = db.exec(select(Clearance).where(Clearance.status == "requested")
                               .order_by(col(Clearance.clearance_id))).all() if caller.has(Role.CUSTOMS) else []
        ctx["approved"] = db.exec(select(Clearance).where(Clearance.status == "approved")
                                  .order_by(col(Clearance.clearance_id))).all() if caller.supervisor else []
        ctx["frozen"] = [voucher_out(v) for v in db.exec(select(Voucher).where(Voucher.status == "frozen")
                                                                .order_by(col(Voucher.voucher_id))).all()] \
            if caller.has(Role.REGULATOR) else []
        ctx["recoveries"] = _pending_recoveries(db) if caller.has(Role.REGULATOR) else []
        return pages.render(request, "act_me.html", **ctx)


def wallet_strings() -> str:
    """The JS dictionary (translated), safe inside a <script> element."""
    return json.dumps(strings(), ensure_ascii=False).replace("</", "<\\/")


pages.templates.env.globals["wallet_strings"] = wallet_strings


def mount(app: FastAPI) -> None:
    app.include_router(router)
