"""Request bodies are bounded in size and JSON nesting BEFORE anything parses them.

One ASGI middleware for every route with a body: the body is read with a cap (the route's, else the
global one; a ``Content-Length`` above it is refused without reading), then, for JSON, the nesting
depth is measured by a scan that skips strings and counts brackets (no recursion, no parser). Only
a body within both limits reaches FastAPI's JSON parser, so a deep document such as
``'[' * 75000 + ']' * 75000`` can never reach a recursive decoder or validator (the process's
recursion limit is raised to 100,000 by py_ecc: such a parse overflowed the C stack and killed the
worker with a segmentation fault).

Refusals: 413 ``BodyTooLarge`` and 400 ``JsonTooDeep``, both with the limit in ``values``.
"""

from __future__ import annotations

import json
import re
from typing import Any, Optional

Scope = dict[str, Any]

_TOKENS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
_OPEN = frozenset(b"[{")


def json_depth(raw: bytes, limit: int) -> int:
    """Deepest bracket nesting of ``raw`` (strings skipped); stops early once above ``limit``.
    Linear in the size of the body; never recursive."""
    depth = deepest = 0
    for m in _TOKENS.finditer(raw):
        c = m.group()[0]
        if c in _OPEN:
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
        elif c != 0x22:  # ']' or '}'
            depth -= 1
    return deepest


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            ctype = value.decode("latin-1").split(";", 1)[0].strip().lower()
            return bool(ctype == "application/json" or ctype.endswith("+json"))
    return True  # FastAPI parses an untyped body as JSON: scan it as such


def _content_length(scope: Scope) -> Optional[int]:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodyLimitMiddleware:
    """``limits``: path prefix -> byte cap (longest prefix wins); ``default``: every other route."""

    def __init__(self, app: Any, default: int, max_depth: int, limits: Optional[dict[str, int]] = None) -> None:
        self.app = app
        self.default = int(default)
        self.max_depth = int(max_depth)
        self.limits = sorted((limits or {}).items(), key=lambda kv: -len(kv[0]))

    def limit_for(self, path: str) -> int:
        for prefix, cap in self.limits:
            if path.startswith(prefix):
                return cap
        return self.default

    async def _refuse(self, send: Any, status: int, error: str, reason: str, values: dict[str, Any]) -> None:
        payload = json.dumps({"error": error, "reason": reason, "values": values}).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"), (b"connection", b"close"),
                                (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        cap = self.limit_for(scope["path"])
        declared = _content_length(scope)
        if declared is not None and declared > cap:
            await self._refuse(send, 413, "BodyTooLarge",
                               f"request body of {declared} bytes exceeds this route's limit of {cap} bytes",
                               {"limit": cap, "size": declared})
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > cap:
                await self._refuse(send, 413, "BodyTooLarge",
                                   f"request body exceeds this route's limit of {cap} bytes",
                                   {"limit": cap, "size_at_least": size})
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        raw = b"".join(chunks)
        if raw and _is_json(scope):
            depth = json_depth(raw, self.max_depth)
            if depth > self.max_depth:
                await self._refuse(send, 400, "JsonTooDeep",
                                   f"JSON nested deeper than {self.max_depth} levels",
                                   {"limit": self.max_depth, "depth_at_least": depth})
                return
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": raw, "more_body": False}
            following: dict[str, Any] = await receive()
            return following

        await self.app(scope, replay, send)
