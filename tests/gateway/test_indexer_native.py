"""The compiled log parser and decoder (native/, gateway.indexer.native) against the Python path.

The compiled path must give exactly what the Python path gives: the same ``DecodedEvent`` objects
and the same ``events`` rows (COPY text and parameter tuples), for ordinary logs and for every
kind of log it leaves to Python (an unknown event, an array argument, malformed or upper-case hex,
invalid UTF-8, an integer too wide for its JSON number, a foreign address, no topics), in any
order; and an answer it does not recognise as ordinary (an error, a removed log, a JSON escape,
odd numbers) must be parsed the Python way. It must also really run without the interpreter lock.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from typing import Any

import orjson
import pytest
from eth_abi import encode as abi_encode
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.indexer import native
from gateway.indexer.decode import Decoder
from gateway.indexer.fetch import FetchedBatch, Fetcher, FetchSettings, RawBatch
from gateway.indexer.rows import COPY_MIN_EVENTS, event_rows
from ledger.rpc import loads

X = "0x" + "11" * 20  # contract X
Y = "0x" + "22" * 20  # contract Y: a Transfer with X's topic0 and another layout
FOREIGN = "0x" + "33" * 20  # no contract: decoded by any followed ABI with its topic0 (contract "")

TYPES = ["address", "uint8", "uint40", "uint64", "uint256", "int8", "int64", "int256", "bool", "bytes1", "bytes32",
         "bytes", "string"]


def _event(name: str, inputs: list[tuple[str, str, bool]]) -> dict[str, Any]:
    return {"type": "event", "name": name, "anonymous": False,
            "inputs": [{"name": n, "type": t, "indexed": i} for n, t, i in inputs]}


ABIS: dict[str, list[dict[str, Any]]] = {
    "X": [
        _event("Transfer", [("from", "address", True), ("to", "address", True), ("tokenId", "uint256", True)]),
        _event("Everything", [("a", "address", False), ("u8", "uint8", False), ("u40", "uint40", False),
                              ("u64", "uint64", False), ("u256", "uint256", False), ("i8", "int8", False),
                              ("i64", "int64", False), ("i256", "int256", False), ("flag", "bool", False),
                              ("b1", "bytes1", False), ("b32", "bytes32", False), ("blob", "bytes", False),
                              ("text", "string", False)]),
        _event("Indexed", [("who", "address", True), ("n", "int64", True), ("tag", "string", True),
                           ("note", "string", False)]),
        _event("Batch", [("ids", "uint256[]", False), ("who", "address", True)]),  # eth_abi: left to Python
        _event("Unnamed", [("", "uint256", True), ("", "string", False)]),
    ],
    "Y": [_event("Transfer", [("from", "address", True), ("to", "address", True), ("value", "uint256", False)])],
}
DECODER = Decoder({"X": X, "Y": Y}, ABIS)
SPECS = {(spec.contract, spec.name): spec for spec in DECODER.specs()}


def _topic(typ: str, value: Any) -> str:
    if typ in ("string", "bytes"):
        return "0x" + "ab" * 32  # the hash of the value: any 32 bytes
    return "0x" + abi_encode([typ], [value]).hex()


def _value(typ: str) -> st.SearchStrategy[Any]:
    if typ == "address":
        return st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
    if typ.startswith("uint"):
        bits = int(typ[4:])
        return st.one_of(st.integers(0, 2**bits - 1), st.sampled_from([0, 2**bits - 1]))
    if typ.startswith("int"):
        bits = int(typ[3:])
        return st.one_of(st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1),
                         st.sampled_from([-(2 ** (bits - 1)), -1, 0, 2 ** (bits - 1) - 1]))
    if typ == "bool":
        return st.booleans()
    if typ == "bytes":
        return st.binary(max_size=70)
    if typ == "string":
        # quotes, backslashes, control characters, COPY's specials, CJK, an emoji, U+2028
        return st.one_of(st.text(max_size=30), st.sampled_from(['"q"\\', "tab\there\nnl\rcr\x00\x1f\x7f",
                                                                 "广州数据交易所 🧾", "\u2028\\N", ""]))
    return st.binary(min_size=int(typ[5:]), max_size=int(typ[5:]))


@st.composite
def _args(draw: Any, contract: str, name: str) -> tuple[list[str], str]:
    """Topics and data of one well-formed log of ``contract``'s event ``name``."""
    spec = SPECS[(contract, name)]
    topics = [spec.topic0] + [_topic(t, draw(_value(t))) for t in spec.indexed_types]
    data_values = [draw(_value(t)) for t in spec.data_types]
    return topics, "0x" + abi_encode(list(spec.data_types), data_values).hex()


