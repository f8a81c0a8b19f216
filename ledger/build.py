"""Compile the contracts through py-solc-x's standard-JSON path and write the SDK's artifacts.

The compiler is the npm ``solc`` package (solcjs, wasm) behind ``scripts/solcjs-standard-json.js``,
a small adapter that speaks clean standard JSON (``solcjs --standard-json`` prints a non-JSON line
first). Settings come from ``contracts/compiler.json``, the same file ``hardhat.config.js`` reads, so
both toolchains produce the same runtime bytecode.

    python -m ledger.build            # compile and (re)write ledger/artifacts/ and ledger/vocabulary.py
    python -m ledger.build --check    # exit 1 when they are stale against the sources (or edited)

``ledger/vocabulary.py`` (enums, constants, restriction messages, custom errors) is generated from
the same compiler output, its AST included (:mod:`ledger.vocabgen`).

Users of the SDK need no compiler: artifacts are committed and loaded by :mod:`ledger.artifacts`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CONTRACTS_DIR = ROOT / "contracts"
SOURCES_DIR = CONTRACTS_DIR / "src"
COMPILER_JSON = CONTRACTS_DIR / "compiler.json"
ADAPTER = ROOT / "scripts" / "solcjs-standard-json.js"
ARTIFACTS_DIR = Path(__file__).resolve().parent / "artifacts"
STAMP = ARTIFACTS_DIR / "_build.json"
#: outputs added to compiler.json's outputSelection: the storage layout lets the verifier derive the
#: slots of a contract's state (eth_getProof in proof bundles) instead of hard-coding them
EXTRA_OUTPUTS = ("storageLayout",)
#: bumped when the artifact format changes (part of the fingerprint: old artifacts read as stale)
ARTIFACT_FORMAT = "3"
#: the vocabulary generator: its source is part of the fingerprint (a changed generator = stale)
VOCABGEN = Path(__file__).resolve().parent / "vocabgen.py"


class BuildError(RuntimeError):
    """The compiler reported errors, or could not be run."""


def _source_files() -> list[Path]:
    return sorted(SOURCES_DIR.rglob("*.sol"))


def _source_name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _dependency_versions() -> dict[str, str]:
    versions = {}
    for package in ("solc", "@openzeppelin/contracts"):
        manifest = ROOT / "node_modules" / package / "package.json"
        if manifest.exists():
            versions[package] = json.loads(manifest.read_text())["version"]
    return versions


def sources_fingerprint() -> str:
    """sha-256 over every source file, the compiler settings and the pinned npm versions.

    OpenZeppelin's version stands for its sources; package-lock.json pins it.
    """
    digest = hashlib.sha256()
    digest.update(f"artifact-format {ARTIFACT_FORMAT} {','.join(EXTRA_OUTPUTS)}\0".encode())
    digest.update(COMPILER_JSON.read_bytes())
    digest.update(VOCABGEN.read_bytes() + b"\0")
    lock = ROOT / "package-lock.json"
    if lock.exists():
        packages = json.loads(lock.read_text()).get("packages", {})
        for name in ("node_modules/solc", "node_modules/@openzeppelin/contracts"):
            digest.update(f"{name}@{packages.get(name, {}).get('version')}".encode())
    for path in _source_files():
        digest.update(_source_name(path).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def standard_json_input() -> dict[str, Any]:
    config = json.loads(COMPILER_JSON.read_text())
    for per_file in config["settings"].get("outputSelection", {}).values():
        for outputs in per_file.values():
            outputs.extend(o for o in EXTRA_OUTPUTS if o not in outputs)
        per_file[""] = ["ast"]  # the vocabulary's source (ledger.vocabgen): enums, constants, messages
    return {
        "language": "Solidity",
        "sources": {_source_name(p): {"content": p.read_text()} for p in _source_files()},
        "settings": config["settings"],
    }


def compile_sources() -> dict[str, Any]:
    """Run the compiler; return the standard-JSON output. Raises BuildError on any error."""
    import solcx  # imported lazily: only builders need py-solc-x

    if not (ROOT / "node_modules" / "solc").exists():
        raise BuildError("node_modules/solc is missing: run `npm ci` (or `make setup`) first")
    try:
        output: dict[str, Any] = solcx.compile_standard(
            standard_json_input(), solc_binary=ADAPTER, allow_paths=str(ROOT)
        )
    except solcx.exceptions.SolcError as exc:
        raise BuildError(str(exc)) from exc
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise BuildError("\n".join(e.get("formattedMessage", e["message"]) for e in errors))
    return output


def artifacts_from_output(output: dict[str, Any]) -> dict[str, dict[str, Any]]:
    artifacts: dict[str, dict[str, Any]] = {}
    for source_name, contracts in sorted(output.get("contracts", {}).items()):
        if not source_name.startswith("contracts/"):
            continue  # OpenZeppelin's own units: ABIs are inherited into ours
        for name, data in sorted(contracts.items()):
            evm = data.get("evm", {})
            if name in artifacts:
                raise BuildError(f"contract name {name} is defined twice ({source_name})")
            artifacts[name] = {
                "contractName": name,
                "sourceName": source_name,
                "abi": data.get("abi", []),
                "bytecode": "0x" + evm.get("bytecode", {}).get("object", ""),
                "deployedBytecode": "0x" + evm.get("deployedBytecode", {}).get("object", ""),
                "immutableReferences": evm.get("deployedBytecode", {}).get("immutableReferences", {}),
                "methodIdentifiers": evm.get("methodIdentifiers", {}),
                "storageLayout": data.get("storageLayout", {"storage": [], "types": None}),
            }
    return artifacts


def vocabulary_from_output(output: dict[str, Any]) -> str:
    """The text of ledger/vocabulary.py generated from the compiler output."""
    from ledger import vocabgen

    try:
        return vocabgen.render(vocabgen.extract(output))
    except vocabgen.VocabularyError as exc:
        raise BuildError(f"vocabulary: {exc}") from exc


def write_artifacts(artifacts: dict[str, dict[str, Any]], vocabulary: str) -> None:
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS_DIR.glob("*.json"):
        old.unlink()
    for name, artifact in artifacts.items():
        (ARTIFACTS_DIR / f"{name}.json").write_text(json.dumps(artifact, indent=1, sort_keys=True) + "\n")
    from ledger import vocabgen

    vocabgen.VOCABULARY_PY.write_text(vocabulary)
    stamp = {
        "fingerprint": sources_fingerprint(),
        "vocabulary": vocabgen.digest(vocabulary),
        "compiler": json.loads(COMPILER_JSON.read_text())["version"],
        "dependencies": _dependency_versions(),
        "contracts": sorted(artifacts),
    }
    STAMP.write_text(json.dumps(stamp, indent=1, sort_keys=True) + "\n")


def stale_reason() -> str | None:
    """None when the committed artifacts match the sources; else a one-line reason."""
    if not STAMP.exists():
        return "ledger/artifacts/_build.json is missing: run `python -m ledger.build`"
    recorded = json.loads(STAMP.read_text()).get("fingerprint")
    if recorded != sources_fingerprint():
        return "contract artifacts are stale against contracts/src: run `python -m ledger.build`"
    from ledger import vocabgen

    text = vocabgen.shipped()
    if text is None:
        return "ledger/vocabulary.py is missing: run `python -m ledger.build`"
    if vocabgen.digest(text) != json.loads(STAMP.read_text()).get("vocabulary"):
        return "ledger/vocabulary.py differs from the generated one (edited by hand?): run `python -m ledger.build`"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ledger.build", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="only check that the artifacts and ledger/vocabulary.py are fresh")
    args = parser.parse_args(argv)
    if args.check:
        reason = stale_reason()
        if reason:
            print(reason, file=sys.stderr)
            return 1
        print("contract artifacts are fresh")
        return 0
    try:
        output = compile_sources()
        artifacts = artifacts_from_output(output)
        vocabulary = vocabulary_from_output(output)
    except BuildError as exc:
        print(f"build failed:\n{exc}", file=sys.stderr)
        return 1
    write_artifacts(artifacts, vocabulary)
    print(f"wrote {len(artifacts)} artifacts to {ARTIFACTS_DIR.relative_to(ROOT)} and ledger/vocabulary.py")
    return 0


if __name__ == "__main__":
    sys.exit(main())
