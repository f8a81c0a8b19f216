"""The verifier against a tampered gateway database (SQLite and PostgreSQL): every edit, deletion,
forgery and swap is flagged with the right kind; an untouched history verifies."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text

from gateway.indexer.decode import canonical_json, loads
from gateway.indexer.store import make_engine
from gateway.verify import SqlSource, main, select_history, verify_history
from tests.gateway.verify_market import Market, indexed_db, market

VOUCHER = 4  # the demo's second line-data voucher: issued, minted, sold through a broker
ASSET = 2  # the telemetry dataset: registration, valuation, clearance, two vouchers


def rows(url: str, kind: str = "voucher", subject: int = VOUCHER) -> list[dict[str, Any]]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return select_history(conn, kind, subject)
    finally:
        engine.dispose()


def execute(url: str, sql: str, **params: Any) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(sql), params)
    finally:
        engine.dispose()


def verify(market: Market, url: str, kind: str = "voucher", subject: int = VOUCHER) -> Any:
    source = SqlSource(url)
    try:
        return verify_history(market.rpc_url, kind, subject, source=source, state_dir=market.state_dir)
    finally:
        source.close()


def bad(verdict: Any) -> list[tuple[str, int, int, list[str]]]:
    return [(v.status, v.block_number, v.log_index, v.fields) for v in verdict.events if v.status != "ok"]


def test_untouched_histories_verify(market: Market, indexed_db: Callable[[], str]) -> None:
    url = indexed_db()
    for kind, ids in (("voucher", (1, 2, 3, 4)), ("asset", (1, 2, 3))):
        for subject in ids:
            verdict = verify(market, url, kind, subject)
            assert verdict.ok, (kind, subject, verdict.summary, bad(verdict), verdict.problems)
            assert verdict.counts["chain"] == verdict.counts["served"] > 0
            assert all(b.receipts_root_ok and b.header_hash_ok for b in verdict.blocks)
    asset = verify(market, url, "asset", ASSET)
    assert [m.status for m in asset.manifests] == ["ok"]
    events = [v.event for v in asset.events]
    assert {"AssetRegistered", "ValuationRecorded", "ClearanceRequested", "ClearanceApproved",
            "VoucherIssued"} <= set(events)
    voucher = verify(market, url)
    assert sorted(v.event for v in voucher.events) == ["BrokerPaid", "TradeSettled", "Transfer", "Transfer",
                                                       "VoucherIssued"]
    assert voucher.manifests and voucher.manifests[0].status == "ok"  # the voucher's asset manifest


def test_edited_field_is_altered(market: Market, indexed_db: Callable[[], str]) -> None:
    url = indexed_db()
    trade = next(r for r in rows(url) if r["event"] == "TradeSettled")
    args = dict(trade["args"])
    args["price"] = str(int(args["price"]) + 1)
    execute(url, "UPDATE events SET args = :args WHERE block_number = :b AND log_index = :l",
            args=canonical_json(args), b=trade["block_number"], l=trade["log_index"])
    verdict = verify(market, url)
    assert not verdict.ok
    assert bad(verdict) == [("altered", trade["block_number"], trade["log_index"], ["args.price"])]

    # a second kind of edit: the tx hash of the issuance
    issued = next(r for r in rows(url) if r["event"] == "VoucherIssued")
    execute(url, "UPDATE events SET tx_hash = :h WHERE block_number = :b AND log_index = :l",
            h="0x" + "ab" * 32, b=issued["block_number"], l=issued["log_index"])
    statuses = {(s, b, li): f for s, b, li, f in bad(verify(market, url))}
    assert statuses[("altered", issued["block_number"], issued["log_index"])] == ["tx_hash"]


def test_block_hash_edit_is_non_canonical(market: Market, indexed_db: Callable[[], str]) -> None:
    url = indexed_db()
    target = rows(url)[1]
    execute(url, "UPDATE events SET block_hash = :h WHERE block_number = :b AND log_index = :l",
            h="0x" + "11" * 32, b=target["block_number"], l=target["log_index"])
    verdict = verify(market, url)
    assert bad(verdict) == [("non_canonical", target["block_number"], target["log_index"], ["block_hash"])]


def test_deleted_event_is_missing(market: Market, indexed_db: Callable[[], str]) -> None:
    url = indexed_db()
    target = next(r for r in rows(url) if r["event"] == "BrokerPaid")
    execute(url, "DELETE FROM events WHERE block_number = :b AND log_index = :l",
            b=target["block_number"], l=target["log_index"])
    verdict = verify(market, url)
    assert not verdict.ok
    assert bad(verdict) == [("missing", target["block_number"], target["log_index"], [])]
    assert verdict.counts["served"] == verdict.counts["chain"] - 1


def test_forged_events_are_extra(market: Market, indexed_db: Callable[[], str]) -> None:
    url = indexed_db()
    src = next(r for r in rows(url) if r["event"] == "Transfer" and r["args"]["from"] != "0x" + "00" * 20)
    forged = dict(src["args"], to="0x" + "66" * 20)
    insert = ("INSERT INTO events (block_number, log_index, block_hash, tx_hash, tx_index, address, contract, event, "
              "args) VALUES (:b, :l, :h, :t, :ti, :a, :c, :e, :args)")
    # a forged transfer in a real block, at a log index nothing occupies
    execute(url, insert, b=src["block_number"], l=900, h=src["block_hash"], t=src["tx_hash"], ti=src["tx_index"],
            a=src["address"], c=src["contract"], e="Transfer", args=canonical_json(forged))
    verdict = verify(market, url)
    assert bad(verdict) == [("extra", src["block_number"], 900, [])]
    # and one in a block the node does not have at all
    execute(url, insert, b=10_000_000, l=0, h="0x" + "77" * 32, t="0x" + "88" * 32, ti=0,
            a=src["address"], c=src["contract"], e="Transfer", args=canonical_json(forged))
    kinds = sorted(s for s, *_ in bad(verify(market, url)))
    assert kinds == ["extra", "non_canonical"]


def test_swapped_events_are_reordered(market: Market, indexed_db: Callable[[], str]) -> None:
    url = indexed_db()
    history = rows(url)
    a, b = history[0], history[3]  # VoucherIssued <-> TradeSettled: different blocks
    cols = ("block_number", "log_index", "block_hash", "tx_hash", "tx_index")
    move = ("UPDATE events SET block_number = :nb, log_index = :nl, block_hash = :nh, tx_hash = :nt, tx_index = :nti "
            "WHERE block_number = :b AND log_index = :l")
    def params(src: dict[str, Any], dst: dict[str, Any]) -> dict[str, Any]:
        return {"b": src["block_number"], "l": src["log_index"], "nb": dst["block_number"],
                "nl": dst["log_index"], "nh": dst["block_hash"], "nt": dst["tx_hash"], "nti": dst["tx_index"]}

    parking = dict(zip(cols, (-1, -1, "0x" + "00" * 32, "0x", 0)))
    execute(url, move, **params(a, parking))  # the primary key is (block_number, log_index)
    execute(url, move, **params(b, a))
    execute(url, move, **params(parking, b))
    verdict = verify(market, url)
    assert not verdict.ok
    flagged = bad(verdict)
    assert {(s, bn, li) for s, bn, li, _ in flagged} == {
        ("reordered", a["block_number"], a["log_index"]), ("reordered", b["block_number"], b["log_index"])}


def test_served_out_of_chain_order_is_reordered(market: Market, indexed_db: Callable[[], str]) -> None:
    """A gateway listing the right events in the wrong order (the HTTP shape, swapped positions)."""
    url = indexed_db()
    served = SqlSource(url).history("voucher", VOUCHER)
    served.events[1], served.events[2] = served.events[2], served.events[1]
    verdict = verify_history(market.rpc_url, "voucher", VOUCHER, served=served, state_dir=market.state_dir)
    assert not verdict.ok
    assert [v.status for v in verdict.events].count("reordered") == 1


def test_asset_history_tamper(market: Market, indexed_db: Callable[[], str]) -> None:
    url = indexed_db()
    clearance = next(r for r in rows(url, "asset", ASSET) if r["event"] == "ClearanceApproved")
    args = dict(clearance["args"], destination="SG")
    execute(url, "UPDATE events SET args = :args WHERE block_number = :b AND log_index = :l",
            args=canonical_json(args), b=clearance["block_number"], l=clearance["log_index"])
    verdict = verify(market, url, "asset", ASSET)
    assert bad(verdict) == [("altered", clearance["block_number"], clearance["log_index"], ["args.destination"])]


def test_cli_exit_codes_and_json(market: Market, indexed_db: Callable[[], str],
                                 capsys: pytest.CaptureFixture[str]) -> None:
    url = indexed_db()
    base = ["--rpc", market.rpc_url, "--state-dir", str(market.state_dir), "--database-url", url]
    assert main(base + ["voucher", str(VOUCHER), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] and out["counts"]["ok"] == 5
    assert main(["--rpc", market.rpc_url, "--state-dir", str(market.state_dir), "asset", str(ASSET)]) == 0
    assert "chain-side history alone" in capsys.readouterr().out
    target = rows(url)[2]
    execute(url, "DELETE FROM events WHERE block_number = :b AND log_index = :l",
            b=target["block_number"], l=target["log_index"])
    assert main(base + ["voucher", str(VOUCHER)]) == 1
    text_out = capsys.readouterr().out
    assert "missing" in text_out and "FAILED" in text_out
    assert main(["--rpc", "http://127.0.0.1:9", "--state-dir", str(market.state_dir), "voucher", "1", "--json"]) == 2
    assert loads(capsys.readouterr().out)["ok"] is False
