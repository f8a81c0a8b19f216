"""The body of `dataledger index` (the typer command in dataledger/cli/ calls :func:`index_command`),
plus ``python -m gateway.indexer`` (the same command, gateway settings as defaults).

    index_command(rpc_url, database_url, state_dir, follow=False, confirmations=0,
                  max_range=1000, json_output=False) -> exit code

Runs ``alembic upgrade head``, reads the deployment record ``<state_dir>/deployments/<chainId>.json``
of the node's chain, and indexes every contract it lists: a backfill to the head, then (``follow``)
the head as it moves, until Ctrl-C / SIGTERM. A rich progress bar shows blocks, events/s and lag;
``json_output`` prints one JSON object per line instead (progress at most every 0.5 s, then a
summary), for scripts and tests.

Exit codes: 0 done, 1 unexpected error, 2 no deployment record / database of another chain or
contract set, 3 another indexer holds the writer lock (``wait_for_lock=False``), 4 this indexer
lost the writer lock while writing (its PostgreSQL lock session ended: another indexer may have
taken over; see gateway.indexer.leader), 130 interrupted.

On PostgreSQL several indexers may run at once: one writes, the others are standbys that print
one ``standby: ...`` progress message naming the writer and take over when it dies.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Optional

from gateway.indexer import leader
from gateway.indexer.store import IndexerLockError, StateMismatch, make_engine, migrate, write_dump
from gateway.indexer.sync import Indexer, IndexerConfig, Progress
from ledger.rpc import NodeUnavailable, RpcClient, RpcError


def _print_json(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, sort_keys=True) + "\n")
    sys.stdout.flush()


def index_command(rpc_url: str, database_url: str, state_dir: Path | str, follow: bool = False,
                  confirmations: int = 0, max_range: int = 1000, json_output: bool = False,
                  wait_for_lock: bool = True, until_block: Optional[int] = None,
                  config: Optional[IndexerConfig] = None) -> int:
    from ledger.deployment import Deployment
    from ledger.errors import LedgerError

    cfg = config or IndexerConfig()
    cfg.confirmations = confirmations
    cfg.max_range = max_range
    cfg.wait_for_lock = wait_for_lock

    def fail(code: int, message: str) -> int:
        if json_output:
            _print_json({"type": "error", "code": code, "message": message})
        else:
            from rich.console import Console

            Console(stderr=True).print(f"[red]dataledger index:[/red] {message}")
        return code

    try:
        rpc = RpcClient(rpc_url, timeout=10)
        try:
            chain_id = rpc.chain_id()
        finally:
            rpc.close()
    except (NodeUnavailable, RpcError) as exc:
        return fail(1, f"node at {rpc_url} unreachable: {exc}")
    try:
        deployment = Deployment.require(Path(state_dir), chain_id)
    except LedgerError as exc:
        return fail(2, f"{exc} (deploy the contracts first)")
    migrate(database_url)
    engine = make_engine(database_url)

    reporter = _JsonReporter() if json_output else _RichReporter(follow)
    indexer = Indexer(rpc_url, engine, deployment, cfg, on_progress=reporter.update)

    previous: dict[signal.Signals, Any] = {}

    def on_signal(signum: int, _frame: Any) -> None:
        indexer.stop()
        leader.stop_waiting()  # a standby stops waiting for the lock

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, on_signal)
    lost = threading.Event()
    leader.reset_waiting()

    def on_lost() -> None:
        lost.set()
        indexer.stop()

    leader.add_lost_handler(on_lost)
    t0 = time.monotonic()
    cpu0 = time.process_time()
    code = 0
    try:
        with reporter:
            state = indexer.run(follow=follow, until_block=until_block)
        summary = {"type": "done", "chain_id": chain_id, "last_block": state.last_block,
                   "events_total": state.events_total, "reorgs": state.reorgs,
                   "seconds": round(time.monotonic() - t0, 3),
                   # CPU of this process (all its threads) over the same time
                   "cpu_seconds": round(time.process_time() - cpu0, 3), "stopped": indexer._stop.is_set(),
                   # who parsed and decoded the logs: the compiled module (native/) or Python
                   "decoder": "compiled" if indexer.fetcher.parse is not None else "python"}
        if json_output:
            _print_json(summary)
        else:
            from rich.console import Console

            Console(stderr=True).print(f"indexed chain {chain_id} to block {state.last_block}: "
                                       f"{state.events_total:,} events, {state.reorgs} reorgs "
                                       f"({summary['seconds']}s)")
        if indexer._stop.is_set() and follow:
            code = 0
        if lost.is_set():
            code = fail(4, "lost the writer lock (the database session holding it ended); stopped writing")
    except leader.StandbyStopped:
        if json_output:
            _print_json({"type": "done", "chain_id": chain_id, "standby": True, "stopped": True})
        code = 0
    except IndexerLockError as exc:
        code = fail(3, str(exc))
    except StateMismatch as exc:
        code = fail(2, str(exc))
    except KeyboardInterrupt:
        code = 130
    finally:
        leader.remove_lost_handler(on_lost)
        indexer.close()
        engine.dispose()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return code


def dump_command(database_url: str, out: Path | str) -> str:
    """Write the canonical dump of ``database_url`` to ``out``; returns its sha256."""
    engine = make_engine(database_url)
    try:
        return write_dump(engine, Path(out))
    finally:
        engine.dispose()


class _JsonReporter:
    def __init__(self) -> None:
        self.last = 0.0

    def __enter__(self) -> _JsonReporter:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def update(self, p: Progress) -> None:
        now = time.monotonic()
        if p.message or now - self.last >= 0.5:
            self.last = now
            _print_json({"type": "progress", "last_block": p.last_block, "head_block": p.head_block,
                         "lag": p.lag, "events_total": p.events_total,
                         "events_per_second": round(p.events_per_second, 1), "reorgs": p.reorgs,
                         "message": p.message})


class _RichReporter:
    def __init__(self, follow: bool) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as Bar

        self.console = Console(stderr=True)
        self.bar = Bar(TextColumn("[bold]indexing[/bold] block"), MofNCompleteColumn(), BarColumn(),
                       TextColumn("{task.fields[events]:>10,} events  {task.fields[rate]:>9,.0f} ev/s  "
                                  "lag {task.fields[lag]} blocks"),
                       TimeElapsedColumn(), console=self.console, transient=False)
        self.task: Any = None

    def __enter__(self) -> _RichReporter:
        self.bar.start()
        self.task = self.bar.add_task("index", total=None, events=0, rate=0.0, lag="?")
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def update(self, p: Progress) -> None:
        if self.task is None:
            return
        done = max(0, p.last_block - p.start_block + 1)
        total = max(done, p.target_block - p.start_block + 1)
        self.bar.update(self.task, completed=done, total=total, events=p.events_total, rate=p.events_per_second,
                        lag=p.lag)
        if p.message:
            self.bar.console.print(p.message)


def main(argv: Optional[list[str]] = None) -> int:
    """``python -m gateway.indexer ARGS``: ``dataledger index ARGS`` with the gateway's settings as
    defaults (STATE_DIR, DATABASE_URL, RPC_URL; see gateway.core.config); returns the exit code."""
    from dataledger.cli import run
    from gateway.core.config import get_settings

    settings = get_settings()
    args = sys.argv[1:] if argv is None else argv
    return run(["--rpc", settings.RPC_URL, "--state-dir", str(settings.STATE_DIR), "index",
                "--database-url", settings.DATABASE_URL, *args])
