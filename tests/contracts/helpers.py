"""Helpers shared by the contract tests: sending, events, custom-error reverts, domain values.

    from tests.contracts.helpers import expect_revert, send, events, Roles, jur

``expect_revert(fn, "ErrorName", *values, sender=addr)`` runs the bound contract call ``fn``
(``contract.functions.f(args)``) as ``sender``, requires it to revert with the custom error
``ErrorName`` (matched by its 4-byte selector) and, when values are given, requires the decoded
arguments to equal them. Errors are looked up in every shipped artifact, so an error bubbled up
from another contract (e.g. a registry error raised inside DataVoucher) decodes too.
"""

from __future__ import annotations

import hashlib
import itertools
from enum import IntEnum
from functools import cache, lru_cache
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.contract.contract import ContractFunction
from web3.exceptions import ContractLogicError
from web3.logs import DISCARD

from ledger import vocabulary as _vocab
from ledger.artifacts import available, load_artifact
from ledger.contracts import models as _models

# ------------------------------------------------------------------ domain constants


class Roles:
    """ParticipantRoles bits as plain ints (web3 encodes an IntFlag, which is iterable, as a list),
    from the generated vocabulary."""

    AUTHORITY = int(_vocab.Role.AUTHORITY)
    OPERATOR = int(_vocab.Role.OPERATOR)
    EXCHANGE = int(_vocab.Role.EXCHANGE)
    BROKER = int(_vocab.Role.BROKER)
    APPRAISER = int(_vocab.Role.APPRAISER)
    CUSTOMS = int(_vocab.Role.CUSTOMS)
    REGULATOR = int(_vocab.Role.REGULATOR)
    HOLDER = int(_vocab.Role.HOLDER)
    LICENSED = int(_vocab.LICENSED_ROLES)
    ALL = int(_vocab.CONSTANTS["ParticipantRegistry"]["ALL_ROLES"])


# the contracts' enums, as the SDK defines them
Status, SourceType, AssetStatus, ClearanceState = _models.Status, _models.SourceType, _models.AssetStatus, _models.ClearanceState


REGISTRAR_ROLE = bytes.fromhex(str(_vocab.CONSTANTS["ParticipantRegistry"]["REGISTRAR_ROLE"])[2:])
DEFAULT_ADMIN_ROLE = b"\x00" * 32
ZERO_ADDRESS = "0x" + "00" * 20


def jur(code: str) -> bytes:
    """A jurisdiction as bytes2, e.g. jur("CN") == b"CN"."""
    raw = code.encode("ascii")
    assert len(raw) == 2, code
    return raw


def org_id(uscc: str) -> bytes:
    """bytes32 organisation id: sha-256 of the unified social credit code (统一社会信用代码)."""
    return hashlib.sha256(uscc.encode("utf-8")).digest()


def b32(text: str) -> bytes:
    """Right-padded bytes32 of a short ASCII tag (e.g. a valuation method)."""
    raw = text.encode("ascii")
    assert len(raw) <= 32
    return raw.ljust(32, b"\0")


_content_counter = itertools.count(1)


def fresh_content() -> tuple[bytes, bytes]:
    """(manifest CID bytes, sha-256 content hash), unique per call within the test process."""
    n = next(_content_counter)
    content = f"dataset-content-{n}".encode()
    digest = hashlib.sha256(content).digest()
    cid = b"\x01\x55\x12\x20" + digest  # CIDv1 raw, sha2-256 multihash: binary form
    return cid, digest


# ------------------------------------------------------------------ transactions


def _sender_address(sender: Any) -> str:
    return sender if isinstance(sender, str) else sender.address


def send(fn: ContractFunction, sender: Any, **tx: Any) -> Any:
    """Send ``fn`` from ``sender`` (an address or LocalAccount of anvil's, unlocked); return
    the receipt and fail when it did not succeed."""
    w3 = fn.w3
    tx_hash = fn.transact({"from": _sender_address(sender), **tx})
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    assert receipt["status"] == 1, f"{fn.fn_name} reverted: {receipt}"
    return receipt


def call(fn: ContractFunction, sender: Any = None) -> Any:
    return fn.call({"from": _sender_address(sender)} if sender is not None else {})


def events(contract: Any, receipt: Any, name: str) -> list[dict[str, Any]]:
    """Decoded args of every ``name`` event ``contract`` emitted in ``receipt``."""
    logs = contract.events[name]().process_receipt(receipt, errors=DISCARD)
    return [dict(log["args"]) for log in logs]


def event(contract: Any, receipt: Any, name: str) -> dict[str, Any]:
    """Decoded args of the one ``name`` event in ``receipt`` (fails unless exactly one)."""
    found = events(contract, receipt, name)
    assert len(found) == 1, f"expected one {name} event, got {len(found)}: {found}"
    return found[0]


# ------------------------------------------------------------------ custom errors


def _error_signature(entry: dict[str, Any]) -> tuple[str, list[str]]:
    types = [_abi_type(i) for i in entry["inputs"]]
    return f"{entry['name']}({','.join(types)})", types


def _abi_type(param: dict[str, Any]) -> str:
    if param["type"].startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in param["components"])
        return f"({inner}){param['type'][5:]}"
    return str(param["type"])


