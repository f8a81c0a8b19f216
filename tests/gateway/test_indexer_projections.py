"""Projections of the seeded demo market (dataledger.dev.demo.seed): trades (TradeSettled carries no
assetId, the projection takes it from the voucher) and payment balances (settlement legs come from
one PaymentToken.transferFromMany call, one ERC-20 Transfer per leg) against the chain itself."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from web3 import Web3

from dataledger.dev import demo
from dataledger.dev.anvil import AnvilNode
from gateway.indexer import native
from gateway.indexer.store import dump_hash, make_engine
from gateway.indexer.sync import Indexer, IndexerConfig
from ledger.deploy import deploy_all, deployment_record, load_contracts
from ledger.deployment import Deployment
from tests.gateway.indexer_fixtures import new_db, new_postgres_database


class Demo:
    def __init__(self, anvil: AnvilNode, w3: Web3, record: dict[str, Any], contracts: dict[str, Any]) -> None:
        self.anvil, self.w3, self.record, self.contracts = anvil, w3, record, contracts


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    anvil = AnvilNode(accounts=20).start()
    try:
        w3 = Web3(Web3.HTTPProvider(anvil.rpc_url, request_kwargs={"timeout": 60}))
        accounts = demo.demo_accounts()
        record = deployment_record(w3, deploy_all(w3, accounts["authority"].address))
        contracts = load_contracts(w3, record)
        state_dir = tmp_path_factory.mktemp("demo-state")
        demo.seed(w3, contracts, Path(state_dir))
        yield Demo(anvil, w3, record, contracts)
    finally:
        anvil.stop()


def index(seeded: Demo, url: str, config: IndexerConfig | None = None) -> str:
    engine = make_engine(url)
    indexer = Indexer(seeded.anvil.rpc_url, engine, Deployment.from_dict(seeded.record).entries(), config or IndexerConfig())
    try:
        indexer.run()
        return dump_hash(engine)
    finally:
        indexer.close()
        engine.dispose()


def query(url: str, sql: str) -> list[Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql)).all())
    finally:
        engine.dispose()


def test_demo_trades_and_balances_match_chain(seeded: Demo, new_db: Callable[[], str]) -> None:
    url = new_db()
    first = index(seeded, url)
    settled = query(url, "SELECT args FROM events WHERE event = 'TradeSettled' ORDER BY block_number, log_index")
    assert len(settled) == 2, "the demo settles two trades"
    trades = query(url, "SELECT trade_id, voucher_id, asset_id, seller, buyer, price, fee FROM trades")
    assert len(trades) == len(settled), "every TradeSettled event must give a trades row"
    voucher = seeded.contracts["DataVoucher"]
    vouchers = dict(query(url, "SELECT voucher_id, asset_id FROM vouchers"))
    for _trade_id, voucher_id, asset_id, seller, buyer, price, fee in trades:
        assert asset_id == vouchers[voucher_id] == voucher.functions.assetOf(voucher_id).call()
        assert int(price) > 0 and int(fee) >= 0 and seller != buyer

    # payment_balances == balanceOf for every account the token ever touched (and the demo accounts)
    token = seeded.contracts["PaymentToken"]
    balances = {acct: int(bal) for acct, bal in query(url, "SELECT account, balance FROM payment_balances")}
    assert balances, "the demo moves payment tokens"
    accounts = set(balances) | {a.address.lower() for a in demo.demo_accounts().values()}
    for acct in sorted(accounts):
        on_chain = token.functions.balanceOf(Web3.to_checksum_address(acct)).call()
        assert balances.get(acct, 0) == on_chain, acct
    transfers = query(url, "SELECT COUNT(*) FROM events WHERE contract = 'PaymentToken' AND event = 'Transfer'")
    assert transfers[0][0] > 0

    # batch sizes and the sequential path give the same rows
    assert index(seeded, new_db(), IndexerConfig(initial_range=1, max_range=2, prefetch=False)) == first
    # and so does the Python parser and decoder (the compiled ones made the rows above)
    assert native.AVAILABLE
    assert index(seeded, new_db(), IndexerConfig(native=False)) == first


def test_pipelined_writer_equals_sequential_writer_and_its_undo_rolls_back_exactly(
        seeded: Demo, new_db: Callable[[], str]) -> None:
    """The backfill's writer projects chunk k+1 while its database thread writes chunk k, reading
    chunk k+1's rows before chunk k's statements and overriding them with chunk k's final rows.
    One block per chunk (every balance and voucher changes again in the next chunks), commits
    every few events: the same rows as the sequential writer, and the undo pre-images it records
    roll back to exactly the index of the lower block."""
    from gateway.indexer.store import Store, dump_lines

    pipelined = new_db()
    config = IndexerConfig(initial_range=1, max_range=1, target_events=1, commit_events=3)
    engine = make_engine(pipelined)
    indexer = Indexer(seeded.anvil.rpc_url, engine, Deployment.from_dict(seeded.record).entries(), config)
    try:
        state = indexer.run()
        assert indexer.fetcher.range == 1 and state.undo_from is not None  # one-block chunks, undo recorded
    finally:
        indexer.close()
    sequential = index(seeded, new_db(), IndexerConfig(initial_range=1, max_range=2, prefetch=False))
    assert dump_hash(engine) == sequential

    ancestor = (state.undo_from + state.last_block) // 2
    lower = new_db()
    lower_engine = make_engine(lower)
    lower_indexer = Indexer(seeded.anvil.rpc_url, lower_engine, Deployment.from_dict(seeded.record).entries(),
                            IndexerConfig(prefetch=False))
    try:
        lower_indexer.run(until_block=ancestor)
    finally:
        lower_indexer.close()
    store = Store(engine)
    with engine.begin() as conn:
        loaded = store.load_state(conn)
        assert loaded is not None
        ancestor_hash = str(conn.execute(text("SELECT hash FROM blocks WHERE number <= :n ORDER BY number DESC LIMIT 1"),
                                         {"n": ancestor}).scalar())
        assert store.rollback(conn, loaded, ancestor, ancestor_hash) == "undo"
    assert list(dump_lines(engine)) == list(dump_lines(lower_engine))
    engine.dispose()
    lower_engine.dispose()


def test_pipelined_writer_rolls_back_a_transaction_whose_statement_failed(
        seeded: Demo, new_db: Callable[[], str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A statement failing on the database thread fails the backfill; the open transaction is
    rolled back (never committed without the failed chunk), and a rerun gives the clean index."""
    from gateway.indexer.store import Store, dump_lines

    url = new_db()
    contracts = Deployment.from_dict(seeded.record).entries()
    config = IndexerConfig(initial_range=1, max_range=1, target_events=1, commit_events=5)
    calls = {"n": 0}
    original = Store.write_chunk  # (every chunk's rows, on either path)

    def failing(self: Store, *args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 12:
            raise RuntimeError("disk full (test)")
        original(self, *args, **kwargs)

    monkeypatch.setattr(Store, "write_chunk", failing)
    engine = make_engine(url)
    indexer = Indexer(seeded.anvil.rpc_url, engine, contracts, config)
    with pytest.raises(RuntimeError, match="disk full"):
        indexer.run()
    indexer.close()
    store = Store(engine)
    with engine.connect() as conn:
        state = store.load_state(conn)
        assert state is not None
        # the checkpoint = rows rule: nothing above the committed checkpoint, every event below it
        assert conn.execute(text("SELECT COUNT(*) FROM events WHERE block_number > :n"),
                            {"n": state.last_block}).scalar() == 0
        assert conn.execute(text("SELECT COUNT(*) FROM events")).scalar() == state.events_total
    monkeypatch.setattr(Store, "write_chunk", original)
    resumed = Indexer(seeded.anvil.rpc_url, engine, contracts, config)
    try:
        resumed.run()
    finally:
        resumed.close()
    clean_url = new_db()
    index(seeded, clean_url, IndexerConfig(prefetch=False))
    clean = make_engine(clean_url)
    assert list(dump_lines(engine)) == list(dump_lines(clean))
    engine.dispose()
    clean.dispose()


def _statement_log(engine: Any, monkeypatch: pytest.MonkeyPatch) -> dict[int, list[str]]:
    """Per database connection: "set" (synchronous_commit), "blocks" (a blocks insert or COPY,
    through psycopg or the compiled path: native.pg_runner), "commit"."""
    from sqlalchemy import event

    from gateway.indexer import native

    log: dict[int, list[str]] = {}
    real_runner = native.pg_runner

    def pg_runner() -> Any:
        run = real_runner()
        assert run is not None

        def logged(dbapi_connection: Any, ops: list[tuple[Any, ...]]) -> Any:
            for op in ops:
                if op[1].startswith(b'COPY "blocks"'):
                    log.setdefault(id(dbapi_connection), []).append("blocks")
            return run(dbapi_connection, ops)

        return logged

    monkeypatch.setattr(native, "pg_runner", pg_runner)

    @event.listens_for(engine, "before_cursor_execute")
    def statement(conn: Any, cursor: Any, sql: str, *args: Any) -> None:
        kind = "set" if "synchronous_commit" in sql else "blocks" if sql.startswith('INSERT INTO "blocks"') else ""
        if kind:
            log.setdefault(id(conn.connection.dbapi_connection), []).append(kind)

    @event.listens_for(engine, "commit")
    def commit(conn: Any) -> None:
        log.setdefault(id(conn.connection.dbapi_connection), []).append("commit")

    return log


def test_each_postgres_write_transaction_sets_synchronous_commit_off_once(seeded: Demo, postgres_url: str,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A backfill transaction writes many chunks; ``SET LOCAL synchronous_commit = off`` comes once,
    before its first row, in every transaction that writes rows (pipelined and sequential)."""
    for config in (IndexerConfig(initial_range=1, max_range=1, target_events=1, commit_events=3),
                   IndexerConfig(initial_range=1, max_range=2, prefetch=False)):
        url = new_postgres_database(postgres_url)
        from gateway.indexer.store import migrate

        migrate(url)
        engine = make_engine(url)
        log = _statement_log(engine, monkeypatch)
        indexer = Indexer(seeded.anvil.rpc_url, engine, Deployment.from_dict(seeded.record).entries(), config)
        try:
            indexer.run()
        finally:
            indexer.close()
            engine.dispose()
        writing, most_chunks = 0, 0
        for entries in log.values():
            transaction: list[str] = []
            for entry in entries + ["commit"]:
                if entry != "commit":
                    transaction.append(entry)
                    continue
                if "blocks" in transaction:
                    writing += 1
                    most_chunks = max(most_chunks, transaction.count("blocks"))
                    assert transaction.count("set") == 1 and transaction[0] == "set", transaction
                transaction = []
        assert writing >= 3, log
        if config.prefetch:  # the pipelined writer: several chunks in one transaction, one SET
            assert most_chunks >= 2, log
