"""Cross-border clearances (数据海关).

Customs officers and regulators see every clearance in full; a clearance's requester sees its own in
full; everyone else sees a redacted queue (clearance, asset, destination, status, expiry, blocks; the rest null
and named in ``redacted``), decided by gateway.services.redaction."""

from __future__ import annotations

from typing import Annotated, Optional

from fastapi import APIRouter, Query
from sqlalchemy import Connection
from sqlmodel import col, select

from gateway.api.common import ERRORS, IdPath, IdQuery, Limit, Offset, Page, page_total
from gateway.api.deps import CallerDep, SessionDep
from gateway.api.legible import ClearanceNames
from gateway.core.errors import not_found
from gateway.models import Clearance
from gateway.services import legible, redaction
from gateway.services.redaction import Viewer
from ledger.vocabulary import ClearanceStateName

router = APIRouter(prefix="/v1/clearances", tags=["clearances"], responses=ERRORS)


class ClearanceOut(ClearanceNames):
    """A clearance; fields hidden from the caller are null and named in ``redacted``
    (gateway.services.redaction: the one policy)."""

    clearance_id: int
    asset_id: int
    requester: Optional[str] = None
    destination: str
    recipient: Optional[str] = None
    purpose_cid: Optional[str] = None
    status: str
    officer: Optional[str] = None
    expiry: Optional[int] = None
    conditions_cid: Optional[str] = None
    reason: Optional[str] = None
    requested_block: int
    updated_block: int
    redacted: list[str] = []


def clearance_out(c: Clearance, viewer: Viewer, conn: Optional[Connection] = None,
                  directory: Optional[legible.Directory] = None) -> ClearanceOut:
    """The case as the caller may see it, with names, and the purpose and conditions texts (documents
    on IPFS) only where the policy lets the caller see their CIDs."""
    row = redaction.redact_clearance(c.model_dump(), viewer, conn)
    if conn is None:
        return ClearanceOut(**row)
    directory = directory or legible.Directory(conn)
    out = legible.enrich(directory, row)
    cids = [row.get(f) for f in ("purpose_cid", "conditions_cid") if isinstance(row.get(f), str)]
    docs = legible.documents_by_chain_cid(conn, [c for c in cids if c])
    for field, prefix in (("purpose_cid", "purpose"), ("conditions_cid", "conditions")):
        value = row.get(field)
        if isinstance(value, str) and value:
            doc = docs.get(value.lower())
            out[f"{prefix}_status"] = doc["status"] if doc else "pending"
            out[f"{prefix}_text"] = doc["body"] if doc and doc["status"] == "verified" else None
    return ClearanceOut(**out)


@router.get("", response_model=Page[ClearanceOut])
def list_clearances(
    db: SessionDep,
    caller: CallerDep,
    status: Optional[ClearanceStateName] = None,
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
    rows = db.exec(query.order_by(col(Clearance.clearance_id)).offset(offset).limit(limit)).all()
    total, exact = page_total(db, query, offset, limit, len(rows))
    conn = db.connection()
    viewer = redaction.viewer_of(caller, conn)
    directory = legible.Directory(conn)
    return Page(items=[clearance_out(c, viewer, conn, directory) for c in rows], total=total, total_exact=exact,
                limit=limit, offset=offset)


@router.get("/{clearance_id}", response_model=ClearanceOut)
def get_clearance(clearance_id: IdPath, db: SessionDep, caller: CallerDep) -> ClearanceOut:
    c = db.get(Clearance, clearance_id)
    if c is None:
        raise not_found("clearance", clearance_id=clearance_id)
    conn = db.connection()
    return clearance_out(c, redaction.viewer_of(caller, conn), conn)
