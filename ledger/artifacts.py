"""Load compiled contract artifacts (ABI + bytecode) shipped with the SDK; no compiler needed."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any, TypedDict

ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"
#: Environment variable naming another artifacts directory of the same format (e.g. the coverage
#: run's instrumented build, scripts/coverage/run.js); unset = the shipped ARTIFACTS_DIR.
ARTIFACTS_DIR_ENV = "DATALEDGER_ARTIFACTS_DIR"


def artifacts_dir() -> Path:
    """The directory artifacts are loaded from: $DATALEDGER_ARTIFACTS_DIR, else ARTIFACTS_DIR."""
    from ledger.settings import process_settings

    override = process_settings().DATALEDGER_ARTIFACTS_DIR
    return Path(override) if override else ARTIFACTS_DIR


class Artifact(TypedDict):
    contractName: str
    sourceName: str
    abi: list[dict[str, Any]]
    bytecode: str
    deployedBytecode: str
    immutableReferences: dict[str, Any]
    methodIdentifiers: dict[str, str]


class UnknownArtifact(LookupError):
    """No artifact of that contract name ships with this SDK."""

    def __init__(self, name: str, directory: Path = ARTIFACTS_DIR) -> None:
        super().__init__(f"no artifact for contract {name!r} in {directory}")
        self.name = name


def load_artifact(name: str) -> Artifact:
    return _load(artifacts_dir(), name)


@cache
def _load(directory: Path, name: str) -> Artifact:
    path = directory / f"{name}.json"
    if not path.is_file():
        raise UnknownArtifact(name, directory)
    artifact: Artifact = json.loads(path.read_text())
    return artifact


def available() -> list[str]:
    return sorted(p.stem for p in artifacts_dir().glob("*.json") if not p.stem.startswith("_"))
