"""Indexer benchmark: backfill >= 200,000 real contract events into SQLite and PostgreSQL, next to
raw eth_getLogs speed and web3.py's contract.events.X.get_logs decode path (same run, same chain),
head lag with ``anvil --block-time 1``, peak RSS, and a cProfile summary.

Event load: real DataVoucher.issue calls (each emits VoucherIssued + the ERC-721 Transfer) and
voucher transfers (Transfer), sent by three registered holders as eth_sendTransaction JSON-RPC
batches with explicit nonces while anvil's automine is off, then mined by evm_mine in blocks of
a few thousand transactions (``--disable-block-gas-limit``). No helper contract: every event is
emitted by the deployed market's own contracts through their public functions.

Each backfill runs as ``python -m gateway.indexer --json`` in a subprocess (its peak RSS comes
from its own VmHWM, bench/proc.py; CPU time from wait4); the profile is a separate in-process run into a scratch SQLite file.

Runs alternate (raw fetch, SQLite, PostgreSQL, Ponder on PostgreSQL, Ponder on PGlite, then the
same again), and each backfill's rate is compared with the raw fetch measured just before it.
Ponder 0.16 (npm, bench/ponder/: its own package.json and lock file, installed by ``make bench``
only) indexes the same chain with an app written as a Ponder user would (vouchers and voucher
transfers), and its tables are compared with ours row by row. Ponder finalises blocks 30 below
the head on an unknown chain and indexes only finalised blocks in its backfill, so 64 empty
blocks are mined on top of the load before anything is measured (both index the same events).

Bounded memory: a replaying JSON-RPC node (bench/replay.py) serves the recorded chain stretched
to ``INDEXER_BENCH_LONG_EVENTS`` (10^6) events, and both backends backfill it.

    .venv/bin/python -m bench indexer         (INDEXER_BENCH_EVENTS=50000 for a quicker run)
"""

from __future__ import annotations

import contextlib
import cProfile
import io
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Optional

import httpx
from web3 import Web3

from bench import replay
from bench.proc import HighWater, tree_cpu_seconds, tree_rss_kib
from bench.report import Goal, check, report, run_main
from dataledger.dev.anvil import AnvilNode, free_port
from dataledger.dev.postgres import PostgresCluster
from gateway.indexer.store import make_engine, migrate
from gateway.indexer.sync import Indexer, IndexerConfig
from ledger.deploy import write_deployment
from ledger.deployment import Deployment
from ledger.rpc import RpcClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.gateway.indexer_workload import HOLDERS, Market, setup_market  # noqa: E402

TARGET_EVENTS = int(os.environ.get("INDEXER_BENCH_EVENTS", "200000"))
LONG_EVENTS = int(os.environ.get("INDEXER_BENCH_LONG_EVENTS", "1000000"))
ROUNDS = int(os.environ.get("INDEXER_BENCH_ROUNDS", "2"))
TX_PER_SEND = 1000
#: goals (issue 16), ratios only: backfill rate / raw eth_getLogs rate, / Ponder's rate, peak RSS
GOAL_X_RAW = 0.5
GOAL_X_PONDER = 10.0
GOAL_RSS_MIB = 300
PONDER_DIR = ROOT / "bench" / "ponder"


def _post(client: httpx.Client, url: str, payload: Any) -> Any:
    reply = client.post(url, json=payload)
    reply.raise_for_status()
    return reply.json()


