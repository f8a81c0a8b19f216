"""A backfill chunk's statements run by compiled code in one release of the interpreter lock
(``Store.write_chunk``), against the driver's path: on PostgreSQL through libpq on psycopg's
connection (``native.pg_runner``, native/src/pg.rs), on SQLite on the ``sqlite3`` handle of
Python's connection (``native.sqlite_runner``, native/src/sqlite.rs).

Both paths must leave the same rows (blocks, events by COPY text and by tuples, state rows
deleted by integer, text and three-column keys, including keys with quotes, backslashes, tabs,
newlines and non-ASCII text, their new rows, log rows, undo pre-images, undo pruning); the
statements must run in the transaction; a failed statement must raise what SQLAlchemy raises for
it and stop the rest; a chunk with a value the compiled code does not take goes the driver's way.
The backfills themselves are held equal across SQLite and PostgreSQL by test_indexer_sync's dump
tests, and to the Python path by test_indexer_projections (``IndexerConfig(native=False)``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any, Optional

import pytest
from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc

from gateway.indexer import native
from gateway.indexer.decode import DecodedEvent
from gateway.indexer.rows import event_rows
from gateway.indexer.store import COLUMNS, ProjectedWrites, Store, dump_lines, make_engine, migrate
from tests.gateway.indexer_fixtures import new_postgres_database

#: text keys and values with every character COPY text and array literals treat specially
ODD = ["0xplain", 'a"quote', "back\\slash", "tab\there", "new\nline", "cr\rhere", "{brace}", "comma,a", " space ",
       "NULL", "中文 數據", "", "\\N", "'single'"]


def _participant(account: str, block: int) -> tuple[Any, ...]:
    return (account, f"org {account}", "CN-GD", 3, 1_900_000_000, "active", "0x" + "aa" * 20, block, block)


def _voucher(voucher_id: int, holder: str, block: int) -> tuple[Any, ...]:
    return (voucher_id, 1, "0x" + "aa" * 20, holder, 0, "0x" + "11" * 32, 1, 2**40, 5, 0, True, "active", block,
            "0x" + "ee" * 32, 1_700_000_000, block)


def _events(block: int, n: int) -> list[DecodedEvent]:
    return [DecodedEvent(block, "0x" + f"{block:064x}", "0x" + f"{i:064x}", 0, i, "0x" + "dd" * 20, "DataVoucher",
                         "Transfer", {"from": ODD[i % len(ODD)], "to": "0x" + "bb" * 20, "tokenId": str(i)},
                         1_700_000_000 + block) for i in range(n)]


def _chunks() -> list[tuple[list[tuple[int, str, str, int]], list[DecodedEvent], ProjectedWrites, Optional[int]]]:
    """Two chunks: the first inserts state rows, the second deletes and replaces some of them."""
    first = ProjectedWrites()
    first.inserts.append(("participants", COLUMNS["participants"], [_participant(a, 1) for a in ODD]))
    first.inserts.append(("vouchers", COLUMNS["vouchers"], [_voucher(v, ODD[v % len(ODD)], 1) for v in range(1, 301)]))
    first.inserts.append(("voucher_users", COLUMNS["voucher_users"],
                          [(v, u, h, True, 1) for v in (1, 2) for u in ODD[:4] for h in ODD[4:6]]))
    first.inserts.append(("indexer_undo", ("block_number", "table_name", "key", "row"),
                          [(1, "vouchers", "[[1]]", "[null]"), (2, "participants", '[["a\\"quote"]]', "[null]")]))
    second = ProjectedWrites()
    second.deletes.append(("participants", ("account",), [(a,) for a in ODD[::2]]))
    second.deletes.append(("vouchers", ("voucher_id",), [(v,) for v in range(1, 301, 3)]))
    second.deletes.append(("voucher_users", ("voucher_id", "user", "holder"), [(1, ODD[1], ODD[4]), (2, ODD[3], ODD[5])]))
    second.inserts.append(("participants", COLUMNS["participants"], [_participant(a, 3) for a in ODD[::4]]))
    second.inserts.append(("vouchers", COLUMNS["vouchers"], [_voucher(v, "tab\there", 3) for v in range(1, 301, 6)]))
    second.inserts.append(("voucher_transfers", COLUMNS["voucher_transfers"],
                           [(3, i, i + 1, ODD[i % len(ODD)], "0x" + "bb" * 20, "0x" + "ee" * 32) for i in range(5)]))
    return [
        ([(1, "0x" + "01" * 32, "0x" + "00" * 32, 1_700_000_001), (2, "0x" + "02" * 32, "0x" + "01" * 32, 1_700_000_002)],
         _events(1, 250), first, None),  # 250 events: COPY text made by rows.event_rows
        ([(3, "0x" + "03" * 32, "0x" + "02" * 32, 1_700_000_003)], _events(3, 7), second, 1),  # 7: tuples
    ]


def _engines(new_url: Callable[[int], str]) -> Iterator[Callable[[], Engine]]:
    """A factory of engines on new, migrated databases (``new_url(n)``), disposed at the end."""
    engines: list[Engine] = []

    def make() -> Engine:
        url = new_url(len(engines))
        migrate(url)
        engines.append(make_engine(url))
        return engines[-1]

    yield make
    for engine in engines:
        engine.dispose()


@pytest.fixture()
def engine_of(postgres_url: str) -> Iterator[Callable[[], Engine]]:
    yield from _engines(lambda _n: new_postgres_database(postgres_url))


def _write(engine: Engine) -> list[str]:
    store = Store(engine)
    for blocks, events, writes, prune in _chunks():
        with engine.connect() as conn, conn.begin():
            store.write_chunk(conn, blocks, events, None, writes, prune)
    return list(dump_lines(engine, include_volatile=True))


def _spy(monkeypatch: pytest.MonkeyPatch, runs: list[int], runner: str = "pg_runner") -> None:
    """Count the statements of each run of ``native.<runner>`` (which must be available)."""
    real = getattr(native, runner)

    def spied_runner() -> Any:
        run = real()
        assert run is not None, f"native.{runner}: the compiled path is not available here"

        def spied(target: Any, ops: list[tuple[Any, ...]]) -> Any:
            runs.append(len(ops))
            return run(target, ops)

        return spied

    monkeypatch.setattr(native, runner, spied_runner)


def test_the_libpq_path_leaves_the_rows_of_the_psycopg_path(engine_of: Callable[[], Engine],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as mp:
        mp.setattr(native, "pg_runner", lambda: None)
        expected = _write(engine_of())
    runs: list[int] = []
    _spy(monkeypatch, runs)
    assert _write(engine_of()) == expected
    # blocks, events, then 4 inserts; or 2 + 2 deletes (one per three-column key), 3 inserts and
    # the undo pruning
    assert runs == [6, 10]
    text = "\n".join(expected)
    assert '"tab\\there"' in text and '"中文 數據"' in text and '"\\\\N"' in text  # (the values, not NULLs)
    assert text.count('"a\\"quote"') >= 1 and "[1,\"vouchers\"" not in text  # the undo row of block 1 pruned


def test_a_failed_statement_raises_and_stops_the_chunk(engine_of: Callable[[], Engine],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    runs: list[int] = []
    _spy(monkeypatch, runs)
    engine = engine_of()
    store = Store(engine)
    blocks, events, writes, prune = _chunks()[0]
    with engine.connect() as conn, conn.begin():
        store.write_chunk(conn, blocks, events, None, writes, prune)
    with engine.connect() as conn:
        conn.begin()
        again = ProjectedWrites()
        again.inserts.append(("voucher_transfers", COLUMNS["voucher_transfers"],
                              [(9, 0, 1, "0x" + "aa" * 20, "0x" + "bb" * 20, "0x" + "ee" * 32)]))
        with pytest.raises(sa_exc.IntegrityError) as caught:  # block 2 again: the blocks COPY fails
            store.write_chunk(conn, [blocks[1]], [], None, again, None)
        assert caught.value.orig.sqlstate == "23505"  # type: ignore[union-attr]
        assert "blocks_pkey" in str(caught.value) and "COPY \"blocks\"" in str(caught.value)
        dbapi = conn.connection.dbapi_connection
        assert dbapi.pgconn.nonblocking == 1  # type: ignore[union-attr]  # as psycopg left it
        conn.rollback()
        assert conn.exec_driver_sql("SELECT count(*) FROM blocks").scalar() == 2
    assert runs == [6, 2]  # blocks (failed), the insert (not run: test_the_runner_...)


def test_a_value_without_copy_text_goes_the_psycopg_way(engine_of: Callable[[], Engine],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    runs: list[int] = []
    _spy(monkeypatch, runs)
    engine = engine_of()
    store = Store(engine)
    writes = ProjectedWrites()
    writes.inserts.append(("vouchers", COLUMNS["vouchers"], [_voucher(1, "0x" + "bb" * 20, 1)[:9] + (Decimal(2),)
                                                             + _voucher(1, "", 1)[10:]]))
    with engine.connect() as conn, conn.begin():
        store.write_chunk(conn, [(1, "0x" + "01" * 32, "0x" + "00" * 32, 1)], [], None, writes, None)
    assert runs == []
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT uses FROM vouchers WHERE voucher_id = 1").scalar() == 2
    deletes = ProjectedWrites()
    deletes.deletes.append(("vouchers", ("voucher_id",), [(Decimal(1),)]))
    with engine.connect() as conn:
        assert store._chunk_statements(conn, [], [], None, deletes, None) is None
        ok = ProjectedWrites()
        ok.deletes.append(("participants", ("account",), [("a\0b",)]))
        assert store._chunk_statements(conn, [], [], None, ok, None) is None  # a NUL: no text parameter


def test_the_statements_are_in_the_transaction(engine_of: Callable[[], Engine],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """psycopg opens a transaction (BEGIN) at its first statement: the chunk's statements must run
    in it, whichever job comes first, and go with it on a rollback."""
    runs: list[int] = []
    _spy(monkeypatch, runs)
    engine = engine_of()
    store = Store(engine)
    blocks, events, writes, prune = _chunks()[0]
    with engine.connect() as conn:
        conn.begin()
        store.write_chunk(conn, blocks, events, None, writes, prune)
        conn.rollback()
        for table in ("blocks", "events", "participants", "vouchers", "voucher_users", "indexer_undo"):
            assert conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar() == 0, table
    assert runs == [6]


def test_the_runner_runs_each_kind_and_stops_at_the_first_failure(postgres_url: str) -> None:
    import psycopg

    run = native.pg_runner()
    assert run is not None
    url = new_postgres_database(postgres_url).replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as conn:  # each statement its own transaction
        ops: list[tuple[Any, ...]] = [
            (0, b"CREATE TABLE t (x bigint PRIMARY KEY, y text)"),
            (1, b"COPY t (x, y) FROM STDIN", b"1\ta\\tb\n2\t\\N\n" + b"".join(b"%d\tz\n" % i for i in range(10, 100_010))),
            (2, b"INSERT INTO t VALUES ($1, $2)", [b"3", None]),
            (2, b"DELETE FROM t WHERE x = ANY($1::bigint[]) AND x >= $2", [b"{10,11,12}", b"11"]),
            (2, b"INSERT INTO t VALUES ($1, $2)", [b"not a number", b"y"]),
            (0, b"INSERT INTO t VALUES (9, 'not run')"),
        ]
        failure = run(conn, ops)
        assert failure is not None
        index, sqlstate, message = failure
        assert (index, sqlstate) == (4, "22P02") and "not a number" in message
        assert conn.pgconn.nonblocking == 1
        rows = conn.execute("SELECT x, y FROM t WHERE x < 20 ORDER BY x").fetchall()
        assert rows == [(1, "a\tb"), (2, None), (3, None), (10, "z")] + [(x, "z") for x in range(13, 20)]
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (3 + 100_000 - 2,)
        # a COPY whose data the server refuses, then the connection as usable as before
        failure = run(conn, [(1, b"COPY t (x, y) FROM STDIN", b"5\tfive\nfive\t5\n")])
        assert failure is not None and failure[:2] == (0, "22P02")
        assert run(conn, [(0, b"SELECT 1"), (2, b"INSERT INTO t VALUES ($1, $2)", [b"6", "六".encode()])]) is None
        assert conn.execute("SELECT y FROM t WHERE x IN (5, 6) ORDER BY x").fetchall() == [("六",)]
        with pytest.raises(ValueError):
            run(conn, [(7, b"SELECT 1")])
        with pytest.raises(ValueError):
            run(conn, [(0, b"SELECT 1\0")])


def test_the_runner_with_psycopgs_python_implementation(postgres_url: str, tmp_path: Any) -> None:
    """With ``PSYCOPG_IMPL=python`` psycopg calls the system's libpq through ctypes: the runner
    takes the functions from that handle (not from a libpq mapped beside it) and works the same."""
    import os
    import subprocess
    import sys

    url = new_postgres_database(postgres_url).replace("postgresql+psycopg://", "postgresql://")
    script = (
        "import sys, psycopg\n"
        "from gateway.indexer import native\n"
        "assert psycopg.pq.__impl__ == 'python', psycopg.pq.__impl__\n"
        "run = native.pg_runner()\n"
        "with psycopg.connect(sys.argv[1], autocommit=True) as conn:\n"
        "    ops = [(0, b'CREATE TABLE t (x bigint, y text)'), (1, b'COPY t FROM STDIN', b'1\\tone\\n2\\ttwo\\n'),\n"
        "           (2, b'INSERT INTO t VALUES ($1, $2)', [b'3', None]), (0, b'SELECT 1/0')]\n"
        "    print(run(conn, ops))\n"
        "    print(conn.execute('SELECT count(*) FROM t').fetchone()[0])\n")
    env = dict(os.environ, PSYCOPG_IMPL="python")
    out = subprocess.run([sys.executable, "-c", script, url], capture_output=True, text=True, env=env,
                         cwd=tmp_path, timeout=60)
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.splitlines()
    assert first.startswith("(3, '22012', ") and "division by zero" in first
    assert second == "3"


# ---------------------------------------------------------------- SQLite


@pytest.fixture()
def sqlite_engine_of(tmp_path: Any) -> Iterator[Callable[[], Engine]]:
    yield from _engines(lambda n: f"sqlite:///{tmp_path / f'writes-{n}.db'}")


def _sqlite_write(engine: Engine) -> list[str]:
    store = Store(engine)
    for n, (blocks, events, writes, prune) in enumerate(_chunks()):
        # the first chunk's events as the compiled decoder makes them for this path (COPY text),
        # the second's as tuples
        rows = event_rows(events, "postgresql") if n == 0 else None
        with engine.connect() as conn, conn.begin():
            store.write_chunk(conn, blocks, events, rows, writes, prune)
    return list(dump_lines(engine, include_volatile=True))


def test_sqlite_the_compiled_path_leaves_the_rows_of_sqlite3(sqlite_engine_of: Callable[[], Engine],
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    with monkeypatch.context() as mp:
        mp.setattr(native, "sqlite_runner", lambda: None)
        expected = _sqlite_write(sqlite_engine_of())
    runs: list[int] = []
    _spy(monkeypatch, runs, "sqlite_runner")
    assert _sqlite_write(sqlite_engine_of()) == expected
    # blocks, events and 4 inserts; or blocks, events, 3 deletes, 3 inserts and the pruning
    assert runs == [6, 9]
    text = "\n".join(expected)
    assert '"tab\\there"' in text and '"中文 數據"' in text and '"\\\\N"' in text
    assert "[1,\"vouchers\"" not in text


def test_sqlite_the_statements_are_in_the_transaction_and_stop_at_a_failure(
        sqlite_engine_of: Callable[[], Engine], monkeypatch: pytest.MonkeyPatch) -> None:
    runs: list[int] = []
    _spy(monkeypatch, runs, "sqlite_runner")
    engine = sqlite_engine_of()
    store = Store(engine)
    blocks, events, writes, prune = _chunks()[0]
    with engine.connect() as conn:
        conn.begin()
        store.write_chunk(conn, blocks, events, None, writes, prune)
        assert conn.exec_driver_sql("SELECT count(*) FROM vouchers").scalar() == 300
        conn.rollback()
        for table in ("blocks", "events", "participants", "vouchers", "voucher_users", "indexer_undo"):
            assert conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar() == 0, table
    with engine.connect() as conn, conn.begin():
        store.write_chunk(conn, blocks, events, None, writes, prune)
    with engine.connect() as conn:
        conn.begin()
        conn.exec_driver_sql("INSERT INTO blocks VALUES (7, '0x07', '0x06', 7)")  # (the transaction open)
        again = ProjectedWrites()
        again.inserts.append(("voucher_transfers", COLUMNS["voucher_transfers"],
                              [(9, 0, 1, "0x" + "aa" * 20, "0x" + "bb" * 20, "0x" + "ee" * 32)]))
        again.inserts.append(("vouchers", COLUMNS["vouchers"], [_voucher(5, "0x" + "bb" * 20, 9)]))  # stored
        again.inserts.append(("voucher_transfers", COLUMNS["voucher_transfers"],
                              [(9, 1, 1, "0x" + "aa" * 20, "0x" + "bb" * 20, "0x" + "ee" * 32)]))
        with pytest.raises(sa_exc.IntegrityError) as caught:
            store.write_chunk(conn, [(8, "0x08", "0x07", 8)], [], None, again, None)
        assert caught.value.orig.sqlite_errorcode == 1555  # type: ignore[union-attr]  # CONSTRAINT_PRIMARYKEY
        assert "UNIQUE constraint failed: vouchers.voucher_id" in str(caught.value)
        assert 'INSERT INTO "vouchers"' in str(caught.value)
        # (SQLite undoes the failed statement only): the ones before it ran, the one after did not
        assert conn.exec_driver_sql("SELECT block_number, log_index FROM voucher_transfers").fetchall() == [(9, 0)]
        assert conn.exec_driver_sql("SELECT count(*) FROM blocks WHERE number = 8").scalar() == 1
        conn.rollback()
    assert runs == [6, 6, 4]


def test_sqlite_a_value_sqlite3_adapts_goes_the_sqlite3_way(sqlite_engine_of: Callable[[], Engine],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import enum

    class Uses(enum.IntEnum):
        TWO = 2

    runs: list[int] = []
    _spy(monkeypatch, runs, "sqlite_runner")
    engine = sqlite_engine_of()
    store = Store(engine)
    for value, stored in ((Uses.TWO, 2), (b"\x01\x02", b"\x01\x02")):
        writes = ProjectedWrites()
        row = list(_voucher(1, "0x" + "bb" * 20, 1))
        row[9] = value  # uses: an int subclass (bound as an int), bytes (a BLOB)
        writes.inserts.append(("vouchers", COLUMNS["vouchers"], [tuple(row)]))
        with engine.connect() as conn, conn.begin():
            conn.exec_driver_sql("DELETE FROM vouchers")
            conn.exec_driver_sql("DELETE FROM blocks")
            store.write_chunk(conn, [(1, "0x" + "01" * 32, "0x" + "00" * 32, 1)], [], None, writes, None)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT uses FROM vouchers WHERE voucher_id = 1").scalar() == stored
    assert runs == []
    assert native.sqlite_rows([(2**63,)]) is None and native.sqlite_rows([(-(2**63),)]) is not None
    assert native.sqlite_rows([("\ud800",)]) is None  # (sqlite3 refuses a lone surrogate too)


def test_sqlite_the_handle_is_that_of_the_connection(tmp_path: Any) -> None:
    import sqlite3

    a, b = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    conn = sqlite3.connect(a)
    other = sqlite3.connect(b)
    try:
        handle = native.sqlite_handle(conn, a)
        assert handle and handle != native.sqlite_handle(other, b)
        assert native.sqlite_handle(conn, b) is None  # a connection to another file
        assert native.sqlite_handle(object(), a) is None
        run = native.sqlite_runner()
        assert run is not None
        conn.execute("CREATE TABLE t (x INTEGER PRIMARY KEY, y)")
        with pytest.raises(ValueError, match="no transaction"):  # autocommit: refused, nothing run
            run(handle, [(2, b"INSERT INTO t VALUES (?, ?)", native.sqlite_rows([(1, "a")]))])
        conn.execute("INSERT INTO t VALUES (0, 'opens the transaction')")
        with pytest.raises(ValueError, match="not whole"):  # a truncated row: refused before any runs
            run(handle, [(2, b"INSERT INTO t VALUES (?, ?)", native.sqlite_rows([(1, "a")])),
                         (1, b"INSERT INTO t VALUES (?, ?)", b"2\tb\n3\n", b"it")])
        with pytest.raises(ValueError, match="not whole"):  # an integer out of range
            run(handle, [(1, b"INSERT INTO t VALUES (?, ?)", b"99999999999999999999\tb\n", b"it")])
        assert run(handle, [(1, b"INSERT INTO t VALUES (?, ?)", b"2\t\\\\N\n3\ta\\tb\\\\c\n", b"it"),
                            (2, b"INSERT INTO t VALUES (?, ?)", native.sqlite_rows([(4, 1.5), (5, True)]))]) is None
        conn.commit()
        assert conn.execute("SELECT x, y, typeof(y) FROM t ORDER BY x").fetchall() == [
            (0, "opens the transaction", "text"), (2, "\\N", "text"), (3, "a\tb\\c", "text"), (4, 1.5, "real"),
            (5, 1, "integer")]
    finally:
        conn.close()
        other.close()


def test_row_dicts_encode_as_their_tuples() -> None:
    """``projected_writes`` hands the projections' row dicts on; the encoders read them in the
    order of the columns, and refuse (the drivers' path then reports it) a dict missing one."""
    columns = COLUMNS["vouchers"]
    tuples = [_voucher(v, ODD[v % len(ODD)], v) for v in range(1, 40)]
    dicts = [dict(zip(reversed(columns), reversed(row))) for row in tuples]  # (another key order)
    assert native.copy_rows(dicts, columns) == native.copy_rows(tuples) is not None
    assert native.sqlite_rows(dicts, columns) == native.sqlite_rows(tuples) is not None
    missing = {k: v for k, v in dicts[0].items() if k != "holder"}
    for encode in (native.copy_rows, native.sqlite_rows):
        assert encode(dicts[:3] + [missing], columns) is None
        assert encode(dicts[:1]) is None  # a dict without columns


def test_sqlite_a_refused_chunk_goes_the_sqlite3_way_whole(sqlite_engine_of: Callable[[], Engine],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The compiled code refuses data it does not take whole before running anything (ValueError):
    the chunk is then written by sqlite3, once, in the transaction, whether it was open before
    or just begun for the compiled code."""
    with monkeypatch.context() as mp:
        mp.setattr(native, "sqlite_runner", lambda: None)
        expected = _sqlite_write(sqlite_engine_of())
    refusals: list[int] = []

    def refusing_runner() -> Any:
        def run(handle: int, ops: list[tuple[Any, ...]]) -> Any:
            refusals.append(len(ops))
            raise ValueError("statement 0: its data is not whole")

        return run

    monkeypatch.setattr(native, "sqlite_runner", refusing_runner)
    engine = sqlite_engine_of()
    assert _sqlite_write(engine) == expected
    assert refusals == [6, 9]
    store = Store(engine)  # and in a transaction already open
    with engine.connect() as conn:
        conn.begin()
        conn.exec_driver_sql("INSERT INTO blocks VALUES (9, '0x09', '0x08', 9)")
        store.write_chunk(conn, [(10, "0x10", "0x09", 10)], _events(10, 3), None, ProjectedWrites(), None)
        assert conn.exec_driver_sql("SELECT count(*) FROM events WHERE block_number = 10").scalar() == 3
        assert conn.exec_driver_sql("SELECT count(*) FROM blocks WHERE number = 10").scalar() == 1
        conn.rollback()
    assert refusals == [6, 9, 2]
