"""State verification against a tampered gateway (SQLite and PostgreSQL): every row of issue 10's
table is detected, named (subject + field) and gives a non-zero exit; the gateway's claimed height
never hides events (behind); unknown and out-of-range ids have their own verdicts."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import text

from gateway.verify import SqlSource, main, verify_history
from tests.gateway.test_verify_tamper import ASSET, VOUCHER, execute, rows
from tests.gateway.verify_market import Market, indexed_db, market, voucher_frozen_after_index

DEAD = "0x000000000000000000000000000000000000dead"


def verify(market: Market, url: str, kind: str = "voucher", subject: int = VOUCHER, **kw: Any) -> Any:
    source = SqlSource(url)
    try:
        return verify_history(market.rpc_url, kind, subject, source=source, state_dir=market.state_dir, **kw)
    finally:
        source.close()


def named(verdict: Any) -> set[tuple[str, str]]:
    """(subject, field) of every state mismatch."""
    return {(c.subject, c.field) for c in verdict.state if c.status == "mismatch"}


def cli(market: Market, url: str, *args: str) -> int:
    return main(["--rpc", market.rpc_url, "--state-dir", str(market.state_dir), "--database-url", url, *args])


def one(url: str, sql: str, **params: Any) -> Any:
    from gateway.indexer.store import make_engine

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql), params).first()
    finally:
        engine.dispose()


def test_untouched_state_verifies_every_served_field(market: Market, indexed_db: Callable[[], str]) -> None:
    url = indexed_db()
    for kind, subject in (("voucher", VOUCHER), ("asset", ASSET), ("asset", 1)):
        verdict = verify(market, url, kind, subject)
        assert verdict.verdict == "verified" and verdict.exit_code == 0, (verdict.summary, verdict.mismatches())
        statuses = {c.status for c in verdict.state}
        assert statuses <= {"ok", "unverified"}, statuses
        fields = {(c.subject.split(" ")[0], c.field) for c in verdict.state if c.status == "ok"}
        if kind == "voucher":
            for f in ("holder", "status", "uses", "max_uses", "valid_from", "valid_until", "asset_id", "scope_hash"):
                assert ("voucher", f) in fields, f
            assert ("trade", "price") in fields and ("trade", "fee") in fields
            assert ("transfer", "to_address") in fields
            # the contract's own state was read at the verified block and agrees
            holder = next(c for c in verdict.state if c.subject == f"voucher {VOUCHER}" and c.field == "holder")
            assert holder.view == holder.chain and "eth_call at block" in holder.against
        else:
            for f in ("holder", "status", "manifest_cid", "content_hash", "manifest_version"):
                assert ("asset", f) in fields, f
            assert ("manifest", "content_hash") in fields
    asset = verify(market, url, "asset", ASSET)
    assert ("clearance", "status") in {(c.subject.split(" ")[0], c.field) for c in asset.state if c.status == "ok"}
    asset1 = verify(market, url, "asset", 1)
    assert any(c.subject.startswith("use ") and c.field == "purpose_hash" and c.status == "ok" for c in asset1.state)


def test_owner_edit(market: Market, indexed_db: Callable[[], str], capsys: pytest.CaptureFixture[str]) -> None:
    url = indexed_db()
    execute(url, "UPDATE vouchers SET holder = :o WHERE voucher_id = :t", o=DEAD, t=VOUCHER)
    verdict = verify(market, url)
    assert verdict.verdict == "mismatch" and verdict.exit_code == 1
    assert named(verdict) == {(f"voucher {VOUCHER}", "holder")}
    check = next(c for c in verdict.state if c.status == "mismatch")
    assert check.served == DEAD and check.chain == check.view != DEAD
    assert cli(market, url, "voucher", str(VOUCHER)) == 1
    out = capsys.readouterr().out
    assert f"voucher {VOUCHER} holder: served {DEAD}" in out and "VERIFIED" not in out


def test_transfer_rows_edited(market: Market, indexed_db: Callable[[], str]) -> None:
    url = indexed_db()
    row = one(url, "SELECT block_number, log_index FROM voucher_transfers WHERE voucher_id = :t "
                   "ORDER BY block_number DESC LIMIT 1", t=VOUCHER)
    execute(url, "UPDATE voucher_transfers SET from_address = :a, to_address = :a WHERE block_number = :b "
                 "AND log_index = :l", a=DEAD, b=row[0], l=row[1])
    verdict = verify(market, url)
    subject = f"transfer of voucher {VOUCHER} at block {row[0]} log {row[1]}"
    assert named(verdict) == {(subject, "from_address"), (subject, "to_address")}
    assert verdict.exit_code == 1


def test_trade_price_edited(market: Market, indexed_db: Callable[[], str]) -> None:
    url = indexed_db()
    trade_id, price = one(url, "SELECT trade_id, price FROM trades WHERE voucher_id = :v", v=VOUCHER)
    execute(url, "UPDATE trades SET price = :p WHERE trade_id = :t", p=str(int(price) + 1), t=trade_id)
    verdict = verify(market, url)
    assert named(verdict) == {(f"trade {trade_id[:10]}…{trade_id[-4:]}", "price")}
    assert verdict.exit_code == 1


@pytest.mark.parametrize("how", ["replaced", "other_asset"])
def test_manifest_replaced(market: Market, indexed_db: Callable[[], str], how: str) -> None:
    url = indexed_db()
    if how == "replaced":
        cid, digest = "0x01551220" + "ab" * 32, "0x" + "cd" * 32
    else:  # asset 2 given asset 3's manifest
        cid, digest = one(url, "SELECT manifest_cid, content_hash FROM assets WHERE asset_id = 3")
    version = one(url, "SELECT manifest_version FROM assets WHERE asset_id = :a", a=ASSET)[0]
    execute(url, "UPDATE assets SET manifest_cid = :c, content_hash = :h WHERE asset_id = :a", c=cid, h=digest, a=ASSET)
    execute(url, "UPDATE asset_manifests SET manifest_cid = :c, content_hash = :h WHERE asset_id = :a AND version = :v",
            c=cid, h=digest, a=ASSET, v=version)
    verdict = verify(market, url, "asset", ASSET)
    assert named(verdict) == {(f"asset {ASSET}", "manifest_cid"), (f"asset {ASSET}", "content_hash"),
                              (f"manifest v{version} of asset {ASSET}", "manifest_cid"),
                              (f"manifest v{version} of asset {ASSET}", "content_hash")}
    head = next(c for c in verdict.state if c.subject == f"asset {ASSET}" and c.field == "content_hash")
    assert head.view == head.chain and "eth_call" in head.against  # the contract's latestManifest
    assert [m.status for m in verdict.manifests] == ["ok"]  # the chain's manifest bytes re-hashed
    assert cli(market, url, "asset", str(ASSET)) == 1


def test_use_purpose_edited(market: Market, indexed_db: Callable[[], str]) -> None:
    url = indexed_db()
    token, number, asset = one(url, "SELECT voucher_id, use_number, asset_id FROM voucher_uses ORDER BY voucher_id LIMIT 1")
    execute(url, "UPDATE voucher_uses SET purpose_hash = :p WHERE voucher_id = :t AND use_number = :n",
            p="0x" + "ee" * 32, t=token, n=number)
    for kind, subject in (("voucher", token), ("asset", asset)):
        verdict = verify(market, url, kind, subject)
        assert named(verdict) == {(f"use {number} of voucher {token}", "purpose_hash")}, kind
        assert verdict.exit_code == 1


def test_clearance_and_voucher_status_edited(market: Market, indexed_db: Callable[[], str]) -> None:
    url = indexed_db()
    case = one(url, "SELECT clearance_id FROM clearances WHERE asset_id = :a AND status = 'approved'", a=ASSET)[0]
    execute(url, "UPDATE clearances SET status = 'rejected' WHERE clearance_id = :c", c=case)
    verdict = verify(market, url, "asset", ASSET)
    assert named(verdict) == {(f"clearance {case}", "status")}
    check = next(c for c in verdict.state if c.status == "mismatch")
    assert check.chain == check.view == "approved"  # DataCustoms.clearance at the verified block
    execute(url, "UPDATE vouchers SET status = 'frozen' WHERE voucher_id = :t", t=VOUCHER)
    verdict = verify(market, url)
    assert named(verdict) == {(f"voucher {VOUCHER}", "status")}
    assert verdict.exit_code == 1


def test_newest_transfer_hidden_by_lowering_the_height(market: Market, indexed_db: Callable[[], str]) -> None:
    url = indexed_db()
    t = one(url, "SELECT block_number, log_index FROM voucher_transfers WHERE voucher_id = :t "
                 "ORDER BY block_number DESC, log_index DESC LIMIT 1", t=VOUCHER)
    execute(url, "DELETE FROM voucher_transfers WHERE block_number = :b AND log_index = :l", b=t[0], l=t[1])
    execute(url, "DELETE FROM events WHERE block_number = :b AND log_index = :l", b=t[0], l=t[1])
    execute(url, "UPDATE indexer_state SET last_block = last_block - 1")
    verdict = verify(market, url)
    assert verdict.exit_code != 0 and verdict.verdict in ("mismatch", "behind")
    flagged = {(v.status, v.block_number, v.log_index) for v in verdict.events if v.status != "ok"}
    assert flagged & {("missing", t[0], t[1]), ("not_indexed", t[0], t[1])}
    assert verdict.block == market.w3.eth.block_number  # the verifier's block, not the gateway's


def test_whole_history_hidden_below_a_low_height(market: Market, indexed_db: Callable[[], str],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    url = indexed_db()
    for r in rows(url):
        execute(url, "DELETE FROM events WHERE block_number = :b AND log_index = :l", b=r["block_number"],
                l=r["log_index"])
    execute(url, "UPDATE indexer_state SET last_block = 40")
    verdict = verify(market, url)
    assert verdict.verdict != "verified" and verdict.exit_code != 0
    assert verdict.counts["served"] == 0 and verdict.counts["chain"] == 5
    assert all(v.status in ("missing", "not_indexed") for v in verdict.events)
    code = cli(market, url, "voucher", str(VOUCHER), "--json")
    out = json.loads(capsys.readouterr().out)
    assert code == out["exit_code"] != 0 and out["verdict"] != "verified"


def test_gateway_behind_is_its_own_verdict(market: Market, indexed_db: Callable[[], str],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    url = indexed_db()
    gateway = one(url, "SELECT last_block FROM indexer_state")[0]
    # blocks without events of this voucher (geth --dev.period, QBFT's empty blocks): still complete
    market.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    quiet = verify(market, url)
    assert quiet.verdict == "verified" and quiet.exit_code == 0, quiet.summary
    assert quiet.behind_by == quiet.block - gateway >= 1
    assert f"the gateway is at block {gateway}, {quiet.behind_by} behind" in quiet.summary
    # an event of this voucher after the gateway's height: behind, exit 4 (chain put back afterwards)
    with voucher_frozen_after_index(market, VOUCHER):
        verdict = verify(market, url)
        assert verdict.verdict == "behind" and verdict.exit_code == 4, verdict.summary
        assert verdict.behind_by == verdict.block - gateway >= 2
        assert (f"gateway behind by {verdict.behind_by} blocks; events after block {gateway} not yet served "
                f"(1 of this voucher's events)") in verdict.summary
        assert cli(market, url, "voucher", str(VOUCHER)) == 4
        assert "GATEWAY BEHIND" in capsys.readouterr().out
    # the verifier may pin the block itself: at the gateway's height everything matches
    pinned = verify(market, url, block=gateway)
    assert pinned.verdict == "verified" and pinned.block == gateway, pinned.summary
    assert cli(market, url, "voucher", str(VOUCHER), "--block", str(gateway)) == 0


def test_unknown_and_out_of_range_ids(market: Market, indexed_db: Callable[[], str],
                                      capsys: pytest.CaptureFixture[str]) -> None:
    url = indexed_db()
    for kind in ("voucher", "asset"):
        verdict = verify(market, url, kind, 999999)
        assert verdict.verdict == "unknown" and verdict.exit_code == 3, verdict.summary
        assert cli(market, url, kind, "999999") == 3
        assert "UNKNOWN" in capsys.readouterr().out
        for bad in ("-1", str(2**256), "abc", "1.5"):
            assert cli(market, url, kind, bad) == 2, bad
            assert "error:" in capsys.readouterr().err
    assert cli(market, url, "voucher", str(2**256 - 1)) == 3  # the largest uint256 is a valid, unknown id
    # a gateway serving a voucher the chain does not have: a mismatch, not "unknown"
    execute(url, "UPDATE vouchers SET voucher_id = 999999 WHERE voucher_id = 1")
    verdict = verify(market, url, "voucher", 999999)
    assert verdict.verdict == "mismatch" and verdict.exit_code == 1
    assert ("voucher 999999", "(row)") in named(verdict)


def test_redacted_fields_are_reported_not_checked(market: Market, indexed_db: Callable[[], str]) -> None:
    """A field listed in an item's ``redacted`` list is neither a mismatch nor verified."""
    url = indexed_db()
    served = SqlSource(url).history("asset", ASSET)
    assert served.state is not None
    case = served.state["clearances"][0]
    case.update(requester=None, purpose_cid=None, redacted=["requester", "purpose_cid"])
    event = next(e for e in served.events if e["event"] == "ClearanceRequested")
    event["args"]["requester"] = None
    event["redacted"] = ["args.requester"]
    verdict = verify_history(market.rpc_url, "asset", ASSET, served=served, state_dir=market.state_dir)
    assert verdict.verdict == "verified", verdict.mismatches()
    hidden = {(c.subject, c.field) for c in verdict.state if c.status == "redacted"}
    assert hidden == {(f"clearance {case['clearance_id']}", "requester"), (f"clearance {case['clearance_id']}", "purpose_cid")}
    assert next(v for v in verdict.events if v.event == "ClearanceRequested").redacted == ["args.requester"]
    assert "redacted fields not served, not checked" in verdict.summary
    # a field NOT listed as redacted but served wrong is still a mismatch
    case["destination"] = "SG"
    assert named(verify_history(market.rpc_url, "asset", ASSET, served=served, state_dir=market.state_dir)) == {
        (f"clearance {case['clearance_id']}", "destination")}


