"""SQL side of the indexer: engine, migrations, the writer lock, batch writes, rollback, dump.

Every batch is ONE database transaction holding the blocks, the events, the projection changes,
the undo pre-images and the checkpoint (``indexer_state.last_block`` / ``last_block_hash``): a
crash at any point leaves either all of it or none of it, so a restart resumes exactly after the
last committed block (no gap, and ``(block_number, log_index)`` / ``(block_hash, log_index)`` keys
make a duplicate impossible anyway).

Reorg rollback to a common ancestor ``A`` (same transaction again):

- log tables, ``events`` and ``blocks``: delete the rows above ``A``;
- state tables: restore the pre-images recorded in ``indexer_undo`` for blocks above ``A``, newest
  first (one undo row per block and table: the keys first changed in that block and their rows
  before the block, NULL for rows the block created). Pre-images are recorded only for blocks within ``undo_window`` blocks of the head (the
  only ones a reorg can reach in practice; a backfill far behind the head writes none);
- when the undo log does not reach down to ``A`` (a reorg deeper than the window), the state
  tables are rebuilt by replaying the kept events from ``events``: slower, same result, because
  projections are pure functions of the events.

SQLite runs in WAL mode (readers never block the writer); on PostgreSQL one writer at a time is
enforced with ``pg_advisory_lock`` held on a dedicated connection for the indexer's lifetime, and
on SQLite with an ``flock`` on ``<db>.indexer.lock``.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from operator import itemgetter
from pathlib import Path
from typing import Any, Optional

from sqlalchemy import Boolean, Connection, Engine, Index, Integer, create_engine, event, select, tuple_
from sqlalchemy.engine import make_url
from sqlalchemy.schema import CreateIndex, DropIndex
from sqlmodel import SQLModel

from gateway import models
from gateway.indexer import native, projections
from gateway.indexer.decode import DecodedEvent, canonical_json, loads
from gateway.indexer.rows import EVENT_COLUMNS, EventRows, event_rows

GATEWAY_DIR = Path(__file__).resolve().parent.parent
ALEMBIC_INI = GATEWAY_DIR / "alembic.ini"
MIGRATIONS_DIR = GATEWAY_DIR / "migrations"

#: host parameters one SQLite statement may hold (SQLITE_MAX_VARIABLE_NUMBER: 32766 since 3.32, 999 before)
SQLITE_MAX_VARIABLES = 32766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999

#: pg_advisory_lock key of the indexer writer: the first 8 bytes of sha256("dataledger-indexer").
ADVISORY_LOCK_KEY = int.from_bytes(hashlib.sha256(b"dataledger-indexer").digest()[:8], "big", signed=True)

TABLES = {t.name: t for t in SQLModel.metadata.sorted_tables}

BLOCK_COLUMNS = ("number", "hash", "parent_hash", "timestamp")

#: table -> its column names (model order) and a C-level row dict -> tuple getter
COLUMNS: dict[str, tuple[str, ...]] = {name: tuple(c.name for c in t.columns) for name, t in TABLES.items()}


def _tuple_getter(columns: tuple[str, ...]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    if len(columns) == 1:
        one = itemgetter(columns[0])
        return lambda row: (one(row),)
    return itemgetter(*columns)


#: table -> boolean columns (SQLite hands them back as 0/1 at the driver level) / integer columns
BOOL_COLUMNS: dict[str, tuple[str, ...]] = {
    name: tuple(c.name for c in t.columns if isinstance(c.type, Boolean)) for name, t in TABLES.items()}
INT_COLUMNS: dict[str, frozenset[str]] = {
    name: frozenset(c.name for c in t.columns if isinstance(c.type, Integer)) for name, t in TABLES.items()}

ROW_TUPLE: dict[str, Callable[[dict[str, Any]], tuple[Any, ...]]] = {
    name: _tuple_getter(cols) for name, cols in COLUMNS.items()}


class IndexerLockError(RuntimeError):
    """Another indexer is writing this database."""


class StateMismatch(RuntimeError):
    """The database was built for another chain or another set of contracts."""


# ---------------------------------------------------------------- engine and migrations


def make_engine(database_url: str, **kwargs: Any) -> Engine:
    """SQLAlchemy engine; SQLite gets WAL + NORMAL sync + a busy timeout (readers never block)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {"timeout": 30})
        engine = create_engine(database_url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.execute("PRAGMA cache_size=-65536")  # 64 MiB page cache
            cur.execute("PRAGMA temp_store=MEMORY")
            # checkpoint the WAL every 16,000 pages (125 MiB of 8 KiB pages) instead of 1,000: a
            # backfill rewrites the same index pages in every transaction, and each checkpoint
            # copied them again (commits took 1.1 s of a 7.6 s backfill, 0.7 s with this); the WAL
            # file is cut back to 64 MiB after a checkpoint. (Checkpointing on a thread of its own
            # after each commit instead was tried on 2026-12-03 and not kept: docs/indexer.md)
            cur.execute("PRAGMA wal_autocheckpoint=16000")
            cur.execute("PRAGMA journal_size_limit=67108864")
            cur.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(database_url, **kwargs)


def alembic_config(database_url: str) -> Any:
    from alembic.config import Config

    cfg = Config(str(ALEMBIC_INI)) if ALEMBIC_INI.exists() else Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    return cfg


def migrate(database_url: str) -> None:
    """``alembic upgrade head`` on ``database_url`` (idempotent)."""
    from alembic import command

    command.upgrade(alembic_config(database_url), "head")


# ---------------------------------------------------------------- deferred indexes

#: The non-unique secondary indexes of the tables a backfill writes (``events`` and the projection
#: tables), as the models (and the migrations) define them. A first backfill drops them and builds
#: them once at its end (:meth:`gateway.indexer.sync.Indexer._catch_up_pipelined`): one sorted
#: build per index instead of an insert per row into a random place of it. Measured on 201,025
#: events: ``ix_events_tx_hash`` costs SQLite 1.2-1.3 s of row-by-row inserts and 0.18 s to build,
#: PostgreSQL 0.55 s and 0.26 s. Primary keys and unique constraints are never dropped.
DEFERRABLE_INDEXES: tuple[Index, ...] = tuple(
    index for table_name in ("events", *projections.PROJECTION_TABLES)
    for index in sorted(TABLES[table_name].indexes, key=lambda ix: str(ix.name)) if not index.unique)


def present_index_names(conn: Connection) -> set[str]:
    """Names of the indexes that exist in the database (current schema on PostgreSQL)."""
    if conn.dialect.name == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'index'"
    else:
        sql = "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
    return {str(name) for (name,) in conn.exec_driver_sql(sql)}


def missing_indexes(conn: Connection) -> list[Index]:
    """The :data:`DEFERRABLE_INDEXES` the database does not have (deferred by a backfill that has
    not finished, or dropped by hand)."""
    present = present_index_names(conn)
    return [index for index in DEFERRABLE_INDEXES if index.name not in present]


def drop_indexes(conn: Connection, indexes: Sequence[Index]) -> None:
    for index in indexes:
        conn.execute(DropIndex(index, if_exists=True))


def create_indexes(engine: Engine, indexes: Sequence[Index]) -> None:
    """Build ``indexes`` (each exactly as the models define it). On PostgreSQL the tables' indexes
    are built in parallel, one connection and transaction per table (a build takes a SHARE lock:
    readers go on, only writers wait, and the indexer is the only writer); on SQLite one after
    the other (one writer per database), with the sort spilling to a file."""
    by_table: dict[str, list[Index]] = {}
    for index in indexes:
        assert index.table is not None
        by_table.setdefault(index.table.name, []).append(index)

    def build(group: list[Index]) -> None:
        with engine.begin() as conn:
            for index in group:
                conn.execute(CreateIndex(index, if_not_exists=True))

    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            # the build's sort spills to a temporary file, and holds at most 16 MiB in memory
            # (the sorter's share follows cache_size): with the connection's temp_store=MEMORY
            # the spill stayed in memory, and the peak RSS of a 10^6-event backfill went from
            # 228 to 319 MiB. The connection is then dropped from the pool (its pragmas changed).
            conn.exec_driver_sql("PRAGMA temp_store=FILE")
            conn.exec_driver_sql("PRAGMA cache_size=-16384")
            try:
                for index in indexes:
                    conn.execute(CreateIndex(index, if_not_exists=True))
                conn.commit()
            finally:
                conn.invalidate()
        return
    if len(by_table) < 2:
        build(list(indexes))
        return
    # biggest table first, so the other builds run beside it
    groups = sorted(by_table.values(), key=lambda g: 0 if g[0].table is not None and g[0].table.name == "events" else 1)
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="indexer-index") as pool:
        for future in [pool.submit(build, group) for group in groups]:
            future.result()


