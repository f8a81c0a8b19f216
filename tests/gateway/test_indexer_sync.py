"""Backfill, idempotence, determinism across databases, adaptive ranges, read-your-writes,
metrics, migrations and the single-writer lock."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Optional

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlmodel import SQLModel

from gateway.indexer import metrics
from gateway.indexer.cli import index_command
from gateway.indexer.status import tx_status
from gateway.indexer.store import IndexerLockError, Store, dump_hash, make_engine, writer_lock
from gateway.indexer.sync import Indexer, IndexerConfig
from gateway.models import include_name
from ledger.deploy import write_deployment
from ledger.rpc import RpcError
from tests.gateway.indexer_fixtures import (
    Node,
    contracts_of,
    index_once,
    new_db,
    new_postgres_database,
    node,
)


def count(url: str, table: str) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar() or 0)
    finally:
        engine.dispose()


def test_backfill_every_event_once_and_rerun_is_noop(node: Node, new_db: Callable[[], str]) -> None:
    node.market.activity(40)
    url = new_db()
    first = index_once(node, url, IndexerConfig(initial_range=3, max_range=7))
    logs = node.rpc("eth_getLogs", {"fromBlock": "0x0", "toBlock": "latest",
                                    "address": [c["address"] for c in contracts_of(node).values()]})
    assert count(url, "events") == len(logs)
    assert index_once(node, url) == first  # nothing new: same rows
    assert first == index_once(node, new_db(), IndexerConfig(initial_range=50))  # batch sizes do not matter
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM vouchers")).scalar() == len(node.market.vouchers)
        owners = dict(conn.execute(text("SELECT voucher_id, holder FROM vouchers")).all())
    engine.dispose()
    for token, holder in node.market.vouchers.items():
        assert owners[token] == node.market.addr[holder].lower()


def test_same_range_twice_no_duplicates(node: Node, new_db: Callable[[], str]) -> None:
    node.market.activity(10)
    url = new_db()
    engine = make_engine(url)
    indexer = Indexer(node.rpc_url, engine, contracts_of(node))
    indexer.run()
    state = indexer.state
    assert state is not None
    before = dump_hash(engine)
    batch = indexer.fetcher.fetch(indexer.start_block, state.last_block)
    assert batch.events
    assert indexer._apply(batch, state.last_block) is False  # does not continue the checkpoint: skipped
    store = Store(engine)
    with pytest.raises(sa_exc.IntegrityError):  # and the keys refuse it anyway
        with engine.begin() as conn:
            store.write_batch(conn, [], batch.events, state, record_undo=False)
    assert dump_hash(engine) == before
    indexer.close()
    engine.dispose()


def test_sqlite_and_postgres_give_identical_dumps(node: Node, tmp_path: Path, postgres_url: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The same index on both databases, each with its default queue depth (2 on PostgreSQL, 1 on
    SQLite: the backfill's two queues are made that deep) and with the other one."""
    import queue

    from gateway.indexer.store import migrate

    depths: list[int] = []

    class Recorded(queue.Queue):  # type: ignore[type-arg]
        def __init__(self, maxsize: int = 0) -> None:
            super().__init__(maxsize)
            depths.append(maxsize)

    monkeypatch.setattr(queue, "Queue", Recorded)
    node.market.activity(30)
    sqlite_url = f"sqlite:///{tmp_path / 'a.db'}"
    pg_url = new_postgres_database(postgres_url)
    migrate(sqlite_url)
    migrate(pg_url)
    expected = index_once(node, sqlite_url, IndexerConfig(initial_range=2, max_range=2))
    assert depths == [1, 1]  # the pipelined backfill's decode -> write and fetch -> decode queues
    depths.clear()
    assert index_once(node, pg_url, IndexerConfig(initial_range=2, max_range=2)) == expected
    assert depths == [2, 2]
    for url, depth in ((f"sqlite:///{tmp_path / 'b.db'}", 2), (new_postgres_database(postgres_url), 1)):
        depths.clear()
        migrate(url)
        assert index_once(node, url, IndexerConfig(initial_range=2, max_range=2, queue_depth=depth)) == expected
        assert depths == [depth, depth], (url, depths)


