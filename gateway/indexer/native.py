"""The compiled part of the backfill's hot path (native/, Rust, built by scripts/setup.sh).

On two cores a Python backfill is bound by the interpreter lock: parsing the node's JSON and
decoding the logs took about two fifths of it. The module ``gateway.indexer._logs`` does both
without holding the lock (the writer runs meanwhile), and makes the Python objects at the end:

- :func:`parse_logs_reply` parses an ``eth_getLogs`` reply body into a ``LogBatch`` (logs held in
  Rust), or parses it the Python way (:func:`ledger.rpc.loads`) when it is not an ordinary answer
  (an error, a removed log, a JSON escape or non-ASCII text in a string, an odd number);
- :func:`native_decoder` gives the ``_logs.Decoder`` of a :class:`~gateway.indexer.decode.Decoder`
  (the same ABIs, looked up the same way), whose ``decode(batch)`` gives the ``DecodedEvent`` and
  canonical argument JSON of every log it decodes the ordinary way, and leaves the others (an
  event no ABI knows, array or tuple arguments, malformed data, invalid UTF-8, an integer a JSON
  number cannot hold) to the Python decoder.

- :func:`voucher_projector` and :func:`voucher_reader` give the compiled projections of
  DataVoucher's ``VoucherIssued`` and ``Transfer``, and the rows they read (``Store.apply_events``
  and ``projections.reads_of`` run them; they hold the lock, in less time than the handlers).

Without the module (no Rust toolchain when the stack was set up) everything runs in Python, with
the same results: ``tests/gateway/test_indexer_native.py`` holds the two paths equal.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any, Optional, cast

from ledger.rpc import loads

if TYPE_CHECKING:
    from gateway.indexer.decode import Decoder

_logs: Optional[ModuleType]
try:
    from gateway.indexer import _logs
except ImportError:  # pragma: no cover - exercised where the module was not built
    _logs = None

#: whether the compiled module is here
AVAILABLE = _logs is not None


def parse_logs_reply(body: bytes) -> Any:
    """An ``eth_getLogs`` reply body -> ``{"result": LogBatch}``, or what :func:`ledger.rpc.loads`
    makes of it when it is not an ordinary answer (then ``RpcClient.call`` handles it as ever)."""
    assert _logs is not None
    batch = _logs.parse_reply(body)
    if batch is None:
        return loads(body)
    return {"result": batch}


def is_batch(logs: Any) -> bool:
    """Whether ``logs`` is a parsed ``LogBatch`` (not a list of dicts)."""
    return _logs is not None and isinstance(logs, _logs.LogBatch)


def native_decoder(decoder: Decoder) -> Any:
    """The compiled decoder of ``decoder``'s ABIs and routing (see the module docstring)."""
    assert _logs is not None
    from gateway.indexer.decode import DecodedEvent

    index: dict[int, int] = {}
    specs: list[tuple[str, bool, list[tuple[str, str]], list[tuple[str, str]]]] = []

    def spec_index(spec: Any) -> int:
        i = index.get(id(spec))
        if i is None:
            i = index[id(spec)] = len(specs)
            specs.append((spec.name, spec.hex_decoder is not None, list(zip(spec.indexed_names, spec.indexed_types)),
                          list(zip(spec.data_names, spec.data_types))))
        return i

    by_address = [(address, topic0, n, spec_index(spec))
                  for address, table in decoder.by_address.items() for (topic0, n), spec in table.items()]
    by_topic = [(topic0, n, spec_index(spec)) for (topic0, n), spec in decoder.by_topic.items()]
    return _logs.Decoder(dict(decoder.names), specs, by_address, by_topic, DecodedEvent)


def copy_rows(rows: list[Any], columns: Optional[tuple[str, ...]] = None) -> Optional[bytes]:
    """``rows`` in PostgreSQL's COPY text format, the bytes psycopg's ``Copy.write_row`` writes,
    made in one compiled call; None without the module, or when a value is not None, bool, int or
    str, or a string holds a NUL (the caller then writes the rows with psycopg). A row is a
    tuple, or with ``columns`` a dict (its values in that order; one missing: None)."""
    if _logs is None:
        return None
    text: Optional[bytes] = _logs.copy_rows(rows, None if columns is None else list(columns))
    return text



