"""The SDK is a library: importing it loads no gateway, dev-stack (dataledger.dev: anvil, PostgreSQL
harness, stack, demo) or CLI (dataledger.cli) module."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

LIBRARY = ["ledger", "ledger.chain", "ledger.contracts", "ledger.manifest", "ledger.ipfs", "ledger.wallet",
           "ledger.deploy", "ledger.errors", "ledger.artifacts", "ledger.tx", "ledger.settings", "ledger.deployment"]
#: the application (dataledger: the CLI and the dev stack anvil/postgres/stack/demo), the gateway, and
#: what only they need
FORBIDDEN = ("gateway", "dataledger", "typer", "fastapi", "sqlalchemy", "uvicorn", "alembic")


def test_importing_the_sdk_loads_no_application_module(tmp_path: Path) -> None:
    probe = (f"import importlib, sys\nfor m in {LIBRARY!r}:\n    importlib.import_module(m)\n"
             f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}))\n")
    proc = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]", proc.stdout
