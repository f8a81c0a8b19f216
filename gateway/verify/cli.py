"""The body of ``dataledger verify``: :func:`verify_command` takes typed :class:`VerifyOptions` (the
typer command in dataledger/cli/ builds them; ``python -m gateway.verify`` and :func:`main` run that
same command).

    dataledger verify voucher 5 [--gateway URL | --database-url URL] [--export FILE] [--json]
    dataledger verify asset 2 --rpc URL --gateway http://127.0.0.1:8000
    dataledger verify participant 0xACCOUNT [--gateway URL | --database-url URL]
    dataledger verify --bundle FILE --trusted-head 0xHASH           (offline: no RPC)
    dataledger verify --bundle FILE --validators genesis.json       (offline, Besu QBFT: head's seals)
    dataledger verify voucher 3 --rpc URL --gateway URL             (any folder: the gateway's
                                   /v1/contracts is checked against the chain, gateway.verify.deployment)
    dataledger verify voucher 3 --rpc URL --deployment FILE         (a deployment record you hold)

Exit codes (:data:`gateway.verify.results.EXIT_CODES`, docs/verify.md):

    0  verified: every served event and state field equals the chain at the verified block
    1  mismatch: a difference (named: subject + field) or a failed proof / bundle
    2  could not run: node or gateway unreachable, no deployment record, bad arguments
       (an id outside uint256 included)
    3  unknown: no such voucher / asset / participant on chain at the verified block (and the gateway serves none)
    4  gateway behind: it has not indexed up to the verified block and the subject has events in
       between ("events after block B not yet served"); what it serves up to its height matches
       (behind by empty blocks only: verified, with a note giving the gateway's height)
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional


@dataclass
class VerifyOptions:
    """What ``dataledger verify`` was asked (see ``dataledger verify --help``)."""

    kind: Optional[str] = None
    id: Optional[str] = None
    rpc: str = "http://127.0.0.1:8545"
    state_dir: str = ".dataledger"
    chain_id: Optional[int] = None
    gateway: Optional[str] = None
    token: Optional[str] = None
    database_url: Optional[str] = None
    deployment: Optional[str] = None
    ipfs: Optional[str] = None
    no_manifests: bool = False
    block: Optional[int] = None
    max_range: int = 0
    export: Optional[str] = None
    bundle: Optional[str] = None
    trusted_head: Optional[str] = None
    validators: Optional[str] = None
    json: bool = False


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


def _expected_contracts(deployment: Optional[str], state_dir: str, chain_id: Any) -> Optional[dict[str, str]]:
    """The addresses a bundle must use: ``--deployment FILE``, else the record in ``state_dir``."""
    from ledger.deployment import Deployment
    from ledger.errors import LedgerError

    try:
        found = Deployment.from_file(deployment) if deployment else Deployment.from_state_dir(state_dir, int(chain_id))
    except (LedgerError, TypeError, ValueError):
        return None
    return None if found is None else found.addresses()


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
    """``python -m gateway.verify ARGS``: runs ``dataledger verify ARGS`` (one command line parser);
    returns the exit code."""
    from dataledger.cli import run

    return run(["verify", *(sys.argv[1:] if argv is None else argv)])


def _gateway_fetcher(gateway: str) -> Any:
    """``cid -> bytes`` from the gateway's ``GET /v1/manifests/{cid}``: safe to use, since
    :func:`gateway.verify.manifests.check_manifest` re-hashes the bytes to the CID and the contentHash."""
    import httpx

    base = gateway.rstrip("/")

    def fetch(cid: str) -> bytes:
        response = httpx.get(f"{base}/v1/manifests/{cid}", timeout=30)
        if response.status_code != 200:
            raise LookupError(f"gateway answered HTTP {response.status_code} for manifest {cid}")
        return response.content

    return fetch


def verify_command(opts: VerifyOptions) -> int:
    """Run one verification (or, with ``bundle``, an offline bundle check); returns the exit code."""
    if opts.bundle:
        return _offline(opts)
    if opts.kind is None or opts.id is None:
        return _error("say what to verify: voucher ID, asset ID or participant ADDRESS "
                      "(or --bundle FILE --trusted-head HASH)", opts.json)
    if opts.kind not in ("voucher", "asset", "participant"):
        return _error(f"cannot verify a {opts.kind!r}: voucher ID, asset ID or participant ADDRESS", opts.json)
    if opts.kind == "participant":
        return _participant(opts)
    try:
        subject_id = parse_id(opts.id)
    except ValueError as exc:
        return _error(str(exc), opts.json)
    if opts.block is not None and opts.block < 0:
        return _error(f"--block {opts.block}: not a block number", opts.json)
    from gateway.verify.bundle import build_bundle, write_bundle
    from gateway.verify.core import verify_history
    from gateway.verify.node import Node
    from gateway.verify.receipts import EncodingError
    from gateway.verify.results import VerifyError
    from gateway.verify.sources import SourceError
    from ledger.rpc import NodeUnavailable, RpcError
    from ledger.settings import Settings

    source: Any = None
    node = Node(opts.rpc)
    try:
        try:
            source, block, deployment = _open(opts, node)
        except _Exit as stop:
            return stop.code
        contracts = deployment.contracts
        fetch = None
        if (opts.gateway and not opts.ipfs and not Settings().IPFS_API
                and not (Path(opts.state_dir) / "ipfs").is_dir()):
            fetch = _gateway_fetcher(opts.gateway)  # no IPFS of our own: the gateway's bytes, re-hashed
        verdict = verify_history(node, opts.kind, subject_id, source=source, contracts=contracts,
                                 state_dir=opts.state_dir, chain_id=opts.chain_id, ipfs=opts.ipfs, fetch=fetch,
                                 manifests=not opts.no_manifests, max_range=opts.max_range, block=block)
        out = _with_deployment(verdict.to_dict(), deployment, source)
        if fetch is not None and opts.gateway:
            out["manifest_source"] = f"{opts.gateway.rstrip('/')}/v1/manifests (bytes re-hashed to the CID)"
        if opts.export:
            bundle = build_bundle(node, opts.kind, subject_id, contracts, ipfs=opts.ipfs, state_dir=opts.state_dir,
                                  to_block=verdict.block)
            path = write_bundle(bundle, opts.export)
            out["bundle"] = {"path": str(path), "head": bundle["head"], "headers": len(bundle["headers"]),
                             "blocks": len(bundle["blocks"])}
    except (VerifyError, SourceError, NodeUnavailable, RpcError, EncodingError, OSError) as exc:
        return _error(str(exc), opts.json)
    finally:
        node.close()
        if source is not None:
            source.close()
    if opts.json:
        _print_json(out)
    else:
        _render_with_deployment(out, deployment, source)
        if "bundle" in out:
            print(f"proof bundle written to {out['bundle']['path']} (trusted head {out['bundle']['head']['hash']})")
    return verdict.exit_code



def _with_deployment(out: dict[str, Any], deployment: Any, source: Any) -> dict[str, Any]:
    """The verdict JSON with the contracts it was checked against (and a note without a gateway)."""
    out["deployment"] = deployment.to_dict()
    if deployment.notes:
        out["notes"] = [*(out.get("notes") or []), *deployment.notes]
    if source is None:
        out["note"] = "no gateway given: the chain-side history alone was verified"
    return out


def _render_with_deployment(out: dict[str, Any], deployment: Any, source: Any) -> None:
    _render(out)
    print(f"contracts: {deployment.source} {deployment.where}"
          + (f" (checked against the chain: {'; '.join(deployment.checks)})" if deployment.source == "gateway"
             else ""))
    if source is None:
        print("(no --gateway: the chain-side history alone was verified)")


class _Exit(Exception):
    """A refusal already printed; the process exits with ``code``."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _open(opts: VerifyOptions, node: Any) -> tuple[Any, int, Any]:
    """What every online check starts with: the gateway or database source, the verified block (the
    node's head or ``--block``, never the gateway's height) and the contracts (a local record, a file,
    or the gateway's ``/v1/contracts`` checked against the chain). Refusals are printed and raised as
    :class:`_Exit`; the source is closed on any failure here."""
    from gateway.verify.deployment import DeploymentRejected, DeploymentUnavailable, resolve_contracts
    from gateway.verify.sources import HttpSource, SqlSource

    source: Any = None
    try:
        if opts.gateway:
            source = HttpSource(opts.gateway, token=opts.token)
        elif opts.database_url:
            source = SqlSource(opts.database_url)
        chain_id = int(node.call("eth_chainId", []), 16)
        if opts.chain_id is not None and chain_id != opts.chain_id:
            raise _Exit(_error(f"the node is chain {chain_id}, expected {opts.chain_id}", opts.json))
        head = int(node.call("eth_blockNumber", []), 16)
        if opts.block is not None and opts.block > head:
            raise _Exit(_error(f"--block {opts.block} is past the node's head {head}", opts.json))
        block = head if opts.block is None else opts.block
        try:
            deployment = resolve_contracts(node, chain_id, block, state_dir=opts.state_dir,
                                           deployment_file=opts.deployment, gateway=opts.gateway)
        except DeploymentUnavailable as exc:
            raise _Exit(_error(str(exc), opts.json)) from None
        except DeploymentRejected as exc:
            raise _Exit(_mismatch(f"the gateway's deployment does not match the chain: {exc}", opts.json)) from None
    except BaseException:
        if source is not None:
            source.close()
        raise
    return source, block, deployment

