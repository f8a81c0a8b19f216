"""The documents the chain points at, as the indexer fetched and checked them (state only: a
profile's or manifest's fields are served on the organisation and asset; purpose and conditions
texts only on the rows the redaction policy lets the caller see)."""

from __future__ import annotations

from typing import Annotated, Any, Optional

from fastapi import APIRouter, Path
from pydantic import BaseModel

from gateway.api.common import ERRORS
from gateway.api.deps import SessionDep
from gateway.core.errors import not_found
from gateway.models import Document
from gateway.services.documents import document_status

router = APIRouter(prefix="/v1/documents", tags=["documents"], responses=ERRORS)


class DocumentState(BaseModel):
    cid: str
    chain_cid: str
    kind: str  # profile | manifest | purpose | conditions
    #: pending | missing (retried at next_attempt_at) | verified | mismatch | invalid
    status: str
    attempts: int
    next_attempt_at: Optional[float] = None
    error: Optional[str] = None
    byte_size: Optional[int] = None
    sha256: Optional[str] = None
    first_seen_block: int


class DocumentSummary(BaseModel):
    counts: dict[str, int]


@router.get("", response_model=DocumentSummary)
def documents_summary(db: SessionDep) -> Any:
    """How many documents are in each state (a mismatch is never used; missing ones are retried)."""
    return {"counts": document_status(db.connection())}


@router.get("/{cid}", response_model=DocumentState)
def document_state(cid: Annotated[str, Path(pattern=r"^[A-Za-z0-9]{10,120}$")], db: SessionDep) -> Any:
    doc = db.get(Document, cid)
    if doc is None:
        raise not_found("document", cid=cid)
    out = doc.model_dump()
    if doc.status not in ("pending", "missing"):
        out["next_attempt_at"] = None
    return out
