"""Fixtures and helpers of the indexer tests (imported by tests/gateway/test_indexer_*.py).

Each test gets its OWN anvil (reorgs, rollbacks and restarts would break the session chain the
other suites share) and a fresh database: a SQLite file, or a new database in the session
PostgreSQL cluster.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from web3 import Web3

from dataledger.dev.anvil import AnvilNode
from gateway.indexer.store import dump_hash, make_engine, migrate
from gateway.indexer.sync import Indexer, IndexerConfig
from ledger.deployment import Deployment
from tests.gateway.indexer_workload import Market, setup_market

DB_KINDS = ["sqlite", "postgres"]


def new_postgres_database(server_url: str) -> str:
    url = make_url(server_url)
    name = f"ix_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture(params=DB_KINDS)
def new_db(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], str]:
    """Factory of fresh, migrated database URLs of the parametrised kind."""
    kind = request.param
    counter = iter(range(1000))

    def make() -> str:
        if kind == "sqlite":
            url = f"sqlite:///{tmp_path / f'index-{next(counter)}.db'}"
        else:
            url = new_postgres_database(request.getfixturevalue("postgres_url"))
        migrate(url)
        return url

    make.kind = kind  # type: ignore[attr-defined]
    return make


@dataclass
class Node:
    anvil: AnvilNode
    w3: Web3
    market: Market

    @property
    def rpc_url(self) -> str:
        return self.anvil.rpc_url

    def rpc(self, method: str, *params: Any) -> Any:
        reply = self.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def head(self) -> tuple[int, str]:
        block = self.w3.eth.get_block("latest")
        return int(block["number"]), "0x" + bytes(block["hash"]).hex()


def start_node(extra: tuple[str, ...] = (), state_file: Optional[Path] = None, port: Optional[int] = None,
               seed: int = 7) -> Node:
    anvil = AnvilNode(port=port, extra_args=extra, state_file=state_file).start()
    w3 = Web3(Web3.HTTPProvider(anvil.rpc_url, request_kwargs={"timeout": 60}))
    market = setup_market(w3, seed=seed)
    return Node(anvil, w3, market)


@pytest.fixture
def node() -> Iterator[Node]:
    n = start_node()
    yield n
    n.anvil.stop()


def contracts_of(node: Node) -> dict[str, dict[str, Any]]:
    return Deployment.from_dict(node.market.record).entries()


def index_once(node: Node, url: str, config: Optional[IndexerConfig] = None,
               until_block: Optional[int] = None) -> str:
    """Index ``url`` up to the head (or ``until_block``) and return the canonical dump hash."""
    engine = make_engine(url)
    indexer = Indexer(node.rpc_url, engine, contracts_of(node), config or IndexerConfig())
    try:
        indexer.run(until_block=until_block)
        return dump_hash(engine)
    finally:
        indexer.close()
        engine.dispose()


class LiveIndexer:
    """An Indexer following the head in a background thread."""

    def __init__(self, node: Node, url: str, config: Optional[IndexerConfig] = None) -> None:
        self.node = node
        self.engine = make_engine(url)
        self.indexer = Indexer(node.rpc_url, self.engine, contracts_of(node),
                               config or IndexerConfig(poll_interval=0.02))
        self.error: Optional[BaseException] = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.indexer.run(follow=True)
        except BaseException as exc:  # surfaced by wait_synced / stop
            self.error = exc

    def __enter__(self) -> LiveIndexer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_synced(self, timeout: float = 60) -> None:
        """Until the index checkpoint is the node's head block (same number AND hash)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.error is not None:
                raise self.error
            state = self.indexer.state
            number, block_hash = self.node.head()
            if state is not None and state.last_block == number and state.last_block_hash == block_hash:
                return
            time.sleep(0.02)
        raise AssertionError(f"indexer not at head {self.node.head()} after {timeout}s: {self.indexer.state}")

    def stop(self) -> None:
        self.indexer.stop()
        self.thread.join(timeout=60)
        self.indexer.close()
        if self.error is not None:
            raise self.error

    def hash(self) -> str:
        return dump_hash(self.engine)


def health_json(node: Node, url: str, state_dir: Path) -> dict[str, Any]:
    """GET /health of a gateway over the index ``url`` (no migrations, no IPFS node)."""
    from fastapi.testclient import TestClient

    from gateway.core.config import Settings
    from gateway.main import create_app

    settings = Settings(RPC_URL=node.rpc_url, DATABASE_URL=url, STATE_DIR=state_dir, IPFS_API=None,
                        IPFS_STORE_DIR=state_dir / "ipfs", SESSION_SECRET="x" * 32, RATE_LIMIT_ENABLED=False)
    app = create_app(settings, run_migrations=False)
    with TestClient(app) as client:
        body: dict[str, Any] = client.get("/health").json()
    app.state.engine.dispose()
    return body
