"""The sync loop: block ranges, head following, reorgs, crash-safe checkpoints.

One round:

1. ask the node for its head; the target is ``head - confirmations`` (0 for instant-finality QBFT);
2. fetch ``[a, b]`` ranges from the checkpoint on (``a = last_block + 1``). A fetch is
   ``header(b)``, then ``eth_getLogs`` over every followed contract, then the headers of ``a``, ``b``
   and every block with a log, in one batch. It is accepted only when ``header(b)`` did not change
   during the fetch (so the logs are of one chain) and every log's ``blockHash`` is the header's;
3. the batch continues the index only when ``header(a).parentHash`` is the checkpoint hash;
   otherwise the chain reorganised below the checkpoint: walk back over the stored blocks to the
   highest one whose hash the node still has (the common ancestor), roll back above it (events,
   blocks, projections: see gateway.indexer.store) and go on from there. When no stored block is
   on the node's chain any more (another chain with the same chain id and addresses, e.g. a dev
   node restarted with a new genesis), stop with :class:`ChainMismatch` instead (CLI exit code 2);
4. when idle at the head, the checkpoint block's hash is re-checked on each poll, so a reorg that
   keeps the height (anvil_reorg) or shortens the chain (anvil_rollback, evm_revert) is seen too.

Range size adapts: it doubles while a batch holds fewer than ``target_events`` logs (never above
``max_range``, e.g. Besu's 1000 blocks), halves when a batch holds more than twice that, and
halves and retries when the node answers "too many results" / "query returned more than" / a
timeout. It never exceeds ``2 * target_events`` divided by the logs of the busiest block seen
lately (that density halves every ``DENSITY_HALF_LIFE`` blocks): without this cap the range grew
over a sparse stretch and the next answer held a whole dense stretch (tens of thousands of logs,
parsed in memory at once). A backfill runs as a pipeline of three stages joined by bounded queues: a fetch thread
(eth_getLogs, headers, JSON parsing), a decode thread (one-chain checks, decoding; both in
gateway.indexer.fetch) and the writer
(the calling thread; SQLite and psycopg release the GIL while they work). An answer holding more
than twice ``target_events`` logs is cut into chunks at block boundaries, so memory is bounded by
the queue depth times the chunk size, not by the length of the chain.

The writer writes chunk after chunk into one open transaction (each must continue the previous
one: ``header(a).parentHash`` = the previous chunk's last hash) and commits it with the checkpoint
of its last chunk once it holds ``commit_events`` events, after ``commit_seconds``, or when no
chunk is waiting. So the checkpoint is always committed with exactly the rows before it, and a
crash (even SIGKILL) resumes exactly after the last commit.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Optional

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from gateway.indexer import metrics, projections
from gateway.indexer.decode import Decoder, canonical_json
from gateway.indexer.fetch import (
    ChainChanged,
    FetchedBatch,
    Fetcher,
    FetchSettings,
    gc_paused,
    produce,
    put_unless_aborted,
)
from gateway.indexer.store import (
    DEFERRABLE_INDEXES,
    BatchRows,
    State,
    StateMismatch,
    Store,
    create_indexes,
    drop_indexes,
    fetch_wanted,
    missing_indexes,
    writer_lock,
)
from gateway.services.documents import DocumentFetcher
from ledger.deployment import Deployment
from ledger.rpc import NodeUnavailable, RpcClient, RpcError

log = logging.getLogger("gateway.indexer")

ZERO_HASH = "0x" + "00" * 32


class ChainMismatch(StateMismatch):
    """None of the indexed blocks is on the node's chain: the database was built from another chain
    (e.g. a dev node restarted with a new genesis but the same deployment addresses)."""


@dataclass
class IndexerConfig:
    #: index only blocks at least this deep below the head (0: instant finality, QBFT)
    confirmations: int = 0
    #: largest eth_getLogs block range (Besu's default limit is 1000)
    max_range: int = 1000
    initial_range: int = 10
    #: logs per fetched chunk the range sizing aims at (bigger: fewer node round trips and database
    #: statements, more memory; at most ``2 * queue_depth + 3`` chunks are in memory at once,
    #: whatever the chain length); None: by database (:meth:`target_for`)
    target_events: Optional[int] = None
    #: an eth_getLogs answer longer than this (bytes) is not read on: the range is halved and
    #: fetched again, like a node's own "too many results" (a range that grew over a sparse stretch
    #: can run into a dense one before the density cap knows of it; the answer is parsed in memory
    #: at once). A one-block range is read whole, whatever its size. None: no limit
    max_response_bytes: Optional[int] = 16 * 2**20
    #: parse and decode the logs, and project DataVoucher's ``VoucherIssued`` and ``Transfer``, in
    #: the compiled module when it was built (gateway.indexer.native); False: in Python (the same
    #: results, slower)
    native: bool = True
    #: backfill pipeline: chunks waiting between fetch -> decode and decode -> write; None: by
    #: database (:meth:`depth_for`)
    queue_depth: Optional[int] = None
    #: backfill: the writer keeps writing chunks into one transaction and commits (with the
    #: checkpoint) once it holds this many events, after ``commit_seconds``, or when no chunk is waiting
    commit_events: int = 100000
    commit_seconds: float = 2.0
    #: seconds between head polls when caught up
    poll_interval: float = 0.1
    #: blocks below the head for which projection pre-images are kept (deeper reorgs replay)
    undo_window: int = 256
    prefetch: bool = True
    wait_for_lock: bool = True
    #: a first backfill (an index with no events yet) drops the non-unique secondary indexes and
    #: builds them once it reaches its target (store.DEFERRABLE_INDEXES); readers meanwhile get
    #: the same answers, only without those indexes (/health lists them as ``indexes_deferred``)
    defer_indexes: bool = True
    #: give up after this many seconds of an unreachable node when not following (follow retries forever)
    give_up_after: float = 60.0
    rpc_timeout: float = 60.0
    #: IPFS store the documents the chain points at are fetched from (Kubo RPC URL or an embedded
    #: store directory; gateway.services.documents); None: documents are not fetched
    ipfs: Optional[str] = None
    #: seconds one round of document fetching may take between block rounds
    documents_budget: float = 2.0

    def target_for(self, dialect: str) -> int:
        """The logs per chunk on a database of ``dialect``: ``target_events`` when set (at least 1),
        else 5,000 on PostgreSQL and 4,000 on SQLite. Each chunk is one job of the writer's
        database thread, and each of its statements gives up the interpreter lock while the server
        works and waits to win it back from the fetch, decode and writer threads (a 1 MB events
        COPY took 7-10 ms alone, 24-28 ms beside one busy Python thread): fewer, larger chunks
        wait fewer times. Against 2,500: 10^6 replayed events 39.0 / 46.3 s against 55.6 / 57.8 s on
        PostgreSQL (peak RSS 232-237 MiB against 146), 47.3 s against 58.5 s on SQLite (268 MiB
        against 214); 2x10^5 events shorter in 8 of 10 pairs on PostgreSQL, 4 of 5 on SQLite."""
        if self.target_events is not None:
            return max(1, self.target_events)
        return 5000 if dialect == "postgresql" else 4000

    def depth_for(self, dialect: str) -> int:
        """The backfill's queue depth on a database of ``dialect`` (SQLAlchemy's name): ``queue_depth``
        when set (at least 1), else 2 on PostgreSQL and 1 on SQLite. On PostgreSQL the database
        thread mostly waits for the server, and a second chunk waiting between the stages kept the
        fetch and decode threads busy meanwhile: 4-5% shorter backfills of 2x10^5 events (6 of 7
        alternating pairs), for ~10 MiB more. On SQLite the statements run in the indexer's own
        process, and the result was mixed (3 of 7 pairs shorter, 4 longer by 0.1-1.5 s)."""
        if self.queue_depth is not None:
            return max(1, self.queue_depth)
        return 2 if dialect == "postgresql" else 1


@dataclass
class Progress:
    last_block: int
    head_block: int
    target_block: int
    start_block: int
    events_total: int
    batch_events: int = 0
    batch_blocks: int = 0
    batch_seconds: float = 0.0
    events_per_second: float = 0.0
    reorgs: int = 0
    message: str = ""

    @property
    def lag(self) -> int:
        return max(0, self.head_block - self.last_block)


class Indexer:
    def __init__(self, rpc_url: str, engine: Engine, contracts: Deployment | Mapping[str, Mapping[str, Any]],
                 config: Optional[IndexerConfig] = None,
                 on_progress: Optional[Callable[[Progress], None]] = None) -> None:
        self.config = config or IndexerConfig()
        self.rpc = RpcClient(rpc_url, timeout=self.config.rpc_timeout)
        self.engine = engine
        self.store = Store(engine, compiled=self.config.native)
        if isinstance(contracts, Deployment):
            contracts = contracts.entries()
        self.contracts = {name: dict(c) for name, c in contracts.items()}
        self.decoder = Decoder({name: c["address"] for name, c in self.contracts.items()})
        self.addresses = self.decoder.addresses
        settings = FetchSettings(target_events=self.config.target_for(self.store.dialect), max_range=self.config.max_range,
                                 dialect=self.store.dialect, max_response_bytes=self.config.max_response_bytes,
                                 native=self.config.native)
        self.fetcher = Fetcher(self.rpc, self.decoder, settings, self.config.initial_range,
                               on_range=self._range_changed)
        self.start_block = min((int(c.get("deployBlock", 0)) for c in self.contracts.values()), default=0)
        self.on_progress = on_progress
        self.state: Optional[State] = None
        self.chain_id: Optional[int] = None
        self._stop = threading.Event()
        self._reorg_pending = False
        #: deferrable indexes missing from the database (dropped by a first backfill, maybe one a
        #: kill interrupted): built once the index reaches the target of a round
        self._deferred: list[Any] = []
        self._head = 0
        self._rate_window: list[tuple[float, int]] = []
        self.documents: Optional[DocumentFetcher] = None
        self._documents_at = 0.0
        if self.config.ipfs:
            self.documents = DocumentFetcher(engine, self.config.ipfs, budget=self.config.documents_budget)

    # ------------------------------------------------------------ lifecycle

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self.rpc.close()

    def run(self, follow: bool = False, until_block: Optional[int] = None) -> State:
        """Index up to the head (``until_block`` caps it); with ``follow`` keep following until stop()."""
        on_wait = lambda message: self._emit(message=message)  # noqa: E731
        with writer_lock(self.engine, wait=self.config.wait_for_lock, on_wait=on_wait):
            self._init_state()
            down_since: Optional[float] = None
            delay = 0.1
            while not self._stop.is_set():
                try:
                    progressed = self._round(until_block)
                    down_since, delay = None, 0.1
                except (NodeUnavailable, RpcError, ChainChanged) as exc:
                    metrics.inc("rpc_retries")
                    now = time.monotonic()
                    if down_since is None:
                        down_since = now
                        log.warning("node error, retrying: %s", exc)
                        self._emit(message=f"node error, retrying: {exc}")
                    if not follow and now - down_since > self.config.give_up_after:
                        raise
                    self._stop.wait(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                assert self.state is not None
                # documents: bounded, never raises (blocks are never held up); idle polls at most once a second
                if self.documents is not None and (progressed or time.monotonic() - self._documents_at >= 1.0):
                    self.documents.run_once()
                    self._documents_at = time.monotonic()
                if until_block is not None and self.state.last_block >= until_block:
                    break
                if not progressed:
                    if not follow:
                        break
                    self._stop.wait(self.config.poll_interval)
            assert self.state is not None
            if self.documents is not None and not follow and not self._stop.is_set():
                self.documents.drain()  # a one-off run leaves no due document unfetched
            return self.state

    # ------------------------------------------------------------ state

    def _init_state(self) -> None:
        self.chain_id = self.rpc.chain_id()
        contracts_json = canonical_json({n: c["address"].lower() for n, c in self.contracts.items()})
        with self.engine.begin() as conn:
            state = self.store.load_state(conn)
            if state is None:
                base, base_hash = self._base()
                state = State(chain_id=self.chain_id, last_block=base, last_block_hash=base_hash,
                              contracts=contracts_json)
                self.store.init_state(conn, state)
            else:
                if state.chain_id != self.chain_id:
                    raise StateMismatch(f"the database indexes chain {state.chain_id}, the node is chain "
                                        f"{self.chain_id}: use another DATABASE_URL")
                if state.contracts != contracts_json:
                    raise StateMismatch(
                        f"the database indexes other contracts ({state.contracts}) than the deployment record "
                        f"({contracts_json}): index into a fresh database")
            self._deferred = missing_indexes(conn)
        self.state = state
        metrics.set_gauge("indexes_deferred", len(self._deferred))
        metrics.set_gauge("indexed_block", state.last_block)

    def _base(self) -> tuple[int, str]:
        """The block below the first deployment and the hash the first batch must continue from:
        the first deployment block's parentHash as the node reports it (a node whose block 0 was
        regenerated, e.g. anvil reloading ``--state``, keeps block 1's old parentHash), or the
        base block's own hash when the node does not have the deployment block yet."""
        base = self.start_block - 1
        if base < 0:
            return base, ZERO_HASH
        first = self.rpc.header(base + 1)
        if first is not None:
            return base, str(first["parentHash"]).lower()
        header = self.rpc.header(base)
        if header is None:
            raise ChainChanged(f"node has no block {base} (below the first deployment)")
        return base, str(header["hash"]).lower()

    # ------------------------------------------------------------ rounds

    def _round(self, until_block: Optional[int]) -> bool:
        assert self.state is not None
        head = self.rpc.block_number()
        self._head = head
        metrics.set_gauge("head_block", head)
        target = head - self.config.confirmations
        if until_block is not None:
            target = min(target, until_block)
        if target <= self.state.last_block:
            # at the base nothing is indexed: the next batch's parent check covers it
            if self.state.last_block >= max(0, self.start_block):
                header = self.rpc.header(self.state.last_block)
                if header is None or header["hash"] != self.state.last_block_hash:
                    self._reorg()
                    return True
            metrics.set_gauge("lag_blocks", max(0, head - self.state.last_block))
            self._build_deferred_indexes()
            self._emit(target=target)
            return False
        self._catch_up(target, head)
        if self.state.last_block >= target and not self._stop.is_set():
            self._build_deferred_indexes()
        return True

    def _defer_indexes(self) -> None:
        """Drop the deferrable secondary indexes before a first backfill (nothing indexed yet)."""
        assert self.state is not None
        if not self.config.defer_indexes or self._deferred or self.state.events_total:
            return
        try:
            with self.engine.begin() as conn:
                drop_indexes(conn, DEFERRABLE_INDEXES)
        except DBAPIError as exc:
            # e.g. a database role that may write rows but not change the schema: keep the indexes
            # (PostgreSQL rolled every drop back; whatever SQLite dropped is built at the end)
            log.warning("first backfill keeps its indexes: dropping them was refused: %s",
                        str(exc.orig).splitlines()[0] if exc.orig is not None else exc)
        with self.engine.connect() as conn:
            self._deferred = missing_indexes(conn)
        metrics.set_gauge("indexes_deferred", len(self._deferred))
        if self._deferred:
            log.info("first backfill: %d secondary indexes are built once it is done", len(self._deferred))

    def _build_deferred_indexes(self) -> None:
        if not self._deferred:
            return
        t = time.perf_counter()
        names = ", ".join(str(index.name) for index in self._deferred)
        self._emit(message=f"building the indexes deferred during the backfill: {names}")
        create_indexes(self.engine, self._deferred)
        self._deferred = []
        metrics.set_gauge("indexes_deferred", 0)
        message = f"built the deferred indexes in {time.perf_counter() - t:.2f} s"
        log.info(message)
        self._emit(message=message)

    def _catch_up(self, target: int, head: int) -> None:
        assert self.state is not None
        start = self.state.last_block + 1
        if self.config.prefetch and target - start + 1 > self.fetcher.range:
            self._catch_up_pipelined(start, target, head)
            return
        a = start
        while a <= target and not self._stop.is_set():
            batches = [self.fetcher.decode(raw) for raw in self.fetcher.fetch_raw_adaptive(a, target)]
            if not all(self._apply(batch, head) for batch in batches):
                break
            a = batches[-1].to_block + 1
        if self._reorg_pending:
            self._reorg()

    def _catch_up_pipelined(self, start: int, target: int, head: int) -> None:
        """Backfill ``[start, target]`` in stages joined by bounded queues:

        - a fetch thread: eth_getLogs and headers of the next ranges (socket I/O, JSON parsing);
        - a decode thread: the one-chain checks, the decoding and the ``events`` rows of each
          fetched chunk (both: gateway.indexer.fetch.produce);
        - this thread: writes chunk after chunk into one open transaction, each checked against
          the previous one (``first_parent_hash``), and commits it together with the checkpoint
          of its last chunk (:meth:`_commit_open`).

        Memory is bounded by the queue depth times the chunk size (``target_events``), never by
        the length of the range: written chunks are dropped, their rows live in the database.
        """
        depth = self.config.depth_for(self.engine.dialect.name)
        dec_q: queue.Queue[Any] = queue.Queue(maxsize=depth)
        abort = threading.Event()

        def put(item: Any) -> bool:
            return put_unless_aborted(dec_q, item, abort)

        self._defer_indexes()
        thread = threading.Thread(target=produce, name="indexer-decode", daemon=True,
                                  args=(self.fetcher, start, target, put,
                                        lambda: abort.is_set() or self._stop.is_set(), depth))
        thread.start()
        database = self.engine.url.database
        in_memory = self.engine.dialect.name == "sqlite" and (not database or database == ":memory:")
        # an in-memory SQLite database is one per thread: no database thread for it
        writer = _OpenTransaction(self, head) if in_memory else _PipelinedTransaction(self, head)
        # no automatic collection while the three stages run (it kept traversing every chunk in
        # flight, ~6% of a backfill); the young generations are collected after each commit
        # instead, so cyclic garbage of the chunks written so far is freed (bounded memory)
        paused = gc_paused()
        paused.__enter__()
        # the interpreter's switch interval (5 ms) is kept: 0.5 ms here (earlier, so that the
        # writer got the GIL back sooner after each database call) cost 0.8-0.9 s more CPU per
        # 2x10^5 events on both databases in 5 of 5 alternating pairs, for no shorter run
        try:
            while True:
                item = dec_q.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                if not writer.write(item):
                    break
                del item
                if self._stop.is_set():
                    break
                if writer.due():
                    writer.commit()
                    gc.collect(1)
        finally:
            # whatever was written continues the checkpoint chunk by chunk: keep it
            # (an exception in the transaction itself rolls it back in close())
            try:
                writer.close()
            finally:
                abort.set()
                thread.join()
                paused.__exit__(None, None, None)
        if self._reorg_pending:
            self._reorg()

    # ------------------------------------------------------------ fetch

    def _range_changed(self, range_blocks: int, message: Optional[str]) -> None:
        metrics.set_gauge("range_blocks", range_blocks)
        if message is not None:
            metrics.inc("range_shrinks")
            log.info("%s", message)

    # ------------------------------------------------------------ apply

    def _apply(self, batch: FetchedBatch, head: int) -> bool:
        """Commit one batch; False when it does not continue the index (a reorg was handled)."""
        assert self.state is not None
        if batch.from_block != self.state.last_block + 1:
            return False
        if batch.first_parent_hash != self.state.last_block_hash and self.state.last_block >= 0:
            self._reorg_pending = True  # handled once the producer thread (if any) has stopped
            return False
        with gc_paused():
            return self._apply_batch(batch, head)

    def _apply_batch(self, batch: FetchedBatch, head: int) -> bool:
        writer = _OpenTransaction(self, head)
        try:
            writer.write(batch)
            writer.commit()
        finally:
            writer.close()
        return True

    def _write_chunk(self, conn: Connection, new: State, batch: FetchedBatch, head: int) -> None:
        """Write one chunk into the open transaction and move ``new`` (the checkpoint the
        transaction will commit) to its end."""
        plan = undo_plan(new.undo_from, batch, head, self.config.undo_window)
        self.store.write_batch(conn, batch.blocks, batch.events, new, plan.record, batch.event_rows)
        if plan.prune_through is not None:
            self.store.delete_undo_through(conn, plan.prune_through)
        new.undo_from = plan.undo_from
        new.last_block = batch.to_block
        new.last_block_hash = batch.to_hash
        new.head_block = max(head, self._head)
        new.events_total += len(batch.events)

    # ------------------------------------------------------------ reorgs

    def _find_ancestor(self) -> tuple[int, str]:
        assert self.state is not None
        candidates: list[tuple[int, str]] = [(self.state.last_block, self.state.last_block_hash)]
        with self.engine.connect() as conn:
            candidates += self.store.stored_blocks_below(conn, self.state.last_block, 63)
            while candidates:
                candidates = [(n, h) for n, h in candidates if n >= 0]
                headers = self.rpc.headers(n for n, _ in candidates)
                for n, h in candidates:
                    header = headers.get(n)
                    if header is not None and header["hash"].lower() == h:
                        return n, h
                lowest = min((n for n, _ in candidates), default=-1)
                candidates = self.store.stored_blocks_below(conn, lowest, 64) if lowest > 0 else []
            first_stored = self.store.lowest_stored_block(conn)
        if first_stored:
            # the search reached the base: not one indexed block (the deployment blocks included)
            # is on the node's chain. Rolling back to empty would silently swap the index for
            # another chain's; refuse instead (exit code 2 in the CLI).
            n, indexed_hash = first_stored[0]
            header = self.rpc.header(n)
            node_hash = str(header["hash"]).lower() if header is not None else "none"
            genesis = self.rpc.header(0)
            raise ChainMismatch(
                f"the chain at {self.rpc.url} is not the chain this index was built from (block {n} hash "
                f"{node_hash} != indexed {indexed_hash}; node genesis {genesis['hash'] if genesis else '?'}); "
                f"re-index into a fresh database")
        # nothing indexed above the base (no stored block): continue from the base
        return self._base()

    def _reorg(self) -> None:
        assert self.state is not None
        self._reorg_pending = False
        old = self.state.last_block
        ancestor, ancestor_hash = self._find_ancestor()
        new = dataclasses.replace(self.state)
        with self.engine.begin() as conn:
            method = self.store.rollback(conn, new, ancestor, ancestor_hash)
            new.reorgs += 1
            self.store.save_state(conn, new)
        self.state = new
        metrics.inc("reorgs")
        metrics.set_gauge("indexed_block", new.last_block)
        message = f"reorg: rolled back blocks {ancestor + 1}..{old} ({method}), common ancestor {ancestor}"
        log.warning(message)
        self._emit(message=message)

    # ------------------------------------------------------------ progress

    def _emit(self, target: Optional[int] = None, batch_events: int = 0, batch_blocks: int = 0,
              batch_seconds: float = 0.0, message: str = "") -> None:
        if self.on_progress is None:
            return
        state = self.state
        now = time.monotonic()
        total = state.events_total if state else 0
        self._rate_window.append((now, total))
        while len(self._rate_window) > 2 and now - self._rate_window[0][0] > 5:
            self._rate_window.pop(0)
        t_first, e_first = self._rate_window[0]
        rate = (total - e_first) / (now - t_first) if now > t_first else 0.0
        self.on_progress(Progress(
            last_block=state.last_block if state else -1, head_block=self._head,
            target_block=target if target is not None else self._head, start_block=self.start_block,
            events_total=total, batch_events=batch_events, batch_blocks=batch_blocks,
            batch_seconds=batch_seconds, events_per_second=rate, reorgs=state.reorgs if state else 0,
            message=message))


