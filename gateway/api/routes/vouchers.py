"""Data asset vouchers (公共数据资产凭证): filters, detail, user authorisations, provenance."""

from __future__ import annotations

import time
from typing import Any, Literal, Optional

from fastapi import APIRouter, Request
from sqlmodel import col, or_, select

from gateway.api.common import (
    AUTH_ERRORS,
    ERRORS,
    AddressQuery,
    BundleQuery,
    IdPath,
    IdQuery,
    Limit,
    Offset,
    Page,
    StoryLangQuery,
    page_total,
)
from gateway.api.deps import AuthedCallerDep, CallerDep, EngineDep, SessionDep
from gateway.api.legible import TransferNames, UserNames, VoucherNames
from gateway.api.routes.provenance_models import ProvenancePublic, provenance_verification
from gateway.api.routes.trades import TradeOut
from gateway.core.errors import ApiError, not_found
from gateway.models import (
    Trade,
    Voucher,
    VoucherPublic,
    VoucherTransfer,
    VoucherTransferPublic,
    VoucherUser,
    VoucherUserPublic,
)
from gateway.services import legible, provenance, redaction, story
from gateway.services.stats import RIGHTS
from ledger.vocabulary import RightTypeName

router = APIRouter(prefix="/v1/vouchers", tags=["vouchers"], responses=ERRORS)

RIGHT_BY_NAME = {v: k for k, v in RIGHTS.items()}


class VoucherOut(VoucherPublic, VoucherNames):
    right_name: str = ""
    effective_status: str = ""  # status, or "expired" when past valid_until


class TransferOut(VoucherTransferPublic, TransferNames):
    pass


class VoucherDetail(VoucherOut):
    transfers: list[TransferOut]
    trades: list[TradeOut]


def voucher_out(v: Voucher, now: Optional[float] = None, directory: Optional[legible.Directory] = None,
                titles: Optional[dict[int, tuple[Optional[str], Optional[str]]]] = None) -> VoucherOut:
    """The voucher, with names (issuer, holder, asset title) when ``directory`` is given."""
    now = time.time() if now is None else now
    effective = "expired" if v.status == "active" and v.valid_until < now else v.status
    row = v.model_dump()
    if directory is not None:
        row = legible.enrich(directory, row)
        if titles is None:
            titles = legible.asset_titles(directory.conn, [v.asset_id])
        row["asset_title"], row["asset_title_zh"] = titles.get(v.asset_id, (None, None))
    return VoucherOut(**row, right_name=RIGHTS.get(v.right, str(v.right)), effective_status=effective)


