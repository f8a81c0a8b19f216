"""Dataset manifests: validate, store and pin on IPFS, return the CID and content hash."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel

from gateway.api.common import AUTH_ERRORS, ERRORS
from gateway.api.deps import ParticipantCallerDep, SessionDep
from gateway.core.errors import ApiError
from gateway.services.data_access import public_document
from ledger.ipfs.errors import IpfsError
from ledger.manifest import ManifestError, parse_manifest

router = APIRouter(prefix="/v1/manifests", tags=["manifests"], responses=ERRORS)

MAX_MANIFEST_BYTES = 1 << 20


class ManifestStored(BaseModel):
    cid: str
    content_hash: str
    byte_size: int
    title: str
    classification_level: int
    source_type: str
    pinned: bool = True


@router.post("", response_model=ManifestStored, status_code=201, responses=AUTH_ERRORS)
def upload_manifest(request: Request, caller: ParticipantCallerDep,
                    manifest: Annotated[dict[str, Any], Body(description="a dataledger/manifest/v1 document")],
                    ) -> ManifestStored:
    """Active participants only. The manifest is validated (ledger.manifest), stored in its
    canonical bytes (so ``content_hash`` is what registerAsset records) and pinned."""
    try:
        raw = json.dumps(manifest, ensure_ascii=False).encode()
    except (TypeError, ValueError) as exc:
        raise ApiError(422, "InvalidManifest", f"not JSON-serialisable: {exc}") from None
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ApiError(413, "ManifestTooLarge", f"manifest exceeds {MAX_MANIFEST_BYTES} bytes")
    try:
        parsed = parse_manifest(raw)
    except ManifestError as exc:
        raise ApiError(422, "InvalidManifest", str(exc)) from None
    canonical = parsed.canonical_bytes()
    store = request.app.state.manifests.store
    try:
        cid = store.add(canonical, pin=True)
    except (IpfsError, OSError) as exc:
        raise ApiError(502, "IpfsUnavailable", f"could not store the manifest: {exc}") from None
    return ManifestStored(cid=cid, content_hash="0x" + hashlib.sha256(canonical).hexdigest(),
                          byte_size=len(canonical), title=parsed.title,
                          classification_level=int(parsed.classification_level),
                          source_type=parsed.source_type.value)


@router.get("/{cid}", response_class=Response, responses={200: {"content": {"application/json": {}}}})
def get_manifest(request: Request, cid: Annotated[str, Path(pattern=r"^[A-Za-z0-9]{10,120}$")],
                 db: SessionDep) -> Response:
    """A public document: a manifest (or valuation report) recorded on chain, or a manifest
    uploaded here (gateway.services.data_access.public_document). Anything else of the IPFS store,
    dataset files above all, is 404 ``NotPublic``: files are served by
    ``GET /v1/assets/{asset_id}/data/{cid}`` to entitled callers only."""
    data = public_document(db, request.app.state.manifests.store, cid)
    return Response(data, media_type="application/json")