ORDINARY = [("X", "Transfer"), ("X", "Everything"), ("X", "Indexed"), ("X", "Unnamed"), ("Y", "Transfer")]


def _upper_hex(s: str) -> str:
    return "0x" + s[2:].upper()


@st.composite
def _log(draw: Any) -> tuple[dict[str, Any], str]:
    """One log and what it is: "ordinary" (the compiled decoder decodes it) or why it is not."""
    contract, name = draw(st.sampled_from(ORDINARY))
    topics, data = draw(_args(contract, name))
    address = X if contract == "X" else Y
    kind = draw(st.sampled_from(["ordinary"] * 6 + [
        "array", "unknown topic0", "no topics", "foreign address", "upper-case hex", "short data",
        "not hex", "long topic", "invalid utf-8", "wide small int", "dangling pointer"]))
    if kind == "array":
        spec = SPECS[("X", "Batch")]
        topics = [spec.topic0, _topic("address", X)]
        data = "0x" + abi_encode(["uint256[]"], [draw(st.lists(st.integers(0, 2**256 - 1), max_size=3))]).hex()
        address = X
    elif kind == "unknown topic0":
        topics = ["0x" + "cd" * 32] + topics[1:]
    elif kind == "no topics":
        topics = []
    elif kind == "foreign address":
        address = FOREIGN
    elif kind == "upper-case hex":
        address = address.upper().replace("0X", "0x")
        topics = [_upper_hex(t) for t in topics]
        data = _upper_hex(data)
    elif kind == "short data":
        data = data[: max(2, len(data) - 2 * draw(st.integers(1, 40)))]
    elif kind == "not hex" and len(data) > 2:
        i = draw(st.integers(2, len(data) - 1))
        data = data[:i] + "g" + data[i + 1:]
    elif kind == "long topic" and len(topics) > 1:
        topics = topics[:1] + [topics[1] + "00"] + topics[2:]
    elif kind == "invalid utf-8":
        spec = SPECS[("X", "Indexed")]
        topics = [spec.topic0, _topic("address", X), _topic("int64", -5), "0x" + "ab" * 32]
        data = "0x" + abi_encode(["bytes"], [b"ok\xff\xfe" + draw(st.binary(max_size=5))]).hex()
        address = X
    elif kind == "wide small int":  # uint8 and int8 words holding more than 64 bits
        spec = SPECS[("X", "Everything")]
        words = abi_encode(list(spec.data_types), [X, 0, 0, 0, 0, 0, 0, 0, True, b"\x01", b"\x02" * 32, b"", "s"])
        body = bytearray(words)
        body[32:64] = (2**200).to_bytes(32, "big")
        topics, data, address = [spec.topic0], "0x" + body.hex(), X
    elif kind == "dangling pointer":
        spec = SPECS[("X", "Indexed")]
        topics = [spec.topic0, _topic("address", X), _topic("int64", 7), "0x" + "ab" * 32]
        data = "0x" + (10**6).to_bytes(32, "big").hex()
        address = X
    else:
        kind = "ordinary" if kind == "ordinary" else f"ordinary ({kind} did not apply)"
    return {"address": address, "topics": topics, "data": data, "kind": kind}, kind


#: kinds of log the compiled decoder decodes, and kinds it must leave to Python ("short data" may
#: only have cut a string's padding: either)
DECODED_THERE = {"ordinary", "foreign address", "upper-case hex"}
HANDED_BACK = {"array", "unknown topic0", "no topics", "not hex", "long topic", "invalid utf-8", "wide small int",
               "dangling pointer"}


BLOCK_HASH = {n: f"0x{n:064x}" for n in range(1, 6)}
HEADERS = {n: {"hash": BLOCK_HASH[n], "parentHash": f"0x{n - 1:064x}", "timestamp": hex(1_700_000_000 + n)}
           for n in range(1, 6)}


