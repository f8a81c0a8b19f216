"""Raw (EIP-2718) transactions of blocks, from any node the verifier supports.

anvil and geth serve ``eth_getRawTransactionByBlockNumberAndIndex``; Hyperledger Besu does not
(its JSON-RPC has no such method) but serves ``debug_getRawTransaction(txHash)`` (API group
``DEBUG``). :func:`raw_transactions` asks by block and index and, when the node answers "method
not found", asks by transaction hash instead. Either way the bundle check recomputes each
block's transactions root from these bytes, so a wrong answer cannot pass unnoticed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ledger.rpc import METHOD_NOT_FOUND, RpcError

__all__ = ["METHOD_NOT_FOUND", "by_hash", "by_index", "method_missing", "raw_transactions"]


def method_missing(exc: RpcError) -> bool:
    """Whether the node lacks the method (JSON-RPC -32601, or its usual wording)."""
    return exc.method_missing


def by_index(node: Any, numbers: Sequence[int], receipts: Sequence[Sequence[Mapping[str, Any]]]) -> list[Any]:
    calls = [("eth_getRawTransactionByBlockNumberAndIndex", [hex(n), hex(i)])
             for n, block in zip(numbers, receipts) for i in range(len(block or []))]
    return list(node.batch(calls, phase="rpc_transactions"))


def by_hash(node: Any, numbers: Sequence[int], receipts: Sequence[Sequence[Mapping[str, Any]]]) -> list[Any]:
    calls = []
    for block in receipts:
        for r in sorted(block or [], key=lambda r: int(r["transactionIndex"], 16)):
            calls.append(("debug_getRawTransaction", [r["transactionHash"]]))
    return list(node.batch(calls, phase="rpc_transactions"))


def raw_transactions(node: Any, numbers: Sequence[int], receipts: Sequence[Sequence[Mapping[str, Any]]]) -> list[Any]:
    """The raw transactions of ``numbers`` (blocks whose receipts are given, same order), block
    by block in transaction-index order."""
    try:
        return by_index(node, numbers, receipts)
    except RpcError as exc:
        if not method_missing(exc):
            raise
    return by_hash(node, numbers, receipts)