@cache
def error_table() -> dict[bytes, tuple[str, tuple[str, ...]]]:
    """selector -> (error name, argument types), over every shipped artifact."""
    table: dict[bytes, tuple[str, tuple[str, ...]]] = {}
    for name in available():
        for entry in load_artifact(name)["abi"]:
            if entry.get("type") == "error":
                signature, types = _error_signature(entry)
                table[keccak(text=signature)[:4]] = (entry["name"], tuple(types))
    # Solidity built-ins
    table[keccak(text="Error(string)")[:4]] = ("Error", ("string",))
    table[keccak(text="Panic(uint256)")[:4]] = ("Panic", ("uint256",))
    return table


def _decode(data: Any) -> tuple[str, tuple[str, ...], tuple[Any, ...]]:
    raw = bytes(HexBytes(data)) if data else b""
    if len(raw) < 4:
        return ("<empty revert>", (), ())
    entry = error_table().get(raw[:4])
    if entry is None:
        return (f"<unknown 0x{raw[:4].hex()}>", ("bytes",), (raw,))
    name, types = entry
    return name, types, tuple(abi_decode(list(types), raw[4:]))


def decode_revert(data: Any) -> tuple[str, tuple[Any, ...]]:
    """(error name, decoded args) of raw revert data; ("<unknown 0x..>", (raw,)) when not in the table."""
    name, _, args = _decode(data)
    return name, args


def _revert_data(exc: BaseException) -> Any:
    data = getattr(exc, "data", None)
    if isinstance(data, dict):  # some providers nest it
        data = data.get("data")
    return data


def _normalise(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, HexBytes)):
        return bytes(value)
    if isinstance(value, str) and Web3.is_address(value):
        return value.lower()
    if isinstance(value, IntEnum):
        return int(value)
    if isinstance(value, (list, tuple)):
        return tuple(_normalise(v) for v in value)
    return value


def _matches(expected: Any, actual: Any, abi_type: str) -> bool:
    if expected is ANY:
        return True
    if abi_type.startswith("bytes") and abi_type != "bytes" and isinstance(expected, (bytes, str)):
        raw = expected.encode() if isinstance(expected, str) else bytes(expected)
        size = int(abi_type[5:])
        return raw.ljust(size, b"\0") == bytes(actual)
    return _normalise(expected) == _normalise(actual)


class _Any:
    def __repr__(self) -> str:
        return "ANY"


#: Placeholder matching any value in expect_revert.
ANY = _Any()


def expect_revert(
    fn: ContractFunction,
    error: str,
    *values: Any,
    sender: Any = None,
    value: int | None = None,
) -> tuple[Any, ...]:
    """Require ``fn`` (called as ``sender``) to revert with custom error ``error`` and ``values``.

    With no values only the error is checked; otherwise every argument is compared (``ANY``
    matches anything; a bytesN argument may be given as a short str or bytes, right-padded).
    Returns the decoded arguments.
    """
    tx: dict[str, Any] = {}
    if sender is not None:
        tx["from"] = _sender_address(sender)
    if value is not None:
        tx["value"] = value
    try:
        result = fn.call(tx)
    except ContractLogicError as exc:
        name, types, args = _decode(_revert_data(exc))
    else:
        raise AssertionError(f"{fn.fn_name} did not revert (expected {error}); returned {result!r}")
    assert name == error, f"{fn.fn_name} reverted with {name}{args}, expected {error}{values}"
    if values:
        assert len(values) == len(args), f"{error}: expected {len(values)} values {values}, got {args}"
        for i, (want, got, typ) in enumerate(zip(values, args, types)):
            assert _matches(want, got, typ), f"{error} argument {i} ({typ}): expected {want!r}, got {got!r}"
    return args



def expect_deploy_revert(w3: Web3, name: str, args: tuple[Any, ...], error: str, *values: Any, sender: Any) -> None:
    """Require deploying contract ``name`` with constructor ``args`` to revert with ``error``(values)."""
    artifact = load_artifact(name)
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    data = factory.constructor(*args).data_in_transaction
    try:
        w3.eth.call({"from": _sender_address(sender), "data": data})
    except ContractLogicError as exc:
        got, types, decoded = _decode(_revert_data(exc))
    else:
        raise AssertionError(f"deploying {name}{args} did not revert (expected {error})")
    assert got == error, f"deploying {name} reverted with {got}{decoded}, expected {error}{values}"
    for i, (want, have, typ) in enumerate(zip(values, decoded, types)):
        assert _matches(want, have, typ), f"{error} argument {i}: expected {want!r}, got {have!r}"


def mapping_slot(key: Any, slot: int) -> int:
    """Storage slot of ``mapping[key]`` for a mapping declared at ``slot`` (value-type key)."""
    from eth_abi import encode as abi_encode

    if isinstance(key, str):
        encoded = abi_encode(["address"], [key])
    elif isinstance(key, (bytes, bytearray)):
        encoded = bytes(key).ljust(32, b"\0")
    else:
        encoded = abi_encode(["uint256"], [key])
    return int.from_bytes(keccak(encoded + abi_encode(["uint256"], [slot])), "big")
