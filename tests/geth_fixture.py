"""A go-ethereum (geth) dev node for the end-to-end suite: the second node implementation.

The binary comes from ``GETH_BIN`` or ``scripts/geth.sh path`` (``go install`` of the pinned
go-ethereum release, cached). :class:`GethNode` runs ``geth --dev --dev.period 1`` (chain id 1337,
a block every second whether or not there are transactions, EIP-1559 with a non-zero base fee) in a
temporary datadir with its HTTP JSON-RPC on a free loopback port, no discovery and no peers (dev
mode has no p2p listener at all), IPC off. :meth:`GethNode.fund` pays anvil's default-mnemonic
accounts (the ones the tests sign with) from geth's pre-funded, unlocked dev account, so the same
test code runs on anvil and on geth. :meth:`GethNode.stop` sends SIGTERM and waits for geth to shut
down (it flushes its database); a node that does not exit within the timeout is killed and
reported.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Optional

import httpx

from dataledger.dev.anvil import free_port

REPO_ROOT = Path(__file__).resolve().parent.parent
GETH_SCRIPT = REPO_ROOT / "scripts" / "geth.sh"
GETH_CHAIN_ID = 1337  # geth --dev's chain id
START_TIMEOUT_S = 60.0
#: Every account the tests use gets this balance (anvil's --balance 1000000 ether).
FUNDING_WEI = 1_000_000 * 10**18


class GethError(RuntimeError):
    """geth could not be built, started, funded or stopped cleanly."""


def geth_binary() -> str:
    """``GETH_BIN`` or the cached build of scripts/geth.sh (built on first use)."""
    explicit = os.environ.get("GETH_BIN")
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise GethError(f"GETH_BIN={explicit} is not an executable file")
        return explicit
    proc = subprocess.run(["bash", str(GETH_SCRIPT), "path"], capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise GethError(f"scripts/geth.sh path failed:\n{proc.stderr[-4000:]}")
    lines = proc.stdout.strip().splitlines()
    path = lines[-1] if lines else ""
    if not path or not os.access(path, os.X_OK):
        raise GethError(f"scripts/geth.sh printed no usable binary path: {proc.stdout!r}")
    return path


class GethNode:
    """One ``geth --dev`` process on loopback (see the module docstring)."""

    kind = "geth"

    def __init__(self, period: int = 1, range_limit: int = 0, extra_args: Sequence[str] = ()) -> None:
        self.period = period
        #: --rpc.rangelimit: largest eth_getLogs block range geth answers (0: unbounded)
        self.range_limit = range_limit
        self.extra_args = tuple(extra_args)
        self.port = free_port()
        self.authrpc_port = free_port()
        self.chain_id = GETH_CHAIN_ID
        self.datadir: Optional[Path] = None
        self.log_path: Optional[Path] = None
        self.process: Optional[subprocess.Popen[bytes]] = None
        self.returncode: Optional[int] = None

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self, binary: str) -> list[str]:
        assert self.datadir is not None
        cmd = [
            binary, "--dev", "--dev.period", str(self.period),
            "--datadir", str(self.datadir),
            "--http", "--http.addr", "127.0.0.1", "--http.port", str(self.port),
            "--http.api", "eth,net,web3,debug,txpool",
            "--authrpc.addr", "127.0.0.1", "--authrpc.port", str(self.authrpc_port),
            "--nodiscover", "--maxpeers", "0", "--nat", "none", "--ipcdisable",
            "--verbosity", "2",
        ]
        if self.range_limit:
            cmd += ["--rpc.rangelimit", str(self.range_limit)]
        return cmd + list(self.extra_args)

    # ------------------------------------------------------------ rpc

    def rpc(self, method: str, *params: Any, timeout: float = 10.0) -> Any:
        reply = httpx.post(self.rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)},
                           timeout=timeout).json()
        if "error" in reply:
            raise GethError(f"{method}: {reply['error']}")
        return reply["result"]

    def log_tail(self, chars: int = 3000) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")[-chars:]

    # ------------------------------------------------------------ lifecycle

    def start(self, timeout: float = START_TIMEOUT_S) -> GethNode:
        binary = geth_binary()
        self.datadir = Path(tempfile.mkdtemp(prefix="dl-geth-"))
        self.log_path = self.datadir / "geth.log"
        with open(self.log_path, "ab") as out:
            self.process = subprocess.Popen(self.command(binary), stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                code = self.process.returncode
                self.process = None
                raise GethError(f"geth exited with code {code}:\n{self.log_tail()}")
            try:
                if int(self.rpc("eth_chainId", timeout=1), 16) == self.chain_id:
                    return self
            except (httpx.HTTPError, ValueError, GethError):
                pass
            time.sleep(0.1)
        self.stop()
        raise GethError(f"geth did not answer on {self.rpc_url} within {timeout}s:\n{self.log_tail()}")

    def fund(self, addresses: Sequence[str], wei: int = FUNDING_WEI, timeout: float = 60.0) -> None:
        """Pay ``wei`` to each address from the dev account (eth_sendTransaction: the dev account is
        the only one geth --dev unlocks) and wait until every transfer is mined."""
        dev = self.rpc("eth_accounts")[0]
        hashes = [self.rpc("eth_sendTransaction", {"from": dev, "to": a, "value": hex(wei)}) for a in addresses]
        deadline = time.monotonic() + timeout
        pending = list(hashes)
        while pending:
            receipt = self.rpc("eth_getTransactionReceipt", pending[0])
            if receipt is None:
                if time.monotonic() > deadline:
                    raise GethError(f"funding transaction {pending[0]} not mined within {timeout}s")
                time.sleep(0.2)
                continue
            if int(receipt["status"], 16) != 1:
                raise GethError(f"funding transaction {pending[0]} failed")
            pending.pop(0)

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM and wait for a clean exit; kill (and raise) when geth hangs."""
        process, self.process = self.process, None
        hung = False
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                hung = True
                process.kill()
                process.wait()
        if process is not None:
            self.returncode = process.returncode
        log = self.log_tail()
        if self.datadir is not None:
            shutil.rmtree(self.datadir, ignore_errors=True)
            self.datadir = None
        if hung:
            raise GethError(f"geth did not stop within {timeout}s of SIGTERM (killed):\n{log}")

    def __enter__(self) -> GethNode:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