def test_the_backfill_queue_depth_is_by_database_unless_set() -> None:
    assert IndexerConfig().depth_for("postgresql") == 2
    assert IndexerConfig().depth_for("sqlite") == 1
    assert IndexerConfig(queue_depth=3).depth_for("sqlite") == 3
    assert IndexerConfig(queue_depth=1).depth_for("postgresql") == 1
    assert IndexerConfig(queue_depth=0).depth_for("postgresql") == 1


def test_projections_are_a_pure_function_of_events(node: Node, new_db: Callable[[], str]) -> None:
    node.market.activity(30)
    url = new_db()
    indexed = index_once(node, url)
    engine = make_engine(url)
    with engine.begin() as conn:
        Store(engine).rebuild_projections(conn)
    assert dump_hash(engine) == indexed
    engine.dispose()


def _index_with_shrinking_ranges(node: Node, new_db: Callable[[], str], indexer: Indexer, engine: Any,
                                 get_logs: Callable[..., list[dict[str, Any]]]) -> None:
    """Index to the head through ``get_logs`` (which refuses some ranges): the range shrank, the
    index reached the head, and it equals an index made without the refusals."""
    indexer.rpc.get_logs = get_logs  # type: ignore[method-assign]
    shrinks = metrics.snapshot()["counters"]["range_shrinks"]
    indexer.run()
    assert metrics.snapshot()["counters"]["range_shrinks"] > shrinks
    assert indexer.state is not None and indexer.state.last_block == node.head()[0]
    indexer.close()
    assert dump_hash(engine) == index_once(node, new_db())
    engine.dispose()


def test_range_shrinks_on_too_many_results(node: Node, new_db: Callable[[], str]) -> None:
    node.market.activity(20)
    url = new_db()
    engine = make_engine(url)
    indexer = Indexer(node.rpc_url, engine, contracts_of(node), IndexerConfig(initial_range=64, max_range=64))
    real = indexer.rpc.get_logs

    def limited(addresses: list[str], a: int, b: int, **kw: Any) -> list[dict[str, Any]]:
        if b - a + 1 > 4:
            raise RpcError("eth_getLogs", -32005, "query returned more than 10000 results")
        return real(addresses, a, b, **kw)

    _index_with_shrinking_ranges(node, new_db, indexer, engine, limited)


def test_an_answer_over_max_response_bytes_halves_the_range_and_one_block_is_read_whole(
        node: Node, new_db: Callable[[], str]) -> None:
    """The byte limit on an eth_getLogs answer: a multi-block answer over it is refused unread and
    the range halved (the index is the same as without the limit); a one-block range is read whole
    even when that one block's answer is over the limit (it cannot be split)."""
    node.market.activity(20)
    addresses = [c["address"] for c in contracts_of(node).values()]
    # the compact JSON of each block's logs: the node's answer for that block alone is longer (it
    # is wrapped in the JSON-RPC reply), so with the largest as the limit, that block's own answer
    # is over it, and so is every range holding it
    sizes = {n: len(json.dumps(node.rpc("eth_getLogs", {"fromBlock": hex(n), "toBlock": hex(n), "address": addresses}),
                               separators=(",", ":"))) for n in range(node.head()[0] + 1)}
    biggest = max(sizes, key=lambda n: sizes[n])
    limit = sizes[biggest]
    url = new_db()
    engine = make_engine(url)
    indexer = Indexer(node.rpc_url, engine, contracts_of(node),
                      IndexerConfig(initial_range=64, max_range=64, max_response_bytes=limit))
    real = indexer.rpc.get_logs
    answers: list[tuple[int, int, Optional[int], int]] = []  # (from, to, max_bytes, logs or -1: refused)

    def recorded(addresses: list[str], a: int, b: int, **kw: Any) -> list[dict[str, Any]]:
        try:
            logs = real(addresses, a, b, **kw)
        except RpcError as exc:
            assert exc.range_too_large and "response size" in exc.message
            answers.append((a, b, kw.get("max_bytes"), -1))
            raise
        answers.append((a, b, kw.get("max_bytes"), len(logs)))
        return logs

    _index_with_shrinking_ranges(node, new_db, indexer, engine, recorded)
    # every multi-block range was asked with the limit, every one-block range without it
    assert answers and all((m == limit) == (b > a) for a, b, m, _ in answers)
    # the ranges holding the block whose answer is over the limit were refused until it was
    # fetched alone, and taken whole
    holding = [(a, b, n) for a, b, _, n in answers if a <= biggest <= b]
    assert holding[-1] == (biggest, biggest, holding[-1][2]) and holding[-1][2] > 0
    assert len(holding) > 1 and all(n == -1 and b > a for a, b, n in holding[:-1])


