"""Shared API shapes and validators."""

from __future__ import annotations

import re
from typing import Annotated, Any, Generic, Optional, TypeVar

from fastapi import Path, Query
from pydantic import BaseModel

from gateway.core.errors import ApiError

T = TypeVar("T")

MAX_ID = 2**63 - 1
ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")
HASH_RE = re.compile(r"^0x[0-9a-fA-F]{64}$")

IdPath = Annotated[int, Path(ge=0, le=MAX_ID)]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]
AddressQuery = Annotated[Optional[str], Query(pattern=r"^0x[0-9a-fA-F]{40}$")]
IdQuery = Annotated[Optional[int], Query(ge=0, le=MAX_ID)]


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class ErrorPublic(BaseModel):
    error: str
    reason: str
    values: dict[str, Any] = {}


def address(value: str) -> str:
    if not ADDRESS_RE.match(value or ""):
        raise ApiError(422, "InvalidAddress", f"not an address: {value!r}", {"address": value})
    return value.lower()


#: responses every route may give (documented in the OpenAPI schema)
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorPublic, "description": "Not found"},
    422: {"model": ErrorPublic, "description": "Validation error"},
    429: {"model": ErrorPublic, "description": "Rate limited (Retry-After)"},
}
AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorPublic, "description": "Not signed in"},
    403: {"model": ErrorPublic, "description": "Not allowed for this caller's roles"},
}


#: ?bundle=true on the provenance endpoints
BundleQuery = Annotated[bool, Query(
    description="return the self-contained proof bundle (dataledger-proof-bundle/2: headers, receipts, events, state proofs, "
                "manifests) instead; `dataledger verify --bundle FILE --trusted-head HASH` checks it offline")]