# ---------------------------------------------------------------- writer lock


@contextlib.contextmanager
def writer_lock(engine: Engine, wait: bool = True, on_wait: Any = None,
                poll: float = 0.25) -> Iterator[None]:
    """Hold the single-writer lock of this database for the duration of the block.

    ``wait=False`` raises :class:`IndexerLockError` at once when another indexer holds it;
    ``on_wait(message)`` is called once when waiting starts.
    """
    if engine.dialect.name == "postgresql":
        # a dedicated keepalive session, the writer's row and a heartbeat: gateway.indexer.leader
        from gateway.indexer.leader import Leadership

        with Leadership(engine, wait=wait, on_wait=on_wait):
            yield
        return
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    import fcntl

    path = Path(database + ".indexer.lock")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                message = f"another indexer is writing this database (lock file {path} is held)"
                if not wait:
                    raise IndexerLockError(message + "; exiting") from None
                if on_wait is not None and not told:
                    on_wait(message + "; waiting for it to stop")
                    told = True
                time.sleep(poll)
        yield
    finally:
        os.close(fd)  # releases the flock


# ---------------------------------------------------------------- the batch row view


def fetch_rows(conn: Connection, table_name: str, keys: Sequence[Any]) -> dict[Any, dict[str, Any]]:
    """The stored rows of state table ``table_name`` with these primary keys (key tuple -> row;
    keys with no row are absent). Single-column keys: driver-level SQL (PostgreSQL: one
    ``= ANY(array)`` query; SQLite: ``IN`` lists of up to 500 values); composite keys: Core."""
    found: dict[Any, dict[str, Any]] = {}
    pk_names = projections.STATE_TABLES[table_name]
    if len(pk_names) > 1:  # composite keys (voucher_users)
        table = TABLES[table_name]
        pk = [table.c[c] for c in pk_names]
        for i in range(0, len(keys), 500):
            cond = tuple_(*pk).in_(list(keys[i : i + 500]))
            for mapping in conn.execute(select(table).where(cond)).mappings():
                d = dict(mapping)
                found[tuple(d[c] for c in pk_names)] = d
        return found
    columns = COLUMNS[table_name]
    pk_name = pk_names[0]
    pk_at = columns.index(pk_name)
    bools = BOOL_COLUMNS[table_name]
    cols = ", ".join(_quote(c) for c in columns)
    values = [k[0] for k in keys]
    chunks: list[tuple[str, Any]]
    if conn.dialect.name == "postgresql":
        if pk_name in INT_COLUMNS[table_name]:  # an array literal: psycopg dumps a list in Python
            chunks = [(f"SELECT {cols} FROM {_quote(table_name)} WHERE {_quote(pk_name)} = ANY(%s::bigint[])",
                       ("{" + ",".join(str(int(v)) for v in values) + "}",))]
        else:
            chunks = [(f"SELECT {cols} FROM {_quote(table_name)} WHERE {_quote(pk_name)} = ANY(%s::text[])",
                       (values,))]
    else:
        chunks = []
        for i in range(0, len(values), 500):
            chunk = values[i : i + 500]
            chunks.append((f"SELECT {cols} FROM {_quote(table_name)} WHERE {_quote(pk_name)} "
                           f"IN ({', '.join('?' * len(chunk))})", tuple(chunk)))
    for sql, params in chunks:
        for row in conn.exec_driver_sql(sql, params):
            d = dict(zip(columns, row))
            for c in bools:
                if d[c] is not None:
                    d[c] = bool(d[c])
            found[(row[pk_at],)] = d
    return found


