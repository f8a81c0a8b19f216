"""Anonymous read responses, memoised on the index position (pure ASGI middleware).

Every cached route answers from the index alone (the indexer's tables), so for one caller class
(anonymous: no Authorization header, no session cookie) and one URL its body is a function of the
index position ``(last_block, last_block_hash, events_total)`` of ``indexer_state`` -- which the
indexer commits in the same transaction as the projections -- and of the wall clock (vouchers turn
"expired" at ``valid_until``). So an entry is served only while the position is unchanged AND for
at most ``ttl`` seconds (1 s): never stale with respect to the index, at most ``ttl`` late for a
voucher expiring on its own. ``?verify=true`` asset details re-use ManifestVerifier's per-CID hash
(content addressing: the same CID's bytes always hash the same).

Not cached: signed-in callers (roles, licence expiry), non-GET, non-200, responses setting cookies,
routes outside :data:`CACHED_PREFIXES` (health, auth, relay, tx, verify, manifests, web pages).
The position is read per request (one single-row SELECT by primary key; for SQLite on the event
loop through a private read-only connection, WAL readers never wait; in the threadpool otherwise).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections import OrderedDict
from typing import Any, Optional
from urllib.parse import quote

from anyio import to_thread
from sqlalchemy import Engine

from gateway.core.security import COOKIE_NAME

Scope = dict[str, Any]

CACHED_PREFIXES = ("/v1/assets", "/v1/vouchers", "/v1/participants", "/v1/trades", "/v1/clearances",
                   "/v1/search", "/v1/statistics", "/v1/uses")
MAX_ENTRIES = 2048
MAX_BODY = 1 << 20
POSITION_SQL = "SELECT last_block, last_block_hash, events_total FROM indexer_state WHERE id = 1"


class _Entry:
    __slots__ = ("position", "expires", "start", "body", "route")

    def __init__(self, position: tuple[Any, ...], expires: float, start: dict[str, Any], body: bytes,
                 route: Any) -> None:
        self.position, self.expires, self.start, self.body, self.route = position, expires, start, body, route


class ResponseCacheMiddleware:
    def __init__(self, app: Any, engine_of: Any, ttl: float = 1.0, enabled: bool = True) -> None:
        self.app = app
        self.engine_of = engine_of
        self.ttl = ttl
        self.enabled = enabled
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()
        self._lock = threading.Lock()
        self._sqlite: Optional[tuple[str, sqlite3.Connection]] = None
        self._flights: dict[bytes, tuple[tuple[Any, ...], asyncio.Future[None]]] = {}
        self.hits = 0
        self.misses = 0

    def _position_now(self, engine: Engine) -> Optional[tuple[Any, ...]]:
        try:
            with engine.connect() as conn:
                row = conn.exec_driver_sql(POSITION_SQL).first()
        except Exception:  # no index yet: nothing to key on, do not cache
            return None
        return tuple(row) if row is not None else None

    def _sqlite_position(self, engine: Engine) -> Optional[tuple[Any, ...]]:
        """On the event loop: one private autocommit sqlite3 connection (each SELECT is a fresh WAL
        read snapshot, so it sees every commit of the indexer), ~20 us instead of a pool checkout."""
        path = str(engine.url.database)
        if self._sqlite is None or self._sqlite[0] != path:
            self._sqlite = (path, sqlite3.connect(f"file:{quote(path)}?mode=ro", uri=True, isolation_level=None,
                                                  check_same_thread=False, timeout=5))
        conn = self._sqlite[1]
        try:
            row = conn.execute(POSITION_SQL).fetchone()
        except sqlite3.Error:
            conn.close()
            self._sqlite = None
            return None
        return tuple(row) if row is not None else None

    async def _position(self) -> Optional[tuple[Any, ...]]:
        engine: Engine = self.engine_of()
        if engine.dialect.name == "sqlite":
            if engine.url.database and engine.url.database != ":memory:" and "mode=memory" not in str(engine.url):
                try:
                    return self._sqlite_position(engine)
                except sqlite3.Error:
                    return None
            return self._position_now(engine)
        return await to_thread.run_sync(self._position_now, engine)

    @staticmethod
    def _cacheable(scope: Scope) -> bool:
        if scope["type"] != "http" or scope["method"] != "GET" or not scope["path"].startswith(CACHED_PREFIXES):
            return False
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                return False
            if name == b"cookie" and COOKIE_NAME.encode() in value:
                return False
        return True

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if not self.enabled or not self._cacheable(scope):
            await self.app(scope, receive, send)
            return
        key = scope["path"].encode() + b"?" + scope.get("query_string", b"")
        position = await self._position()
        if position is None:
            await self.app(scope, receive, send)
            return
        if await self._serve(key, position, scope, send):
            return
        flight = self._flights.get(key)
        if flight is not None and flight[0] == position:
            # single flight: the same URL at the same position is being computed; wait for it
            await asyncio.shield(flight[1])
            if await self._serve(key, position, scope, send):
                return
        done = asyncio.get_running_loop().create_future()
        self._flights[key] = (position, done)
        try:
            await self._compute(key, position, scope, receive, send)
        finally:
            if self._flights.get(key, (None, None))[1] is done:
                del self._flights[key]
            done.set_result(None)

    async def _serve(self, key: bytes, position: tuple[Any, ...], scope: Scope, send: Any) -> bool:
        with self._lock:
            entry = self._entries.get(key)
        if entry is None or entry.position != position or entry.expires <= time.monotonic():
            return False
        self.hits += 1
        if entry.route is not None:
            scope["route"] = entry.route  # for the metrics middleware's route label
        await send(dict(entry.start))
        await send({"type": "http.response.body", "body": entry.body})
        return True

    async def _compute(self, key: bytes, position: tuple[Any, ...], scope: Scope, receive: Any, send: Any) -> None:
        self.misses += 1
        now = time.monotonic()
        start: dict[str, Any] = {}
        chunks: list[bytes] = []
        ok = True

        async def capture(message: dict[str, Any]) -> None:
            nonlocal ok
            if message["type"] == "http.response.start":
                start.update(message)
                if message["status"] != 200 or any(k == b"set-cookie" for k, _ in message.get("headers", ())):
                    ok = False
            elif message["type"] == "http.response.body" and ok:
                chunks.append(message.get("body", b""))
                if sum(map(len, chunks)) > MAX_BODY:
                    ok = False
            await send(message)

        await self.app(scope, receive, capture)
        if ok and start:
            entry = _Entry(position, now + self.ttl, start, b"".join(chunks), scope.get("route"))
            with self._lock:
                self._entries[key] = entry
                self._entries.move_to_end(key)
                while len(self._entries) > MAX_ENTRIES:
                    self._entries.popitem(last=False)