def generate(node: AnvilNode, w3: Web3, market: Market, target_events: int) -> dict[str, Any]:
    """Issue and transfer vouchers until the chain holds >= target_events events."""
    url = node.rpc_url
    client = httpx.Client(timeout=300)
    voucher = market.contracts["DataVoucher"]
    now = int(w3.eth.get_block("latest")["timestamp"])
    asset = {h: market.register_asset(h) for h in HOLDERS}
    gas = 260_000
    nonces = {h: w3.eth.get_transaction_count(market.addr[h]) for h in HOLDERS}
    _post(client, url, {"jsonrpc": "2.0", "id": 1, "method": "evm_setAutomine", "params": [False]})
    t0 = time.monotonic()
    issue_data = {h: voucher.functions.issue(market.addr[h], asset[h], 0, b"\x11" * 32, now - 60, now + 10 ** 8, 5,
                                            True)._encode_transaction_data() for h in HOLDERS}
    events = 0
    next_token = market.next_token
    owned: dict[str, list[int]] = {h: [] for h in HOLDERS}
    transfer_selector = voucher.functions.transferFrom(market.addr[HOLDERS[0]], market.addr[HOLDERS[1]], 1)
    transfers = 0
    rounds = 0
    while events < target_events:
        rounds += 1
        calls: dict[str, list[dict[str, Any]]] = {h: [] for h in HOLDERS}
        for i, h in enumerate(HOLDERS):
            # every 4th round moves the holder's vouchers on to the next holder (1 event each)
            if rounds % 4 == 0 and owned[h]:
                to = HOLDERS[(i + 1) % len(HOLDERS)]
                for token in owned[h][:TX_PER_SEND]:
                    data = transfer_selector.w3.codec.encode(["address", "address", "uint256"],
                                                             [market.addr[h], market.addr[to], token])
                    calls[h].append({"from": market.addr[h], "to": voucher.address, "gas": hex(gas),
                                     "data": "0x23b872dd" + data.hex()})
                owned[h] = owned[h][TX_PER_SEND:]
                transfers += len(calls[h])
                events += len(calls[h])
            else:
                for _ in range(TX_PER_SEND):
                    calls[h].append({"from": market.addr[h], "to": voucher.address, "gas": hex(gas),
                                     "data": issue_data[h]})
                    owned[h].append(next_token)
                    next_token += 1
                    events += 2
        errors: list[Any] = []

        def send(h: str, txs: list[dict[str, Any]], errors: list[Any] = errors) -> None:
            c = httpx.Client(timeout=300)
            payload = []
            for j, tx in enumerate(txs):
                tx = dict(tx, nonce=hex(nonces[h] + j), gasPrice=hex(10 ** 10))
                payload.append({"jsonrpc": "2.0", "id": j, "method": "eth_sendTransaction", "params": [tx]})
            nonces[h] += len(txs)
            replies = _post(c, url, payload)
            errors.extend(r["error"] for r in replies if "error" in r)
            c.close()

        # one holder's batch per block: token ids are then assigned in the order counted above
        for h in HOLDERS:
            send(h, calls[h])
            if errors:
                raise RuntimeError(f"load generation: {errors[:3]}")
            _post(client, url, {"jsonrpc": "2.0", "id": 1, "method": "evm_mine", "params": []})
    _post(client, url, {"jsonrpc": "2.0", "id": 1, "method": "evm_setAutomine", "params": [True]})
    market.next_token = next_token
    failed = 0
    for n in range(1, w3.eth.block_number + 1):
        for receipt in _post(client, url, {"jsonrpc": "2.0", "id": 1, "method": "eth_getBlockReceipts",
                                           "params": [hex(n)]})["result"] or []:
            failed += receipt["status"] != "0x1"
    if failed:
        raise RuntimeError(f"load generation: {failed} transactions reverted")
    return {"seconds": time.monotonic() - t0, "transfers": transfers, "head": w3.eth.block_number}


def raw_fetch(rpc_url: str, addresses: list[str], start: int, end: int, blocks_per_call: int) -> tuple[int, float]:
    rpc = RpcClient(rpc_url)
    t0 = time.perf_counter()
    n = 0
    a = start
    while a <= end:
        b = min(end, a + blocks_per_call - 1)
        n += len(rpc.get_logs(addresses, a, b))
        a = b + 1
    seconds = time.perf_counter() - t0
    rpc.close()
    return n, seconds


def web3_path(w3: Web3, market: Market, start: int, end: int, limit_events: int) -> tuple[int, float]:
    """contract.events.X.get_logs (web3's decode path) over blocks until ~limit_events events."""
    voucher = market.contracts["DataVoucher"]
    n = 0
    t0 = time.perf_counter()
    a = start
    while a <= end and n < limit_events:
        b = min(end, a + 1)
        n += len(voucher.events.VoucherIssued.get_logs(from_block=a, to_block=b))
        n += len(voucher.events.Transfer.get_logs(from_block=a, to_block=b))
        a = b + 1
    return n, time.perf_counter() - t0


