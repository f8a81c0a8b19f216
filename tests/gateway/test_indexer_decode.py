"""Decoding: the generated hex decoders, the bytes path and web3.py's decoder agree on every
event the real contracts emit, and on random values of every supported ABI type."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from hypothesis import given, settings
from hypothesis import strategies as st
from web3.logs import DISCARD

from gateway.indexer.decode import Decoder, EventSpec, canonical_json, normalise
from tests.gateway.indexer_fixtures import Node, node

ROOT = Path(__file__).resolve().parents[2]


def web3_args(contract: Any, name: str, log: Any) -> dict[str, Any]:
    event = contract.events[name]()
    entry = next(e for e in contract.abi if e.get("type") == "event" and e["name"] == name
                 and len([i for i in e["inputs"] if i["indexed"]]) + 1 == len(log["topics"]))
    decoded = event.process_log(log)
    types = {i["name"]: i["type"] for i in entry["inputs"]}
    out = {}
    for key, value in decoded["args"].items():
        typ = types[key]
        if [i for i in entry["inputs"] if i["name"] == key][0]["indexed"] and typ in ("string", "bytes"):
            out[key] = "0x" + bytes(value).hex()
        else:
            out[key] = normalise(value, typ)
    return out


def test_every_emitted_event_decodes_like_web3(node: Node) -> None:
    m = node.market
    m.activity(60)
    token = m.issue("holder_a", m.register_asset("holder_a"))
    m.send(m.contracts["DataVoucher"].functions.authoriseUser(token, m.addr["holder_b"], True), "holder_a")
    m.send(m.contracts["DataVoucher"].functions.freeze(token, "court order 42"), "regulator")
    m.send(m.contracts["AssetRegistry"].functions.freeze(m.assets["holder_a"][0], "audit"), "regulator")
    contracts = {name: c.address for name, c in m.contracts.items()}
    decoder = Decoder(contracts)
    raw = node.rpc("eth_getLogs", {"fromBlock": "0x0", "toBlock": "latest",
                                   "address": [a.lower() for a in contracts.values()]})
    web3_logs = node.w3.eth.get_logs({"fromBlock": 0, "toBlock": "latest", "address": list(contracts.values())})
    assert len(raw) == len(web3_logs) > 100
    names = set()
    for entry, w3log in zip(raw, web3_logs):
        event = decoder.decode(entry)
        assert event.name, f"undecoded log {entry}"
        names.add((event.contract, event.name))
        contract = m.contracts[event.contract]
        assert event.args == web3_args(contract, event.name, w3log), event
        spec = decoder.by_address[event.address][(entry["topics"][0], len(entry["topics"]))]
        assert spec.decode_args_bytes(entry["topics"], entry["data"]) == event.args
        assert event.block_number == w3log["blockNumber"] and event.log_index == w3log["logIndex"]
    # the batch path (memoised routes, direct decoder calls) gives the same events, also for
    # upper-case hex, unknown topics, malformed data and logs without topics
    odd = [dict(raw[0], address=raw[0]["address"].upper().replace("0X", "0x"),
                topics=[t.upper().replace("0X", "0x") for t in raw[0]["topics"]]),
           dict(raw[1], topics=["0x" + "ab" * 32] + raw[1]["topics"][1:]),
           dict(raw[2], data="0x12"), dict(raw[3], topics=[])]
    logs = raw + odd + raw[:5]
    assert decoder.decode_many(logs) == [decoder.decode(entry) for entry in logs]
    # ERC-20 and ERC-721 Transfer share topic0: each decoded by its own contract's ABI
    assert ("DataVoucher", "Transfer") in names and ("PaymentToken", "Transfer") in names
    assert ("DataVoucher", "VoucherFrozen") in names and ("AssetRegistry", "AssetFrozen") in names


def test_unknown_log_is_kept_raw() -> None:
    decoder = Decoder({"PaymentToken": "0x" + "11" * 20})
    log = {"address": "0x" + "11" * 20, "topics": ["0x" + "ab" * 32], "data": "0x1234",
           "blockNumber": "0x5", "blockHash": "0x" + "cd" * 32, "transactionHash": "0x" + "ef" * 32,
           "transactionIndex": "0x0", "logIndex": "0x3"}
    event = decoder.decode(log)
    assert event.name == "" and event.args == {"topics": ["0x" + "ab" * 32], "data": "0x1234"}
    assert event.contract == "PaymentToken" and event.log_index == 3


TYPES = ["address", "uint8", "uint40", "uint64", "uint256", "int256", "int16", "bool", "bytes2", "bytes32",
         "bytes", "string", "address[]", "uint256[]", "uint16[]", "int8[]", "int256[]", "bool[]", "bytes4[]",
         "bytes32[]"]


def strategy(typ: str) -> st.SearchStrategy[Any]:
    if typ.endswith("[]"):
        return st.lists(strategy(typ[:-2]), max_size=5)
    if typ == "address":
        return st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
    if typ.startswith("uint"):
        return st.integers(0, 2 ** int(typ[4:]) - 1)
    if typ.startswith("int"):
        bits = int(typ[3:])
        return st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    if typ == "bool":
        return st.booleans()
    if typ == "bytes":
        return st.binary(max_size=100)
    if typ == "string":
        return st.text(max_size=40)
    return st.binary(min_size=int(typ[5:]), max_size=int(typ[5:]))


@st.composite
def events(draw: Any) -> tuple[dict[str, Any], list[str], list[Any], list[bool]]:
    types = draw(st.lists(st.sampled_from(TYPES), min_size=1, max_size=6))
    # (an indexed bytes, string or array is stored as the hash of its encoding)
    indexed = [draw(st.booleans()) if t not in ("bytes", "string") and not t.endswith("]") else False
               for t in types]
    # at most 3 indexed arguments
    count = 0
    for i, flag in enumerate(indexed):
        if flag:
            count += 1
            if count > 3:
                indexed[i] = False
    values = [draw(strategy(t)) for t in types]
    entry = {"type": "event", "name": "E", "anonymous": False,
             "inputs": [{"name": f"a{i}", "type": t, "indexed": f} for i, (t, f) in enumerate(zip(types, indexed))]}
    return entry, types, values, indexed


@settings(max_examples=300, deadline=None)
@given(events())
def test_fast_paths_equal_eth_abi(case: tuple[dict[str, Any], list[str], list[Any], list[bool]]) -> None:
    entry, types, values, indexed = case
    spec = EventSpec.from_abi("X", entry)
    topics = [spec.topic0] + ["0x" + abi_encode([t], [v]).hex() for t, v, f in zip(types, values, indexed) if f]
    data_types = [t for t, f in zip(types, indexed) if not f]
    data_values = [v for v, f in zip(values, indexed) if not f]
    data = "0x" + abi_encode(data_types, data_values).hex()
    expected = {f"a{i}": normalise(v, t) for i, (t, v) in enumerate(zip(types, values))}
    assert spec.decode_args(topics, data) == expected
    assert spec.decode_args_bytes(topics, data) == expected
    canonical_json(expected)  # always serialisable


def test_a_tuple_or_fixed_array_argument_is_decoded_by_eth_abi_imported_on_first_use() -> None:
    """Fixed-size and nested arrays and tuples take the eth_abi path (imported when first needed,
    not at start: test_the_indexer_command_does_not_load_web3); malformed data is a ValueError
    like the fast path's."""
    entry = {"type": "event", "name": "Batch", "anonymous": False, "inputs": [
        {"name": "ids", "type": "uint256[2]", "indexed": False},
        {"name": "who", "type": "address", "indexed": True},
        {"name": "rows", "type": "uint8[][]", "indexed": False}]}
    spec = EventSpec.from_abi("X", entry)
    assert spec.hex_decoder is None
    topics = [spec.topic0, "0x" + "00" * 12 + "ab" * 20]
    data = "0x" + abi_encode(["uint256[2]", "uint8[][]"], [[1, 2**200], [[1, 2], []]]).hex()
    args = spec.decode_args(topics, data)
    assert args == {"ids": ["1", str(2**200)], "who": "0x" + "ab" * 20, "rows": [[1, 2], []]}
    assert args["ids"] == normalise([1, 2**200], "uint256[2]")  # uint256: decimal strings
    with pytest.raises(ValueError):
        spec.decode_args(topics, "0x12")