def _body(entries: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": 7, "result": entries})


def _positioned(logs: list[dict[str, Any]], blocks: list[int]) -> list[dict[str, Any]]:
    """The logs with block numbers (in order, each block's log indexes from 0) and hashes."""
    out = []
    per_block: Counter[int] = Counter()
    for log, n in zip(logs, sorted(blocks)):
        out.append({**log, "blockNumber": hex(n), "blockHash": BLOCK_HASH[n],
                    "transactionHash": f"0x{n:032x}{per_block[n] // 3:032x}", "transactionIndex": hex(per_block[n] // 3),
                    "logIndex": hex(per_block[n]), "removed": False})
        per_block[n] += 1
    return out


def _fetcher(dialect: str, compiled: bool) -> Fetcher:
    return Fetcher(None, DECODER, FetchSettings(target_events=100, max_range=10, dialect=dialect,  # type: ignore[arg-type]
                                                native=compiled), 1)


def _decode(logs: Any, dialect: str, compiled: bool) -> FetchedBatch:
    first = 1
    return _fetcher(dialect, compiled).decode(RawBatch(first, 5, HEADERS[5], logs, dict(HEADERS)))


def _both_paths(body: bytes, dialect: str) -> tuple[FetchedBatch, FetchedBatch, Any]:
    reply = native.parse_logs_reply(body)
    batch = reply["result"]
    python = _decode(loads(body)["result"], dialect, False)
    compiled = _decode(batch, dialect, True)
    return python, compiled, batch


def test_the_compiled_module_is_built() -> None:
    """``make test`` builds it (scripts/native.sh): the tests below must exercise it, not skip."""
    assert native.AVAILABLE, "gateway/indexer/_logs.abi3.so is missing: run scripts/native.sh"


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(_log(), min_size=1, max_size=30), st.data())
def test_the_compiled_path_equals_the_python_path(drawn: list[tuple[dict[str, Any], str]], data: Any) -> None:
    logs = [log for log, _ in drawn]
    blocks = data.draw(st.lists(st.integers(1, 5), min_size=len(logs), max_size=len(logs)))
    entries = _positioned(logs, blocks)
    if data.draw(st.booleans()):  # any order: the rows are still in (block, log index) order
        entries = data.draw(st.permutations(entries))
    if data.draw(st.booleans()):  # past COPY_MIN_EVENTS: PostgreSQL takes the COPY text
        entries = entries * (COPY_MIN_EVENTS // len(entries) + 1)
        entries = [{**e, "logIndex": hex(i)} for i, e in enumerate(entries)]
    body = _body(entries)  # (each entry's "kind" is an extra field: both parsers ignore it)
    for dialect in ("sqlite", "postgresql"):
        python, compiled, batch = _both_paths(body, dialect)
        assert native.is_batch(batch), "an ordinary answer is parsed by the compiled parser"
        assert compiled.events == python.events
        if dialect == "sqlite" and compiled.event_rows is not None and compiled.event_rows.copy_text is not None:
            # SQLite's compiled writer takes the COPY text (Store.write_chunk): PostgreSQL's rows
            assert compiled.event_rows == event_rows(python.events, "postgresql")
            assert python.event_rows == event_rows(python.events, "sqlite")
        else:
            assert compiled.event_rows == python.event_rows
        assert compiled.blocks == python.blocks
    # the logs of the kinds it decodes are decoded there, the others handed back to Python
    left = set(native.native_decoder(DECODER).decode(native.parse_logs_reply(body)["result"])[2])
    for i, e in enumerate(entries):
        if e["kind"] in DECODED_THERE:
            assert i not in left, e
        elif e["kind"] in HANDED_BACK:
            assert i in left, e


def test_every_kind_of_log_is_handed_back_exactly_when_expected() -> None:
    """Each unusual kind alone: the compiled decoder leaves it (``left``), and the result is the
    Python decoder's. An ordinary log of each event is decoded there."""
    spec = SPECS[("X", "Everything")]
    everything = "0x" + abi_encode(list(spec.data_types), [X, 255, 2**40 - 1, 2**64 - 1, 2**256 - 1, -128, -(2**63),
                                                             -(2**255), True, b"\x01", b"\xff" * 32, b"\x00\x01",
                                                             'say "hi"\\\t\n广州 🧾']).hex()
    ordinary = {"address": X, "topics": [spec.topic0], "data": everything}
    utf8 = SPECS[("X", "Indexed")]
    cases: list[tuple[dict[str, Any], bool]] = [
        (ordinary, False),
        ({**ordinary, "address": FOREIGN}, False),  # any followed ABI; contract ""
        ({**ordinary, "data": _upper_hex(everything)}, False),  # upper-case data is lowercased there too
        ({**ordinary, "topics": []}, True),
        ({**ordinary, "topics": ["0x" + "cd" * 32]}, True),
        ({**ordinary, "data": everything[:-2]}, False),  # a byte of the string's padding cut: still whole
        ({**ordinary, "data": everything[:2 + 64 * 13]}, True),  # the heads only: the tails' offsets dangle
        ({**ordinary, "data": everything[:10]}, True),
        ({**ordinary, "data": everything[:-1] + "z"}, True),
        ({"address": X, "topics": [SPECS[("X", "Batch")].topic0, _topic("address", X)],
          "data": "0x" + abi_encode(["uint256[]"], [[1, 2**200]]).hex()}, True),
        ({"address": X, "topics": [utf8.topic0, _topic("address", X), _topic("int64", -1), "0x" + "ab" * 32],
          "data": "0x" + abi_encode(["bytes"], [b"\xc3\x28"]).hex()}, True),
        ({"address": X, "topics": [utf8.topic0, _topic("address", X), _topic("int64", -1) + "0", "0x" + "ab" * 32],
          "data": "0x" + abi_encode(["string"], ["x"]).hex()}, True),
    ]
    for log, handed_back in cases:
        entries = _positioned([log], [1])
        body = _body(entries)
        batch = native.parse_logs_reply(body)["result"]
        assert native.native_decoder(DECODER).decode(batch)[2] == ([0] if handed_back else []), log
        for dialect in ("sqlite", "postgresql"):
            python, compiled, _ = _both_paths(body, dialect)
            assert compiled.events == python.events and compiled.event_rows == python.event_rows, log
    decoded = _decode(native.parse_logs_reply(_body(_positioned([ordinary], [2])))["result"], "sqlite", True)
    args = decoded.events[0].args
    assert args["u256"] == str(2**256 - 1) and args["i256"] == str(-(2**255)) and args["i8"] == -128
    assert args["u40"] == 2**40 - 1 and args["i64"] == str(-(2**63)) and args["text"] == 'say "hi"\\\t\n广州 🧾'
    assert decoded.events[0].contract == "X" and decoded.events[0].name == "Everything"
    foreign = _decode(native.parse_logs_reply(_body(_positioned([{**ordinary, "address": FOREIGN}], [2])))["result"],
                      "sqlite", True)
    assert foreign.events[0].contract == "" and foreign.events[0].name == "Everything"


def _ordinary_entries(n: int) -> list[dict[str, Any]]:
    spec = SPECS[("Y", "Transfer")]
    log = {"address": Y, "topics": [spec.topic0, _topic("address", X), _topic("address", Y)],
           "data": "0x" + abi_encode(["uint256"], [10**20]).hex()}
    return _positioned([log] * n, [1 + i * 5 // n for i in range(n)])


@pytest.mark.parametrize("body, why", [
    (b'{"jsonrpc":"2.0","id":1,"error":{"code":-32005,"message":"query returned more than 10000 results"}}',
     "an error"),
    (b'{"jsonrpc":"2.0","id":1,"result":null}', "no result"),
    (json.dumps({"result": [{**_ordinary_entries(1)[0], "removed": True}]}).encode(), "a removed log"),
    (json.dumps({"result": _ordinary_entries(1)}).encode().replace(b'"0x', b'"\\u0030x', 1), "a JSON escape"),
    (json.dumps({"result": [{**_ordinary_entries(1)[0], "data": "0x\u00e9"}]}, ensure_ascii=False).encode(),
     "non-ASCII"),
    (json.dumps({"result": [{**_ordinary_entries(1)[0], "blockNumber": "0x" + "1" * 17}]}).encode(), "a wide number"),
    (json.dumps({"result": [{**_ordinary_entries(1)[0], "logIndex": "12"}]}).encode(), "a number without 0x"),
    (json.dumps({"result": [{**_ordinary_entries(1)[0], "blockHash": None}]}).encode(), "a null hash"),
    (b'{"result":[],"result":[]}', "a repeated key"),
])
def test_an_unusual_answer_is_parsed_the_python_way(body: bytes, why: str) -> None:
    assert native.parse_logs_reply(body) == loads(body), why


def test_an_ordinary_answer_keeps_extra_fields_out_and_parses_like_python() -> None:
    entries = [{**e, "blockTimestamp": "0x1"} for e in _ordinary_entries(20)]  # extra fields are ignored
    body = _body(entries)
    batch = native.parse_logs_reply(body)["result"]
    assert len(batch) == 20 and batch.is_sorted()
    assert [{k: v for k, v in e.items() if k != "blockTimestamp"} for e in entries] == batch.to_dicts()
    assert batch.block_counts() == Counter(int(e["blockNumber"], 16) for e in entries)
    assert not native.parse_logs_reply(_body(entries[::-1]))["result"].is_sorted()
    with pytest.raises(ValueError):
        native.parse_logs_reply(b"<html>bad gateway</html>")  # not JSON: the RPC client's ValueError


@pytest.mark.parametrize("cuts", [[], [1], [2, 4], [1, 2, 3, 4], [0, 9], [3, 3]])
def test_split_cuts_at_the_same_blocks_as_the_python_split(cuts: list[int]) -> None:
    import bisect

    entries = _ordinary_entries(40)
    batch = native.parse_logs_reply(_body(entries))["result"]
    parts = batch.split(cuts)
    expected: list[list[dict[str, Any]]] = [[] for _ in range(len(cuts) + 1)]
    for e in entries:
        expected[bisect.bisect_left(cuts, int(e["blockNumber"], 16))].append(e)
    assert [p.to_dicts() for p in parts] == expected
    assert len(batch) == 0  # moved, not copied
    with pytest.raises(ValueError):
        native.parse_logs_reply(_body(entries))["result"].split([4, 2])


def _busy_while(call: Any) -> tuple[float, float, list[float]]:
    """Run ``call()`` while another Python thread notes the time, as fast as it can."""
    stamps: list[float] = []
    stop = threading.Event()

    def spin() -> None:  # a stamp per millisecond at most (a list of millions would pause to grow)
        last = 0.0
        while not stop.is_set():
            now = time.perf_counter()
            if now - last > 0.001:
                stamps.append(now)
                last = now

    thread = threading.Thread(target=spin)
    thread.start()
    time.sleep(0.05)
    t0 = time.perf_counter()
    call()
    t1 = time.perf_counter()
    stop.set()
    thread.join()
    return t0, t1, stamps


def _longest_wait(t0: float, t1: float, stamps: list[float]) -> float:
    """The longest the other thread went without a stamp during [t0, t1]."""
    inside = [t0] + [s for s in stamps if t0 < s < t1] + [t1]
    return max(b - a for a, b in zip(inside, inside[1:]))


def _in_any_of_three(measure: Any) -> bool:
    """A timing check passes in one of three tries (a busy machine may deschedule the other thread
    once; a build that holds the lock fails every try)."""
    return any(measure() for _ in range(3))


def test_parsing_and_decoding_run_without_the_interpreter_lock() -> None:
    """Another Python thread runs while the compiled module parses and decodes (that is its point:
    the writer runs meanwhile). With the lock held it could not run at all inside the calls."""
    body = _body(_ordinary_entries(20000) * 8)

    def parse_lets_it_run() -> bool:
        kept: list[Any] = []  # (freed after the measurement, as the decode's events are)
        t0, t1, stamps = _busy_while(lambda: kept.append(native._logs.parse_reply(body)))  # type: ignore[union-attr]
        assert t1 - t0 > 0.06, "too small to tell"
        # with the lock held the other thread would wait the whole call out
        return _longest_wait(t0, t1, stamps) < 0.5 * (t1 - t0)

    assert _in_any_of_three(parse_lets_it_run), "the parse held the interpreter lock"
    # decoding: the first part of the call (decoding, the COPY text: about 40% of it) runs without
    # the lock, the Python objects are made with it at the end (the other thread then gets its
    # turns at switch intervals). With the lock held, the other thread would wait the first part out.
    spec = SPECS[("X", "Everything")]
    data = "0x" + abi_encode(list(spec.data_types), [X, 1, 2, 3, 2**255, -1, -2, -(2**200), True, b"\x01",
                                                       b"\x02" * 32, b"\x03" * 40, "广州" * 10]).hex()
    many = native._logs.parse_reply(_body(_positioned([{"address": X, "topics": [spec.topic0], "data": data}] * 60000,  # type: ignore[union-attr]
                                                      [1] * 60000)))
    decoder = native.native_decoder(DECODER)

    def decode_lets_it_run() -> bool:
        kept: list[Any] = []  # (freed after the measurement: freeing 60,000 events holds the lock too)
        t0, t1, stamps = _busy_while(lambda: kept.append(decoder.decode(many, True)))
        first = min(s for s in stamps + [t1] if s > t0)
        return first - t0 < 0.1 * (t1 - t0)

    assert _in_any_of_three(decode_lets_it_run), "the decoding held the interpreter lock"


def test_copy_specials_in_names_are_escaped_like_the_python_rows() -> None:
    """A contract name from a deployment record may hold any text; the COPY text escapes it (and
    the JSON's backslashes) exactly as rows.event_rows does."""
    weird = Decoder({"We\\ird\tname\nwith\rall": X}, {"We\\ird\tname\nwith\rall": ABIS["X"]})
    spec = next(s for s in weird.specs() if s.name == "Indexed")
    log = {"address": X, "topics": [spec.topic0, _topic("address", Y), _topic("int64", -3), "0x" + "ab" * 32],
           "data": "0x" + abi_encode(["string"], ["back\\slash\ttab"]).hex()}
    body = _body(_positioned([log] * (COPY_MIN_EVENTS + 1), [3] * (COPY_MIN_EVENTS + 1)))
    settings_ = FetchSettings(target_events=100, max_range=10, dialect="postgresql")
    python = Fetcher(None, weird, FetchSettings(**{**settings_.__dict__, "native": False}), 1).decode(  # type: ignore[arg-type]
        RawBatch(1, 5, HEADERS[5], loads(body)["result"], dict(HEADERS)))
    compiled = Fetcher(None, weird, settings_, 1).decode(  # type: ignore[arg-type]
        RawBatch(1, 5, HEADERS[5], native.parse_logs_reply(body)["result"], dict(HEADERS)))
    assert python.event_rows is not None and python.event_rows.copy_text is not None
    assert b"We\\\\ird\\tname\\nwith\\rall" in python.event_rows.copy_text
    assert compiled.event_rows == python.event_rows and compiled.events == python.events


def _psycopg_copy_text(rows: list[tuple[Any, ...]]) -> bytes:
    from psycopg._copy_base import TextFormatter
    from psycopg.adapt import Transformer

    formatter = TextFormatter(Transformer())
    return b"".join(bytes(formatter.write_row(row)) for row in rows) + bytes(formatter.end())


_COPY_VALUE = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                        st.sampled_from([0, -1, 2**63 - 1, -(2**63), 2**64, -(2**64)]),
                        st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=20),
                        st.sampled_from(["\b\t\n\v\f\r\\", "\\N", "\\.", "广州 🧾", ""]))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_COPY_VALUE, _COPY_VALUE, _COPY_VALUE), max_size=20))
