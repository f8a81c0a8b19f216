"""A first backfill builds the non-unique secondary indexes once, at its end, instead of row by row
(store.DEFERRABLE_INDEXES): same rows, the schema the migrations define afterwards, and every
way around it (a stopped backfill, a later backfill, indexes dropped by hand, /health)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from gateway.indexer.store import DEFERRABLE_INDEXES, drop_indexes, dump_hash, make_engine, missing_indexes
from gateway.indexer.sync import Indexer, IndexerConfig, Progress
from gateway.models import include_name
from tests.gateway.indexer_fixtures import (
    Node,
    contracts_of,
    health_json,
    index_once,
    new_db,
    new_postgres_database,
    node,
)

__all__ = ["new_db", "new_postgres_database", "node"]

ALL = sorted(str(index.name) for index in DEFERRABLE_INDEXES)
#: small ranges and chunks: the backfill takes the pipelined path and commits many times
SMALL = dict(initial_range=2, max_range=4, target_events=20, commit_events=10)


def missing(url: str) -> list[str]:
    """Deferrable indexes the database lacks, read on a connection of its own."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return sorted(str(index.name) for index in missing_indexes(conn))
    finally:
        engine.dispose()


def schema_diff(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return list(compare_metadata(MigrationContext.configure(conn, opts={"include_name": include_name}),
                                         SQLModel.metadata))
    finally:
        engine.dispose()


def backfill(node: Node, url: str, config: IndexerConfig, seen: list[tuple[int, list[str]]],
             stop_after: int = 0) -> Indexer:
    """Run one indexer; ``seen`` gets (checkpoint, missing indexes) at every progress report;
    ``stop_after`` > 0 stops it once that many checkpoints were seen."""
    engine = make_engine(url)
    indexer: Indexer

    def progress(p: Progress) -> None:
        seen.append((p.last_block, missing(url)))
        if stop_after and len(seen) >= stop_after:
            indexer.stop()

    indexer = Indexer(node.rpc_url, engine, contracts_of(node), config, on_progress=progress)
    try:
        indexer.run()
    finally:
        engine.dispose()
    return indexer


def test_a_first_backfill_builds_the_indexes_at_its_end(node: Node, new_db: Callable[[], str]) -> None:
    node.market.activity(30)
    reference = index_once(node, new_db(), IndexerConfig(defer_indexes=False, **SMALL))
    url = new_db()
    assert missing(url) == []  # migrated: the schema has them all
    seen: list[tuple[int, list[str]]] = []
    indexer = backfill(node, url, IndexerConfig(**SMALL), seen)
    assert indexer.state is not None
    head = indexer.state.last_block
    during = [m for block, m in seen if indexer.start_block <= block < head]
    assert len(during) >= 3 and all(m == ALL for m in during), seen  # none of them while it runs
    assert missing(url) == []
    assert schema_diff(url) == []  # exactly the indexes the migrations define
    engine = make_engine(url)
    assert dump_hash(engine) == reference  # same rows as a backfill that kept its indexes
    engine.dispose()


def test_a_stopped_first_backfill_builds_them_when_the_next_run_is_done(node: Node,
                                                                        new_db: Callable[[], str]) -> None:
    node.market.activity(30)
    reference = index_once(node, new_db(), IndexerConfig(defer_indexes=False, **SMALL))
    url = new_db()
    seen: list[tuple[int, list[str]]] = []
    stopped = backfill(node, url, IndexerConfig(**SMALL), seen, stop_after=3)
    assert stopped.state is not None and stopped.state.last_block < node.head()[0]
    assert stopped.state.events_total > 0
    assert missing(url) == ALL  # a stop leaves them to the next run
    # the next run finds them missing (events_total > 0 now) and still builds them when it is done
    seen = []
    backfill(node, url, IndexerConfig(**SMALL), seen)
    assert seen and all(m == ALL for block, m in seen[:-2]), seen
    assert missing(url) == [] and schema_diff(url) == []
    engine = make_engine(url)
    assert dump_hash(engine) == reference
    engine.dispose()


def test_a_later_backfill_keeps_the_indexes(node: Node, new_db: Callable[[], str]) -> None:
    node.market.activity(10)
    url = new_db()
    index_once(node, url, IndexerConfig(**SMALL))
    node.market.activity(30)
    seen: list[tuple[int, list[str]]] = []
    backfill(node, url, IndexerConfig(**SMALL), seen)
    assert len(seen) >= 3 and all(m == [] for _, m in seen), seen  # an index with events keeps them


def test_indexes_missing_at_the_head_are_built_by_the_next_round(node: Node, new_db: Callable[[], str]) -> None:
    node.market.activity(10)
    url = new_db()
    index_once(node, url)
    engine = make_engine(url)
    with engine.begin() as conn:  # dropped by hand (or a kill while they were being built)
        drop_indexes(conn, DEFERRABLE_INDEXES[:3])
    engine.dispose()
    assert missing(url) == sorted(str(index.name) for index in DEFERRABLE_INDEXES[:3])
    index_once(node, url)  # nothing to index: the round at the head builds them
    assert missing(url) == [] and schema_diff(url) == []


def test_health_lists_the_deferred_indexes(node: Node, new_db: Callable[[], str], tmp_path: Path) -> None:
    node.market.activity(5)
    url = new_db()
    index_once(node, url)

    def health() -> list[str]:
        return list(health_json(node, url, tmp_path)["indexes_deferred"])

    assert health() == []
    engine = make_engine(url)
    with engine.begin() as conn:
        drop_indexes(conn, DEFERRABLE_INDEXES)
    engine.dispose()
    assert sorted(health()) == ALL


def test_a_backfill_up_to_a_given_block_builds_them_before_it_returns(node: Node, new_db: Callable[[], str]) -> None:
    node.market.activity(30)
    url = new_db()
    head = node.head()[0]
    engine = make_engine(url)
    indexer = Indexer(node.rpc_url, engine, contracts_of(node), IndexerConfig(**SMALL))
    state = indexer.run(until_block=head - 5)  # returns at that block, without a round at the head
    engine.dispose()
    assert state.last_block == head - 5 and state.events_total > 0
    assert missing(url) == [] and schema_diff(url) == []


def test_sqlite_builds_spill_to_a_file_and_leave_the_pool_as_it_was(tmp_path: Path) -> None:
    from gateway.indexer.store import create_indexes, migrate

    url = f"sqlite:///{tmp_path / 'x.db'}"
    migrate(url)
    engine = make_engine(url, pool_size=1, max_overflow=0)  # one pooled connection: the build's
    with engine.begin() as conn:
        drop_indexes(conn, DEFERRABLE_INDEXES)
    seen: list[tuple[int, int]] = []
    from sqlalchemy import event

    @event.listens_for(engine, "before_cursor_execute")
    def pragmas(conn, cursor, statement, *_):  # type: ignore[no-untyped-def]
        if statement.startswith("CREATE INDEX"):
            seen.append((conn.exec_driver_sql("PRAGMA temp_store").scalar(),
                         conn.exec_driver_sql("PRAGMA cache_size").scalar()))

    create_indexes(engine, DEFERRABLE_INDEXES)
    event.remove(engine, "before_cursor_execute", pragmas)
    assert seen and all(s == (1, -16384) for s in seen), seen  # 1: FILE
    with engine.connect() as conn:  # the next connection has the engine's own pragmas again
        assert conn.exec_driver_sql("PRAGMA temp_store").scalar() == 2  # MEMORY
        assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == -65536
        assert not missing_indexes(conn)
    engine.dispose()


def test_a_role_that_may_not_drop_indexes_backfills_with_them(node: Node, postgres_url: str) -> None:
    """An indexer role that may write rows but does not own the schema (migrations run by the
    owner): the drop is refused, the backfill keeps the indexes and indexes every event."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from gateway.indexer.store import migrate

    node.market.activity(20)
    reference_url = new_postgres_database(postgres_url)
    migrate(reference_url)
    reference = index_once(node, reference_url, IndexerConfig(defer_indexes=False, **SMALL))
    owner_url = new_postgres_database(postgres_url)
    migrate(owner_url)
    role = "ix_writer_" + make_url(owner_url).database.split("_", 1)[1]  # type: ignore[union-attr]
    owner = make_engine(owner_url)
    with owner.begin() as conn:
        conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        conn.execute(text(f'GRANT USAGE ON SCHEMA public TO "{role}"'))
        conn.execute(text(f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"'))
        conn.execute(text(f'GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO "{role}"'))
    owner.dispose()
    url = make_url(owner_url).set(username=role, password=None).render_as_string(hide_password=False)
    seen: list[tuple[int, list[str]]] = []
    indexer = backfill(node, url, IndexerConfig(**SMALL), seen)
    assert indexer.state is not None and indexer.state.last_block == node.head()[0]
    assert seen and all(m == [] for _, m in seen), seen  # never without its indexes
    engine = make_engine(url)
    assert dump_hash(engine) == reference
    engine.dispose()
