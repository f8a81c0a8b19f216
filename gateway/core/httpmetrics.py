"""HTTP request counters and latency histogram (prometheus_client), served at /metrics.

Each app has its own :class:`prometheus_client.CollectorRegistry` (``app.state.metrics_registry``):
tests build many apps in one process, and the process-global default registry would refuse the
second app's metrics (duplicate names) or mix their counts.
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest

#: no ``*_created`` series: the counters and histograms keep the names and samples they always had
disable_created_metrics()  # type: ignore[no-untyped-call]

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
#: media type of the text exposition format generate_latest writes
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class HttpMetrics:
    """``dataledger_http_requests_total{method,route,status}`` and
    ``dataledger_http_request_duration_seconds{method,route}`` in ``registry`` (default: a new one)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.requests = Counter("dataledger_http_requests", "HTTP requests served, by method, route and status.",
                                ["method", "route", "status"], registry=self.registry)
        self.duration = Histogram("dataledger_http_request_duration_seconds", "HTTP request latency.",
                                  ["method", "route"], buckets=BUCKETS, registry=self.registry)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.duration.labels(method, route).observe(seconds)

    def render(self) -> str:
        """The whole registry (these metrics and any other collector registered in it)."""
        return generate_latest(self.registry).decode()


class MetricsMiddleware:
    def __init__(self, app: Any, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or ("/static" if scope["path"].startswith("/static/") else "unmatched")
            self.metrics.observe(scope["method"], path, status["code"], time.perf_counter() - t0)