@dataclass(frozen=True)
class UndoPlan:
    """What one chunk does with the undo log (the pre-images a reorg near the head rolls back)."""

    #: record the pre-images of the state rows this chunk changes
    record: bool
    #: forget the pre-images of blocks up to this one (deeper than the window below the head)
    prune_through: Optional[int]
    #: the checkpoint's ``undo_from`` once the chunk is written
    undo_from: Optional[int]


def undo_plan(undo_from: Optional[int], batch: FetchedBatch, head: int, window: int) -> UndoPlan:
    """The undo log's part of writing ``batch``, for the sequential and the pipelined writer alike.
    Pre-images start with the first chunk reaching within ``window`` blocks of the head, and once
    started they are recorded for every later chunk (no holes in the coverage); those of blocks
    more than ``window`` below the head are pruned."""
    record = undo_from is not None or batch.to_block > head - window
    if record and undo_from is None:
        undo_from = batch.from_block
    floor = head - window
    if record and undo_from is not None and floor >= undo_from:
        return UndoPlan(True, floor, floor + 1)
    return UndoPlan(record, None, undo_from)


class _OpenTransaction:
    """The writer's open transaction: chunks are written into it one after the other, each
    continuing the previous one, and :meth:`commit` saves the checkpoint of the last chunk in the
    same transaction (the checkpoint = rows rule: a crash keeps all of it or none of it)."""

    def __init__(self, indexer: Indexer, head: int) -> None:
        self.indexer = indexer
        self.head = head
        self.conn: Optional[Connection] = None
        self.new: Optional[State] = None
        self.started = 0.0
        self.events = 0
        self.blocks = 0
        self.fetch_seconds = 0.0
        self.broken = False

    def write(self, batch: FetchedBatch) -> bool:
        """Write ``batch`` into the transaction; False (nothing written) when it does not continue
        the last written chunk (or the checkpoint): a reorg is then pending."""
        ix = self.indexer
        assert ix.state is not None
        if not self._continues(batch):
            return False
        if self.conn is None:
            self.conn = ix.engine.connect()
            self.conn.begin()
            self.new = dataclasses.replace(ix.state)
            self.started = time.perf_counter()
        assert self.new is not None
        try:
            with gc_paused():
                ix._write_chunk(self.conn, self.new, batch, self.head)
        except BaseException:
            self.broken = True  # a chunk half written: the whole transaction is rolled back
            raise
        self._count(batch)
        return True

    def _count(self, batch: FetchedBatch) -> None:
        self.events += len(batch.events)
        self.blocks += batch.to_block - batch.from_block + 1
        self.fetch_seconds += batch.fetch_seconds

    def _continues(self, batch: FetchedBatch) -> bool:
        """Whether ``batch`` continues the last written chunk (or the checkpoint); when its parent
        hash does not, a reorg is pending (handled once the pipeline threads have stopped)."""
        ix = self.indexer
        assert ix.state is not None
        last = self.new or ix.state
        if batch.from_block != last.last_block + 1:
            return False
        if batch.first_parent_hash != last.last_block_hash and last.last_block >= 0:
            ix._reorg_pending = True
            return False
        return True

    def due(self) -> bool:
        cfg = self.indexer.config
        return self.new is not None and (self.events >= cfg.commit_events
                                         or time.perf_counter() - self.started >= cfg.commit_seconds)

    def commit(self) -> None:
        if self.conn is None:
            return
        new = self.new
        assert new is not None
        self.indexer.store.save_state(self.conn, new)
        self.conn.commit()
        self.conn.close()
        self.conn = None
        self._committed(new)

    def _committed(self, new: State) -> None:
        ix = self.indexer
        ix.state = new
        self.new = None
        seconds = time.perf_counter() - self.started
        metrics.observe_batch(seconds + self.fetch_seconds)
        metrics.inc("blocks_indexed", self.blocks)
        metrics.inc("events_indexed", self.events)
        metrics.set_gauge("indexed_block", new.last_block)
        metrics.set_gauge("lag_blocks", max(0, new.head_block - new.last_block))
        ix._emit(target=self.head - ix.config.confirmations, batch_events=self.events,
                 batch_blocks=self.blocks, batch_seconds=seconds)
        self.events = self.blocks = 0
        self.fetch_seconds = 0.0

    def close(self) -> None:
        """Commit what was written (it continues the checkpoint chunk by chunk); roll back when the
        transaction itself failed."""
        if self.conn is None:
            return
        try:
            if not self.broken:
                self.commit()
        finally:
            if self.conn is not None:
                with contextlib.suppress(Exception):
                    self.conn.rollback()
                self.conn.close()
                self.conn = None
                self.new = None