def test_tx_status_read_your_writes(node: Node, new_db: Callable[[], str]) -> None:
    m = node.market
    url = new_db()
    engine = make_engine(url)
    index_once(node, url)
    assert tx_status(node.rpc_url, engine, "0x" + "ab" * 32).state == "unknown"
    receipt = m.send(m.contracts["PaymentToken"].functions.mint(m.addr["holder_a"], 5), "authority")
    tx_hash = "0x" + bytes(receipt["transactionHash"]).hex()
    status = tx_status(node.rpc_url, engine, tx_hash)
    assert status.state == "pending" and status.block_number == receipt["blockNumber"]
    index_once(node, url)
    status = tx_status(node.rpc_url, engine, tx_hash)
    assert (status.state, status.block_number) == ("indexed", receipt["blockNumber"])
    bad = m.contracts["PaymentToken"].functions.transfer(m.addr["holder_b"], 10 ** 30).transact(
        {"from": m.addr["holder_c"], "gas": 200_000})
    node.w3.eth.wait_for_transaction_receipt(bad)
    assert tx_status(node.rpc_url, engine, "0x" + bytes(bad).hex()).state == "reverted"
    node.rpc("evm_setAutomine", False)
    queued = m.contracts["PaymentToken"].functions.mint(m.addr["holder_a"], 5).transact({"from": m.addr["authority"],
                                                                                         "gas": 200_000})
    assert tx_status(node.rpc_url, engine, "0x" + bytes(queued).hex()).state == "pending"
    node.rpc("evm_setAutomine", True)
    engine.dispose()


def test_metrics_render(node: Node, new_db: Callable[[], str]) -> None:
    node.market.activity(5)
    url = new_db()
    index_once(node, url)
    engine = make_engine(url)
    body = metrics.render(engine)
    engine.dispose()
    for name in ("dataledger_indexer_events_indexed_total", "dataledger_indexer_reorgs_total",
                 "dataledger_indexer_lag_blocks", "dataledger_indexer_batch_duration_seconds_bucket",
                 "dataledger_index_last_block", "dataledger_index_lag_blocks"):
        assert name in body
    head = node.head()[0]
    parsed = {s.name: s.value for f in text_string_to_metric_families(body) for s in f.samples if not s.labels}
    assert parsed["dataledger_index_last_block"] == head


def test_migrations_match_models(new_db: Callable[[], str]) -> None:
    url = new_db()
    engine = make_engine(url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"include_name": include_name}), SQLModel.metadata)
    engine.dispose()
    assert diff == []


def test_single_writer(node: Node, new_db: Callable[[], str], tmp_path: Path) -> None:
    url = new_db()
    write_deployment(tmp_path, node.market.record)
    engine = make_engine(url)
    with writer_lock(engine, wait=False):
        with pytest.raises(IndexerLockError, match="another indexer is writing this database"):
            with writer_lock(make_engine(url), wait=False):
                pass
        assert index_command(node.rpc_url, url, tmp_path, json_output=True, wait_for_lock=False) == 3
    # readers are never blocked, and once released the indexer runs
    assert index_command(node.rpc_url, url, tmp_path, json_output=True, wait_for_lock=False) == 0
    engine.dispose()


