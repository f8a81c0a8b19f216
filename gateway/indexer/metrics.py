"""The indexer's Prometheus metrics (prometheus_client), served by the API at /metrics.

In-process counters, gauges and the batch histogram are updated by the sync loop (``inc``,
``set_gauge``, ``observe_batch``) in this process's indexer registry. :class:`IndexerCollector`
exposes them together with gauges read from the database's ``indexer_state`` row, so an API
process that does not run the indexer itself still reports the indexed block, head, lag, reorgs
and events of the indexer that writes the database. The app registers one collector in its own
registry (gateway.main); :func:`render` renders one for a given engine.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any, Optional

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from sqlalchemy import Engine, text

disable_created_metrics()  # type: ignore[no-untyped-call]

#: upper bounds (seconds) of the batch duration histogram
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
PREFIX = "dataledger_indexer_"

COUNTERS = {
    "blocks_indexed": "Blocks indexed by this process.",
    "events_indexed": "Events written by this process.",
    "reorgs": "Chain reorganisations rolled back by this process.",
    "rpc_retries": "JSON-RPC calls retried after a node error.",
    "range_shrinks": "eth_getLogs block ranges halved after a too-large answer.",
}
GAUGES = {
    "indexed_block": ("Last block indexed by this process.", -1.0),
    "head_block": ("Chain head seen by this process.", -1.0),
    "lag_blocks": ("Blocks between the head and the last indexed block.", 0.0),
    "range_blocks": ("Current eth_getLogs range (blocks).", 0.0),
    "indexes_deferred": ("Secondary indexes a first backfill builds at its end (0 once built).", 0.0),
}


class _Metrics:
    """One set of the indexer's metrics in a registry of its own (replaced whole by :func:`reset`)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.counters: dict[str, Counter] = {name: Counter(PREFIX + name, doc, registry=self.registry)
                                             for name, doc in COUNTERS.items()}
        self.gauges: dict[str, Gauge] = {}
        for name, (doc, initial) in GAUGES.items():
            self.gauges[name] = Gauge(PREFIX + name, doc, registry=self.registry)
            self.gauges[name].set(initial)
        self.batch = Histogram(PREFIX + "batch_duration_seconds",
                               "Wall time of one committed batch (fetch wait + decode + SQL).",
                               buckets=BUCKETS, registry=self.registry)


_lock = threading.Lock()
_current = _Metrics()


def _value(registry: CollectorRegistry, sample: str) -> float:
    return registry.get_sample_value(sample) or 0.0


def inc(name: str, value: float = 1) -> None:
    with _lock:
        counter = _current.counters.get(name)
        if counter is None:  # a counter no one declared: created on first use, like before
            counter = _current.counters[name] = Counter(PREFIX + name, name, registry=_current.registry)
    counter.inc(value)


def set_gauge(name: str, value: float) -> None:
    with _lock:
        gauge = _current.gauges.get(name)
        if gauge is None:
            gauge = _current.gauges[name] = Gauge(PREFIX + name, name, registry=_current.registry)
    gauge.set(value)


def observe_batch(seconds: float) -> None:
    _current.batch.observe(seconds)


def snapshot() -> dict[str, Any]:
    m = _current
    return {"counters": {n: _value(m.registry, PREFIX + n + "_total") for n in list(m.counters)},
            "gauges": {n: _value(m.registry, PREFIX + n) for n in list(m.gauges)},
            "batch_seconds": {"sum": _value(m.registry, PREFIX + "batch_duration_seconds_sum"),
                              "count": _value(m.registry, PREFIX + "batch_duration_seconds_count")}}


def reset() -> None:
    global _current
    with _lock:
        _current = _Metrics()


def _database_metrics(engine: Engine) -> Iterator[Metric]:
    try:
        with engine.connect() as conn:
            row = conn.execute(text(
                "SELECT last_block, head_block, reorgs, events_total, updated_at FROM indexer_state WHERE id = 1"
            )).first()
    except Exception:  # no table yet, database down: the in-process part still renders
        return
    if row is None:
        return
    last, head, reorgs, events, updated = row
    values = {
        "dataledger_index_last_block": ("Last block in the index (indexer_state).", last),
        "dataledger_index_head_block": ("Chain head the indexer last saw (indexer_state).", head),
        "dataledger_index_lag_blocks": ("Blocks the index is behind that head.", max(0, head - last)),
        "dataledger_index_reorgs": ("Reorganisations rolled back by the indexer.", reorgs),
        "dataledger_index_events": ("Events in the index.", events),
        "dataledger_index_updated_timestamp_seconds": ("When the indexer last wrote its state.", updated),
    }
    for name, (doc, value) in values.items():
        yield GaugeMetricFamily(name, doc, value=float(value))


class IndexerCollector:
    """This process's indexer metrics plus the database's ``indexer_state`` gauges (when
    ``engine_of`` gives an engine whose database has the row)."""

    def __init__(self, engine_of: Callable[[], Optional[Engine]] = lambda: None) -> None:
        self.engine_of = engine_of

    def collect(self) -> Iterator[Metric]:
        yield from _current.registry.collect()
        engine = self.engine_of()
        if engine is not None:
            yield from _database_metrics(engine)


def render(engine: Optional[Engine] = None) -> str:
    """Prometheus text format (version 0.0.4) of :class:`IndexerCollector` for ``engine``."""
    registry = CollectorRegistry()
    registry.register(IndexerCollector(lambda: engine))
    return generate_latest(registry).decode()