def test_a_dynamic_array_of_one_word_values_is_decoded_without_eth_abi() -> None:
    """``address[]`` (ParticipantRegistry.HoldingsBound) and the other ``T[]`` of one-word types
    are read word by word, as eth_abi reads them (test_fast_paths_equal_eth_abi), without
    importing eth_abi (half a second of CPU in the middle of a backfill, for one event); data
    that does not hold the array is refused, as eth_abi refuses it."""
    code = """
import sys
from eth_abi import encode
for name in [m for m in sys.modules if m.startswith("eth_abi")]:
    del sys.modules[name]
from gateway.indexer.decode import EventSpec
entry = {"type": "event", "name": "HoldingsBound", "anonymous": False, "inputs": [
    {"name": "holder", "type": "address", "indexed": True},
    {"name": "accounts", "type": "address[]", "indexed": False},
    {"name": "caps", "type": "uint256[]", "indexed": False}]}
spec = EventSpec.from_abi("X", entry)
data = "0x" + encode(["address[]", "uint256[]"], [["0x" + "Ab" * 20, "0x" + "00" * 19 + "01"], [2**200]]).hex()
args = spec.decode_args([spec.topic0, "0x" + "00" * 12 + "cd" * 20], data)
assert args == {"holder": "0x" + "cd" * 20, "accounts": ["0x" + "ab" * 20, "0x" + "00" * 19 + "01"],
                "caps": [str(2**200)]}, args
assert not any(m.startswith("eth_abi") for m in sys.modules), "eth_abi imported"
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]

    entry = {"type": "event", "name": "Bound", "anonymous": False, "inputs": [
        {"name": "accounts", "type": "address[]", "indexed": False}]}
    spec = EventSpec.from_abi("X", entry)
    good = abi_encode(["address[]"], [["0x" + "ab" * 20] * 3])
    assert spec.decode_args([spec.topic0], "0x" + good.hex())["accounts"] == ["0x" + "ab" * 20] * 3
    head = (32).to_bytes(32, "big")
    bad = {
        "offset past the data": (10**6).to_bytes(32, "big") + (1).to_bytes(32, "big"),
        "length past the data": head + (4).to_bytes(32, "big") + good[-96:],
        "huge length": head + (2**255).to_bytes(32, "big"),
        "no length word": head,
    }
    for data in bad.values():
        with pytest.raises(ValueError):
            spec.decode_args([spec.topic0], "0x" + data.hex())
        with pytest.raises(Exception):  # noqa: B017 (eth_abi refuses it too, with its own error)
            abi_decode(["address[]"], data)
