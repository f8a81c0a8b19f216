"""A replaying JSON-RPC node: a chain of any length built from a recorded anvil chain.

Generating events on anvil costs about 2 ms each here (200,000 events: 7 minutes), so 10^6 and
more events are replayed instead. :func:`record` reads a real chain (the benchmark's own: the
deployed market and its DataVoucher.issue / transfer load) once: every header and every log of
the followed contracts. :class:`ReplayNode` then serves

- blocks ``0 .. head`` exactly as recorded (deployment, registration, the first load), then
- ``copies - 1`` further copies of the load segment ``[segment_start, head]`` on top, renumbered,
  each block with a synthetic hash (sha256 of "replay" and its number) chained by ``parentHash``,
  timestamps moving on, and each log's ``blockNumber`` / ``blockHash`` / ``transactionHash``
  rewritten (the transaction hash is sha256 of the copy number and the recorded hash).

The copied logs are the recorded ones (same contracts, topics and data). By default a copy
re-issues the same voucher ids and repeats the same transfers, which the projections take as
updates of the same rows. With ``shift_ids`` (the contract ABIs, address -> ABI) every indexed
``voucherId`` / ``tokenId`` argument of a copy's logs is shifted by ``copy * stride`` (``stride``:
the largest id in the recording), so each copy issues its own vouchers and its transfers move
those vouchers, never another copy's: the tables grow with the chain as on a real market. Only
indexed ids of events naming no other entity id are shifted (every DataVoucher event; asset ids
are kept, the copies refer to the recorded assets); a segment log of an event whose voucher id
cannot be shifted alone (TradeSettled: its tradeId would repeat) makes ``ReplayNode`` refuse the
recording. So a replayed chain has the benchmark's event mix and density at any length; it is
not a chain a contract could have produced (same transaction senders, recorded data).

Served methods: ``eth_chainId``, ``eth_blockNumber``, ``eth_getBlockByNumber`` (by hex number,
without transactions), ``eth_getLogs`` (``address`` list, ``fromBlock`` / ``toBlock``), as
single requests and batches, on a loopback HTTP port.
"""

from __future__ import annotations

import bisect
import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional

import orjson
from eth_utils.crypto import keccak

from gateway.indexer.decode import abi_type
from ledger.rpc import RpcClient


@dataclass
class Recording:
    chain_id: int
    head: int
    #: block number -> (hash, parentHash, timestamp) for 0 .. head
    headers: list[tuple[str, str, int]]
    #: block number -> its logs (as the node sent them), only blocks that have some
    logs: dict[int, list[dict[str, Any]]]
    segment_start: int

    @property
    def segment_events(self) -> int:
        return sum(len(v) for n, v in self.logs.items() if n >= self.segment_start)

    @property
    def events(self) -> int:
        return sum(len(v) for v in self.logs.values())


def record(rpc_url: str, addresses: list[str], head: int, dense: int = 500,
           segment_start: Optional[int] = None) -> Recording:
    """Every header and followed log of ``rpc_url`` up to ``head``; the load segment starts at
    ``segment_start``, by default at the first block with at least ``dense`` logs."""
    rpc = RpcClient(rpc_url, timeout=300)
    try:
        chain_id = rpc.chain_id()
        got = rpc.headers(range(0, head + 1))
        headers = []
        for n in range(head + 1):
            h = got[n]
            assert h is not None, f"node lacks block {n}"
            headers.append((str(h["hash"]), str(h["parentHash"]), int(h["timestamp"], 16)))
        logs: dict[int, list[dict[str, Any]]] = {}
        a = 0
        while a <= head:
            b = min(head, a + 7)
            for entry in rpc.get_logs(addresses, a, b):
                logs.setdefault(int(entry["blockNumber"], 16), []).append(entry)
            a = b + 1
    finally:
        rpc.close()
    if segment_start is None:
        segment_start = next((n for n in sorted(logs) if len(logs[n]) >= dense), head)
    return Recording(chain_id, head, headers, logs, segment_start)


