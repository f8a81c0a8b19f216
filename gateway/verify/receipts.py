"""Consensus encodings the verifier recomputes: RLP, the Merkle-Patricia trie root, receipts
(legacy, EIP-2930, EIP-1559, EIP-4844, EIP-7702), transactions roots and block header hashes.

Everything works on the JSON-RPC shapes a node returns (0x-hex strings), so a receipt or header
can be re-checked from ``eth_getBlockReceipts`` / ``eth_getBlockByNumber`` output, or from the
same JSON stored in a proof bundle, with no other state.

RLP itself is the ``rlp`` package's; this module builds the items (fields as bytes) and the trie.

- receipt encoding (EIP-2718): ``rlp([status, cumulativeGasUsed, logsBloom, logs])`` where a log
  is ``[address, [topics...], data]``; typed receipts (type 1, 2, 3, 4) are ``type || rlp(...)``,
  legacy ones the bare RLP list. Pre-Byzantium receipts carry the post-state ``root`` instead of
  ``status``.
- trie: keys ``rlp(index)``, values the encoded receipts (or raw transactions); the root is
  ``keccak(rlp(root node))`` (the empty trie: keccak(rlp(b""))).
- header: ``keccak(rlp([...]))`` over the fields up to the fork the header has: London adds
  ``baseFeePerGas``, Shanghai ``withdrawalsRoot``, Cancun ``blobGasUsed``, ``excessBlobGas``,
  ``parentBeaconBlockRoot``, Prague ``requestsHash``. (:func:`header_hash` is the Ethereum/anvil
  rule; Besu QBFT's, with the commit seals and round removed from ``extraData``, is in
  gateway.verify.qbft.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Union

import rlp
from eth_utils.crypto import keccak

RlpItem = Union[bytes, Sequence["RlpItem"]]

EMPTY_TRIE_ROOT = "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421"

#: receipt / transaction types whose receipt is ``type || rlp([status, cumGas, bloom, logs])``
TYPED_RECEIPTS = frozenset({1, 2, 3, 4})


class EncodingError(ValueError):
    """A receipt or header this module cannot encode (unknown type, missing field)."""


# ---------------------------------------------------------------- RLP


def rlp_encode(item: RlpItem) -> bytes:
    """RLP of nested byte strings and lists (the ``rlp`` package; integers are passed as their
    minimal big-endian bytes, :func:`int_bytes`, so every field's encoding is explicit here)."""
    try:
        return bytes(rlp.encode(item))
    except (rlp.exceptions.RLPException, TypeError) as exc:
        raise EncodingError(f"cannot RLP-encode: {exc}") from None


def int_bytes(value: int) -> bytes:
    """Big-endian minimal encoding (0 -> empty), as RLP integers are."""
    if value < 0:
        raise EncodingError(f"negative integer {value}")
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def hex_bytes(value: str) -> bytes:
    text = value[2:] if value.startswith(("0x", "0X")) else value
    if len(text) % 2:
        text = "0" + text
    return bytes.fromhex(text)


def hex_int(value: Any) -> int:
    if isinstance(value, int):
        return value
    return int(str(value), 16)


# ---------------------------------------------------------------- Merkle-Patricia trie


def _nibbles(key: bytes) -> tuple[int, ...]:
    out = []
    for b in key:
        out.append(b >> 4)
        out.append(b & 0x0F)
    return tuple(out)


def _hex_prefix(nibbles: Sequence[int], leaf: bool) -> bytes:
    flag = 2 if leaf else 0
    if len(nibbles) % 2:
        seq = [flag + 1, *nibbles]
    else:
        seq = [flag, 0, *nibbles]
    return bytes((seq[i] << 4) | seq[i + 1] for i in range(0, len(seq), 2))


def _ref(node: RlpItem) -> RlpItem:
    """How a parent refers to a child: inline when its encoding is < 32 bytes, else its hash."""
    encoded = rlp_encode(node)
    return node if len(encoded) < 32 else keccak(encoded)


def _build(items: list[tuple[tuple[int, ...], bytes]], depth: int) -> RlpItem:
    if len(items) == 1:
        key, value = items[0]
        return [_hex_prefix(key[depth:], leaf=True), value]
    # longest common prefix below depth
    first = items[0][0]
    shortest = min(len(k) for k, _ in items)
    common = depth
    while common < shortest and all(k[common] == first[common] for k, _ in items):
        common += 1
    if common > depth:
        return [_hex_prefix(first[depth:common], leaf=False), _ref(_build(items, common))]
    branch: list[RlpItem] = [b""] * 17
    groups: dict[int, list[tuple[tuple[int, ...], bytes]]] = {}
    for key, value in items:
        if len(key) == depth:
            branch[16] = value
        else:
            groups.setdefault(key[depth], []).append((key, value))
    for nibble, group in groups.items():
        branch[nibble] = _ref(_build(group, depth + 1))
    return branch


def trie_root(pairs: Iterable[tuple[bytes, bytes]]) -> str:
    """Root (0x hex) of the Merkle-Patricia trie holding ``pairs`` (key bytes -> value bytes)."""
    items = sorted((_nibbles(k), v) for k, v in pairs if v != b"")
    if not items:
        return EMPTY_TRIE_ROOT
    return "0x" + keccak(rlp_encode(_build(items, 0))).hex()


def ordered_trie_root(values: Sequence[bytes]) -> str:
    """Root of the trie ``rlp(i) -> values[i]`` (receipts trie, transactions trie)."""
    return trie_root((rlp_encode(int_bytes(i)), v) for i, v in enumerate(values))


# ---------------------------------------------------------------- receipts


def encode_log(log: Mapping[str, Any]) -> RlpItem:
    return [hex_bytes(log["address"]), [hex_bytes(t) for t in log["topics"]], hex_bytes(log["data"])]


def encode_receipt(receipt: Mapping[str, Any]) -> bytes:
    """The consensus encoding of one JSON-RPC receipt (what the receipts trie stores)."""
    tx_type = hex_int(receipt.get("type", "0x0") or "0x0")
    if "status" in receipt and receipt["status"] is not None:
        first: bytes = int_bytes(hex_int(receipt["status"]))
    elif receipt.get("root"):
        first = hex_bytes(receipt["root"])
    else:
        raise EncodingError("receipt has neither status nor root")
    try:
        body = rlp_encode([
            first,
            int_bytes(hex_int(receipt["cumulativeGasUsed"])),
            hex_bytes(receipt["logsBloom"]),
            [encode_log(log) for log in receipt["logs"]],
        ])
    except KeyError as exc:
        raise EncodingError(f"receipt lacks {exc.args[0]}") from None
    if tx_type == 0:
        return body
    if tx_type in TYPED_RECEIPTS:
        return bytes([tx_type]) + body
    raise EncodingError(f"unsupported transaction type {tx_type:#x}")


def receipts_root(receipts: Sequence[Mapping[str, Any]]) -> str:
    """Receipts root of a block from ALL its receipts, in transaction-index order."""
    ordered = sorted(receipts, key=lambda r: hex_int(r["transactionIndex"]))
    for i, r in enumerate(ordered):
        if hex_int(r["transactionIndex"]) != i:
            raise EncodingError(f"receipts are not contiguous: index {hex_int(r['transactionIndex'])} at {i}")
    return ordered_trie_root([encode_receipt(r) for r in ordered])


def transactions_root(raw_transactions: Sequence[str]) -> str:
    """Transactions root from the raw (EIP-2718 envelope) transactions, in block order."""
    return ordered_trie_root([hex_bytes(raw) for raw in raw_transactions])


def transaction_hash(raw_transaction: str) -> str:
    return "0x" + keccak(hex_bytes(raw_transaction)).hex()


# ---------------------------------------------------------------- headers

#: (json field, kind): h = fixed bytes, i = integer, b = byte string, a = address
HEADER_FIELDS: tuple[tuple[str, str], ...] = (
    ("parentHash", "h"), ("sha3Uncles", "h"), ("miner", "h"), ("stateRoot", "h"),
    ("transactionsRoot", "h"), ("receiptsRoot", "h"), ("logsBloom", "h"), ("difficulty", "i"),
    ("number", "i"), ("gasLimit", "i"), ("gasUsed", "i"), ("timestamp", "i"), ("extraData", "b"),
    ("mixHash", "h"), ("nonce", "h"),
)
#: fork additions, in order; a header has a prefix of them
HEADER_OPTIONAL: tuple[tuple[str, str], ...] = (
    ("baseFeePerGas", "i"), ("withdrawalsRoot", "h"), ("blobGasUsed", "i"), ("excessBlobGas", "i"),
    ("parentBeaconBlockRoot", "h"), ("requestsHash", "h"),
)
HEADER_KEYS = tuple(k for k, _ in HEADER_FIELDS + HEADER_OPTIONAL)


def _field(header: Mapping[str, Any], key: str, kind: str) -> bytes:
    value = header[key]
    return int_bytes(hex_int(value)) if kind == "i" else hex_bytes(value)


def header_fields(header: Mapping[str, Any]) -> list[bytes]:
    try:
        out = [_field(header, k, kind) for k, kind in HEADER_FIELDS]
    except KeyError as exc:
        raise EncodingError(f"header lacks {exc.args[0]}") from None
    for key, kind in HEADER_OPTIONAL:
        if header.get(key) is None:
            break
        out.append(_field(header, key, kind))
    return out


def header_hash(header: Mapping[str, Any]) -> str:
    """keccak(rlp(header)) of a JSON-RPC block header."""
    return "0x" + keccak(rlp_encode(header_fields(header))).hex()


def minimal_header(header: Mapping[str, Any]) -> dict[str, Any]:
    """The fields needed to recompute the hash (plus ``hash`` itself), as the node sent them."""
    out = {k: header[k] for k in HEADER_KEYS if header.get(k) is not None}
    out["hash"] = header["hash"]
    return out


def minimal_receipt(receipt: Mapping[str, Any]) -> dict[str, Any]:
    """The consensus fields of a receipt plus its transaction hash / index (proof bundles)."""
    out: dict[str, Any] = {
        "type": receipt.get("type", "0x0") or "0x0",
        "cumulativeGasUsed": receipt["cumulativeGasUsed"],
        "logsBloom": receipt["logsBloom"],
        "logs": [{"address": log["address"], "topics": list(log["topics"]), "data": log["data"]}
                 for log in receipt["logs"]],
        "transactionHash": receipt["transactionHash"],
        "transactionIndex": receipt["transactionIndex"],
    }
    if receipt.get("status") is not None:
        out["status"] = receipt["status"]
    else:
        out["root"] = receipt.get("root")
    return out


# ---------------------------------------------------------------- blooms


def bloom_bits(value: bytes) -> tuple[int, int, int]:
    h = keccak(value)
    return tuple(((h[i] << 8) | h[i + 1]) & 2047 for i in (0, 2, 4))  # type: ignore[return-value]


def bloom_contains(bloom_hex: str, value: bytes) -> bool:
    """Whether the 2048-bit logs bloom may contain ``value`` (an address or a topic)."""
    bloom = int(bloom_hex, 16)
    return all(bloom >> bit & 1 for bit in bloom_bits(value))
