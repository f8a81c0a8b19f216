"""HTTP request counters and latency histogram, in Prometheus text (served at /metrics)."""

from __future__ import annotations

import threading
import time
from typing import Any

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class HttpMetrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, str], int] = {}
        self.hist: dict[tuple[str, str], list[float]] = {}  # counts per bucket + [+Inf, sum, count]

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            key = (method, route, str(status))
            self.requests[key] = self.requests.get(key, 0) + 1
            h = self.hist.setdefault((method, route), [0.0] * (len(BUCKETS) + 3))
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    h[i] += 1
                    break
            else:
                h[len(BUCKETS)] += 1
            h[-2] += seconds
            h[-1] += 1

    def render(self) -> str:
        lines = ["# HELP dataledger_http_requests_total HTTP requests served, by method, route and status.",
                 "# TYPE dataledger_http_requests_total counter"]
        with self._lock:
            requests = dict(self.requests)
            hist = {k: list(v) for k, v in self.hist.items()}
        for (method, route, status), n in sorted(requests.items()):
            lines.append(f'dataledger_http_requests_total{{method="{method}",route="{route}",status="{status}"}} {n}')
        metric = "dataledger_http_request_duration_seconds"
        lines += [f"# HELP {metric} HTTP request latency.", f"# TYPE {metric} histogram"]
        for (method, route), h in sorted(hist.items()):
            labels = f'method="{method}",route="{route}"'
            cumulative = 0.0
            for bound, count in zip(BUCKETS, h):
                cumulative += count
                lines.append(f'{metric}_bucket{{{labels},le="{bound}"}} {int(cumulative)}')
            cumulative += h[len(BUCKETS)]
            lines += [f'{metric}_bucket{{{labels},le="+Inf"}} {int(cumulative)}',
                      f"{metric}_sum{{{labels}}} {h[-2]!r}", f"{metric}_count{{{labels}}} {int(h[-1])}"]
        return "\n".join(lines) + "\n"


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
