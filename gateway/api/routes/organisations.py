"""Organisations by name: the registry's organisations with their verified profile documents
(legal names in Chinese and English, credit code, licences), their accounts and documents' state."""

from __future__ import annotations

import json
from typing import Annotated, Any, Optional

from fastapi import APIRouter, Path, Query
from sqlmodel import col, select

from gateway.api.common import ERRORS, Limit, Offset, Page, page_total
from gateway.api.deps import SessionDep
from gateway.api.routes.participants import OrganisationOut, ParticipantOut, organisation_out, participant_out
from gateway.core.errors import not_found
from gateway.models import Document, Organisation, Participant
from gateway.services import legible

router = APIRouter(prefix="/v1/organisations", tags=["participants"], responses=ERRORS)


class OrganisationDetail(OrganisationOut):
    accounts: list[ParticipantOut]
    #: the verified profile document as recorded (null unless verified)
    profile: Optional[dict[str, Any]] = None
    profile_error: Optional[str] = None


@router.get("", response_model=Page[OrganisationOut])
def list_organisations(
    db: SessionDep,
    jurisdiction: Annotated[Optional[str], Query(min_length=2, max_length=2)] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[OrganisationOut]:
    query = select(Organisation)
    if jurisdiction is not None:
        query = query.where(Organisation.jurisdiction == jurisdiction.upper())
    rows = db.exec(query.order_by(col(Organisation.registered_block), col(Organisation.org_id))
                   .offset(offset).limit(limit)).all()
    total, exact = page_total(db, query, offset, limit, len(rows))
    directory = legible.Directory(db.connection())
    directory.load_orgs(o.org_id for o in rows)
    return Page(items=[organisation_out(directory, o) for o in rows], total=total, total_exact=exact, limit=limit, offset=offset)


@router.get("/{org_id}", response_model=OrganisationDetail)
def get_organisation(org_id: Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{64}$")], db: SessionDep) -> OrganisationDetail:
    org = db.get(Organisation, org_id.lower())
    if org is None:
        raise not_found("organisation", org_id=org_id)
    directory = legible.Directory(db.connection())
    accounts = db.exec(select(Participant).where(Participant.org_id == org.org_id)
                       .order_by(col(Participant.added_block), col(Participant.account))).all()
    profile: Optional[dict[str, Any]] = None
    error: Optional[str] = None
    if org.profile_cid:
        doc = db.exec(select(Document).where(Document.chain_cid == org.profile_cid.lower())).first()
        if doc is not None and doc.status == "verified" and doc.body:
            profile = json.loads(doc.body)
        elif doc is not None:
            error = doc.error
    return OrganisationDetail(**organisation_out(directory, org).model_dump(),
                              accounts=[participant_out(p, directory) for p in accounts],
                              profile=profile, profile_error=error)
