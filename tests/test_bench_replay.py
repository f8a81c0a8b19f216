"""The replaying node of the scale bench (bench/replay.py) with voucher ids shifted per copy: the
real indexer decodes every replayed log, each copy issues its own vouchers, and a copy's
transfers move its own vouchers (never the recorded ones or another copy's)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench import replay
from gateway.indexer.store import make_engine, migrate
from gateway.indexer.sync import Indexer, IndexerConfig
from tests.gateway.indexer_fixtures import Node, contracts_of, start_node

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def recorded() -> Iterator[tuple[Node, replay.Recording, dict[int, list[str]]]]:
    """A market, 4 vouchers issued and moved in the load segment; token -> its owners in order."""
    node = start_node()
    try:
        m = node.market
        asset = m.register_asset("holder_a")  # before the segment: copies refer to the recorded asset
        start = node.w3.eth.block_number + 1
        owners: dict[int, list[str]] = {}
        for _ in range(4):
            owners[m.issue("holder_a", asset)] = ["holder_a"]
        tokens = sorted(owners)
        for token, to in ((tokens[0], "holder_b"), (tokens[1], "holder_c"), (tokens[0], "holder_c")):
            m.transfer_voucher(token, to)
            owners[token].append(to)
        addresses = sorted(c["address"].lower() for c in contracts_of(node).values())
        rec = replay.record(node.rpc_url, addresses, node.w3.eth.block_number, segment_start=start)
        yield node, rec, owners
    finally:
        node.anvil.stop()


def abis(node: Node) -> dict[str, list[dict[str, Any]]]:
    return {c["address"].lower(): json.loads((ROOT / "ledger" / "artifacts" / f"{name}.json").read_text())["abi"]
            for name, c in contracts_of(node).items()}


def index(node: Node, replayed: replay.ReplayNode, tmp_path: Path, name: str) -> dict[str, Any]:
    url = f"sqlite:///{tmp_path / name}"
    migrate(url)
    engine = make_engine(url)
    indexer = Indexer(replayed.rpc_url, engine, contracts_of(node), IndexerConfig())
    try:
        indexer.run()
    finally:
        indexer.close()
    with engine.connect() as conn:
        q = conn.exec_driver_sql
        out = {
            "vouchers": {int(r[0]): str(r[1]) for r in q("SELECT voucher_id, holder FROM vouchers")},
            "transfers": [(int(r[0]), int(r[1]), str(r[2]), str(r[3])) for r in q(
                "SELECT block_number, voucher_id, from_address, to_address FROM voucher_transfers "
                "ORDER BY block_number, log_index")],
            "undecoded": int(q("SELECT count(*) FROM events WHERE event = ''").scalar_one()),
            "events": int(q("SELECT count(*) FROM events").scalar_one()),
        }
    engine.dispose()
    return out


def test_shifted_copies_issue_and_move_their_own_vouchers(
        recorded: tuple[Node, replay.Recording, dict[int, list[str]]], tmp_path: Path) -> None:
    node, rec, owners = recorded
    addr = {name: a.lower() for name, a in node.market.addr.items()}
    copies = 3
    replayed = replay.ReplayNode(rec, copies, shift_ids=abis(node)).start()
    try:
        got = index(node, replayed, tmp_path, "shifted.db")
    finally:
        replayed.stop()
    stride = replayed.stride
    assert stride == max(owners)
    assert got["events"] == replayed.events and got["undecoded"] == 0
    # every copy issued its own 4 vouchers: 3 x as many rows, ids k * stride + token
    assert len(got["vouchers"]) == copies * len(owners)
    for k in range(copies):
        for token, chain in owners.items():
            assert got["vouchers"][k * stride + token] == addr[chain[-1]], (k, token)
    # a copy's transfers (mints and moves) are in its own blocks and name its own vouchers only
    for block, voucher, _frm, _to in got["transfers"]:
        k = 0 if block <= rec.head else (block - rec.head - 1) // replayed.seg_len + 1
        assert k * stride < voucher <= (k + 1) * stride, (block, voucher, k)
    for k in range(copies):
        for token, chain in owners.items():
            moves = [(frm, to) for _, v, frm, to in got["transfers"] if v == k * stride + token]
            want = [("0x" + "00" * 20, addr[chain[0]])] + [(addr[a], addr[b]) for a, b in zip(chain, chain[1:])]
            assert moves == want, (k, token)


def test_unshifted_copies_repeat_the_recorded_vouchers(
        recorded: tuple[Node, replay.Recording, dict[int, list[str]]], tmp_path: Path) -> None:
    """Without shift_ids a copy re-issues the recorded ids: the tables do not grow (why the
    scale bench shifts)."""
    node, rec, owners = recorded
    replayed = replay.ReplayNode(rec, 3).start()
    try:
        got = index(node, replayed, tmp_path, "plain.db")
    finally:
        replayed.stop()
    assert got["events"] == replayed.events
    assert sorted(got["vouchers"]) == sorted(owners)


def test_a_segment_with_a_trade_is_refused(recorded: tuple[Node, replay.Recording, dict[int, list[str]]]) -> None:
    """TradeSettled names a trade id next to the voucher id: a copy would repeat the trade, so a
    segment holding one cannot be shifted."""
    node, rec, _ = recorded
    settlement = contracts_of(node)["TradeSettlement"]["address"].lower()
    shift, refuse = replay.id_topics(abis(node))
    topic0 = next(t for a, t in refuse if a == settlement)
    block = rec.head
    log = {"address": settlement, "topics": [topic0, "0x" + "ab" * 32, "0x" + "00" * 31 + "01", "0x" + "00" * 32],
           "data": "0x", "blockNumber": hex(block), "logIndex": "0x63", "transactionHash": "0x" + "cd" * 32}
    bad = replay.Recording(rec.chain_id, rec.head, rec.headers, {**rec.logs, block: [*rec.logs.get(block, []), log]},
                           rec.segment_start)
    with pytest.raises(ValueError, match="cannot be shifted"):
        replay.ReplayNode(bad, 2, shift_ids=abis(node))
    replay.ReplayNode(rec, 2, shift_ids=abis(node))  # the recording without it is accepted
