"""Generate :mod:`ledger.vocabulary` from the compiler output (ABI + AST + storage layout).

One vocabulary for the SDK, the gateway, the CLI, the benchmarks and the tests: the contracts'
enums, their constants (restriction codes, role bits, standings, limits), the restriction messages
of ``DataVoucher.messageForTransferRestriction`` (read from its AST: one ``if (code == X) return
"..."`` per code) and every custom error (name, selector, argument names and types). Nobody copies
them by hand: ``python -m ledger.build`` rewrites the module, ``python -m ledger.build --check``
fails when it is stale or edited (its sha-256 is in ``ledger/artifacts/_build.json``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

from eth_utils.crypto import keccak

VOCABULARY_PY = Path(__file__).resolve().parent / "vocabulary.py"
#: bumped when the generated module's layout changes (part of the sources fingerprint)
VOCABULARY_FORMAT = "1"
#: source units whose vocabulary the market uses (benchmark baselines and test doubles are not)
VOCABULARY_SOURCES = re.compile(r"^contracts/src/(?!bench/|test/)[^ ]+\.sol$")
RESTRICTION_CONTRACT, RESTRICTION_FUNCTION = "DataVoucher", "messageForTransferRestriction"
ROLES_LIBRARY = "ParticipantRoles"

_UNITS = {"wei": 1, "gwei": 10**9, "ether": 10**18, "seconds": 1, "minutes": 60, "hours": 3600,
          "days": 86400, "weeks": 7 * 86400}


class VocabularyError(RuntimeError):
    """The compiler output does not have the shape the generator reads."""


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if "nodeType" in node:
            yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from _walk(item)


def _upper_snake(name: str) -> str:
    """``PersonalDerived`` -> ``PERSONAL_DERIVED`` (enum member names as Python constants)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).upper()


def _literal(node: dict[str, Any]) -> int | str:
    if node.get("kind") == "string":
        return str(node["value"])
    if node.get("kind") != "number":
        raise VocabularyError(f"literal of kind {node.get('kind')}")
    text = str(node["value"]).replace("_", "")
    value = int(text, 16) if text.lower().startswith("0x") else int(text)
    return value * _UNITS.get(node.get("subdenomination") or "", 1)


def _evaluate(node: dict[str, Any], known: dict[int, int | str]) -> int | str:
    """Value of a constant's initial expression: literals, parentheses, references to other
    constants, integer arithmetic and bit operations, ``keccak256("text")``."""
    kind = node["nodeType"]
    if kind == "Literal":
        return _literal(node)
    if kind == "TupleExpression" and len(node["components"]) == 1:
        return _evaluate(node["components"][0], known)
    if kind in ("Identifier", "MemberAccess") and node.get("referencedDeclaration") in known:
        return known[node["referencedDeclaration"]]
    if kind == "BinaryOperation":
        left, right = _evaluate(node["leftExpression"], known), _evaluate(node["rightExpression"], known)
        if not isinstance(left, int) or not isinstance(right, int):
            raise VocabularyError("arithmetic on a non-integer")
        ops = {"<<": lambda a, b: a << b, ">>": lambda a, b: a >> b, "|": lambda a, b: a | b,
               "&": lambda a, b: a & b, "^": lambda a, b: a ^ b, "+": lambda a, b: a + b,
               "-": lambda a, b: a - b, "*": lambda a, b: a * b, "**": lambda a, b: a**b}
        if node["operator"] not in ops:
            raise VocabularyError(f"operator {node['operator']}")
        return int(ops[node["operator"]](left, right))
    if kind == "FunctionCall" and node["expression"].get("name") == "keccak256" and len(node["arguments"]) == 1:
        arg = _evaluate(node["arguments"][0], known)
        if isinstance(arg, str):
            return "0x" + keccak(text=arg).hex()
    raise VocabularyError(f"cannot evaluate a {kind}")


def _abi_type(param: dict[str, Any]) -> str:
    """Canonical ABI type (tuples expanded) of an ABI parameter."""
    t = str(param["type"])
    if t.startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in param["components"]) + ")" + t[len("tuple"):]
    return t


