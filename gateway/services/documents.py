"""Documents the chain points at, fetched from IPFS and checked against their CIDs.

Which documents: every CID the projections hold —

- ``organisations.profile_cid`` (kind ``profile``: ledger.profile, names and credit code);
- ``asset_manifests.manifest_cid`` (kind ``manifest``: ledger.manifest, title, description,
  publisher, keywords, themes; the bytes must also hash to the version's ``contentHash``);
- ``clearances.purpose_cid`` / ``conditions_cid`` (kinds ``purpose`` / ``conditions``: plain text);
- ``voucher_uses.purpose_hash``: the sha-256 the contract stores is the digest of the raw-leaf
  CIDv1 (``bafkrei...``) of a purpose text up to 256 KiB, as ``dataledger voucher redeem --purpose``
  stores it (kind ``purpose``).

How: :meth:`DocumentFetcher.run_once` (called by the indexer between rounds, in its own
transactions, errors logged and never raised) first *discovers* new CIDs (a ``pending`` row each),
then fetches those due. A fetch re-hashes the bytes against the CID (the store does: an IPFS node
answering other bytes is ``mismatch``), and manifests against their on-chain content hash too. A
document not (yet) in the store is ``missing`` and retried with back-off (``attempts``,
``next_attempt_at``, ``error`` show it); ``mismatch`` and ``invalid`` rows are kept and shown, and
their bytes are never used. Each round is bounded (``batch`` documents, ``budget`` seconds, an
IPFS timeout) so block indexing never waits long on IPFS.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional

from sqlalchemy import Connection, Engine, bindparam, text

from ledger.ipfs import IpfsStore, KuboClient, LocalStore, cid_from_chain
from ledger.ipfs.errors import BlockNotFound, CidMismatch, IpfsError

log = logging.getLogger(__name__)

RAW_CID_PREFIX = "0x01551220"  # CIDv1, raw codec, sha2-256, 32-byte digest
MAX_DOCUMENT_BYTES = 1 << 20
STATUSES = ("pending", "missing", "verified", "mismatch", "invalid")


def raw_cid_of_digest(digest_hex: str) -> str:
    """The binary CID (0x hex) of the raw-leaf CIDv1 whose sha-256 digest is ``digest_hex``."""
    return RAW_CID_PREFIX + digest_hex.removeprefix("0x").lower()


def cid_text(chain_cid: str) -> str:
    """CID text of a binary CID in 0x hex ("" when it does not parse)."""
    try:
        out = cid_from_chain(bytes.fromhex(chain_cid.removeprefix("0x")))
    except ValueError:
        return ""
    return "" if out.startswith("0x") else out


def open_document_store(target: str, timeout: float = 10.0) -> IpfsStore:
    if target.startswith(("http://", "https://", "/ip4/", "/ip6/", "/dns")):
        return KuboClient(target, timeout=timeout)
    return LocalStore(target)


#: (kind, SQL giving the binary CIDs in 0x hex of that kind and the block that wrote them, from block :b on)
_SOURCES: tuple[tuple[str, str], ...] = (
    ("profile", "SELECT profile_cid, updated_block FROM organisations WHERE profile_cid IS NOT NULL"
                " AND updated_block >= :b"),
    ("manifest", "SELECT manifest_cid, block_number FROM asset_manifests WHERE block_number >= :b"),
    ("purpose", "SELECT purpose_cid, requested_block FROM clearances WHERE requested_block >= :b"),
    ("conditions", "SELECT conditions_cid, updated_block FROM clearances WHERE conditions_cid IS NOT NULL"
                   " AND updated_block >= :b"),
    ("purpose", f"SELECT '{RAW_CID_PREFIX}' || substr(purpose_hash, 3), block_number FROM voucher_uses"
                " WHERE block_number >= :b"),
)


def _texts(values: Any) -> list[str]:
    return [str(v) for v in values if isinstance(v, str) and v.strip()] if isinstance(values, list) else []


def extract(kind: str, data: bytes) -> dict[str, Any]:
    """The indexed fields of a verified document (raises ValueError when it is not of its kind)."""
    if kind == "profile":
        from ledger.profile import parse_profile

        p = parse_profile(data)
        licences = [lic.kind + (f" {lic.number}" if lic.number else "") for lic in p.licences]
        short = [p.short_name.zh, p.short_name.en] if p.short_name else []
        return {"name_zh": p.legal_name.zh, "name_en": p.legal_name.en, "credit_code": p.credit_code,
                "jurisdiction": p.jurisdiction,
                "search": [p.legal_name.zh, p.legal_name.en, p.credit_code, p.city, *short, *licences]}
    if kind == "manifest":
        from ledger.manifest import parse_manifest

        m = parse_manifest(data)
        zh = next((t for tag, t in (m.translations or {}).items() if tag.lower().startswith("zh")), None)
        keywords = list(m.keywords) + [k for k in (zh.keywords if zh else []) if k not in m.keywords]
        return {"title": m.title, "title_zh": zh.title if zh else None, "description": m.description,
                "description_zh": zh.description if zh else None, "publisher": m.publisher.name,
                "publisher_id": m.publisher.identifier, "keywords": json.dumps(keywords, ensure_ascii=False),
                "themes": json.dumps(list(m.theme), ensure_ascii=False),
                "search": [m.title, zh.title if zh else None, m.description, zh.description if zh else None,
                           m.publisher.name, m.publisher.identifier, *keywords, *m.theme]}
    data.decode("utf-8")  # purpose / conditions: plain UTF-8 text (raises when it is not)
    return {"search": []}


@dataclass
class DocumentFetcher:
    """Discovers and fetches the documents of one database from one IPFS store."""

    engine: Engine
    target: str
    batch: int = 32
    budget: float = 2.0
    retry_base: float = 2.0
    retry_max: float = 300.0
    timeout: float = 10.0
    clock: Callable[[], float] = time.time
    _store: Optional[IpfsStore] = field(default=None, repr=False)
    #: rows written below this block were discovered already (by this fetcher)
    _watermark: int = field(default=0, repr=False)

    @property
    def store(self) -> IpfsStore:
        if self._store is None:
            self._store = open_document_store(self.target, self.timeout)
        return self._store

    def run_once(self) -> dict[str, int]:
        """Discover, then fetch what is due. Never raises (a failure is logged and retried next round)."""
        out = {"discovered": 0, "fetched": 0}
        try:
            out["discovered"] = self.discover()
            out["fetched"] = self.fetch_due()
        except Exception as exc:  # documents must never stop block indexing
            log.warning("document fetching failed this round (retried next round): %s", exc)
        return out

    def drain(self, limit: float = 60.0) -> int:
        """Rounds until nothing due is left (those missing wait for their retry time) or ``limit`` s."""
        t0, total = time.monotonic(), 0
        while time.monotonic() - t0 < limit:
            n = self.run_once()["fetched"]
            total += n
            if n == 0:
                break
        return total

    def discover(self) -> int:
        """Pending rows for the CIDs the projections hold that have none yet. The first call scans
        everything; later ones only rows written at or after the highest block seen before (a
        reorg rewrites rows at their new blocks, which are at or above it too)."""
        new = 0
        with self.engine.begin() as conn:
            since = self._watermark
            top = conn.execute(text("SELECT last_block FROM indexer_state WHERE id = 1")).scalar()
            candidates: dict[str, tuple[str, int]] = {}
            for kind, sql in _SOURCES:
                for value, block in conn.execute(text(sql), {"b": since}).all():
                    chain = str(value or "").lower()
                    if chain and chain not in candidates:
                        candidates[chain] = (kind, int(block or 0))
            known: set[str] = set()
            chains = sorted(candidates)
            for i in range(0, len(chains), 500):
                known |= {str(r[0]) for r in conn.execute(
                    text("SELECT chain_cid FROM documents WHERE chain_cid IN :c")
                    .bindparams(bindparam("c", expanding=True)), {"c": chains[i:i + 500]})}
            for chain in chains:
                if chain in known:
                    continue
                kind, block = candidates[chain]
                cid = cid_text(chain)
                row: dict[str, Any] = {"cid": cid or chain, "chain_cid": chain, "kind": kind,
                                       "status": "pending" if cid else "invalid",
                                       "error": None if cid else "the on-chain value does not parse as a CID",
                                       "block": block}
                if conn.execute(text("SELECT 1 FROM documents WHERE cid = :cid"), row).first() is not None:
                    continue  # the same CID text under another binary form
                conn.execute(text(
                    "INSERT INTO documents (cid, chain_cid, kind, status, attempts, next_attempt_at, error,"
                    " first_seen_block) VALUES (:cid, :chain_cid, :kind, :status, 0, 0, :error, :block)"), row)
                new += 1
            if top is not None:
                self._watermark = max(self._watermark, int(top))
        return new

    def fetch_due(self) -> int:
        started = self.clock()
        t0 = time.monotonic()
        with self.engine.connect() as conn:
            due = conn.execute(text(
                "SELECT cid, chain_cid, kind, attempts FROM documents WHERE status IN ('pending', 'missing')"
                " AND next_attempt_at <= :now ORDER BY next_attempt_at, cid LIMIT :n"),
                {"now": started, "n": self.batch}).all()
        done = 0
        for cid, chain_cid, kind, attempts in due:
            if done and time.monotonic() - t0 > self.budget:
                break
            changes = self._fetch(str(cid), str(chain_cid), str(kind), int(attempts))
            with self.engine.begin() as conn:
                _write(conn, str(cid), changes)
            done += 1
        return done

    def _fetch(self, cid: str, chain_cid: str, kind: str, attempts: int) -> dict[str, Any]:
        now = self.clock()
        base: dict[str, Any] = {"attempts": attempts + 1, "fetched_at": now}
        try:
            if not self.store.has(cid):
                raise BlockNotFound(cid)
            data = self.store.cat(cid)
        except CidMismatch as exc:
            return {**base, "status": "mismatch", "error": f"the IPFS bytes do not hash to the CID: {exc}"}
        except (BlockNotFound, IpfsError, OSError, ValueError) as exc:
            delay = min(self.retry_max, self.retry_base * (2 ** min(attempts, 16)))
            what = "not in the IPFS store" if isinstance(exc, BlockNotFound) else f"IPFS error: {exc}"
            return {**base, "status": "missing", "error": f"{what}; retried at attempt {attempts + 2}",
                    "next_attempt_at": now + delay}
        digest = "0x" + hashlib.sha256(data).hexdigest()
        base.update(byte_size=len(data), sha256=digest)
        if kind == "manifest":
            with self.engine.connect() as conn:
                hashes = {str(r[0]).lower() for r in conn.execute(text(
                    "SELECT content_hash FROM asset_manifests WHERE manifest_cid = :c"), {"c": chain_cid})}
            if hashes and digest not in hashes:
                return {**base, "status": "mismatch",
                        "error": f"sha-256 of the bytes {digest} differs from the contentHash on chain "
                                 f"({', '.join(sorted(hashes))})"}
        if len(data) > MAX_DOCUMENT_BYTES:
            return {**base, "status": "invalid", "error": f"{len(data)} bytes: larger than a document may be"}
        try:
            fields = extract(kind, data)
            body = data.decode("utf-8")
        except (ValueError, UnicodeDecodeError) as exc:
            return {**base, "status": "invalid", "error": f"not a {kind} document: {exc}"}
        search = [str(s) for s in fields.pop("search") if s]
        if kind in ("purpose", "conditions"):
            search = []  # redacted texts are never searchable
        search.append(cid)
        return {**base, **fields, "status": "verified", "error": None, "body": body,
                "search_text": "\n".join(search)}


def _write(conn: Connection, cid: str, changes: dict[str, Any]) -> None:
    sets = ", ".join(f"{k} = :{k}" for k in changes)
    conn.execute(text(f"UPDATE documents SET {sets} WHERE cid = :cid"), {**changes, "cid": cid})
    if conn.dialect.name == "sqlite" and changes.get("status") == "verified":
        conn.execute(text("DELETE FROM search_fts WHERE cid = :cid"), {"cid": cid})
        conn.execute(text("INSERT INTO search_fts (cid, body) VALUES (:cid, :body)"),
                     {"cid": cid, "body": changes.get("search_text") or ""})


def document_status(conn: Connection) -> dict[str, int]:
    """Rows per status (for /v1/documents and the indexer status)."""
    out = {s: 0 for s in STATUSES}
    for status, n in conn.execute(text("SELECT status, COUNT(*) FROM documents GROUP BY status")):
        out[str(status)] = int(n)
    return out
