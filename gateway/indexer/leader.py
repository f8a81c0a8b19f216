"""Active/standby indexers on one PostgreSQL database: the writer lock, the writer's identity, failover.

Any number of indexer processes may run against one PostgreSQL database; exactly one writes. It
holds the session-level advisory lock :data:`gateway.indexer.store.ADVISORY_LOCK_KEY`
(``pg_try_advisory_lock``) on a dedicated connection for as long as it runs. The others are
standbys: they poll the lock every ``poll`` seconds (0.25 s by default), write nothing and report
only their standby status (one progress line naming the active writer). When the writer dies, its
session ends, PostgreSQL releases the lock and the first standby to poll takes it, loads the
checkpoint (``indexer_state``) and continues exactly after the writer's last committed batch (every
batch is one transaction with its checkpoint, see gateway.indexer.store).

How fast the lock is released:

- the writer process is killed (even ``kill -9``): its kernel closes the TCP connection, the
  backend sees the end of the stream at once and releases the lock: takeover within one poll;
- the writer's host or network dies (no FIN): the lock connection asks the server for TCP
  keepalives of :data:`KEEPALIVE_IDLE` + :data:`KEEPALIVE_INTERVAL` x :data:`KEEPALIVE_COUNT` seconds
  (``tcp_keepalives_*`` and ``tcp_user_timeout`` set per session), so the backend ends the dead
  session in about 5 s.

Fencing: the writer refreshes its row (``indexer_writer.heartbeat_at``) over the lock connection
every ``heartbeat`` seconds with short client timeouts; when that fails (the lock session is gone,
so another indexer may take over) the registered lost-lock handlers run (the CLI stops the indexer
and exits with code 4) well before the server gives up on the session, so two writers never overlap
in practice; a batch that still raced one would collide on the events' primary keys and roll back.

The writer's identity (host, pid, process start time, when it took the lock, its backend pid) is
the one row of ``indexer_writer``, written under the lock; /health reads it and checks in
``pg_locks`` that this backend still holds the lock (:func:`writer_status`).

SQLite has no failover: one writer at a time through an ``flock`` on ``<db>.indexer.lock`` (a
second indexer waits for it), and no writer row.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional

from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.pool import NullPool

log = logging.getLogger("gateway.indexer")

#: server-side TCP keepalives of the lock session (seconds): idle before the first probe, between
#: probes, probes lost before the session is ended
KEEPALIVE_IDLE = 2
KEEPALIVE_INTERVAL = 1
KEEPALIVE_COUNT = 2
#: unacknowledged data older than this (ms) ends the connection (both ends)
TCP_USER_TIMEOUT_MS = 3000
#: seconds between standby polls of the lock, and between the writer's heartbeats
POLL_SECONDS = 0.25
HEARTBEAT_SECONDS = 1.0

#: when this process started (the writer row's ``started_at``)
PROCESS_STARTED_AT = time.time()


@dataclass(frozen=True)
class WriterIdentity:
    host: str
    pid: int
    started_at: float

    @classmethod
    def current(cls) -> WriterIdentity:
        return cls(socket.gethostname(), os.getpid(), PROCESS_STARTED_AT)

    def describe(self) -> str:
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started_at))
        return f"{self.host} pid {self.pid} (started {started})"


def lock_connect_args() -> dict[str, Any]:
    """psycopg connection parameters of the lock session: client and server keepalives, short
    connect / statement timeouts (libpq ignores the TCP ones on a Unix socket)."""
    options = (f"-c tcp_keepalives_idle={KEEPALIVE_IDLE} -c tcp_keepalives_interval={KEEPALIVE_INTERVAL} "
               f"-c tcp_keepalives_count={KEEPALIVE_COUNT} -c tcp_user_timeout={TCP_USER_TIMEOUT_MS} "
               f"-c statement_timeout=5000 -c lock_timeout=5000")
    return {"keepalives": 1, "keepalives_idle": KEEPALIVE_IDLE, "keepalives_interval": KEEPALIVE_INTERVAL,
            "keepalives_count": KEEPALIVE_COUNT, "tcp_user_timeout": TCP_USER_TIMEOUT_MS, "connect_timeout": 5,
            "application_name": "dataledger-indexer-lock", "options": options}


def lock_key_parts(key: int) -> tuple[int, int]:
    """(classid, objid) of a bigint advisory lock key as ``pg_locks`` shows it (objsubid 1)."""
    unsigned = key & 0xFFFFFFFFFFFFFFFF
    return unsigned >> 32, unsigned & 0xFFFFFFFF


_lost_handlers: list[Callable[[], None]] = []
_lost_guard = threading.Lock()


def add_lost_handler(handler: Callable[[], None]) -> None:
    """Call ``handler`` (from the heartbeat thread) when this process loses the writer lock."""
    with _lost_guard:
        _lost_handlers.append(handler)


def remove_lost_handler(handler: Callable[[], None]) -> None:
    with _lost_guard:
        if handler in _lost_handlers:
            _lost_handlers.remove(handler)


_stop_waiting = threading.Event()


class StandbyStopped(RuntimeError):
    """The process was asked to stop (SIGTERM / Ctrl-C) while waiting as a standby."""


def stop_waiting() -> None:
    """End every standby wait of this process (raises StandbyStopped in the waiting thread)."""
    _stop_waiting.set()


def reset_waiting() -> None:
    _stop_waiting.clear()


class LockLost(RuntimeError):
    """This process lost the writer lock while writing (its lock session ended)."""


class Leadership:
    """The writer lock of a PostgreSQL database, held on a dedicated keepalive connection.

    ``with Leadership(engine): ...`` waits (``wait``) or fails (IndexerLockError) while another
    process holds it; inside the block this process is the writer: its row is in
    ``indexer_writer`` and a heartbeat thread watches the lock session (``lost`` is set and the
    lost-lock handlers run when it ends)."""

    def __init__(self, engine: Engine, wait: bool = True, on_wait: Optional[Callable[[str], None]] = None,
                 poll: float = POLL_SECONDS, heartbeat: float = HEARTBEAT_SECONDS) -> None:
        from gateway.indexer.store import ADVISORY_LOCK_KEY

        self.key = ADVISORY_LOCK_KEY
        self.engine = engine
        self.wait = wait
        self.on_wait = on_wait
        self.poll = poll
        self.heartbeat = heartbeat
        self.identity = WriterIdentity.current()
        self.lost = threading.Event()
        self.waited = 0.0
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._lock_engine = create_engine(engine.url, poolclass=NullPool, connect_args=lock_connect_args())
        self._conn: Optional[Connection] = None

    # ------------------------------------------------------------ acquire / release

    def __enter__(self) -> Leadership:
        from gateway.indexer.store import IndexerLockError

        t0 = time.monotonic()
        told = False
        try:
            while True:
                if self._conn is None:
                    self._conn = self._lock_engine.connect()
                try:
                    got = bool(self._conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar())
                    self._conn.commit()
                except Exception as exc:  # database restarting: reconnect and retry
                    log.warning("writer lock poll failed (%s); retrying", exc)
                    self._drop_connection()
                    got = False
                    if not self.wait:
                        raise
                if got:
                    break
                message = "standby: another indexer is writing this database (PostgreSQL advisory lock " \
                          f"{self.key} is held by {self._holder_text()})"
                if not self.wait:
                    raise IndexerLockError(message + "; exiting")
                if self.on_wait is not None and not told:
                    self.on_wait(message + "; waiting for it to stop")
                    told = True
                if _stop_waiting.wait(self.poll):
                    raise StandbyStopped("stopped while waiting as a standby")
            self.waited = time.monotonic() - t0
            self._record()
        except BaseException:
            self._release()
            raise
        if told and self.on_wait is not None:
            self.on_wait(f"writer: took the writer lock after {self.waited:.2f} s as standby "
                         f"({self.identity.describe()})")
        self._thread = threading.Thread(target=self._beat, name="indexer-lock-heartbeat", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._release()

    def _release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
                conn.commit()
            except Exception:  # the session is gone: so is the lock
                pass
            try:
                conn.close()
            except Exception:
                pass
        self._lock_engine.dispose()

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.invalidate()
                conn.close()
            except Exception:
                pass

    # ------------------------------------------------------------ the writer row

    def _record(self) -> None:
        assert self._conn is not None
        now = time.time()
        params = {"h": self.identity.host[:255], "p": self.identity.pid, "s": self.identity.started_at, "t": now}
        self._conn.execute(text(
            "INSERT INTO indexer_writer (id, host, pid, started_at, acquired_at, heartbeat_at, backend_pid) "
            "VALUES (1, :h, :p, :s, :t, :t, pg_backend_pid()) ON CONFLICT (id) DO UPDATE SET host = :h, pid = :p, "
            "started_at = :s, acquired_at = :t, heartbeat_at = :t, backend_pid = pg_backend_pid()"), params)
        self._conn.commit()
        log.info("writer lock taken by %s", self.identity.describe())

    def _holder_text(self) -> str:
        try:
            assert self._conn is not None
            row = self._conn.execute(text("SELECT host, pid, started_at FROM indexer_writer WHERE id = 1")).first()
            self._conn.commit()
        except Exception:
            if self._conn is not None:
                self._conn.rollback()
            return "another session"
        if row is None:
            return "another session"
        return WriterIdentity(str(row[0]), int(row[1]), float(row[2])).describe()

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat):
            try:
                assert self._conn is not None
                done = self._conn.execute(text(
                    "UPDATE indexer_writer SET heartbeat_at = :t WHERE id = 1 AND backend_pid = pg_backend_pid() "
                    "AND pid = :p"), {"t": time.time(), "p": self.identity.pid}).rowcount
                self._conn.commit()
                if done != 1:
                    raise LockLost("the writer row names another process")
            except Exception as exc:  # the lock session is gone
                if self._stop.is_set():
                    return
                log.error("lost the indexer writer lock (%s): stopping", exc)
                self.lost.set()
                with _lost_guard:
                    handlers = list(_lost_handlers)
                for handler in handlers:
                    try:
                        handler()
                    except Exception:
                        log.exception("lost-lock handler failed")
                return


# ---------------------------------------------------------------- /health


@dataclass(frozen=True)
class WriterStatus:
    """Which indexer process writes this index: /health's ``indexer_writer``."""

    #: active (the row's process holds the lock) | none (nobody holds it) | unknown (no row yet)
    #: | single-writer (SQLite: file lock, no failover) | down (/health could not read it)
    status: str
    host: Optional[str] = None
    pid: Optional[int] = None
    started_at: Optional[float] = None
    acquired_at: Optional[float] = None
    heartbeat_age: Optional[float] = None
    detail: str = ""


