"""Statistics are memoised on the index position and recomputed when the indexer moves."""

from __future__ import annotations

import shutil
from pathlib import Path

from sqlalchemy import create_engine, text

from gateway.services.stats import cached_statistics, statistics
from tests.gateway.api_fixtures import Market, market


def test_cache_follows_the_index_position(market: Market, tmp_path: Path) -> None:
    copy = tmp_path / "copy.db"
    shutil.copy(market.database_url.removeprefix("sqlite:///"), copy)
    engine = create_engine(f"sqlite:///{copy}")
    try:
        with engine.begin() as conn:
            first = cached_statistics(conn, "day")
            assert cached_statistics(conn, "day") is first  # same position: served from the cache
            assert first == statistics(conn, "day")
            # the indexer moved on (here: one trade fewer, as after a rollback): recomputed
            conn.execute(text("DELETE FROM trades WHERE trade_id = (SELECT MIN(trade_id) FROM trades)"))
            conn.execute(text("UPDATE indexer_state SET events_total = events_total - 1 WHERE id = 1"))
            second = cached_statistics(conn, "day")
            assert second is not first
            assert second["totals"]["trades"] == first["totals"]["trades"] - 1
    finally:
        engine.dispose()