def _participant(opts: VerifyOptions) -> int:
    """``dataledger verify participant ADDRESS``: gateway.verify.participant (no proof bundle)."""
    assert opts.id is not None
    from gateway.verify.selection import check_account

    try:
        account = check_account(opts.id)
    except ValueError as exc:
        return _error(str(exc), opts.json)
    if opts.block is not None and opts.block < 0:
        return _error(f"--block {opts.block}: not a block number", opts.json)
    if opts.export:
        return _error("--export: proof bundles cover vouchers and assets, not participants", opts.json)
    from gateway.verify.node import Node
    from gateway.verify.participant import verify_participant
    from gateway.verify.receipts import EncodingError
    from gateway.verify.results import VerifyError
    from gateway.verify.sources import SourceError
    from ledger.rpc import NodeUnavailable, RpcError

    source: Any = None
    node = Node(opts.rpc)
    try:
        try:
            source, block, deployment = _open(opts, node)
        except _Exit as stop:
            return stop.code
        verdict = verify_participant(node, account, source=source, contracts=deployment.contracts,
                                     max_range=opts.max_range, block=block)
        out = _with_deployment(verdict.to_dict(), deployment, source)
    except (VerifyError, SourceError, NodeUnavailable, RpcError, EncodingError, OSError) as exc:
        return _error(str(exc), opts.json)
    finally:
        node.close()
        if source is not None:
            source.close()
    if opts.json:
        _print_json(out)
    else:
        _render_with_deployment(out, deployment, source)
    return verdict.exit_code


def _mismatch(message: str, as_json: bool) -> int:
    if as_json:
        _print_json({"ok": False, "verdict": "mismatch", "error": message})
    else:
        sys.stderr.write(f"error: {message}\n")
    return 1


def _offline(args: VerifyOptions) -> int:
    assert args.bundle is not None
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
        expected = _expected_contracts(args.deployment, args.state_dir, chain_id)
    except Exception:  # verify_bundle reports the same failure
        pass
    result = verify_bundle(data, args.trusted_head, expected, validators=validators)
    if expected is None:
        result["note"] = "contract addresses proven by their deployment transactions (no local deployment record)"
    if args.json:
        _print_json(result)
    else:
        _render(result, offline=True)
    return 0 if result["ok"] else 1
