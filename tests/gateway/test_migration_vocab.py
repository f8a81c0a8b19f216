"""Migration 0004 (issue 12, one vocabulary): token_id -> voucher_id, owner -> holder, case_id ->
clearance_id, on a database populated under 0003, SQLite and PostgreSQL: every row kept, the
schema at head equal to the models, indexing goes on after it."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text
from sqlmodel import SQLModel

from gateway.indexer.store import alembic_config, dump_hash, make_engine
from gateway.models import include_name
from tests.gateway.data_market import dmarket, forget_what_later_migrations_add

#: table -> {column at 0003: column at head}
RENAMED = {
    "vouchers": {"token_id": "voucher_id", "owner": "holder"},
    "voucher_transfers": {"token_id": "voucher_id"},
    "voucher_users": {"token_id": "voucher_id"},
    "voucher_uses": {"token_id": "voucher_id"},
    "clearances": {"case_id": "clearance_id"},
}
INDEXES = {"vouchers": ("ix_vouchers_owner", "ix_vouchers_holder"),
           "voucher_transfers": ("ix_voucher_transfers_token_id", "ix_voucher_transfers_voucher_id")}


def _rows(engine: Any, table: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(text(f"SELECT * FROM {table}"))]
    return sorted(rows, key=repr)


def _columns(engine: Any, table: str) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(table)}


def _index_names(engine: Any, table: str) -> set[str]:
    return {i["name"] for i in inspect(engine).get_indexes(table)}


def test_migration_0004_renames_columns_and_keeps_every_row(dmarket: Any) -> None:
    m = dmarket
    m.index()
    engine = make_engine(m.database_url)
    raw = create_engine(m.database_url)
    forget_what_later_migrations_add(m.database_url)
    before = dump_hash(engine)
    at_head = {t: _rows(raw, t) for t in RENAMED}
    # the demo market fills every renamed table (so the test moves real rows)
    assert all(at_head[t] for t in ("vouchers", "voucher_transfers", "voucher_uses", "clearances")), \
        {t: len(r) for t, r in at_head.items()}
    cfg = alembic_config(m.database_url)

    command.downgrade(cfg, "0003")
    for table, renames in RENAMED.items():
        cols = _columns(raw, table)
        assert set(renames) <= cols and not set(renames.values()) & cols, (table, cols)
        back = {v: k for k, v in renames.items()}
        assert _rows(raw, table) == sorted(({back.get(k, k): v for k, v in r.items()} for r in at_head[table]),
                                           key=repr)
    for table, (old, new) in INDEXES.items():
        assert old in _index_names(raw, table) and new not in _index_names(raw, table)
    # a row written under 0003 (its column names) survives the upgrade under the new names
    with raw.begin() as conn:
        conn.execute(text("INSERT INTO clearances (case_id, asset_id, requester, destination, recipient, purpose_cid, "
                          "status, requested_block, updated_block) VALUES (424242, 1, '0xaa', 'SG', '0xbb', '0x01', "
                          "'requested', 1, 1)"))
        conn.execute(text("INSERT INTO indexer_undo (block_number, table_name, key, row) "
                          "VALUES (1, 'vouchers', '[]', '[]')"))

    command.upgrade(cfg, "0004")  # the renamed indexes as 0004 leaves them (0007 makes the vouchers' composite)
    for table, (old, new) in INDEXES.items():
        assert new in _index_names(raw, table) and old not in _index_names(raw, table)
    command.upgrade(cfg, "head")
    for table, renames in RENAMED.items():
        cols = _columns(raw, table)
        assert set(renames.values()) <= cols and not set(renames) & cols, (table, cols)
    assert "ix_vouchers_holder_voucher_id" in _index_names(raw, "vouchers")
    assert not {"ix_vouchers_owner", "ix_vouchers_holder"} & _index_names(raw, "vouchers")
    with raw.begin() as conn:
        row = conn.execute(text("SELECT clearance_id, destination, status FROM clearances WHERE clearance_id = 424242"))
        assert [tuple(r) for r in row] == [(424242, "SG", "requested")]
        conn.execute(text("DELETE FROM clearances WHERE clearance_id = 424242"))
        # pre-images under the old column names are dropped; reorgs below roll back by replay
        assert conn.execute(text("SELECT count(*) FROM indexer_undo")).scalar() == 0
        assert conn.execute(text("SELECT undo_from FROM indexer_state")).scalar() is None
    with raw.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn, opts={"include_name": include_name}),
                                SQLModel.metadata) == []
    assert {t: _rows(raw, t) for t in RENAMED} == at_head
    assert dump_hash(engine) == before
    raw.dispose()
    engine.dispose()
    m.index()  # indexing goes on from there
    assert dump_hash(make_engine(m.database_url)) == before
