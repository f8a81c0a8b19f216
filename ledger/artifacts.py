"""Load compiled contract artifacts (ABI + bytecode) shipped with the SDK; no compiler needed."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, TypedDict

ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"


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

    def __init__(self, name: str) -> None:
        super().__init__(f"no artifact for contract {name!r} in {ARTIFACTS_DIR}")
        self.name = name


@lru_cache(maxsize=None)
def load_artifact(name: str) -> Artifact:
    path = ARTIFACTS_DIR / f"{name}.json"
    if not path.is_file():
        raise UnknownArtifact(name)
    artifact: Artifact = json.loads(path.read_text())
    return artifact


def available() -> list[str]:
    return sorted(p.stem for p in ARTIFACTS_DIR.glob("*.json") if not p.stem.startswith("_"))
