"""The customs queue (数据海关): cross-border clearance cases.

Customs officers and regulators see every case in full; a case's requester sees its own in full;
everyone else sees a redacted queue (case, asset, destination, status, blocks)."""

from __future__ import annotations

from typing import Literal, Annotated, Optional, Union

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import col, select

from gateway.api.common import ERRORS, IdPath, IdQuery, Limit, Offset, Page
from gateway.api.deps import Caller, CallerDep, SessionDep
from gateway.core.errors import not_found
from gateway.models import Clearance, ClearancePublic

router = APIRouter(prefix="/v1/clearances", tags=["customs"], responses=ERRORS)


class ClearanceRedacted(BaseModel):
    case_id: int
    asset_id: int
    destination: str
    status: str
    expiry: Optional[int] = None
    requested_block: int
    updated_block: int
    redacted: bool = True


class ClearanceFull(ClearancePublic):
    redacted: bool = False


ClearanceOut = Union[ClearanceFull, ClearanceRedacted]


def clearance_out(c: Clearance, caller: Caller) -> ClearanceOut:
    if caller.supervisor or (caller.address is not None and caller.address.lower() == c.requester):
        return ClearanceFull(**c.model_dump())
    return ClearanceRedacted(case_id=c.case_id, asset_id=c.asset_id, destination=c.destination, status=c.status,
                             expiry=c.expiry, requested_block=c.requested_block, updated_block=c.updated_block)


@router.get("", response_model=Page[ClearanceOut])
def list_clearances(
    db: SessionDep,
    caller: CallerDep,
    status: Optional[Literal["requested", "approved", "rejected", "revoked"]] = None,
    asset_id: IdQuery = None,
    destination: Annotated[Optional[str], Query(min_length=2, max_length=2)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[ClearanceOut]:
    query = select(Clearance)
    if status is not None:
        query = query.where(Clearance.status == status)
    if asset_id is not None:
        query = query.where(Clearance.asset_id == asset_id)
    if destination is not None:
        query = query.where(Clearance.destination == destination.upper())
    total = db.exec(select(func.count()).select_from(query.subquery())).one()
    rows = db.exec(query.order_by(col(Clearance.case_id)).offset(offset).limit(limit)).all()
    return Page(items=[clearance_out(c, caller) for c in rows], total=total, limit=limit, offset=offset)


@router.get("/{case_id}", response_model=ClearanceOut)
def get_clearance(case_id: IdPath, db: SessionDep, caller: CallerDep) -> ClearanceOut:
    c = db.get(Clearance, case_id)
    if c is None:
        raise not_found("clearance case", case_id=case_id)
    return clearance_out(c, caller)
