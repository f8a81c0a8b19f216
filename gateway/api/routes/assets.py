"""Registered datasets (确权登记): detail with manifest versions, valuations, IPFS verification."""

from __future__ import annotations

from typing import Annotated, Any, Optional

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import func
from sqlmodel import col, select

from gateway.api.common import (
    AUTH_ERRORS,
    ERRORS,
    AddressQuery,
    BundleQuery,
    IdPath,
    Limit,
    Offset,
    Page,
    StoryLangQuery,
    page_total,
)
from gateway.api.deps import AuthedCallerDep, CallerDep, EngineDep, SessionDep
from gateway.api.legible import AssetNames, ValuationNames
from gateway.api.routes.provenance_models import ProvenancePublic, provenance_verification
from gateway.core.errors import ApiError, not_found
from gateway.models import Asset, AssetManifest, AssetManifestPublic, AssetPublic, Valuation, ValuationPublic, Voucher
from gateway.services import data_access, legible, provenance, redaction, story
from gateway.services.stats import LEVELS, SOURCE_TYPES
from ledger.vocabulary import AssetStatusName

router = APIRouter(prefix="/v1/assets", tags=["assets"], responses=ERRORS)


class AssetOut(AssetPublic, AssetNames):
    manifest_cid_text: str = ""
    level_label: str = ""
    source_type_label: str = ""


class ManifestVersionOut(AssetManifestPublic):
    manifest_cid_text: str = ""


class ManifestVerification(BaseModel):
    status: str  # verified | mismatch | unverified (node unreachable) | unavailable | invalid
    cid: str
    expected_content_hash: str
    actual_content_hash: Optional[str] = None
    detail: str
    chain_block: Optional[int] = None  # block of the eth_call the served manifest was checked against


class ValuationOut(ValuationPublic, ValuationNames):
    pass


class AssetDetail(AssetOut):
    manifests: list[ManifestVersionOut]
    valuations: list[ValuationOut]
    vouchers: int
    manifest_verification: Optional[ManifestVerification] = None


def asset_out(request: Request, a: Asset, directory: Optional[legible.Directory] = None,
              docs: Optional[dict[str, dict[str, Any]]] = None) -> AssetOut:
    """The asset with its names (holder, manifest title...) when ``directory`` is given."""
    verifier = request.app.state.manifests
    extra: dict[str, Any] = {}
    if directory is not None:
        extra = legible.enrich(directory, a.model_dump())
        if docs is None:
            docs = legible.documents_by_chain_cid(directory.conn, [a.manifest_cid])
        extra.update(legible.manifest_fields(docs.get(a.manifest_cid.lower())))
    else:
        extra = a.model_dump()
    return AssetOut(**extra, manifest_cid_text=verifier.cid_text(a.manifest_cid),
                    level_label=LEVELS.get(a.level, str(a.level)),
                    source_type_label=SOURCE_TYPES.get(a.source_type, str(a.source_type)))


@router.get("", response_model=Page[AssetOut])
def list_assets(
    request: Request,
    db: SessionDep,
    holder: AddressQuery = None,
    level: Annotated[Optional[int], Query(ge=1, le=4)] = None,
    source_type: Annotated[Optional[int], Query(ge=0, le=2)] = None,
    jurisdiction: Annotated[Optional[str], Query(min_length=2, max_length=2)] = None,
    status: Optional[AssetStatusName] = None,
    limit: Limit = 50,
    offset: Offset = 0,
) -> Page[AssetOut]:
    query = select(Asset)
    if holder is not None:
        query = query.where(Asset.holder == holder.lower())
    if level is not None:
        query = query.where(Asset.level == level)
    if source_type is not None:
        query = query.where(Asset.source_type == source_type)
    if jurisdiction is not None:
        query = query.where(Asset.home_jurisdiction == jurisdiction.upper())
    if status is not None:
        query = query.where(Asset.status == status)
    rows = db.exec(query.order_by(col(Asset.asset_id)).offset(offset).limit(limit)).all()
    total, exact = page_total(db, query, offset, limit, len(rows))
    directory = legible.Directory(db.connection())
    directory.load_accounts(a.holder for a in rows)
    docs = legible.documents_by_chain_cid(directory.conn, [a.manifest_cid for a in rows])
    return Page(items=[asset_out(request, a, directory, docs) for a in rows], total=total, total_exact=exact, limit=limit, offset=offset)


def _chain_manifest(request: Request, asset_id: int) -> Optional[dict[str, Any]]:
    """The chain's latest manifest of the asset (eth_call), or None when the node is unreachable."""
    from gateway.verify.state import latest_manifest
    from ledger.deployment import Deployment

    deployment: Optional[Deployment] = getattr(request.app.state, "deployment", None)
    registry = deployment.addresses().get("AssetRegistry") if deployment is not None else None
    return latest_manifest(request.app.state.web3, registry, asset_id) if registry else None


