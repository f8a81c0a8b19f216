"""Migration 0008 (issue 16): the unique key ``(block_hash, log_index)`` of ``events`` is dropped,
on a populated database, SQLite and PostgreSQL: every row kept, SQLite's table a rowid table (and
``WITHOUT ROWID`` again after a downgrade), the schema at head equal to the models, duplicates still refused by the primary
key, the key back after a downgrade, and indexing goes on after it."""

from __future__ import annotations

from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlalchemy import exc as sa_exc
from sqlmodel import SQLModel

from gateway.indexer.store import alembic_config, dump_hash, make_engine
from gateway.models import include_name
from tests.gateway.data_market import dmarket

__all__ = ["dmarket"]

KEY = "uq_events_block_hash_log_index"


def _events(engine: Any) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT * FROM events ORDER BY block_number, log_index"))]


def _unique_keys(engine: Any) -> set[str]:
    insp = inspect(engine)
    return ({str(u["name"]) for u in insp.get_unique_constraints("events")}
            | {str(i["name"]) for i in insp.get_indexes("events") if i.get("unique")})


def _sqlite_without_rowid(engine: Any) -> bool:
    with engine.connect() as conn:
        ddl = conn.execute(text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'events'")).scalar()
    return "WITHOUT ROWID" in str(ddl).upper()


def _copy_of_first_event(conn: Any, block_number: int) -> None:
    """The first event again, at another block number but with its block hash and log index."""
    conn.execute(text("INSERT INTO events (block_number, log_index, block_hash, tx_hash, tx_index, address, "
                      "contract, event, args) SELECT :n, log_index, block_hash, tx_hash, tx_index, address, "
                      "contract, event, args FROM events ORDER BY block_number, log_index LIMIT 1"),
                 {"n": block_number})


def test_migration_0008_drops_the_block_hash_key_and_keeps_every_event(dmarket: Any) -> None:
    m = dmarket
    m.index()
    engine = make_engine(m.database_url)
    raw = create_engine(m.database_url)
    sqlite = raw.dialect.name == "sqlite"
    before = dump_hash(engine)
    events = _events(raw)
    assert len(events) > 50
    cfg = alembic_config(m.database_url)
    assert KEY not in _unique_keys(raw)
    if sqlite:
        assert not _sqlite_without_rowid(raw)

    command.downgrade(cfg, "0007")
    assert KEY in _unique_keys(raw)
    assert _events(raw) == events
    if sqlite:
        assert _sqlite_without_rowid(raw)
    with pytest.raises(sa_exc.IntegrityError):  # 0007's key refuses a second (block_hash, log_index)
        with raw.begin() as conn:
            _copy_of_first_event(conn, 10**9)

    command.upgrade(cfg, "head")
    assert KEY not in _unique_keys(raw)
    assert _events(raw) == events
    if sqlite:  # the table was copied to drop the key, as a rowid table
        assert not _sqlite_without_rowid(raw)
    assert {"ix_events_tx_hash", "ix_events_contract_event"} <= {i["name"] for i in inspect(raw).get_indexes("events")}
    with raw.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn, opts={"include_name": include_name}),
                                SQLModel.metadata) == []
    with pytest.raises(sa_exc.IntegrityError):  # the primary key still refuses a second (block_number, log_index)
        with raw.begin() as conn:
            first = events[0]
            conn.execute(text("INSERT INTO events (block_number, log_index, block_hash, tx_hash, tx_index, address, "
                              "contract, event, args) VALUES (:b, :l, '0xother', :t, 0, :a, :c, :e, '{}')"),
                         {"b": first[0], "l": first[1], "t": first[3], "a": first[5], "c": first[6], "e": first[7]})
    assert _events(raw) == events
    assert dump_hash(engine) == before
    raw.dispose()
    engine.dispose()
    m.index()  # indexing goes on from there
    assert dump_hash(make_engine(m.database_url)) == before


def test_the_migrations_give_a_new_sqlite_database_8_kib_pages_and_an_old_one_keeps_its_own(tmp_path: Any) -> None:
    import sqlite3

    from gateway.indexer.store import migrate

    new = f"sqlite:///{tmp_path}/new.db"
    migrate(new)
    engine = make_engine(new)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA page_size").scalar() == 8192
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    engine.dispose()
    # a database made with 4 KiB pages (before this default) keeps them, and migrates and opens
    old_path = tmp_path / "old.db"
    with sqlite3.connect(old_path) as c:
        c.execute("PRAGMA page_size=4096")
        c.execute("CREATE TABLE t (x INTEGER)")
    old = f"sqlite:///{old_path}"
    migrate(old)
    engine = make_engine(old)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA page_size").scalar() == 4096
        assert conn.exec_driver_sql("SELECT count(*) FROM events").scalar() == 0
    engine.dispose()
