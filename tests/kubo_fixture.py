"""Session fixture: a private, offline Kubo daemon on loopback, removed afterwards.

The binary comes from ``KUBO_BIN`` or ``scripts/kubo.sh path`` (built from the Go module proxy
and cached). ``ipfs init --profile test`` in a temporary IPFS_PATH, API and Gateway on free
loopback ports, no swarm listeners, no bootstrap, no mDNS, ``ipfs daemon --offline``.
If anything fails the requesting test FAILS with the reason; nothing skips. ``kubo2`` is a second
daemon of the same kind (the IPFS replication tests run on both).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
KUBO_SCRIPT = REPO_ROOT / "scripts" / "kubo.sh"
START_TIMEOUT_S = 60.0


class KuboStartError(RuntimeError):
    """The Kubo daemon could not be built, initialised or started."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def kubo_binary() -> str:
    """Path of the Kubo binary: ``KUBO_BIN`` or the cached build from scripts/kubo.sh."""
    env_bin = os.environ.get("KUBO_BIN")
    if env_bin:
        if not os.access(env_bin, os.X_OK):
            raise KuboStartError(f"KUBO_BIN={env_bin} is not an executable file")
        return env_bin
    proc = subprocess.run(
        ["bash", str(KUBO_SCRIPT), "path"], capture_output=True, text=True, timeout=3600
    )
    if proc.returncode != 0:
        raise KuboStartError(f"scripts/kubo.sh path failed:\n{proc.stderr[-4000:]}")
    path = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    if not path or not os.access(path, os.X_OK):
        raise KuboStartError(f"scripts/kubo.sh printed no usable binary path: {proc.stdout!r}")
    return path


@dataclass
class KuboNode:
    """A running Kubo daemon. ``api`` is the RPC base URL, ``api_multiaddr`` its multiaddr."""

    binary: str
    ipfs_path: Path
    api_port: int
    gateway_port: int
    proc: subprocess.Popen[bytes] | None = None
    log_path: Path = field(default_factory=lambda: Path(os.devnull))

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def api_multiaddr(self) -> str:
        return f"/ip4/127.0.0.1/tcp/{self.api_port}"

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["IPFS_PATH"] = str(self.ipfs_path)
        return env

    def cli(self, *args: str, input: bytes | None = None, timeout: float = 120) -> str:
        """Run ``ipfs <args>`` against this node's repo (goes through the daemon's API)."""
        proc = subprocess.run(
            [self.binary, *args], env=self.env(), input=input, capture_output=True, timeout=timeout
        )
        if proc.returncode != 0:
            raise KuboStartError(f"ipfs {' '.join(args)} failed: {proc.stderr.decode(errors='replace')}")
        return proc.stdout.decode()

    def _config(self, key: str, value: object) -> None:
        self.cli("config", "--json", key, json.dumps(value))

    def start(self) -> KuboNode:
        self.cli("init", "--profile", "test", timeout=120)
        self._config("Addresses.API", f"/ip4/127.0.0.1/tcp/{self.api_port}")
        self._config("Addresses.Gateway", f"/ip4/127.0.0.1/tcp/{self.gateway_port}")
        self._config("Addresses.Swarm", [])
        self._config("Addresses.Announce", [])
        self._config("Bootstrap", [])
        self._config("Discovery.MDNS.Enabled", False)
        self._config("Routing.Type", "none")
        self.log_path = self.ipfs_path.parent / "daemon.log"
        log = open(self.log_path, "wb")
        try:
            self.proc = subprocess.Popen(
                [self.binary, "daemon", "--offline"],
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        self._wait_ready()
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        last: str = "no answer yet"
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise KuboStartError(
                    f"ipfs daemon exited with {self.proc.returncode}:\n{self._log_tail()}"
                )
            try:
                r = httpx.post(f"{self.api}/api/v0/id", timeout=2.0)
                if r.status_code == 200 and "ID" in r.json():
                    return
                last = f"HTTP {r.status_code}: {r.text[:200]}"
            except (httpx.HTTPError, ValueError) as exc:
                last = repr(exc)
            time.sleep(0.1)
        self.stop()
        raise KuboStartError(
            f"ipfs daemon RPC at {self.api} did not answer in {START_TIMEOUT_S}s ({last}):\n"
            f"{self._log_tail()}"
        )

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return "(no daemon log)"

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def start_kubo() -> tuple[KuboNode, Path]:
    """Start a private daemon; returns the node and the temp dir to remove afterwards."""
    tmp = Path(tempfile.mkdtemp(prefix="dataledger-kubo-"))
    try:
        api_port = _free_port()
        gateway_port = _free_port()
        while gateway_port == api_port:
            gateway_port = _free_port()
        node = KuboNode(
            binary=kubo_binary(),
            ipfs_path=tmp / "repo",
            api_port=api_port,
            gateway_port=gateway_port,
        )
        node.start()
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return node, tmp


def _session_node() -> Iterator[KuboNode]:
    try:
        node, tmp = start_kubo()
    except (KuboStartError, OSError, subprocess.SubprocessError) as exc:
        pytest.fail(f"Kubo could not start: {exc}", pytrace=False)
    try:
        yield node
    finally:
        node.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def kubo() -> Iterator[KuboNode]:
    yield from _session_node()


@pytest.fixture(scope="session")
def kubo2() -> Iterator[KuboNode]:
    """A second, independent daemon (own repo, ports; not connected to the first: offline, no
    swarm), for the replication tests (IPFS_APIS = [kubo.api, kubo2.api])."""
    yield from _session_node()