def writer_status(conn: Connection) -> WriterStatus:
    """Who writes this index, for /health (one query)."""
    from gateway.indexer.store import ADVISORY_LOCK_KEY

    if conn.dialect.name != "postgresql":
        return WriterStatus(status="single-writer",
                            detail="SQLite: one indexer at a time (file lock), no standby failover")
    hi, lo = lock_key_parts(ADVISORY_LOCK_KEY)
    row = conn.execute(text(
        "SELECT w.host, w.pid, w.started_at, w.acquired_at, w.heartbeat_at, "
        " EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted AND l.pid = w.backend_pid"
        "  AND l.classid::bigint = :hi AND l.objid::bigint = :lo AND l.objsubid = 1), "
        " EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory' AND l.granted"
        "  AND l.classid::bigint = :hi AND l.objid::bigint = :lo AND l.objsubid = 1) "
        "FROM (SELECT 1) AS one LEFT JOIN indexer_writer w ON w.id = 1"), {"hi": hi, "lo": lo}).first()
    if row is None or row[0] is None:
        return WriterStatus(status="unknown", detail="no indexer has taken the writer lock yet")
    age = round(max(0.0, time.time() - float(row[4])), 3)
    ident = WriterIdentity(str(row[0]), int(row[1]), float(row[2]))

    def status(name: str, detail: str) -> WriterStatus:
        return WriterStatus(status=name, host=ident.host, pid=ident.pid, started_at=ident.started_at,
                            acquired_at=float(row[3]), heartbeat_age=age, detail=detail)

    if row[5]:
        return status("active", f"writer: {ident.describe()}")
    if row[6]:
        return status("unknown", "a session holds the writer lock but has not written its row yet (taking over)")
    return status("none", f"no indexer holds the writer lock; the last writer was {ident.describe()}")