def test_event_hidden_above_a_lowered_height_still_fails_on_state(market: Market,
                                                                  indexed_db: Callable[[], str]) -> None:
    """The newest transfer put above the claimed height: the event is "not yet served", and the
    owner the gateway serves is not the chain's owner at that height -> mismatch, named."""
    url = indexed_db()
    t = one(url, "SELECT block_number, log_index FROM voucher_transfers WHERE voucher_id = :t "
                 "ORDER BY block_number DESC, log_index DESC LIMIT 1", t=VOUCHER)
    execute(url, "DELETE FROM events WHERE block_number = :b AND log_index = :l", b=t[0], l=t[1])
    execute(url, "DELETE FROM voucher_transfers WHERE block_number = :b AND log_index = :l", b=t[0], l=t[1])
    execute(url, "UPDATE indexer_state SET last_block = :b", b=t[0] - 1)
    verdict = verify(market, url)
    assert ("not_indexed", t[0], t[1]) in {(v.status, v.block_number, v.log_index) for v in verdict.events}
    assert (f"voucher {VOUCHER}", "holder") in named(verdict)
    assert verdict.verdict == "mismatch" and verdict.exit_code == 1


def test_verifier_block_below_the_gateway(market: Market, indexed_db: Callable[[], str]) -> None:
    """--block below the gateway's height: events after it are left out (said so), never "missing"."""
    url = indexed_db()
    issued = next(r for r in rows(url) if r["event"] == "VoucherIssued")["block_number"]
    verdict = verify(market, url, block=issued)
    assert verdict.block == issued and verdict.counts["chain"] == 2  # VoucherIssued + the mint Transfer
    assert verdict.verdict == "verified", verdict.mismatches()
    assert "served events after it and the served state are not checked" in verdict.summary
    assert not verdict.state or all(c.status != "ok" for c in verdict.state)


def test_dataledger_cli_refuses_out_of_range_ids() -> None:
    """Through the installed ``dataledger`` entry point: one error line, exit 2."""
    import subprocess
    import sys
    from pathlib import Path

    exe = Path(sys.executable).parent / "dataledger"
    for bad in ("-1", str(2**256)):
        proc = subprocess.run([str(exe), "verify", "voucher", bad, "--rpc", "http://127.0.0.1:9"],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2, (bad, proc.stdout, proc.stderr)
        assert proc.stderr.strip().splitlines() == [f"error: id {bad} is outside uint256 (0 .. 2**256-1)"]
