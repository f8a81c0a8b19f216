"""A market of its own (own anvil, demo seed) indexed into SQLite or a new PostgreSQL database,
for the tests that write to the chain (data access, redaction, user authorisations): the shared
market of api_fixtures stays as seeded for the other suites."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from dataledger.dev import demo
from tests.gateway.api_fixtures import Market, bearer, build_market, login
from tests.gateway.indexer_fixtures import new_postgres_database

DB_KINDS = ["sqlite", "postgres"]


@pytest.fixture(scope="module", params=DB_KINDS)
def dmarket(request: pytest.FixtureRequest) -> Market:
    url = new_postgres_database(request.getfixturevalue("postgres_url")) if request.param == "postgres" else None
    return build_market(url)


@pytest.fixture(scope="module")
def dclient(dmarket: Market) -> Iterator[Any]:
    from gateway.main import create_app

    with TestClient(create_app(dmarket.settings())) as c:
        yield c


def send(market: Market, contract: str, fn: str, sender: str, *args: Any) -> Any:
    """One transaction from a demo account (anvil's accounts are unlocked); returns the receipt."""
    tx_hash = getattr(market.contracts[contract].functions, fn)(*args).transact({"from": market.address(sender)})
    receipt = market.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)
    assert receipt["status"] == 1, f"{contract}.{fn} from {sender} reverted"
    return receipt


def try_send(market: Market, contract: str, fn: str, sender: str, *args: Any) -> bool:
    """True when the transaction went through, False when the chain refused it."""
    try:
        getattr(market.contracts[contract].functions, fn)(*args).call({"from": market.address(sender)})
    except Exception:
        return False
    send(market, contract, fn, sender, *args)
    return True


def issue(market: Market, issuer: str, to: str, asset_id: int, transferable: bool = True) -> int:
    now = int(market.w3.eth.get_block("latest")["timestamp"])
    receipt = send(market, "DataVoucher", "issue", issuer, market.address(to), asset_id, 1,
                   demo.sha256("test scope"), now, now + 365 * 86400, 10, transferable)
    return int(demo._event_arg(market.contracts["DataVoucher"], receipt, "VoucherIssued", "voucherId"))


def manifest_of(client: Any, asset_id: int) -> dict[str, Any]:
    cid = client.get(f"/v1/assets/{asset_id}", params={"verify": "false"}).json()["manifest_cid_text"]
    r = client.get(f"/v1/manifests/{cid}")
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = json.loads(r.content)
    return doc


def records(doc: dict[str, Any]) -> dict[str, Any]:
    return next(d for d in doc["distributions"] if d["path"] == "data/records.csv")


def token(client: Any, market: Market, key: str) -> dict[str, str]:
    return bearer(login(client, market.accounts[key], market.w3.eth.chain_id))


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def app_routes(app: Any) -> list[tuple[str, set[str], Any]]:
    """Every route of the app as (path, methods, route), included routers flattened (FastAPI
    wraps ``include_router`` in an object with ``original_router`` and a prefix)."""
    out: list[tuple[str, set[str], Any]] = []

    def walk(routes: Any, prefix: str) -> None:
        for route in routes:
            inner = getattr(route, "original_router", None)
            if inner is not None:
                context = getattr(route, "include_context", None)
                walk(inner.routes, prefix + (getattr(context, "prefix", "") or ""))
                continue
            out.append((prefix + str(getattr(route, "path", "")), set(getattr(route, "methods", None) or ()), route))

    walk(app.routes, "")
    return out


def forget_what_later_migrations_add(database_url: str) -> None:
    """Clear the data of migrations after 0004 (0005: organisations.profile_cid) before a test goes
    down below them and up again: a downgrade drops it and re-indexing, not the upgrade, rebuilds it,
    so it is not part of what an older migration's round trip must keep."""
    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("UPDATE organisations SET profile_cid = NULL"))
    finally:
        engine.dispose()