def test_cli_json_and_missing_record(node: Node, new_db: Callable[[], str], tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    url = new_db()
    assert index_command(node.rpc_url, url, tmp_path / "nowhere", json_output=True) == 2
    write_deployment(tmp_path, node.market.record)
    assert index_command(node.rpc_url, url, tmp_path, json_output=True, max_range=5) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[-1]["type"] == "done" and lines[-1]["last_block"] == node.head()[0]


def test_released_content_hash_indexes_two_assets_with_one_hash(node: Node, new_db: Callable[[], str]) -> None:
    """Issue 11 (squatting): after the registrar releases a revoked asset's hash, the rightful holder
    registers it again. The indexer keeps both assets (one revoked) with that hash, and the
    ContentReleased event decoded, on SQLite and PostgreSQL."""
    from tests.gateway.indexer_workload import content

    m = node.market
    ar = m.contracts["AssetRegistry"]
    cid, digest = content()
    m.send(ar.functions.registerAsset(cid, digest, 2, 1), "holder_hk")
    squat = int(ar.functions.assetOfContent(digest).call())
    m.send(ar.functions.revoke(squat, "registered a dataset it does not hold"), "regulator")
    m.send(ar.functions.releaseContentHash(digest, m.addr["holder_a"], "ruling 17"), "authority")
    m.send(ar.functions.registerAsset(cid, digest, 2, 1), "holder_a")
    legit = int(ar.functions.assetOfContent(digest).call())
    m.next_asset = legit + 1
    m.assets.setdefault("holder_hk", []).append(squat)
    m.assets.setdefault("holder_a", []).append(legit)
    url = new_db()
    index_once(node, url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT asset_id, status, content_hash FROM assets WHERE asset_id IN (:a, :b) "
                                     "ORDER BY asset_id"), {"a": squat, "b": legit}).all()
            released = conn.execute(text("SELECT args FROM events WHERE event = 'ContentReleased'")).all()
    finally:
        engine.dispose()
    assert [(r[0], r[1]) for r in rows] == [(squat, "revoked"), (legit, "active")]
    assert rows[0][2] == rows[1][2] and rows[0][2].lower().endswith(digest.hex())
    args = [json.loads(r[0]) for r in released]
    assert any(a["claimant"].lower() == m.addr["holder_a"].lower() and int(a["assetId"]) == squat for a in args)


def test_a_stop_from_another_thread_ends_a_pipelined_backfill(node: Node, new_db: Callable[[], str]) -> None:
    """A stop from another thread (the CLI's SIGTERM handler, a supervisor) may come while the
    writer waits for the next chunk: the decode stage must still hand on what was fetched and
    then the end, or the writer waits forever. Here the fetch thread lets the writer catch up
    with everything before its 4th range (the writer and the decode stage then wait), stops the
    indexer, waits a little more and only then fetches."""
    node.market.activity(30)
    url = new_db()
    engine = make_engine(url)
    indexer = Indexer(node.rpc_url, engine, contracts_of(node),
                      IndexerConfig(initial_range=2, max_range=2, target_events=1000))
    fetch_raw_adaptive = indexer.fetcher.fetch_raw_adaptive
    calls = []

    def fetch_then_stop(a: int, target: int) -> Any:
        calls.append(a)
        if len(calls) == 4:
            time.sleep(1.0)  # the writer writes what came before and waits for the next chunk
            indexer.stop()
            time.sleep(0.5)
        return fetch_raw_adaptive(a, target)

    indexer.fetcher.fetch_raw_adaptive = fetch_then_stop  # type: ignore[method-assign]
    runner = threading.Thread(target=indexer.run, daemon=True)
    runner.start()
    runner.join(timeout=30)
    assert not runner.is_alive(), "the backfill did not end after stop()"
    state = indexer.state
    assert state is not None and 0 < state.last_block < node.head()[0]  # stopped part way
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM events")).scalar() == state.events_total
    engine.dispose()


def test_the_chunk_size_is_by_database_unless_set(postgres_url: str) -> None:
    """5,000 logs per chunk on PostgreSQL, 4,000 on SQLite; a set ``target_events`` wins on both,
    and the fetcher of an indexer on each database aims at that size."""
    assert IndexerConfig().target_for("postgresql") == 5000
    assert IndexerConfig().target_for("sqlite") == 4000
    for dialect in ("postgresql", "sqlite"):
        assert IndexerConfig(target_events=7).target_for(dialect) == 7
        assert IndexerConfig(target_events=0).target_for(dialect) == 1
    contracts = {"DataVoucher": {"address": "0x" + "11" * 20}}
    for url, config, expected in (("sqlite://", IndexerConfig(), 4000), (postgres_url, IndexerConfig(), 5000),
                                  (postgres_url, IndexerConfig(target_events=300), 300)):
        engine = make_engine(url)
        indexer = Indexer("http://127.0.0.1:9", engine, contracts, config)
        try:
            assert indexer.fetcher.settings.target_events == expected, url
        finally:
            indexer.close()
            engine.dispose()
