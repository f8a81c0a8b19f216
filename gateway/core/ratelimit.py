"""Token-bucket rate limits per client IP, per participant and for sign-in (429 with Retry-After).

Where the buckets live (``RATE_LIMIT_STORE``): in the database (:class:`DbTokenBuckets`, table
``rate_limit_buckets``) so that every gateway replica over one PostgreSQL database spends from the
same buckets (N requests split across replicas hit the limit at the same total as on one), or in
this process's memory (:class:`TokenBuckets`; the default on SQLite, which serves one process).
``auto`` picks the database on PostgreSQL. Why the database and not another shared store: see
docs/deploy.md ("Gateway replicas").
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Optional, Union

from starlette.concurrency import run_in_threadpool

from gateway.core.security import COOKIE_NAME, read_token

Scope = dict[str, Any]
log = logging.getLogger(__name__)

#: paths never limited (probes, scrapes, static files)
EXEMPT_PREFIXES = ("/health", "/metrics", "/static/")
MAX_BUCKETS = 100_000


class TokenBuckets:
    """Thread-safe buckets: ``take(key)`` returns 0 when allowed, else seconds until a token.

    Bounded: at most ``max_buckets`` keys. A bucket idle long enough to have refilled is equal to a
    fresh one, so such buckets are evicted first, least recently used first; a bucket that is still
    draining is never dropped (dropping it would hand that client a fresh burst). When every bucket
    is live, a new key is charged to one shared overflow bucket until space frees up: filling the
    table with throw-away addresses limits the newcomers together and resets nobody.
    """

    OVERFLOW = "\x00overflow"

    def __init__(self, rate: float, burst: int, max_buckets: int = MAX_BUCKETS) -> None:
        self.rate = float(rate)
        self.burst = float(burst)
        self.max_buckets = max(1, int(max_buckets))
        self._state: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._state)

    def _refilled(self, entry: tuple[float, float], now: float) -> bool:
        tokens, last = entry
        return self.rate > 0 and tokens + (now - last) * self.rate >= self.burst

    def _slot(self, key: str, now: float) -> str:
        if key in self._state or len(self._state) < self.max_buckets:
            return key
        while self._state:
            oldest, entry = next(iter(self._state.items()))
            if oldest == self.OVERFLOW or not self._refilled(entry, now):
                break
            del self._state[oldest]
            if len(self._state) < self.max_buckets:
                return key
        return self.OVERFLOW

    def take(self, key: str, now: Optional[float] = None, cost: float = 1.0) -> float:
        now = time.monotonic() if now is None else now
        with self._lock:
            key = self._slot(key, now)
            tokens, last = self._state.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            allowed = tokens >= cost
            if allowed:
                tokens -= cost
            self._state[key] = (tokens, now)
            self._state.move_to_end(key)
            if allowed:
                return 0.0
            return (cost - tokens) / self.rate if self.rate > 0 else 3600.0


class DbTokenBuckets:
    """Token buckets in the table ``rate_limit_buckets``, shared by every process over the database.

    ``take`` is ONE upsert that refills the bucket from the elapsed wall-clock time, takes ``cost``
    tokens when there are enough and returns the tokens left and whether it was allowed (PostgreSQL
    row-locks the bucket for the statement, so concurrent takes from several replicas are
    serialised per bucket). Bounded like :class:`TokenBuckets`: at most ``max_buckets`` rows per
    kind (approximately, across replicas), refilled buckets deleted first, then newcomers share one
    overflow bucket; refilled buckets are also deleted now and then (a deleted bucket is a full one). If the database fails, this process falls back to its
    own in-memory buckets for that request (logged) rather than refusing or crashing.
    """

    #: the shared bucket of newcomers when the table is full (no client key starts with '#';
    #: PostgreSQL text cannot hold TokenBuckets.OVERFLOW's NUL)
    OVERFLOW = "#overflow"

    def __init__(self, engine_of: Callable[[], Any], kind: str, rate: float, burst: int,
                 max_buckets: int = MAX_BUCKETS, prune_every: int = 1000) -> None:
        self.engine_of = engine_of
        self.kind = kind
        self.rate = float(rate)
        self.burst = float(burst)
        self.fallback = TokenBuckets(rate, burst, max_buckets)
        self.max_buckets = max(1, int(max_buckets))
        self.prune_every = prune_every
        self._takes = 0
        self._warned = False

    def _sql(self, dialect: str, insert: bool) -> Any:
        from sqlalchemy import text

        least, greatest = ("LEAST", "GREATEST") if dialect == "postgresql" else ("MIN", "MAX")
        refilled = (f"{least}(:burst, rate_limit_buckets.tokens + "
                    f"{greatest}(0, :now - rate_limit_buckets.updated_at) * :rate)")
        update = (f"tokens = CASE WHEN {refilled} >= :cost THEN {refilled} - :cost ELSE {refilled} END, "
                  f"allowed = ({refilled} >= :cost), updated_at = {greatest}(:now, rate_limit_buckets.updated_at)")
        if not insert:
            return text(f"UPDATE rate_limit_buckets SET {update} WHERE key = :k RETURNING tokens, allowed")
        return text(
            "INSERT INTO rate_limit_buckets (key, tokens, updated_at, allowed) VALUES (:k, :burst - :cost, :now, :yes) "
            f"ON CONFLICT (key) DO UPDATE SET {update} RETURNING tokens, allowed")

    def _slot(self, conn: Any, key: str, now: float) -> str:
        """A new key gets its own bucket while the kind has fewer than ``max_buckets``; else refilled
        (idle) buckets are deleted first, and if none is idle the newcomer shares the overflow
        bucket (the same rule as TokenBuckets: a live bucket is never reset)."""
        from sqlalchemy import text

        like = {"p": f"{self.kind}|%"}
        count = int(conn.execute(text("SELECT count(*) FROM rate_limit_buckets WHERE key LIKE :p"), like).scalar() or 0)
        if count < self.max_buckets:
            return key
        if self.rate > 0:
            conn.execute(text("DELETE FROM rate_limit_buckets WHERE key LIKE :p AND key <> :o AND "
                              "tokens + (:now - updated_at) * :rate >= :burst"),
                         {**like, "o": self._key(self.OVERFLOW), "now": now, "rate": self.rate,
                          "burst": self.burst})
            count = int(conn.execute(text("SELECT count(*) FROM rate_limit_buckets WHERE key LIKE :p"),
                                     like).scalar() or 0)
        return key if count < self.max_buckets else self.OVERFLOW

    def _key(self, key: str) -> str:
        return f"{self.kind}|{key}"[:200]

    def take(self, key: str, now: Optional[float] = None, cost: float = 1.0) -> float:
        """0 when allowed, else seconds until ``cost`` tokens are back (``now``: unix time)."""
        now = time.time() if now is None else now
        try:
            engine = self.engine_of()
            with engine.begin() as conn:
                params = {"k": self._key(key), "burst": self.burst, "cost": cost, "now": now, "rate": self.rate,
                          "yes": True}
                row = conn.execute(self._sql(engine.dialect.name, insert=False), params).first()
                if row is None:  # a new client
                    params["k"] = self._key(self._slot(conn, key, now))
                    row = conn.execute(self._sql(engine.dialect.name, insert=True), params).first()
                self._takes += 1
                if self._takes % self.prune_every == 0 and self.rate > 0:
                    from sqlalchemy import text

                    conn.execute(text("DELETE FROM rate_limit_buckets WHERE key LIKE :p AND updated_at < :t"),
                                 {"p": f"{self.kind}|%", "t": now - self.burst / self.rate - 60})
        except Exception as exc:  # database down: this process's own buckets
            if not self._warned:
                log.warning("shared rate-limit buckets unavailable (%s); limiting per process", exc)
                self._warned = True
            return self.fallback.take(key, cost=cost)
        assert row is not None
        tokens, allowed = float(row[0]), bool(row[1])
        if allowed:
            return 0.0
        return (cost - tokens) / self.rate if self.rate > 0 else 3600.0


def _token_of(scope: Scope) -> Optional[str]:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            v: str = value.decode("latin-1")
            if v.lower().startswith("bearer "):
                return v[7:].strip()
        elif name == b"cookie":
            for part in value.decode("latin-1").split(";"):
                k, _, v = part.strip().partition("=")
                if k == COOKIE_NAME and v:
                    return v
    return None


def shared_store(settings: Any) -> bool:
    """Whether the buckets live in the database (RATE_LIMIT_STORE: database | memory | auto, auto
    meaning the database on PostgreSQL)."""
    store = str(getattr(settings, "RATE_LIMIT_STORE", "auto")).lower()
    if store == "auto":
        return str(settings.DATABASE_URL).startswith("postgresql")
    return store == "database"


#: sign-in routes, limited per client IP on top of the IP bucket
SIGNIN_PATHS = ("/v1/auth/nonce", "/v1/auth/login")


class RateLimitMiddleware:
    """Every request is charged to its client IP's bucket. A valid session of an active, registered
    participant adds that participant's own bucket (keyed by address, so new tokens of the same
    account share it): the request passes on either. Sessions of keys with no participant standing
    get no bucket of their own. Sign-in (nonce, login) has a further, slower bucket per IP."""

    #: seconds a participant lookup is re-used
    STANDING_TTL = 5.0

    def __init__(self, app: Any, settings: Any, secret_of: Callable[[], bytes],
                 engine_of: Optional[Callable[[], Any]] = None) -> None:
        self.app = app
        self.enabled = bool(settings.RATE_LIMIT_ENABLED)
        cap = int(getattr(settings, "RATE_LIMIT_MAX_BUCKETS", MAX_BUCKETS))
        self.shared = engine_of is not None and shared_store(settings)
        Buckets = Union[TokenBuckets, DbTokenBuckets]

        def buckets(kind: str, rate: float, burst: int) -> Buckets:
            if self.shared:
                assert engine_of is not None
                return DbTokenBuckets(engine_of, kind, rate, burst, cap)
            return TokenBuckets(rate, burst, cap)

        self.ip: Buckets = buckets("ip", settings.RATE_LIMIT_IP_PER_SECOND, settings.RATE_LIMIT_IP_BURST)
        self.session: Buckets = buckets("participant", settings.RATE_LIMIT_SESSION_PER_SECOND,
                                        settings.RATE_LIMIT_SESSION_BURST)
        self.signin: Buckets = buckets("signin", settings.RATE_LIMIT_SIGNIN_PER_SECOND,
                                       settings.RATE_LIMIT_SIGNIN_BURST)
        self.secret_of = secret_of
        self.engine_of = engine_of
        self._standing: OrderedDict[str, tuple[float, bool]] = OrderedDict()
        self._standing_lock = threading.Lock()

    def _is_participant(self, address: str) -> bool:
        """An active participant with roles in force (the indexed registry, the same rule as the
        API's callers), cached for STANDING_TTL s."""
        if self.engine_of is None:
            return False
        key = address.lower()
        now = time.monotonic()
        with self._standing_lock:
            hit = self._standing.get(key)
            if hit is not None and hit[0] > now:
                return hit[1]
        try:
            from sqlmodel import Session

            from gateway.api.deps import effective_roles
            from gateway.models import Organisation, Participant

            with Session(self.engine_of()) as db:
                participant = db.get(Participant, key)
                organisation = db.get(Organisation, participant.org_id) if participant is not None else None
                ok = participant is not None and effective_roles(participant, organisation, time.time()) != 0
        except Exception:  # no index yet: nobody has standing
            ok = False
        with self._standing_lock:
            self._standing[key] = (now + self.STANDING_TTL, ok)
            self._standing.move_to_end(key)
            while len(self._standing) > 10_000:
                self._standing.popitem(last=False)
        return ok

    async def _take(self, buckets: TokenBuckets | DbTokenBuckets, key: str) -> float:
        if isinstance(buckets, DbTokenBuckets):
            return await run_in_threadpool(buckets.take, key)
        return buckets.take(key)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self.enabled or scope["path"].startswith(EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        client = scope.get("client") or ("unknown", 0)
        ip_key = f"ip:{client[0]}"
        wait = await self._take(self.ip, ip_key)  # always charged
        what = "client address"
        if wait > 0:
            token = _token_of(scope)
            session = read_token(self.secret_of(), token) if token else None
            if session is not None and await run_in_threadpool(self._is_participant, session.address):
                wait = await self._take(self.session, f"p:{session.address.lower()}")
                what = "participant"
        if wait <= 0 and scope["path"] in SIGNIN_PATHS:
            wait = await self._take(self.signin, ip_key)
            what = "client address for sign-in"
        if wait > 0:
            retry = max(1, math.ceil(wait))
            payload = json.dumps({"error": "TooManyRequests",
                                  "reason": f"rate limit of this {what} exceeded; retry in {retry} s",
                                  "values": {"retry_after": retry}}).encode()
            await send({"type": "http.response.start", "status": 429,
                        "headers": [(b"content-type", b"application/json"), (b"retry-after", str(retry).encode()),
                                    (b"content-length", str(len(payload)).encode())]})
            await send({"type": "http.response.body", "body": payload})
            return
        await self.app(scope, receive, send)