def fetch_wanted(conn: Connection, wanted: dict[str, set[Any]]) -> dict[str, dict[Any, dict[str, Any]]]:
    """:func:`fetch_rows` for every table of ``wanted`` (table -> keys)."""
    return {table_name: fetch_rows(conn, table_name, list(keys)) for table_name, keys in wanted.items() if keys}


#: runs a function against the batch's connection (directly, or on the writer's database thread)
Runner = Callable[[Callable[[Connection], Any]], Any]


class BatchRows:
    """In-memory view of the state rows a batch touches (implements projections.Rows).

    Loads declared rows in bulk, lazily loads any other, records per block the pre-image of each
    row at its first change in that block (for the undo log), and collects appended log rows.
    Rows are read through ``run`` (a function applied to the batch's connection), so the
    backfill's writer can read through its database thread, in order with its writes.
    """

    def __init__(self, conn: Optional[Connection], record_undo: bool, run: Optional[Runner] = None) -> None:
        if run is None:
            assert conn is not None
            bound = conn

            def run(fn: Callable[[Connection], Any]) -> Any:
                return fn(bound)

        self.run: Runner = run
        self.record_undo = record_undo
        self.rows: dict[str, dict[Any, Optional[dict[str, Any]]]] = {t: {} for t in projections.STATE_TABLES}
        self.in_db: dict[str, set[Any]] = {t: set() for t in projections.STATE_TABLES}
        self.dirty: dict[str, set[Any]] = {t: set() for t in projections.STATE_TABLES}
        self.appended: dict[str, list[dict[str, Any]]] = {t: [] for t in projections.LOG_TABLES}
        #: (block, table) -> {key: pre-image or None} in the order of first change: one undo row
        #: per block and table, holding each row as it was before the block changed it
        self.undo: dict[tuple[int, str], dict[Any, Optional[dict[str, Any]]]] = {}
        self.block = 0

    def preload(self, wanted: dict[str, set[Any]]) -> None:
        missing = {t: {k for k in keys if k not in self.rows[t]} for t, keys in wanted.items()}
        self.seed_loaded(missing, self.run(lambda conn: fetch_wanted(conn, missing)))

    def seed_loaded(self, wanted: dict[str, set[Any]], found: dict[str, dict[Any, dict[str, Any]]]) -> None:
        """Take the stored rows of ``wanted`` as :func:`fetch_wanted` found them (absent: no row)."""
        for table_name, keys in wanted.items():
            cache = self.rows[table_name]
            in_db = self.in_db[table_name]
            rows = found.get(table_name, {})
            for k in keys:
                row = rows.get(k)
                cache[k] = row
                if row is not None:
                    in_db.add(k)

    def seed_written(self, written: dict[str, dict[Any, dict[str, Any]]]) -> None:
        """Rows a write not yet reflected in what was loaded leaves stored (the previous chunk's
        final rows): they override the loaded ones."""
        for table_name, rows in written.items():
            self.rows[table_name].update(rows)
            self.in_db[table_name].update(rows)

    def final_rows(self) -> dict[str, dict[Any, dict[str, Any]]]:
        """The rows this batch leaves stored, per state table (what :meth:`seed_written` takes)."""
        out: dict[str, dict[Any, dict[str, Any]]] = {}
        for table_name, dirty in self.dirty.items():
            if dirty:
                cache = self.rows[table_name]
                out[table_name] = {k: row for k in dirty if (row := cache[k]) is not None}
        return out

    def _load(self, table_name: str, keys: Sequence[Any]) -> None:
        self.seed_loaded({table_name: set(keys)}, {table_name: self.run(
            lambda conn: fetch_rows(conn, table_name, list(keys)))})

    # projections.Rows
    def get(self, table: str, key: Any) -> Optional[dict[str, Any]]:
        cache = self.rows[table]
        if key not in cache:
            self._load(table, [key])
        return cache[key]

    def put(self, table: str, key: Any, row: dict[str, Any]) -> None:
        cache = self.rows[table]
        if key not in cache:
            self._load(table, [key])
        if self.record_undo:
            group = self.undo.get((self.block, table))
            if group is None:
                group = self.undo[(self.block, table)] = {}
            if key not in group:  # the first change in this block: the pre-image
                group[key] = cache[key]
        cache[key] = row
        self.dirty[table].add(key)

    def append(self, table: str, row: dict[str, Any]) -> None:
        self.appended[table].append(row)


# ---------------------------------------------------------------- the store


@dataclass
class State:
    chain_id: int
    last_block: int
    last_block_hash: str
    head_block: int = 0
    reorgs: int = 0
    events_total: int = 0
    undo_from: Optional[int] = None
    contracts: str = "{}"


@dataclass
class ProjectedWrites:
    """The statements' rows of one projected batch: deletes first (state rows being replaced),
    then inserts (their new rows, appended log rows, undo pre-images). An insert's rows are
    tuples in the order of its columns, or the projections' row dicts (:func:`_tuples`)."""
    deletes: list[tuple[str, tuple[str, ...], list[Any]]] = field(default_factory=list)
    inserts: list[tuple[str, tuple[str, ...], list[Any]]] = field(default_factory=list)


@dataclass
class BatchResult:
    events: int = 0
    projected: int = 0
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)


def _quote(name: str) -> str:
    return f'"{name}"'