def _hash(*parts: Any) -> str:
    return "0x" + hashlib.sha256(repr(parts).encode()).hexdigest()


#: argument names of a voucher id (ours, and ERC-721's spelling in Transfer / Approval)
ID_NAMES = ("voucherId", "tokenId")


#: ids a copy may keep: copies refer to the recorded assets, which exist (registered before the segment)
KEPT_IDS = ("assetId",)


def _signature_topic(entry: Mapping[str, Any]) -> str:
    return "0x" + keccak(text=f"{entry['name']}({','.join(abi_type(p) for p in entry['inputs'])})").hex()


def id_topics(abis: Mapping[str, list[dict[str, Any]]]) -> tuple[dict[tuple[str, str, int], int], set[tuple[str, str]]]:
    """For the contracts of ``abis`` (address -> ABI): (address, topic0, #topics) -> index of the
    topic holding the voucher id, for events whose voucher id is indexed and that name no other
    entity id (every DataVoucher event); and the (address, topic0) of events naming a voucher id
    that cannot be shifted alone (the id in data, or another id such as TradeSettled's tradeId,
    which a copy would repeat)."""
    shift: dict[tuple[str, str, int], int] = {}
    refuse: set[tuple[str, str]] = set()
    for address, abi in abis.items():
        for entry in abi:
            if entry.get("type") != "event":
                continue
            inputs = entry["inputs"]
            if not any(p["name"] in ID_NAMES for p in inputs):
                continue
            indexed = [p for p in inputs if p.get("indexed")]
            hit = next((i for i, p in enumerate(indexed) if p["name"] in ID_NAMES), None)
            others = [p["name"] for p in inputs if p["name"].endswith("Id") and p["name"] not in ID_NAMES + KEPT_IDS]
            topic0 = _signature_topic(entry)
            if hit is None or others or sum(p["name"] in ID_NAMES for p in inputs) > 1:
                refuse.add((address.lower(), topic0))
            else:
                shift[(address.lower(), topic0, 1 + len(indexed))] = 1 + hit
    return shift, refuse


