"""Redeemed uses of vouchers (who used which right, for which purpose hash)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import func
from sqlmodel import col, or_, select

from gateway.api.common import AUTH_ERRORS, ERRORS, AddressQuery, IdQuery, Limit, Offset, Page
from gateway.api.deps import AuthedCallerDep, SessionDep
from gateway.models import VoucherUse, VoucherUsePublic
from gateway.services import redaction

router = APIRouter(prefix="/v1/uses", tags=["uses"], responses={**ERRORS, **AUTH_ERRORS})


@router.get("", response_model=Page[VoucherUsePublic])
def list_uses(
    db: SessionDep,
    caller: AuthedCallerDep,
    voucher_id: IdQuery = None,
    asset_id: IdQuery = None,
    user: AddressQuery = None,
    holder: AddressQuery = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[VoucherUsePublic]:
    """Signed-in callers only. Regulators, customs and the data authority see every use; anyone
    else sees the uses where they (or an account of their organisation) are the holder or the user
    (gateway.services.redaction)."""
    query = select(VoucherUse)
    conn = db.connection()
    viewer = redaction.viewer_of(caller, conn)
    if not (viewer.supervisor or viewer.authority):
        # the policy's "party": the holder or user, or an account of the same organisation
        mine = redaction.party_accounts(viewer, conn)
        query = query.where(or_(col(VoucherUse.holder).in_(mine), col(VoucherUse.user).in_(mine)))
    if voucher_id is not None:
        query = query.where(VoucherUse.voucher_id == voucher_id)
    if asset_id is not None:
        query = query.where(VoucherUse.asset_id == asset_id)
    if user is not None:
        query = query.where(VoucherUse.user == user.lower())
    if holder is not None:
        query = query.where(VoucherUse.holder == holder.lower())
    total = db.exec(select(func.count()).select_from(query.subquery())).one()
    rows = db.exec(query.order_by(col(VoucherUse.block_number), col(VoucherUse.log_index)).offset(offset).limit(limit)).all()
    return Page(items=[VoucherUsePublic(**u.model_dump()) for u in rows], total=total, limit=limit, offset=offset)
