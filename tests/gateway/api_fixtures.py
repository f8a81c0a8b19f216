"""A seeded market for the API and web tests: its own anvil (20 accounts), the demo market
(dataledger.dev.demo.seed) deployed on it, the indexer run once into a fresh SQLite database, and a
gateway app over it. Built once per test process (shared by every tests/gateway/test_api_*.py,
test_web.py and test_schemathesis.py module), stopped at exit.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timezone
from pathlib import Path
from typing import Any, Optional

import pytest
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from fastapi import FastAPI
from fastapi.testclient import TestClient
from web3 import Web3

from dataledger.dev import demo
from dataledger.dev.anvil import AnvilError, AnvilNode
from gateway.core.config import Settings
from gateway.core.security import SiweMessage
from gateway.indexer.sync import IndexerConfig, run_indexer
from ledger.deploy import deploy_all, deployment_record, load_contracts, write_deployment
from ledger.deployment import Deployment

DOMAIN = "gateway.test"


@dataclass
class Market:
    node: AnvilNode
    w3: Web3
    tmp: Path
    state_dir: Path
    database_url: str
    record: dict[str, Any]
    contracts: dict[str, Any]
    accounts: dict[str, LocalAccount]
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def rpc_url(self) -> str:
        return self.node.rpc_url

    def settings(self, **overrides: Any) -> Settings:
        values: dict[str, Any] = dict(
            RPC_URL=self.rpc_url, CHAIN_ID=self.w3.eth.chain_id, DATABASE_URL=self.database_url,
            IPFS_API=None, IPFS_STORE_DIR=self.state_dir / "ipfs", STATE_DIR=self.state_dir,
            SESSION_SECRET="test-secret", SIWE_DOMAIN=DOMAIN, SIWE_URI=f"https://{DOMAIN}/",
            RATE_LIMIT_ENABLED=False)
        values.update(overrides)
        return Settings(**values)

    def index(self) -> None:
        """Bring the index up to the head (after a test wrote to the chain)."""
        with self.lock:
            run_indexer(self.rpc_url, self.database_url, Deployment.from_dict(self.record).entries(),
                        IndexerConfig(ipfs=str(self.state_dir / "ipfs")))

    def address(self, key: str) -> str:
        return self.accounts[key].address


_market: Optional[Market] = None
_market_lock = threading.Lock()


def build_market(database_url: Optional[str] = None) -> Market:
    """A new market on its own anvil (stopped at exit), indexed into ``database_url`` (default: a
    new SQLite file). Tests that write to the chain use their own, so the shared one stays as seeded."""
    tmp = Path(tempfile.mkdtemp(prefix="dl-api-"))
    node = AnvilNode(accounts=20)
    try:
        node.start()
    except AnvilError as exc:
        pytest.fail(f"anvil could not start: {exc}", pytrace=False)
    atexit.register(node.stop)
    atexit.register(shutil.rmtree, tmp, True)
    w3 = Web3(Web3.HTTPProvider(node.rpc_url, request_kwargs={"timeout": 60}))
    state_dir = tmp / "state"
    state_dir.mkdir()
    accounts = demo.demo_accounts()
    contracts = deploy_all(w3, accounts["authority"].address)
    record = deployment_record(w3, contracts)
    write_deployment(state_dir, record)
    demo.seed(w3, load_contracts(w3, record), state_dir)
    database_url = database_url or f"sqlite:///{tmp / 'gateway.db'}"
    market = Market(node, w3, tmp, state_dir, database_url, record, load_contracts(w3, record), accounts)
    market.index()
    return market


def get_market() -> Market:
    global _market
    with _market_lock:
        if _market is None:
            _market = build_market()
        return _market


@pytest.fixture(scope="module")
def market() -> Market:
    return get_market()


@pytest.fixture(scope="module")
def app(market: Market) -> FastAPI:
    from gateway.main import create_app

    return create_app(market.settings())


@pytest.fixture(scope="module")
def client(app: FastAPI) -> Any:
    with TestClient(app) as c:
        yield c


def siwe_message(account: LocalAccount, nonce: str, chain_id: int, domain: str = DOMAIN,
                 expires_in: Optional[int] = 600, not_before: Optional[float] = None,
                 issued_at: Optional[float] = None) -> str:
    now = time.time() if issued_at is None else issued_at

    def iso(ts: float) -> str:
        return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    return SiweMessage(domain=domain, address=account.address, statement="Sign in to the dataledger gateway.",
                       uri=f"https://{domain}/", version="1", chain_id=chain_id, nonce=nonce,
                       issued_at=iso(now), expiration_time=iso(now + expires_in) if expires_in is not None else None,
                       not_before=iso(not_before) if not_before is not None else None).prepare()


def sign(account: LocalAccount, message: str) -> str:
    return "0x" + bytes(account.sign_message(encode_defunct(text=message)).signature).hex()


def login(client: Any, account: LocalAccount, chain_id: int) -> str:
    """Sign in with Ethereum; returns the bearer token."""
    nonce = client.get("/v1/auth/nonce").json()["nonce"]
    msg = siwe_message(account, nonce, chain_id)
    r = client.post("/v1/auth/login", json={"message": msg, "signature": sign(account, msg)})
    assert r.status_code == 200, r.text
    client.cookies.clear()
    return str(r.json()["token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
