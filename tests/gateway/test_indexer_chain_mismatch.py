"""A database pointed at another chain with the same chain id and deployment addresses (a dev node
restarted with a new genesis): the indexer refuses (ChainMismatch, CLI exit code 2) instead of
looping on "rolled back blocks" or silently swapping the index for the other chain's, and leaves
the database as it was. See docs/indexer.md, "Another chain"."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.indexer.cli import index_command
from gateway.indexer.store import dump_hash, make_engine
from gateway.indexer.sync import ChainMismatch, Indexer, IndexerConfig
from ledger.deploy import write_deployment
from tests.gateway.indexer_fixtures import Node, contracts_of, index_once, new_db, node, start_node


@pytest.mark.parametrize("longer", [False, True])
def test_other_genesis_is_refused(node: Node, new_db: Callable[[], str], tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str], longer: bool) -> None:
    node.market.activity(4)
    url = new_db()
    before = index_once(node, url)
    other = start_node(extra=("--timestamp", "1600000000"))
    try:
        if longer:  # the other chain is ahead (a batch's parent check fires), else behind (idle check)
            other.market.activity(8)
        assert contracts_of(other) == contracts_of(node)
        assert other.w3.eth.get_block(0)["hash"] != node.w3.eth.get_block(0)["hash"]
        engine = make_engine(url)
        indexer = Indexer(other.rpc_url, engine, contracts_of(other), IndexerConfig())
        try:
            with pytest.raises(ChainMismatch, match="not the chain this index was built from"):
                indexer.run()
        finally:
            indexer.close()
        assert dump_hash(engine) == before  # untouched
        engine.dispose()
        write_deployment(tmp_path, other.market.record)
        assert index_command(other.rpc_url, url, tmp_path, json_output=True) == 2
        last = json.loads(capsys.readouterr().out.splitlines()[-1])
        assert last["type"] == "error" and "re-index into a fresh database" in last["message"]
        # a fresh database indexes the other chain normally
        assert index_command(other.rpc_url, new_db(), tmp_path, json_output=True) == 0
    finally:
        other.anvil.stop()


def test_regenerated_genesis_below_the_deployment_does_not_loop(node: Node, new_db: Callable[[], str]) -> None:
    """A node whose block 0 got a new hash while block 1 kept its parentHash (reported for anvil
    reloading --state): the base hash comes from the first deployment block's parentHash, so a
    fresh index neither loops on "rolled back blocks 1..0" nor differs from a normal one."""
    import threading

    node.market.activity(3)
    expected = index_once(node, new_db())
    url = new_db()
    engine = make_engine(url)
    indexer = Indexer(node.rpc_url, engine, contracts_of(node), IndexerConfig())
    assert indexer.start_block >= 1
    base = indexer.start_block - 1
    fake = "0x" + "ab" * 32
    real_header, real_headers = indexer.rpc.header, indexer.rpc.headers

    def header(n: int):  # type: ignore[no-untyped-def]
        h = real_header(n)
        return dict(h, hash=fake) if n == base and h is not None else h

    def headers(numbers, chunk: int = 500):  # type: ignore[no-untyped-def]
        out = real_headers(numbers, chunk)
        if out.get(base) is not None:
            out[base] = dict(out[base], hash=fake)
        return out

    indexer.rpc.header, indexer.rpc.headers = header, headers  # type: ignore[method-assign]
    done: list[object] = []
    runner = threading.Thread(target=lambda: done.append(indexer.run()), daemon=True)
    runner.start()
    runner.join(timeout=60)
    indexer.stop()
    runner.join(timeout=10)
    indexer.close()
    assert done, "the indexer did not finish (rollback loop at the base?)"
    assert indexer.state is not None and indexer.state.reorgs == 0
    assert dump_hash(engine) == expected
    engine.dispose()
