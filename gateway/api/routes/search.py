"""Explorer search: an address, an asset id, a voucher id, a trade id or a tx hash."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import text
from sqlmodel import Session

from gateway.api.common import ERRORS, MAX_ID
from gateway.api.deps import SessionDep
from gateway.models import Asset, Participant, Trade, Voucher

router = APIRouter(prefix="/v1/search", tags=["search"], responses=ERRORS)

_PREFIXED = re.compile(r"^(asset|a|voucher|v|clearance|case|c)[:#\s]?(\d{1,19})$", re.IGNORECASE)


class SearchHit(BaseModel):
    kind: str  # participant | address | asset | voucher | clearance | trade | tx
    id: str
    label: str
    url: str


class SearchResult(BaseModel):
    query: str
    results: list[SearchHit]


def search(db: Session, q: str) -> list[SearchHit]:
    q = q.strip()
    hits: list[SearchHit] = []
    if re.fullmatch(r"0x[0-9a-fA-F]{40}", q):
        addr = q.lower()
        p = db.get(Participant, addr)
        kind = "participant" if p is not None else "address"
        label = f"participant ({p.jurisdiction}, {p.status})" if p is not None else "address (not registered)"
        hits.append(SearchHit(kind=kind, id=addr, label=label, url=f"/address/{addr}"))
        return hits
    if re.fullmatch(r"0x[0-9a-fA-F]{64}", q):
        h = q.lower()
        t = db.get(Trade, h)
        if t is not None:
            hits.append(SearchHit(kind="trade", id=h, label=f"trade of voucher {t.voucher_id}", url=f"/trades/{h}"))
        in_events = db.connection().execute(text("SELECT 1 FROM events WHERE tx_hash = :h LIMIT 1"), {"h": h}).first()
        if in_events is not None or t is None:
            hits.append(SearchHit(kind="tx", id=h, label="transaction", url=f"/tx/{h}"))
        return hits
    m = _PREFIXED.fullmatch(q)
    kinds: tuple[str, ...] = ("asset", "voucher")
    number = None
    if m:
        letter = m.group(1)[0].lower()
        kinds = {"a": ("asset",), "v": ("voucher",), "c": ("clearance",)}[letter]
        number = int(m.group(2))
    elif re.fullmatch(r"\d{1,19}", q):
        number = int(q)
    if number is None or number > MAX_ID:
        return hits
    if "asset" in kinds and db.get(Asset, number) is not None:
        hits.append(SearchHit(kind="asset", id=str(number), label=f"asset {number}", url=f"/assets/{number}"))
    if "voucher" in kinds and db.get(Voucher, number) is not None:
        hits.append(SearchHit(kind="voucher", id=str(number), label=f"voucher {number}", url=f"/vouchers/{number}"))
    if "clearance" in kinds:
        hits.append(SearchHit(kind="clearance", id=str(number), label=f"clearance {number}",
                              url=f"/clearances#clearance-{number}"))
    return hits


@router.get("", response_model=SearchResult)
def search_route(q: Annotated[str, Query(min_length=1, max_length=100)], db: SessionDep) -> dict[str, Any]:
    return {"query": q, "results": search(db, q)}