def _voucher_handlers() -> bool:
    """Whether DataVoucher's ``VoucherIssued`` and ``Transfer`` handlers are the ones the compiled
    projections copy (a test or an extension may register others: then none is compiled)."""
    from gateway.indexer import projections

    issued = projections.HANDLERS.get(("DataVoucher", "VoucherIssued"))
    transfer = projections.HANDLERS.get(("DataVoucher", "Transfer"))
    return (issued is not None and transfer is not None
            and issued.apply is projections.voucher_issued and issued.reads is projections._voucher
            and transfer.apply is projections.voucher_transfer and transfer.reads is projections._erc721_voucher)


def voucher_projector() -> Optional[Callable[..., tuple[int, int]]]:
    """``_logs.project_vouchers``: ``projections.voucher_issued`` and ``voucher_transfer`` with
    ``BatchRows.put``, compiled (``Store.apply_events`` runs it); None without the module or when
    other handlers are registered for those events."""
    project = getattr(_logs, "project_vouchers", None)
    if project is None or not _voucher_handlers():
        return None
    return cast(Callable[..., tuple[int, int]], project)


def voucher_reader() -> Optional[Callable[[list[Any], set[Any]], list[Any]]]:
    """``_logs.voucher_reads``: the ``vouchers`` keys those two events read, compiled
    (``projections.reads_of`` runs it); None as for :func:`voucher_projector`."""
    reads = getattr(_logs, "voucher_reads", None)
    if reads is None or not _voucher_handlers():
        return None
    return cast(Callable[[list[Any], set[Any]], list[Any]], reads)


def _libpq_addresses() -> list[int]:
    """The addresses of ``_logs.PG_FUNCTIONS`` in the libpq psycopg loaded: psycopg's own ctypes
    handle (its Python implementation), or the one libpq mapped into this process (its C and
    binary implementations link it); [] when there is none or more than one."""
    import ctypes

    from psycopg import pq

    assert _logs is not None
    lib: Any = None
    if pq.__impl__ == "python":
        from psycopg.pq import _pq_ctypes

        lib = _pq_ctypes.pq  # type: ignore[attr-defined]  # (its ctypes handle of libpq)
    else:
        path = _mapped_library("libpq")
        if path is None:
            return []
        lib = ctypes.CDLL(path)  # already loaded: the same handle, the same functions
    try:
        return [cast(int, ctypes.cast(getattr(lib, name), ctypes.c_void_p).value) for name in _logs.PG_FUNCTIONS]
    except AttributeError:
        return []


#: the functions' addresses of each runner's library (_runner), found once
_functions: dict[str, list[int]] = {}


def _runner(name: str, addresses: Callable[[], list[int]]) -> Optional[Callable[[Any, list[tuple[Any, ...]]], Any]]:
    """``run(target, ops)``: the compiled ``_logs.<name>(functions, target, ops)`` with the
    addresses of its library's functions (found once by ``addresses``); None without it."""
    run = getattr(_logs, name, None)
    if run is None:
        return None
    functions = _functions.get(name)
    if functions is None:
        functions = _functions[name] = addresses()
    if not functions:
        return None
    return functools.partial(run, functions)


def pg_runner() -> Optional[Callable[[Any, list[tuple[Any, ...]]], Optional[tuple[int, str, str]]]]:
    """``run(dbapi_connection, ops)``: ``_logs.pg_run`` on a psycopg connection: its statements
    in order through libpq, in one release of the interpreter lock (``Store.write_chunk``); None
    without the module or when the libpq psycopg uses is not found. ``ops``: ``(0, sql)``,
    ``(1, copy_sql, data)`` or ``(2, sql, params)`` (bytes); the result: None, or the index,
    SQLSTATE and message of the statement that failed (those after it were not run)."""
    run = _runner("pg_run", _libpq_addresses)
    if run is None:
        return None

    def pg_run(dbapi_connection: Any, ops: list[tuple[Any, ...]]) -> Optional[tuple[int, str, str]]:
        failure: Optional[tuple[int, str, str]] = run(dbapi_connection.pgconn.pgconn_ptr, ops)
        return failure

    return pg_run


