"""Alembic environment of the gateway: target metadata = gateway.models (SQLModel)."""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import Connection, Engine, create_engine, event, pool
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from gateway import models  # noqa: F401  (registers every table on SQLModel.metadata)
from gateway.models import include_name

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name)

target_metadata = SQLModel.metadata


def database_url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from gateway.core.config import Settings

    return Settings().DATABASE_URL  # read now (not the cached settings): DATABASE_URL may have changed


def run_migrations_offline() -> None:
    context.configure(url=database_url(), target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


#: PostgreSQL advisory lock key of the migrations (any constant: "dataledger" in ASCII, truncated)
MIGRATION_LOCK_KEY = 0x646174616C6564


def sqlite_engine(url: str) -> Engine:
    """A SQLite engine whose transactions SQLAlchemy opens itself with ``BEGIN IMMEDIATE``.

    Python's sqlite3 driver begins a transaction only before INSERT/UPDATE/DELETE and runs DDL in
    autocommit: a kill during the first ``alembic upgrade`` left some tables without the version
    row, and every later start failed with "table ... already exists". With the driver's own
    transaction handling off and an explicit BEGIN, the whole upgrade (DDL, data moves and the
    version row) is one transaction: after a kill the database is as before it. IMMEDIATE takes the
    write lock first, so a second process starting at the same time waits, then finds head."""
    engine = create_engine(url, poolclass=pool.NullPool, connect_args={"timeout": 60})

    @event.listens_for(engine, "connect")
    def _no_driver_transactions(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def _sqlite_at_head(raw: Any) -> bool:
    """The database is already at the target head: nothing to do, and no write lock taken
    (BEGIN IMMEDIATE would wait for an indexer batch in progress). A lock-free autocommit read."""
    from alembic.script import ScriptDirectory

    heads = set(ScriptDirectory.from_config(config).get_heads())
    target = context.get_revision_argument()
    if target not in ("head", "heads") and not (isinstance(target, str) and target in heads):
        return False
    try:
        current = {str(r[0]) for r in raw.execute("SELECT version_num FROM alembic_version").fetchall()}
    except Exception:  # no version table yet
        return False
    return current == heads


def _run(connection: Connection) -> None:
    """The whole upgrade in ONE transaction (PostgreSQL and SQLite have transactional DDL)."""
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                      transaction_per_migration=False, transactional_ddl=True,
                      include_name=include_name)
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # concurrent starts (API and indexer) queue here instead of racing to CREATE TABLE
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
        context.run_migrations()


def run_migrations_online() -> None:
    connectable = config.attributes.get("connection")
    if connectable is not None:
        _run(connectable)
        return
    url = database_url()
    if make_url(url).get_backend_name() == "sqlite":
        engine = sqlite_engine(url)
        with engine.connect() as connection:
            # before the first table only (a no-op afterwards), outside any transaction: 8 KiB
            # pages, fewer B-tree pages per batch, fewer WAL frames to checkpoint
            raw = connection.connection.driver_connection
            raw.execute("PRAGMA page_size=8192")
            if not _sqlite_at_head(raw):
                _run(connection)
        engine.dispose()
        return
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
