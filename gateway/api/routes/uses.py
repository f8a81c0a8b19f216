"""Redeemed uses of vouchers (who used which right, for which purpose hash)."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter
from sqlalchemy import Connection
from sqlmodel import col, or_, select

from gateway.api.common import AUTH_ERRORS, ERRORS, AddressQuery, IdQuery, Limit, Offset, Page, page_total
from gateway.api.deps import AuthedCallerDep, SessionDep
from gateway.api.legible import UseNames
from gateway.models import VoucherUse, VoucherUsePublic
from gateway.services import documents, legible, redaction

router = APIRouter(prefix="/v1/uses", tags=["uses"], responses={**ERRORS, **AUTH_ERRORS})


class UseOut(VoucherUsePublic, UseNames):
    pass


def use_rows(conn: Connection, viewer: redaction.Viewer, rows: Sequence[VoucherUse]) -> list[UseOut]:
    """Uses with names, the purpose CID (rebuilt from purpose_hash: the raw-leaf CIDv1 whose digest
    it is) and, where the policy lets the caller see the use, the purpose text."""
    directory = legible.Directory(conn)
    directory.load_accounts([a for u in rows for a in (u.user, u.holder)])
    chain = {u.purpose_hash: documents.raw_cid_of_digest(u.purpose_hash) for u in rows}
    docs = legible.documents_by_chain_cid(conn, chain.values())
    out = []
    for u in rows:
        row = legible.enrich(directory, u.model_dump())
        doc = docs.get(chain[u.purpose_hash])
        row["purpose_cid"] = documents.cid_text(chain[u.purpose_hash]) or None
        row["purpose_status"] = doc["status"] if doc else "pending"
        if doc and doc["status"] == "verified" and redaction.sees_use(viewer, u.holder, u.user, conn):
            row["purpose_text"] = doc["body"]
        out.append(UseOut(**row))
    return out


@router.get("", response_model=Page[UseOut])
def list_uses(
    db: SessionDep,
    caller: AuthedCallerDep,
    voucher_id: IdQuery = None,
    asset_id: IdQuery = None,
    user: AddressQuery = None,
    holder: AddressQuery = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[UseOut]:
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
    rows = db.exec(query.order_by(col(VoucherUse.block_number), col(VoucherUse.log_index)).offset(offset).limit(limit)).all()
    total, exact = page_total(db, query, offset, limit, len(rows))
    return Page(items=use_rows(conn, viewer, rows), total=total, total_exact=exact, limit=limit, offset=offset)