def test_copy_rows_writes_the_bytes_psycopg_writes(rows: list[tuple[Any, ...]]) -> None:
    assert native.copy_rows(rows) == _psycopg_copy_text(rows)


def test_copy_rows_leaves_other_types_and_nul_to_psycopg() -> None:
    import decimal

    for odd in (1.5, decimal.Decimal("1"), b"x", {"k": 1}, "a\x00b"):
        assert native.copy_rows([(1, "x"), (2, odd)]) is None


def test_projection_rows_copied_by_the_compiled_formatter_are_stored_as_given(postgres_url: str) -> None:
    """Rows through Store._copy (the compiled formatter) read back exactly; rows it cannot take
    (a float) still go through psycopg."""
    from sqlalchemy import text as sql

    from gateway.indexer.store import Store, make_engine
    from tests.gateway.indexer_fixtures import new_postgres_database

    engine = make_engine(new_postgres_database(postgres_url))
    with engine.begin() as conn:
        conn.execute(sql("CREATE TABLE t (n bigint, big numeric, flag boolean, s text, missing text)"))
    rows = [(i, 2**70 + i, i % 2 == 0, f"{i}\b\t\n\v\f\r\\ 广州 \\N", None) for i in range(300)]
    store = Store(engine)
    with engine.begin() as conn:
        store._copy(conn, "t", ("n", "big", "flag", "s", "missing"), rows)
        store._copy(conn, "t", ("n", "big", "flag", "s", "missing"), [(1000, 1.5, True, "float", None)])
    with engine.connect() as conn:
        stored = conn.execute(sql("SELECT n, big, flag, s, missing FROM t ORDER BY n")).all()
    assert [tuple(r) for r in stored[:300]] == rows
    assert tuple(stored[300]) == (1000, 1.5, True, "float", None)
    engine.dispose()
