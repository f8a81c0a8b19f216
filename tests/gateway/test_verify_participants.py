"""Participant verification against a tampered gateway (SQLite and PostgreSQL): every served field
of a participant (status, roles, licence expiry, jurisdiction, organisation, holdings) is checked
against the replayed ParticipantRegistry events and the contract's views; each edit is named with
exit 1, a hidden AccountSuspended event is caught, unknown accounts and bad addresses get their own
verdict / exit code."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from web3 import Web3

from dataledger.dev import demo
from gateway.verify import SqlSource, main
from gateway.verify.participant import verify_participant
from gateway.verify.selection import check_account
from ledger.contracts.models import Role
from tests.gateway.test_verify_tamper import execute
from tests.gateway.verify_market import Market, indexed_db, market

ACCOUNTS = {k: a.address.lower() for k, a in demo.demo_accounts().items()}
SUSPENDED = ACCOUNTS["holder_sg"]  # suspended once the demo is seeded: its newest event
BROKER = ACCOUNTS["broker"]  # a licensed role with a licence expiry
OPERATOR = ACCOUNTS["operator"]  # holds assets and vouchers
UNKNOWN = "0x00000000000000000000000000000000000b0b0b"
GONE = "0x00000000000000000000000000000000000a11ce"  # added to the regulator's organisation, then removed
MOVED = "0x000000000000000000000000000000000000b0b1"  # removed from it, then added to the customs'


@pytest.fixture(scope="module")
def pmarket(market: Market) -> Market:
    send = demo._DemoSigner(market.w3)
    registry = market.w3.eth.contract(address=Web3.to_checksum_address(market.record["contracts"]
                                                                        ["ParticipantRegistry"]["address"]),
                                      abi=__import__("ledger.artifacts", fromlist=["load_artifact"])
                                      .load_artifact("ParticipantRegistry")["abi"])
    keys = demo.demo_accounts()
    orgs = {p.key: demo.org_id(p.credit_code) for p in demo.PARTICIPANTS}
    regulator, customs = keys["regulator"].address, keys["customs"].address
    for account in (GONE, MOVED):
        send(registry.functions.addAccount(orgs["regulator"], Web3.to_checksum_address(account), int(Role.REGULATOR)),
             regulator)
        send(registry.functions.removeAccount(orgs["regulator"], Web3.to_checksum_address(account)), regulator)
    send(registry.functions.addAccount(orgs["customs"], Web3.to_checksum_address(MOVED), int(Role.CUSTOMS)), customs)
    send(registry.functions.suspendAccount(Web3.to_checksum_address(SUSPENDED), "test: audit finding"),
         keys["authority"].address)
    return market


def verify(market: Market, url: str, account: str, **kw: Any) -> Any:
    source = SqlSource(url)
    try:
        return verify_participant(market.rpc_url, account, source=source, state_dir=str(market.state_dir), **kw)
    finally:
        source.close()


def named(verdict: Any) -> set[tuple[str, str]]:
    return {(c.subject, c.field) for c in verdict.state if c.status == "mismatch"}


def cli(market: Market, url: str, *args: str) -> int:
    return main(["--rpc", market.rpc_url, "--state-dir", str(market.state_dir), "--database-url", url, *args])


def test_untouched_participants_verify_every_served_field(pmarket: Market, indexed_db: Callable[[], str],
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    url = indexed_db()
    for account in (SUSPENDED, BROKER, OPERATOR):
        verdict = verify(pmarket, url, account)
        assert verdict.verdict == "verified" and verdict.exit_code == 0, (verdict.summary, verdict.mismatches(),
                                                                          verdict.problems)
        ok = {(c.subject.split(" ")[0], c.field) for c in verdict.state if c.status == "ok"}
        for f in ("status", "roles", "licence_expiry", "jurisdiction", "org_id", "role_names", "added_by",
                  "vouchers_held", "assets_held"):
            assert ("participant", f) in ok, f
        for f in ("status", "officer", "allowed_roles", "jurisdiction"):
            assert ("organisation", f) in ok, f
        status = next(c for c in verdict.state if c.subject == f"participant {account}" and c.field == "status")
        assert "eth_call at block" in status.against and status.view == status.chain
        assert all(v.proof == "ok" for v in verdict.events) and verdict.events
    held = next(c for c in verify(pmarket, url, OPERATOR).state if c.field == "assets_held")
    assert int(held.served) > 0 and "holdingsOf" in held.against
    status = next(c for c in verify(pmarket, url, SUSPENDED).state if c.field == "status"
                  and c.subject.startswith("participant"))
    assert status.served == "suspended"
    assert cli(pmarket, url, "participant", SUSPENDED.upper().replace("0X", "0x")) == 0
    assert "VERIFIED" in capsys.readouterr().out
    # chain side alone (no gateway): the history proven and agreeing with ParticipantRegistry's views
    alone = verify_participant(pmarket.rpc_url, BROKER, state_dir=str(pmarket.state_dir))
    assert alone.verdict == "verified" and not alone.state and alone.counts["chain"] >= 3
    assert main(["--rpc", pmarket.rpc_url, "--state-dir", str(pmarket.state_dir), "participant", BROKER]) == 0
    assert "VERIFIED" in capsys.readouterr().out


@pytest.mark.parametrize("column,value,account", [
    ("status", "active", SUSPENDED),
    ("roles", "255", BROKER),
    ("licence_expiry", "4102444800", BROKER),
    ("jurisdiction", "HK", BROKER),
    ("org_id", "0x" + "ab" * 32, BROKER),
])
def test_participant_row_edits_are_named(pmarket: Market, indexed_db: Callable[[], str], column: str, value: str,
                                         account: str, capsys: pytest.CaptureFixture[str]) -> None:
    url = indexed_db()
    typed: Any = int(value) if value.isdigit() else value
    execute(url, f"UPDATE participants SET {column} = :v WHERE account = :a", v=typed, a=account)
    verdict = verify(pmarket, url, account)
    assert verdict.verdict == "mismatch" and verdict.exit_code == 1
    assert (f"participant {account}", column) in named(verdict), verdict.mismatches()
    if column == "status":
        assert f"participant {account} status: served active, chain suspended" in verdict.mismatches()[0]
    if column == "roles":  # the label computed from the roles follows the edit: named too
        assert (f"participant {account}", "role_names") in named(verdict)
    if column == "org_id":  # and the served organisation is not the participant's on chain
        assert any(s.startswith("organisation ") for s, _ in named(verdict))
    assert cli(pmarket, url, "participant", account) == 1
    out = capsys.readouterr().out
    assert "MISMATCH" in out and column in out


def test_organisation_row_edit_is_named(pmarket: Market, indexed_db: Callable[[], str]) -> None:
    url = indexed_db()
    execute(url, "UPDATE organisations SET status = 'suspended' WHERE org_id = "
                 "(SELECT org_id FROM participants WHERE account = :a)", a=BROKER)
    verdict = verify(pmarket, url, BROKER)
    assert verdict.exit_code == 1
    assert {f for s, f in named(verdict) if s.startswith("organisation ")} == {"status"}


def test_holdings_edit_is_named(pmarket: Market, indexed_db: Callable[[], str]) -> None:
    url = indexed_db()
    execute(url, "UPDATE assets SET holder = :a", a=BROKER)
    verdict = verify(pmarket, url, BROKER)
    assert verdict.exit_code == 1 and (f"participant {BROKER}", "assets_held") in named(verdict)


def test_suspension_hidden_by_deleting_it_and_lowering_the_height(pmarket: Market,
                                                                  indexed_db: Callable[[], str]) -> None:
    url = indexed_db()
    source = SqlSource(url)
    try:
        served = source.participant(SUSPENDED)
    finally:
        source.close()
    last = served.events[-1]
    assert last["event"] == "AccountSuspended"
    execute(url, "DELETE FROM events WHERE block_number = :b AND log_index = :l", b=last["block_number"],
            l=last["log_index"])
    execute(url, "UPDATE indexer_state SET last_block = :b WHERE id = 1", b=int(last["block_number"]) - 1)
    verdict = verify(pmarket, url, SUSPENDED)
    assert verdict.verdict == "mismatch" and verdict.exit_code == 1
    assert (f"participant {SUSPENDED}", "status") in named(verdict)
    assert any(v.status == "not_indexed" and v.event == "AccountSuspended" for v in verdict.events)
    # with the row put back as it was before the suspension (its previous event is its addition: a
    # holder has no licence), the gateway is honestly behind: its own verdict, exit 4
    assert served.events[-2]["event"] == "AccountAdded"
    assert served.state is not None
    execute(url, "UPDATE participants SET status = 'active', updated_block = :b WHERE account = :a",
            a=SUSPENDED, b=int(served.state["participants"][0]["added_block"]))
    behind = verify(pmarket, url, SUSPENDED)
    assert behind.verdict == "behind" and behind.exit_code == 4, behind.mismatches()
    assert "gateway behind by" in behind.summary
    assert cli(pmarket, url, "participant", SUSPENDED) == 4


def test_removed_and_moved_accounts(pmarket: Market, indexed_db: Callable[[], str]) -> None:
    """A removed account is a deleted record on chain (status None): the gateway's "removed" row is
    checked against it; an account that moved organisation is served with its current one."""
    url = indexed_db()
    gone = verify(pmarket, url, GONE)
    assert gone.verdict == "verified", (gone.mismatches(), gone.problems)
    status = next(c for c in gone.state if c.subject == f"participant {GONE}" and c.field == "status")
    assert status.served == "removed" and status.view == "removed"
    moved = verify(pmarket, url, MOVED)
    assert moved.verdict == "verified", (moved.mismatches(), moved.problems)
    assert {e.event for e in moved.events} >= {"AccountAdded", "AccountRemoved", "OrganisationRegistered"}
    orgs = {c.subject for c in moved.state if c.subject.startswith("organisation ") and c.status == "ok"}
    customs_org = "0x" + demo.org_id(next(p.credit_code for p in demo.PARTICIPANTS if p.key == "customs")).hex()
    assert orgs == {f"organisation {customs_org}"}
    execute(url, "UPDATE participants SET status = 'active' WHERE account = :a", a=GONE)
    assert named(verify(pmarket, url, GONE)) == {(f"participant {GONE}", "status")}
    # the moved account served in its former organisation
    execute(url, "UPDATE participants SET org_id = (SELECT org_id FROM participants WHERE account = :r) "
                 "WHERE account = :a", a=MOVED, r=ACCOUNTS["regulator"])
    wrong = verify(pmarket, url, MOVED)
    assert wrong.exit_code == 1 and (f"participant {MOVED}", "org_id") in named(wrong)


def test_unknown_account_and_bad_addresses(pmarket: Market, indexed_db: Callable[[], str],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    url = indexed_db()
    verdict = verify(pmarket, url, UNKNOWN)
    assert verdict.verdict == "unknown" and verdict.exit_code == 3
    assert cli(pmarket, url, "participant", UNKNOWN) == 3
    capsys.readouterr()
    for bad in ("0x1234", "0x" + "g" * 40, "12", "0x" + "00" * 21):
        assert cli(pmarket, url, "participant", bad, "--json") == 2
        assert "not an account address" in json.loads(capsys.readouterr().out)["error"]
        with pytest.raises(ValueError):
            check_account(bad)
    # a participant the gateway serves but the chain does not know
    execute(url, "UPDATE participants SET account = :u WHERE account = :a", u=UNKNOWN, a=BROKER)
    forged = verify(pmarket, url, UNKNOWN)
    assert forged.verdict == "mismatch" and forged.exit_code == 1



def test_standing_recomputed_from_the_events_must_equal_the_contracts() -> None:
    """isActive / licenceValid as the contract answers them against the replayed rows (pure check):
    an organisation suspended in the events while the contract says active is a named problem."""
    from gateway.verify.participant import standing_problems

    org = "0x" + "11" * 32
    expected = {"participants": {(BROKER,): {"org_id": org, "status": "active", "roles": int(Role.BROKER),
                                             "licence_expiry": 2000}},
                "organisations": {(org,): {"status": "suspended"}}}
    agree = {"active": {"_0": False}, "licence": {"_0": False}}
    assert standing_problems(BROKER, expected, agree, 10, 1000) == []
    problems = standing_problems(BROKER, expected, {"active": {"_0": True}, "licence": {"_0": False}}, 10, 1000)
    assert problems == [f"participant {BROKER} isActive: events give False, contract state at block 10 True"]
    expected["organisations"][(org,)]["status"] = "active"
    # licence expired at the verified block's timestamp: licenceValid must be false
    assert standing_problems(BROKER, expected, {"active": {"_0": True}, "licence": {"_0": False}}, 10, 2000) == []
    assert standing_problems(BROKER, expected, {"active": {"_0": True}, "licence": {"_0": True}}, 10, 2000) == [
        f"participant {BROKER} licenceValid: events give False, contract state at block 10 True"]


def test_participant_event_rows_edited_or_forged(pmarket: Market, indexed_db: Callable[[], str]) -> None:
    """The gateway's events table is compared event by event as for vouchers and assets."""
    url = indexed_db()
    execute(url, "UPDATE events SET args = REPLACE(args, 'audit finding', 'nothing at all') "
                 "WHERE event = 'AccountSuspended'")
    verdict = verify(pmarket, url, SUSPENDED)
    assert verdict.exit_code == 1
    assert [(v.status, v.event, v.fields) for v in verdict.events if v.status != "ok"] == [
        ("altered", "AccountSuspended", ["args.reason"])]
    # an organisation event of another organisation is not part of this participant's history
    other = ACCOUNTS["customs"]
    execute(url, "UPDATE events SET args = REPLACE(args, :a, :b) WHERE event = 'AccountAdded' AND args LIKE :p",
            a=other, b=BROKER, p=f'%"account":"{other}"%')
    forged = verify(pmarket, url, BROKER)
    assert forged.exit_code == 1
    assert {v.status for v in forged.events if v.status != "ok"} == {"extra"}
