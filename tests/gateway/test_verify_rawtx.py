"""Raw transactions for proof bundles on any node: by block and index (anvil, geth) or by
transaction hash (``debug_getRawTransaction``: Besu has no eth_getRawTransactionByBlockNumberAndIndex).
Both paths run against the real anvil and must give the same bytes."""

from __future__ import annotations

import pytest
from eth_utils.crypto import keccak

from gateway.verify import Node
from gateway.verify.rawtx import by_hash, by_index, method_missing, raw_transactions
from ledger.rpc import RpcError
from tests.gateway.verify_market import Market, market


def test_both_paths_give_the_same_bytes(market: Market) -> None:
    node = Node(market.rpc_url)
    try:
        numbers = sorted({int(c["deployBlock"]) for c in market.contracts.values()})
        receipts = node.batch([("eth_getBlockReceipts", [hex(n)]) for n in numbers])
        assert sum(len(r) for r in receipts) >= len(numbers)
        first = by_index(node, numbers, receipts)
        second = by_hash(node, numbers, receipts)
        assert first == second == raw_transactions(node, numbers, receipts)
        ordered = [r for block in receipts for r in sorted(block, key=lambda r: int(r["transactionIndex"], 16))]
        assert ["0x" + keccak(bytes.fromhex(raw[2:])).hex() for raw in first] == [r["transactionHash"] for r in ordered]
    finally:
        node.close()


def test_only_a_missing_method_falls_back(market: Market) -> None:
    node = Node(market.rpc_url)
    try:
        with pytest.raises(RpcError) as missing:
            node.call("eth_noSuchMethodAnywhere", [])
        assert method_missing(missing.value)
        with pytest.raises(RpcError) as bad_params:
            node.call("eth_getBlockByNumber", ["not-a-block", False])
        assert not method_missing(bad_params.value)
    finally:
        node.close()
