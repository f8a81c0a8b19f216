"""`make up`: the whole stack on embedded defaults.

anvil (state in .dataledger/anvil/), contracts deployed once (record in
.dataledger/deployments/<chainId>.json), a seeded demo market (.dataledger/demo.json), and the
gateway on http://127.0.0.1:8000 (SQLite in .dataledger/gateway.db, IPFS store in .dataledger/ipfs).
Ctrl-C stops everything it started.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
from web3 import Web3

from dataledger.dev.anvil import AnvilError, AnvilNode
from dataledger.dev.settings import DevSettings
from ledger.deploy import deploy_all
from ledger.deployment import Deployment
from ledger.settings import child_environment

ROOT = Path(__file__).resolve().parents[2]
#: the state directory: STATE_DIR (or DATALEDGER_HOME), else ./.dataledger of the working directory
STATE = DevSettings().STATE_DIR.resolve()


def _port_busy(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _existing_deployment(w3: Web3) -> Deployment | None:
    record = Deployment.from_state_dir(STATE, int(w3.eth.chain_id))
    if record is None:
        return None
    for address in record.addresses().values():
        if w3.eth.get_code(Web3.to_checksum_address(address)) in (b"", None):
            return None  # chain state was reset: deploy again
    return record


def cli_hints(rpc_url: str, rpc_port: int, gateway_url: str, gateway_port: int) -> list[str]:
    """How to run the CLI against this stack (printed in the banner): the venv, and the exports a
    non-default port or state directory needs (the CLI defaults to 8545 and ./.dataledger)."""
    exe = Path(sys.executable).parent / "dataledger"
    lines = [f"  CLI      . {exe.parent / 'activate'}   then: dataledger --help   (or the full path {exe})"]
    exports = []
    if rpc_port != 8545:
        exports.append(f"export RPC_URL={rpc_url}")
    if gateway_port != 8000:
        exports.append(f"export DATALEDGER_GATEWAY={gateway_url}")
    if STATE.resolve() != (Path.cwd() / ".dataledger").resolve():
        exports.append(f"export STATE_DIR={STATE}   # or pass --state-dir {STATE}")
    for export in exports:
        lines.append(f"           {export}")
    lines.append("           e.g. dataledger voucher show 1 ; dataledger verify voucher 1 --gateway " + gateway_url)
    return lines


def up(rpc_port: int = 8545, gateway_port: int = 8000, fresh: bool = False, demo_size: str = "market") -> int:
    from dataledger.dev import demo

    STATE.mkdir(parents=True, exist_ok=True)
    (STATE / "anvil").mkdir(exist_ok=True)
    for port, what in ((rpc_port, "anvil"), (gateway_port, "gateway")):
        if _port_busy(port):
            print(f"error: port {port} for {what} is already in use (another `make up`?)", file=sys.stderr)
            return 1
    state_file = STATE / "anvil" / "state.json"
    if fresh and state_file.exists():
        state_file.unlink()
    # a new chain starts six months back, so the demo market's six months of activity end today
    # (ledger.demo_market moves the clock forward month by month)
    genesis = () if state_file.exists() else ("--timestamp", str(int(time.time()) - 183 * 24 * 3600))
    node = AnvilNode(port=rpc_port, state_file=state_file, log_file=STATE / "anvil" / "anvil.log",
                     extra_args=genesis)
    gateway: subprocess.Popen[bytes] | None = None
    indexer: subprocess.Popen[bytes] | None = None
    try:
        node.start()
        w3 = Web3(Web3.HTTPProvider(node.rpc_url))
        record = None if fresh else _existing_deployment(w3)
        settings = DevSettings()
        if record is None and settings.DATABASE_URL is None:
            for suffix in ("", "-wal", "-shm"):  # the old index belongs to a chain that is gone
                (STATE / f"gateway.db{suffix}").unlink(missing_ok=True)
        if record is None:
            t0 = time.monotonic()
            deployer = demo.demo_accounts()["authority"]
            contracts = deploy_all(w3, deployer)  # signed locally, like any node needs
            record = Deployment.of_contracts(node.chain_id, contracts)
            record.write(STATE)
            summary = demo.seed(w3, contracts, STATE, size=demo_size)
            print(f"deployed and seeded the demo market in {time.monotonic() - t0:.1f}s: {summary}")
        else:
            print(f"reusing deployment {Deployment.path_for(STATE, node.chain_id)}")
        demo.write_demo_file(STATE, w3, record.web3_contracts(w3))

        env = child_environment(RPC_URL=node.rpc_url, CHAIN_ID=str(node.chain_id), STATE_DIR=str(STATE))
        env.setdefault("DATABASE_URL", f"sqlite:///{STATE / 'gateway.db'}")
        env.setdefault("IPFS_STORE_DIR", str(STATE / "ipfs"))
        env.setdefault("SIWE_DOMAIN", f"127.0.0.1:{gateway_port}")  # sign-in domain: configuration, not Host
        indexer = subprocess.Popen(
            [sys.executable, "-m", "gateway.indexer", "--follow", "--json"],
            cwd=ROOT, env=env, stdout=open(STATE / "indexer.log", "ab"), stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log = open(STATE / "gateway.log", "ab")
        gateway = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "gateway.main:app", "--host", "127.0.0.1",
             "--port", str(gateway_port), "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches only us; we stop the children in order
        )
        url = f"http://127.0.0.1:{gateway_port}"
        deadline = time.monotonic() + 60
        while True:
            if gateway.poll() is not None:
                print(f"error: gateway exited ({gateway.returncode}); see {STATE / 'gateway.log'}", file=sys.stderr)
                return 1
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                print("error: gateway did not answer /health within 60s", file=sys.stderr)
                return 1
            time.sleep(0.2)

        print()
        print("dataledger is up:")
        print(f"  chain    anvil  {node.rpc_url}  (chain id {node.chain_id}, state {state_file})")
        print(f"  indexer  following the chain into the database (log {STATE / 'indexer.log'})")
        print(f"  gateway  {url}  (explorer {url}/ , API {url}/docs , health {url}/health)")
        print(f"  database {env['DATABASE_URL']}")
        print(f"  ipfs     {env.get('IPFS_API') or 'embedded store: ' + env['IPFS_STORE_DIR']}")
        print(f"  record   {Deployment.path_for(STATE, node.chain_id)}")
        print(f"  accounts {STATE / 'demo.json'}")
        for line in cli_hints(node.rpc_url, rpc_port, url, gateway_port):
            print(line)
        print("Ctrl-C stops everything.")
        sys.stdout.flush()
        stop = False

        def _stop(*_: object) -> None:
            nonlocal stop
            stop = True

        # Ctrl-C (SIGINT) and SIGTERM both stop the stack; set explicitly, since a stack started in
        # the background by a non-interactive shell inherits SIGINT as ignored
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        while not stop:
            if gateway.poll() is not None:
                print(f"gateway exited ({gateway.returncode}); stopping", file=sys.stderr)
                return 1
            if indexer.poll() is not None:
                print(f"indexer exited ({indexer.returncode}); see {STATE / 'indexer.log'}; stopping",
                      file=sys.stderr)
                return 1
            time.sleep(0.5)
        return 0
    except KeyboardInterrupt:
        return 0
    except AnvilError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the shutdown short
        for child in (gateway, indexer):
            if child and child.poll() is None:
                child.terminate()
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
        node.stop()
        print("stopped: gateway, indexer, anvil")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dataledger.dev.stack")
    sub = parser.add_subparsers(dest="command", required=True)
    p_up = sub.add_parser("up", help="run anvil, deploy + seed, gateway")
    settings = DevSettings()
    p_up.add_argument("--rpc-port", type=int, default=settings.RPC_PORT)
    p_up.add_argument("--gateway-port", type=int, default=settings.GATEWAY_PORT)
    p_up.add_argument("--fresh", action="store_true", help="start a new chain (drop the saved state)")
    p_up.add_argument("--demo-size", choices=("small", "market", "bench"), default="market",
                      help="demo market seeded on a new chain: small (the tests'), market (~30 organisations, "
                           "~50 datasets, six months; default) or bench (four times the market)")
    args = parser.parse_args(argv)
    return up(args.rpc_port, args.gateway_port, args.fresh, args.demo_size)


if __name__ == "__main__":
    sys.exit(main())
