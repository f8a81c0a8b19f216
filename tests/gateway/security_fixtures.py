"""Fixtures of the issue-11 gateway security tests: the seeded market (api_fixtures) indexed into
SQLite or PostgreSQL (parametrised ``backend``), in-process apps over it, and real uvicorn
processes (an attack that kills a worker must be observable as a dead process)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Optional

import httpx
import pytest
from fastapi.testclient import TestClient

from dataledger.dev.anvil import free_port
from gateway.indexer.sync import run_indexer
from ledger.deployment import Deployment
from tests.gateway.api_fixtures import DOMAIN, Market, bearer, get_market, login, sign, siwe_message
from tests.gateway.indexer_fixtures import new_postgres_database

ROOT = Path(__file__).resolve().parents[2]
BACKENDS = ["sqlite", "postgres"]

_pg_urls: dict[str, str] = {}


def backend_url(request: pytest.FixtureRequest, market: Market, kind: str) -> str:
    """The market's index in ``kind``: the shared SQLite file, or one PostgreSQL database per test
    process, brought up to the chain head."""
    if kind == "sqlite":
        market.index()
        return market.database_url
    url = _pg_urls.get("url")
    if url is None:
        url = _pg_urls["url"] = new_postgres_database(request.getfixturevalue("postgres_url"))
    with market.lock:
        run_indexer(market.rpc_url, url, Deployment.from_dict(market.record).entries())
    return url


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> tuple[Market, str]:
    """(market, database URL) for each backend."""
    market = get_market()
    return market, backend_url(request, market, request.param)


@contextmanager
def app_client(market: Market, database_url: str, **overrides: Any) -> Iterator[TestClient]:
    from gateway.main import create_app

    app = create_app(market.settings(DATABASE_URL=database_url, **overrides))
    with TestClient(app) as c:
        yield c


def settings_env(market: Market, database_url: str, **overrides: Any) -> dict[str, str]:
    """Environment of a gateway process over the market (the Settings fields as variables)."""
    values: dict[str, Any] = dict(
        RPC_URL=market.rpc_url, CHAIN_ID=market.w3.eth.chain_id, DATABASE_URL=database_url,
        IPFS_STORE_DIR=market.state_dir / "ipfs", STATE_DIR=market.state_dir,
        SESSION_SECRET="test-secret", SIWE_DOMAIN=DOMAIN, SIWE_URI=f"https://{DOMAIN}/",
        RATE_LIMIT_ENABLED="false")
    values.update(overrides)
    env = {k: v for k, v in os.environ.items() if k not in values and k not in (
        "RELAYER_KEY", "SESSION_SECRET", "SIWE_DOMAIN", "SIWE_URI", "IPFS_API", "CHAIN_ID")}
    env.update({k: str(v) for k, v in values.items() if v is not None})
    return env


class GatewayProcess:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "gateway.main:app", "--host", "127.0.0.1", "--port", str(self.port),
             "--log-level", "warning"], cwd=ROOT, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"gateway exited ({self.proc.returncode}): {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise AssertionError("gateway did not answer /health")

    def alive(self) -> Optional[int]:
        """None while running, else the exit code (negative: killed by that signal)."""
        return self.proc.poll()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@contextmanager
def gateway_process(env: dict[str, str], log: Path) -> Iterator[GatewayProcess]:
    gw = GatewayProcess(env, log)
    try:
        gw.wait_ready()
        yield gw
    finally:
        gw.stop()
