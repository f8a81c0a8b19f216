"""The verifier's access to the node it trusts: the project's JSON-RPC client (ledger.rpc) with
the verifier's defaults, the contracts to read (given, or the deployment record of the node's
chain), eth_getLogs in ranges the node accepts, and headers + receipts of blocks."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Optional

from gateway.verify.results import VerifyError
from ledger.rpc import RpcClient, RpcError

#: calls per HTTP request in a batch, and retries (with backoff) when the node does not answer
BATCH_SIZE = 200
RETRIES = 2


class Node(RpcClient):
    """JSON-RPC access with call counting and per-phase timings (``calls``, ``requests``,
    ``timings``: for reports and the bench): ledger.rpc.RpcClient with the verifier's timeout,
    batch size and retries. Given a client, shares its connection."""

    def __init__(self, rpc: RpcClient | str, timeout: float = 30.0) -> None:
        if isinstance(rpc, RpcClient):
            super().__init__(rpc.url, rpc.timeout, batch_size=BATCH_SIZE, retries=RETRIES, client=rpc.http)
        else:
            super().__init__(rpc, timeout, batch_size=BATCH_SIZE, retries=RETRIES)


def load_contracts(state_dir: Path | str, chain_id: int) -> dict[str, dict[str, Any]]:
    """The contracts of the deployment record of ``chain_id`` in ``state_dir`` (:class:`ledger.deployment.Deployment`)."""
    from ledger.deployment import Deployment
    from ledger.errors import LedgerError

    try:
        return Deployment.require(state_dir, chain_id).entries()
    except LedgerError as exc:
        raise VerifyError(str(exc)) from None


def node_contracts(node: Node, chain_id: Optional[int], contracts: Optional[Mapping[str, Mapping[str, Any]]],
                   state_dir: Optional[Path | str]) -> tuple[int, Mapping[str, Mapping[str, Any]]]:
    """The node's chain id (checked against ``chain_id`` when given) and the contracts to verify
    against: those given, else the deployment record in ``state_dir`` for the node's chain."""
    node_chain = int(node.call("eth_chainId", [], phase="rpc_head"), 16)
    if chain_id is not None and node_chain != chain_id:
        raise VerifyError(f"the node is chain {node_chain}, expected {chain_id}")
    if contracts is None:
        if state_dir is None:
            raise VerifyError("no contracts: pass the deployment (contracts) or a state directory")
        contracts = load_contracts(state_dir, node_chain)
    return node_chain, contracts


def get_logs(node: Node, filters: list[dict[str, Any]], from_block: int, to_block: int,
             max_range: int = 0) -> list[dict[str, Any]]:
    """The logs of ``filters`` over ``[from_block, to_block]`` in ranges of ``max_range`` blocks
    (0: one range). A node refusing a range (geth's ``--rpc.rangelimit``, Besu's 1000 blocks,
    "too many results": ledger.rpc.RANGE_TOO_LARGE) makes the ranges halve and retry."""
    step = max_range if max_range > 0 else max(1, to_block - from_block + 1)
    while True:
        calls = []
        for f in filters:
            lo = from_block
            while lo <= to_block:
                hi = min(to_block, lo + step - 1)
                calls.append(("eth_getLogs", [{"address": f["address"], "topics": f["topics"],
                                               "fromBlock": hex(lo), "toBlock": hex(hi)}]))
                lo = hi + 1
        try:
            results = node.batch(calls, phase="rpc_logs")
            break
        except RpcError as exc:
            if not exc.range_too_large or step <= 1:
                raise
            step = max(1, step // 2)
    logs: dict[tuple[int, int], dict[str, Any]] = {}
    for result in results:
        for log in result or []:
            if log.get("removed"):
                continue
            logs[(int(log["blockNumber"], 16), int(log["logIndex"], 16))] = log
    return [logs[k] for k in sorted(logs)]


def fetch_blocks(node: Node, numbers: Iterable[int]) -> tuple[dict[int, dict[str, Any]], dict[int, list[dict[str, Any]]]]:
    """Headers and all receipts of blocks ``numbers`` (one batch each)."""
    headers = {n: h for n, h in node.headers(numbers, phase="rpc_headers").items() if h is not None}
    receipts = {n: r for n, r in node.block_receipts(numbers, phase="rpc_receipts").items() if r is not None}
    return headers, receipts
