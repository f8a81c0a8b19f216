"""`make up` end to end: anvil + deploy + demo market + gateway, then Ctrl-C stops everything."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from dataledger.dev.anvil import free_port

ROOT = Path(__file__).resolve().parent.parent


def _start(home: Path, rpc_port: int, gw_port: int) -> subprocess.Popen[str]:
    env = dict(os.environ, DATALEDGER_HOME=str(home))
    for var in ("DATABASE_URL", "IPFS_API", "RPC_URL"):
        env.pop(var, None)
    return subprocess.Popen(
        [sys.executable, "-m", "dataledger.dev.stack", "up", "--rpc-port", str(rpc_port), "--gateway-port", str(gw_port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def _wait_health(proc: subprocess.Popen[str], url: str, timeout: float = 120) -> tuple[dict, str]:  # type: ignore[type-arg]
    """Wait until the stack says it is up (it prints that after its own health check), then ask /health."""
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:  # blocks until the stack prints; it exits (EOF) on failure
        seen.append(line)
        if line.startswith("Ctrl-C stops everything"):
            break
    else:
        raise AssertionError("stack exited before it was up:\n" + "".join(seen))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"stack exited early:\n{proc.stdout.read() if proc.stdout else ''}"
        try:
            reply = httpx.get(url, timeout=1)
            if reply.status_code == 200:
                return reply.json(), "".join(seen)
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("gateway /health did not answer")


def _stop(proc: subprocess.Popen[str], before: str) -> str:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    out = before + out
    assert proc.returncode == 0, out
    return out


def test_up_serves_health_seeds_demo_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    rpc_port, gw_port = free_port(), free_port()
    proc = _start(tmp_path, rpc_port, gw_port)
    try:
        health, before = _wait_health(proc, f"http://127.0.0.1:{gw_port}/health")
    except BaseException:
        proc.kill()
        raise
    # the indexer follows the chain: the gateway serves the seeded market
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        health = httpx.get(f"http://127.0.0.1:{gw_port}/health", timeout=5).json()
        if health.get("indexed_block") is not None and health["indexed_block"] >= health["head_block"]:
            break
        time.sleep(0.5)
    assert health["indexed_block"] == health["head_block"], health
    trades = httpx.get(f"http://127.0.0.1:{gw_port}/v1/trades", timeout=5).json()
    # what the banner advises works: RPC_URL exported, the state dir given, from any folder
    cli_env = {k: v for k, v in os.environ.items() if k not in ("CHAIN_ID", "DATALEDGER_GATEWAY")}
    cli_env["RPC_URL"] = f"http://127.0.0.1:{rpc_port}"
    shown = subprocess.run([str(Path(sys.executable).parent / "dataledger"), "--state-dir", str(tmp_path), "--json",
                            "voucher", "show", "1"], cwd=tmp_path, env=cli_env, capture_output=True, text=True,
                           timeout=60)
    assert shown.returncode == 0, shown.stderr
    # or STATE_DIR exported instead of --state-dir (one Settings: the CLI reads what the stack set)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    by_env = subprocess.run([str(Path(sys.executable).parent / "dataledger"), "--json", "voucher", "show", "1"],
                            cwd=elsewhere, env={**cli_env, "STATE_DIR": str(tmp_path)}, capture_output=True,
                            text=True, timeout=60)
    assert by_env.returncode == 0, by_env.stderr
    assert json.loads(by_env.stdout) == json.loads(shown.stdout)
    unset = subprocess.run([str(Path(sys.executable).parent / "dataledger"), "voucher", "show", "1"],
                           cwd=elsewhere, env={k: v for k, v in cli_env.items() if k not in ("STATE_DIR", "DATALEDGER_HOME")},
                           capture_output=True, text=True, timeout=60)
    assert unset.returncode == 1 and "no deployment record" in unset.stderr, unset.stderr
    vouchers = httpx.get(f"http://127.0.0.1:{gw_port}/v1/vouchers", timeout=5).json()
    out = _stop(proc, before)
    assert vouchers["total"] == 84  # as dataledger.dev.demo_market seeds them (make up: size "market")
    assert trades["total"] == 26
    assert health["status"] == "ok"
    assert health["chain_id"] == 31337
    assert health["head_block"] > 20  # deployment + seeded history
    assert "dataledger is up" in out and "stopped: gateway, indexer, anvil" in out
    # the banner says how to run the CLI, and the export a non-default port needs
    exe = Path(sys.executable).parent / "dataledger"
    assert f"{exe.parent / 'activate'}" in out and str(exe) in out
    assert f"export RPC_URL=http://127.0.0.1:{rpc_port}" in out, out
    assert f"--state-dir {tmp_path}" in out and f"export STATE_DIR={tmp_path}" in out

    record = json.loads((tmp_path / "deployments" / "31337.json").read_text())
    assert set(record["contracts"]) >= {"ParticipantRegistry", "DataVoucher", "TradeSettlement"}
    assert all(entry["deployBlock"] > 0 for entry in record["contracts"].values())
    demo = json.loads((tmp_path / "demo.json").read_text())
    roles = {role for p in demo["participants"] for role in p["roles"]}
    assert roles == {"authority", "operator", "exchange", "broker", "appraiser", "customs", "regulator", "holder"}
    assert {p["jurisdiction"] for p in demo["participants"]} >= {"CN", "HK", "MO", "SG"}

    # the ports are free again: everything it started has stopped
    for port in (rpc_port, gw_port):
        with __import__("socket").socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still answers"

    # a second `make up` keeps the chain (anvil --state) and reuses the deployment
    proc = _start(tmp_path, rpc_port, gw_port)
    try:
        again, before = _wait_health(proc, f"http://127.0.0.1:{gw_port}/health")
    except BaseException:
        proc.kill()
        raise
    out = _stop(proc, before)
    assert "reusing deployment" in out
    assert again["contracts"] == health["contracts"]
    assert again["head_block"] >= health["head_block"]
