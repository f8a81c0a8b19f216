"""The two compiler paths (Hardhat 2 + solcjs, py-solc-x standard JSON + solcjs) agree, and the
artifacts and the generated vocabulary the SDK ships are fresh against the sources."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ledger import build, vocabgen

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def python_output() -> dict[str, Any]:
    return build.compile_sources()


@pytest.fixture(scope="module")
def python_build(python_output: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return build.artifacts_from_output(python_output)


@pytest.fixture(scope="module")
def hardhat_build() -> dict[str, dict[str, Any]]:
    result = subprocess.run(
        ["npx", "--no-install", "hardhat", "compile", "--quiet"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"hardhat compile failed: {result.stderr or result.stdout}"
    out: dict[str, dict[str, Any]] = {}
    for path in (ROOT / "build" / "hardhat" / "artifacts" / "contracts").rglob("*.json"):
        if path.name.endswith(".dbg.json"):
            continue
        data = json.loads(path.read_text())
        out[data["contractName"]] = data
    return out


def test_both_compilers_give_the_same_runtime_bytecode(
    python_build: dict[str, dict[str, Any]], hardhat_build: dict[str, dict[str, Any]]
) -> None:
    deployable = {n for n, a in python_build.items() if a["deployedBytecode"] not in ("", "0x")}
    assert {"ParticipantRegistry", "DataVoucher", "TradeSettlement"} <= deployable
    assert deployable <= set(hardhat_build), f"hardhat lacks {deployable - set(hardhat_build)}"
    for name in sorted(deployable):
        assert python_build[name]["deployedBytecode"] == hardhat_build[name]["deployedBytecode"], name
        assert python_build[name]["bytecode"] == hardhat_build[name]["bytecode"], name
        assert python_build[name]["abi"] == hardhat_build[name]["abi"], name


def test_shipped_artifacts_match_a_fresh_build(python_build: dict[str, dict[str, Any]]) -> None:
    assert build.stale_reason() is None
    for name, fresh in python_build.items():
        shipped = json.loads((build.ARTIFACTS_DIR / f"{name}.json").read_text())
        assert shipped["deployedBytecode"] == fresh["deployedBytecode"], f"{name} artifact is stale"


def test_shipped_vocabulary_is_the_generated_one(python_output: dict[str, Any]) -> None:
    """ledger/vocabulary.py is byte for byte what the generator makes of a fresh compile."""
    assert vocabgen.VOCABULARY_PY.read_text() == build.vocabulary_from_output(python_output)


def test_staleness_check_notices_a_hand_edited_vocabulary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A copy edited by hand (one restriction sentence) or missing fails ``--check``."""
    assert build.stale_reason() is None
    copy = tmp_path / "vocabulary.py"
    shipped = vocabgen.VOCABULARY_PY.read_text()
    assert "The voucher has expired." in shipped
    copy.write_text(shipped.replace("The voucher has expired.", "The voucher expired."))
    monkeypatch.setattr(vocabgen, "VOCABULARY_PY", copy)
    assert "vocabulary.py" in (build.stale_reason() or "")
    assert build.main(["--check"]) == 1
    copy.write_text(shipped)
    assert build.stale_reason() is None
    copy.unlink()
    assert "missing" in (build.stale_reason() or "")


def test_staleness_check_notices_an_edited_generator() -> None:
    before = build.sources_fingerprint()
    source = build.VOCABGEN.read_text()
    try:
        build.VOCABGEN.write_text(source + "\n# changed\n")
        assert build.sources_fingerprint() != before and build.stale_reason() is not None
    finally:
        build.VOCABGEN.write_text(source)
    assert build.sources_fingerprint() == before


def test_staleness_check_notices_an_edited_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = build.sources_fingerprint()
    extra = build.SOURCES_DIR / "ZzStalenessProbe.sol"
    extra.write_text("// SPDX-License-Identifier: Apache-2.0\npragma solidity ^0.8.28;\n")
    try:
        assert build.sources_fingerprint() != before
        assert build.stale_reason() is not None
        assert build.main(["--check"]) == 1
    finally:
        extra.unlink()
    assert build.sources_fingerprint() == before
