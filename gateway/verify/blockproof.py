"""Proof of a history's events from the node's blocks: each block's header hash recomputed from
its fields (Ethereum or Besu QBFT rule), its receipts root recomputed from ALL its receipts, and
each log found in its receipt at its index with the same address, topics and data."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Optional

from gateway.verify import qbft
from gateway.verify import receipts as rc
from gateway.verify.node import Node, fetch_blocks
from gateway.verify.results import BlockCheck, ChainHistory


def check_block(header: Mapping[str, Any], receipts: Optional[Sequence[Mapping[str, Any]]]) -> BlockCheck:
    number = int(header["number"], 16)
    detail = []
    try:
        hash_ok = qbft.matching_hash(header) == header["hash"].lower()  # Ethereum or Besu QBFT rule
        if not hash_ok:
            detail.append("header fields do not hash to the block hash")
    except rc.EncodingError as exc:
        hash_ok = False
        detail.append(f"header: {exc}")
    if receipts is None:
        return BlockCheck(number, header["hash"], hash_ok, False, 0, "; ".join(detail + ["no receipts"]))
    try:
        root = rc.receipts_root(receipts)
        root_ok = root == header["receiptsRoot"].lower()
        if not root_ok:
            detail.append(f"receipts root {root} != header {header['receiptsRoot']}")
    except rc.EncodingError as exc:
        root_ok = False
        detail.append(f"receipts: {exc}")
    return BlockCheck(number, header["hash"], hash_ok, root_ok, len(receipts), "; ".join(detail))


def find_log(receipts: Sequence[Mapping[str, Any]], tx_index: int, log_index: int) -> tuple[Optional[Mapping[str, Any]], Optional[Mapping[str, Any]]]:
    """(receipt at ``tx_index``, the log at block-wide ``log_index`` in it), counting logs over the
    receipts in order (the log index is block-wide)."""
    ordered = sorted(receipts, key=lambda r: rc.hex_int(r["transactionIndex"]))
    start = 0
    for r in ordered:
        n = len(r["logs"])
        if rc.hex_int(r["transactionIndex"]) == tx_index:
            if start <= log_index < start + n:
                return r, r["logs"][log_index - start]
            return r, None
        start += n
    return None, None


def same_log(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return (a["address"].lower() == b["address"].lower()
            and [t.lower() for t in a["topics"]] == [t.lower() for t in b["topics"]]
            and a["data"].lower() == b["data"].lower())


def prove(node: Node, history: ChainHistory) -> None:
    """Headers + receipts of every event block; fills ``history.blocks`` and ``history.proofs``."""
    numbers = {k[0] for k in history.logs}
    headers, receipts = fetch_blocks(node, numbers)
    history.headers.update(headers)
    history.receipts.update(receipts)
    t0 = time.perf_counter()
    checks: dict[int, BlockCheck] = {}
    for n in sorted(numbers):
        if n not in headers:
            history.problems.append(f"the node has no block {n}")
            continue
        checks[n] = check_block(headers[n], receipts.get(n))
    history.blocks = [checks[n] for n in sorted(checks)]
    for key, log in history.logs.items():
        n, li = key
        header = headers.get(n)
        problems = []
        if header is None:
            problems.append("block missing")
        else:
            if header["hash"].lower() != log["blockHash"].lower():
                problems.append("log's block is not the node's canonical block")
            check = checks[n]
            if not check.header_hash_ok:
                problems.append("header hash")
            if not check.receipts_root_ok:
                problems.append("receipts root")
            r, found = find_log(receipts.get(n) or [], int(log["transactionIndex"], 16), li)
            if r is None:
                problems.append("no receipt at its transaction index")
            else:
                if r["transactionHash"].lower() != log["transactionHash"].lower():
                    problems.append("receipt of another transaction")
                if not rc.hex_int(r.get("status", "0x1") or "0x1"):
                    problems.append("transaction reverted")
                if found is None or not same_log(found, log):
                    problems.append("log not in its receipt at that index")
        history.proofs[key] = "ok" if not problems else ", ".join(problems)
    node.timings["receipts_root"] = node.timings.get("receipts_root", 0.0) + time.perf_counter() - t0
