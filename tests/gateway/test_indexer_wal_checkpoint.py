"""SQLite WAL checkpoints of a backfill, on a thread and connection of their own
(store.WalCheckpointer): the WAL is copied after each commit and restarts instead of growing, a
reader holding an old snapshot or a file that is not a database stops nothing, and the pipelined
backfill asks for one checkpoint per commit and leaves no thread behind."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import pytest
from sqlalchemy import text

from gateway.indexer import sync
from gateway.indexer.store import WalCheckpointer, dump_hash, make_engine, migrate, wal_checkpointer
from gateway.indexer.sync import IndexerConfig
from tests.gateway.indexer_fixtures import Node, index_once, new_postgres_database, node

ROW = "x" * 1000


def wait_for_runs(checkpointer: WalCheckpointer, runs: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while checkpointer.runs < runs:
        assert time.monotonic() < deadline, f"no checkpoint {runs} (runs: {checkpointer.runs})"
        time.sleep(0.01)


def write(url: str, transactions: int, rows: int = 2000,
          after_commit: Optional[Callable[[], None]] = None) -> list[int]:
    """``transactions`` commits of ``rows`` ~1 kB rows on an engine of make_engine (the indexer's
    pragmas); the WAL file's size after each."""
    engine = make_engine(url)
    wal = Path(url.removeprefix("sqlite:///") + "-wal")
    sizes = []
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)"))
        for _ in range(transactions):
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": ROW}] * rows)
            if after_commit is not None:
                after_commit()
            sizes.append(wal.stat().st_size)
    finally:
        engine.dispose()
    return sizes


def test_each_checkpoint_copies_the_wal_and_the_next_transaction_starts_it_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    checkpointer = wal_checkpointer(make_engine(url))
    assert checkpointer is not None

    def checkpoint() -> None:
        runs = checkpointer.runs
        checkpointer.request()
        wait_for_runs(checkpointer, runs + 1)
        frames, copied = checkpointer.last
        assert frames > 0 and copied == frames  # everything committed was copied

    try:
        with_checkpoints = write(url, 6, after_commit=checkpoint)
    finally:
        checkpointer.close()
    assert checkpointer.runs == 6
    without = write(f"sqlite:///{tmp_path / 'b.db'}", 6)
    # SQLite's own checkpoint waits for 16,000 pages: until then the WAL grows by each transaction
    assert without[-1] > 4 * without[0]
    # copied after each commit, the WAL starts again: it holds about one transaction
    assert max(with_checkpoints) <= 1.5 * with_checkpoints[0], with_checkpoints
    with sqlite3.connect(tmp_path / "a.db") as conn:
        assert conn.execute("SELECT COUNT(*) FROM t").fetchone() == (6 * 2000,)


def test_a_reader_pinning_a_snapshot_stops_neither_the_writer_nor_the_checkpointer(tmp_path: Path) -> None:
    path = tmp_path / "a.db"
    url = f"sqlite:///{path}"
    write(url, 1)
    reader = sqlite3.connect(path, isolation_level=None)
    reader.execute("BEGIN")
    assert reader.execute("SELECT COUNT(*) FROM t").fetchone() == (2000,)  # its snapshot: 1 transaction
    checkpointer = WalCheckpointer(str(path))
    try:
        write(url, 3, after_commit=checkpointer.request)
        checkpointer.request()
        wait_for_runs(checkpointer, 1)
        runs = checkpointer.runs
        checkpointer.request()
        wait_for_runs(checkpointer, runs + 1)
        frames, copied = checkpointer.last
        assert 0 <= copied < frames  # the frames after the reader's snapshot wait for it
        assert reader.execute("SELECT COUNT(*) FROM t").fetchone() == (2000,)  # its snapshot holds
        reader.execute("COMMIT")
        runs = checkpointer.runs
        checkpointer.request()
        wait_for_runs(checkpointer, runs + 1)
        frames, copied = checkpointer.last
        assert copied == frames > 0
    finally:
        reader.close()
        checkpointer.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM t").fetchone() == (4 * 2000,)


def test_a_checkpoint_that_fails_is_logged_and_close_ends_the_thread(tmp_path: Path,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "not-a-database.db"
    path.write_bytes(b"this is not a SQLite database file, " * 200)
    checkpointer = WalCheckpointer(str(path))
    with caplog.at_level(logging.WARNING, logger="gateway.indexer"):
        checkpointer.request()
        deadline = time.monotonic() + 30
        while not any("WAL checkpoint of" in r.getMessage() for r in caplog.records):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        checkpointer.request()  # the thread is still there and takes the next request
        checkpointer.close()
    assert checkpointer.runs == 0
    assert sum("failed" in r.getMessage() for r in caplog.records) >= 1
    assert not [t for t in threading.enumerate() if t.name == "indexer-checkpoint"]
    WalCheckpointer(str(path)).close()  # never started: nothing to stop


def test_only_a_sqlite_file_gets_a_checkpointer(tmp_path: Path, postgres_url: str) -> None:
    assert wal_checkpointer(make_engine(f"sqlite:///{tmp_path / 'a.db'}")) is not None
    assert wal_checkpointer(make_engine("sqlite://")) is None
    assert wal_checkpointer(make_engine("sqlite:///:memory:")) is None
    assert wal_checkpointer(make_engine(new_postgres_database(postgres_url))) is None


def test_the_pipelined_backfill_asks_for_a_checkpoint_after_each_commit(node: Node, tmp_path: Path,
                                                                        postgres_url: str,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[WalCheckpointer] = []
    requests: list[int] = []
    commits: list[int] = []

    class Counted(WalCheckpointer):
        def request(self) -> None:
            requests.append(1)
            super().request()

    def checkpointer_of(engine: Any) -> Optional[WalCheckpointer]:
        real = wal_checkpointer(engine)
        if real is None:
            return None
        made.append(Counted(real.path))
        return made[-1]

    committed = sync._PipelinedTransaction._committed

    def count_commits(self: Any, new: Any) -> None:
        commits.append(new.last_block)
        committed(self, new)

    monkeypatch.setattr(sync, "wal_checkpointer", checkpointer_of)
    monkeypatch.setattr(sync._PipelinedTransaction, "_committed", count_commits)
    node.market.activity(30)
    config = IndexerConfig(initial_range=2, max_range=2, commit_events=1)  # a commit per chunk
    url = f"sqlite:///{tmp_path / 'a.db'}"
    migrate(url)
    expected = index_once(node, url, config)
    assert len(made) == 1 and len(commits) > 5
    assert len(requests) == len(commits)
    assert not [t for t in threading.enumerate() if t.name == "indexer-checkpoint"]
    # the same index as PostgreSQL's (which has none)
    made.clear()
    pg_url = new_postgres_database(postgres_url)
    migrate(pg_url)
    assert index_once(node, pg_url, config) == expected
    assert made == []
    engine = make_engine(url)
    try:
        assert dump_hash(engine) == expected
    finally:
        engine.dispose()


__all__ = ["node"]
