"""``dataledger verify`` (ledger/cli.py passes ``--rpc``, ``--state-dir``, ``--chain-id``, ``--json``
and the user's arguments to :func:`main`).

    dataledger verify voucher 5 [--gateway URL | --database-url URL] [--export FILE] [--json]
    dataledger verify asset 2 --rpc URL --gateway http://127.0.0.1:8000
    dataledger verify --bundle FILE --trusted-head 0xHASH           (offline: no RPC)
    dataledger verify --bundle FILE --validators genesis.json       (offline, Besu QBFT: head's seals)

Exit codes (:data:`gateway.verify.core.EXIT_CODES`, docs/verify.md):

    0  verified: every served event and state field equals the chain at the verified block
    1  mismatch: a difference (named: subject + field) or a failed proof / bundle
    2  could not run: node or gateway unreachable, no deployment record, bad arguments
       (an id outside uint256 included)
    3  unknown: no such voucher / asset on chain at the verified block (and the gateway serves none)
    4  gateway behind: it has not indexed up to the verified block ("events after block B not yet
       served"); what it serves up to its height matches
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Optional


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dataledger verify", description=(
        "Rebuild a voucher's or an asset's history from the chain and check what the gateway serves; "
        "or check a proof bundle offline."))
    p.add_argument("kind", nargs="?", choices=("voucher", "asset"))
    p.add_argument("id", nargs="?", help="uint256 id (decimal)")
    p.add_argument("--rpc", default="http://127.0.0.1:8545", help="JSON-RPC endpoint of a node you trust")
    p.add_argument("--state-dir", default=".dataledger", help="holds deployments/<chainId>.json and ipfs/")
    p.add_argument("--chain-id", type=int, default=None)
    p.add_argument("--gateway", default=None, help="gateway base URL whose provenance API is checked")
    p.add_argument("--token", default=None,
                   help="bearer token of a signed-in caller (regulators see every use); default anonymous")
    p.add_argument("--database-url", default=None, help="check the gateway's database directly instead")
    p.add_argument("--ipfs", default=None, help="Kubo RPC API URL (default IPFS_API, else <state-dir>/ipfs)")
    p.add_argument("--no-manifests", action="store_true", help="skip the IPFS manifest check")
    p.add_argument("--block", type=int, default=None,
                   help="verify at this block (default: the node's head; never the gateway's height)")
    p.add_argument("--max-range", type=int, default=0, help="largest eth_getLogs block range (0: unbounded)")
    p.add_argument("--export", metavar="FILE", default=None, help="write a proof bundle of the history")
    p.add_argument("--bundle", metavar="FILE", default=None, help="check a proof bundle offline")
    p.add_argument("--trusted-head", metavar="HASH", default=None, help="block hash the bundle must end at")
    p.add_argument("--validators", metavar="FILE", default=None,
                   help="QBFT validator set (Besu genesis, JSON list or one address per line): "
                        "the bundle's head must carry a quorum of their commit seals")
    p.add_argument("--json", action="store_true", help="JSON verdict on stdout")
    return p


def _print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


STYLE = {"ok": "green", "not_indexed": "yellow"}


def _render(verdict: dict[str, Any], offline: bool = False) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(100, Console().width))
    table = Table(title=f"{verdict.get('kind', '?')} {verdict.get('id', '?')}", show_lines=False)
    for col in ("#", "block", "log", "event", "verdict", "what differs / detail", "proof", "manifest"):
        table.add_column(col, overflow="fold")
    for i, e in enumerate(verdict.get("events", [])):
        status = e["status"]
        style = STYLE.get(status, "red")
        detail = ", ".join(e.get("fields") or [])
        if e.get("detail"):
            detail = f"{detail}: {e['detail']}" if detail else e["detail"]
        table.add_row(str(i + 1), str(e["block_number"]), str(e["log_index"]),
                      f"{e.get('contract', '')}.{e.get('event', '')}", f"[{style}]{status}[/{style}]", detail,
                      e.get("proof", "") or ("offline" if offline else ""), e.get("manifest", "") or "")
    console.print(table)
    for m in verdict.get("manifests", []):
        style = "green" if m["status"] == "ok" else "red"
        console.print(f"manifest asset {m['asset_id']} v{m['version']} {m['cid']}: [{style}]{m['status']}[/{style}]"
                      + (f" ({m['detail']})" if m.get("detail") else ""))
    checks = verdict.get("state") or []
    if isinstance(checks, dict):  # offline bundle: the proven record
        console.print("proven by storage proofs at block " + str(checks.get("block")) + ": "
                      + ", ".join(f"{k} {v}" for k, v in sorted(checks.items()) if k != "block"), highlight=False)
        checks = []
    if checks:
        by: dict[str, int] = {}
        for c in checks:
            by[c["status"]] = by.get(c["status"], 0) + 1
        console.print("state fields: " + ", ".join(f"{n} {k}" for k, n in sorted(by.items()))
                      + f" (against the events and eth_call at block {verdict.get('block')})", highlight=False)
        for c in checks:
            if c["status"] == "mismatch":
                console.print(f"[red]mismatch:[/red] {c['subject']} {c['field']}: served {c['served']}, "
                              f"chain {c['chain']} ({c['against']}; served by {c['origin']})", highlight=False)
        unverified = sorted({f"{c['field']}" for c in checks if c["status"] == "unverified"})
        if unverified:
            console.print("unverified (presentation, no chain counterpart): " + ", ".join(unverified), highlight=False)
        redacted = sorted({f"{c['subject']} {c['field']}" for c in checks if c["status"] == "redacted"})
        if redacted:
            console.print("redacted (not served — not checked): " + ", ".join(redacted), highlight=False)
    for n in verdict.get("notes", []) or []:
        console.print(f"[yellow]note:[/yellow] {n}", highlight=False)
    for p in verdict.get("problems", []):
        console.print(f"[red]problem:[/red] {p}", markup=True, highlight=False)
    name = verdict.get("verdict") or ("verified" if verdict.get("ok") else "failed")
    label = {"verified": "VERIFIED", "mismatch": "FAILED — MISMATCH", "behind": "GATEWAY BEHIND", "unknown": "UNKNOWN"}.get(
        name, "FAILED")
    style = "green" if verdict.get("ok") else ("yellow" if name in ("behind", "unknown") else "red")
    console.print(f"[{style}]{label}[/{style}]: {verdict.get('summary', '')}", highlight=False)
    if verdict.get("timings"):
        t = verdict["timings"]
        console.print(f"{verdict.get('rpc_calls', 0)} RPC calls in {verdict.get('rpc_requests', 0)} requests; "
                      + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in sorted(t.items())), highlight=False)


def _error(message: str, as_json: bool) -> int:
    if as_json:
        _print_json({"ok": False, "error": message})
    else:
        sys.stderr.write(f"error: {message}\n")
    return 2


def _expected_contracts(state_dir: str, chain_id: Any) -> Optional[dict[str, str]]:
    path = Path(state_dir) / "deployments" / f"{chain_id}.json"
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
        return {n: str(e["address"]) for n, e in record["contracts"].items()}
    except (OSError, ValueError, KeyError):
        return None


def parse_id(text: str) -> int:
    """A uint256 id in decimal; ValueError with a readable reason otherwise."""
    t = text.strip()
    if not t.lstrip("-").isdigit():
        raise ValueError(f"not an integer id: {text!r}")
    value = int(t)
    if not 0 <= value < 2**256:
        raise ValueError(f"id {text} is outside uint256 (0 .. 2**256-1)")
    return value


def main(argv: Optional[list[str]] = None) -> int:
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse printed its one-line usage error
        return 2 if exc.code else 0
    if args.bundle:
        return _offline(args)
    if args.kind is None or args.id is None:
        return _error("say what to verify: voucher ID or asset ID (or --bundle FILE --trusted-head HASH)", args.json)
    try:
        subject_id = parse_id(args.id)
    except ValueError as exc:
        return _error(str(exc), args.json)
    if args.block is not None and args.block < 0:
        return _error(f"--block {args.block}: not a block number", args.json)
    from gateway.indexer.rpc import NodeUnavailable, RpcError
    from gateway.verify.bundle import build_bundle, write_bundle
    from gateway.verify.core import Node, VerifyError, load_contracts, verify_history
    from gateway.verify.receipts import EncodingError
    from gateway.verify.sources import HttpSource, SourceError, SqlSource

    source: Any = None
    node = Node(args.rpc)
    try:
        if args.gateway:
            source = HttpSource(args.gateway, token=args.token)
        elif args.database_url:
            source = SqlSource(args.database_url)
        chain_id = int(node.call("eth_chainId", []), 16)
        contracts = load_contracts(args.state_dir, chain_id)
        if args.block is not None:
            head = int(node.call("eth_blockNumber", []), 16)
            if args.block > head:
                return _error(f"--block {args.block} is past the node's head {head}", args.json)
        verdict = verify_history(node, args.kind, subject_id, source=source, contracts=contracts,
                                 state_dir=args.state_dir, chain_id=args.chain_id, ipfs=args.ipfs,
                                 manifests=not args.no_manifests, max_range=args.max_range, block=args.block)
        out = verdict.to_dict()
        if source is None:
            out["note"] = "no gateway given: the chain-side history alone was verified"
        if args.export:
            bundle = build_bundle(node, args.kind, subject_id, contracts, ipfs=args.ipfs, state_dir=args.state_dir,
                                  to_block=verdict.block)
            path = write_bundle(bundle, args.export)
            out["bundle"] = {"path": str(path), "head": bundle["head"], "headers": len(bundle["headers"]),
                             "blocks": len(bundle["blocks"])}
    except (VerifyError, SourceError, NodeUnavailable, RpcError, EncodingError, OSError) as exc:
        return _error(str(exc), args.json)
    finally:
        node.close()
        if source is not None:
            source.close()
    if args.json:
        _print_json(out)
    else:
        _render(out)
        if source is None:
            print("(no --gateway: the chain-side history alone was verified)")
        if "bundle" in out:
            print(f"proof bundle written to {out['bundle']['path']} (trusted head {out['bundle']['head']['hash']})")
    return verdict.exit_code


def _offline(args: argparse.Namespace) -> int:
    from gateway.verify.bundle import load_bundle, verify_bundle

    from gateway.verify.qbft import QbftError, load_validators

    if not args.trusted_head and not args.validators:
        return _error("--bundle needs --trusted-head HASH (the block hash you trust) "
                      "or --validators FILE (the QBFT validator set)", args.json)
    validators = None
    if args.validators:
        try:
            validators = load_validators(args.validators)
        except (OSError, UnicodeDecodeError, QbftError) as exc:
            return _error(f"cannot read the validator set {args.validators}: {exc}", args.json)
    try:
        data = Path(args.bundle).read_bytes()
    except OSError as exc:
        return _error(f"cannot read {args.bundle}: {exc}", args.json)
    expected = None
    try:
        chain_id = load_bundle(data).get("chain_id")
        expected = _expected_contracts(args.state_dir, chain_id)
    except Exception:  # noqa: BLE001 - verify_bundle reports the same failure
        pass
    result = verify_bundle(data, args.trusted_head, expected, validators=validators)
    if expected is None:
        result["note"] = "contract addresses proven by their deployment transactions (no local deployment record)"
    if args.json:
        _print_json(result)
    else:
        _render(result, offline=True)
    return 0 if result["ok"] else 1