def extract(output: dict[str, Any]) -> dict[str, Any]:
    """The vocabulary as plain data from the standard-JSON ``output`` (with ``sources.*.ast``)."""
    enums: dict[str, dict[str, Any]] = {}
    constants: dict[str, dict[str, int | str]] = {}
    restriction: dict[str, str] = {}
    known: dict[int, int | str] = {}
    units = sorted((name, src) for name, src in output.get("sources", {}).items() if VOCABULARY_SOURCES.match(name))
    if not units:
        raise VocabularyError("no contract sources in the compiler output")
    contracts: list[tuple[str, dict[str, Any]]] = []
    units_ast: list[tuple[str, dict[str, Any]]] = []
    for name, src in units:
        ast = src.get("ast")
        if ast is None:
            raise VocabularyError(f"{name}: no AST in the compiler output (outputSelection '' : ['ast'])")
        units_ast.append((name, ast))
        contracts += [(name, n) for n in ast["nodes"] if n.get("nodeType") == "ContractDefinition"]
    # constants may refer to constants declared before them (in any unit): evaluate to a fixpoint
    pending = [(c, v) for _, c in contracts for v in c["nodes"]
               if v.get("nodeType") == "VariableDeclaration" and v.get("constant") and v.get("value")]
    while pending:
        left = []
        for contract, var in pending:
            try:
                known[var["id"]] = _evaluate(var["value"], known)
            except (VocabularyError, KeyError):
                left.append((contract, var))
                continue
            constants.setdefault(contract["name"], {})[var["name"]] = known[var["id"]]
        if len(left) == len(pending):
            break  # the rest is not a compile-time value this generator reads (left out)
        pending = left
    for unit, ast in units_ast:
        for node in ast["nodes"]:  # file-level enums (TradeSettlement.sol's Side)
            if node.get("nodeType") == "EnumDefinition":
                _add_enum(enums, node, Path(unit).stem)
    for _, contract in contracts:
        for node in contract["nodes"]:
            if node.get("nodeType") == "EnumDefinition":
                _add_enum(enums, node, contract["name"])
            if (contract["name"], node.get("nodeType"), node.get("name")) == (
                    RESTRICTION_CONTRACT, "FunctionDefinition", RESTRICTION_FUNCTION):
                restriction = _restriction_messages(node, contract["name"], constants)
    if not restriction:
        raise VocabularyError(f"{RESTRICTION_CONTRACT}.{RESTRICTION_FUNCTION} not found")
    if ROLES_LIBRARY not in constants:
        raise VocabularyError(f"library {ROLES_LIBRARY} not found")
    return {"enums": enums, "constants": constants, "restriction_messages": restriction,
            "errors": _errors(output)}


def _add_enum(enums: dict[str, dict[str, Any]], node: dict[str, Any], scope: str) -> None:
    if node["name"] in enums:
        raise VocabularyError(f"enum {node['name']} is declared twice ({enums[node['name']]['contract']}, {scope})")
    enums[node["name"]] = {"contract": scope, "members": [m["name"] for m in node["members"]]}


def _restriction_messages(fn: dict[str, Any], contract: str, constants: dict[str, dict[str, int | str]]
                          ) -> dict[str, str]:
    """``if (code == NAME) return "sentence";`` for each code, in the function's order."""
    out: dict[str, str] = {}
    for stmt in fn["body"]["statements"]:
        if stmt["nodeType"] != "IfStatement":
            continue
        cond, body = stmt["condition"], stmt["trueBody"]
        if body.get("nodeType") == "Block" and len(body.get("statements", [])) == 1:
            body = body["statements"][0]
        if (cond.get("nodeType") != "BinaryOperation" or cond["operator"] != "=="
                or body.get("nodeType") != "Return" or body["expression"].get("nodeType") != "Literal"):
            raise VocabularyError(f"{contract}.{RESTRICTION_FUNCTION}: unexpected statement shape")
        code = cond["rightExpression"].get("name")
        if code not in constants.get(contract, {}):
            raise VocabularyError(f"{contract}.{RESTRICTION_FUNCTION}: {code} is not a constant")
        out[code] = str(body["expression"]["value"])
    return out


def _errors(output: dict[str, Any]) -> list[dict[str, Any]]:
    """Every custom error of the market's contracts (ABI, inherited ones included), one entry per
    selector, with the contracts that can raise it."""
    by_selector: dict[str, dict[str, Any]] = {}
    for source, contracts in sorted(output.get("contracts", {}).items()):
        if not VOCABULARY_SOURCES.match(source):
            continue
        for contract, data in sorted(contracts.items()):
            for entry in data.get("abi", []):
                if entry.get("type") != "error":
                    continue
                signature = f"{entry['name']}({','.join(_abi_type(i) for i in entry['inputs'])})"
                selector = "0x" + keccak(text=signature)[:4].hex()
                spec = by_selector.setdefault(selector, {
                    "name": entry["name"], "signature": signature, "selector": selector,
                    "inputs": [[i["name"], _abi_type(i)] for i in entry["inputs"]], "contracts": []})
                if spec["signature"] != signature:
                    raise VocabularyError(f"selector clash: {signature} and {spec['signature']}")
                names = [[i["name"], _abi_type(i)] for i in entry["inputs"]]
                if spec["inputs"] != names:  # one error, one spelling of its arguments
                    raise VocabularyError(f"{entry['name']} has arguments {names} in {contract} but "
                                          f"{spec['inputs']} in {', '.join(spec['contracts'])}")
                if contract not in spec["contracts"]:
                    spec["contracts"].append(contract)
    return [by_selector[s] for s in sorted(by_selector, key=lambda s: (by_selector[s]["name"], s))]


