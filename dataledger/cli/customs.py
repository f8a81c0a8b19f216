"""`dataledger customs`: cross-border clearances (数据海关)."""

from __future__ import annotations

from typing import Optional

import typer

from dataledger.cli.context import JsonFlag, cli, emit, handled, tx, when

app = typer.Typer(help="Cross-border clearances (数据海关).", no_args_is_help=True)

@app.command("request")
@handled
def customs_request(
    ctx: typer.Context,
    asset_id: int = typer.Argument(...),
    destination: str = typer.Option(..., "--destination", "-d"),
    purpose: str = typer.Option(..., "--purpose", help="Purpose file / text (added to IPFS) or CID."),
    recipient: Optional[str] = typer.Option(None, "--recipient", help="Default: anyone in the destination."),
    json_out: bool = JsonFlag,
) -> None:
    """Request a cross-border clearance."""
    led = cli(ctx).ledger()
    from ledger.contracts.base import checksum
    from ledger.contracts.models import jurisdiction

    jurisdiction(destination)
    if recipient:
        checksum(recipient, "recipient")
    result = led.customs.request(asset_id, destination, cli(ctx).cid_or_store(purpose, "purpose"), recipient)
    tx(ctx, json_out, result, f"clearance {result.value} requested")


@app.command("approve")
@handled
def approve(ctx: typer.Context, clearance_id: int = typer.Argument(...),
                    expiry: str = typer.Option("+90d", "--expiry"),
                    conditions: Optional[str] = typer.Option(None, "--conditions"),
                    json_out: bool = JsonFlag) -> None:
    """Approve a clearance until --expiry (customs)."""
    led = cli(ctx).ledger()
    led.customs.clearance(clearance_id)
    cid = cli(ctx).cid_or_store(conditions, "conditions") if conditions else ""
    tx(ctx, json_out, led.customs.approve(clearance_id, when(expiry, 0), cid), f"clearance {clearance_id} approved")


@app.command("reject")
@handled
def customs_reject(ctx: typer.Context, clearance_id: int = typer.Argument(...), reason: str = typer.Option(..., "--reason"),
                   json_out: bool = JsonFlag) -> None:
    """Reject a clearance (customs)."""
    tx(ctx, json_out, cli(ctx).ledger().customs.reject(clearance_id, reason), f"clearance {clearance_id} rejected")


@app.command("revoke")
@handled
def customs_revoke(ctx: typer.Context, clearance_id: int = typer.Argument(...), reason: str = typer.Option(..., "--reason"),
                   json_out: bool = JsonFlag) -> None:
    """Revoke an approved clearance (customs or regulator)."""
    tx(ctx, json_out, cli(ctx).ledger().customs.revoke(clearance_id, reason), f"clearance {clearance_id} revoked")


@app.command("show")
@handled
def customs_show(ctx: typer.Context, clearance_id: int = typer.Argument(...), json_out: bool = JsonFlag) -> None:
    """Show a clearance."""
    emit(ctx, json_out, cli(ctx).ledger(need_account=False).customs.clearance(clearance_id).to_dict())