def _tuples(rows: list[Any], columns: tuple[str, ...]) -> list[tuple[Any, ...]]:
    """An insert's rows as tuples in the order of ``columns`` (row dicts are turned into them)."""
    if rows and isinstance(rows[0], dict):
        return list(map(_tuple_getter(columns), rows))  # (map: no Python-level step per row)
    return rows


#: the kinds of the ``events`` columns in COPY text, for native.sqlite_runner: ``i`` integer, ``t`` text
EVENT_KINDS = b"iittitttt"


def _sqlite_error(code: int, message: str) -> sqlite3.Error:
    """The exception Python's sqlite3 raises for SQLite's (extended) result ``code``."""
    primary = code & 0xFF
    cls: type[sqlite3.Error]
    if primary in (19, 20):  # SQLITE_CONSTRAINT, SQLITE_MISMATCH
        cls = sqlite3.IntegrityError
    elif primary == 18:  # SQLITE_TOOBIG
        cls = sqlite3.DataError
    elif primary in (11, 26):  # SQLITE_CORRUPT, SQLITE_NOTADB
        cls = sqlite3.DatabaseError
    else:
        cls = sqlite3.OperationalError
    error = cls(message)
    error.sqlite_errorcode = code
    return error


#: libpq's PQTRANS_IDLE (psycopg.pq.TransactionStatus.IDLE): no transaction open
_PG_IDLE = 0


def _param_text(value: Any) -> Optional[bytes]:
    """A key value as a libpq text parameter; None for another type or a string holding a NUL."""
    if isinstance(value, bool):
        return b"t" if value else b"f"
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, str) and "\0" not in value:
        return value.encode()
    return None


