"""Database access of the API: one engine per app, read sessions, and the API's own extras.

The tables are the indexer's (gateway.models, migrated by alembic). The API adds, idempotently at
start-up and outside the canonical dump:

- ``gateway_auth_nonces``: Sign-In with Ethereum nonces (server-issued, single use, expiring);
- expression indexes on the JSON ``args`` of ``events`` (tokenId, assetId, voucherId, tradeId), so a
  provenance query is an index lookup even with millions of events.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from sqlalchemy import Engine, text
from sqlmodel import Session

from gateway.indexer.store import make_engine, migrate

log = logging.getLogger(__name__)

#: JSON keys of ``events.args`` that link an event to an asset, voucher or trade.
LINK_KEYS = ("tokenId", "assetId", "voucherId", "tradeId")


def arg_expr(dialect: str, key: str) -> str:
    """SQL expression reading ``args.<key>`` as text (the same expression the index is built on)."""
    if key not in LINK_KEYS and key not in ("clearanceId",):
        raise ValueError(key)
    if dialect == "postgresql":
        return f"((args::jsonb) ->> '{key}')"
    return f"json_extract(args, '$.{key}')"


def ensure_api_schema(engine: Engine) -> None:
    """The API's nonce table and the provenance indexes (CREATE ... IF NOT EXISTS)."""
    dialect = engine.dialect.name
    statements = [
        "CREATE TABLE IF NOT EXISTS gateway_auth_nonces ("
        " nonce VARCHAR(64) PRIMARY KEY, issued_at DOUBLE PRECISION NOT NULL,"
        " expires_at DOUBLE PRECISION NOT NULL, used_at DOUBLE PRECISION)",
    ]
    for key in LINK_KEYS:
        name = f"ix_events_arg_{key.lower()}"
        statements.append(f"CREATE INDEX IF NOT EXISTS {name} ON events ({arg_expr(dialect, key)})")
    with engine.begin() as conn:
        for sql in statements:
            conn.execute(text(sql))


def open_engine(database_url: str, run_migrations: bool = True) -> Engine:
    if run_migrations:
        try:
            migrate(database_url)
        except Exception as exc:  # the indexer may be migrating right now
            log.warning("migration at API start failed (%s); continuing", exc)
    # every request holds at most one connection; size the pool above the threadpool (40)
    engine = make_engine(database_url, pool_size=48, max_overflow=32, pool_timeout=10)
    try:
        ensure_api_schema(engine)
    except Exception as exc:  # no events table yet: /health says so
        log.warning("API schema extras not created: %s", exc)
    return engine


def session_for(engine: Engine) -> Iterator[Session]:
    with Session(engine) as session:
        yield session
