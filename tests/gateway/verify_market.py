"""Fixtures of the verification tests: the demo market deployed and seeded on the session anvil
(its own contract addresses, so other suites sharing the chain do not matter), indexed by the real
indexer into fresh SQLite / PostgreSQL databases."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from web3 import Web3

from dataledger.dev import demo
from gateway.indexer.store import make_engine, migrate
from gateway.indexer.sync import Indexer
from ledger.deploy import deploy_all, deployment_record, load_contracts, write_deployment
from ledger.deployment import Deployment

DB_KINDS = ["sqlite", "postgres"]


@dataclass
class Market:
    rpc_url: str
    w3: Web3
    state_dir: Path
    record: dict[str, Any]

    @property
    def contracts(self) -> dict[str, dict[str, Any]]:
        return Deployment.from_dict(self.record).entries()


@pytest.fixture(scope="module")
def market(w3: Web3, anvil: Any, tmp_path_factory: pytest.TempPathFactory) -> Market:
    state_dir = tmp_path_factory.mktemp("verify-state")
    contracts = deploy_all(w3, w3.eth.accounts[0])
    record = deployment_record(w3, contracts)
    write_deployment(state_dir, record)
    demo.seed(w3, contracts, state_dir)
    return Market(anvil.rpc_url, w3, state_dir, record)


def _new_postgres_database(server_url: str) -> str:
    url = make_url(server_url)
    name = f"vf_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def index_into(market: Market, url: str) -> str:
    """Migrate ``url`` and index the market into it up to the head."""
    migrate(url)
    engine = make_engine(url)
    indexer = Indexer(market.rpc_url, engine, Deployment.from_dict(market.record).entries())
    try:
        indexer.run()
    finally:
        indexer.close()
        engine.dispose()
    return url


@pytest.fixture(params=DB_KINDS)
def indexed_db(request: pytest.FixtureRequest, market: Market, tmp_path: Path) -> Callable[[], str]:
    """Factory: a fresh database of the parametrised kind, indexed up to the head."""

    def make() -> str:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / f'gw-{uuid.uuid4().hex[:6]}.db'}"
        else:
            url = _new_postgres_database(request.getfixturevalue("postgres_url"))
        return index_into(market, url)

    make.kind = request.param  # type: ignore[attr-defined]
    return make


@contextmanager
def voucher_frozen_after_index(market: Market, voucher_id: int) -> Iterator[None]:
    """An event of ``voucher_id`` past whatever was indexed (a regulator's freeze), inside an anvil
    snapshot that is reverted afterwards, so the shared market is left as it was."""
    snapshot = market.w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    try:
        regulator = demo.demo_accounts()["regulator"].address
        load_contracts(market.w3, market.record)["DataVoucher"].functions.freeze(
            voucher_id, "behind test").transact({"from": regulator})
        yield
    finally:
        assert market.w3.provider.make_request("evm_revert", [snapshot])["result"]  # type: ignore[arg-type]
