"""State proofs: Merkle-Patricia proofs (``eth_getProof``) checked offline, and storage slots derived
from the compiler's ``storageLayout`` (in the shipped artifacts; never hard-coded slot numbers).

- :func:`mpt_get` walks a proof from a trusted root: every node must hash to the reference its
  parent holds, every node of the proof must be used, in order; returns the value at the key or None
  (proven absent).
- :func:`account_state` / :func:`storage_value`: the account ``[nonce, balance, storageRoot,
  codeHash]`` under the header's ``stateRoot``, a slot's value under the account's ``storageRoot``.
- :func:`record_slots` / :func:`decode_record`: the slots of ``variable[key]`` (a mapping to a value
  or a packed struct) and the struct decoded from their values, by the layout's offsets and sizes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Optional

import rlp
from eth_utils.crypto import keccak

from ledger.artifacts import load_artifact

EMPTY_TRIE_ROOT = keccak(rlp.encode(b""))


class ProofError(ValueError):
    """A proof does not prove what it claims."""


def _nibbles(data: bytes) -> list[int]:
    out = []
    for b in data:
        out += [b >> 4, b & 0x0F]
    return out


def _hp_decode(encoded: bytes) -> tuple[list[int], bool]:
    """Hex-prefix decoding: (nibbles, is_leaf)."""
    if not encoded:
        raise ProofError("empty path in a trie node")
    flag = encoded[0] >> 4
    if flag > 3:
        raise ProofError("bad hex-prefix flag")
    nib = _nibbles(encoded)
    return (nib[1:] if flag & 1 else nib[2:]), bool(flag & 2)


def mpt_get(root: bytes, key: bytes, proof: Sequence[bytes]) -> Optional[bytes]:
    """Value at ``key`` (the already-hashed trie key) in the trie of ``root``; None when the proof
    shows the key absent. Raises ProofError when the proof is not a proof of that."""
    path = _nibbles(key)
    pos = 0
    used = 0
    ref: Any = root
    while True:
        if isinstance(ref, bytes):
            if len(ref) != 32:
                raise ProofError("a trie reference is neither a hash nor an embedded node")
            if used == 0 and ref == EMPTY_TRIE_ROOT and not proof:
                return None
            if used >= len(proof):
                raise ProofError("the proof ends before the key is reached")
            raw = proof[used]
            if keccak(raw) != ref:
                raise ProofError(f"proof node {used} does not hash to the reference above it")
            used += 1
            try:
                node = rlp.decode(raw)
            except rlp.exceptions.RLPException as exc:
                raise ProofError(f"proof node {used - 1} is not RLP: {exc}") from None
        else:
            node = ref  # embedded (< 32 bytes) node, already decoded inside its parent
        if not isinstance(node, list):
            raise ProofError("a trie node is not a list")
        value: Optional[bytes]
        if len(node) == 17:
            if pos == len(path):
                value = node[16] or None
                break
            child = node[path[pos]]
            pos += 1
            if child == b"":
                value = None
                break
            ref = child
        elif len(node) == 2:
            nib, leaf = _hp_decode(node[0])
            if leaf:
                value = node[1] if path[pos:] == nib else None
                break
            if path[pos : pos + len(nib)] != nib:
                value = None
                break
            pos += len(nib)
            ref = node[1]
        else:
            raise ProofError(f"a trie node has {len(node)} items")
    if used != len(proof):
        raise ProofError(f"{len(proof) - used} proof nodes are not on the key's path")
    if value is not None and not isinstance(value, bytes):
        raise ProofError("a trie value is not a byte string")
    return value


@dataclass
class Account:
    nonce: int
    balance: int
    storage_root: bytes
    code_hash: bytes


def account_state(state_root: bytes, address: bytes, proof: Sequence[bytes]) -> Optional[Account]:
    raw = mpt_get(state_root, keccak(address), proof)
    if raw is None:
        return None
    try:
        fields = rlp.decode(raw)
    except rlp.exceptions.RLPException as exc:
        raise ProofError(f"the account leaf is not RLP: {exc}") from None
    if not isinstance(fields, list) or len(fields) != 4:
        raise ProofError("the account leaf is not [nonce, balance, storageRoot, codeHash]")
    return Account(int.from_bytes(fields[0], "big"), int.from_bytes(fields[1], "big"), fields[2], fields[3])


def storage_value(storage_root: bytes, slot: int, proof: Sequence[bytes]) -> int:
    raw = mpt_get(storage_root, keccak(slot.to_bytes(32, "big")), proof)
    if raw is None:
        return 0
    try:
        value = rlp.decode(raw)
    except rlp.exceptions.RLPException as exc:
        raise ProofError(f"a storage leaf is not RLP: {exc}") from None
    if not isinstance(value, bytes) or (value and value[0] == 0):
        raise ProofError("a storage leaf is not a minimal RLP integer")
    return int.from_bytes(value, "big")


# ---------------------------------------------------------------- storage layout


def layout(contract: str) -> dict[str, Any]:
    art = load_artifact(contract)
    lay = art.get("storageLayout")
    if not isinstance(lay, dict) or not lay.get("storage"):
        raise ProofError(f"the {contract} artifact has no storageLayout (rebuild: python -m ledger.build)")
    return dict(lay)


def _key_bytes(key_type: str, key: Any) -> bytes:
    if key_type == "t_address":
        return bytes(12) + bytes.fromhex(str(key)[2:])
    if key_type.startswith("t_uint") or key_type.startswith("t_enum"):
        return int(key).to_bytes(32, "big")
    if key_type.startswith("t_bytes") and key_type != "t_bytes_storage":
        raw = bytes.fromhex(str(key)[2:])
        return raw + bytes(32 - len(raw))
    raise ProofError(f"mapping key type {key_type} not supported")


@dataclass(frozen=True)
class Record:
    """``variable[key]`` of ``contract``: its slots and value type."""

    contract: str
    variable: str
    key: int | str
    base: int
    value_type: str
    slots: tuple[int, ...]


def record_slots(contract: str, variable: str, key: int | str) -> Record:
    lay = layout(contract)
    entry = next((s for s in lay["storage"] if s["label"] == variable), None)
    if entry is None:
        raise ProofError(f"{contract} has no state variable {variable}")
    mtype = lay["types"][entry["type"]]
    if mtype.get("encoding") != "mapping":
        raise ProofError(f"{contract}.{variable} is not a mapping")
    base = int.from_bytes(keccak(_key_bytes(mtype["key"], key) + int(entry["slot"]).to_bytes(32, "big")), "big")
    vtype = mtype["value"]
    vinfo = lay["types"][vtype]
    if vinfo.get("encoding") != "inplace":
        raise ProofError(f"{contract}.{variable} values are not stored in place")
    count = (int(vinfo["numberOfBytes"]) + 31) // 32
    return Record(contract, variable, key, base, vtype, tuple(base + i for i in range(count)))


def _decode_value(lay: Mapping[str, Any], typ: str, word: int, offset: int) -> Any:
    info = lay["types"][typ]
    size = int(info["numberOfBytes"])
    raw = (word >> (8 * offset)) & ((1 << (8 * size)) - 1)
    if typ == "t_address":
        return "0x" + raw.to_bytes(20, "big").hex()
    if typ == "t_bool":
        return bool(raw)
    if typ.startswith("t_bytes"):
        return "0x" + raw.to_bytes(size, "big").hex()
    return raw


def decode_record(record: Record, values: Mapping[int, int]) -> dict[str, Any]:
    """The struct (member -> value) or ``{"value": v}`` of ``record`` from its slots' values."""
    lay = layout(record.contract)
    info = lay["types"][record.value_type]
    if "members" not in info:
        return {"value": _decode_value(lay, record.value_type, values[record.base], 0)}
    out = {}
    for m in info["members"]:
        out[m["label"]] = _decode_value(lay, m["type"], values[record.base + int(m["slot"])], int(m["offset"]))
    return out


#: the records a bundle proves, per history kind: (contract, variable)
STATE_RECORDS: dict[str, tuple[tuple[str, str], ...]] = {
    "voucher": (("DataVoucher", "_owners"), ("DataVoucher", "_cores"), ("DataVoucher", "_metas")),
    "asset": (("AssetRegistry", "_cores"),),
}
