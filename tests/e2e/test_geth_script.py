"""scripts/geth.sh: the cached geth is reused only when it reports the pinned version."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from tests.geth_fixture import GETH_SCRIPT, geth_binary

VERSION = "v1.17.10"


def _run(cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DATALEDGER_CACHE=str(cache), PATH="/usr/bin:/bin")  # no Go toolchain
    env.pop("GETH_VERSION", None)
    return subprocess.run(["bash", str(GETH_SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60)


def _fake(cache: Path, reported: str) -> Path:
    binary = cache / "geth" / VERSION / "geth"
    binary.parent.mkdir(parents=True)
    binary.write_text(f"#!/bin/sh\necho Geth\necho 'Version: {reported}'\n")
    binary.chmod(0o755)
    return binary


def test_the_cached_build_is_the_pinned_release() -> None:
    t0 = time.monotonic()
    path = geth_binary()  # built by `make test`'s setup, else now
    elapsed = time.monotonic() - t0
    out = subprocess.run([path, "version"], capture_output=True, text=True, timeout=30).stdout
    assert f"Version: {VERSION[1:]}-stable" in out
    assert f"/geth/{VERSION}/geth" in path
    assert elapsed < 10, f"a cached lookup took {elapsed:.1f}s"


def test_a_cached_binary_of_the_pinned_version_is_reused(tmp_path: Path) -> None:
    binary = _fake(tmp_path, "1.17.10-stable")
    done = _run(tmp_path, "path")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(binary)


def test_a_cached_binary_of_another_version_is_rebuilt_not_used(tmp_path: Path) -> None:
    _fake(tmp_path, "1.16.0-stable")
    done = _run(tmp_path, "build")
    # it did not accept the stale binary: it went on to build, which needs Go (kept off PATH here)
    assert done.returncode == 1
    assert "Go toolchain not found" in done.stderr
    assert done.stdout == ""


def test_unknown_verb_is_refused(tmp_path: Path) -> None:
    done = _run(tmp_path, "install")
    assert done.returncode == 2 and "usage:" in done.stderr
