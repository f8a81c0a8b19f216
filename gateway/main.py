"""FastAPI application factory."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from web3 import Web3

from gateway.api.routes import health
from gateway.core.config import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        w3 = Web3(Web3.HTTPProvider(settings.RPC_URL, request_kwargs={"timeout": 10}))
        app.state.web3 = w3
        app.state.deployment = None
        try:
            chain_id = w3.eth.chain_id
            if settings.CHAIN_ID is not None and chain_id != settings.CHAIN_ID:
                raise RuntimeError(f"node at {settings.RPC_URL} is chain {chain_id}, expected {settings.CHAIN_ID}")
            record = settings.STATE_DIR / "deployments" / f"{chain_id}.json"
            if record.exists():
                app.state.deployment = json.loads(record.read_text())
        except (OSError, ValueError):
            pass  # /health reports the chain as unreachable
        yield

    app = FastAPI(title="dataledger gateway", version="0.1.0", lifespan=lifespan)
    app.include_router(health.router)
    return app


app = create_app()