def backfill_subprocess(rpc_url: str, url: str, state_dir: Path,
                        beside: Optional[dict[str, int]] = None) -> dict[str, Any]:
    """One ``python -m gateway.indexer --json`` backfill: its summary, peak RSS, wall time, and
    CPU seconds: the indexer's own (wait4) and those of the processes ``beside`` it (name -> pid:
    the node, the PostgreSQL server) over the same time."""
    migrate(url)
    beside = beside or {}
    before = {name: tree_cpu_seconds(pid) for name, pid in beside.items()}
    cmd = [sys.executable, "-m", "gateway.indexer", "--rpc-url", rpc_url, "--database-url", url,
           "--state-dir", str(state_dir), "--json"]
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    peak = HighWater(proc.pid)
    out, err = _communicate(proc)
    _, status, rusage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    cpu = {"indexer": rusage.ru_utime + rusage.ru_stime}
    cpu.update({name: tree_cpu_seconds(pid) - before[name] for name, pid in beside.items()})
    peak.stop()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"indexer failed: {err.decode()[-2000:]}")
    done = json.loads(out.decode().strip().splitlines()[-1])
    done["peak_rss_mib"] = peak.kib / 1024
    done["wall_seconds"] = wall
    done["load"] = os.getloadavg()[0]
    done["cpu"] = {name: round(seconds, 2) for name, seconds in cpu.items()}
    return done


def _communicate(proc: subprocess.Popen[bytes]) -> tuple[bytes, bytes]:
    """stdout and stderr of ``proc`` read to the end without reaping it (wait4 does)."""
    assert proc.stdout is not None and proc.stderr is not None
    chunks: list[bytes] = []
    reader = threading.Thread(target=lambda: chunks.append(proc.stderr.read()))  # type: ignore[union-attr]
    reader.start()
    out = proc.stdout.read()
    reader.join()
    return out, chunks[0]