class _Aborted(RuntimeError):
    """A database job after one that failed: the transaction is rolled back, never committed."""


class _PipelinedTransaction(_OpenTransaction):
    """The backfill writer's open transaction, with its statements run on a database thread.

    The writer thread projects chunk after chunk in Python, and hands each chunk's statements
    (blocks, events, projection rows, undo) to the database thread, which runs them in order on
    the transaction's connection while the writer projects the next chunk. The state rows a
    chunk reads are loaded by a query queued *before* the previous chunk's statements, and
    the previous chunk's final rows (kept in memory) override them: a row the previous chunk
    did not change is the same before and after its statements. So the writer waits for the
    database only when it is behind, and the rows written are the ones the sequential writer
    writes (the same projection code, the same statements, in the same order).

    Commit: the last chunk's statements, the checkpoint and COMMIT, in order on the database
    thread; the writer waits for it. A failed statement marks the transaction failed: every
    later job (the commit included) refuses to run, and the transaction is rolled back.
    """

    def __init__(self, indexer: Indexer, head: int) -> None:
        super().__init__(indexer, head)
        self.db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="indexer-db")
        self.db_conn: Optional[Connection] = None  # used on the database thread only
        self.failed: Optional[BaseException] = None
        #: the statements of the last projected chunk, not yet handed to the database thread
        self.pending: Optional[Callable[[Connection], None]] = None
        #: the state rows the chunks handed on leave stored (newest chunk's rows)
        self.recent: dict[str, dict[Any, dict[str, Any]]] = {}

    def _job(self, fn: Callable[[Connection], Any]) -> Callable[[], Any]:
        def run() -> Any:
            if self.failed is not None:
                raise _Aborted("an earlier statement of this transaction failed")
            try:
                if self.db_conn is None:
                    self.db_conn = self.indexer.engine.connect()
                    self.db_conn.begin()
                return fn(self.db_conn)
            except BaseException as exc:
                self.failed = exc
                raise

        return run

    def _submit(self, fn: Callable[[Connection], Any]) -> Future[Any]:
        return self.db.submit(self._job(fn))

    def _result(self, future: Future[Any]) -> Any:
        """A job's result; after a failed statement, that statement's exception."""
        try:
            return future.result()
        except _Aborted:
            self._raise_failed()
            raise

    def _call(self, fn: Callable[[Connection], Any]) -> Any:
        return self._result(self._submit(fn))

    def _flush_pending(self) -> None:
        """Hand the last projected chunk's statements to the database thread."""
        if self.pending is not None:
            self._submit(self.pending)
            self.pending = None

    def _raise_failed(self) -> None:
        if self.failed is not None:
            self.broken = True
            raise self.failed

    def write(self, batch: FetchedBatch) -> bool:
        ix = self.indexer
        assert ix.state is not None
        self._raise_failed()
        if not self._continues(batch):
            return False
        if self.new is None:
            self.new = dataclasses.replace(ix.state)
            self.started = time.perf_counter()
        new = self.new
        store = ix.store
        plan = undo_plan(new.undo_from, batch, self.head, ix.config.undo_window)
        recent = self.recent
        wanted = projections.reads_of(batch.events, store.compiled)
        missing = {t: {k for k in keys if k not in recent.get(t, ())} for t, keys in wanted.items()}
        loaded = self._submit(lambda conn: fetch_wanted(conn, missing))  # before the last chunk's statements
        self._flush_pending()
        try:
            with gc_paused():
                rows = BatchRows(None, plan.record, run=self._call)
                rows.seed_loaded(missing, self._result(loaded))
                rows.seed_written(recent)
                store.apply_events(rows, batch.events, store.compiled)
                writes = store.projected_writes(rows)
                self.recent = rows.final_rows()
        except BaseException:
            self.broken = self.broken or self.failed is not None
            raise
        blocks, events, event_rows = batch.blocks, batch.events, batch.event_rows
        prune_through = plan.prune_through

        def statements(conn: Connection) -> None:
            store.write_chunk(conn, blocks, events, event_rows, writes, prune_through)

        self.pending = statements
        new.undo_from = plan.undo_from
        new.last_block = batch.to_block
        new.last_block_hash = batch.to_hash
        new.head_block = max(self.head, ix._head)
        new.events_total += len(batch.events)
        self._count(batch)
        return True

    def commit(self) -> None:
        if self.new is None:
            return
        self._raise_failed()
        self._flush_pending()
        new = dataclasses.replace(self.new)
        store = self.indexer.store

        def finish(conn: Connection) -> None:
            store.save_state(conn, new)
            conn.commit()
            conn.close()
            self.db_conn = None

        self._call(finish)
        self._committed(new)

    def _rollback(self) -> None:
        conn, self.db_conn = self.db_conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.rollback()
            with contextlib.suppress(Exception):
                conn.close()

    def close(self) -> None:
        """Commit what was projected (it continues the checkpoint chunk by chunk), unless a
        statement failed; then roll back. Stops the database thread."""
        try:
            if self.new is not None and not self.broken and self.failed is None:
                self.commit()
        finally:
            self.pending = None
            self.new = None
            self.db.submit(self._rollback).result()
            self.db.shutdown(wait=True)


def run_indexer(rpc_url: str, database_url: str, contracts: Mapping[str, Mapping[str, Any]],
                config: Optional[IndexerConfig] = None, follow: bool = False,
                until_block: Optional[int] = None, migrate: bool = True,
                on_progress: Optional[Callable[[Progress], None]] = None) -> State:
    """Migrate the database, then index (and follow) in the calling thread."""
    from gateway.indexer.store import make_engine
    from gateway.indexer.store import migrate as run_migrations

    if migrate:
        run_migrations(database_url)
    engine = make_engine(database_url)
    indexer = Indexer(rpc_url, engine, contracts, config, on_progress=on_progress)
    try:
        return indexer.run(follow=follow, until_block=until_block)
    finally:
        indexer.close()
        engine.dispose()


def record_json(record: Mapping[str, Any]) -> str:
    return json.dumps(record, sort_keys=True)