@router.get("", response_model=Page[VoucherOut])
def list_vouchers(
    db: SessionDep,
    holder: AddressQuery = None,
    asset_id: IdQuery = None,
    status: Optional[Literal["active", "frozen", "revoked", "expired"]] = None,
    right: Optional[RightTypeName] = None,
    issuer: AddressQuery = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[VoucherOut]:
    now = int(time.time())
    query = select(Voucher)
    if holder is not None:
        query = query.where(Voucher.holder == holder.lower())
    if issuer is not None:
        query = query.where(Voucher.issuer == issuer.lower())
    if asset_id is not None:
        query = query.where(Voucher.asset_id == asset_id)
    if status == "expired":
        query = query.where(Voucher.status == "active", Voucher.valid_until < now)
    elif status == "active":
        query = query.where(Voucher.status == "active", Voucher.valid_until >= now)
    elif status is not None:
        query = query.where(Voucher.status == status)
    if right is not None:
        query = query.where(Voucher.right == RIGHT_BY_NAME[right])
    rows = db.exec(query.order_by(col(Voucher.voucher_id)).offset(offset).limit(limit)).all()
    total, exact = page_total(db, query, offset, limit, len(rows))
    directory = legible.Directory(db.connection())
    directory.load_accounts([v.holder for v in rows] + [v.issuer for v in rows])
    titles = legible.asset_titles(directory.conn, [v.asset_id for v in rows])
    return Page(items=[voucher_out(v, now, directory, titles) for v in rows], total=total, total_exact=exact, limit=limit, offset=offset)


def voucher_detail(db: Any, voucher_id: int) -> VoucherDetail:
    v = db.get(Voucher, voucher_id)
    if v is None:
        raise not_found("voucher", voucher_id=voucher_id)
    transfers = db.exec(select(VoucherTransfer).where(VoucherTransfer.voucher_id == voucher_id)
                        .order_by(col(VoucherTransfer.block_number), col(VoucherTransfer.log_index))).all()
    trades = db.exec(select(Trade).where(Trade.voucher_id == voucher_id).order_by(col(Trade.block_number))).all()
    directory = legible.Directory(db.connection())
    titles = legible.asset_titles(directory.conn, [v.asset_id])
    return VoucherDetail(**voucher_out(v, None, directory, titles).model_dump(),
                         transfers=[TransferOut(**legible.enrich(directory, t.model_dump())) for t in transfers],
                         trades=[TradeOut(**legible.enrich(directory, t.model_dump()),
                                          asset_title=titles.get(t.asset_id, (None, None))[0],
                                          asset_title_zh=titles.get(t.asset_id, (None, None))[1]) for t in trades])


@router.get("/{voucher_id}", response_model=VoucherDetail)
def get_voucher(voucher_id: IdPath, db: SessionDep) -> VoucherDetail:
    return voucher_detail(db, voucher_id)


class VoucherUserOut(VoucherUserPublic, UserNames):
    #: the chain's ``isAuthorisedUser`` for this row: allowed by the CURRENT holder (an
    #: authorisation of an earlier holder has lapsed; it applies again if the voucher returns)
    live: bool = False


def user_rows(v: Voucher, rows: list[VoucherUser], directory: Optional[legible.Directory] = None) -> list[VoucherUserOut]:
    return [VoucherUserOut(**(legible.enrich(directory, r.model_dump()) if directory else r.model_dump()),
                           live=bool(r.allowed) and r.holder == v.holder) for r in rows]


@router.get("/{voucher_id}/users", response_model=Page[VoucherUserOut], responses=AUTH_ERRORS)
def voucher_users(voucher_id: IdPath, db: SessionDep, caller: AuthedCallerDep, limit: Limit = 50,
                  offset: Offset = 0) -> Page[VoucherUserOut]:
    """User authorisations of the voucher, a page like every list (``items``, ``total``, ``limit``,
    ``offset``), one row per (holder, user) as on chain, ``live`` when the current holder's
    authorisation allows the user now. Visible (gateway.services.redaction) to regulators and
    customs (all rows), and to the parties of a row: the holder that gave it and the user (and
    accounts of their organisations). The current holder with no row gets an empty page."""
    v = db.get(Voucher, voucher_id)
    if v is None:
        raise not_found("voucher", voucher_id=voucher_id)
    rows = db.exec(select(VoucherUser).where(VoucherUser.voucher_id == voucher_id)
                   .order_by(col(VoucherUser.user), col(VoucherUser.holder))).all()
    conn = db.connection()
    viewer = redaction.viewer_of(caller, conn)
    visible = [r for r in rows if redaction.sees_authorisation(viewer, r.holder, r.user, conn)]
    if visible or redaction.viewer_is_party(viewer, [v.holder], conn):
        out = user_rows(v, visible, legible.Directory(conn))
        return Page(items=out[offset:offset + limit], total=len(out), limit=limit, offset=offset)
    raise ApiError(403, "Forbidden", "only the voucher's holder, its authorised users and regulators see its "
                   "user authorisations", {"voucher_id": voucher_id, "caller": caller.address})


@router.get("/{voucher_id}/provenance", response_model=ProvenancePublic)
def voucher_provenance(request: Request, voucher_id: IdPath, db: SessionDep, engine: EngineDep, caller: CallerDep,
                       bundle: BundleQuery = False, lang: StoryLangQuery = "en") -> Any:
    """The voucher's events; fields hidden from the caller are null and listed in each event's
    ``redacted`` (gateway.services.redaction). ``?bundle=true`` is refused (401/403
    ``RedactedHistory``) when the history has events hidden from the caller. ``?lang=zh-Hans|zh-Hant``
    tells the stories in Chinese (default English)."""
    v = db.get(Voucher, voucher_id)
    if v is None:
        raise not_found("voucher", voucher_id=voucher_id)
    if bundle:
        from gateway.api.routes.verify import bundle_response

        return bundle_response("voucher", voucher_id, request, request.app.state.settings)
    conn = db.connection()
    events = redaction.redact_events(provenance.voucher_events(conn, voucher_id), redaction.viewer_of(caller, conn), conn)
    directory = legible.Directory(conn)
    events = story.tell_in(conn, events, directory, lang)
    return {"subject": {"kind": "voucher", "id": voucher_id, **voucher_out(v, None, directory).model_dump()},
            "events": events,
            "verification": provenance_verification("vouchers", voucher_id)}


# a module-level alias used by the web pages
__all__ = ["router", "voucher_detail", "voucher_out", "or_"]
