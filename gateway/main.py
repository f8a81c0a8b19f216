"""FastAPI application factory."""

from __future__ import annotations

import secrets
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from web3 import Web3

from gateway.api.routes import (
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
from gateway.services.ipfs import ManifestVerifier
from ledger.deployment import Deployment
from ledger.errors import LedgerError

API_ROUTERS = (participants, organisations, documents, assets, vouchers, trades, uses, clearances, statistics, tx, search, auth,
               manifests, relay, verify, contracts)


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
                    "and a gasless relay.",
        lifespan=lifespan,
    )
    state: Any = app.state
    state.settings = settings
    state.web3 = Web3(Web3.HTTPProvider(settings.RPC_URL, request_kwargs={"timeout": 10}))
    state.deployment = None
    state.chain_id = None
    state.engine = open_engine(settings.DATABASE_URL, run_migrations=run_migrations)
    state.session_secret = (settings.SESSION_SECRET or secrets.token_hex(32)).encode()
    state.manifests = ManifestVerifier(settings.IPFS_API or str(settings.IPFS_STORE_DIR))
    state.http_metrics = HttpMetrics()
    state.relayer = None

    errors.install(app)
    app.include_router(health.router)
    for module in API_ROUTERS:
        app.include_router(module.router)
    from gateway.web import pages

    pages.mount(app)
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
