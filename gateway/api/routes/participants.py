"""Participants of the registry (organisations' accounts, roles, licences)."""

from __future__ import annotations

from typing import Annotated, Literal, Optional

from fastapi import APIRouter, Query
from sqlalchemy import func
from sqlmodel import col, select

from gateway.api.common import ERRORS, Limit, Offset, Page, address, page_total
from gateway.api.deps import SessionDep
from gateway.api.legible import OrganisationNames, ParticipantNames
from gateway.api.routes.provenance_models import StateVerification, participant_verification
from gateway.core.errors import not_found
from gateway.models import Asset, Organisation, OrganisationPublic, Participant, ParticipantPublic, Voucher
from gateway.services import legible
from ledger.contracts.models import Role
from ledger.vocabulary import RoleName

router = APIRouter(prefix="/v1/participants", tags=["participants"], responses=ERRORS)

ROLE_NAMES = [r.name.lower() for r in Role if r.name is not None]


class ParticipantOut(ParticipantPublic, ParticipantNames):
    role_names: list[str] = []
    #: the served standing is the gateway's word: GET /v1/participants/{account}/verification checks it
    verification: Optional[StateVerification] = None


class OrganisationOut(OrganisationPublic, OrganisationNames):
    pass


def organisation_out(directory: legible.Directory, org: Organisation) -> OrganisationOut:
    row = legible.enrich(directory, org.model_dump())
    names = directory.organisation(org.org_id)
    row.pop("organisation_names", None)
    if names is not None:
        row.update(name_zh=names.name_zh, name_en=names.name_en, credit_code=names.credit_code,
                   profile_status=names.profile_status, profile_cid_text=names.profile_cid)
    return OrganisationOut(**row)


class ParticipantDetail(ParticipantOut):
    organisation: Optional[OrganisationOut] = None
    vouchers_held: int = 0
    assets_held: int = 0


def participant_out(p: Participant, directory: Optional[legible.Directory] = None) -> ParticipantOut:
    row = legible.enrich(directory, p.model_dump()) if directory is not None else p.model_dump()
    return ParticipantOut(**row, role_names=[r.name.lower() for r in Role if r.name is not None and p.roles & int(r)],
                          verification=participant_verification(p.account))


@router.get("", response_model=Page[ParticipantOut])
def list_participants(
    db: SessionDep,
    role: Optional[RoleName] = None,
    jurisdiction: Annotated[Optional[str], Query(min_length=2, max_length=2)] = None,
    status: Optional[Literal["active", "suspended", "removed"]] = None,
    org_id: Annotated[Optional[str], Query(pattern=r"^0x[0-9a-fA-F]{64}$")] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[ParticipantOut]:
    query = select(Participant)
    if role is not None:
        bit = int(Role[role.upper()])
        query = query.where(col(Participant.roles).op("&")(bit) != 0)
    if jurisdiction is not None:
        query = query.where(Participant.jurisdiction == jurisdiction.upper())
    if status is not None:
        query = query.where(Participant.status == status)
    if org_id is not None:
        query = query.where(Participant.org_id == org_id.lower())
    rows = db.exec(query.order_by(col(Participant.added_block), col(Participant.account)).offset(offset).limit(limit)).all()
    total, exact = page_total(db, query, offset, limit, len(rows))
    directory = legible.Directory(db.connection())
    directory.load_accounts([p.account for p in rows] + [p.added_by for p in rows])
    return Page(items=[participant_out(p, directory) for p in rows], total=total, total_exact=exact, limit=limit, offset=offset)


@router.get("/{account}", response_model=ParticipantDetail)
def get_participant(account: str, db: SessionDep) -> ParticipantDetail:
    acct = address(account)
    p = db.get(Participant, acct)
    if p is None:
        raise not_found("participant", address=account)
    org = db.get(Organisation, p.org_id)
    vouchers = db.exec(select(func.count()).select_from(Voucher).where(Voucher.holder == acct)).one()
    assets = db.exec(select(func.count()).select_from(Asset).where(Asset.holder == acct)).one()
    directory = legible.Directory(db.connection())
    return ParticipantDetail(**participant_out(p, directory).model_dump(),
                             organisation=organisation_out(directory, org) if org else None,
                             vouchers_held=vouchers, assets_held=assets)
