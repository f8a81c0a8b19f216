"""`dataledger verify`: a history re-checked against the chain, or a proof bundle offline."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dataledger.cli.context import cli, err_console, handled

commands = typer.Typer()

@commands.command("verify", context_settings={"ignore_unknown_options": True})
@handled
def verify(
    ctx: typer.Context,
    kind: Optional[str] = typer.Argument(None, metavar="voucher|asset|participant", help="What to verify."),
    subject_id: Optional[str] = typer.Argument(None, metavar="ID", help="Its uint256 id (decimal); a "
                                                                        "participant's account address."),
    rpc: Optional[str] = typer.Option(None, "--rpc", help="JSON-RPC endpoint of a node you trust (default: the "
                                                         "global --rpc)."),
    gateway: Optional[str] = typer.Option(None, "--gateway", help="Gateway base URL whose provenance API is "
                                                                  "checked (default: the global --gateway)."),
    token: Optional[str] = typer.Option(None, "--token", help="Bearer token of a signed-in caller (regulators "
                                                              "see every use); default anonymous."),
    database_url: Optional[str] = typer.Option(None, "--database-url",
                                               help="Check the gateway's database directly instead."),
    deployment: Optional[Path] = typer.Option(
        None, "--deployment", metavar="FILE",
        help="Deployment record to verify against (offline use); default <state-dir>/deployments/<chainId>.json, "
             "else the gateway's /v1/contracts checked against the chain."),
    ipfs: Optional[str] = typer.Option(None, "--ipfs", help="Kubo RPC API URL (default IPFS_API, else "
                                                            "<state-dir>/ipfs, else the gateway's manifests)."),
    no_manifests: bool = typer.Option(False, "--no-manifests", help="Skip the IPFS manifest check."),
    block: Optional[int] = typer.Option(None, "--block", help="Verify at this block (default: the node's head; "
                                                              "never the gateway's height)."),
    max_range: int = typer.Option(0, "--max-range", min=0, help="Largest eth_getLogs block range (0: unbounded)."),
    export: Optional[Path] = typer.Option(None, "--export", metavar="FILE",
                                          help="Write a proof bundle of the history."),
    bundle: Optional[Path] = typer.Option(None, "--bundle", metavar="FILE", help="Check a proof bundle offline."),
    trusted_head: Optional[str] = typer.Option(None, "--trusted-head", metavar="HASH",
                                               help="Block hash the bundle must end at."),
    validators: Optional[Path] = typer.Option(
        None, "--validators", metavar="FILE",
        help="QBFT validator set (Besu genesis, JSON list or one address per line): the bundle's head must "
             "carry a quorum of their commit seals."),
    state_dir: Optional[Path] = typer.Option(None, "--state-dir", help="Default: the global --state-dir."),
    json_out: bool = typer.Option(False, "--json", help="JSON verdict on stdout."),
) -> None:
    """Rebuild a voucher's, an asset's or a participant's history from the chain and check what the
    gateway serves; or check a proof bundle offline.

    Exit codes: 0 verified, 1 mismatch (named), 2 could not run (node or gateway unreachable, no
    deployment, bad arguments), 3 unknown id / account, 4 gateway behind the verified block.
    """
    from gateway.verify.cli import VerifyOptions, verify_command

    for token in (kind, subject_id):  # an unknown option taken as a positional (see context_settings)
        if token and token.startswith("-") and not token[1:].isdigit():
            err_console.print(f"error: no such option: {token} (see dataledger verify --help)", markup=False)
            raise typer.Exit(2)
    opts = cli(ctx)
    code = verify_command(VerifyOptions(
        kind=kind, id=subject_id, rpc=rpc or opts.rpc, state_dir=str(state_dir or opts.state_dir),
        chain_id=opts.chain_id, gateway=gateway or opts.gateway, token=token, database_url=database_url,
        deployment=str(deployment or opts.deployment or "") or None, ipfs=ipfs, no_manifests=no_manifests,
        block=block, max_range=max_range, export=str(export) if export else None,
        bundle=str(bundle) if bundle else None, trusted_head=trusted_head,
        validators=str(validators) if validators else None, json=json_out or opts.json))
    raise typer.Exit(code)
