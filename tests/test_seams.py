"""The seams the layout promises, checked on the source tree (ledger/, gateway/, dataledger/):

- the environment is read only by the settings modules (``ledger.settings`` and the classes built
  on it: ``gateway.core.config``, ``dataledger.dev.settings``);
- the deployment record is read, located and written only by ``ledger.deployment.Deployment``:
  nobody else builds a ``deployments/`` path, and the old second readers are gone;
- the SDK (``ledger``) imports nothing from the application (``dataledger``) or the gateway, and the
  gateway nothing from the development stack (``dataledger.dev``: it holds a public mnemonic).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("ledger", "gateway", "dataledger")
SETTINGS_MODULES = {"ledger/settings.py", "gateway/core/config.py", "dataledger/dev/settings.py"}
DEPLOYMENT_MODULE = "ledger/deployment.py"
#: the second readers and normalisers of the deployment record this layout replaced
OLD_READERS = {"read_deployment", "load_deployment", "load_record", "contracts_from_record", "contracts_of",
               "fetch_gateway_deployment"}


def sources() -> list[tuple[str, ast.Module]]:
    out = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if "/migrations/versions/" in rel:
                continue
            out.append((rel, ast.parse(path.read_text(), rel)))
    assert len(out) > 50, "the source tree was not found"
    return out


def environment_reads(tree: ast.Module) -> list[int]:
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv", "environb", "putenv") \
                and isinstance(node.value, ast.Name) and node.value.id == "os":
            lines.append(node.lineno)
        if isinstance(node, ast.ImportFrom) and node.module == "os" \
                and any(a.name in ("environ", "getenv", "environb") for a in node.names):
            lines.append(node.lineno)
    return lines


def deployments_paths(tree: ast.Module) -> list[int]:
    """``x / "deployments"`` and f-strings / literals that spell ``deployments/<id>.json`` in code
    (docstrings and help texts that mention the path are not code)."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
            for side in (node.left, node.right):
                if isinstance(side, ast.Constant) and isinstance(side.value, str) \
                        and side.value.strip("/").startswith("deployments"):
                    lines.append(node.lineno)
        if isinstance(node, ast.JoinedStr):
            text = "".join(v.value for v in node.values if isinstance(v, ast.Constant) and isinstance(v.value, str))
            if "deployments/" in text and ".json" in text and any(isinstance(v, ast.FormattedValue)
                                                                  for v in node.values):
                lines.append(node.lineno)
    return lines


def test_only_the_settings_modules_read_the_environment() -> None:
    found = {rel: lines for rel, tree in sources() if rel not in SETTINGS_MODULES
             for lines in [environment_reads(tree)] if lines}
    assert found == {}, f"os.environ / os.getenv outside the settings modules: {found}"


def test_the_check_sees_an_environment_read() -> None:
    """The check itself: each spelling is found."""
    for code in ("import os\nx = os.environ.get('A')", "import os\nx = os.getenv('A')",
                 "from os import environ\nx = environ['A']", "import os\nx = dict(os.environ)"):
        assert environment_reads(ast.parse(code)), code
    assert not environment_reads(ast.parse("import os\nos.chmod('x', 0o700)"))


def test_only_deployment_builds_the_record_path() -> None:
    found = {rel: lines for rel, tree in sources() if rel != DEPLOYMENT_MODULE
             for lines in [deployments_paths(tree)] if lines}
    assert found == {}, f"deployments/ paths built outside {DEPLOYMENT_MODULE}: {found}"
    assert deployments_paths(ast.parse((ROOT / DEPLOYMENT_MODULE).read_text())), "the check finds nothing at all"
    for code in ('p = state / "deployments" / f"{cid}.json"', 'p = f"{state}/deployments/{cid}.json"'):
        assert deployments_paths(ast.parse(code)), code


def test_no_second_reader_of_the_deployment_record() -> None:
    defined = {(rel, node.name) for rel, tree in sources() for node in ast.walk(tree)
               if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in OLD_READERS}
    assert defined == set(), f"second readers of the deployment record: {defined}"
    used = {(rel, node.lineno) for rel, tree in sources() for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and any(a.name in OLD_READERS for a in node.names)}
    assert used == set(), used


@pytest.mark.parametrize("package, forbidden", [
    ("ledger", ("gateway", "dataledger", "typer", "fastapi", "sqlalchemy", "uvicorn")),
    ("gateway", ("dataledger.dev",)),
])
def test_imports_follow_the_layers(package: str, forbidden: tuple[str, ...]) -> None:
    """Statically, every import statement (also the ones inside functions)."""
    bad = []
    for rel, tree in sources():
        if not rel.startswith(package + "/"):
            continue
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            bad += [(rel, node.lineno, n) for n in names if any(n == f or n.startswith(f + ".") for f in forbidden)]
    assert bad == [], bad