class ReplayNode:
    def __init__(self, recording: Recording, copies: int,
                 shift_ids: Optional[Mapping[str, list[dict[str, Any]]]] = None) -> None:
        self.rec = recording
        self.copies = max(1, copies)
        self.seg_len = recording.head - recording.segment_start + 1
        self.head = recording.head + (self.copies - 1) * self.seg_len
        self.seg_blocks = sorted(n for n in recording.logs if n >= recording.segment_start)
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        #: (address, topic0, #topics) -> topic index of the voucher id; empty: ids not shifted
        self.id_topic: dict[tuple[str, str, int], int] = {}
        self.stride = 0
        if shift_ids:
            self.id_topic, unshiftable = id_topics(shift_ids)
            for n in self.seg_blocks:
                for entry in recording.logs[n]:
                    topics = entry["topics"]
                    if topics and (entry["address"].lower(), topics[0].lower()) in unshiftable:
                        raise ValueError(f"block {n}: the voucher id of event {topics[0]} cannot be shifted "
                                         "alone (in its data, or next to another id); record a load without it")
            for entry in (e for logs in recording.logs.values() for e in logs):
                k = self._id_index(entry)
                if k is not None:
                    self.stride = max(self.stride, int(entry["topics"][k], 16))

    def _id_index(self, entry: Mapping[str, Any]) -> Optional[int]:
        topics = entry["topics"]
        if not topics:
            return None
        return self.id_topic.get((entry["address"].lower(), topics[0].lower(), len(topics)))

    def _shifted(self, entry: dict[str, Any], k: int) -> dict[str, Any]:
        """``entry`` (copy ``k``'s) with its voucher id moved to copy ``k``'s range."""
        i = self._id_index(entry)
        if i is None or not self.stride:
            return entry
        topics = list(entry["topics"])
        topics[i] = "0x" + format(int(topics[i], 16) + k * self.stride, "064x")
        return {**entry, "topics": topics}

    @property
    def events(self) -> int:
        return self.rec.events + (self.copies - 1) * self.rec.segment_events

    # -- the chain
    def _origin(self, n: int) -> tuple[int, int]:
        """(copy, recorded block) of replayed block n (copy 0: as recorded)."""
        if n <= self.rec.head:
            return 0, n
        k, off = divmod(n - self.rec.head - 1, self.seg_len)
        return k + 1, self.rec.segment_start + off

    def block_hash(self, n: int) -> str:
        if n <= self.rec.head:
            return self.rec.headers[n][0]
        return _hash("replay", n)

    def header(self, n: int) -> Optional[dict[str, Any]]:
        if n < 0 or n > self.head:
            return None
        k, orig = self._origin(n)
        ts = self.rec.headers[orig][2] + k * (self.seg_len + 1)
        parent = self.rec.headers[n][1] if k == 0 else self.block_hash(n - 1)
        return {"number": hex(n), "hash": self.block_hash(n), "parentHash": parent, "timestamp": hex(ts)}

    def get_logs(self, addresses: list[str], a: int, b: int) -> list[dict[str, Any]]:
        wanted = {x.lower() for x in addresses}
        out: list[dict[str, Any]] = []
        b = min(b, self.head)
        n = max(a, 0)
        while n <= b:
            k, orig = self._origin(n)
            if k == 0:
                for entry in self.rec.logs.get(n, ()):
                    if entry["address"].lower() in wanted:
                        out.append(entry)
                n += 1
                continue
            # jump to the next recorded block of the segment that has logs
            i = bisect.bisect_left(self.seg_blocks, orig)
            if i == len(self.seg_blocks):
                n += self.rec.head - orig + 1
                continue
            n += self.seg_blocks[i] - orig
            if n > b:
                break
            bh, bn = self.block_hash(n), hex(n)
            tx_hashes: dict[str, str] = {}
            for entry in self.rec.logs[self.seg_blocks[i]]:
                if entry["address"].lower() not in wanted:
                    continue
                tx = entry["transactionHash"]
                new_tx = tx_hashes.get(tx)
                if new_tx is None:
                    new_tx = tx_hashes[tx] = _hash(k, tx)
                out.append({**self._shifted(entry, k), "blockNumber": bn, "blockHash": bh, "transactionHash": new_tx})
            n += 1
        return out

    # -- JSON-RPC
    def answer(self, req: dict[str, Any]) -> dict[str, Any]:
        method, params = req.get("method"), req.get("params") or []
        try:
            if method == "eth_chainId":
                result: Any = hex(self.rec.chain_id)
            elif method == "eth_blockNumber":
                result = hex(self.head)
            elif method == "eth_getBlockByNumber":
                tag = params[0]
                result = self.header(self.head if tag == "latest" else int(tag, 16))
            elif method == "eth_getLogs":
                f = params[0]
                addresses = f.get("address") or []
                if isinstance(addresses, str):
                    addresses = [addresses]
                result = self.get_logs(addresses, int(f.get("fromBlock", "0x0"), 16),
                                       int(f.get("toBlock", hex(self.head)), 16))
            else:
                return {"jsonrpc": "2.0", "id": req.get("id"),
                        "error": {"code": -32601, "message": f"method {method} not served by the replay node"}}
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            return {"jsonrpc": "2.0", "id": req.get("id"), "error": {"code": -32602, "message": str(exc)}}
        return {"jsonrpc": "2.0", "id": req.get("id"), "result": result}

    def start(self) -> ReplayNode:
        node = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                req = orjson.loads(body)
                reply = [node.answer(r) for r in req] if isinstance(req, list) else node.answer(req)
                data = orjson.dumps(reply)
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    @property
    def rpc_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
