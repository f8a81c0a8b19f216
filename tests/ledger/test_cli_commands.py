"""`dataledger` commands as a user runs them: the console script in a subprocess, from a folder
outside the checkout (manifest build against a real Kubo; --help imports nothing heavy)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.kubo_fixture import KuboNode

EXE = str(Path(sys.executable).parent / "dataledger")


def dataledger(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120) -> Any:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("RPC_URL", "CHAIN_ID", "DATABASE_URL", "STATE_DIR", "IPFS_API", "DATALEDGER_GATEWAY",
                          "DATALEDGER_DEPLOYMENT")}
    return subprocess.run([EXE, *args], cwd=cwd, env={**clean, **(env or {})}, capture_output=True, text=True,
                          timeout=timeout)


def _dataset(root: Path) -> Path:
    d = root / "dataset"
    (d / "sub").mkdir(parents=True)
    (d / "records.csv").write_text("id,value\n1,a\n2,b\n")
    (d / "sub" / "big.bin").write_bytes(hashlib.sha256(b"seed").digest() * 40_000)  # 1.28 MB: 5 chunks
    (d / "empty.txt").write_bytes(b"")
    (d / ".hidden").write_text("not listed")
    return d


# ------------------------------------------------------------------ manifest build


def test_manifest_build_cids_equal_kubo(kubo: KuboNode, tmp_path: Path) -> None:
    d = _dataset(tmp_path)
    out = tmp_path / "manifest.json"
    proc = dataledger("manifest", "build", str(d), "--json", "--publisher", "Foshan Data Bureau", "--level", "2",
                      "--source", "public", "--keywords", "traffic, gd", "--out", str(out), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert [f["path"] for f in data["files"]] == ["empty.txt", "records.csv", "sub/big.bin"]  # no dotfiles
    for f in data["files"]:
        assert f["cid"] == kubo.cli("add", "--cid-version=1", "-Q", "--only-hash", str(d / f["path"])).strip()
        assert f["sha256"] == hashlib.sha256((d / f["path"]).read_bytes()).hexdigest()
    body = out.read_bytes()
    assert json.loads(body) == data["manifest"]
    assert data["manifest"]["title"] == "dataset" and data["manifest"]["keywords"] == ["gd", "traffic"]
    assert data["manifest_cid"] == kubo.cli("add", "--cid-version=1", "-Q", "--only-hash", str(out)).strip()
    assert data["content_hash"] == "0x" + hashlib.sha256(body).hexdigest()


def test_manifest_build_human_and_without_metadata(tmp_path: Path) -> None:
    d = _dataset(tmp_path)
    full = dataledger("manifest", "build", str(d), "--publisher", "P", "--level", "1", "--source", "public",
                      cwd=tmp_path)
    assert full.returncode == 0, full.stderr
    cid = json.loads(dataledger("manifest", "build", str(d), "--publisher", "P", "--level", "1", "--source",
                                "public", "--json", cwd=tmp_path).stdout)["manifest_cid"]
    assert f"manifest cid {cid}" in full.stdout and "sub/big.bin" in full.stdout
    # no metadata: the files' CIDs, and what a manifest still needs (exit 0: nothing failed)
    bare = dataledger("manifest", "build", str(d), "--json", cwd=tmp_path)
    assert bare.returncode == 0, bare.stderr
    data = json.loads(bare.stdout)
    assert data["manifest"] is None and data["missing"] == ["--publisher", "--level", "--source"]
    assert len(data["files"]) == 3
    # bad input: one line, exit 1
    for args in (["manifest", "build", str(tmp_path / "nope")],
                 ["manifest", "build", str(d), "--publisher", "P", "--level", "9", "--source", "public"]):
        bad = dataledger(*args, cwd=tmp_path)
        assert bad.returncode == 1, bad.stdout
        lines = bad.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), bad.stderr


# ------------------------------------------------------------------ start-up


def test_help_imports_no_web3_or_gateway(tmp_path: Path) -> None:
    """`dataledger --help` and a subcommand's --help load no web3, gateway, sqlalchemy or fastapi module."""
    probe = ("import sys\nfrom dataledger.cli import app\n"
             "for args in (['--help'], ['verify', '--help'], ['index', '--help'], ['manifest', 'build', '--help']):\n"
             "    try:\n        app(args, prog_name='dataledger')\n    except SystemExit as e:\n"
             "        assert e.code == 0, (args, e.code)\n"
             "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
             "('web3', 'gateway', 'sqlalchemy', 'fastapi', 'uvicorn', 'httpx'))\n"
             "print('HEAVY', heavy)\n")
    proc = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "HEAVY []"


@pytest.mark.parametrize("command", ["index", "verify", "stats", "serve", "manifest build"])
def test_help_lists_the_real_options(command: str, tmp_path: Path) -> None:
    proc = dataledger(*command.split(), "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    expected = {
        "index": ["--follow", "--database-url", "--max-range", "--until-block", "--no-wait", "--dump", "--json"],
        "verify": ["--block", "--token", "--gateway", "--database-url", "--export", "--bundle", "--trusted-head",
                   "--validators", "--deployment", "--json"],
        "stats": ["--database-url", "--period", "--since", "--until", "--json"],
        "serve": ["--host", "--port", "--database-url", "--ipfs"],
        "manifest build": ["--publisher", "--level", "--source", "--meta", "--out", "--json"],
    }[command]
    for option in expected:
        assert option in text, f"{command} --help lacks {option}"
    for internal in ("main(argv)", "gateway.verify", "gateway.indexer", "gateway.stats", "gateway.main"):
        assert internal not in text


@pytest.mark.parametrize("module, command", [("gateway.verify", "verify"), ("gateway.indexer", "index"),
                                             ("gateway.stats", "stats")])
def test_python_m_entry_points_run_the_same_command(module: str, command: str, tmp_path: Path) -> None:
    """One command line parser: `python -m gateway.X --help` is `dataledger X --help`."""
    proc = subprocess.run([sys.executable, "-m", module, "--help"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"Usage: dataledger {command} [OPTIONS]")
    bad = subprocess.run([sys.executable, "-m", module, "--no-such-option"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "no such option" in bad.stderr.lower()


def test_verify_reads_a_negative_id_as_an_id_and_refuses_unknown_options(tmp_path: Path) -> None:
    for args, says in ((["voucher", "-1"], "error: id -1 is outside uint256 (0 .. 2**256-1)"),
                       (["voucher", "-x"], "error: no such option: -x (see dataledger verify --help)"),
                       (["voucher", "1", "--block", "-3"], "error: --block -3: not a block number")):
        proc = dataledger("verify", *args, "--rpc", "http://127.0.0.1:9", cwd=tmp_path)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        assert proc.stderr.strip().splitlines() == [says]
    typo = dataledger("verify", "voucher", "1", "--gatway", "http://x", cwd=tmp_path)
    assert typo.returncode == 2 and "--gatway" in typo.stderr
