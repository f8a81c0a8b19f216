"""Liveness and position: chain id, head block, indexed block, lag, database, IPFS."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Optional

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from gateway.api.deps import EngineDep, SettingsDep, Web3Dep
from gateway.indexer.leader import WriterStatus, writer_status
from gateway.indexer.store import missing_indexes

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)


class ComponentStatus(BaseModel):
    status: str  # ok | down | empty
    detail: str = ""


class HealthPublic(BaseModel):
    status: str  # ok | degraded
    chain_id: Optional[int]
    head_block: Optional[int]
    indexed_block: Optional[int]
    lag: Optional[int]
    events_indexed: Optional[int] = None
    database: str
    database_status: ComponentStatus
    ipfs: str
    ipfs_status: ComponentStatus
    contracts: dict[str, str]
    #: which indexer process writes this index (gateway.indexer.leader)
    indexer_writer: Optional[WriterStatus] = None
    #: secondary indexes a first backfill builds at its end (gateway.indexer.store.DEFERRABLE_INDEXES):
    #: until then lists by holder, asset, status or transaction answer the same, only slower
    indexes_deferred: list[str] = []
    #: with several Kubo nodes (IPFS_APIS): gateway.services.replication.Report.public()
    ipfs_replication: Optional[dict[str, Any]] = None
    error: Optional[str] = None


def _ipfs_status(request: Request) -> ComponentStatus:
    verifier = request.app.state.manifests
    try:
        store = verifier.store
        version = getattr(store, "version", None)
        if callable(version):
            return ComponentStatus(status="ok", detail=f"kubo {version()}")
        return ComponentStatus(status="ok", detail="embedded store")
    except Exception as exc:
        log.warning("IPFS unavailable: %s", exc)
        return ComponentStatus(status="down", detail=f"unavailable ({type(exc).__name__})")


_CHAIN_LOCK = threading.Lock()


def _chain_position(request: Request, w3: Any, ttl: float) -> tuple[Optional[int], Optional[int], Optional[str]]:
    """(chain id, head block, error) from the node, re-used for ``ttl`` seconds (one RPC round trip
    per probe otherwise; under load /health was the slowest route). Failures are not cached."""
    state = request.app.state
    cached = getattr(state, "health_chain", None)
    now = time.monotonic()
    if cached is not None and cached[0] > now:
        return cached[1], cached[2], None
    with _CHAIN_LOCK:  # one probe of the node at a time; the others wait and re-use its answer
        cached = getattr(state, "health_chain", None)
        now = time.monotonic()
        if cached is not None and cached[0] > now:
            return cached[1], cached[2], None
        try:
            chain_id = int(w3.eth.chain_id)
            head = int(w3.eth.block_number)
        except Exception as exc:  # the node is down: say so, with 200 so probes see the body
            return None, None, f"chain unreachable: {exc}"
        if ttl > 0:
            state.health_chain = (now + ttl, chain_id, head)
        return chain_id, head, None


@router.get("/health", response_model=HealthPublic)
async def health(request: Request, w3: Web3Dep, settings: SettingsDep, engine: EngineDep) -> HealthPublic:
    """On the event loop when nothing can block (SQLite, the embedded IPFS store already open, a fresh
    chain head); otherwise in the threadpool (a probe per request of a busy gateway waited ~100 ms
    for threadpool threads and the GIL)."""
    cached = getattr(request.app.state, "health_chain", None)
    if (cached is not None and cached[0] > time.monotonic() and engine.dialect.name == "sqlite"
            and not settings.IPFS_API and getattr(request.app.state, "replication", None) is None
            and request.app.state.manifests._store is not None):
        return _health(request, w3, settings, engine, chain=(cached[1], cached[2], None))
    return await run_in_threadpool(_health, request, w3, settings, engine)


def _health(request: Request, w3: Any, settings: Any, engine: Any,
            chain: Optional[tuple[Optional[int], Optional[int], Optional[str]]] = None) -> HealthPublic:
    from ledger.deployment import Deployment

    deployment: Optional[Deployment] = getattr(request.app.state, "deployment", None)
    contracts = deployment.addresses() if deployment is not None else {}
    database = settings.DATABASE_URL.split(":", 1)[0]
    monitor = getattr(request.app.state, "replication", None)
    # neither the API URLs nor the store path
    ipfs = (f"kubo x{len(monitor.apis)}" if monitor is not None else "kubo" if settings.IPFS_API else "embedded")
    errors: list[str] = []
    writer: Optional[WriterStatus] = None
    indexed: Optional[int] = None
    events: Optional[int] = None
    deferred: list[str] = []
    try:
        with engine.connect() as conn:
            row = conn.execute(text("SELECT last_block, events_total FROM indexer_state WHERE id = 1")).first()
            writer = _writer(conn)
            if row is not None:
                deferred = [str(index.name) for index in missing_indexes(conn)]
        if row is None:
            db_status = ComponentStatus(status="empty", detail="reachable; the indexer has not started yet")
        else:
            indexed, events = int(row[0]), int(row[1])
            db_status = ComponentStatus(status="ok")
    except Exception as exc:
        db_status = ComponentStatus(status="down", detail=str(exc).splitlines()[0][:300])
        errors.append("database unreachable")
    ipfs_status = _ipfs_status(request)
    if ipfs_status.status != "ok":
        errors.append("IPFS unavailable")
    replication: Optional[dict[str, Any]] = None
    if monitor is not None:
        try:
            replication = monitor.report(engine)
        except Exception as exc:  # no index yet, or every node down
            log.warning("IPFS replication report failed: %s", exc)
            replication = {"status": "down", "detail": type(exc).__name__}
        if replication["status"] != "ok":
            errors.append(f"IPFS {replication['status']}: {replication.get('under_replicated', '?')} CIDs "
                          "not pinned on every node")
    chain_id, head, chain_error = chain or _chain_position(request, w3, settings.HEALTH_CHAIN_CACHE_SECONDS)
    if chain_error:
        errors.append(chain_error)
    lag = max(0, head - indexed) if head is not None and indexed is not None else None
    return HealthPublic(status="ok" if not errors else "degraded", chain_id=chain_id, head_block=head,
                        indexed_block=indexed, lag=lag, events_indexed=events, database=database,
                        database_status=db_status, ipfs=ipfs, ipfs_status=ipfs_status, contracts=contracts,
                        indexer_writer=writer, indexes_deferred=deferred, ipfs_replication=replication,
                        error="; ".join(errors) or None)


def _writer(conn: Any) -> WriterStatus:
    try:
        return writer_status(conn)
    except Exception as exc:
        conn.rollback()
        return WriterStatus(status="down", detail=str(exc).splitlines()[0][:200])


@router.get("/metrics", response_class=PlainTextResponse,
            responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format 0.0.4"}})
def metrics(request: Request) -> PlainTextResponse:
    """The app's Prometheus registry: the indexer's metrics (this process's sync loop and the
    database's ``indexer_state``) and the HTTP request metrics (gateway.main)."""
    return PlainTextResponse(request.app.state.http_metrics.render(), media_type="text/plain; version=0.0.4")


def _unused(_: Any) -> None:  # keep the import of Any used
    return None
