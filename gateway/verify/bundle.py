"""Self-contained proof bundles: build one from a node, check one OFFLINE against a trusted head.

Format ``dataledger-proof-bundle/2``: canonical JSON (sorted keys, no whitespace, UTF-8; written
exactly as :func:`gateway.indexer.decode.canonical_json` prints it, all hex lowercase)::

    {"format": "dataledger-proof-bundle/2", "kind": "voucher"|"asset", "id": 5, "chain_id": 31337,
     "contracts": {name: address},            # the contracts the history's rules read
     "deployments": {name: {"block": n, "tx_index": i}},  # their creation transactions
     "from_block": n,                          # lowest deployment block of those contracts
     "head": {"number": n, "hash": "0x.."},    # must equal the trusted head
     "headers": [header, ...],                 # EVERY header from_block..head, ascending; the
                                               # fields keccak(rlp(header)) covers, plus "hash"
     "blocks": {"<n>": {"receipts": [...], "transactions": ["0x<raw EIP-2718 tx>", ...]}},
     "events": [event, ...],                   # the history, API shape, with links
     "manifest_events": [event, ...],          # AssetRegistered / ManifestUpdated of the asset
     "manifests": [{"cid": "b...", "data": "<base64>"}],
     "state": {"block": n,                     # = head: eth_getProof at the head
               "accounts": {name: {"address": "0x..", "proof": ["0x<rlp node>", ...],
                                   "storage": [{"slot": "0x..", "value": "0x..", "proof": [...]}]}}}}

``state`` proves the subject's record at the head (gateway.verify.proofs): for a voucher
DataVoucher ``_owners[id]`` (holder), ``_cores[id]`` (asset, right, status, transferable, validity,
max uses, uses) and ``_metas[id]`` (issuer, scope hash); for an asset AssetRegistry ``_cores[id]``.
The slots are derived from the compiler's storageLayout in the shipped artifacts, in that order.

``blocks`` holds every block whose header's logs bloom may contain a log of the history (so
completeness is provable: a block whose bloom excludes the history cannot hold one of its logs),
every block with a manifest event, and the contracts' deployment blocks.

The offline check (:func:`verify_bundle`) trusts nothing but the head hash it is given (or the
validator set whose commit seals the head must carry, see "Anchor" below):

1. the file is canonical JSON (any changed byte either breaks the parse, the canonical form, or
   a value that is checked below), every hex string canonical;
2. every header re-hashed (keccak(rlp)), the parentHash links unbroken from ``from_block`` to the
   head, and the head hash equal to the trusted one;
3. per included block: the receipts root and the transactions root recomputed; each receipt's
   transaction hash = keccak(raw transaction);
4. each contract address = the CREATE address (keccak(rlp([sender, nonce]))) of its deployment
   transaction (sender recovered from the signature), which binds the chain id too;
5. the history rebuilt from the receipts (bloom-selected blocks, the same rules as the online
   check) equals ``events`` exactly, and likewise ``manifest_events``;
6. each manifest's bytes hash to its CID (UnixFS, as Kubo) and to the on-chain contentHash;
7. the state proofs: the account proof against the head header's stateRoot, each storage proof
   against the account's storageRoot, the slots exactly those the storage layout gives; the
   proven record equals the record the history's events replay to ("holder X, status S, uses U
   at block N").

Anchor: either a trusted head hash, or a validator set (``validators=``, a Besu QBFT chain): the
head header's commit seals must then satisfy that set (gateway.verify.qbft.check_seals: the
listed validators equal the set, proposer in it, at least ceil(2n/3) distinct validator seals,
no unknown signer, no duplicate) and its hash is recomputed by Besu's rule. Headers hash by the
rule they match: Ethereum's keccak(rlp) or Besu QBFT's (seals and round removed from extraData).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

from eth_utils.crypto import keccak

from gateway.indexer.decode import Decoder, canonical_json
from gateway.verify import qbft
from gateway.verify import receipts as rc
from gateway.verify.comparison import compare
from gateway.verify.history import add_links, event_dict, rebuild
from gateway.verify.manifests import check_manifest_bytes, ipfs_fetcher
from gateway.verify.node import Node
from gateway.verify.rawtx import raw_transactions
from gateway.verify.results import ChainHistory, ManifestCheck
from gateway.verify.selection import MANIFEST_EVENTS, RULES, check_kind, filter_history, topic0, uint_topic

FORMAT = "dataledger-proof-bundle/2"
TOP_KEYS = frozenset({"format", "kind", "id", "chain_id", "contracts", "deployments", "from_block", "head",
                      "headers", "blocks", "events", "manifest_events", "manifests", "state"})
RECEIPT_KEYS = frozenset({"type", "status", "root", "cumulativeGasUsed", "logsBloom", "logs", "transactionHash",
                          "transactionIndex"})


class BundleError(ValueError):
    """The bundle is not well formed (the offline check fails with this message)."""


# ---------------------------------------------------------------- which blocks


def rule_contracts(kind: str) -> list[str]:
    names = {r.contract for r in RULES[check_kind(kind)]}
    if kind == "voucher":
        names.add("AssetRegistry")  # the asset's manifests
    return sorted(names)


def bloom_filters(kind: str, subject_id: int, addresses: Mapping[str, str], trade_ids: Sequence[str] = (),
                  asset_id: Optional[int] = None) -> list[tuple[str, list[str], list[str]]]:
    """(address, any-of topic0s, any-of key topics) the blooms are tested with."""
    out = []
    for rule in RULES[kind]:
        keys = [t.lower() for t in trade_ids] if rule.key == "trades" else [uint_topic(subject_id)]
        if keys:
            out.append((addresses[rule.contract], [topic0(rule.contract, n) for n in rule.names], keys))
    if kind == "voucher" and asset_id is not None:
        out.append((addresses["AssetRegistry"], [topic0("AssetRegistry", n) for n in MANIFEST_EVENTS],
                    [uint_topic(asset_id)]))
    return out


def bloom_match(bloom: str, filters: Sequence[tuple[str, list[str], list[str]]]) -> bool:
    for address, t0s, keys in filters:
        if not rc.bloom_contains(bloom, rc.hex_bytes(address)):
            continue
        if not any(rc.bloom_contains(bloom, rc.hex_bytes(t)) for t in t0s):
            continue
        if any(rc.bloom_contains(bloom, rc.hex_bytes(k)) for k in keys):
            return True
    return False


def _asset_of(kind: str, subject_id: int, events: Sequence[Mapping[str, Any]]) -> Optional[int]:
    if kind == "asset":
        return subject_id
    for e in events:
        if e["event"] == "VoucherIssued":
            return int(e["args"]["assetId"])
    return None


# ---------------------------------------------------------------- build


def _find_creation(node: Node, address: str, block: int) -> int:
    receipts = node.call("eth_getBlockReceipts", [hex(block)], phase="rpc_receipts") or []
    for r in receipts:
        if (r.get("contractAddress") or "").lower() == address.lower():
            return int(r["transactionIndex"], 16)
    raise rc.EncodingError(f"no transaction in block {block} created {address}")


def build_bundle(rpc: Any, kind: str, subject_id: int, contracts: Mapping[str, Mapping[str, Any]], *,
                 fetch: Any = None, ipfs: Optional[str] = None, state_dir: Optional[Path | str] = None,
                 to_block: Optional[int] = None, history: Optional[ChainHistory] = None) -> dict[str, Any]:
    """The proof bundle of one history (a dict; :func:`dumps` gives the file's bytes)."""
    check_kind(kind)
    node = rpc if isinstance(rpc, Node) else Node(rpc)
    try:
        names = rule_contracts(kind)
        used: dict[str, dict[str, Any]] = {n: {"address": str(contracts[n]["address"]).lower(),
                    "deployBlock": int(contracts[n].get("deployBlock", 0))} for n in names}
        if history is None:
            history = rebuild(node, kind, subject_id, contracts, to_block=to_block, proofs=False)
        head_n = int(history.head["number"])
        from_block = min(c["deployBlock"] for c in used.values())
        headers: dict[int, dict[str, Any]] = {}
        numbers = list(range(from_block, head_n + 1))
        for i in range(0, len(numbers), 500):
            part = numbers[i : i + 500]
            for n, h in zip(part, node.batch([("eth_getBlockByNumber", [hex(n), False]) for n in part],
                                              phase="rpc_headers")):
                if h is None:
                    raise rc.EncodingError(f"the node has no block {n}")
                headers[n] = h
        if headers[head_n]["hash"].lower() != str(history.head["hash"]).lower():
            raise rc.EncodingError("the chain moved while building the bundle; retry")
        addresses = {n: c["address"] for n, c in used.items()}
        trades = sorted({str(e["args"]["tradeId"]).lower() for e in history.events if e["event"] == "TradeSettled"})
        filters = bloom_filters(kind, subject_id, addresses, trades, _asset_of(kind, subject_id, history.events))
        wanted_set = {n for n, h in headers.items() if bloom_match(h["logsBloom"], filters)}
        wanted_set |= {int(e["block_number"]) for e in history.events + history.manifest_events}
        wanted_set |= {int(c["deployBlock"]) for c in used.values()}
        wanted = sorted(wanted_set)
        rcpts = node.batch([("eth_getBlockReceipts", [hex(n)]) for n in wanted], phase="rpc_receipts")
        raws = raw_transactions(node, wanted, rcpts)  # by block and index, or by hash (Besu)
        blocks: dict[str, Any] = {}
        pos = 0
        for n, receipts in zip(wanted, rcpts):
            receipts = sorted(receipts or [], key=lambda r: int(r["transactionIndex"], 16))
            txs = [str(x).lower() for x in raws[pos : pos + len(receipts)]]
            pos += len(receipts)
            blocks[str(n)] = {"receipts": [_lower(rc.minimal_receipt(r)) for r in receipts], "transactions": txs}
        deployments = {}
        for name, c in used.items():
            deployments[name] = {"block": c["deployBlock"],
                                 "tx_index": _find_creation(node, c["address"], c["deployBlock"])}
        manifests = []
        if history.manifest_events:
            getter = fetch or ipfs_fetcher(ipfs, state_dir)
            from ledger.ipfs import cid_from_chain

            seen = set()
            for e in history.manifest_events:
                cid = cid_from_chain(bytes.fromhex(e["args"]["manifestCid"][2:]))
                if cid in seen:
                    continue
                seen.add(cid)
                manifests.append({"cid": cid, "data": base64.b64encode(getter(cid)).decode("ascii")})
        manifest_events = [dict(e) for e in history.manifest_events]
        add_links(manifest_events, history.events)
        state = build_state(node, kind, subject_id, addresses, head_n)
        return {
            "format": FORMAT, "kind": kind, "id": int(subject_id), "chain_id": history.chain_id,
            "contracts": addresses, "deployments": deployments, "from_block": from_block,
            "head": {"number": head_n, "hash": headers[head_n]["hash"].lower()},
            "headers": [_lower(rc.minimal_header(headers[n])) for n in numbers],
            "blocks": blocks, "events": history.events, "manifest_events": manifest_events,
            "manifests": manifests, "state": state,
        }
    finally:
        if not isinstance(rpc, Node):
            node.close()


def build_state(node: Node, kind: str, subject_id: int, addresses: Mapping[str, str], block: int) -> dict[str, Any]:
    """eth_getProof of the subject's records (gateway.verify.proofs.STATE_RECORDS) at ``block``."""
    from gateway.verify.proofs import STATE_RECORDS, ProofError, record_slots

    slots: dict[str, list[int]] = {}
    try:
        for contract, variable in STATE_RECORDS[kind]:
            slots.setdefault(contract, []).extend(record_slots(contract, variable, subject_id).slots)
    except ProofError as exc:  # e.g. artifacts without storageLayout, a renamed state variable
        raise rc.EncodingError(f"cannot derive the state slots: {exc}") from None
    accounts: dict[str, Any] = {}
    for contract, wanted in slots.items():
        reply = node.call("eth_getProof", [addresses[contract], ["0x" + s.to_bytes(32, "big").hex() for s in wanted],
                                           hex(block)], phase="rpc_proofs")
        storage = []
        for slot, entry in zip(wanted, reply["storageProof"]):
            if int(entry["key"], 16) != slot:
                raise rc.EncodingError(f"eth_getProof answered slot {entry['key']} for {hex(slot)}")
            storage.append({"slot": hex(slot), "value": hex(int(entry["value"], 16)),
                            "proof": [str(x).lower() for x in entry["proof"]]})
        accounts[contract] = {"address": addresses[contract], "proof": [str(x).lower() for x in reply["accountProof"]],
                              "storage": storage}
    return {"block": block, "accounts": accounts}


def _lower(obj: Any) -> Any:
    if isinstance(obj, str):
        return obj.lower() if obj.startswith("0x") else obj
    if isinstance(obj, list):
        return [_lower(x) for x in obj]
    if isinstance(obj, dict):
        return {k: _lower(v) for k, v in obj.items()}
    return obj


def dumps(bundle: Mapping[str, Any]) -> bytes:
    return canonical_json(bundle).encode("utf-8")


def write_bundle(bundle: Mapping[str, Any], path: Path | str) -> Path:
    p = Path(path)
    p.write_bytes(dumps(bundle))
    return p


# ---------------------------------------------------------------- offline check


def _canon_hex(value: Any, what: str, kind: str = "b") -> bytes:
    """Bytes of a canonical hex string: lowercase, 0x-prefixed; integers minimal (``hex(n)``)."""
    if not isinstance(value, str) or not value.startswith("0x"):
        raise BundleError(f"{what}: not a 0x hex string")
    try:
        if kind == "i":
            n = int(value, 16)
            if value != hex(n):
                raise BundleError(f"{what}: non-canonical integer {value!r}")
            return rc.int_bytes(n)
        raw = bytes.fromhex(value[2:])
    except ValueError:
        raise BundleError(f"{what}: invalid hex") from None
    if value != "0x" + raw.hex():
        raise BundleError(f"{what}: non-canonical hex (uppercase?)")
    return raw


def _check_header(h: Any, i: int) -> None:
    if not isinstance(h, dict):
        raise BundleError(f"header #{i}: not an object")
    allowed = set(rc.HEADER_KEYS) | {"hash"}
    extra = set(h) - allowed
    if extra:
        raise BundleError(f"header #{i}: unexpected fields {sorted(extra)}")
    kinds = dict(rc.HEADER_FIELDS + rc.HEADER_OPTIONAL)
    for k, v in h.items():
        _canon_hex(v, f"header #{i} {k}", "i" if kinds.get(k) == "i" else "b")
    # optional fields must be a prefix of the fork list (header_fields stops at the first gap)
    present = [k for k, _ in rc.HEADER_OPTIONAL if k in h]
    if present != [k for k, _ in rc.HEADER_OPTIONAL][: len(present)]:
        raise BundleError(f"header #{i}: fork fields out of order")


def _check_receipt(r: Any, where: str, index: int) -> None:
    if not isinstance(r, dict):
        raise BundleError(f"{where}: not an object")
    extra = set(r) - RECEIPT_KEYS
    if extra:
        raise BundleError(f"{where}: unexpected fields {sorted(extra)}")
    for k in ("type", "cumulativeGasUsed", "transactionIndex") + (("status",) if "status" in r else ()):
        _canon_hex(r.get(k), f"{where} {k}", "i")
    if int(r["transactionIndex"], 16) != index:
        raise BundleError(f"{where}: transactionIndex {r['transactionIndex']} at position {index}")
    _canon_hex(r.get("logsBloom"), f"{where} logsBloom")
    _canon_hex(r.get("transactionHash"), f"{where} transactionHash")
    if "root" in r:
        _canon_hex(r["root"], f"{where} root")
    if not isinstance(r.get("logs"), list):
        raise BundleError(f"{where}: logs not a list")
    for j, log in enumerate(r["logs"]):
        if not isinstance(log, dict) or set(log) != {"address", "topics", "data"} or not isinstance(log["topics"], list):
            raise BundleError(f"{where} log {j}: malformed")
        _canon_hex(log["address"], f"{where} log {j} address")
        _canon_hex(log["data"], f"{where} log {j} data")
        for t in log["topics"]:
            _canon_hex(t, f"{where} log {j} topic")


def _decode_tx(raw: bytes) -> tuple[Optional[int], int, bytes]:
    """(chain id or None, nonce, to) of a raw transaction."""
    import rlp

    if raw and raw[0] < 0x7F:  # typed: type || rlp([chainId, nonce, ...])
        fields = rlp.decode(raw[1:])
        chain = int.from_bytes(fields[0], "big")
        nonce = int.from_bytes(fields[1], "big")
        to_index = {1: 4, 2: 5, 3: 5, 4: 5}.get(raw[0])
        if to_index is None:
            raise BundleError(f"unsupported transaction type {raw[0]}")
        return chain, nonce, fields[to_index]
    fields = rlp.decode(raw)
    v = int.from_bytes(fields[6], "big")
    legacy_chain = (v - 35) // 2 if v >= 35 else None
    return legacy_chain, int.from_bytes(fields[0], "big"), fields[3]


def _create_address(sender: str, nonce: int) -> str:
    return "0x" + keccak(rc.rlp_encode([rc.hex_bytes(sender), rc.int_bytes(nonce)]))[12:].hex()


def load_bundle(data: bytes | str | Path) -> dict[str, Any]:
    """Parse and check the canonical form; raises BundleError with a clear message."""
    if isinstance(data, Path):
        data = data.read_bytes()
    if isinstance(data, str):
        data = data.encode("utf-8")
    try:
        text = data.decode("utf-8")
        bundle = json.loads(text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BundleError(f"not a JSON bundle: {exc}") from None
    if not isinstance(bundle, dict):
        raise BundleError("not a JSON object")
    if canonical_json(bundle).encode("utf-8") != data.rstrip(b"\n") or data.endswith(b"\n\n"):
        raise BundleError("not in canonical form (the bundle was edited: whitespace, key order or escapes)")
    return bundle


def verify_bundle(data: bytes | str | Path | Mapping[str, Any], trusted_head: Optional[str],
                  expected_contracts: Optional[Mapping[str, str]] = None, *,
                  validators: Optional[Sequence[str]] = None) -> dict[str, Any]:
    """Check a bundle offline (no RPC), anchored on ``trusted_head`` and/or on the QBFT commit
    seals of its head by ``validators``. Returns ``{"ok", "summary", "problems", "events", ...}``;
    never raises for a bad bundle (a malformed one is a failed check with its reason)."""
    try:
        bundle = data if isinstance(data, Mapping) else load_bundle(data)
        return _verify(dict(bundle), trusted_head, expected_contracts, validators)
    except BundleError as exc:
        return {"ok": False, "summary": f"bundle rejected: {exc}", "problems": [str(exc)], "events": []}
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        msg = f"malformed bundle: {type(exc).__name__}: {exc}"
        return {"ok": False, "summary": f"bundle rejected: {msg}", "problems": [msg], "events": []}


def _verify(b: dict[str, Any], trusted_head: Optional[str], expected_contracts: Optional[Mapping[str, str]],
            validators: Optional[Sequence[str]] = None) -> dict[str, Any]:
    problems: list[str] = []
    if set(b) != TOP_KEYS:
        raise BundleError(f"fields {sorted(set(b) ^ TOP_KEYS)} unexpected or missing")
    if b["format"] != FORMAT:
        raise BundleError(f"unknown format {b['format']!r}")
    kind = check_kind(b["kind"])
    subject_id = b["id"]
    if not isinstance(subject_id, int) or isinstance(subject_id, bool):
        raise BundleError("id is not an integer")
    if trusted_head is None and validators is None:
        raise BundleError("no anchor: give a trusted head hash or a validator set")
    trusted = None if trusted_head is None else trusted_head.lower()
    if trusted is not None and not trusted.startswith("0x"):
        trusted = "0x" + trusted

    # 1. header chain
    headers = b["headers"]
    if not isinstance(headers, list) or not headers:
        raise BundleError("no headers")
    by_number: dict[int, dict[str, Any]] = {}
    prev_hash = None
    for i, h in enumerate(headers):
        _check_header(h, i)
        n = int(h["number"], 16)
        if n != b["from_block"] + i:
            raise BundleError(f"header #{i} is block {n}, expected {b['from_block'] + i} (headers must be contiguous)")
        computed = qbft.matching_hash(h)
        if computed != h["hash"]:
            problems.append(f"block {n}: header fields hash to {computed}, not {h['hash']}")
        if prev_hash is not None and h["parentHash"] != prev_hash:
            problems.append(f"block {n}: parentHash does not link to block {n - 1}")
        prev_hash = computed
        by_number[n] = h
    last = headers[-1]
    if b["head"] != {"number": int(last["number"], 16), "hash": last["hash"]}:
        problems.append("head is not the last header")
    if trusted is not None and prev_hash != trusted:
        problems.append(f"the header chain ends at {prev_hash}, not the trusted head {trusted}")
    seals: Optional[qbft.SealCheck] = None
    if validators is not None:
        seals = qbft.check_seals(last, validators)
        if not seals.ok:
            problems.append(f"head not sealed by the validator set: {seals.summary()}")
    anchor = " and ".join(([f"head {trusted}"] if trusted else []) + (
        [f"head {prev_hash} sealed by {len({s for s in seals.signers if s})} of {len(seals.validators)} validators"]
        if seals is not None else []))

    # 2. contracts: deployment transactions prove the addresses (and the chain id)
    contracts = b["contracts"]
    if not isinstance(contracts, dict) or sorted(contracts) != rule_contracts(kind):
        raise BundleError(f"contracts must be exactly {rule_contracts(kind)}")
    if not isinstance(b["deployments"], dict) or sorted(b["deployments"]) != sorted(contracts):
        raise BundleError("deployments must name every contract")
    blocks = b["blocks"]
    if not isinstance(blocks, dict):
        raise BundleError("blocks is not an object")
    for key in blocks:
        if key != str(int(key)) or int(key) not in by_number:
            raise BundleError(f"block {key!r} is outside the header chain")
    if b["from_block"] != min(d["block"] for d in b["deployments"].values()):
        problems.append("from_block is not the first deployment block")

    # 3. each included block: receipts root, transactions root, tx hashes
    receipts_of: dict[int, list[dict[str, Any]]] = {}
    for key, blk in sorted(blocks.items(), key=lambda kv: int(kv[0])):
        n = int(key)
        if not isinstance(blk, dict) or set(blk) != {"receipts", "transactions"}:
            raise BundleError(f"block {n}: needs receipts and transactions")
        rs, txs = blk["receipts"], blk["transactions"]
        if not isinstance(rs, list) or not isinstance(txs, list) or len(rs) != len(txs):
            raise BundleError(f"block {n}: receipts and transactions differ in number")
        for i, r in enumerate(rs):
            _check_receipt(r, f"block {n} receipt {i}", i)
        raw_txs = [_canon_hex(t, f"block {n} transaction") for t in txs]
        header = by_number[n]
        if rc.receipts_root(rs) != header["receiptsRoot"]:
            problems.append(f"block {n}: receipts root does not match the header")
        if rc.ordered_trie_root(raw_txs) != header["transactionsRoot"]:
            problems.append(f"block {n}: transactions root does not match the header")
        for i, (r, raw) in enumerate(zip(rs, raw_txs)):
            if "0x" + keccak(raw).hex() != r["transactionHash"]:
                problems.append(f"block {n} receipt {i}: transaction hash is not keccak(raw transaction)")
        receipts_of[n] = rs
    for name, address in contracts.items():
        _canon_hex(address, f"contract {name}")
        d = b["deployments"][name]
        if set(d) != {"block", "tx_index"} or d["block"] not in receipts_of:
            problems.append(f"{name}: deployment block not in the bundle")
            continue
        try:
            raw = rc.hex_bytes(blocks[str(d["block"])]["transactions"][d["tx_index"]])
            from eth_account import Account

            sender = Account.recover_transaction(raw)
            chain, nonce, to = _decode_tx(raw)
        except (IndexError, ValueError, TypeError) as exc:
            problems.append(f"{name}: deployment transaction unreadable: {exc}")
            continue
        if to != b"" or _create_address(sender, nonce) != address:
            problems.append(f"{name}: {address} is not created by the transaction at block {d['block']} index {d['tx_index']}")
        if chain != b["chain_id"]:
            problems.append(f"chain id {b['chain_id']} is not the deployment transaction's ({chain})")
        if not int(receipts_of[d["block"]][d["tx_index"]].get("status", "0x0"), 16):
            problems.append(f"{name}: deployment transaction reverted")
    if expected_contracts:
        for name, address in contracts.items():
            want = expected_contracts.get(name)
            if want is not None and want.lower() != address:
                problems.append(f"{name}: bundle address {address} is not the deployment record's {want.lower()}")

    # 4. rebuild the history from the receipts of the bloom-selected blocks
    decoder = Decoder(contracts)
    rule_addresses = {a for a in contracts.values()}

    def scan(filters: list[tuple[str, list[str], list[str]]]) -> list[dict[str, Any]]:
        out = []
        for n, h in by_number.items():
            if not bloom_match(h["logsBloom"], filters):
                continue
            if n not in receipts_of:
                problems.append(f"block {n} may hold events of the history (logs bloom) but its receipts are missing")
                continue
            log_index = 0
            for r in receipts_of[n]:
                if int(r.get("status", "0x1"), 16) == 0 and r["logs"]:
                    problems.append(f"block {n}: a reverted receipt carries logs")
                for log in r["logs"]:
                    if log["address"] in rule_addresses:
                        ev = decoder.decode({**log, "blockNumber": hex(n), "blockHash": h["hash"],
                                             "transactionHash": r["transactionHash"],
                                             "transactionIndex": r["transactionIndex"], "logIndex": hex(log_index)})
                        out.append(event_dict(ev))
                    log_index += 1
        return out

    filters = bloom_filters(kind, subject_id, contracts)
    candidates = scan(filters)
    trades = sorted({str(e["args"]["tradeId"]).lower() for e in candidates
                     if e["contract"] == "TradeSettlement" and e["event"] == "TradeSettled"
                     and str(e["args"].get("voucherId")) == str(subject_id)})
    asset_id: Optional[int] = _asset_of(kind, subject_id, filter_history(kind, subject_id, candidates))
    if trades or (kind == "voucher" and asset_id is not None):
        more = bloom_filters(kind, subject_id, contracts, trades, asset_id)
        extra_filters = [f for f in more if f not in filters]
        if extra_filters:
            seen = {(e["block_number"], e["log_index"]) for e in candidates}
            candidates += [e for e in scan(extra_filters) if (e["block_number"], e["log_index"]) not in seen]
    candidates.sort(key=lambda e: (e["block_number"], e["log_index"]))
    rebuilt = filter_history(kind, subject_id, candidates)
    if kind == "asset":
        manifest_rebuilt = [e for e in rebuilt if e["event"] in MANIFEST_EVENTS]
    else:
        manifest_rebuilt = [e for e in candidates if e["contract"] == "AssetRegistry" and e["event"] in MANIFEST_EVENTS
                            and asset_id is not None and int(e["args"]["assetId"]) == asset_id]
    add_links(rebuilt)
    manifest_rebuilt = [dict(e) for e in manifest_rebuilt]
    add_links(manifest_rebuilt, rebuilt)

    served = b["events"]
    if not isinstance(served, list):
        raise BundleError("events is not a list")
    hashes = {n: h["hash"] for n, h in by_number.items()}
    verdicts = compare(rebuilt, served, hashes)
    if canonical_json(served) != canonical_json(rebuilt):
        bad = [v for v in verdicts if v.status != "ok"]
        problems.append("events differ from the history in the receipts"
                        + (f": {len(bad)} events" if bad else " (exact form)"))
    if canonical_json(b["manifest_events"]) != canonical_json(manifest_rebuilt):
        problems.append("manifest_events differ from the receipts")

    # 5. manifests
    manifests = b["manifests"]
    if not isinstance(manifests, list):
        raise BundleError("manifests is not a list")
    data_by_cid: dict[str, bytes] = {}
    for m in manifests:
        if not isinstance(m, dict) or set(m) != {"cid", "data"} or not isinstance(m["data"], str):
            raise BundleError("manifest entries need cid and data")
        try:
            raw = base64.b64decode(m["data"], validate=True)
        except (binascii.Error, ValueError):
            raise BundleError(f"manifest {m['cid']}: data is not base64") from None
        if base64.b64encode(raw).decode("ascii") != m["data"] or m["cid"] in data_by_cid:
            raise BundleError(f"manifest {m['cid']}: non-canonical or duplicate entry")
        data_by_cid[m["cid"]] = raw
    manifest_checks: list[ManifestCheck] = []
    from ledger.ipfs import cid_from_chain

    used_cids = set()
    for e in manifest_rebuilt:
        a = e["args"]
        cid = cid_from_chain(bytes.fromhex(a["manifestCid"][2:]))
        used_cids.add(cid)
        check = ManifestCheck(int(a["assetId"]), int(a.get("version", 0)), cid, a["contentHash"], "ok", "",
                              e["block_number"], e["log_index"])
        if cid not in data_by_cid:
            check.status, check.detail = "unavailable", "not in the bundle"
        else:
            check_manifest_bytes(check, data_by_cid[cid])
        manifest_checks.append(check)
        if check.status != "ok":
            problems.append(f"manifest {cid}: {check.status}: {check.detail}")
    if set(data_by_cid) != used_cids:
        problems.append("the bundle carries manifests no event refers to")

    # 6. state proofs at the head, against the events
    proven = _verify_state(b, kind, subject_id, by_number[int(last["number"], 16)], rebuilt, problems)

    ok = not problems and all(v.status == "ok" for v in verdicts)
    what = ""
    if kind == "voucher" and proven:
        what = (f"; holder {proven['holder']}, status {proven['status']}, uses {proven['uses']} of "
                f"{proven['max_uses']} at block {proven['block']} (storage proofs)")
    elif proven:
        what = (f"; holder {proven['holder']}, status {proven['status']}, manifest v{proven['manifest_version']} "
                f"at block {proven['block']} (storage proofs)")
    summary = (f"{kind} {subject_id}: {len(rebuilt)} events proven offline against {anchor} "
               f"({len(headers)} headers, {len(blocks)} blocks' receipts, {len(manifest_checks)} manifests){what}"
               if ok else f"{kind} {subject_id}: bundle FAILED: " + "; ".join(problems[:5] or
                                                                            [f"{v.status} event" for v in verdicts if v.status != 'ok'][:5]))
    return {"ok": ok, "summary": summary, "problems": problems, "kind": kind, "id": subject_id,
            "chain_id": b["chain_id"], "head": b["head"], "trusted_head": trusted,
            "seals": None if seals is None else seals.to_dict(),
            "events": [v.__dict__ for v in verdicts], "manifests": [m.__dict__ for m in manifest_checks],
            "headers": len(headers), "blocks": len(blocks), "state": proven}


def _verify_state(b: Mapping[str, Any], kind: str, subject_id: int, head: Mapping[str, Any],
                  events: Sequence[Mapping[str, Any]], problems: list[str]) -> Optional[dict[str, Any]]:
    """Check the state proofs; the proven record (column names of the gateway's rows) or None."""
    from gateway.indexer.projections import text_of
    from gateway.verify import proofs as pf
    from gateway.verify.state import norm, replay
    from ledger.contracts.models import AssetStatus, VoucherStatus

    state = b["state"]
    if not isinstance(state, dict) or set(state) != {"block", "accounts"} or not isinstance(state["accounts"], dict):
        raise BundleError("state must be {block, accounts}")
    block = int(head["number"], 16)
    if state["block"] != block:
        raise BundleError(f"state is at block {state['block']}, not the head {block}")
    records = [pf.record_slots(c, v, subject_id) for c, v in pf.STATE_RECORDS[kind]]
    wanted: dict[str, list[int]] = {}
    for r in records:
        wanted.setdefault(r.contract, []).extend(r.slots)
    if sorted(state["accounts"]) != sorted(wanted):
        raise BundleError(f"state accounts must be exactly {sorted(wanted)}")
    state_root = _canon_hex(head["stateRoot"], "head stateRoot")
    values: dict[str, dict[int, int]] = {}
    for contract, slots in wanted.items():
        acc = state["accounts"][contract]
        if not isinstance(acc, dict) or set(acc) != {"address", "proof", "storage"}:
            raise BundleError(f"state account {contract}: needs address, proof, storage")
        if acc["address"] != b["contracts"].get(contract):
            raise BundleError(f"state account {contract}: not the bundle's {contract} address")
        address = _canon_hex(acc["address"], f"state {contract} address")
        nodes = [_canon_hex(x, f"state {contract} account proof") for x in _list(acc["proof"])]
        try:
            account = pf.account_state(state_root, address, nodes)
        except pf.ProofError as exc:
            problems.append(f"state {contract}: account proof: {exc}")
            return None
        if account is None:
            problems.append(f"state {contract}: the account proof shows no account at {acc['address']}")
            return None
        entries = _list(acc["storage"])
        if len(entries) != len(slots):
            raise BundleError(f"state {contract}: {len(entries)} storage proofs, the layout gives {len(slots)} slots")
        got: dict[int, int] = {}
        for slot, e in zip(slots, entries):
            if not isinstance(e, dict) or set(e) != {"slot", "value", "proof"}:
                raise BundleError(f"state {contract}: storage entries need slot, value, proof")
            _canon_hex(e["slot"], f"state {contract} slot", "i")
            _canon_hex(e["value"], f"state {contract} value", "i")
            if int(e["slot"], 16) != slot:
                problems.append(f"state {contract}: slot {e['slot']} is not the layout's {hex(slot)}")
                return None
            try:
                proven_value = pf.storage_value(account.storage_root,
                                                slot, [_canon_hex(x, f"state {contract} storage proof")
                                                       for x in _list(e["proof"])])
            except pf.ProofError as exc:
                problems.append(f"state {contract} slot {e['slot']}: storage proof: {exc}")
                return None
            if proven_value != int(e["value"], 16):
                problems.append(f"state {contract} slot {e['slot']}: value {e['value']} is not the proven {hex(proven_value)}")
                return None
            got[slot] = proven_value
        values[contract] = got
    decoded = {r.variable: pf.decode_record(r, values[r.contract]) for r in records}
    stamps = {n: int(h["timestamp"], 16) for n, h in ((int(h["number"], 16), h) for h in b["headers"])}
    rows = replay(events, stamps)
    if kind == "voucher":
        core, meta = decoded["_cores"], decoded["_metas"]
        proven = {"holder": decoded["_owners"]["value"], "asset_id": core["assetId"], "right": core["right"],
                  "status": VoucherStatus(core["status"]).name.lower() if core["status"] < 4 else core["status"],
                  "transferable": core["transferable"], "valid_from": core["validFrom"],
                  "valid_until": core["validUntil"], "max_uses": core["maxUses"], "uses": core["uses"],
                  "issuer": meta["issuer"], "scope_hash": meta["scopeHash"]}
        row = rows.get("vouchers", (subject_id,))
    else:
        core = decoded["_cores"]
        proven = {"holder": core["holder"], "level": core["level"], "source_type": core["sourceType"],
                  "status": AssetStatus(core["status"]).name.lower() if core["status"] < 4 else core["status"],
                  "home_jurisdiction": text_of(core["homeJurisdiction"]),
                  "manifest_version": int(core["versionCount"]) - 1}
        row = rows.get("assets", (subject_id,))
    if row is None:
        problems.append(f"state: no event of the history creates {kind} {subject_id}")
        return None
    for f, v in proven.items():
        if norm(row.get(f)) != norm(v):
            problems.append(f"state: {kind} {subject_id} {f} proven {v} at block {block}, the events give {row.get(f)}")
    proven["block"] = block
    return proven


def _list(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise BundleError("a proof is not a list")
    return value
