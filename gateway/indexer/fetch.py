"""Fetching: the node's logs and headers of block ranges, checked to be of one chain, decoded.

A :class:`Fetcher` fetches a range ``[a, b]`` as ``header(b)``, then ``eth_getLogs`` over every
followed contract, then the headers of ``a``, ``b`` and every block with a log, in one batch
(:meth:`Fetcher.fetch_raw`), and sizes the ranges (:meth:`Fetcher.fetch_raw_adaptive`; the rules
are in gateway.indexer.sync). :meth:`Fetcher.decode` accepts an answer only when ``header(b)`` did
not change during the fetch and every log's ``blockHash`` is its header's, decodes the logs and
builds the ``events`` table rows (gateway.indexer.rows).

:func:`produce` runs a backfill's fetching: a fetch thread (socket I/O, JSON parsing) and the
decoding in the calling thread, joined by a bounded queue; each decoded chunk goes to ``emit``.
"""

from __future__ import annotations

import bisect
import contextlib
import gc
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional

from gateway.indexer import native
from gateway.indexer.decode import DecodedEvent, Decoder
from gateway.indexer.rows import COPY_MIN_EVENTS, EventRows, event_rows
from ledger.rpc import RpcClient, RpcError

#: blocks over which the busiest-block density that caps range growth halves
DENSITY_HALF_LIFE = 64

_gc_lock = threading.Lock()
_gc_holders = 0
_gc_state: dict[str, bool] = {}


@contextlib.contextmanager
def gc_paused() -> Any:
    """No cyclic garbage collection while a batch is decoded or applied (reentrant, thread-safe).

    A batch allocates hundreds of thousands of small containers (parsed JSON, args dicts, rows) that
    all live until the batch is committed; the collector would traverse them again and again (it
    cost a quarter of the backfill time). Nothing is leaked: refcounting frees everything as usual,
    and the collector runs again (once) as soon as no batch is in flight.
    """
    global _gc_holders
    with _gc_lock:
        _gc_holders += 1
        if _gc_holders == 1:
            was_enabled = gc.isenabled()
            gc.disable()
            _gc_state["restore"] = was_enabled
    try:
        yield
    finally:
        with _gc_lock:
            _gc_holders -= 1
            if _gc_holders == 0 and _gc_state.get("restore"):
                gc.enable()


class ChainChanged(RuntimeError):
    """The node's chain moved under a fetch (reorg mid-fetch or a shorter chain): refetch."""


@dataclass
class FetchedBatch:
    from_block: int
    to_block: int
    to_hash: str
    first_parent_hash: str
    blocks: list[tuple[int, str, str, int]]
    events: list[DecodedEvent]
    fetch_seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    #: the ``events`` table rows, built with the decoding (rows.event_rows)
    event_rows: Optional[EventRows] = None


@dataclass
class RawBatch:
    """A fetch as the node answered it (parsed JSON, not yet checked or decoded)."""
    from_block: int
    to_block: int
    end: dict[str, Any]
    #: a list of log dicts, or the compiled parser's LogBatch (gateway.indexer.native)
    logs: Any
    headers: dict[int, Optional[dict[str, Any]]]
    timings: dict[str, float] = field(default_factory=dict)
    #: logs of the busiest block in the whole answer this chunk was cut from
    busiest_block: int = 0


@dataclass(frozen=True)
class FetchSettings:
    """How ranges are sized and rows built."""
    #: logs per fetched chunk the range sizing aims at (IndexerConfig.target_events)
    target_events: int
    max_range: int
    #: SQLAlchemy dialect name of the database the ``events`` rows are built for
    dialect: str
    #: eth_getLogs answers of a multi-block range longer than this are refused unread (the range is
    #: halved, as for a node's "too many results"); None: no limit (IndexerConfig.max_response_bytes)
    max_response_bytes: Optional[int] = None
    #: parse and decode in the compiled module when it is here (gateway.indexer.native)
    native: bool = True


#: ``on_range(range, message)``: the range changed; ``message`` says why when a too-large answer
#: shrank it (None when it only grew or narrowed with the density)
RangeListener = Callable[[int, Optional[str]], None]