def render(vocab: dict[str, Any]) -> str:
    """The Python module (deterministic text: the --check compares its hash)."""
    lines = [
        '"""GENERATED by ``python -m ledger.build`` from the compiler output (ABI + AST): do not edit.',
        "",
        "The contracts' enums, constants (restriction codes, role bits, standings, limits), the sentences",
        "of ``DataVoucher.messageForTransferRestriction`` and every custom error (name, selector,",
        "argument names and types). ``python -m ledger.build --check`` fails when this file is stale",
        'or edited by hand. Generator: ledger/vocabgen.py."""',
        "",
        "from __future__ import annotations",
        "",
        "from enum import IntEnum, IntFlag",
        "from typing import Final, Literal, NamedTuple",
        "",
        "",
        "class CustomError(NamedTuple):",
        '    """A custom error: ``selector`` = first 4 bytes of keccak256(``signature``)."""',
        "",
        "    name: str",
        "    signature: str",
        "    selector: str",
        "    #: (argument name, canonical ABI type), in order",
        "    inputs: tuple[tuple[str, str], ...]",
        "    #: the contracts whose ABI has it (declared or inherited)",
        "    contracts: tuple[str, ...]",
        "",
    ]
    for name, enum in vocab["enums"].items():
        lines += ["", f"class {name}(IntEnum):", f'    """{enum["contract"]}.{name}"""', ""]
        lines += [f"    {_upper_snake(m)} = {i}" for i, m in enumerate(enum["members"])]
        names = [_upper_snake(m).lower() for m in enum["members"] if m != "None"]
        lines += ["", "", f"#: {name} member names in lower case as the API and the index spell them (no ``none``)",
                  f"{name}Name = Literal[{', '.join(repr(n) for n in names)}]", ""]
    roles = vocab["constants"][ROLES_LIBRARY]
    bits = {k: v for k, v in roles.items() if isinstance(v, int) and v > 0 and v & (v - 1) == 0
            and not k.startswith("STANDING_")}
    lines += ["", "class Role(IntFlag):", f'    """{ROLES_LIBRARY} role bits (one bit each)."""', ""]
    lines += [f"    {k} = {v:#x}" for k, v in sorted(bits.items(), key=lambda kv: kv[1])]
    lines += ["", "", "#: role names in lower case, in bit order",
              f"RoleName = Literal[{', '.join(repr(k.lower()) for k, _ in sorted(bits.items(), key=lambda kv: kv[1]))}]",
              ""]
    for k, v in roles.items():
        if k not in bits and not k.startswith("STANDING_") and isinstance(v, int):
            members = " | ".join(f"Role.{b}" for b, bit in sorted(bits.items(), key=lambda kv: kv[1]) if v & bit)
            lines += ["", f"{k}: Final = {members}  # {v:#x}"]
    standings = {k[len("STANDING_"):]: v for k, v in roles.items() if k.startswith("STANDING_")}
    lines += ["", "", "class Standing(IntEnum):", f'    """{ROLES_LIBRARY}.STANDING_* (ParticipantRegistry.transferStanding)."""', ""]
    lines += [f"    {k} = {v}" for k, v in standings.items()]
    codes = vocab["constants"][RESTRICTION_CONTRACT]
    messages = vocab["restriction_messages"]
    lines += ["", "", "class Restriction(IntEnum):",
              f'    """{RESTRICTION_CONTRACT} restriction codes (ERC-1404 style; a use has the same codes)."""', ""]
    lines += [f"    {k} = {codes[k]}" for k in messages]
    lines += ["", "", f"#: {RESTRICTION_CONTRACT}.{RESTRICTION_FUNCTION}(code), read from its source",
              "RESTRICTION_MESSAGES: Final[dict[int, str]] = {"]
    lines += [f"    {codes[k]}: {messages[k]!r},  # {k}" for k in messages]
    lines += ["}", "", "#: every compile-time constant of the market's contracts and libraries, by contract",
              "CONSTANTS: Final[dict[str, dict[str, int | str]]] = {"]
    for contract, values in vocab["constants"].items():
        lines.append(f"    {contract!r}: {{")
        lines += [f"        {k!r}: {_py(v)}," for k, v in values.items()]
        lines.append("    },")
    lines += ["}", "", "#: custom errors by selector", "ERRORS: Final[dict[str, CustomError]] = {"]
    for e in vocab["errors"]:
        inputs = "".join(f"({n!r}, {t!r}), " for n, t in e["inputs"]).rstrip(", ")
        inputs = f"({inputs},)" if len(e["inputs"]) == 1 else f"({inputs})"
        lines += [f"    {e['selector']!r}: CustomError(", f"        {e['name']!r}, {e['signature']!r}, {e['selector']!r},",
                  f"        {inputs},", f"        {tuple(e['contracts'])!r}),"]
    lines += ["}", "", "#: selectors by error name (a name declared with two signatures has two entries in ERRORS)",
              "ERROR_SELECTORS: Final[dict[str, tuple[str, ...]]] = {"]
    by_name: dict[str, list[str]] = {}
    for e in vocab["errors"]:
        by_name.setdefault(e["name"], []).append(e["selector"])
    lines += [f"    {n!r}: {tuple(s)!r}," for n, s in by_name.items()]
    lines += ["}", ""]
    return "\n".join(lines)


def _py(value: int | str) -> str:
    return repr(value) if isinstance(value, str) or value < 1 << 64 else hex(value)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def shipped() -> Optional[str]:
    return VOCABULARY_PY.read_text() if VOCABULARY_PY.exists() else None
