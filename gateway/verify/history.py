"""Rebuild a voucher's or an asset's history from a node (the chain side of a verification).

The chain side (:func:`rebuild`) trusts only the node the regulator points at:

1. ``eth_getLogs`` over the deployment's contract addresses with the history's topic filters
   (gateway.verify.selection), up to a pinned head; a voucher's BrokerPaid logs by the trade ids
   of its TradeSettled logs;
2. the logs decoded by the indexer's own decoder (gateway.indexer.decode), so the canonical form
   (lowercase hex, decimal strings for wide integers, sorted-key JSON) is byte-identical to the
   gateway's ``events.args``;
3. for every block holding an event: the header (its hash recomputed from its fields) and ALL its
   receipts (``eth_getBlockReceipts``), the receipts root recomputed and compared with the
   header's, and each log found in its receipt at its index with the same address, topics, data.

:func:`gateway.verify.comparison.compare` then matches the served events with the chain's by (block number, log index) and
names every difference: ``missing`` (on chain, not served), ``extra`` (served, no such log),
``altered`` (same position, different fields: which), ``reordered`` (an event served at another
position or out of chain order), ``non_canonical`` (served block hash is not the node's block at
that height). Manifests (AssetRegistered / ManifestUpdated) are fetched from IPFS, re-hashed to
their CID and compared with the on-chain contentHash.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any, Optional

from gateway.indexer.decode import Decoder
from gateway.verify.blockproof import prove
from gateway.verify.node import Node, get_logs
from gateway.verify.results import ChainHistory, VerifyError
from gateway.verify.selection import (
    MANIFEST_EVENTS,
    check_kind,
    filter_history,
    links_of,
    log_filters,
    topic0,
    trade_ids_of,
    uint_topic,
)


def event_dict(ev: Any) -> dict[str, Any]:
    """DecodedEvent -> the provenance API's event shape (without links)."""
    return {"block_number": ev.block_number, "block_hash": ev.block_hash, "tx_hash": ev.tx_hash,
            "tx_index": ev.tx_index, "log_index": ev.log_index, "address": ev.address,
            "contract": ev.contract, "event": ev.name, "args": ev.args}


def add_links(events: list[dict[str, Any]], extra: Iterable[Mapping[str, Any]] = ()) -> None:
    voucher_assets: dict[int, int] = {}
    trade_vouchers: dict[str, int] = {}
    for e in [*extra, *events]:
        a = e["args"]
        if e["contract"] == "DataVoucher" and e["event"] == "VoucherIssued":
            voucher_assets[int(a["voucherId"])] = int(a["assetId"])
        if e["contract"] == "TradeSettlement" and e["event"] == "TradeSettled":
            trade_vouchers[str(a["tradeId"]).lower()] = int(a["voucherId"])
    for e in events:
        e["links"] = links_of(e["contract"], e["event"], e["args"], voucher_assets, trade_vouchers)


def event_key(e: Mapping[str, Any]) -> tuple[int, int]:
    """(block number, log index): where an event is on chain."""
    return (int(e["block_number"]), int(e["log_index"]))


def rebuild(node: Node, kind: str, subject_id: int, contracts: Mapping[str, Mapping[str, Any]],
            to_block: Optional[int] = None, proofs: bool = True, max_range: int = 0) -> ChainHistory:
    """The history of ``subject_id`` from the node's logs, with block proofs (see module doc)."""
    check_kind(kind)
    deployment: dict[str, dict[str, Any]] = {
        n: {"address": str(c["address"]).lower(), "deployBlock": int(c.get("deployBlock", 0))}
        for n, c in contracts.items()}
    contracts = deployment
    addresses = {n: c["address"] for n, c in contracts.items()}
    chain_id = int(node.call("eth_chainId", [], phase="rpc_head"), 16)
    head = node.call("eth_getBlockByNumber", [hex(to_block) if to_block is not None else "latest", False],
                     phase="rpc_head")
    if head is None:
        raise VerifyError(f"the node has no block {to_block}")
    head_number = int(head["number"], 16)
    from_block = min((c["deployBlock"] for c in contracts.values()), default=0)
    decoder = Decoder(addresses)

    t0 = time.perf_counter()
    filters = log_filters(kind, subject_id, addresses)
    logs = get_logs(node, filters, from_block, head_number, max_range)
    events = [event_dict(decoder.decode(log)) for log in logs]
    second: list[dict[str, Any]] = []
    if kind == "voucher":
        trades = trade_ids_of(events)
        if trades:
            second += [f for f in log_filters(kind, subject_id, addresses, trades) if f["_rule"].key == "trades"]
        issued = [e for e in events if e["event"] == "VoucherIssued"]
        asset_id = int(issued[0]["args"]["assetId"]) if issued else None
        if asset_id is not None:  # the asset's manifests, for the manifest check
            second.append({"address": addresses["AssetRegistry"],
                           "topics": [[topic0("AssetRegistry", n) for n in MANIFEST_EVENTS], uint_topic(asset_id)]})
    manifest_events: list[dict[str, Any]] = []
    if second:
        more = get_logs(node, second, from_block, head_number, max_range)
        for log in more:
            ev = event_dict(decoder.decode(log))
            if ev["contract"] == "AssetRegistry":
                manifest_events.append(ev)
                logs.append(log)  # proven with the others (bundle needs its block)
            else:
                events.append(ev)
                logs.append(log)
        events.sort(key=event_key)
    events = filter_history(kind, subject_id, events)  # exact arg check after the topic filters
    if kind == "asset":
        manifest_events = [e for e in events if e["event"] in MANIFEST_EVENTS]
    add_links(events)
    raw = {(int(log["blockNumber"], 16), int(log["logIndex"], 16)): log for log in logs}
    node.timings["decode"] = node.timings.get("decode", 0.0) + time.perf_counter() - t0 - \
        node.timings.get("rpc_logs", 0.0)
    history = ChainHistory(kind, subject_id, chain_id, deployment, from_block,
                           {"number": head_number, "hash": head["hash"]}, events, raw, manifest_events)
    if proofs:
        prove(node, history)
    return history
