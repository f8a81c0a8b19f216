"""Anonymous read responses memoised on the index position (gateway.core.respcache) and the
/health chain-head cache: served again only while the index position is unchanged and the TTL
holds; signed-in callers, errors and uncached routes always reach the route."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from gateway.core.respcache import ResponseCacheMiddleware
from gateway.core.security import COOKIE_NAME
from tests.gateway.api_fixtures import app, bearer, client, login, market


def _engine(tmp_path: Path) -> Any:
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE indexer_state (id INTEGER PRIMARY KEY, last_block INTEGER, "
                          "last_block_hash TEXT, events_total INTEGER)"))
        conn.execute(text("INSERT INTO indexer_state VALUES (1, 10, '0xaa', 5)"))
    return engine


def _call(mw: Any, path: str, headers: list[tuple[bytes, bytes]] | None = None,
          method: str = "GET") -> tuple[int, bytes]:
    out: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            out["status"] = message["status"]
        else:
            out["body"] += message.get("body", b"")

    path, _, query = path.partition("?")
    scope = {"type": "http", "method": method, "path": path, "query_string": query.encode(),
             "headers": headers or []}
    asyncio.run(mw(scope, receive, send))
    return out["status"], out["body"]


def _counting_app() -> Any:
    calls = {"n": 0}

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        calls["n"] += 1
        status = 404 if scope["path"].endswith("/missing") else 200
        body = json.dumps({"n": calls["n"]}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    return inner, calls


def test_cache_keyed_on_index_position_and_url(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    inner, calls = _counting_app()
    mw = ResponseCacheMiddleware(inner, engine_of=lambda: engine, ttl=60)
    assert _call(mw, "/v1/vouchers?limit=5") == (200, b'{"n": 1}')
    assert _call(mw, "/v1/vouchers?limit=5") == (200, b'{"n": 1}')  # same position: served again
    assert _call(mw, "/v1/vouchers?limit=6") == (200, b'{"n": 2}')  # another URL
    with engine.begin() as conn:  # the indexer moved
        conn.execute(text("UPDATE indexer_state SET last_block = 11, events_total = 6"))
    assert _call(mw, "/v1/vouchers?limit=5") == (200, b'{"n": 3}')
    with engine.begin() as conn:  # a reorg to the same height with another hash
        conn.execute(text("UPDATE indexer_state SET last_block_hash = '0xbb'"))
    assert _call(mw, "/v1/vouchers?limit=5") == (200, b'{"n": 4}')
    assert mw.hits == 1


def test_cache_bypassed_for_callers_errors_methods_and_other_routes(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    inner, calls = _counting_app()
    mw = ResponseCacheMiddleware(inner, engine_of=lambda: engine, ttl=60)
    for _ in range(2):
        _call(mw, "/v1/trades", headers=[(b"authorization", b"Bearer x")])
        _call(mw, "/v1/trades", headers=[(b"cookie", f"a=b; {COOKIE_NAME}=x".encode())])
        _call(mw, "/v1/assets/missing")
        _call(mw, "/health")
        _call(mw, "/v1/auth/nonce")
        _call(mw, "/v1/relay/settlements", method="POST")
    assert calls["n"] == 12 and mw.hits == 0


def test_cache_ttl_expires(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    inner, calls = _counting_app()
    mw = ResponseCacheMiddleware(inner, engine_of=lambda: engine, ttl=0.0)
    _call(mw, "/v1/statistics")
    _call(mw, "/v1/statistics")
    assert calls["n"] == 2


def test_cache_without_index_passes_through(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    inner, calls = _counting_app()
    mw = ResponseCacheMiddleware(inner, engine_of=lambda: engine, ttl=60)
    _call(mw, "/v1/statistics")
    _call(mw, "/v1/statistics")
    assert calls["n"] == 2


def test_cache_in_the_app_keeps_bodies_metrics_and_signed_in_callers(app: Any, client: Any, market: Any) -> None:
    cache = app.middleware_stack
    while not isinstance(cache, ResponseCacheMiddleware):
        cache = cache.app
    first = client.get("/v1/vouchers", params={"limit": 3})
    hits = cache.hits
    again = client.get("/v1/vouchers", params={"limit": 3})
    assert again.status_code == 200 and again.json() == first.json()
    assert again.headers["content-type"] == first.headers["content-type"]
    assert cache.hits == hits + 1
    m = client.get("/metrics").text  # a hit is still counted under its route
    assert 'dataledger_http_requests_total{method="GET",route="/v1/vouchers",status="200"}' in m
    token = login(client, market.accounts["regulator"], market.w3.eth.chain_id)
    hits = cache.hits
    for _ in range(2):
        assert client.get("/v1/vouchers", params={"limit": 3}, headers=bearer(token)).status_code == 200
    assert cache.hits == hits


def test_health_reuses_chain_head_briefly(app: Any, client: Any) -> None:
    a = client.get("/health").json()
    assert a["status"] == "ok" and a["head_block"] is not None
    stamp = app.state.health_chain
    b = client.get("/health").json()
    assert b["head_block"] == a["head_block"] and b["chain_id"] == a["chain_id"]
    app.state.health_chain = (0.0, stamp[1], stamp[2])  # expired: asks the node again
    assert client.get("/health").json()["head_block"] is not None
    assert app.state.health_chain[0] > stamp[0] - 1
