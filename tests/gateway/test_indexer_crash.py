"""Crash safety: the indexer (a subprocess) is SIGKILLed at random points of a backfill and
restarted; the final index equals a fresh one. The node is restarted mid-run, the indexer recovers."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text

from gateway.indexer.store import make_engine
from gateway.indexer.sync import IndexerConfig
from ledger.deploy import write_deployment
from tests.gateway.indexer_fixtures import LiveIndexer, Node, index_once, new_db, node, start_node

ROOT = Path(__file__).resolve().parents[2]


def indexer_process(node: Node, url: str, state_dir: Path, *extra: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "gateway.indexer", "--rpc-url", node.rpc_url, "--database-url", url,
           "--state-dir", str(state_dir), "--json", *extra]
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def checkpoint(url: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            value = conn.execute(text("SELECT last_block FROM indexer_state WHERE id = 1")).scalar()
        return -1 if value is None else int(value)
    except Exception:
        return -1
    finally:
        engine.dispose()


def test_sigkill_during_backfill_resumes_exactly(node: Node, new_db: Callable[[], str], tmp_path: Path) -> None:
    node.market.activity(150)
    write_deployment(tmp_path, node.market.record)
    head = node.head()[0]
    url = new_db()
    rng = random.Random(1234)
    kills = 0
    mid_backfill = 0
    # one block per batch: many commits, so a kill lands anywhere (before, inside, after a commit)
    args = ("--max-range", "1", "--initial-range", "1")
    for _ in range(5):
        before = checkpoint(url)
        proc = indexer_process(node, url, tmp_path, *args)
        # kill at a random moment shortly after the first new commit (the indexer is fast: a fixed
        # sleep would often land after the end of the backfill)
        deadline = time.monotonic() + 60
        while proc.poll() is None and checkpoint(url) <= before and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.03))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.wait()
        reached = checkpoint(url)
        if 0 <= reached < head:
            mid_backfill += 1
    proc = indexer_process(node, url, tmp_path, *args)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()[-2000:]
    done = json.loads(out.decode().strip().splitlines()[-1])
    assert done["type"] == "done" and done["last_block"] == head
    assert kills >= 1 and mid_backfill >= 1, (kills, mid_backfill)
    assert index_once(node, url) == index_once(node, new_db())


def test_node_restarted_mid_run(new_db: Callable[[], str], tmp_path: Path) -> None:
    state_file = tmp_path / "anvil-state.json"
    node = start_node(state_file=state_file)
    try:
        node.market.activity(20)
        url = new_db()
        live = LiveIndexer(node, url, IndexerConfig(poll_interval=0.05))
        with live:
            live.wait_synced()
            port = node.anvil.port
            node.anvil.stop()  # SIGTERM: anvil writes its state file
            time.sleep(1.0)  # the indexer keeps polling a dead node and retries
            assert live.error is None
            node.anvil.port = port
            node.anvil.start()
            node.market.mints(5)
            live.wait_synced(timeout=90)
            live_hash = live.hash()
        assert live_hash == index_once(node, new_db())
    finally:
        node.anvil.stop()