def asset_detail(request: Request, db: Any, asset_id: int, verify: bool = True) -> AssetDetail:
    a = db.get(Asset, asset_id)
    if a is None:
        raise not_found("asset", asset_id=asset_id)
    verifier = request.app.state.manifests
    manifests = db.exec(select(AssetManifest).where(AssetManifest.asset_id == asset_id)
                        .order_by(col(AssetManifest.version))).all()
    valuations = db.exec(select(Valuation).where(Valuation.asset_id == asset_id).order_by(col(Valuation.index))).all()
    vouchers = db.exec(select(func.count()).select_from(Voucher).where(Voucher.asset_id == asset_id)).one()
    check = ManifestVerification(**verifier.verify(a.manifest_cid, a.content_hash, _chain_manifest(request, asset_id),
                                                   a.manifest_version)) if verify else None
    directory = legible.Directory(db.connection())
    return AssetDetail(
        **asset_out(request, a, directory).model_dump(),
        manifests=[ManifestVersionOut(**m.model_dump(), manifest_cid_text=verifier.cid_text(m.manifest_cid))
                   for m in manifests],
        valuations=[ValuationOut(**legible.enrich(directory, v.model_dump())) for v in valuations],
        vouchers=vouchers, manifest_verification=check)


@router.get("/{asset_id}", response_model=AssetDetail)
def get_asset(request: Request, asset_id: IdPath, db: SessionDep,
              verify: Annotated[bool, Query(description="fetch the manifest from IPFS and re-hash it")] = True,
              ) -> AssetDetail:
    return asset_detail(request, db, asset_id, verify)


@router.get("/{asset_id}/provenance", response_model=ProvenancePublic)
def asset_provenance(request: Request, asset_id: IdPath, db: SessionDep, engine: EngineDep, caller: CallerDep,
                     bundle: BundleQuery = False, lang: StoryLangQuery = "en") -> Any:
    """Every event naming the asset; fields hidden from the caller are null and listed in each
    event's ``redacted`` (gateway.services.redaction). ``?bundle=true`` is refused (401/403
    ``RedactedHistory``) when the history has events hidden from the caller. ``?lang=zh-Hans|zh-Hant``
    tells the stories in Chinese (default English)."""
    a = db.get(Asset, asset_id)
    if a is None:
        raise not_found("asset", asset_id=asset_id)
    if bundle:
        from gateway.api.routes.verify import bundle_response

        return bundle_response("asset", asset_id, request, request.app.state.settings)
    conn = db.connection()
    events = redaction.redact_events(provenance.asset_events(conn, asset_id), redaction.viewer_of(caller, conn), conn)
    directory = legible.Directory(conn)
    events = story.tell_in(conn, events, directory, lang)
    subject = {"kind": "asset", "id": asset_id, **asset_out(request, a, directory).model_dump()}
    return {"subject": subject, "events": events, "verification": provenance_verification("assets", asset_id)}


def chain_contracts(request: Request) -> dict[str, Any]:
    """web3 contract objects of the deployment on the gateway's node (503 without a record)."""
    from ledger.deployment import Deployment

    record: Optional[Deployment] = getattr(request.app.state, "deployment", None)
    if record is None:
        raise ApiError(503, "NoDeployment", "no deployment record for the node's chain")
    cached: Optional[dict[str, Any]] = getattr(request.app.state, "chain_contracts", None)
    if cached is None:
        cached = dict(record.web3_contracts(request.app.state.web3))
        request.app.state.chain_contracts = cached
    return cached


@router.get("/{asset_id}/data/{cid}", response_class=Response, responses={
    **AUTH_ERRORS, 200: {"content": {"application/octet-stream": {}}}})
def asset_data(request: Request, asset_id: IdPath,
               cid: Annotated[str, Path(pattern=r"^[A-Za-z0-9]{10,120}$")], db: SessionDep,
               caller: AuthedCallerDep) -> Response:
    """One file of the dataset (a distribution of the asset's current on-chain manifest), to a
    signed-in holder of a live voucher on the asset or a user its holder authorised, where the
    chain's cross-border rule admits the caller (``detectTransferRestriction(0, caller, voucher)``).
    Every condition is read from the node, not from the index."""
    from web3.exceptions import Web3Exception

    contracts = chain_contracts(request)
    try:
        grant, data = data_access.authorise_download(db, request.app.state.web3, contracts,
                                                     request.app.state.manifests.store, asset_id,
                                                     str(caller.address), cid)
    except (Web3Exception, OSError) as exc:
        raise ApiError(503, "NodeUnavailable", f"the chain node does not answer: {exc}") from None
    d = grant.distribution
    return Response(data, media_type=d.media_type, headers={
        "Content-Disposition": f'attachment; filename="{data_access.download_filename(d.path)}"',
        "Cache-Control": "private, no-store",
        "X-Voucher-Id": str(grant.voucher_id),
    })
