"""The `dataledger` CLI end to end against anvil (typer's CliRunner, in process).

Bad inputs give ONE line on stderr, exit code 1, and change nothing on chain or on disk.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dataledger.cli import app
from ledger.deploy import write_deployment
from tests.ledger.conftest import SdkMarket

runner = CliRunner()


@pytest.fixture(autouse=True)
def _fast_keystores(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DATALEDGER_SCRYPT_N", "1024")
    monkeypatch.setenv("DATALEDGER_KEYSTORE_DIR", str(tmp_path / "keystores"))
    for var in ("DATALEDGER_PASSWORD", "DATALEDGER_PRIVATE_KEY", "DATALEDGER_ACCOUNT", "RPC_URL", "CHAIN_ID",
                "IPFS_API"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def cli(sdk_market: SdkMarket, tmp_path: Path) -> Any:
    state = tmp_path / "state"
    write_deployment(state, sdk_market.record)

    def run(*args: str, key: str | int | None = None, env: dict[str, str] | None = None,
            expect: int = 0) -> Any:
        full_env = dict(env or {})
        if key is not None:
            full_env["DATALEDGER_PRIVATE_KEY"] = sdk_market.key(key).key.hex()
        result = runner.invoke(app, ["--rpc", sdk_market.rpc_url, "--state-dir", str(state), *args],
                               env=full_env)
        assert result.exit_code == expect, (
            f"exit {result.exit_code} != {expect}\nstdout: {result.stdout}\nstderr: {result.stderr}"
            f"\nexception: {result.exception!r}"
        )
        return result

    run.state = state  # type: ignore[attr-defined]
    run.market = sdk_market  # type: ignore[attr-defined]
    return run


def one_line_error(result: Any) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one error line, got: {result.stderr!r}"
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    return lines[0]


def as_json(result: Any) -> Any:
    return json.loads(result.stdout)


def chain_state(m: SdkMarket) -> tuple[int, list[int]]:
    w3 = m.base.w3
    return w3.eth.block_number, [w3.eth.get_transaction_count(a.address) for a in m.accounts[:12]]


def _dataset(tmp_path: Path, name: str = "data") -> Path:
    d = tmp_path / name
    d.mkdir()
    (d / "records.csv").write_text(f"id,value\n1,{name}\n2,b\n")
    (d / "README.md").write_text("# telemetry\n")
    return d


# ------------------------------------------------------------------ wallet


def test_wallet_create_import_list(cli: Any, tmp_path: Path) -> None:
    m = cli.market
    out = as_json(cli("wallet", "create", "alice", "--json", env={"DATALEDGER_PASSWORD": "pw-alice"}))
    assert out["name"] == "alice" and Path(out["file"]).exists()
    key = m.key("holder_cn").key.hex()
    out = as_json(cli("wallet", "import", "holder", "--json",
                      env={"DATALEDGER_PASSWORD": "pw", "DATALEDGER_PRIVATE_KEY": key}))
    assert out["address"] == m.addr["holder_cn"]
    listed = as_json(cli("--json", "wallet", "list"))
    assert {e["name"] for e in listed} == {"alice", "holder"}
    # the same name twice: refused, nothing written
    files = sorted(os.listdir(tmp_path / "keystores"))
    err = one_line_error(cli("wallet", "create", "alice", env={"DATALEDGER_PASSWORD": "x"}, expect=1))
    assert "already exists" in err
    assert sorted(os.listdir(tmp_path / "keystores")) == files


def test_keystore_account_acts_and_wrong_password_changes_nothing(cli: Any) -> None:
    m = cli.market
    cli("wallet", "import", "holder", env={"DATALEDGER_PASSWORD": "right",
                                           "DATALEDGER_PRIVATE_KEY": m.key("holder_cn").key.hex()})
    vid = m.voucher("holder_cn")
    before = chain_state(m)
    err = one_line_error(cli("--account", "holder", "voucher", "transfer", str(vid), m.addr["bank_cn"],
                             env={"DATALEDGER_PASSWORD": "wrong"}, expect=1))
    assert "wrong password" in err
    assert chain_state(m) == before
    out = as_json(cli("--account", "holder", "voucher", "transfer", str(vid), m.addr["bank_cn"], "--json",
                      env={"DATALEDGER_PASSWORD": "right"}))
    assert out["txHash"].startswith("0x")
    assert m.base.vouchers.owner_of(vid) == m.addr["bank_cn"]


# ------------------------------------------------------------------ participants & assets


def test_participant_show(cli: Any) -> None:
    m = cli.market
    out = as_json(cli("participant", "show", m.addr["holder_hk"], "--json"))
    assert out["jurisdiction"] == "HK" and out["status"] == "active"
    out = as_json(cli("participant", "show", m.outsider, "--json"))
    assert out["status"] == "none"
    assert "invalid address" in one_line_error(cli("participant", "show", "0x1234", expect=1))


def test_register_org_and_account(cli: Any) -> None:
    m = cli.market
    spare = m.accounts[13].address
    cli("participant", "register-org", "NEW-ORG-1", "-j", "MO", "--roles", "holder", "--officer", spare,
        key="authority")
    cli("participant", "register-account", "NEW-ORG-1", spare, "--roles", "holder", key=13)
    out = as_json(cli("participant", "show", spare, "--json"))
    assert out["jurisdiction"] == "MO" and out["role_names"] == ["holder"]
    err = one_line_error(cli("participant", "register-org", "NEW-ORG-2", "-j", "xx", "--roles", "holder",
                             "--officer", spare, key="authority", expect=1))
    assert "jurisdiction" in err


def test_licence_commands_set_the_expiry(cli: Any) -> None:
    """`participant licence` and `licensed-roles` with a relative expiry (the registrar's commands)."""
    m = cli.market
    appraiser = m.addr["appraiser"]
    before = m.base.now()
    out = as_json(cli("participant", "licence", appraiser, "--expiry", "+400d", "--json", key="authority"))
    expiry = next(e["args"]["expiry"] for e in out["events"] if e["event"] == "LicenceExpirySet")
    assert before + 399 * 86400 < int(expiry) < before + 401 * 86400
    assert m.base.participants.licence_valid(appraiser)
    text_out = cli("participant", "licensed-roles", appraiser, "--roles", "appraiser", "--expiry", "+400d",
                   key="authority")
    until = int(text_out.stdout.rsplit("until", 1)[1].split()[0])
    assert before + 399 * 86400 < until < before + 401 * 86400
    assert m.base.participants.licence_valid(appraiser)
    err = one_line_error(cli("participant", "licence", appraiser, "--expiry", "soon", key="authority", expect=1))
    assert "soon" in err or "expiry" in err.lower()


def test_asset_register_directory_and_show(cli: Any, tmp_path: Path) -> None:
    m = cli.market
    data = _dataset(tmp_path)
    out = as_json(cli("asset", "register", str(data), "--title", "CNC telemetry", "--publisher", "Foshan Ltd",
                      "--level", "2", "--source", "enterprise", "--keywords", "iot,cnc", "--json",
                      key="holder_cn"))
    asset_id = out["assetId"]
    shown = as_json(cli("asset", "show", str(asset_id), "--json"))
    assert shown["manifest"]["cid"] == out["cid"] and shown["holder"] == m.addr["holder_cn"]
    assert shown["level"] == 2 and shown["source_type"] == "enterprise"
    # the manifest is in the embedded IPFS store with the CID recorded on chain
    from ledger.ipfs import open_store
    from ledger.manifest import parse_manifest

    manifest = parse_manifest(open_store(str(cli.state / "ipfs")).cat(out["cid"]), expected_cid=out["cid"])
    assert {d.path for d in manifest.distributions} == {"README.md", "records.csv"}
    # registering the same content again is refused before anything is written
    before = chain_state(m)
    err = one_line_error(cli("asset", "register", str(data), "--title", "CNC telemetry", "--publisher",
                             "Foshan Ltd", "--level", "2", "--source", "enterprise", "--keywords", "iot,cnc",
                             key="holder_cn", expect=1))
    assert "ContentAlreadyRegistered" in err
    assert chain_state(m) == before


def test_squatted_content_hash_released_by_the_registrar(cli: Any, tmp_path: Path) -> None:
    """Issue 11 (squatting) from the CLI: bank_cn registers holder_cn's dataset first; a regulator
    revokes it; only the registrar releases the hash, for holder_cn, who then registers it."""
    m = cli.market
    data = _dataset(tmp_path)
    args = ("asset", "register", str(data), "--title", "Squat", "--publisher", "p", "--level", "2",
            "--source", "enterprise")
    out = as_json(cli(*args, "--json", key="bank_cn"))
    squat, hex_digest = out["assetId"], out["contentHash"]
    assert "ContentAlreadyRegistered" in one_line_error(cli(*args, key="holder_cn", expect=1))
    cli("asset", "revoke", str(squat), "--reason", "not the holder", key="regulator")
    before = chain_state(m)
    err = one_line_error(cli("asset", "release-hash", hex_digest, "--claimant", m.addr["holder_cn"],
                             "--reason", "ruling", key="regulator", expect=1))
    assert "NotRegistrar" in err
    assert chain_state(m) == before
    cli("asset", "release-hash", hex_digest, "--claimant", m.addr["holder_cn"], "--reason", "ruling",
        key="authority")
    assert m.base.assets.claimant_of(hex_digest) == m.addr["holder_cn"]
    assert "ContentReservedFor" in one_line_error(cli(*args, key="bank_cn", expect=1))
    legit = as_json(cli(*args, "--json", key="holder_cn"))["assetId"]
    assert legit != squat and m.base.assets.asset_of_content(hex_digest) == legit
    assert "not hex" in one_line_error(cli("asset", "release-hash", "0xzz", "--reason", "r", key="authority",
                                           expect=1))


def test_malformed_manifest_writes_nothing(cli: Any, tmp_path: Path) -> None:
    m = cli.market
    bad = tmp_path / "manifest.json"
    bad.write_text(json.dumps({"title": "", "classification_level": 9}))
    before = chain_state(m)
    err = one_line_error(cli("asset", "register", str(bad), key="holder_cn", expect=1))
    assert "invalid manifest" in err
    not_json = tmp_path / "broken.json"
    not_json.write_text("{not json")
    assert "not JSON" in one_line_error(cli("asset", "register", str(not_json), key="holder_cn", expect=1))
    assert chain_state(m) == before
    assert not (cli.state / "ipfs").exists()


def test_cid_mismatch_writes_nothing(cli: Any, tmp_path: Path) -> None:
    m = cli.market
    data = _dataset(tmp_path)
    wrong = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    before = chain_state(m)
    err = one_line_error(cli("asset", "register", str(data), "--title", "t", "--publisher", "p", "--level", "1",
                             "--source", "enterprise", "--expected-cid", wrong, key="holder_cn", expect=1))
    assert "mismatch" in err.lower() and wrong in err
    assert chain_state(m) == before
    assert not (cli.state / "ipfs").exists()


def test_valuation_add(cli: Any) -> None:
    m = cli.market
    asset_id = m.asset("holder_cn")
    out = as_json(cli("valuation", "add", str(asset_id), "--amount", "500000", "--method", "income",
                      "--report", "Appraisal: income approach", "--json", key="appraiser"))
    assert out["value"] == 0
    shown = as_json(cli("asset", "show", str(asset_id), "--json"))
    assert shown["valuations"][0]["amount"] == 500000
    err = one_line_error(cli("valuation", "add", str(asset_id), "--amount", "5", "--method", "income",
                             "--report", "r", key="holder_cn", expect=1))
    assert "NotAuthorised" in err


# ------------------------------------------------------------------ vouchers


def test_voucher_issue_show_redeem(cli: Any) -> None:
    m = cli.market
    asset_id = m.asset("holder_cn")
    out = as_json(cli("voucher", "issue", "--to", m.addr["holder_cn"], "--asset", str(asset_id), "--right", "use",
                      "--scope", "credit scoring", "--max-uses", "2", "--valid-from", "0", "--json",
                      key="holder_cn"))
    vid = out["value"]
    shown = as_json(cli("voucher", "show", str(vid), "--json"))
    assert shown["holder"] == m.addr["holder_cn"] and shown["max_uses"] == 2 and shown["right"] == "use"
    out = as_json(cli("voucher", "redeem", str(vid), "--purpose", "loan decision", "--json", key="holder_cn"))
    assert out["value"] == 1
    # one spelling (issue 12): `voucher authorise`; the American spelling is no command
    allowed = m.base.vouchers.is_authorised_user
    cli("voucher", "authorise", str(vid), m.addr["bank_cn"], key="holder_cn")
    assert allowed(vid, m.addr["bank_cn"])
    cli("voucher", "authorise", str(vid), m.addr["bank_cn"], "--revoke", key="holder_cn")
    assert not allowed(vid, m.addr["bank_cn"])
    cli("voucher", "authorize", str(vid), m.addr["bank_cn"], key="holder_cn", expect=2)
    assert not allowed(vid, m.addr["bank_cn"])


def test_unknown_voucher(cli: Any) -> None:
    err = one_line_error(cli("voucher", "show", "999999", expect=1))
    assert err == "error: voucher 999999 does not exist"
    before = chain_state(cli.market)
    err = one_line_error(cli("voucher", "transfer", "999999", cli.market.addr["bank_cn"], key="holder_cn",
                             expect=1))
    assert "does not exist" in err
    assert chain_state(cli.market) == before


def test_refused_transfers_change_nothing(cli: Any) -> None:
    m = cli.market
    vid = m.voucher("holder_cn")
    before = chain_state(m)
    err = one_line_error(cli("voucher", "transfer", str(vid), m.outsider, key="holder_cn", expect=1))
    assert "restriction 2" in err and "recipient is not an active registered participant" in err
    err = one_line_error(cli("voucher", "transfer", str(vid), m.addr["holder_sg"], key="holder_cn", expect=1))
    assert "restriction 11" in err and "clearance" in err
    assert chain_state(m) == before
    why = as_json(cli("voucher", "why-not", str(vid), m.addr["holder_sg"], "--json"))
    assert why == {"voucher_id": vid, "to": m.addr["holder_sg"], "code": 11, "allowed": False,
                   "message": "A cross-border transfer needs an approved data customs clearance."}
    assert "[0]" in cli("voucher", "why-not", str(vid), m.addr["bank_cn"]).stdout


def test_customs_then_cross_border_transfer(cli: Any) -> None:
    m = cli.market
    vid = m.voucher("holder_cn")
    asset_id = m.base.vouchers.voucher(vid).asset_id
    out = as_json(cli("customs", "request", str(asset_id), "-d", "SG", "--recipient", m.addr["holder_sg"],
                      "--purpose", "joint research", "--json", key="holder_cn"))
    case = out["value"]
    cli("customs", "approve", str(case), "--expiry", "+30d", "--conditions", "no onward transfer", key="customs")
    shown = as_json(cli("customs", "show", str(case), "--json"))
    assert shown["state"] == "approved" and shown["destination"] == "SG"
    cli("voucher", "transfer", str(vid), m.addr["holder_sg"], key="holder_cn")
    assert m.base.vouchers.owner_of(vid) == m.addr["holder_sg"]
    err = one_line_error(cli("customs", "reject", str(case), "--reason", "late", key="customs", expect=1))
    assert "InvalidClearanceState" in err


def test_supervision_commands(cli: Any) -> None:
    m = cli.market
    vid = m.voucher("holder_cn")
    use = as_json(cli("voucher", "why-not", str(vid), m.addr["holder_sg"], "--use", "--json"))
    assert (use["code"], use["allowed"]) == (11, False) and "clearance" in use["message"]
    cli("voucher", "freeze", str(vid), "--reason", "investigation", key="regulator")
    assert as_json(cli("voucher", "show", str(vid), "--json"))["status"] == "frozen"
    out = cli("voucher", "recover-propose", str(vid), m.addr["bank_cn"], "--reason", "lost key", key="regulator")
    assert "proposed" in out.stdout
    # the proposer cannot execute its own proposal: one line, non-zero exit
    err = one_line_error(cli("voucher", "recover-execute", str(vid), "--reason", "ok", key="regulator", expect=1))
    assert "RecoveryNeedsSecondRegulator" in err
    cli("voucher", "recover-execute", str(vid), "--reason", "second regulator", key="regulator2")
    assert as_json(cli("voucher", "show", str(vid), "--json"))["holder"] == m.addr["bank_cn"]
    cli("voucher", "revoke", str(vid), "--reason", "fraud", key="regulator")
    assert as_json(cli("voucher", "show", str(vid), "--json"))["status"] == "revoked"
    err = one_line_error(cli("voucher", "freeze", str(vid), "--reason", "x", key="holder_cn", expect=1))
    assert "NotRegulator" in err


def test_gasless_transfer_via_request_file(cli: Any, tmp_path: Path) -> None:
    m = cli.market
    vid = m.voucher("holder_cn")
    request = tmp_path / "request.json"
    cli("voucher", "transfer", str(vid), m.addr["bank_cn"], "--gasless", "-o", str(request), key="holder_cn")
    nonce = m.base.w3.eth.get_transaction_count(m.addr["holder_cn"])
    cli("voucher", "relay", str(request), key=15)
    assert m.base.vouchers.owner_of(vid) == m.addr["bank_cn"]
    assert m.base.w3.eth.get_transaction_count(m.addr["holder_cn"]) == nonce
    assert "stale" in one_line_error(cli("voucher", "relay", str(request), key=15, expect=1))


# ------------------------------------------------------------------ orders & trades


def test_order_sign_and_settle(cli: Any, tmp_path: Path) -> None:
    m = cli.market
    vids = [m.voucher("holder_cn") for _ in range(3)]
    cli("voucher", "approve", key="holder_cn")
    ex = m.addr["exchange"]
    files = []
    for i, vid in enumerate(vids):
        sell, buy = tmp_path / f"sell{i}.json", tmp_path / f"buy{i}.json"
        cli("order", "sign", "--side", "sell", "--voucher", str(vid), "--price", "1000", "--exchange", ex,
            "-o", str(sell), key="holder_cn")
        cli("order", "sign", "--side", "buy", "--voucher", str(vid), "--price", "1000", "--exchange", ex,
            "-o", str(buy), key="bank_cn")
        files.append((sell, buy))
    out = as_json(cli("trade", "settle", str(files[0][0]), str(files[0][1]), "--json", key="exchange"))
    assert out["value"].startswith("0x")
    assert m.base.vouchers.owner_of(vids[0]) == m.addr["bank_cn"]
    out = as_json(cli("trade", "settle-batch", *[str(p) for pair in files[1:] for p in pair], "--json",
                      key="exchange"))
    assert len(out["value"]) == 2
    # a replayed order is refused before sending
    before = chain_state(m)
    one_line_error(cli("trade", "settle", str(files[0][0]), str(files[0][1]), key="exchange", expect=1))
    assert chain_state(m) == before
    # an order file that is not one
    junk = tmp_path / "junk.json"
    junk.write_text('{"order": 1}')
    assert "not a signed order" in one_line_error(cli("trade", "settle", str(junk), str(junk), key="exchange",
                                                      expect=1))
    # refusing to overwrite a signed order
    assert "refusing to overwrite" in one_line_error(cli(
        "order", "sign", "--side", "sell", "--voucher", "1", "--price", "1", "--exchange", ex,
        "-o", str(files[0][0]), key="holder_cn", expect=1))


def test_order_terms_refuse_a_used_voucher(cli: Any, tmp_path: Path) -> None:
    """`order sign` commits a buy order to the voucher as it is; after the seller redeems a use the
    settlement fails with one line naming the terms, and nothing moves."""
    m = cli.market
    vid = m.voucher("holder_cn")
    cli("voucher", "approve", key="holder_cn")
    ex = m.addr["exchange"]
    sell, buy = tmp_path / "sell.json", tmp_path / "buy.json"
    cli("order", "sign", "--side", "sell", "--voucher", str(vid), "--price", "1000", "--exchange", ex,
        "-o", str(sell), key="holder_cn")
    out = as_json(cli("order", "sign", "--side", "buy", "--voucher", str(vid), "--price", "1000", "--exchange", ex,
                      "--max-fee-bps", "150", "-o", str(buy), "--json", key="bank_cn"))
    v = m.base.vouchers.voucher(vid)
    assert out["order"]["minUsesLeft"] == v.max_uses - v.uses and out["order"]["minValidUntil"] == v.valid_until
    assert out["order"]["maxFeeBps"] == 150
    m.as_("holder_cn").vouchers.redeem(vid, "used after signing")
    before = chain_state(m)
    err = one_line_error(cli("trade", "settle", str(sell), str(buy), key="exchange", expect=1))
    assert "UsesLeftBelowTerms" in err
    assert chain_state(m) == before


# ------------------------------------------------------------------ connection & operations


def test_wrong_chain_id_and_missing_deployment(cli: Any, tmp_path: Path) -> None:
    err = one_line_error(cli("--chain-id", "999", "voucher", "show", "1", expect=1))
    assert "chain id mismatch" in err and "999" in err and "31337" in err
    empty = tmp_path / "empty-state"
    result = runner.invoke(app, ["--rpc", cli.market.rpc_url, "--state-dir", str(empty), "voucher", "show", "1"])
    assert result.exit_code == 1 and "no deployment record" in one_line_error(result)
    result = runner.invoke(app, ["--rpc", "http://127.0.0.1:9", "status"])
    assert result.exit_code == 1 and "no JSON-RPC answer" in one_line_error(result)


def test_no_account(cli: Any) -> None:
    err = one_line_error(cli("voucher", "redeem", "1", "--purpose", "x", expect=1))
    assert "needs an account" in err


def test_deploy_writes_record_once(cli: Any, tmp_path: Path) -> None:
    m = cli.market
    state = tmp_path / "fresh"
    args = ["--rpc", m.rpc_url, "--state-dir", str(state), "deploy", "--json"]
    env = {"DATALEDGER_PRIVATE_KEY": m.key(16).key.hex()}
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    record = json.loads((state / "deployments" / "31337.json").read_text())
    assert set(record["contracts"]) == set(out["contracts"]) and len(record["contracts"]) == 7
    before = chain_state(m)
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 1 and "already deployed" in one_line_error(result)
    assert chain_state(m) == before
    status = json.loads(runner.invoke(app, ["--rpc", m.rpc_url, "--state-dir", str(state), "--json",
                                            "status"]).stdout)
    assert status["chainId"] == 31337 and status["poa"] is False


def test_gateway_commands_refuse_bad_input_in_one_line(cli: Any, tmp_path: Path) -> None:
    result = cli("verify", expect=2)  # nothing named to verify
    assert "say what to verify" in one_line_error(result)
    result = cli("stats", "--database-url", f"sqlite:///{tmp_path / 'none.db'}", expect=2)
    assert "run `dataledger index` first" in one_line_error(result)


def test_console_script_subprocess(sdk_market: SdkMarket, tmp_path: Path) -> None:
    import subprocess
    import sys

    exe = Path(sys.executable).parent / "dataledger"
    proc = subprocess.run([str(exe), "--rpc", sdk_market.rpc_url, "--state-dir", str(tmp_path), "voucher",
                           "show", "1"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("error: no deployment record for chain 31337")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_deploy_and_seed_demo_on_a_fresh_chain(tmp_path: Path, accounts: list[Any]) -> None:
    """The local-stack path: deploy + the lead's demo seeding, then read it back through the CLI."""
    from dataledger.dev.anvil import AnvilNode

    with AnvilNode(accounts=20) as node:
        base = ["--rpc", node.rpc_url, "--state-dir", str(tmp_path / "s")]
        env = {"DATALEDGER_PRIVATE_KEY": accounts[0].key.hex()}
        assert runner.invoke(app, [*base, "deploy"], env=env).exit_code == 0
        result = runner.invoke(app, [*base, "--json", "seed-demo"], env=env)
        assert result.exit_code == 0, result.stderr
        assert "participants" in json.loads(result.stdout)["summary"]
        shown = json.loads(runner.invoke(app, [*base, "--json", "voucher", "show", "1"]).stdout)
        assert shown["uses"] == 1  # the Foshan pilot's redeemed use
        case = json.loads(runner.invoke(app, [*base, "--json", "customs", "show", "1"]).stdout)
        assert case["state"] == "approved" and case["purpose_cid"].startswith("b")


def test_redeem_stores_the_purpose_text_as_a_document(cli: Any) -> None:
    """`voucher redeem --purpose TEXT` adds the text to IPFS and records its CID's sha-256 digest, so the
    gateway can rebuild the CID from the chain and fetch the text (it is no longer thrown away)."""
    from ledger.contracts.vouchers import purpose_document
    from ledger.ipfs import Cid, LocalStore

    m = cli.market
    asset_id = m.asset("holder_cn")
    vid = as_json(cli("voucher", "issue", "--to", m.addr["holder_cn"], "--asset", str(asset_id), "--right", "use",
                      "--scope", "s", "--max-uses", "2", "--valid-from", "0", "--json", key="holder_cn"))["value"]
    text = "信用评估：佛山中小企业贷款 #2026-301"
    out = as_json(cli("voucher", "redeem", str(vid), "--purpose", text, "--json", key="holder_cn",
                      env={"IPFS_API": ""}))
    assert out["value"] == 1
    store = LocalStore(cli.state / "ipfs")
    cid, digest = purpose_document(store, text)
    assert store.cat(cid) == text.encode()
    voucher = m.base.vouchers.contract
    used = voucher.events.VoucherUsed().get_logs(from_block=0)
    recorded = [bytes(e["args"]["purposeHash"]) for e in used if e["args"]["voucherId"] == vid]
    assert recorded == [digest] and Cid.decode(cid).digest == digest
    # a bytes32 given as 0x hex is recorded as is (no document)
    raw = "0x" + "ab" * 32
    cli("voucher", "redeem", str(vid), "--purpose", raw, "--json", key="holder_cn", env={"IPFS_API": ""})
    used = voucher.events.VoucherUsed().get_logs(from_block=0)
    assert bytes.fromhex("ab" * 32) in [bytes(e["args"]["purposeHash"]) for e in used if e["args"]["voucherId"] == vid]
