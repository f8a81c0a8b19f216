"""`dataledger index / stats / verify / voucher show` run as a user runs them: the console script in
a subprocess, from an empty folder outside the checkout, against the real anvil, the real indexer
(SQLite) and the real gateway (uvicorn on loopback); the gateway's GET /v1/contracts, and a gateway
that lies about it (a proxy rewriting the answer) caught by the verifier's checks against the chain."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger.deploy import SUITE
from tests.gateway.test_verify_http import Proxy, gateway
from tests.gateway.test_verify_tamper import VOUCHER
from tests.gateway.verify_market import Market, market

EXE = str(Path(sys.executable).parent / "dataledger")


def dataledger(*args: str, cwd: Path, timeout: float = 300) -> Any:
    env = {k: v for k, v in os.environ.items()
           if k not in ("RPC_URL", "CHAIN_ID", "DATABASE_URL", "STATE_DIR", "IPFS_API", "IPFS_STORE_DIR",
                        "DATALEDGER_GATEWAY", "DATALEDGER_DEPLOYMENT")}
    return subprocess.run([EXE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def empty(tmp_path: Path) -> Path:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    return folder


def one_line(proc: Any) -> str:
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    return str(lines[0])


# ------------------------------------------------------------------ index, then stats


def test_index_then_stats_from_another_folder(market: Market, empty: Path) -> None:
    state = empty / "state"
    (state / "deployments").mkdir(parents=True)
    chain_id = market.w3.eth.chain_id
    (state / "deployments" / f"{chain_id}.json").write_text(json.dumps(market.record))
    db = f"sqlite:///{empty / 'index.db'}"
    proc = dataledger("--rpc", market.rpc_url, "--state-dir", "state", "--chain-id", str(chain_id), "index",
                      "--database-url", db, "--json", cwd=empty)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    done = json.loads(proc.stdout.strip().splitlines()[-1])
    assert done["type"] == "done" and done["chain_id"] == chain_id and done["events_total"] > 20
    assert 0 < done["cpu_seconds"] < done["seconds"] * 8  # this process's CPU over the run
    assert done["decoder"] == "compiled"  # make test builds native/ (scripts/native.sh)
    stats = dataledger("stats", "--database-url", db, "--json", cwd=empty)
    assert stats.returncode == 0, stats.stderr
    totals = json.loads(stats.stdout)["totals"]
    assert totals["assets"] >= 3 and totals["vouchers"] >= 4 and totals["trades"] >= 2
    # the default database is <state-dir>/gateway.db (not a path inside the checkout)
    default = dataledger("--rpc", market.rpc_url, "--state-dir", "state", "index", "--json", cwd=empty)
    assert default.returncode == 0, default.stderr
    assert (state / "gateway.db").is_file()
    table = dataledger("--state-dir", "state", "stats", cwd=empty)
    assert table.returncode == 0 and "Cross-border flows" in table.stdout
    # the global --chain-id applies: a wrong one refuses before anything is written
    wrong = dataledger("--rpc", market.rpc_url, "--state-dir", "state", "--chain-id", "999", "index",
                       "--database-url", f"sqlite:///{empty / 'other.db'}", cwd=empty)
    assert wrong.returncode == 1 and "999" in one_line(wrong)
    assert not (empty / "other.db").exists()
    # no record for this chain in the state dir: exit 2, says what to do
    nothing = dataledger("--rpc", market.rpc_url, "--state-dir", "none", "index", "--json",
                         "--database-url", f"sqlite:///{empty / 'n.db'}", cwd=empty)
    assert nothing.returncode == 2
    assert "no deployment record" in json.loads(nothing.stdout.strip().splitlines()[-1])["message"]


# ------------------------------------------------------------------ GET /v1/contracts


def test_contracts_route_serves_the_deployment(market: Market, gateway: str) -> None:
    body = httpx.get(f"{gateway}/v1/contracts", timeout=30).json()
    assert body["chain_id"] == market.w3.eth.chain_id
    assert set(body["contracts"]) == set(SUITE)
    for name, entry in body["contracts"].items():
        assert entry["address"].lower() == market.record["contracts"][name]["address"].lower()
        assert entry["deploy_block"] == market.record["contracts"][name]["deployBlock"]
        assert any(item.get("type") == "function" for item in entry["abi"])


# ------------------------------------------------------------------ verify with only --rpc and --gateway


def test_verify_from_an_empty_folder(market: Market, gateway: str, empty: Path) -> None:
    proc = dataledger("verify", "voucher", str(VOUCHER), "--rpc", market.rpc_url, "--gateway", gateway, "--json",
                      cwd=empty)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    out = json.loads(proc.stdout)
    assert out["verdict"] == "verified"
    assert out["deployment"]["source"] == "gateway" and len(out["deployment"]["checked"]) == 3
    assert out["manifest_source"].endswith("/v1/manifests (bytes re-hashed to the CID)")
    human = dataledger("verify", "asset", "2", "--rpc", market.rpc_url, "--gateway", gateway, cwd=empty)
    assert human.returncode == 0, human.stdout[-3000:] + human.stderr
    assert "VERIFIED" in human.stdout and "checked against the chain" in human.stdout
    assert list(empty.iterdir()) == []  # nothing written where it ran


def _lying(gateway: str, change: Any) -> Proxy:
    def rewrite(path: str, body: Any) -> Any:
        if path.startswith("/v1/contracts"):
            change(body)
        return body

    return Proxy(gateway, rewrite)


def _swap(body: dict[str, Any]) -> None:
    c = body["contracts"]
    c["AssetRegistry"]["address"], c["DataCustoms"]["address"] = c["DataCustoms"]["address"], c["AssetRegistry"]["address"]


def _later_deploy_block(body: dict[str, Any]) -> None:
    body["contracts"]["DataVoucher"]["deploy_block"] += 1


def _not_a_contract(body: dict[str, Any]) -> None:
    body["contracts"]["PaymentToken"]["address"] = "0x000000000000000000000000000000000000dEaD"


def _omitted(body: dict[str, Any]) -> None:
    del body["contracts"]["TradeSettlement"]


def _other_chain(body: dict[str, Any]) -> None:
    body["chain_id"] += 1


def test_a_same_code_contract_not_wired_in_is_a_mismatch(market: Market, gateway: str,
                                                         empty: Path) -> None:
    """A second ParticipantRegistry (the very same code) listed instead of the market's: the code
    check passes, the wiring check (AssetRegistry.participants()) does not."""
    from ledger.deploy import deploy_contract

    w3 = market.w3
    impostor = deploy_contract(w3, "ParticipantRegistry", w3.eth.accounts[0], sender=w3.eth.accounts[0])

    def rewire(body: dict[str, Any]) -> None:
        entry = body["contracts"]["ParticipantRegistry"]
        entry["address"] = impostor.address
        entry["deploy_block"] = impostor.deploy_block

    proxy = _lying(gateway, rewire)
    try:
        proc = dataledger("verify", "voucher", str(VOUCHER), "--rpc", market.rpc_url, "--gateway", proxy.url,
                          cwd=empty)
    finally:
        proxy.close()
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr
    line = one_line(proc)
    assert "AssetRegistry.participants()" in line and "ParticipantRegistry" in line, line


@pytest.mark.parametrize("change, says", [
    (_swap, "is not the shipped"),
    (_later_deploy_block, "before its stated deploy block"),
    (_not_a_contract, "no code at"),
    (_omitted, "lists no TradeSettlement"),
    (_other_chain, "describes chain"),
], ids=["swapped", "later-deploy-block", "no-code", "omitted", "other-chain"])
def test_a_lying_deployment_is_a_mismatch(market: Market, gateway: str, empty: Path,
                                          change: Any, says: str) -> None:
    proxy = _lying(gateway, change)
    try:
        proc = dataledger("verify", "voucher", str(VOUCHER), "--rpc", market.rpc_url, "--gateway", proxy.url,
                          cwd=empty)
        assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr
        line = one_line(proc)
        assert "the gateway's deployment does not match the chain" in line and says in line, line
        as_json = dataledger("verify", "voucher", str(VOUCHER), "--rpc", market.rpc_url, "--gateway", proxy.url,
                             "--json", cwd=empty)
        assert as_json.returncode == 1 and json.loads(as_json.stdout)["verdict"] == "mismatch"
    finally:
        proxy.close()


def test_verify_with_a_deployment_file_offline_from_the_gateway(market: Market, empty: Path) -> None:
    record = empty.parent / "record.json"
    record.write_text(json.dumps(market.record))
    proc = dataledger("verify", "voucher", str(VOUCHER), "--rpc", market.rpc_url, "--deployment", str(record),
                      "--no-manifests", "--json", cwd=empty)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
    assert json.loads(proc.stdout)["deployment"]["source"] == "file"
    other = dict(market.record, chainId=market.w3.eth.chain_id + 1)
    record.write_text(json.dumps(other))
    wrong = dataledger("verify", "voucher", str(VOUCHER), "--rpc", market.rpc_url, "--deployment", str(record),
                       cwd=empty)
    assert wrong.returncode == 2 and "is the deployment of chain" in one_line(wrong)
    bare = dataledger("verify", "voucher", str(VOUCHER), "--rpc", market.rpc_url, cwd=empty)
    assert bare.returncode == 2
    line = one_line(bare)
    assert "--gateway URL" in line and "--deployment FILE" in line


# ------------------------------------------------------------------ voucher show with --gateway


def test_voucher_show_uses_the_checked_gateway_deployment(market: Market, gateway: str,
                                                           empty: Path) -> None:
    proc = dataledger("--rpc", market.rpc_url, "--gateway", gateway, "--json", "voucher", "show", str(VOUCHER),
                      cwd=empty)
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout)
    assert VOUCHER in (shown.get("voucher_id"), shown.get("tokenId"), shown.get("id")), shown
    missing = dataledger("--rpc", market.rpc_url, "voucher", "show", str(VOUCHER), cwd=empty)
    assert missing.returncode == 1
    line = one_line(missing)
    assert "--gateway URL" in line and "NEW market" in line  # never just "run `dataledger deploy`"
    proxy = _lying(gateway, _swap)
    try:
        lied = dataledger("--rpc", market.rpc_url, "--gateway", proxy.url, "voucher", "show", str(VOUCHER), cwd=empty)
    finally:
        proxy.close()
    assert lied.returncode == 1 and "is not the shipped" in one_line(lied)


# ------------------------------------------------------------------ asset show: the valuation method


def test_asset_show_prints_a_hashed_method_as_hex(market: Market, empty: Path) -> None:
    """The demo records its valuation method as sha-256("income-approach"): shown as 0x-hex and the
    known name, never 32 hash bytes decoded as text."""
    import hashlib

    record = empty.parent / "record.json"
    record.write_text(json.dumps(market.record))
    valuations = []
    for asset_id in (1, 2, 3):
        proc = dataledger("--rpc", market.rpc_url, "--deployment", str(record), "--json", "asset", "show",
                          str(asset_id), cwd=empty)
        assert proc.returncode == 0, proc.stderr
        valuations += json.loads(proc.stdout)["valuations"]
    assert valuations, "the demo market records a valuation"
    digest = "0x" + hashlib.sha256(b"income-approach").hexdigest()
    assert [(v["method"], v["method_name"]) for v in valuations] == [(digest, "income-approach")]
    human = dataledger("--rpc", market.rpc_url, "--deployment", str(record), "asset", "show", "2", cwd=empty)
    assert "\\ufffd" not in human.stdout and "\ufffd" not in human.stdout


def test_tag_from_chain() -> None:
    from ledger.contracts.models import bytes32_tag, tag_from_chain

    assert tag_from_chain(bytes32_tag("income")) == "income"
    assert tag_from_chain(bytes32_tag("市场法")) == "市场法"
    for raw in (bytes(32), b"m\x03\xfd" + bytes(29), bytes(range(32)), b"ab\x00cd" + bytes(27)):
        assert tag_from_chain(raw) == "0x" + raw.hex()


# ------------------------------------------------------------------ serve


def test_serve_from_another_folder(market: Market, empty: Path) -> None:
    """`dataledger serve` with the global --rpc / --state-dir: the gateway serves the deployment of
    that state dir and the index given; SIGTERM stops it."""
    import signal
    import time

    from dataledger.dev.anvil import free_port

    state = empty / "state"
    (state / "deployments").mkdir(parents=True)
    chain_id = market.w3.eth.chain_id
    (state / "deployments" / f"{chain_id}.json").write_text(json.dumps(market.record))
    db = f"sqlite:///{empty / 'index.db'}"
    assert dataledger("--rpc", market.rpc_url, "--state-dir", "state", "index", "--database-url", db, "--json",
                      cwd=empty).returncode == 0
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("RPC_URL", "CHAIN_ID", "DATABASE_URL", "STATE_DIR",
                                                             "IPFS_API", "IPFS_STORE_DIR")}
    proc = subprocess.Popen([EXE, "--rpc", market.rpc_url, "--state-dir", "state", "--chain-id", str(chain_id),
                             "serve", "--port", str(port), "--database-url", db], cwd=empty, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        health: dict[str, Any] = {}
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).json()
                break
            except httpx.HTTPError:
                time.sleep(0.3)
        assert health.get("chain_id") == chain_id, health
        assert health["indexed_block"] is not None
        served = httpx.get(f"http://127.0.0.1:{port}/v1/contracts", timeout=10).json()
        assert served["contracts"]["DataVoucher"]["address"].lower() == \
            market.record["contracts"]["DataVoucher"]["address"].lower()
        voucher = httpx.get(f"http://127.0.0.1:{port}/v1/vouchers/{VOUCHER}", timeout=10)
        assert voucher.status_code == 200, voucher.text
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    # a graceful stop: uvicorn finishes, then re-raises the signal it caught (exit status -SIGTERM)
    assert proc.returncode in (0, -signal.SIGTERM), out
    assert "Finished server process" in out and "Traceback" not in out, out