def fresh_postgres(pg: PostgresCluster) -> str:
    """The cluster's database, emptied (each backfill starts from nothing)."""
    engine = make_engine(pg.url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA IF EXISTS bench CASCADE")
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()
    return pg.url


#: what warm_postgres writes into a new cluster before the first measured backfill
WARM_UP_SQL = "CREATE TABLE warm_up AS SELECT g, md5(g::text) AS m FROM generate_series(1, 2000000) AS g"


def warm_postgres(pg: PostgresCluster) -> float:
    """Write and drop a 2x10^6-row table (~250 MB of WAL) in the new cluster; its seconds.

    The first large write into a new cluster is slower than the next ones: on the 2-core machine
    of 2026-12-03 the same backfill took 6.65 s into a new cluster and 5.23 / 5.13 s after it (a
    PostgreSQL server in service is past its first writes). Without this the first round's
    PostgreSQL backfill, ours (Ponder's runs after it), paid for it alone. With it, the first
    backfill took 5.03 s and the next 5.00 s."""
    t0 = time.perf_counter()
    engine = make_engine(pg.url)
    with engine.begin() as conn:
        conn.exec_driver_sql(WARM_UP_SQL)
        conn.exec_driver_sql("DROP TABLE warm_up")
    engine.dispose()
    return time.perf_counter() - t0


def postmaster_pid(pg: PostgresCluster) -> int:
    return int((pg.datadir / "postmaster.pid").read_text().split()[0])


def cpu_budget(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median CPU seconds of a kind of backfill: the indexer's during its backfill (the ``done``
    line's ``cpu_seconds``; its start, imports and migrations are not in ``seconds`` either), the
    node's and PostgreSQL's over the indexer's whole lifetime (outside the backfill they answer a few
    queries). Their sum allows no backfill shorter than sum / cores on this machine."""
    cores = os.cpu_count() or 1
    names = sorted({name for r in runs for name in r["cpu"]} - {"indexer"})
    cpu = {"indexer": round(statistics.median(r["cpu_seconds"] for r in runs), 2)}
    cpu.update({name: round(statistics.median(r["cpu"].get(name, 0.0) for r in runs), 2) for name in names})
    total = round(sum(cpu.values()), 2)
    seconds = statistics.median(r["seconds"] for r in runs)
    return {"cpu_seconds": cpu, "sum": total, "cores": cores, "floor_seconds": round(total / cores, 2),
            "busy": round(total / (cores * seconds), 2), "seconds": round(seconds, 2),
            "indexer_process_cpu_seconds": round(statistics.median(r["cpu"]["indexer"] for r in runs), 2)}


def ponder_run(rpc_url: str, record: dict[str, Any], workdir: Path, database_url: Optional[str]) -> dict[str, Any]:
    """``ponder start`` of bench/ponder on the chain until /ready; wall time from start to ready,
    its backfill duration (Ponder's own log), peak RSS of its process tree, and its two tables."""
    voucher = record["contracts"]["DataVoucher"]
    abi = workdir / "DataVoucher.abi.json"
    abi.write_text(json.dumps(json.loads((ROOT / "ledger" / "artifacts" / "DataVoucher.json").read_text())["abi"]))
    port = free_port()
    env = dict(os.environ, PONDER_RPC_URL=rpc_url, PONDER_CHAIN_ID=str(record["chainId"]),
               VOUCHER_ADDRESS=voucher["address"], VOUCHER_START_BLOCK=str(voucher.get("deployBlock", 0)),
               VOUCHER_ABI=str(abi), PONDER_TELEMETRY_DISABLED="true", DATABASE_SCHEMA="bench")
    env.pop("DATABASE_URL", None)
    if database_url is not None:
        env["DATABASE_URL"] = database_url
    else:
        pglite = workdir / f"pglite-{port}"
        env["PGLITE_DIR"] = str(pglite)
    log_path = workdir / f"ponder-{port}.log"
    t0 = time.monotonic()
    with open(log_path, "wb") as log_file:
        proc = subprocess.Popen([str(PONDER_DIR / "node_modules" / ".bin" / "ponder"), "start", "--port", str(port),
                                 "--log-format", "json"], cwd=PONDER_DIR, env=env, stdout=log_file,
                                stderr=subprocess.STDOUT)
    peak = 0
    ready = False
    try:
        with httpx.Client(timeout=5) as client:
            while time.monotonic() - t0 < 3600 and proc.poll() is None:
                peak = max(peak, tree_rss_kib(proc.pid))
                try:
                    ready = client.get(f"http://127.0.0.1:{port}/ready").status_code == 200
                except httpx.HTTPError:
                    pass
                if ready:
                    break
                time.sleep(0.25)
            wall = time.monotonic() - t0
            if not ready:
                raise RuntimeError(f"ponder did not become ready: {log_path.read_text()[-2000:]}")
            peak = max(peak, tree_rss_kib(proc.pid))
            vouchers = client.get(f"http://127.0.0.1:{port}/bench/vouchers", timeout=600).json()
            transfers = client.get(f"http://127.0.0.1:{port}/bench/transfers", timeout=600).json()
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    backfill_ms = None
    events = 0
    for line in log_path.read_text().splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if entry.get("msg") == "Completed backfill indexing across all chains":
                backfill_ms = float(entry["duration"])
            if entry.get("msg") == "Indexed block range":
                events += int(entry.get("event_count", 0))
    return {"wall_seconds": wall, "backfill_seconds": (backfill_ms or 0) / 1000, "events": events,
            "peak_rss_mib": peak / 1024, "vouchers": vouchers, "transfers": transfers,
            "load": os.getloadavg()[0]}


def ours_tables(url: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Our vouchers and voucher_transfers in the shape of the Ponder app's tables."""
    engine = make_engine(url)
    with engine.connect() as conn:
        vouchers = sorted((str(r[0]), str(r[1]), r[2], r[3], str(r[4]), bool(r[5]), str(r[6])) for r in conn.exec_driver_sql(
            "SELECT voucher_id, asset_id, issuer, holder, max_uses, transferable, issued_block FROM vouchers"))
        transfers = sorted((str(r[0]), int(r[1]), str(r[2]), r[3], r[4]) for r in conn.exec_driver_sql(
            "SELECT block_number, log_index, voucher_id, from_address, to_address FROM voucher_transfers"))
    engine.dispose()
    return vouchers, transfers


def ponder_tables(result: dict[str, Any]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    vouchers = sorted((str(v["voucherId"]), str(v["assetId"]), v["issuer"].lower(), v["holder"].lower(),
                       str(v["maxUses"]), bool(v["transferable"]), str(v["issuedBlock"])) for v in result["vouchers"])
    transfers = sorted((str(t["blockNumber"]), int(t["logIndex"]), str(t["voucherId"]), t["from"].lower(),
                        t["to"].lower()) for t in result["transfers"])
    return vouchers, transfers


def long_chain(rpc_url: str, addresses: list[str], head: int, record_: dict[str, Any],
               state_dir: Path, tmp: Path) -> dict[str, Any]:
    """Backfill a replayed chain of LONG_EVENTS events into SQLite and PostgreSQL: rate, ratio to
    the raw fetch from the same replay node, peak RSS."""
    recording = replay.record(rpc_url, addresses, head)
    copies = 1 + max(0, -(-(LONG_EVENTS - recording.events) // max(1, recording.segment_events)))
    node = replay.ReplayNode(recording, copies).start()
    out: dict[str, Any] = {"events": node.events, "blocks": node.head + 1}
    pg = PostgresCluster().start()
    try:
        warm_postgres(pg)
        per_block = max(1, recording.segment_events // max(1, node.seg_len))
        n, s = raw_fetch(node.rpc_url, addresses, 0, node.head, max(1, 20000 // per_block))
        out["raw_events_per_s"] = n / s
        out["raw_load"] = os.getloadavg()[0]
        out["sqlite"] = backfill_subprocess(node.rpc_url, f"sqlite:///{tmp}/long.db", state_dir)
        out["postgres"] = backfill_subprocess(node.rpc_url, fresh_postgres(pg), state_dir)
    finally:
        node.stop()
        pg.stop()
    return out


def profile_run(rpc_url: str, contracts: dict[str, Any], workdir: Path) -> list[str]:
    url = f"sqlite:///{workdir / 'profile.db'}"
    migrate(url)
    engine = make_engine(url)
    indexer = Indexer(rpc_url, engine, contracts, IndexerConfig(prefetch=False))
    profiler = cProfile.Profile()
    profiler.enable()
    indexer.run()
    profiler.disable()
    indexer.close()
    engine.dispose()
    stream = io.StringIO()
    stats = pstats.Stats(profiler, stream=stream)
    stats.sort_stats("tottime").print_stats(14)
    lines = [line for line in stream.getvalue().splitlines() if line.strip()]
    start = next((i for i, line in enumerate(lines) if "tottime" in line), 0)
    return lines[start : start + 15]


def head_lag(seconds: float = 25.0) -> dict[str, float]:
    """Median / p99 time from a block's first appearance at the node to its commit in the index."""
    node = AnvilNode(block_time=1).start()
    try:
        w3 = Web3(Web3.HTTPProvider(node.rpc_url))
        market = setup_market(w3)
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/lag.db"
            migrate(url)
            engine = make_engine(url)
            seen: dict[int, float] = {}
            committed: dict[int, float] = {}
            stop = threading.Event()

            def watch() -> None:
                rpc = RpcClient(node.rpc_url)
                while not stop.is_set():
                    n = rpc.block_number()
                    seen.setdefault(n, time.monotonic())
                    time.sleep(0.005)
                rpc.close()

            def progress(p: Any) -> None:
                committed.setdefault(p.last_block, time.monotonic())

            def load() -> None:
                while not stop.is_set():
                    for h in HOLDERS:
                        try:
                            market.send(market.contracts["PaymentToken"].functions.mint(market.addr[h], 5),
                                        "authority", wait=False)
                        except Exception:
                            pass
                    stop.wait(0.3)

            indexer = Indexer(node.rpc_url, engine, Deployment.from_dict(market.record).entries(),
                              IndexerConfig(poll_interval=0.02), on_progress=progress)
            threads = [threading.Thread(target=f, daemon=True) for f in (watch, load)]
            runner = threading.Thread(target=lambda: indexer.run(follow=True), daemon=True)
            for t in threads + [runner]:
                t.start()
            time.sleep(seconds)
            stop.set()
            indexer.stop()
            runner.join()
            for t in threads:
                t.join()
            indexer.close()
            engine.dispose()
        first = min(seen) + 2
        lags = [committed[n] - seen[n] for n in seen if n >= first and n in committed]
        lags.sort()
        return {"p50_ms": statistics.median(lags) * 1000, "p99_ms": lags[min(len(lags) - 1, int(len(lags) * 0.99))] * 1000,
                "blocks": len(lags)}
    finally:
        node.stop()


def run() -> None:
    node = AnvilNode(extra_args=("--disable-block-gas-limit",)).start()
    pg = None
    try:
        w3 = Web3(Web3.HTTPProvider(node.rpc_url, request_kwargs={"timeout": 300}))
        market = setup_market(w3)
        gen = generate(node, w3, market, TARGET_EVENTS)
        # Ponder indexes only blocks 30 below the head in its backfill: put the load below that
        _post(httpx.Client(timeout=60), node.rpc_url, {"jsonrpc": "2.0", "id": 1, "method": "anvil_mine",
                                                       "params": [hex(64)]})
        contracts = Deployment.from_dict(market.record).entries()
        start = min(c["deployBlock"] for c in contracts.values())
        head = w3.eth.block_number
        addresses = sorted(c["address"].lower() for c in contracts.values())
        per_block = max(1, TARGET_EVENTS // max(1, gen["head"] - start))
        blocks_per_call = max(1, 20000 // per_block)

        def raw() -> dict[str, Any]:
            n, s = raw_fetch(node.rpc_url, addresses, start, head, blocks_per_call)
            return {"events": n, "seconds": s, "rate": n / s, "load": os.getloadavg()[0]}

        raw()  # warms anvil's log/receipt caches
        w3_n, w3_s = web3_path(w3, market, start, head, 20000)
        runs: dict[str, list[dict[str, Any]]] = {k: [] for k in ("sqlite", "postgres", "ponder_pg", "ponder_pglite")}
        with tempfile.TemporaryDirectory() as tmp:
            state_dir = Path(tmp)
            write_deployment(state_dir, market.record)
            pg = PostgresCluster().start()
            warm_up_seconds = warm_postgres(pg)
            sqlite_url = ""
            for i in range(ROUNDS):  # alternating runs, each with the raw fetch just before it
                for name in runs:
                    before = raw()
                    anvil = {"anvil": node.process.pid} if node.process is not None else {}
                    if name == "sqlite":
                        sqlite_url = f"sqlite:///{tmp}/bench-{i}.db"
                        result = backfill_subprocess(node.rpc_url, sqlite_url, state_dir, anvil)
                        result["tables"] = ours_tables(sqlite_url)
                    elif name == "postgres":
                        result = backfill_subprocess(node.rpc_url, fresh_postgres(pg), state_dir,
                                                     {**anvil, "postgres": postmaster_pid(pg)})
                        result["tables"] = ours_tables(pg.url)
                    else:
                        url = fresh_postgres(pg) if name == "ponder_pg" else None
                        result = ponder_run(node.rpc_url, market.record, state_dir, url)
                        result["tables"] = ponder_tables(result)
                        result["events_total"] = result["events"]
                        result["seconds"] = result["backfill_seconds"]
                    result["raw"] = before
                    runs[name].append(result)
                    print(f"  round {i + 1} {name}: {result['events_total']:,} events, {result['seconds']:.1f} s "
                          f"(wall {result['wall_seconds']:.1f} s), raw {before['rate']:,.0f}/s, "
                          f"peak RSS {result['peak_rss_mib']:.0f} MiB, load {result['load']:.1f}", flush=True)
            profile = profile_run(node.rpc_url, contracts, state_dir)
            pg.stop()
            pg = None
            long = long_chain(node.rpc_url, addresses, head, market.record, state_dir, Path(tmp))
        lag = head_lag()
    finally:
        node.stop()
        if pg is not None:
            pg.stop()

    def median(name: str, key: Any) -> float:
        return float(statistics.median(key(r) for r in runs[name]))

    def x_raw(name: str) -> float:
        return median(name, lambda r: r["events_total"] / r["seconds"] / r["raw"]["rate"])

    raw_rate = statistics.median(r["raw"]["rate"] for rs in runs.values() for r in rs)
    rows = [
        ["raw eth_getLogs (JSON-RPC + JSON parse), median", TARGET_EVENTS, "-", round(raw_rate), "-", 1.0, "-"],
        ["web3.py contract.events.X.get_logs", w3_n, round(w3_s, 2), round(w3_n / w3_s), "-",
         round(w3_n / w3_s / raw_rate, 3), "-"],
    ]
    labels = {"sqlite": "dataledger -> SQLite", "postgres": "dataledger -> PostgreSQL",
              "ponder_pg": "Ponder 0.16 -> PostgreSQL", "ponder_pglite": "Ponder 0.16 -> PGlite"}
    for name, label in labels.items():
        rows.append([label, runs[name][0]["events_total"], round(median(name, lambda r: r["seconds"]), 2),
                     round(median(name, lambda r: r["events_total"] / r["seconds"])),
                     round(max(r["peak_rss_mib"] for r in runs[name])), round(x_raw(name), 3),
                     round(median(name, lambda r: r["wall_seconds"]), 1)])
    for name in ("sqlite", "postgres"):
        result = long[name]
        rows.append([f"{labels[name]}, replayed chain", result["events_total"], result["seconds"],
                     round(result["events_total"] / result["seconds"]), round(result["peak_rss_mib"]),
                     round(result["events_total"] / result["seconds"] / long["raw_events_per_s"], 3),
                     round(result["wall_seconds"], 1)])

    def rate(name: str) -> float:
        return median(name, lambda r: r["events_total"] / r["seconds"])

    def wall_rate(name: str) -> float:
        return median(name, lambda r: r["events_total"] / r["wall_seconds"])

    def rss(name: str) -> float:
        return float(max(r["peak_rss_mib"] for r in runs[name]))

    same = {pair: runs[pair[0]][0]["tables"] == runs[pair[1]][0]["tables"]
            for pair in (("sqlite", "postgres"), ("sqlite", "ponder_pg"), ("sqlite", "ponder_pglite"))}
    n_vouchers, n_transfers = (len(t) for t in runs["sqlite"][0]["tables"])
    figures = {
        "events": runs["sqlite"][0]["events_total"], "blocks": head - start + 1, "rounds": ROUNDS,
        "generation_seconds": round(gen["seconds"], 1), "voucher_transfers": gen["transfers"],
        "raw_fetch_events_per_s": round(raw_rate), "web3_events_per_s": round(w3_n / w3_s),
        "sqlite_events_per_s": round(rate("sqlite")), "postgres_events_per_s": round(rate("postgres")),
        "sqlite_x_raw": round(x_raw("sqlite"), 3), "postgres_x_raw": round(x_raw("postgres"), 3),
        "sqlite_peak_rss_mib": round(rss("sqlite")), "postgres_peak_rss_mib": round(rss("postgres")),
        "ponder_pg_events_per_s": round(rate("ponder_pg")), "ponder_pglite_events_per_s": round(rate("ponder_pglite")),
        "ponder_pg_peak_rss_mib": round(rss("ponder_pg")), "ponder_pglite_peak_rss_mib": round(rss("ponder_pglite")),
        "x_ponder_postgres": round(rate("postgres") / rate("ponder_pg"), 2),
        "x_ponder_embedded": round(rate("sqlite") / rate("ponder_pglite"), 2),
        "x_ponder_postgres_wall": round(wall_rate("postgres") / wall_rate("ponder_pg"), 2),
        "x_ponder_embedded_wall": round(wall_rate("sqlite") / wall_rate("ponder_pglite"), 2),
        "rss_vs_ponder_postgres": round(rss("postgres") / rss("ponder_pg"), 3),
        "rss_vs_ponder_embedded": round(rss("sqlite") / rss("ponder_pglite"), 3),
        "tables_equal": {f"{a}={b}": ok for (a, b), ok in same.items()},
        "vouchers": n_vouchers, "voucher_transfers_rows": n_transfers,
        "long_events": long["events"], "long_raw_events_per_s": round(long["raw_events_per_s"]),
        "long_sqlite_events_per_s": round(long["sqlite"]["events_total"] / long["sqlite"]["seconds"]),
        "long_postgres_events_per_s": round(long["postgres"]["events_total"] / long["postgres"]["seconds"]),
        "long_sqlite_peak_rss_mib": round(long["sqlite"]["peak_rss_mib"]),
        "long_postgres_peak_rss_mib": round(long["postgres"]["peak_rss_mib"]),
        "loads": {name: [round(r["load"], 1) for r in rs] for name, rs in runs.items()},
        "head_lag_p50_ms": round(lag["p50_ms"], 1), "head_lag_p99_ms": round(lag["p99_ms"], 1),
        "head_lag_blocks": lag["blocks"], "profile_top": profile,
        "cpu_budget": {name: cpu_budget(runs[name]) for name in ("sqlite", "postgres")},
        "postgres_warm_up_seconds": round(warm_up_seconds, 2),
    }
    notes = [
        f"{figures['events']:,} events in {figures['blocks']:,} blocks: DataVoucher.issue (VoucherIssued + Transfer) "
        f"and {gen['transfers']:,} voucher transfers, sent by 3 holders as JSON-RPC batches (generated in "
        f"{gen['seconds']:.0f}s), then 64 empty blocks.",
        f"{ROUNDS} alternating rounds (raw fetch before each backfill; each rate is compared with the raw fetch just "
        "before it, medians reported). dataledger: `python -m gateway.indexer --json` subprocesses, events/s from the "
        "first fetch to the last commit. Ponder: `ponder start` of bench/ponder, events/s over the backfill duration "
        "Ponder logs ('Completed backfill indexing'); wall = process start to /ready for Ponder, to exit for ours. "
        "RSS: peak of the process (tree, for Ponder).",
        f"Load averages per run: {figures['loads']}.",
        "The PostgreSQL cluster (one for all rounds, a new one for the replayed chain) is new: before the first "
        "backfill it writes and drops a 2x10^6-row table (bench_indexer.warm_postgres, "
        f"{figures['postgres_warm_up_seconds']} s), as a server in service is past its first large writes.",
        f"Tables: vouchers ({n_vouchers:,}) and voucher transfers ({n_transfers:,}) equal row by row: "
        + ", ".join(f"{a} vs {b}: {'yes' if ok else 'NO'}" for (a, b), ok in same.items()) + ".",
        f"Replayed chain (bench/replay.py: the recorded chain with its load segment repeated): {long['events']:,} "
        f"events, raw fetch {long['raw_events_per_s']:,.0f}/s (load {long['raw_load']:.1f}).",
        *(f"CPU seconds of a {labels[name]} backfill (medians of the rounds; the indexer's during its backfill, "
          f"{budget['indexer_process_cpu_seconds']} s with its start): "
          + ", ".join(f"{k} {v}" for k, v in budget["cpu_seconds"].items())
          + f"; sum {budget['sum']} on {budget['cores']} cores: no backfill can take less than "
            f"{budget['floor_seconds']} s here (it took {budget['seconds']} s: cores {budget['busy']:.0%} busy)."
          for name, budget in figures["cpu_budget"].items()),
        f"Head lag (anvil --block-time 1, poll 20 ms, mints every 0.3 s): p50 {lag['p50_ms']:.0f} ms, "
        f"p99 {lag['p99_ms']:.0f} ms over {lag['blocks']} blocks (first seen at the node -> committed).",
        "cProfile of a sequential (no prefetch) SQLite run, by own time:",
        *profile,
    ]
    long_label = f"{long['events']:,} replayed events"
    goals = [
        Goal("indexer backfill SQLite / raw eth_getLogs", figures["sqlite_x_raw"], GOAL_X_RAW, op=">=", unit="x"),
        Goal("indexer backfill PostgreSQL / raw eth_getLogs", figures["postgres_x_raw"], GOAL_X_RAW, op=">=", unit="x"),
        Goal("indexer backfill PostgreSQL / Ponder on PostgreSQL", figures["x_ponder_postgres"], GOAL_X_PONDER,
             op=">=", unit="x"),
        Goal("indexer backfill SQLite / Ponder on PGlite", figures["x_ponder_embedded"], GOAL_X_PONDER, op=">=",
             unit="x"),
        Goal(f"indexer peak RSS, {long_label}, SQLite", figures["long_sqlite_peak_rss_mib"], GOAL_RSS_MIB, op="<=",
             unit=" MiB"),
        Goal(f"indexer peak RSS, {long_label}, PostgreSQL", figures["long_postgres_peak_rss_mib"], GOAL_RSS_MIB,
             op="<=", unit=" MiB"),
        Goal("vouchers and voucher transfers equal: SQLite, PostgreSQL, Ponder (PostgreSQL, PGlite)",
             int(all(same.values())), 1, op=">=", unit=""),
    ]
    report("indexer", "Indexer backfill (events/s) vs raw eth_getLogs, web3.py decode and Ponder",
           ["path", "events", "seconds", "events/s", "peak RSS MiB", "x raw fetch", "wall s"], rows, figures, notes,
           goals=goals)
    check("indexer", goals)


if __name__ == "__main__":
    sys.exit(run_main(run))
