"""Redeemed uses of vouchers (who used which right, for which purpose hash)."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import func
from sqlmodel import col, or_, select

from gateway.api.common import AUTH_ERRORS, ERRORS, AddressQuery, IdQuery, Limit, Offset, Page
from gateway.api.deps import AuthedCallerDep, SessionDep
from gateway.models import VoucherUse, VoucherUsePublic
from ledger.contracts.models import Role

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
    else sees the uses where they are the holder or the user."""
    query = select(VoucherUse)
    if not (caller.supervisor or caller.has(Role.AUTHORITY)):
        me = (caller.address or "").lower()
        query = query.where(or_(VoucherUse.holder == me, VoucherUse.user == me))
    if voucher_id is not None:
        query = query.where(VoucherUse.token_id == voucher_id)
    if asset_id is not None:
        query = query.where(VoucherUse.asset_id == asset_id)
    if user is not None:
        query = query.where(VoucherUse.user == user.lower())
    if holder is not None:
        query = query.where(VoucherUse.holder == holder.lower())
    total = db.exec(select(func.count()).select_from(query.subquery())).one()
    rows = db.exec(query.order_by(col(VoucherUse.block_number), col(VoucherUse.log_index)).offset(offset).limit(limit)).all()
    return Page(items=[VoucherUsePublic(**u.model_dump()) for u in rows], total=total, limit=limit, offset=offset)