def _mapped_library(prefix: str) -> Optional[str]:
    """The path of the one library whose file name starts with ``prefix`` mapped into this
    process (Linux: /proc/self/maps); None when there is none, more than one, or no such file."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            paths = {line.split(None, 5)[5].strip() for line in maps if len(line.split(None, 5)) == 6}
    except OSError:
        return None
    found = sorted(p for p in paths if p.rsplit("/", 1)[-1].startswith(prefix))
    return found[0] if len(found) == 1 else None


def _sqlite_addresses() -> list[int]:
    """The addresses of ``_logs.SQLITE_FUNCTIONS`` in the SQLite library Python's ``_sqlite3``
    links (the one libsqlite3 mapped into this process); [] when it is not found (another
    platform, SQLite built into ``_sqlite3``, or two libraries)."""
    import ctypes
    import sqlite3

    assert _logs is not None and sqlite3.sqlite_version
    path = _mapped_library("libsqlite3")
    if path is None:
        return []
    lib = ctypes.CDLL(path)  # already loaded: the same handle, the same functions
    try:
        version = lib.sqlite3_libversion
        version.restype = ctypes.c_char_p
        if version().decode() != sqlite3.sqlite_version:  # not the library sqlite3 uses
            return []
        return [cast(int, ctypes.cast(getattr(lib, name), ctypes.c_void_p).value) for name in _logs.SQLITE_FUNCTIONS]
    except AttributeError:
        return []


def sqlite_handle(dbapi_connection: Any, database: str) -> Optional[int]:
    """The ``sqlite3 *`` of a Python ``sqlite3.Connection``, when it can be read and is the
    connection to ``database`` (its absolute path); else None.

    CPython 3.11 keeps it in the connection object's first field, after the object header (the
    ``db`` member of ``pysqlite_Connection``); it is read once and checked against
    ``sqlite3_db_filename``, so a different layout gives None, not a wrong handle."""
    import ctypes
    import sqlite3
    import sys

    if (sys.implementation.name != "cpython" or sys.version_info[:2] != (3, 11)
            or type(dbapi_connection) is not sqlite3.Connection):
        return None
    path = _mapped_library("libsqlite3")
    if path is None or not database:
        return None
    pointer = ctypes.c_void_p.from_address(id(dbapi_connection) + object.__basicsize__).value
    if not pointer:
        return None
    filename = ctypes.CDLL(path).sqlite3_db_filename
    filename.restype = ctypes.c_char_p
    filename.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
    name = filename(pointer, b"main")
    if name is None or os.path.realpath(os.fsdecode(name)) != os.path.realpath(database):
        return None
    return pointer


def sqlite_rows(rows: list[Any], columns: Optional[tuple[str, ...]] = None) -> Optional[bytes]:
    """``rows`` typed as Python's sqlite3 binds them, for ``sqlite_run``; None without the module,
    or for a value it would adapt or refuse (another type, an int beyond 64 bits, a str that is
    not valid UTF-8). A row is a tuple, or with ``columns`` a dict (one missing: None)."""
    if _logs is None:
        return None
    data: Optional[bytes] = _logs.sqlite_rows(rows, None if columns is None else list(columns))
    return data


def sqlite_runner() -> Optional[Callable[[int, list[tuple[Any, ...]]], Optional[tuple[int, int, str]]]]:
    """``run(handle, ops)``: ``_logs.sqlite_run`` on a connection's ``sqlite3`` handle
    (:func:`sqlite_handle`): its statements in order, in one release of the interpreter lock
    (``Store.write_chunk``); None without the module or the library. ``ops``:
    ``(1, sql, copy_text, kinds)`` or ``(2, sql, sqlite_rows(rows))``, run once per row; the
    result: None, or the index, SQLite result code and message of the statement that failed."""
    return _runner("sqlite_run", _sqlite_addresses)
