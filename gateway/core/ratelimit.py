"""Token-bucket rate limits per client IP and per session token (429 with Retry-After)."""

from __future__ import annotations

import json
import math
import threading
import time
from typing import Any, Callable, Optional

from gateway.core.security import COOKIE_NAME, read_token

Scope = dict[str, Any]

#: paths never limited (probes, scrapes, static files)
EXEMPT_PREFIXES = ("/health", "/metrics", "/static/")
MAX_BUCKETS = 100_000


class TokenBuckets:
    """Thread-safe buckets: ``take(key)`` returns 0 when allowed, else seconds until a token."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = float(rate)
        self.burst = float(burst)
        self._state: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str, now: Optional[float] = None) -> float:
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._state.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._state[key] = (tokens - 1.0, now)
                return 0.0
            self._state[key] = (tokens, now)
            if len(self._state) > MAX_BUCKETS:
                self._state.clear()
            return (1.0 - tokens) / self.rate if self.rate > 0 else 3600.0


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


class RateLimitMiddleware:
    def __init__(self, app: Any, settings: Any, secret_of: Callable[[], bytes]) -> None:
        self.app = app
        self.enabled = bool(settings.RATE_LIMIT_ENABLED)
        self.ip = TokenBuckets(settings.RATE_LIMIT_IP_PER_SECOND, settings.RATE_LIMIT_IP_BURST)
        self.session = TokenBuckets(settings.RATE_LIMIT_SESSION_PER_SECOND, settings.RATE_LIMIT_SESSION_BURST)
        self.secret_of = secret_of

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self.enabled or scope["path"].startswith(EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return
        token = _token_of(scope)
        session = read_token(self.secret_of(), token) if token else None
        if session is not None:
            wait = self.session.take(f"s:{session.sid}")
            what = "session"
        else:
            client = scope.get("client") or ("unknown", 0)
            wait = self.ip.take(f"ip:{client[0]}")
            what = "client address"
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
