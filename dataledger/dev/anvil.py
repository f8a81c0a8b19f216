"""Start and stop a local anvil node (npm ``@foundry-rs/anvil``: the binary ships inside the package)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Optional

from gateway.core.devkeys import DEFAULT_MNEMONIC as DEFAULT_MNEMONIC  # re-exported for the dev stack and tests
from ledger.rpc import NodeUnavailable, RpcClient, RpcError

ROOT = Path(__file__).resolve().parents[2]  # the checkout (node_modules/.bin/anvil)
DEFAULT_CHAIN_ID = 31337


class AnvilError(RuntimeError):
    """anvil could not be found or did not start."""


def anvil_binary() -> str:
    """node_modules/.bin/anvil of this checkout, else ANVIL_BIN, else anvil on PATH."""
    from dataledger.dev.settings import DevSettings

    explicit = DevSettings().ANVIL_BIN
    if explicit:
        return explicit
    local = ROOT / "node_modules" / ".bin" / "anvil"
    if local.exists():
        return str(local)
    found = shutil.which("anvil")
    if found:
        return found
    raise AnvilError("anvil not found: run `npm ci` (it ships in @foundry-rs/anvil) or set ANVIL_BIN")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class AnvilNode:
    """One anvil process on loopback.

    ``state_file`` (optional) makes the chain survive restarts (anvil --state).
    """

    def __init__(
        self,
        port: Optional[int] = None,
        chain_id: int = DEFAULT_CHAIN_ID,
        accounts: int = 20,
        block_time: Optional[float] = None,
        state_file: Optional[Path] = None,
        log_file: Optional[Path] = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self.port = port or free_port()
        self.chain_id = chain_id
        self.accounts = accounts
        self.block_time = block_time
        self.state_file = state_file
        self.log_file = log_file
        self.extra_args = extra_args
        self.process: Optional[subprocess.Popen[bytes]] = None

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [
            anvil_binary(),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--chain-id", str(self.chain_id),
            "--accounts", str(self.accounts),
            "--mnemonic", DEFAULT_MNEMONIC,
            "--balance", "1000000",
        ]
        if self.block_time:
            cmd += ["--block-time", str(self.block_time)]
        if self.state_file:
            cmd += ["--state", str(self.state_file)]
        return cmd + list(self.extra_args)

    def start(self, timeout: float = 30) -> AnvilNode:
        out = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL
        self.process = subprocess.Popen(
            self.command(), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + timeout
        with RpcClient(self.rpc_url, timeout=1) as rpc:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise AnvilError(f"anvil exited with code {self.process.returncode} (port {self.port})")
                try:
                    rpc.chain_id()
                    return self
                except (NodeUnavailable, RpcError, TypeError, ValueError):  # not up yet, or not a node
                    pass
                time.sleep(0.05)
        self.stop()
        raise AnvilError(f"anvil did not answer on {self.rpc_url} within {timeout}s")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> AnvilNode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
