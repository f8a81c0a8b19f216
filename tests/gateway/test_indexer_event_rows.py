"""The ``events`` rows the backfill builds in its decode stage: COPY text on PostgreSQL, parameter
tuples on SQLite. Both must store exactly what the decoder produced, whatever a log's strings hold
(a hostile contract can emit any string; a hostile node can send any hex-looking text)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from gateway.indexer.decode import DecodedEvent, canonical_json
from gateway.indexer.store import State, Store, dump_lines, make_engine, migrate
from tests.gateway.indexer_fixtures import new_postgres_database

ROOT = Path(__file__).resolve().parents[2]

#: every character COPY's text format treats specially, plus CJK, an emoji, quotes and a NUL escape
NASTY = ["a\\b", "tab\there", "line\nbreak", "cr\rhere", "\\N", "\\.", "广州数据交易所 🧾", 'quote"s', "\\\\t", "\u2028"]


def _events(count: int) -> tuple[list[tuple[int, str, str, int]], list[DecodedEvent]]:
    blocks = [(n, f"0x{n:064x}", f"0x{n - 1:064x}", 1_700_000_000 + n) for n in range(1, 4)]
    events = []
    for i in range(count):
        n = 1 + i % 3
        nasty = NASTY[i % len(NASTY)]
        events.append(DecodedEvent(
            block_number=n, block_hash=blocks[n - 1][1], tx_hash=f"0x{i:064x}", tx_index=i, log_index=i,
            address="0x" + "ab" * 20, contract="" if i % 7 == 0 else "DataVoucher",
            name="" if i % 7 == 0 else "Weird\tName" if i % 11 == 0 else "VoucherRevoked",
            args={"reason": nasty, "voucherId": i, "big": str(2**255 + i), "nested": {"k": [nasty, i]}},
            timestamp=blocks[n - 1][3]))
    return blocks, events


def _write(url: str, count: int) -> list[str]:
    migrate(url)
    engine = make_engine(url)
    store = Store(engine)
    blocks, events = _events(count)
    rows = store.event_rows(events)
    with engine.begin() as conn:
        store.write_batch(conn, blocks, events, State(chain_id=1, last_block=0, last_block_hash="0x"), False, rows)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT log_index, contract, event, args FROM events ORDER BY log_index")).all()
    by_index = {e.log_index: e for e in events}
    for log_index, contract, name, args in stored:  # each value exactly as decoded
        e = by_index[log_index]
        assert (contract, name, args) == (e.contract, e.name, canonical_json(e.args))
        assert json.loads(args) == e.args
    assert len(stored) == count
    lines = [line for line in dump_lines(engine) if not line.startswith("#")]
    engine.dispose()
    return lines


def test_copy_text_rows_store_exactly_what_was_decoded(tmp_path: Path, postgres_url: str) -> None:
    # 300 events: PostgreSQL takes the COPY text path (more than 200), SQLite the tuples
    assert Store(make_engine(postgres_url)).event_rows(_events(300)[1]).copy_text is not None
    sqlite = _write(f"sqlite:///{tmp_path / 'rows.db'}", 300)
    postgres = _write(new_postgres_database(postgres_url), 300)
    assert sqlite == postgres  # the canonical dump: identical across the two databases


def test_small_batches_take_parameter_rows_on_postgres_with_the_same_result(tmp_path: Path,
                                                                            postgres_url: str) -> None:
    assert Store(make_engine(postgres_url)).event_rows(_events(50)[1]).copy_text is None
    assert _write(new_postgres_database(postgres_url), 50) == _write(f"sqlite:///{tmp_path / 'small.db'}", 50)


def test_event_rows_built_for_another_batch_are_not_used(tmp_path: Path) -> None:
    """write_batch rebuilds the rows when the ones handed in do not match the events (count)."""
    url = f"sqlite:///{tmp_path / 'mismatch.db'}"
    migrate(url)
    engine = make_engine(url)
    store = Store(engine)
    blocks, events = _events(30)
    stale = store.event_rows(events[:10])
    with engine.begin() as conn:
        store.write_batch(conn, blocks, events, State(chain_id=1, last_block=0, last_block_hash="0x"), False, stale)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM events")).scalar() == 30
    engine.dispose()


def test_the_indexer_command_does_not_load_web3() -> None:
    """The indexer process imports no web3 / eth_account (25 MiB of its resident memory before);
    documents take cid_from_chain from ledger.ipfs, not the SDK's contract models. Nor eth_abi /
    eth_utils (half a second of start-up): the decoder imports eth_abi for the first array or
    tuple argument it meets."""
    out = subprocess.run([sys.executable, "-c", "import sys, gateway.indexer.cli, gateway.indexer.sync; "
                          "print(sorted(m for m in ('web3', 'eth_account', 'eth_abi', 'eth_utils') "
                          "if m in sys.modules))"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[]"


@pytest.mark.parametrize("count", [1, 2, 3, 255, 256, 257, 1000, 1023])
def test_sqlite_multi_row_inserts_store_every_row_once(tmp_path: Path, count: int) -> None:
    """SQLite rows go in as multi-row VALUES statements of 256 rows and powers of two below it:
    every row arrives once, whatever the count."""
    url = f"sqlite:///{tmp_path / 'values.db'}"
    migrate(url)
    engine = make_engine(url)
    store = Store(engine)
    rows = [(i // 7, i % 7, i, f"0x{i:040x}", f"0x{i + 1:040x}", f"0x{i:064x}") for i in range(count)]
    columns = ("block_number", "log_index", "voucher_id", "from_address", "to_address", "tx_hash")
    with engine.begin() as conn:
        store.insert_many(conn, "voucher_transfers", columns, rows)
    with engine.connect() as conn:
        stored = conn.execute(text(f"SELECT {', '.join(columns)} FROM voucher_transfers "
                                   "ORDER BY block_number, log_index")).all()
    assert [tuple(r) for r in stored] == rows
    assert len(store._values_cache) <= 9
    engine.dispose()


def _parse_copy_text(text_: str) -> list[list[str]]:
    """COPY's text format read back the way PostgreSQL reads it: rows end at a bare newline or
    carriage return, fields at a bare tab, and a backslash escapes the next character (t, n, r,
    or itself)."""
    rows: list[list[str]] = []
    fields: list[str] = []
    value: list[str] = []
    chars = iter(text_)
    for ch in chars:
        if ch == "\\":
            nxt = next(chars)
            value.append({"t": "\t", "n": "\n", "r": "\r"}.get(nxt, nxt))
        elif ch == "\t":
            fields.append("".join(value))
            value = []
        elif ch in "\n\r":
            fields.append("".join(value))
            rows.append(fields)
            fields, value = [], []
        else:
            value.append(ch)
    assert not fields and not value, "COPY text must end with a newline"
    return rows


def _clean_events(count: int) -> list[DecodedEvent]:
    return [DecodedEvent(block_number=1 + i // 100, block_hash=f"0x{1 + i // 100:064x}", tx_hash=f"0x{i:064x}",
                         tx_index=i % 100, log_index=i, address="0x" + "cd" * 20, contract="DataVoucher",
                         name="Transfer", args={"from": "0x" + "00" * 20, "to": "0x" + "ef" * 20, "tokenId": str(i)},
                         timestamp=1_700_000_000) for i in range(count)]


@pytest.mark.parametrize("special", ["\\", "\t", "\n", "\r"])
@pytest.mark.parametrize("field", ["block_hash", "tx_hash", "address", "contract", "name", "args"])
def test_one_special_character_anywhere_in_a_clean_batch_is_escaped(field: str, special: str) -> None:
    """The COPY text is built unescaped and checked once for COPY's special characters; one such
    character in any one value of one row of an otherwise clean batch must still be escaped."""
    from gateway.indexer.rows import event_rows

    events = _clean_events(300)
    odd = events[137]
    if field == "args":
        odd.args = {**odd.args, "note": f"x{special}y"}
    else:
        setattr(odd, field, f"{getattr(odd, field)}{special}z")
    rows = event_rows(events, "postgresql")
    assert rows.copy_text is not None
    parsed = _parse_copy_text(rows.copy_text.decode())
    expected = [[str(e.block_number), str(e.log_index), e.block_hash, e.tx_hash, str(e.tx_index), e.address,
                 e.contract, e.name, canonical_json(e.args)] for e in events]
    assert parsed == expected
    # the clean batch itself takes the unescaped text, and reads back the same
    clean = event_rows(_clean_events(300), "postgresql")
    assert clean.copy_text is not None and b"\\" not in clean.copy_text
    assert _parse_copy_text(clean.copy_text.decode())[137][3] == f"0x{137:064x}"
