"""Explorer search: an address, an asset id, a voucher id, a trade id or a tx hash; organisations and
datasets by name (Chinese in either script, or English), title, keyword, theme, publisher, credit code or CID."""

from __future__ import annotations

import hashlib
import re
from typing import Annotated, Any, Optional

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import Connection, bindparam, text
from sqlmodel import Session

from gateway.api.common import ERRORS, MAX_ID
from gateway.api.deps import SessionDep
from gateway.models import Asset, Participant, Trade, Voucher
from gateway.services import legible, script
from ledger.contracts.models import cid_to_chain
from ledger.errors import InvalidInput

router = APIRouter(prefix="/v1/search", tags=["search"], responses=ERRORS)

_PREFIXED = re.compile(r"^(asset|a|voucher|v|clearance|case|c)[:#\s]?(\d{1,19})$", re.IGNORECASE)


class SearchHit(BaseModel):
    kind: str  # participant | address | organisation | asset | voucher | clearance | trade | tx
    id: str
    label: str
    url: str
    #: the Chinese name / title where the hit has one
    label_zh: Optional[str] = None
    #: why it matched: id | address | hash | credit_code | cid | text
    match: str = "id"


class SearchResult(BaseModel):
    query: str
    results: list[SearchHit]


def _like_pattern(q: str) -> str:
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def matching_documents(conn: Connection, q: str, limit: int = 50) -> list[str]:
    """CIDs of verified profiles and manifests whose text (names, credit code, title, description,
    publisher, keywords, themes, CID) contains ``q``, case-insensitively. SQLite: the FTS5 trigram
    index for 3+ characters, LIKE for 1-2 characters ("佛山"); PostgreSQL: ILIKE over the pg_trgm GIN
    index (which serves 3+ characters; shorter patterns scan). Purpose and conditions texts are never
    searched (the redaction policy decides who reads them)."""
    if conn.dialect.name == "sqlite" and len(q) >= 3:
        phrase = '"' + q.replace('"', '""') + '"'
        rows = conn.execute(text(
            "SELECT f.cid FROM search_fts f JOIN documents d ON d.cid = f.cid WHERE search_fts MATCH :q"
            " AND d.status = 'verified' AND d.kind IN ('profile', 'manifest') ORDER BY rank LIMIT :n"),
            {"q": phrase, "n": limit}).all()
    else:
        op = "ILIKE" if conn.dialect.name == "postgresql" else "LIKE"
        rows = conn.execute(text(
            f"SELECT cid FROM documents WHERE status = 'verified' AND kind IN ('profile', 'manifest')"
            f" AND search_text {op} :p ESCAPE '\\' ORDER BY kind DESC, cid LIMIT :n"),
            {"p": _like_pattern(q), "n": limit}).all()
    return [str(r[0]) for r in rows]


def _org_hit(directory: legible.Directory, org_id: str, match: str) -> Optional[SearchHit]:
    org = directory.organisation(org_id)
    if org is None:
        return None
    label = org.name_en or org.name_zh or f"organisation {org_id[:10]}…"
    return SearchHit(kind="organisation", id=org_id, label=label, label_zh=org.name_zh,
                     url=f"/organisations/{org_id}", match=match)


def text_search(db: Session, q: str, limit: int = 50) -> list[SearchHit]:
    """Organisations and datasets by name, title, keyword, theme, publisher, credit code or CID."""
    conn = db.connection()
    directory = legible.Directory(conn)
    hits: list[SearchHit] = []
    seen: set[tuple[str, str]] = set()

    def add(hit: Optional[SearchHit]) -> None:
        if hit is not None and (hit.kind, hit.id) not in seen:
            seen.add((hit.kind, hit.id))
            hits.append(hit)

    # a credit code names its organisation even without a profile: the org id is its sha-256
    org_id = "0x" + hashlib.sha256(q.encode("utf-8")).hexdigest()
    if conn.execute(text("SELECT 1 FROM organisations WHERE org_id = :o"), {"o": org_id}).first() is not None:
        add(_org_hit(directory, org_id, "credit_code"))
    chain_cids: list[tuple[str, str]] = []  # (binary CID hex, match)
    try:
        chain_cids.append(("0x" + cid_to_chain(q).hex(), "cid"))
    except InvalidInput:
        pass
    # the query in both Chinese scripts: 廣州 finds the 简体 profile of 广州..., and the other way round
    cids: list[str] = []
    for variant in script.variants(q):
        cids += [c for c in matching_documents(conn, variant, limit) if c not in cids]
    if cids:
        rows = conn.execute(text("SELECT chain_cid FROM documents WHERE cid IN :c")
                            .bindparams(bindparam("c", expanding=True)), {"c": cids}).all()
        chain_cids += [(str(r[0]), "text") for r in rows]
    docs = legible.documents_by_chain_cid(conn, [c for c, _m in chain_cids])
    for chain, match in chain_cids:
        for (oid,) in conn.execute(text("SELECT org_id FROM organisations WHERE profile_cid = :c"), {"c": chain}).all():
            add(_org_hit(directory, str(oid), match))
        assets = conn.execute(text("SELECT DISTINCT asset_id FROM asset_manifests WHERE manifest_cid = :c"
                                   " ORDER BY asset_id"), {"c": chain}).all()
        doc = docs.get(chain)
        for (aid,) in assets:
            title = doc["title"] if doc and doc["status"] == "verified" else None
            add(SearchHit(kind="asset", id=str(aid), label=title or f"asset {aid}",
                          label_zh=doc["title_zh"] if doc and doc["status"] == "verified" else None,
                          url=f"/assets/{aid}", match=match))
    hits.sort(key=lambda h: (h.match != "credit_code", h.match != "cid", h.kind != "organisation"))
    return hits[:limit]


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
        return text_search(db, q)
    if "asset" in kinds and db.get(Asset, number) is not None:
        hits.append(SearchHit(kind="asset", id=str(number), label=f"asset {number}", url=f"/assets/{number}"))
    if "voucher" in kinds and db.get(Voucher, number) is not None:
        hits.append(SearchHit(kind="voucher", id=str(number), label=f"voucher {number}", url=f"/vouchers/{number}"))
    if "clearance" in kinds:
        hits.append(SearchHit(kind="clearance", id=str(number), label=f"clearance {number}",
                              url=f"/clearances#clearance-{number}"))
    if m is None and len(q) >= 4:  # a longer bare number (a year, part of a code) may be in a title or code
        hits += text_search(db, q)
    return hits


@router.get("", response_model=SearchResult)
def search_route(q: Annotated[str, Query(min_length=1, max_length=100)], db: SessionDep) -> dict[str, Any]:
    return {"query": q, "results": search(db, q)}