class Fetcher:
    """Fetches, checks and decodes block ranges, and sizes them (``range``, ``busiest``)."""

    def __init__(self, rpc: RpcClient, decoder: Decoder, settings: FetchSettings, initial_range: int,
                 on_range: Optional[RangeListener] = None) -> None:
        self.rpc = rpc
        self.decoder = decoder
        self.addresses = decoder.addresses
        self.settings = settings
        self.range = max(1, min(initial_range, settings.max_range))
        #: (logs in the busiest block seen, its fetch's last block): caps range growth (:meth:`density`)
        self.busiest: tuple[float, int] = (0.0, 0)
        self.on_range = on_range
        #: the eth_getLogs reply parser (None: ledger.rpc.loads)
        self.parse = native.parse_logs_reply if settings.native and native.AVAILABLE else None

    def _range_changed(self, message: Optional[str] = None) -> None:
        if self.on_range is not None:
            self.on_range(self.range, message)

    def fetch_raw_adaptive(self, a: int, target: int) -> list[RawBatch]:
        settings = self.settings
        while True:
            b = min(a + self.range - 1, target)
            try:
                with gc_paused():
                    raws = self.fetch_raw(a, b)
            except RpcError as exc:
                if exc.range_too_large and b > a:
                    self.range = max(1, (b - a + 1) // 2)
                    self._range_changed(f"range {a}-{b} too large ({exc.message}): now {self.range} blocks")
                    continue
                raise
            n = sum(len(r.logs) for r in raws)
            size = b - a + 1
            target_events = settings.target_events
            density = self.density(a)
            busiest = max(r.busiest_block for r in raws)
            if busiest >= density:
                self.busiest = (float(busiest), b)
                density = float(busiest)
            if n > 2 * target_events and size > 1:
                # aim straight at target_events (a dense stretch of chain)
                self.range = max(1, min(size // 2, size * target_events // n))
            elif n < target_events // 2 and size == self.range:
                self.range = min(settings.max_range, self.range * 2)
            # never wider than what the busiest recent block says fits in 2 * target_events: after
            # a sparse stretch the next answer may be as dense as the last dense one, and a whole
            # answer is parsed in memory at once (this is what bounds the memory of a backfill)
            if density >= 1:
                self.range = max(1, min(self.range, int(2 * target_events // density)))
            self._range_changed()
            return raws

    def density(self, at: int) -> float:
        """Logs in the busiest block seen lately, halved for every ``DENSITY_HALF_LIFE`` blocks
        since it was seen (a sparse stretch lets the range grow again, gradually)."""
        busiest, seen_at = self.busiest
        return float(busiest * 0.5 ** (max(0, at - seen_at) / DENSITY_HALF_LIFE))

    def fetch(self, a: int, b: int) -> FetchedBatch:
        return self.decode(self.fetch_raw(a, b, split=False)[0])

    def fetch_raw(self, a: int, b: int, split: bool = True) -> list[RawBatch]:
        """The node's answers for ``[a, b]`` (I/O and JSON parsing only): header(b), the logs and
        the headers of a, b and every block with a log.

        With ``split``, an answer of more than ``2 * target_events`` logs (a range that ran into a
        dense stretch of chain) is handed on as consecutive chunks of about ``target_events``
        logs, cut at block boundaries (the headers of the blocks after each cut are fetched in
        the same batch), so the decoded events of one answer never all sit in memory at once.
        Each chunk is still checked on its own, and the writer checks that each continues the
        one before (parent hash)."""
        t0 = time.perf_counter()
        end = self.rpc.header(b)
        if end is None:
            raise ChainChanged(f"node has no block {b} any more")
        # one block cannot be split: its answer is read whatever its size
        logs = self.rpc.get_logs(self.addresses, a, b, max_bytes=self.settings.max_response_bytes if b > a else None,
                                 parse=self.parse)
        t1 = time.perf_counter()
        batch = native.is_batch(logs)
        per_block: dict[int, int] = {}
        if batch:
            per_block = logs.block_counts()
        else:
            for entry in logs:
                n = int(entry["blockNumber"], 16)
                per_block[n] = per_block.get(n, 0) + 1
        numbers = {a, b, *per_block}
        cuts: list[int] = []  # last block of every chunk but the last
        target = max(1, self.settings.target_events)
        if split and len(logs) > 2 * target:
            acc = 0
            for n in sorted(per_block):
                acc += per_block[n]
                if acc >= target and n < b:
                    cuts.append(n)
                    numbers.add(n + 1)
                    acc = 0
        headers = self.rpc.headers(numbers)
        t2 = time.perf_counter()
        timings = {"get_logs": t1 - t0, "headers": t2 - t1}
        busiest = max(per_block.values(), default=0)
        if not cuts:
            return [RawBatch(a, b, end, logs, headers, timings, busiest)]
        parts: list[Any]
        if batch:
            parts = logs.split(cuts)
        else:
            parts = [[] for _ in range(len(cuts) + 1)]
            for entry in logs:
                parts[bisect.bisect_left(cuts, int(entry["blockNumber"], 16))].append(entry)
        del logs
        out = []
        lo = a
        for i, part in enumerate(parts):
            hi = cuts[i] if i < len(cuts) else b
            hi_header = headers.get(hi) if hi != b else end
            if hi_header is None:
                raise ChainChanged(f"node has no block {hi} any more")
            out.append(RawBatch(lo, hi, hi_header, part, headers, timings if i == 0 else {}, busiest))
            lo = hi + 1
        return out

    def decode(self, raw: RawBatch) -> FetchedBatch:
        """Check that the answers are of one chain, decode the logs, attach block timestamps."""
        t2 = time.perf_counter()
        a, b, end, logs, headers = raw.from_block, raw.to_block, raw.end, raw.logs, raw.headers
        last = headers.get(b)
        if last is None or last["hash"] != end["hash"]:
            raise ChainChanged(f"block {b} changed during the fetch")
        first = headers.get(a)
        if first is None:
            raise ChainChanged(f"node has no block {a} any more")
        if not native.is_batch(logs):  # (the compiled parser leaves an answer with a removed log to Python)
            for entry in logs:
                if entry.get("removed"):
                    raise ChainChanged("removed log in eth_getLogs answer")
        # COPY text: PostgreSQL's COPY takes it; so does SQLite's compiled writer (Store.write_chunk)
        copy = len(logs) > COPY_MIN_EVENTS and (self.settings.dialect == "postgresql" or (
            self.settings.dialect == "sqlite" and self.settings.native and native.sqlite_runner() is not None))
        events, args_json, copy_text = self.decoder.decode_batch(logs, copy)
        timestamps: dict[int, int] = {}
        blocks: list[tuple[int, str, str, int]] = []
        for n in sorted({e.block_number for e in events}):
            header = headers[n]
            if header is None:
                raise ChainChanged(f"node has no block {n} any more")
            ts = int(header["timestamp"], 16)
            timestamps[n] = ts
            blocks.append((n, header["hash"].lower(), header["parentHash"].lower(), ts))
        hashes = {n: h for n, h, _, _ in blocks}
        for e in events:
            if e.block_hash != hashes[e.block_number]:
                raise ChainChanged(f"log of block {e.block_number} is from another chain")
            e.timestamp = timestamps[e.block_number]
        rows: EventRows
        if copy_text is not None:  # (the logs were in order)
            rows = EventRows(len(events), copy_text=copy_text)
        else:
            if args_json is None:
                events.sort(key=lambda e: (e.block_number, e.log_index))
            elif not logs.is_sorted():  # the same stable sort, carrying each event's JSON along
                order = sorted(range(len(events)), key=lambda i: (events[i].block_number, events[i].log_index))
                events = [events[i] for i in order]
                args_json = [args_json[i] for i in order]
            rows = event_rows(events, self.settings.dialect, args_json)
        t3 = time.perf_counter()
        timings = dict(raw.timings, decode=t3 - t2)
        return FetchedBatch(from_block=a, to_block=b, to_hash=end["hash"].lower(),
                            first_parent_hash=first["parentHash"].lower(), blocks=blocks, events=events,
                            fetch_seconds=sum(timings.values()), timings=timings, event_rows=rows)


def put_unless_aborted(q: queue.Queue[Any], item: Any, abort: threading.Event) -> bool:
    """Put ``item`` on the bounded queue ``q``, waiting while it is full; False (not put) as soon
    as ``abort`` is set (its reader stopped)."""
    while not abort.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


def produce(fetcher: Fetcher, start: int, target: int, emit: Callable[[Any], bool],
            stopped: Callable[[], bool], depth: int = 1) -> None:
    """Fetch, check and decode ``[start, target]`` chunk by chunk, handing each
    :class:`FetchedBatch` to ``emit`` in order, then ``None``; an exception is handed on instead
    (and ends it). ``emit`` returns False when its reader is gone: this ends at once.

    Two stages: a fetch thread (eth_getLogs and headers, JSON parsing) ahead of the decoding in
    the calling thread, joined by a queue of ``depth`` answers. ``stopped()`` stops the fetching
    at the next range; what was fetched is still handed on, then ``None``, so a reader waiting
    for the next chunk always gets one or the end."""
    raw_q: queue.Queue[Any] = queue.Queue(maxsize=max(1, depth))
    abort = threading.Event()

    def put(item: Any) -> bool:
        return put_unless_aborted(raw_q, item, abort)

    def fetch() -> None:
        a = start
        try:
            while a <= target and not abort.is_set() and not stopped():
                raws = fetcher.fetch_raw_adaptive(a, target)
                a = raws[-1].to_block + 1
                while raws:
                    if not put(raws.pop(0)):
                        return
            put(None)
        except BaseException as exc:  # handed on by the decoding stage
            put(exc)

    thread = threading.Thread(target=fetch, name="indexer-fetch", daemon=True)
    thread.start()
    try:
        while True:  # until the fetch thread's end (None or its exception) or the reader is gone
            item = raw_q.get()
            if isinstance(item, RawBatch):
                with gc_paused():
                    item = fetcher.decode(item)
            if not emit(item) or not isinstance(item, FetchedBatch):
                return
    except BaseException as exc:
        emit(exc)
    finally:
        abort.set()
        thread.join()
