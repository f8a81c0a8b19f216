"""Rebuild a voucher's or an asset's history from a node and compare what a gateway serves with it.

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

:func:`compare` then matches the served events with the chain's by (block number, log index) and
names every difference: ``missing`` (on chain, not served), ``extra`` (served, no such log),
``altered`` (same position, different fields: which), ``reordered`` (an event served at another
position or out of chain order), ``non_canonical`` (served block hash is not the node's block at
that height). Manifests (AssetRegistered / ManifestUpdated) are fetched from IPFS, re-hashed to
their CID and compared with the on-chain contentHash.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional, Sequence

from gateway.indexer.decode import Decoder, canonical_json
from gateway.indexer.rpc import Rpc, RpcError
from gateway.verify import qbft
from gateway.verify import receipts as rc
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
from gateway.verify.sources import ProvenanceSource, Served

#: event fields compared between the gateway and the chain (besides the position)
COMPARED_FIELDS = ("block_hash", "tx_hash", "tx_index", "address", "contract", "event", "args")
#: what identifies an event's content regardless of where it is served
CONTENT_FIELDS = ("address", "contract", "event", "args")

FAIL_STATUSES = frozenset({"missing", "extra", "altered", "reordered", "non_canonical", "unproven"})

#: verdict -> process exit code of ``dataledger verify`` (2: could not run / bad arguments)
EXIT_CODES = {"verified": 0, "mismatch": 1, "unknown": 3, "behind": 4}


class VerifyError(RuntimeError):
    """The verification could not run (node unreachable, no deployment record, bad input)."""


# ---------------------------------------------------------------- node access


class Node:
    """JSON-RPC access with call counting and per-phase timings (for reports and the bench)."""

    def __init__(self, rpc: Rpc | str, timeout: float = 30.0) -> None:
        self.rpc = Rpc(rpc, timeout=timeout) if isinstance(rpc, str) else rpc
        self._own = isinstance(rpc, str)
        self.calls = 0
        self.requests = 0
        self.timings: dict[str, float] = {}

    def close(self) -> None:
        if self._own:
            self.rpc.close()

    def _timed(self, phase: str, t0: float) -> None:
        self.timings[phase] = self.timings.get(phase, 0.0) + time.perf_counter() - t0

    def call(self, method: str, params: Sequence[Any], phase: str = "rpc") -> Any:
        t0 = time.perf_counter()
        try:
            return self.rpc.call(method, params)
        finally:
            self.calls += 1
            self.requests += 1
            self._timed(phase, t0)

    def try_batch(self, calls: Sequence[tuple[str, Sequence[Any]]], phase: str = "rpc") -> list[tuple[bool, Any]]:
        """One batch whose items may fail on their own (a reverted eth_call): (ok, result or error)."""
        if not calls:
            return []
        t0 = time.perf_counter()
        try:
            payload = [{"jsonrpc": "2.0", "id": i + 1, "method": m, "params": list(p)} for i, (m, p) in enumerate(calls)]
            replies = self.rpc._post(payload)
            self.requests += 1
            self.calls += len(calls)
            if isinstance(replies, dict):
                raise VerifyError(f"the node rejected a batch: {replies.get('error')}")
            by_id = {r.get("id"): r for r in replies}
            out: list[tuple[bool, Any]] = []
            for i in range(len(calls)):
                r = by_id.get(i + 1) or {"error": "no reply"}
                out.append((False, r["error"]) if "error" in r else (True, r.get("result")))
            return out
        finally:
            self._timed(phase, t0)

    def batch(self, calls: Sequence[tuple[str, Sequence[Any]]], phase: str = "rpc", chunk: int = 200) -> list[Any]:
        out: list[Any] = []
        t0 = time.perf_counter()
        try:
            for i in range(0, len(calls), chunk):
                part = list(calls[i : i + chunk])
                out.extend(self.rpc.batch(part))
                self.requests += 1
                self.calls += len(part)
        finally:
            self._timed(phase, t0)
        return out


# ---------------------------------------------------------------- results


@dataclass
class EventVerdict:
    status: str  # ok | missing | extra | altered | reordered | non_canonical | unproven | not_indexed
    block_number: int
    log_index: int
    tx_hash: str = ""
    contract: str = ""
    event: str = ""
    position: Optional[int] = None  # index in the served list (None: not served)
    chain_position: Optional[int] = None  # index in the chain history (None: not on chain)
    fields: list[str] = field(default_factory=list)
    detail: str = ""
    proof: str = ""  # chain-side proof of the log: ok / what failed
    manifest: str = ""  # ok / what failed, for manifest events
    redacted: list[str] = field(default_factory=list)  # fields the gateway withholds: not checked

    @property
    def failed(self) -> bool:
        return self.status in FAIL_STATUSES or (self.manifest not in ("", "ok"))


@dataclass
class BlockCheck:
    number: int
    hash: str
    header_hash_ok: bool
    receipts_root_ok: bool
    receipts: int
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.header_hash_ok and self.receipts_root_ok


@dataclass
class ManifestCheck:
    asset_id: int
    version: int
    cid: str
    content_hash: str
    status: str  # ok | mismatch | unavailable
    detail: str = ""
    block_number: int = 0
    log_index: int = 0


@dataclass
class Verdict:
    kind: str
    id: int | str  # a voucher / asset id, or a participant's address
    chain_id: int
    ok: bool
    summary: str
    head: dict[str, Any]
    compared_to_block: int
    source: Optional[str]
    counts: dict[str, int]
    events: list[EventVerdict]
    blocks: list[BlockCheck]
    manifests: list[ManifestCheck]
    problems: list[str]
    timings: dict[str, float] = field(default_factory=dict)
    rpc_calls: int = 0
    rpc_requests: int = 0
    #: verified | mismatch | behind | unknown  (exit codes 0 | 1 | 4 | 3, see EXIT_CODES)
    verdict: str = "verified"
    #: the block the verifier chose (node head or --block): the chain side is read up to it
    block: int = 0
    #: the gateway's claimed indexed height (None: not said / no gateway)
    gateway_block: Optional[int] = None
    behind_by: int = 0
    #: one check per served field (gateway.verify.state.FieldCheck)
    state: list[Any] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def mismatches(self) -> list[str]:
        """Every named difference: state fields first, then events."""
        out = [c.describe() for c in self.state if c.failed]
        out += [f"{self.kind} {self.id} event {v.contract}.{v.event} at block {v.block_number} log {v.log_index}: "
                f"{v.status}" + (f" ({', '.join(v.fields)})" if v.fields else "") + (f": {v.detail}" if v.detail else "")
                for v in self.events if v.failed]
        return out

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["exit_code"] = self.exit_code
        out["mismatches"] = self.mismatches()
        counts: dict[str, int] = {}
        for c in self.state:
            counts[c.status] = counts.get(c.status, 0) + 1
        out["state_counts"] = counts
        return out


@dataclass
class ChainHistory:
    """The chain's view of one history, with the blocks that prove it."""

    kind: str
    subject_id: int
    chain_id: int
    contracts: dict[str, dict[str, Any]]
    from_block: int
    head: dict[str, Any]  # {"number", "hash"} pinned at the start
    events: list[dict[str, Any]]
    logs: dict[tuple[int, int], dict[str, Any]]  # raw logs by (block, log index)
    manifest_events: list[dict[str, Any]]
    headers: dict[int, dict[str, Any]] = field(default_factory=dict)
    receipts: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    blocks: list[BlockCheck] = field(default_factory=list)
    proofs: dict[tuple[int, int], str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- helpers


def load_contracts(state_dir: Path | str, chain_id: int) -> dict[str, dict[str, Any]]:
    """The contracts of the deployment record of ``chain_id`` in ``state_dir`` (:class:`ledger.deployment.Deployment`)."""
    from ledger.deployment import Deployment
    from ledger.errors import LedgerError

    try:
        return Deployment.require(state_dir, chain_id).entries()
    except LedgerError as exc:
        raise VerifyError(str(exc)) from None


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


def _key(e: Mapping[str, Any]) -> tuple[int, int]:
    return (int(e["block_number"]), int(e["log_index"]))


def _norm(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _content(e: Mapping[str, Any]) -> str:
    return canonical_json({k: e.get(k) for k in CONTENT_FIELDS})


def _get_logs(node: Node, filters: list[dict[str, Any]], from_block: int, to_block: int,
              max_range: int = 0) -> list[dict[str, Any]]:
    """The logs of ``filters`` over ``[from_block, to_block]`` in ranges of ``max_range`` blocks
    (0: one range). A node refusing a range (geth's ``--rpc.rangelimit``, Besu's 1000 blocks,
    "too many results": gateway.indexer.rpc.RANGE_TOO_LARGE) makes the ranges halve and retry."""
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


# ---------------------------------------------------------------- chain rebuild


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
    logs = _get_logs(node, filters, from_block, head_number, max_range)
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
        more = _get_logs(node, second, from_block, head_number, max_range)
        for log in more:
            ev = event_dict(decoder.decode(log))
            if ev["contract"] == "AssetRegistry":
                manifest_events.append(ev)
                logs.append(log)  # proven with the others (bundle needs its block)
            else:
                events.append(ev)
                logs.append(log)
        events.sort(key=_key)
    events = filter_history(kind, subject_id, events)  # exact arg check after the topic filters
    if kind == "asset":
        manifest_events = [e for e in events if e["event"] in MANIFEST_EVENTS]
    add_links(events)
    raw = {(int(l["blockNumber"], 16), int(l["logIndex"], 16)): l for l in logs}
    node.timings["decode"] = node.timings.get("decode", 0.0) + time.perf_counter() - t0 - \
        node.timings.get("rpc_logs", 0.0)
    history = ChainHistory(kind, subject_id, chain_id, deployment, from_block,
                           {"number": head_number, "hash": head["hash"]}, events, raw, manifest_events)
    if proofs:
        prove(node, history)
    return history


def fetch_blocks(node: Node, numbers: Iterable[int]) -> tuple[dict[int, dict[str, Any]], dict[int, list[dict[str, Any]]]]:
    """Headers and all receipts of blocks ``numbers`` (one batch each)."""
    nums = sorted(set(numbers))
    hdrs = node.batch([("eth_getBlockByNumber", [hex(n), False]) for n in nums], phase="rpc_headers")
    rcpts = node.batch([("eth_getBlockReceipts", [hex(n)]) for n in nums], phase="rpc_receipts")
    headers = {n: h for n, h in zip(nums, hdrs) if h is not None}
    receipts = {n: r for n, r in zip(nums, rcpts) if r is not None}
    return headers, receipts


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


# ---------------------------------------------------------------- comparison


def _diff_fields(served: Mapping[str, Any], chain: Mapping[str, Any]) -> list[str]:
    out = []
    for f in COMPARED_FIELDS:
        if f not in served:
            if f == "tx_index":
                continue  # optional in the API shape
            out.append(f)
            continue
        if f == "args":
            sa, ca = served.get("args"), chain.get("args")
            hidden = redacted_args(served)
            if hidden and isinstance(sa, dict) and isinstance(ca, dict):
                sa = {k: v for k, v in sa.items() if k not in hidden}
                ca = {k: v for k, v in ca.items() if k not in hidden}
            if canonical_json(sa) != canonical_json(ca):
                if isinstance(sa, dict) and isinstance(ca, dict):
                    keys = sorted(set(sa) | set(ca))
                    out += [f"args.{k}" for k in keys if canonical_json(sa.get(k)) != canonical_json(ca.get(k))
                            or (k in sa) != (k in ca)]
                else:
                    out.append("args")
        elif f == "tx_index":
            if int(served[f]) != int(chain[f]):
                out.append(f)
        elif _norm(served.get(f)) != _norm(chain.get(f)):
            out.append(f)
    links = served.get("links")
    if isinstance(links, Mapping):
        for k, mine in (chain.get("links") or {}).items():
            theirs = links.get(k)
            if theirs is not None and mine is not None and str(theirs).lower() != str(mine).lower():
                out.append(f"links.{k}")
    return out


def redacted_args(served: Mapping[str, Any]) -> set[str]:
    """Arguments a served event says it withholds (``"redacted": ["args.requester", ...]``)."""
    r = served.get("redacted")
    if not isinstance(r, list):
        return set()
    return {str(x)[5:] for x in r if str(x).startswith("args.")}


def _lis_positions(seq: list[int]) -> set[int]:
    """Indices (into ``seq``) of one longest strictly increasing subsequence."""
    import bisect

    tails: list[int] = []
    tails_idx: list[int] = []
    prev = [-1] * len(seq)
    for i, v in enumerate(seq):
        j = bisect.bisect_left(tails, v)
        if j == len(tails):
            tails.append(v)
            tails_idx.append(i)
        else:
            tails[j] = v
            tails_idx[j] = i
        prev[i] = tails_idx[j - 1] if j > 0 else -1
    out: set[int] = set()
    i = tails_idx[-1] if tails_idx else -1
    while i >= 0:
        out.add(i)
        i = prev[i]
    return out


def compare(chain_events: Sequence[Mapping[str, Any]], served: Sequence[Mapping[str, Any]],
            node_hashes: Mapping[int, Optional[str]], compared_to: Optional[int] = None) -> list[EventVerdict]:
    """Verdicts for the union of both lists, in chain order (served-only events where served).
    ``node_hashes``: block number -> the node's block hash (None: the node has no such block).
    ``compared_to``: chain events above this block are ``not_indexed`` (not a failure)."""
    chain_by_key = {_key(e): (i, e) for i, e in enumerate(chain_events)}
    chain_by_content: dict[str, tuple[int, int]] = {_content(e): _key(e) for e in chain_events}
    verdicts: list[EventVerdict] = []
    seen: set[tuple[int, int]] = set()
    matched_positions: list[tuple[int, int]] = []  # (served position, chain position)
    by_position: dict[int, EventVerdict] = {}
    for pos, s in enumerate(served):
        try:
            key = _key(s)
        except (KeyError, TypeError, ValueError):
            verdicts.append(EventVerdict("extra", -1, -1, position=pos, detail="malformed event (no block/log index)"))
            continue
        v = EventVerdict("ok", key[0], key[1], tx_hash=str(s.get("tx_hash", "")), contract=str(s.get("contract", "")),
                         event=str(s.get("event", "")), position=pos)
        by_position[pos] = v
        verdicts.append(v)
        if key in seen:
            v.status, v.detail = "extra", "served twice"
            continue
        seen.add(key)
        node_hash = node_hashes.get(key[0])
        served_hash = str(s.get("block_hash", "")).lower()
        chain = chain_by_key.get(key)
        if node_hash is None:
            v.status, v.fields = "non_canonical", ["block_hash"]
            v.detail = f"the node has no block {key[0]}"
            continue
        if served_hash != node_hash.lower():
            v.status = "non_canonical"
            v.fields = ["block_hash"] + ([f for f in _diff_fields(s, chain[1]) if f != "block_hash"] if chain else [])
            v.detail = f"served block hash {served_hash[:18]}… is not the node's block {key[0]} ({node_hash[:18]}…)"
            if chain:
                v.chain_position = chain[0]
            continue
        if chain is None:
            other = chain_by_content.get(_content(s))
            if other is not None:
                v.status, v.detail = "reordered", f"this event is at block {other[0]} log {other[1]} on chain"
                v.fields = ["block_number", "log_index"]
            else:
                v.status, v.detail = "extra", "no such event of this history on chain"
            continue
        v.chain_position = chain[0]
        v.redacted = sorted(f"args.{k}" for k in redacted_args(s))
        diff = _diff_fields(s, chain[1])
        if diff:
            other = chain_by_content.get(_content(s))
            if other is not None and other != key:
                v.status = "reordered"
                v.detail = f"served at block {key[0]} log {key[1]}; on chain at block {other[0]} log {other[1]}"
                v.fields = diff
            else:
                v.status, v.fields = "altered", diff
                v.detail = "differs from the chain in " + ", ".join(diff)
        else:
            matched_positions.append((pos, chain[0]))
    # served order against chain order
    if matched_positions:
        keep = _lis_positions([c for _, c in matched_positions])
        for i, (pos, cpos) in enumerate(matched_positions):
            if i not in keep:
                v = by_position[pos]
                v.status, v.detail = "reordered", f"served at position {pos}, chain position {cpos}"
    for i, e in enumerate(chain_events):
        if _key(e) in seen:
            continue
        status = "missing"
        detail = "on chain, not served"
        if compared_to is not None and int(e["block_number"]) > compared_to:
            status, detail = "not_indexed", f"not yet served: after the gateway's indexed block {compared_to}"
        verdicts.append(EventVerdict(status, int(e["block_number"]), int(e["log_index"]), tx_hash=e["tx_hash"],
                                     contract=e["contract"], event=e["event"], chain_position=i, detail=detail))

    def order(v: EventVerdict) -> tuple[int, int, int]:
        return (v.block_number, v.log_index, v.position if v.position is not None else -1)

    verdicts.sort(key=order)
    return verdicts


# ---------------------------------------------------------------- manifests


def check_manifest(event: Mapping[str, Any], fetch: Any) -> ManifestCheck:
    """Fetch (``fetch(cid) -> bytes``), re-hash to the CID and to the on-chain contentHash."""
    from ledger.contracts.models import cid_from_chain
    from ledger.ipfs import file_cid

    args = event["args"]
    asset_id = int(args["assetId"])
    version = int(args.get("version", 0))
    content_hash = str(args["contentHash"]).lower()
    try:
        cid = cid_from_chain(bytes.fromhex(str(args["manifestCid"])[2:]))
    except Exception as exc:  # noqa: BLE001
        return ManifestCheck(asset_id, version, str(args.get("manifestCid")), content_hash, "mismatch",
                             f"not a CID: {exc}", int(event["block_number"]), int(event["log_index"]))
    check = ManifestCheck(asset_id, version, cid, content_hash, "ok", "", int(event["block_number"]),
                          int(event["log_index"]))
    try:
        data = fetch(cid)
    except Exception as exc:  # noqa: BLE001 - any IPFS failure: unavailable (or CidMismatch)
        name = type(exc).__name__
        check.status = "mismatch" if name == "CidMismatch" else "unavailable"
        check.detail = f"{name}: {exc}"
        return check
    return check_manifest_bytes(check, data)


def check_manifest_bytes(check: ManifestCheck, data: bytes) -> ManifestCheck:
    from ledger.ipfs import Cid, file_cid

    problems = []
    try:
        same_cid = Cid.decode(file_cid(data)).multihash == Cid.decode(check.cid).multihash \
            and Cid.decode(file_cid(data)).codec == Cid.decode(check.cid).codec
    except Exception as exc:  # noqa: BLE001
        same_cid = False
        problems.append(f"cid: {exc}")
    if not same_cid:
        problems.append("bytes do not hash to the CID")
    digest = "0x" + hashlib.sha256(data).hexdigest()
    if digest != check.content_hash:
        problems.append(f"sha-256 {digest[:18]}… is not the on-chain contentHash")
    if problems:
        check.status, check.detail = "mismatch", "; ".join(problems)
    return check


def ipfs_fetcher(ipfs: Optional[str] = None, state_dir: Optional[Path | str] = None) -> Any:
    """``cid -> bytes`` from Kubo (``ipfs`` URL / IPFS_API) or the embedded store (``state_dir/ipfs``)."""
    from ledger.ipfs import open_store
    from ledger.settings import Settings

    target = ipfs or Settings().IPFS_API or (str(Path(state_dir) / "ipfs") if state_dir else None)
    store = open_store(target)
    return store.cat


# ---------------------------------------------------------------- the whole verification


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


def verify_history(rpc: Rpc | str | Node, kind: str, subject_id: int, *,
                   source: Optional[ProvenanceSource] = None, served: Optional[Served] = None,
                   contracts: Optional[Mapping[str, Mapping[str, Any]]] = None,
                   state_dir: Optional[Path | str] = None, chain_id: Optional[int] = None,
                   ipfs: Optional[str] = None, fetch: Any = None, manifests: bool = True,
                   max_range: int = 0, block: Optional[int] = None, state: bool = True,
                   withhold: frozenset[str] = frozenset(),
                   withhold_events: frozenset[tuple[str, str]] = frozenset()) -> Verdict:
    """Rebuild the history from the node up to ``block`` (default: the node's head; never the
    gateway's claimed height), compare it with ``source``'s (or ``served``), prove each event's
    block and receipt, check the manifests, and check every served state field against the events
    and the contracts' views at that block (gateway.verify.state). Without a source: chain-side only.

    ``contracts``: {name: {"address", "deployBlock"}}; default: the deployment record in
    ``state_dir`` for the node's chain. ``fetch``: ``cid -> bytes`` (default: IPFS, see
    :func:`ipfs_fetcher`). ``withhold`` (state tables) and ``withhold_events`` ((contract, event)
    pairs): still checked, but the verdict shows no value of them (the gateway's redaction policy
    for a caller who may not see them)."""
    from gateway.verify import state as st

    check_kind(kind)
    if not 0 <= int(subject_id) < 2**256:
        raise VerifyError(f"{kind} id {subject_id} is outside uint256")
    t_start = time.perf_counter()
    node = rpc if isinstance(rpc, Node) else Node(rpc)
    try:
        node_chain, contracts = node_contracts(node, chain_id, contracts, state_dir)
        if served is None and source is not None:
            t0 = time.perf_counter()
            served = source.history(kind, subject_id)
            node.timings["source"] = time.perf_counter() - t0
        history = rebuild(node, kind, subject_id, contracts, to_block=block, max_range=max_range)
        head_n = int(history.head["number"])
        compared_to = head_n
        notes: list[str] = []
        gateway_block = served.indexed_block if served is not None else None
        behind_by = 0
        served_events: list[dict[str, Any]] = list(served.events) if served is not None else []
        if served is not None:
            if gateway_block is None:
                notes.append("the gateway does not say its indexed height: every unserved event counts as missing")
            elif gateway_block < head_n:
                behind_by = head_n - gateway_block
                compared_to = gateway_block
            elif gateway_block > head_n:
                later = [e for e in served_events if _safe_block(e) > head_n]
                served_events = [e for e in served_events if _safe_block(e) <= head_n]
                notes.append(f"the gateway is at block {gateway_block}, past the verified block {head_n}: "
                             f"{len(later)} served events after it and the served state are not checked")
        problems = list(history.problems)

        if served is not None:
            served_blocks = set()
            for e in served_events:
                try:
                    served_blocks.add(int(e["block_number"]))
                except (KeyError, TypeError, ValueError):
                    pass
            missing = sorted(n for n in served_blocks if n not in history.headers)
            node_hashes: dict[int, Optional[str]] = {n: h["hash"] for n, h in history.headers.items()}
            if missing:
                got = node.batch([("eth_getBlockByNumber", [hex(n), False]) for n in missing], phase="rpc_headers")
                node_hashes.update({n: (h["hash"] if h else None) for n, h in zip(missing, got)})
            verdicts = compare(history.events, served_events, node_hashes, compared_to)
            for v in verdicts:  # an event whose arguments the caller may not see: named, values withheld
                if v.detail and (v.contract, v.event) in withhold_events:
                    v.detail = "values withheld from this caller"
        else:
            verdicts = [EventVerdict("ok", e["block_number"], e["log_index"], tx_hash=e["tx_hash"],
                                     contract=e["contract"], event=e["event"], chain_position=i)
                        for i, e in enumerate(history.events)]
        for v in verdicts:
            if v.chain_position is not None:
                e = history.events[v.chain_position]
                v.proof = history.proofs.get(_key(e), "not checked")
                if v.proof != "ok" and v.status == "ok":
                    v.status, v.detail = "unproven", f"chain proof failed: {v.proof}"

        manifest_checks: list[ManifestCheck] = []
        if manifests and history.manifest_events:
            t0 = time.perf_counter()
            getter = fetch or ipfs_fetcher(ipfs, state_dir)
            manifest_checks = [check_manifest(e, getter) for e in history.manifest_events]
            node.timings["manifests"] = time.perf_counter() - t0
            by_key = {(m.block_number, m.log_index): m for m in manifest_checks}
            for v in verdicts:
                m = by_key.get((v.block_number, v.log_index))
                if m is not None and v.chain_position is not None:
                    v.manifest = m.status if m.status == "ok" else f"{m.status}: {m.detail}"
            for m in manifest_checks:
                if m.status != "ok":
                    problems.append(f"manifest v{m.version} of asset {m.asset_id} ({m.cid}): {m.status}: {m.detail}")
        for b in history.blocks:
            if not b.ok:
                problems.append(f"block {b.number}: {b.detail}")

        # ---- state: replayed events + the contracts' views at the verified block
        checks: list[Any] = []
        exists_on_chain = bool(history.events)
        if state:
            t0 = time.perf_counter()
            stamps = {n: int(h["timestamp"], 16) for n, h in history.headers.items()}
            expected_head = st.expected_rows(kind, int(subject_id), st.replay(history.events, stamps))
            addresses = {n: str(c["address"]).lower() for n, c in contracts.items()}
            views = st.view_values(kind, int(subject_id), st.read_views(node, kind, int(subject_id), addresses, head_n,
                                                                        expected_head))
            exists_on_chain = exists_on_chain or bool(views.get("vouchers") or views.get("assets"))
            if kind == "asset":
                _add_voucher_count(expected_head, history.events, int(subject_id), head_n)
            expected = expected_head
            if compared_to < head_n:
                expected = st.expected_rows(kind, int(subject_id), st.replay(history.events, stamps, upto=compared_to))
                if kind == "asset":
                    _add_voucher_count(expected, history.events, int(subject_id), compared_to)
            served_state = served.state if served is not None and served.state is not None else {}
            if served is not None and gateway_block is not None and gateway_block > head_n:
                served_state = {}
            checks, chain_problems = st.check_state(kind, int(subject_id), served_state, expected, expected_head,
                                                    views, head_n, compared_to,
                                                    served.partial if served is not None else (), withhold)
            problems += chain_problems
            if served is not None and served.state is None:
                notes.append("this source serves no state rows: only the event list was compared")
            node.timings["state"] = time.perf_counter() - t0

        counts: dict[str, int] = {"chain": len(history.events), "served": len(served_events)}
        for v in verdicts:
            counts[v.status] = counts.get(v.status, 0) + 1
        failed = [v for v in verdicts if v.failed]
        state_failed = [c for c in checks if c.failed]
        served_anything = served is not None and (bool(served_events) or any(served_state_rows(served)))
        gap = [v for v in verdicts if v.status == "not_indexed"]
        if not exists_on_chain and not served_anything and not problems:
            verdict = "unknown"
        elif failed or problems or state_failed or not all(b.ok for b in history.blocks):
            verdict = "mismatch"
        elif behind_by and gap:
            verdict = "behind"
        else:
            verdict = "verified"
        if behind_by and not gap and verdict == "verified":
            # blocks keep coming (geth --dev.period, QBFT's empty blocks): a gateway a few blocks
            # behind that has served every event of this subject up to the verified block is
            # complete for it — verified at the head, with the gateway's height said
            notes.append(f"the gateway is at block {gateway_block}, {behind_by} behind the verified block {head_n}; "
                         f"none of this {kind}'s events fall in between")
        if not exists_on_chain and served_anything:
            problems.append(f"{kind} {subject_id} does not exist on chain at block {head_n}, yet the gateway serves it")
            verdict = "mismatch"
        ok = verdict == "verified"
        kinds = sorted({v.status for v in failed})
        n_ok = sum(1 for c in checks if c.status == "ok")
        n_unv = sum(1 for c in checks if c.status == "unverified")
        n_ns = sum(1 for c in checks if c.status == "not_served")
        n_red = sum(1 for c in checks if c.status == "redacted") + sum(len(v.redacted) for v in verdicts)
        if verdict == "unknown":
            summary = f"{kind} {subject_id}: UNKNOWN: no such {kind} on chain at block {head_n} (and none served)"
        elif served is None:
            what = f"chain-side history of {kind} {subject_id} at block {head_n}: {len(history.events)} events"
            summary = (f"{what}, every block and receipt proven; events agree with the contracts' state" if ok
                       else f"{what}: FAILED ({'; '.join(problems or kinds)})")
        elif verdict == "mismatch":
            named = [c.describe() for c in state_failed][:3]
            summary = (f"{kind} {subject_id}: MISMATCH at block {head_n}: "
                       + "; ".join(named + [f"{counts[k]} {k} event(s)" for k in kinds] + problems[:3]))
        elif verdict == "behind":
            summary = (f"{kind} {subject_id}: gateway behind by {behind_by} blocks; events after block {compared_to} "
                       f"not yet served ({len(gap)} of this {kind}'s events); what it serves up to block "
                       f"{compared_to} matches the chain")
        else:
            summary = (f"{kind} {subject_id}: VERIFIED at block {head_n}: the {len(served_events)} served events match "
                       f"the chain (proven by headers and receipts roots); {n_ok} served fields equal the chain "
                       f"(events replayed, contract views by eth_call at block {head_n})"
                       + (f"; {n_unv} presentation fields unverified" if n_unv else "")
                       + (f"; {n_red} redacted fields not served, not checked" if n_red else "")
                       + (f"; {n_ns} chain rows not served by this source, not checked" if n_ns else ""))
        if notes and verdict != "unknown":
            summary += " (note: " + "; ".join(notes) + ")"
        node.timings["total"] = time.perf_counter() - t_start
        return Verdict(kind=kind, id=int(subject_id), chain_id=history.chain_id, ok=ok, summary=summary,
                       head=history.head, compared_to_block=compared_to,
                       source=(served.origin or (source.name if source else "served")) if served else None,
                       counts=counts, events=verdicts, blocks=history.blocks, manifests=manifest_checks,
                       problems=problems, timings={k: round(v, 6) for k, v in node.timings.items()},
                       rpc_calls=node.calls, rpc_requests=node.requests, verdict=verdict, block=head_n,
                       gateway_block=gateway_block, behind_by=behind_by, state=checks, notes=notes)
    finally:
        if not isinstance(rpc, Node):
            node.close()


def served_state_rows(served: Served) -> list[Any]:
    """Every state row the source serves (empty when it serves none)."""
    return [r for rows in (served.state or {}).values() for r in rows]


def _safe_block(e: Mapping[str, Any]) -> int:
    try:
        return int(e["block_number"])
    except (KeyError, TypeError, ValueError):
        return -1


def _add_voucher_count(expected: dict[str, Any], events: Sequence[Mapping[str, Any]], asset_id: int, upto: int) -> None:
    """The asset detail's ``vouchers`` (vouchers issued over it) from its VoucherIssued events."""
    for row in expected.get("assets", {}).values():
        row["vouchers"] = sum(1 for e in events if e["event"] == "VoucherIssued" and int(e["block_number"]) <= upto)
