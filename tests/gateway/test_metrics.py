"""/metrics through prometheus_client: the output parses with prometheus_client's own text parser,
counts the requests served and the blocks and events indexed, and every app has its own registry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from gateway.core.httpmetrics import HttpMetrics
from gateway.indexer import metrics
from gateway.indexer.store import make_engine
from tests.gateway.api_fixtures import app, client, market
from tests.gateway.indexer_fixtures import Node, contracts_of, index_once, new_db, new_postgres_database, node


def samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text body, by (name, sorted labels); the parser raises on bad text."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            assert key not in out, f"duplicate series {key}"
            out[key] = s.value
    return out


def value(body: str, name: str, **labels: str) -> Optional[float]:
    return samples(body).get((name, tuple(sorted(labels.items()))))


def test_metrics_route_counts_each_request(client: Any) -> None:
    before = client.get("/metrics")
    assert before.status_code == 200 and before.headers["content-type"].startswith("text/plain")
    n_health = value(before.text, "dataledger_http_requests_total", method="GET", route="/health", status="200") or 0
    n_hist = value(before.text, "dataledger_http_request_duration_seconds_count", method="GET", route="/health") or 0
    n_404 = value(before.text, "dataledger_http_requests_total", method="GET", route="unmatched", status="404") or 0
    for _ in range(3):
        assert client.get("/health").status_code == 200
    assert client.get("/no/such/route").status_code == 404
    after = client.get("/metrics").text
    assert value(after, "dataledger_http_requests_total", method="GET", route="/health", status="200") == n_health + 3
    assert value(after, "dataledger_http_request_duration_seconds_count", method="GET", route="/health") == n_hist + 3
    assert value(after, "dataledger_http_request_duration_seconds_bucket", method="GET", route="/health",
                 le="+Inf") == n_hist + 3
    assert value(after, "dataledger_http_requests_total", method="GET", route="unmatched", status="404") == n_404 + 1
    # the first /metrics call is counted by the second
    assert (value(after, "dataledger_http_requests_total", method="GET", route="/metrics", status="200") or 0) >= 1
    # the indexer's part: the database's indexer_state row, and this process's counters
    assert (value(after, "dataledger_index_last_block") or 0) > 0
    assert value(after, "dataledger_index_events") is not None
    assert value(after, "dataledger_indexer_blocks_indexed_total") is not None


def test_each_app_has_its_own_registry(market: Any, client: Any) -> None:
    """A second app in the same process neither refuses its metrics (duplicate names in a shared
    registry) nor shows the first app's requests."""
    from fastapi.testclient import TestClient

    from gateway.main import create_app

    client.get("/health")
    assert (value(client.get("/metrics").text, "dataledger_http_requests_total", method="GET", route="/health",
                  status="200") or 0) >= 1
    other = create_app(market.settings())
    with TestClient(other) as c2:
        body = c2.get("/metrics").text
        assert value(body, "dataledger_http_requests_total", method="GET", route="/health", status="200") is None
        c2.get("/health")
        body = c2.get("/metrics").text
        assert value(body, "dataledger_http_requests_total", method="GET", route="/health", status="200") == 1
    assert other.state.metrics_registry is not client.app.state.metrics_registry


def test_histogram_buckets_are_cumulative() -> None:
    m = HttpMetrics()
    for seconds in (0.0005, 0.003, 0.003, 0.2, 7.0):
        m.observe("POST", "/v1/x", 201, seconds)
    body = m.render()
    le = {dict(labels)["le"]: v for (name, labels), v in samples(body).items()
          if name == "dataledger_http_request_duration_seconds_bucket"}
    assert le["0.001"] == 1 and le["0.005"] == 3 and le["0.25"] == 4 and le["5.0"] == 4 and le["+Inf"] == 5
    assert value(body, "dataledger_http_request_duration_seconds_sum", method="POST", route="/v1/x") == \
        sum((0.0005, 0.003, 0.003, 0.2, 7.0))
    assert value(body, "dataledger_http_requests_total", method="POST", route="/v1/x", status="201") == 5


def test_indexer_metrics_count_blocks_and_events(node: Node, new_db: Callable[[], str]) -> None:
    node.market.activity(5)
    url = new_db()
    before = metrics.snapshot()
    index_once(node, url)
    after = metrics.snapshot()
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            last, events = conn.execute(text("SELECT last_block, events_total FROM indexer_state WHERE id = 1")).one()
            n_events = conn.execute(text("SELECT COUNT(*) FROM events")).scalar()
        body = metrics.render(engine)
    finally:
        engine.dispose()
    start = min(c["deployBlock"] for c in contracts_of(node).values())
    assert after["counters"]["blocks_indexed"] - before["counters"]["blocks_indexed"] == last - start + 1
    assert after["counters"]["events_indexed"] - before["counters"]["events_indexed"] == n_events == events
    assert after["batch_seconds"]["count"] > before["batch_seconds"]["count"]
    assert value(body, "dataledger_index_last_block") == last == node.head()[0]
    assert value(body, "dataledger_index_events") == events
    assert value(body, "dataledger_index_lag_blocks") == 0
    assert value(body, "dataledger_indexer_indexed_block") == last
    assert value(body, "dataledger_indexer_blocks_indexed_total") == after["counters"]["blocks_indexed"]
    assert value(body, "dataledger_indexer_batch_duration_seconds_bucket", le="+Inf") == after["batch_seconds"]["count"]


def test_render_without_database_still_parses() -> None:
    engine = make_engine("sqlite://")  # no indexer_state table: the in-process part only
    try:
        body = metrics.render(engine)
    finally:
        engine.dispose()
    assert value(body, "dataledger_index_last_block") is None
    assert value(body, "dataledger_indexer_reorgs_total") is not None