def _array_literal(values: list[Any], ints: bool) -> Optional[bytes]:
    """``values`` as a PostgreSQL array literal (``{1,2}``, ``{"a","b"}``), the text parameter of
    ``= ANY($1::bigint[])`` / ``text[]``; None for a value of another type or a string with a NUL."""
    if ints:
        if not all(type(v) is int for v in values):
            return None
        return ("{" + ",".join(map(str, values)) + "}").encode()
    if not all(type(v) is str and "\0" not in v for v in values):
        return None
    quoted = ['"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values]
    return ("{" + ",".join(quoted) + "}").encode()


class Store:
    def __init__(self, engine: Engine, compiled: bool = True) -> None:
        """``compiled``: project DataVoucher's ``VoucherIssued`` and ``Transfer`` in the compiled
        module when it was built (:meth:`apply_events`); False: every event in Python."""
        self.engine = engine
        self.compiled = compiled
        self.dialect = engine.dialect.name
        self.ph = "?" if self.dialect == "sqlite" else "%s"
        self._sql_cache: dict[tuple[str, tuple[str, ...]], str] = {}
        self._values_cache: dict[tuple[str, tuple[str, ...], int], str] = {}

    # -- state
    def load_state(self, conn: Connection) -> Optional[State]:
        row = conn.execute(select(TABLES["indexer_state"]).where(TABLES["indexer_state"].c.id == 1)).mappings().first()
        if row is None:
            return None
        return State(chain_id=row["chain_id"], last_block=row["last_block"], last_block_hash=row["last_block_hash"],
                     head_block=row["head_block"], reorgs=row["reorgs"], events_total=row["events_total"],
                     undo_from=row["undo_from"], contracts=row["contracts"])

    def init_state(self, conn: Connection, state: State) -> None:
        conn.execute(TABLES["indexer_state"].insert().values(
            id=1, chain_id=state.chain_id, last_block=state.last_block, last_block_hash=state.last_block_hash,
            head_block=state.head_block, reorgs=0, events_total=0, undo_from=None, contracts=state.contracts,
            updated_at=time.time()))

    def save_state(self, conn: Connection, state: State) -> None:
        conn.execute(TABLES["indexer_state"].update().where(TABLES["indexer_state"].c.id == 1).values(
            last_block=state.last_block, last_block_hash=state.last_block_hash, head_block=state.head_block,
            reorgs=state.reorgs, events_total=state.events_total, undo_from=state.undo_from,
            updated_at=time.time()))

    # -- raw SQL helpers (executemany with tuples: far cheaper than Core dict binds)
    def _insert_sql(self, table: str, columns: tuple[str, ...]) -> str:
        key = (table, columns)
        sql = self._sql_cache.get(key)
        if sql is None:
            sql = (f"INSERT INTO {_quote(table)} ({', '.join(_quote(c) for c in columns)}) "
                   f"VALUES ({', '.join([self.ph] * len(columns))})")
            self._sql_cache[key] = sql
        return sql

    def insert_many(self, conn: Connection, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        if self.dialect == "postgresql" and len(rows) > 200:
            self._copy(conn, table, columns, rows)
            return
        if self.dialect == "sqlite" and len(rows) > 1:
            self._insert_values(conn, table, columns, rows)
            return
        conn.exec_driver_sql(self._insert_sql(table, columns), rows)

    def _insert_values(self, conn: Connection, table: str, columns: tuple[str, ...],
                       rows: list[tuple[Any, ...]]) -> None:
        """SQLite: multi-row ``INSERT ... VALUES (...), (...)`` statements of up to 256 rows.

        Python's sqlite3 releases the GIL around every step of a statement, so ``executemany``
        gave it up and had to win it back once per row; while the fetch and decode threads ran,
        each win waited up to a switch interval (201,025 event rows: 1.5 s alone, 400 s beside one
        busy Python thread). One step per 256 rows removes that. The sizes are 256 and the powers
        of two below it, so a table needs at most nine statements (all in the statement cache)."""
        per = max(1, min(256, SQLITE_MAX_VARIABLES // len(columns)))
        chain = itertools.chain.from_iterable
        i, n = 0, len(rows)
        while i < n:
            size = per if n - i >= per else 1 << ((n - i).bit_length() - 1)
            conn.exec_driver_sql(self._values_sql(table, columns, size), tuple(chain(rows[i : i + size])))
            i += size

    def _values_sql(self, table: str, columns: tuple[str, ...], size: int) -> str:
        key = (table, columns, size)
        sql = self._values_cache.get(key)
        if sql is None:
            one = f"({', '.join(['?'] * len(columns))})"
            sql = (f"INSERT INTO {_quote(table)} ({', '.join(_quote(c) for c in columns)}) "
                   f"VALUES {', '.join([one] * size)}")
            self._values_cache[key] = sql
        return sql

    def event_rows(self, events: Sequence[DecodedEvent]) -> EventRows:
        """The ``events`` table rows of ``events``, ready for this database (rows.event_rows)."""
        return event_rows(events, self.dialect)

    def insert_event_rows(self, conn: Connection, rows: EventRows, events: Sequence[DecodedEvent] = ()) -> None:
        """``rows`` of ``events``: COPY text goes to PostgreSQL by COPY; SQLite takes the rows as
        tuples, made again from ``events`` when ``rows`` is COPY text (made for the compiled path)."""
        if rows.copy_text is not None:
            if self.dialect != "postgresql":
                rows = event_rows(events, self.dialect)
                if rows.count != len(events):
                    raise ValueError("no events for COPY text rows")
            else:
                self._copy(conn, "events", EVENT_COLUMNS, text=rows.copy_text)
                return
        self.insert_many(conn, "events", EVENT_COLUMNS, rows.tuples)

    def _copy(self, conn: Connection, table: str, columns: tuple[str, ...],
              rows: Sequence[tuple[Any, ...]] = (), text: Optional[bytes] = None) -> None:
        """PostgreSQL ``COPY ... FROM STDIN`` of ``rows`` or of ``text`` (already in COPY's text
        format). ``rows`` are formatted in one compiled call when they can be (native.copy_rows:
        the bytes psycopg's ``write_row`` makes, without its Python call per row), else by psycopg."""
        if text is None and rows:
            text = native.copy_rows(rows if isinstance(rows, list) else list(rows))
            if text is not None:
                rows = ()
        dbapi = conn.connection.dbapi_connection
        with dbapi.cursor() as cur:  # type: ignore[union-attr]
            cols = ", ".join(_quote(c) for c in columns)
            with cur.copy(f"COPY {_quote(table)} ({cols}) FROM STDIN") as copy:
                if text is not None:
                    copy.write(text)
                write_row = copy.write_row
                for row in rows:
                    write_row(row)

    def _delete_keys(self, conn: Connection, table: str, pk: tuple[str, ...], keys: list[Any]) -> None:
        if not keys:
            return
        if len(pk) == 1:  # one set-based statement (PostgreSQL) or IN lists of 500 (SQLite)
            values = [k[0] for k in keys]
            column = _quote(pk[0])
            if self.dialect == "postgresql":
                array_type = "bigint" if pk[0] in INT_COLUMNS[table] else "text"
                conn.exec_driver_sql(f"DELETE FROM {_quote(table)} WHERE {column} = ANY(%s::{array_type}[])",
                                     (values,))
            else:
                for i in range(0, len(values), 500):
                    chunk = values[i : i + 500]
                    conn.exec_driver_sql(f"DELETE FROM {_quote(table)} WHERE {column} IN "
                                         f"({', '.join('?' * len(chunk))})", tuple(chunk))
            return
        where = " AND ".join(f"{_quote(c)} = {self.ph}" for c in pk)
        conn.exec_driver_sql(f"DELETE FROM {_quote(table)} WHERE {where}", [tuple(k) for k in keys])

    # -- batch
    def write_batch(self, conn: Connection, blocks: list[tuple[int, str, str, int]], events: list[DecodedEvent],
                    state: State, record_undo: bool, event_rows: Optional[EventRows] = None) -> BatchResult:
        """Blocks, events and projections of one batch; the caller saves the state and commits.
        ``event_rows``: :meth:`event_rows` of ``events``, when already built. The projections run
        first, in memory (they read state rows only), then :meth:`write_chunk` writes it all."""
        t0 = time.perf_counter()
        result = BatchResult(events=len(events))
        rows = BatchRows(conn, record_undo)
        rows.preload(projections.reads_of(events, self.compiled))
        result.projected = self.apply_events(rows, events, self.compiled)
        writes = self.projected_writes(rows)
        t1 = time.perf_counter()
        self.write_chunk(conn, blocks, events, event_rows, writes, None)
        t2 = time.perf_counter()
        result.timings = {"projections": t1 - t0, "writes": t2 - t1}
        result.seconds = t2 - t0
        return result

    def write_chain_rows(self, conn: Connection, blocks: list[tuple[int, str, str, int]],
                         events: Sequence[DecodedEvent], event_rows: Optional[EventRows] = None) -> None:
        """The ``blocks`` and ``events`` rows of a batch (``event_rows``: when already built)."""
        if self.dialect == "postgresql":
            # the commit does not wait for the WAL flush. A PostgreSQL crash can lose the last
            # batches, but only whole (rows + checkpoint together): the indexer refetches them.
            # Once per transaction (a backfill writes many chunks in one: a round trip each cost
            # the database thread, the backfill's bottleneck, ~0.3 s per 2x10^5 events)
            self._synchronous_commit_off(conn)
        self.insert_many(conn, "blocks", BLOCK_COLUMNS, blocks)
        if event_rows is None or event_rows.count != len(events):
            event_rows = self.event_rows(events)
        self.insert_event_rows(conn, event_rows, events)

    def write_chunk(self, conn: Connection, blocks: list[tuple[int, str, str, int]], events: Sequence[DecodedEvent],
                    event_rows: Optional[EventRows], writes: ProjectedWrites, prune_through: Optional[int]) -> None:
        """A projected chunk's statements (the pipelined backfill's database job): its blocks and
        events, its projection writes and, when ``prune_through`` is set, the undo pruning.

        With the compiled module (and ``compiled``) they run in one release of the interpreter
        lock, in the driver's transaction: on PostgreSQL through libpq on psycopg's connection
        (:meth:`_chunk_statements`, native.pg_runner: the same rows, by ``COPY``, and the same
        deletes), on SQLite on the ``sqlite3`` handle of Python's connection (:meth:`_sqlite_chunk`,
        native.sqlite_runner). Otherwise, or when a value is one the compiled code does not take,
        through the driver as :meth:`write_chain_rows` and :meth:`write_projected` run them."""
        if self.dialect == "postgresql" and self.compiled:
            run = native.pg_runner()
            if run is not None:
                statements = self._chunk_statements(conn, blocks, events, event_rows, writes, prune_through)
                # through psycopg, once per transaction: psycopg opens the transaction (its
                # BEGIN) before it, so the statements below run in it, not one by one
                self._synchronous_commit_off(conn)
                dbapi = conn.connection.dbapi_connection
                if statements is not None and dbapi is not None and (
                        dbapi.autocommit or dbapi.info.transaction_status != _PG_IDLE):
                    self._run_statements(conn, run, statements)
                    return
        if self.dialect == "sqlite" and self.compiled and self._sqlite_chunk(conn, blocks, events, event_rows, writes,
                                                                             prune_through):
            return
        self.write_chain_rows(conn, blocks, events, event_rows)
        self.write_projected(conn, writes)
        if prune_through is not None:
            self.delete_undo_through(conn, prune_through)

    def _sqlite_chunk(self, conn: Connection, blocks: list[tuple[int, str, str, int]], events: Sequence[DecodedEvent],
                      event_rows: Optional[EventRows], writes: ProjectedWrites, prune_through: Optional[int]) -> bool:
        """:meth:`write_chunk` on SQLite through native.sqlite_runner, on the connection's own
        ``sqlite3`` handle, in its transaction (begun as sqlite3 begins one before its first
        ``INSERT``, when none is open yet): the same rows and deletes as the sqlite3 path, one
        statement run per row. False, with nothing written, when the runner or the handle is not
        available, the connection is in autocommit mode, or a value is one sqlite3 would adapt or
        refuse."""
        run = native.sqlite_runner()
        if run is None:
            return False
        dbapi = conn.connection.dbapi_connection
        if dbapi.isolation_level is None:  # type: ignore[union-attr]  # autocommit: sqlite3's own way
            return False
        handle = conn.info.get("sqlite3_handle")
        if handle is None:
            handle = conn.info["sqlite3_handle"] = native.sqlite_handle(dbapi, self.engine.url.database or "") or 0
        if not handle:
            return False
        statements: list[tuple[Any, ...]] = []

        def add(sql: str, rows: Sequence[Any], columns: Optional[tuple[str, ...]] = None) -> bool:
            """The statement run once per row of ``rows``; False if a value cannot go this way."""
            if rows:
                data = native.sqlite_rows(rows if isinstance(rows, list) else list(rows), columns)
                if data is None:
                    return False
                statements.append((2, sql.encode(), data))
            return True

        if not add(self._insert_sql("blocks", BLOCK_COLUMNS), blocks):
            return False
        if event_rows is None or event_rows.count != len(events):
            event_rows = self.event_rows(events)
        if event_rows.copy_text is not None:
            statements.append((1, self._insert_sql("events", EVENT_COLUMNS).encode(), event_rows.copy_text,
                               EVENT_KINDS))
        elif not add(self._insert_sql("events", EVENT_COLUMNS), event_rows.tuples):
            return False
        for table, pk, keys in writes.deletes:
            where = " AND ".join(f"{_quote(c)} = ?" for c in pk)
            if not add(f"DELETE FROM {_quote(table)} WHERE {where}", [tuple(k) for k in keys]):
                return False
        for table, columns, rows in writes.inserts:
            if not add(self._insert_sql(table, columns), rows, columns):
                return False
        if prune_through is not None and not add("DELETE FROM indexer_undo WHERE block_number <= ?",
                                                 [(prune_through,)]):
            return False
        if not dbapi.in_transaction:  # type: ignore[union-attr]
            # what sqlite3 issues itself before the first INSERT of a transaction
            conn.exec_driver_sql(f"BEGIN {dbapi.isolation_level}".rstrip())  # type: ignore[union-attr]
        try:
            failure = run(handle, statements)
        except ValueError:  # refused before any ran (a value out of range, ...): sqlite3's way
            return False
        if failure is None:
            return True
        index, code, message = failure
        error = _sqlite_error(code, message)
        from sqlalchemy.exc import DBAPIError

        raise DBAPIError.instance(statements[index][1].decode(), None, error, sqlite3.Error, dialect=conn.dialect)

    def _copy_statement(self, table: str, columns: tuple[str, ...]) -> bytes:
        cols = ", ".join(_quote(c) for c in columns)
        return f"COPY {_quote(table)} ({cols}) FROM STDIN".encode()

    def _chunk_statements(self, conn: Connection, blocks: list[tuple[int, str, str, int]],
                          events: Sequence[DecodedEvent], event_rows: Optional[EventRows],
                          writes: ProjectedWrites, prune_through: Optional[int]) -> Optional[list[tuple[Any, ...]]]:
        """:meth:`write_chunk`'s statements for native.pg_runner, in the order of the psycopg path;
        None when a value is not None, bool, int or str, or a string holds a NUL."""
        statements: list[tuple[Any, ...]] = []

        def copy(table: str, columns: tuple[str, ...], rows: list[Any]) -> bool:
            if rows:
                text = native.copy_rows(rows, columns)
                if text is None:
                    return False
                statements.append((1, self._copy_statement(table, columns), text))
            return True

        if not copy("blocks", BLOCK_COLUMNS, blocks):
            return None
        if event_rows is None or event_rows.count != len(events):
            event_rows = self.event_rows(events)
        if event_rows.copy_text is not None:
            statements.append((1, self._copy_statement("events", EVENT_COLUMNS), event_rows.copy_text))
        elif not copy("events", EVENT_COLUMNS, event_rows.tuples):
            return None
        for table, pk, keys in writes.deletes:
            if not keys:
                continue
            if len(pk) == 1:
                ints = pk[0] in INT_COLUMNS[table]
                literal = _array_literal([k[0] for k in keys], ints)
                if literal is None:
                    return None
                statements.append((2, f"DELETE FROM {_quote(table)} WHERE {_quote(pk[0])} = "
                                      f"ANY($1::{'bigint' if ints else 'text'}[])".encode(), [literal]))
                continue
            sql = " AND ".join(f"{_quote(c)} = ${i}" for i, c in enumerate(pk, 1))
            sql_bytes = f"DELETE FROM {_quote(table)} WHERE {sql}".encode()
            for key in keys:
                params = [_param_text(v) for v in key]
                if any(p is None for p in params):
                    return None
                statements.append((2, sql_bytes, params))
        for table, columns, rows in writes.inserts:
            if not copy(table, columns, rows):
                return None
        if prune_through is not None:
            statements.append((2, b"DELETE FROM indexer_undo WHERE block_number <= $1", [str(prune_through).encode()]))
        return statements

    @staticmethod
    def _run_statements(conn: Connection, run: Callable[[Any, list[tuple[Any, ...]]], Any],
                        statements: list[tuple[Any, ...]]) -> None:
        """Run :meth:`_chunk_statements` on ``conn``'s psycopg connection; a failed statement
        raises what SQLAlchemy raises for it (``DBAPIError`` of the psycopg error of its SQLSTATE)."""
        import psycopg
        from sqlalchemy.exc import DBAPIError

        failure = run(conn.connection.dbapi_connection, statements)
        if failure is None:
            return
        index, sqlstate, message = failure
        error_class: type[psycopg.Error] = psycopg.OperationalError
        if sqlstate:
            with contextlib.suppress(KeyError):
                error_class = psycopg.errors.lookup(sqlstate)
        error = error_class(message)
        raise DBAPIError.instance(statements[index][1].decode(), None, error, psycopg.Error,
                                  dialect=conn.dialect)

    @staticmethod
    def _synchronous_commit_off(conn: Connection) -> None:
        """PostgreSQL: ``SET LOCAL synchronous_commit = off``, once per transaction."""
        transaction = conn.get_transaction()
        if conn.info.get("synchronous_commit_off") is not transaction:
            conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
            conn.info["synchronous_commit_off"] = transaction

    def project(self, conn: Connection, events: Sequence[DecodedEvent], record_undo: bool) -> int:
        rows = BatchRows(conn, record_undo)
        rows.preload(projections.reads_of(events, self.compiled))
        projected = self.apply_events(rows, events, self.compiled)
        self.write_projected(conn, self.projected_writes(rows))
        return projected

    @staticmethod
    def apply_events(rows: BatchRows, events: Sequence[DecodedEvent], compiled: bool = True) -> int:
        """Run the projections over ``events`` into ``rows`` (no write); the number projected.

        DataVoucher's ``VoucherIssued`` and ``Transfer`` (nearly every event of a busy chain)
        are projected by compiled code (native.voucher_projector) when the module is here and
        ``compiled``; it leaves to the handlers below every event it does not project exactly
        as they would (another event, unusual arguments, a voucher row not loaded yet)."""
        projected = 0
        handler_of = projections.HANDLERS.get
        fast = native.voucher_projector() if compiled else None
        if fast is not None:
            events = events if isinstance(events, list) else list(events)
            vouchers, dirty, transfers = rows.rows["vouchers"], rows.dirty["vouchers"], rows.appended["voucher_transfers"]
        n = len(events)
        i = 0
        while i < n:
            if fast is not None:
                i, done = fast(events, i, vouchers, rows.undo, dirty, transfers, rows.record_undo)
                projected += done
                if i == n:
                    break
            ev = events[i]
            i += 1
            handler = handler_of((ev.contract, ev.name))
            if handler is None:
                continue
            rows.block = ev.block_number
            try:  # (projections.apply, inline: once per event)
                handler.apply(ev, rows)
            except (KeyError, TypeError, ValueError):
                continue
            projected += 1
        return projected

    @staticmethod
    def projected_writes(rows: BatchRows) -> ProjectedWrites:
        """What ``rows`` changed, as the statements' rows: keys to delete, rows to insert, undo rows."""
        writes = ProjectedWrites()
        for table_name, pk in projections.STATE_TABLES.items():
            dirty = rows.dirty[table_name]
            if not dirty:
                continue
            in_db = rows.in_db[table_name]
            if in_db:
                writes.deletes.append((table_name, pk, [k for k in dirty if k in in_db]))
            final = [r for r in map(rows.rows[table_name].__getitem__, dirty) if r is not None]
            # the row dicts themselves (never changed once put: a change puts a new dict, as
            # the undo log's pre-images need): the compiled writers read their values in the
            # order of the columns; write_projected makes tuples for the drivers
            writes.inserts.append((table_name, COLUMNS[table_name], final))
        for table_name, appended in rows.appended.items():
            if appended:
                writes.inserts.append((table_name, COLUMNS[table_name], appended))
        if rows.undo:
            writes.inserts.append(("indexer_undo", ("block_number", "table_name", "key", "row"), [
                (block, table_name, canonical_json([list(key) for key in group]), canonical_json(list(group.values())))
                for (block, table_name), group in rows.undo.items()]))
        return writes

    def write_projected(self, conn: Connection, writes: ProjectedWrites) -> None:
        for table_name, pk, keys in writes.deletes:
            self._delete_keys(conn, table_name, pk, keys)
        for table_name, columns, rows in writes.inserts:
            self.insert_many(conn, table_name, columns, _tuples(rows, columns))

    def delete_undo_through(self, conn: Connection, floor: int) -> None:
        """Forget the pre-images of blocks <= floor (beyond the reorg window; sync.undo_plan)."""
        conn.exec_driver_sql(f"DELETE FROM indexer_undo WHERE block_number <= {self.ph}", (floor,))

    # -- reorgs
    def stored_blocks_below(self, conn: Connection, below: int, limit: int) -> list[tuple[int, str]]:
        table = TABLES["blocks"]
        result = conn.execute(select(table.c.number, table.c.hash).where(table.c.number < below)
                              .order_by(table.c.number.desc()).limit(limit))
        return [(int(n), str(h)) for n, h in result]

    def lowest_stored_block(self, conn: Connection) -> list[tuple[int, str]]:
        table = TABLES["blocks"]
        result = conn.execute(select(table.c.number, table.c.hash).order_by(table.c.number).limit(1))
        return [(int(n), str(h)) for n, h in result]

    def rollback(self, conn: Connection, state: State, ancestor: int, ancestor_hash: str) -> str:
        """Remove everything above block ``ancestor``; returns "undo" or "replay" (method used)."""
        method = "undo" if state.undo_from is not None and ancestor + 1 >= state.undo_from else "replay"
        if method == "undo":
            undo = conn.exec_driver_sql(
                f"SELECT table_name, key, row FROM indexer_undo WHERE block_number > {self.ph} ORDER BY id DESC",
                (ancestor,)).all()
            for table_name, keys_json, rows_json in undo:  # newest group first
                pk = projections.STATE_TABLES[table_name]
                keys = [tuple(k) for k in loads(keys_json)]
                images = loads(rows_json)
                self._delete_keys(conn, table_name, pk, keys)
                as_tuple = ROW_TUPLE[table_name]
                restore = [as_tuple(r) for r in images if r is not None]
                if restore:
                    conn.exec_driver_sql(self._insert_sql(table_name, COLUMNS[table_name]), restore)
            conn.exec_driver_sql(f"DELETE FROM indexer_undo WHERE block_number > {self.ph}", (ancestor,))
            for table_name in projections.LOG_TABLES:
                conn.exec_driver_sql(f"DELETE FROM {_quote(table_name)} WHERE block_number > {self.ph}", (ancestor,))
        conn.exec_driver_sql(f"DELETE FROM events WHERE block_number > {self.ph}", (ancestor,))
        conn.exec_driver_sql(f"DELETE FROM blocks WHERE number > {self.ph}", (ancestor,))
        if method == "replay":
            self.rebuild_projections(conn)
            state.undo_from = None
        state.last_block = ancestor
        state.last_block_hash = ancestor_hash
        state.events_total = int(conn.exec_driver_sql("SELECT COUNT(*) FROM events").scalar() or 0)
        return method

    def rebuild_projections(self, conn: Connection, chunk: int = 20000) -> int:
        """Empty every projection table and replay all stored events into it (no undo recorded)."""
        for table_name in projections.PROJECTION_TABLES:
            conn.exec_driver_sql(f"DELETE FROM {_quote(table_name)}")
        conn.exec_driver_sql("DELETE FROM indexer_undo")
        total = 0
        last = (-1, -1)
        while True:
            rows = conn.exec_driver_sql(
                "SELECT e.block_number, e.log_index, e.block_hash, e.tx_hash, e.tx_index, e.address, e.contract, "
                "e.event, e.args, b.timestamp FROM events e JOIN blocks b ON b.number = e.block_number "
                f"WHERE e.block_number > {self.ph} OR (e.block_number = {self.ph} AND e.log_index > {self.ph}) "
                f"ORDER BY e.block_number, e.log_index LIMIT {int(chunk)}", (last[0], last[0], last[1])).all()
            if not rows:
                return total
            events = [DecodedEvent(block_number=r[0], log_index=r[1], block_hash=r[2], tx_hash=r[3], tx_index=r[4],
                                   address=r[5], contract=r[6], name=r[7], args=loads(r[8]), timestamp=r[9])
                      for r in rows]
            self.project(conn, events, record_undo=False)
            total += len(events)
            last = (rows[-1][0], rows[-1][1])

    # -- reads
    def tx_events_block(self, conn: Connection, tx_hash: str) -> Optional[tuple[int, str]]:
        row = conn.exec_driver_sql(
            f"SELECT block_number, block_hash FROM events WHERE tx_hash = {self.ph} LIMIT 1", (tx_hash.lower(),)).first()
        return (int(row[0]), str(row[1])) if row else None


# ---------------------------------------------------------------- canonical dump


def dump_lines(engine: Engine, include_volatile: bool = False) -> Iterator[str]:
    """Every row of every non-volatile table, in primary-key order, one canonical JSON array per
    row after a ``# table(columns)`` header line. Identical for SQLite and PostgreSQL."""
    with engine.connect() as conn:
        for name in sorted(TABLES):
            if name in models.VOLATILE_TABLES and not include_volatile:
                continue
            table = TABLES[name]
            columns = sorted(c.name for c in table.columns)
            yield f"# {name}({','.join(columns)})"
            order = [table.c[c.name] for c in table.primary_key.columns]
            for row in conn.execute(select(*[table.c[c] for c in columns]).order_by(*order)):
                yield canonical_json(list(row))


def dump_hash(engine: Engine) -> str:
    digest = hashlib.sha256()
    for line in dump_lines(engine):
        digest.update(line.encode())
        digest.update(b"\n")
    return digest.hexdigest()


def write_dump(engine: Engine, path: Path) -> str:
    """Write the canonical dump to ``path``; returns its sha256 (the same as dump_hash)."""
    digest = hashlib.sha256()
    with open(path, "w", encoding="utf-8") as out:
        for line in dump_lines(engine):
            out.write(line + "\n")
            digest.update(line.encode())
            digest.update(b"\n")
    return digest.hexdigest()
