"""Prometheus text exposition of the indexer (served by the API at /metrics).

In-process counters are updated by the sync loop; ``render(engine)`` adds gauges read from the
database's ``indexer_state`` row, so an API process that does not run the indexer itself still
reports the indexed block, head, lag, reorgs and events of the indexer that writes the database.
"""

from __future__ import annotations

import threading
from typing import Any, Optional

from sqlalchemy import Engine, text

#: upper bounds (seconds) of the batch duration histogram
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

_lock = threading.Lock()
_counters: dict[str, float] = {
    "blocks_indexed": 0,
    "events_indexed": 0,
    "reorgs": 0,
    "rpc_retries": 0,
    "range_shrinks": 0,
}
_gauges: dict[str, float] = {"indexed_block": -1, "head_block": -1, "lag_blocks": 0, "range_blocks": 0}
_histogram = {"counts": [0] * (len(BUCKETS) + 1), "sum": 0.0, "count": 0}


def inc(name: str, value: float = 1) -> None:
    with _lock:
        _counters[name] = _counters.get(name, 0) + value


def set_gauge(name: str, value: float) -> None:
    with _lock:
        _gauges[name] = value


def observe_batch(seconds: float) -> None:
    with _lock:
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                _histogram["counts"][i] += 1  # type: ignore[index]
                break
        else:
            _histogram["counts"][-1] += 1  # type: ignore[index]
        _histogram["sum"] += seconds  # type: ignore[operator]
        _histogram["count"] += 1  # type: ignore[operator]


def snapshot() -> dict[str, Any]:
    with _lock:
        return {"counters": dict(_counters), "gauges": dict(_gauges),
                "batch_seconds": {"sum": _histogram["sum"], "count": _histogram["count"]}}


def reset() -> None:
    with _lock:
        for k in _counters:
            _counters[k] = 0
        _gauges.update({"indexed_block": -1, "head_block": -1, "lag_blocks": 0, "range_blocks": 0})
        _histogram.update({"counts": [0] * (len(BUCKETS) + 1), "sum": 0.0, "count": 0})


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def render(engine: Optional[Engine] = None) -> str:
    """Prometheus text format (version 0.0.4)."""
    lines: list[str] = []
    snap = snapshot()
    help_text = {
        "blocks_indexed": "Blocks indexed by this process.",
        "events_indexed": "Events written by this process.",
        "reorgs": "Chain reorganisations rolled back by this process.",
        "rpc_retries": "JSON-RPC calls retried after a node error.",
        "range_shrinks": "eth_getLogs block ranges halved after a too-large answer.",
    }
    for name, value in snap["counters"].items():
        metric = f"dataledger_indexer_{name}_total"
        lines += [f"# HELP {metric} {help_text.get(name, name)}", f"# TYPE {metric} counter", f"{metric} {_fmt(value)}"]
    for name, value in snap["gauges"].items():
        metric = f"dataledger_indexer_{name}"
        lines += [f"# TYPE {metric} gauge", f"{metric} {_fmt(value)}"]
    with _lock:
        counts = list(_histogram["counts"])  # type: ignore[call-overload]
        total_sum, total_count = _histogram["sum"], _histogram["count"]
    metric = "dataledger_indexer_batch_duration_seconds"
    lines += [f"# HELP {metric} Wall time of one committed batch (fetch wait + decode + SQL).",
              f"# TYPE {metric} histogram"]
    cumulative = 0
    for bound, count in zip(BUCKETS, counts):
        cumulative += count
        lines.append(f'{metric}_bucket{{le="{bound}"}} {cumulative}')
    cumulative += counts[-1]
    lines += [f'{metric}_bucket{{le="+Inf"}} {cumulative}', f"{metric}_sum {_fmt(total_sum)}",  # type: ignore[arg-type]
              f"{metric}_count {total_count}"]
    if engine is not None:
        try:
            with engine.connect() as conn:
                row = conn.execute(text(
                    "SELECT last_block, head_block, reorgs, events_total, updated_at FROM indexer_state WHERE id = 1"
                )).first()
        except Exception:  # no table yet, database down: the in-process part still renders
            row = None
        if row is not None:
            last, head, reorgs, events, updated = row
            db_metrics = {
                "dataledger_index_last_block": last,
                "dataledger_index_head_block": head,
                "dataledger_index_lag_blocks": max(0, head - last),
                "dataledger_index_reorgs": reorgs,
                "dataledger_index_events": events,
                "dataledger_index_updated_timestamp_seconds": updated,
            }
            for metric, value in db_metrics.items():
                lines += [f"# TYPE {metric} gauge", f"{metric} {_fmt(value)}"]
    return "\n".join(lines) + "\n"
