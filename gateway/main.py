"""FastAPI application factory."""

from __future__ import annotations

import secrets
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from web3 import Web3

from gateway.api.routes import (
    actions,
    assets,
    auth,
    clearances,
    contracts,
    documents,
    health,
    manifests,
    organisations,
    participants,
    relay,
    search,
    statistics,
    trades,
    tx,
    uses,
    verify,
    vouchers,
)
from gateway.core import errors
from gateway.core.bodylimit import BodyLimitMiddleware
from gateway.core.config import ConfigError, Settings, check_startup, get_settings
from gateway.core.db import open_engine
from gateway.core.httpmetrics import HttpMetrics, MetricsMiddleware
from gateway.core.ratelimit import RateLimitMiddleware
from gateway.core.respcache import ResponseCacheMiddleware
from gateway.indexer.metrics import IndexerCollector
from gateway.services.ipfs import ManifestVerifier
from gateway.services.replication import ReplicatedStore, ReplicationMonitor, node_apis
from ledger.deployment import Deployment
from ledger.errors import LedgerError

API_ROUTERS = (participants, organisations, documents, assets, vouchers, trades, uses, clearances, statistics, tx,
               search, auth, manifests, relay, verify, contracts, actions)


def load_chain(app: FastAPI, settings: Settings) -> None:
    """Read the deployment record of the node's chain into app.state (None when unreachable)."""
    w3: Web3 = app.state.web3
    try:
        chain_id = int(w3.eth.chain_id)
        if settings.CHAIN_ID is not None and chain_id != settings.CHAIN_ID:
            raise RuntimeError(f"node at {settings.RPC_URL} is chain {chain_id}, expected {settings.CHAIN_ID}")
        check_startup(settings, chain_id)  # CHAIN_ID unset: the node's chain decides
        app.state.chain_id = chain_id
        app.state.deployment = Deployment.from_state_dir(settings.STATE_DIR, chain_id)
    except (OSError, ValueError, LedgerError):
        pass  # /health reports the chain as unreachable


def create_app(settings: Settings | None = None, run_migrations: bool = True) -> FastAPI:
    settings = settings or get_settings()
    check_startup(settings, settings.CHAIN_ID)  # ConfigError: refuse development defaults off the local chain

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            load_chain(app, settings)
        except ConfigError as exc:
            print(f"gateway refuses to start: {exc}", file=sys.stderr, flush=True)
            raise
        yield
        pool = getattr(app.state, "relay_executor", None)
        if pool is not None:
            pool.shutdown(wait=False)
        app.state.engine.dispose()

    app = FastAPI(
        title="dataledger gateway",
        version="0.1.0",
        description="Queries over the indexed data element market (participants, assets, vouchers, trades, "
                    "uses, customs), provenance with chain coordinates, statistics, Sign-In with Ethereum, "
                    "and a gasless relay.\n\n"
                    "Conventions (docs/api.md): amounts are exact decimal strings of fen beside `currency` (CNY) "
                    "and `decimals` (2); uint256 request fields are decimal strings (a JSON number is accepted, "
                    "exact in JavaScript only below 2^53); times are unix seconds, UTC (one exception: the SIWE "
                    "nonce's `expires_at` is ISO 8601, as the SIWE message needs it); every list is a page "
                    "(`items`, `total`, `limit`, `offset`); rights are filtered by name (`?right=use`) and "
                    "answered as `right` (0 holding, 1 use, 2 operating) with `right_name`. The relay's EIP-712 "
                    "domains and types are in the descriptions of its request bodies.",
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc: gateway.web.pages.install_docs (assets served here, no CDN)
        redoc_url=None,
    )
    state: Any = app.state
    state.settings = settings
    state.web3 = Web3(Web3.HTTPProvider(settings.RPC_URL, request_kwargs={"timeout": 10}))
    state.deployment = None
    state.chain_id = None
    state.engine = open_engine(settings.DATABASE_URL, run_migrations=run_migrations)
    state.session_secret = (settings.SESSION_SECRET or secrets.token_hex(32)).encode()
    apis = node_apis(settings)
    if len(apis) > 1:  # every upload pinned on every node; /health shows under-replication
        state.manifests = ManifestVerifier(", ".join(apis), store=ReplicatedStore(apis))
        state.replication = ReplicationMonitor(apis, settings.IPFS_STORE_DIR, settings.IPFS_REPLICATION_CHECK_SECONDS)
    else:
        state.manifests = ManifestVerifier(apis[0] if apis else str(settings.IPFS_STORE_DIR))
        state.replication = None
    # one Prometheus registry per app (tests build many apps in one process): the indexer's metrics
    # (this process's sync loop + the database's indexer_state row), then the HTTP metrics
    state.metrics_registry = CollectorRegistry()
    state.metrics_registry.register(IndexerCollector(lambda: state.engine))
    state.http_metrics = HttpMetrics(state.metrics_registry)
    state.relayer = None

    errors.install(app)
    app.include_router(health.router)
    for module in API_ROUTERS:
        app.include_router(module.router)
    from gateway.web import pages

    pages.mount(app)
    from gateway.web import actions as wallet_pages

    wallet_pages.mount(app)
    # innermost first: cache hits still pass the rate limiter and are counted by the metrics; bodies
    # are bounded (size, JSON depth) after the rate limiter and before anything parses them
    app.add_middleware(ResponseCacheMiddleware, engine_of=lambda: state.engine,
                       ttl=settings.RESPONSE_CACHE_SECONDS, enabled=settings.RESPONSE_CACHE_SECONDS > 0)
    app.add_middleware(BodyLimitMiddleware, default=settings.BODY_MAX_BYTES, max_depth=settings.JSON_MAX_DEPTH,
                       limits=settings.BODY_LIMITS)
    app.add_middleware(RateLimitMiddleware, settings=settings, secret_of=lambda: state.session_secret,
                       engine_of=lambda: state.engine)
    app.add_middleware(MetricsMiddleware, metrics=state.http_metrics)
    return app


def __getattr__(name: str) -> Any:
    """``gateway.main:app`` for uvicorn, built on first access (importing the module stays cheap)."""
    if name == "app":
        try:
            built = create_app()
        except ConfigError as exc:  # one line, no traceback, non-zero exit (uvicorn imports us)
            print(f"gateway refuses to start: {exc}", file=sys.stderr, flush=True)
            raise SystemExit(2) from None
        globals()["app"] = built
        return built
    raise AttributeError(name)
