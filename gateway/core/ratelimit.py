"""Token-bucket rate limits per client IP, per participant and for sign-in (429 with Retry-After)."""

from __future__ import annotations

import json
import math
import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Optional

from starlette.concurrency import run_in_threadpool

from gateway.core.security import COOKIE_NAME, read_token

Scope = dict[str, Any]

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
        self.ip = TokenBuckets(settings.RATE_LIMIT_IP_PER_SECOND, settings.RATE_LIMIT_IP_BURST, cap)
        self.session = TokenBuckets(settings.RATE_LIMIT_SESSION_PER_SECOND, settings.RATE_LIMIT_SESSION_BURST, cap)
        self.signin = TokenBuckets(settings.RATE_LIMIT_SIGNIN_PER_SECOND, settings.RATE_LIMIT_SIGNIN_BURST, cap)
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
        except Exception:  # noqa: BLE001 - no index yet: nobody has standing
            ok = False
        with self._standing_lock:
            self._standing[key] = (now + self.STANDING_TTL, ok)
            self._standing.move_to_end(key)
            while len(self._standing) > 10_000:
                self._standing.popitem(last=False)
        return ok

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self.enabled or scope["path"].startswith(EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        client = scope.get("client") or ("unknown", 0)
        ip_key = f"ip:{client[0]}"
        wait = self.ip.take(ip_key)  # always charged
        what = "client address"
        if wait > 0:
            token = _token_of(scope)
            session = read_token(self.secret_of(), token) if token else None
            if session is not None and await run_in_threadpool(self._is_participant, session.address):
                wait = self.session.take(f"p:{session.address.lower()}")
                what = "participant"
        if wait <= 0 and scope["path"] in SIGNIN_PATHS:
            wait = self.signin.take(ip_key)
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
