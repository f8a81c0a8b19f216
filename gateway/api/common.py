"""Shared API shapes and validators."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Annotated, Any, Generic, Literal, Optional, TypeVar

from fastapi import Path, Query
from pydantic import BaseModel, Field, WithJsonSchema
from sqlalchemy import func
from sqlmodel import select

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


def _uint_text(maximum: int) -> str:
    return (f"uint256 as a decimal string (at most {maximum}); a JSON number is accepted too, but only below "
            "2^53 is it exact in JavaScript")


def _uint_schema(maximum: int) -> WithJsonSchema:
    """uint256-range integers are documented as decimal strings (JavaScript numbers lose digits above
    2^53); the field still accepts a JSON number."""
    digits = len(str(maximum)) - 1  # any string of fewer digits is within range
    return WithJsonSchema({"type": "string", "pattern": "^[0-9]+$", "maxLength": digits,
                           "description": _uint_text(maximum)})


def udoc(text: str) -> str:
    """A uint256 field's own description with the decimal-string convention after it."""
    return f"{text}. " + _uint_text(2**255)


#: request fields of the uint256 range: "15000000" (decimal string) or 15000000 (JSON number)
Uint256 = Annotated[int, Field(ge=0, le=2**256 - 1), _uint_schema(2**256 - 1)]
#: the relay's bound on uint256 fields (the forwarder's value and nonces, order fields)
Uint255 = Annotated[int, Field(ge=0, le=2**255), _uint_schema(2**255)]


#: the currency of every amount on chain and its decimals: amounts are integers of 10^-2 yuan (fen)
AMOUNT_CURRENCY = "CNY"
AMOUNT_DECIMALS = 2
AMOUNT_DESCRIPTION = ("an amount as an exact decimal string of the currency's smallest unit: fen, 10^-`decimals` "
                      "of the `currency` (\"15000000\" with decimals 2 is ¥150,000.00)")


#: list totals are counted up to this many rows: beyond it ``total`` is a lower bound (``total_exact`` false),
#: so that a list over millions of rows costs a bounded count, not a scan of every match
TOTAL_CAP = 10_000


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int = Field(description=f"the number of items matching the filters when `total_exact` is true; when "
                                   f"more than {TOTAL_CAP:,} match, counting stops and `total` is a lower bound "
                                   f"(at least {TOTAL_CAP:,}, and at least `offset` + the items of this page)")
    total_exact: bool = Field(default=True, description=f"whether `total` is the exact count; false when more than "
                                                        f"{TOTAL_CAP:,} items match (page on with `offset` until a "
                                                        "page has fewer than `limit` items)")
    limit: int
    offset: int


def bounded_total(offset: int, limit: int, got: int, count_upto: Callable[[int], int]) -> tuple[int, bool]:
    """(total, exact) of a list whose page at ``offset`` returned ``got`` rows of at most ``limit``:
    a short non-empty (or first) page gives the exact total without a count; otherwise
    ``count_upto(n)`` counts the matching rows up to ``n`` = ``TOTAL_CAP`` + 1, and beyond the cap
    the total is a lower bound (the rows before this page and on it; an empty page past the end
    says only the cap)."""
    if got < limit and (got > 0 or offset == 0):
        return offset + got, True
    counted = count_upto(TOTAL_CAP + 1)
    if counted <= TOTAL_CAP:
        return counted, True
    return (max(TOTAL_CAP, offset + got) if got else TOTAL_CAP), False


def page_total(db: Any, query: Any, offset: int, limit: int, got: int) -> tuple[int, bool]:
    """:func:`bounded_total` of a list ``query`` (a select without ORDER BY/LIMIT)."""
    return bounded_total(offset, limit, got, lambda n: int(
        db.exec(select(func.count()).select_from(query.limit(n).subquery())).one()))


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


#: ?lang= on the provenance endpoints: the language of ``story.text`` (English unless asked)
StoryLangQuery = Annotated[Literal["en", "zh-Hans", "zh-Hant"], Query(
    description="language of each event's `story.text` and of the names in `story.params` (organisation names and "
                "asset titles in Chinese for zh-Hans/zh-Hant); `story.template` stays the English msgid")]
