"""Reorgs during live indexing (anvil_reorg, anvil_rollback, evm_snapshot/evm_revert): afterwards
the index equals a fresh re-index of the final chain (canonical dump hash), on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from gateway.indexer.sync import IndexerConfig
from tests.gateway.indexer_fixtures import LiveIndexer, Node, index_once, new_db, node


def replacement_txs(node: Node, depth: int) -> list[list[Any]]:
    """Transactions for the new blocks of anvil_reorg: different events than the dropped ones."""
    m = node.market
    token = m.contracts["PaymentToken"].functions
    txs: list[list[Any]] = []
    for i in range(min(depth, 6)):
        txs.append([m.tx(token.mint(m.addr["holder_b"], 1000 + i), "authority"), i])
    return txs


@pytest.mark.parametrize("depth", [1, 2, 5, 64])
def test_reorg_during_live_indexing(node: Node, new_db: Callable[[], str], depth: int) -> None:
    node.market.activity(depth + 10)
    url = new_db()
    with LiveIndexer(node, url) as live:
        live.wait_synced()
        before = live.indexer.state
        node.rpc("anvil_reorg", depth, replacement_txs(node, depth))
        live.wait_synced()
        assert live.indexer.state.reorgs == before.reorgs + 1
        node.market.mints(5)  # and life goes on on the new branch (mints: valid on any branch)
        live.wait_synced()
        live_hash = live.hash()
    assert live_hash == index_once(node, new_db())


def test_rollback_and_snapshot_revert(node: Node, new_db: Callable[[], str]) -> None:
    m = node.market
    m.activity(10)
    url = new_db()
    with LiveIndexer(node, url) as live:
        live.wait_synced()
        node.rpc("anvil_rollback", 3)  # a shorter chain
        live.wait_synced()
        snapshot = node.rpc("evm_snapshot")
        m.mint("holder_c", 42)
        m.mint("holder_a", 43)
        live.wait_synced()
        assert node.rpc("evm_revert", snapshot)
        live.wait_synced()
        m.mint("holder_b", 44)
        live.wait_synced()
        assert live.indexer.state.reorgs >= 2
        live_hash = live.hash()
    assert live_hash == index_once(node, new_db())


def test_reorg_deeper_than_undo_window_replays(node: Node, new_db: Callable[[], str]) -> None:
    """With a 4-block undo window a 12-block reorg cannot use pre-images: projections are rebuilt
    from the kept events, with the same result."""
    node.market.activity(20)
    url = new_db()
    with LiveIndexer(node, url, IndexerConfig(poll_interval=0.02, undo_window=4)) as live:
        live.wait_synced()
        node.rpc("anvil_reorg", 12, replacement_txs(node, 12))
        live.wait_synced()
        node.market.mints(3)
        live.wait_synced()
        live_hash = live.hash()
    assert live_hash == index_once(node, new_db())


def test_confirmations_hold_back_and_absorb_shallow_reorgs(node: Node, new_db: Callable[[], str]) -> None:
    node.market.activity(12)
    url = new_db()
    live = LiveIndexer(node, url, IndexerConfig(poll_interval=0.02, confirmations=3))
    with live:
        import time

        head = node.head()[0]
        deadline = time.monotonic() + 30
        while live.indexer.state is None or live.indexer.state.last_block < head - 3:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.3)
        assert live.indexer.state.last_block == head - 3
        node.rpc("anvil_reorg", 2, replacement_txs(node, 2))  # above the confirmed part
        time.sleep(0.3)
        assert live.indexer.state.reorgs == 0
        live_hash = live.hash()
    assert live_hash == index_once(node, new_db(), until_block=head - 3)
