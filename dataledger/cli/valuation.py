"""`dataledger valuation`: asset valuations (资产评估)."""

from __future__ import annotations

import typer

from dataledger.cli.context import JsonFlag, cli, handled, tx
from ledger.errors import InvalidInput

app = typer.Typer(help="Asset valuations (资产评估).", no_args_is_help=True)

@app.command("add")
@handled
def valuation_add(
    ctx: typer.Context,
    asset_id: int = typer.Argument(...),
    amount: int = typer.Option(..., "--amount", help="In the currency's minor units."),
    currency: str = typer.Option("CNY", "--currency"),
    method: str = typer.Option(..., "--method", help="income | cost | market | ..."),
    report: str = typer.Option(..., "--report", help="Report file (added to IPFS) or its CID."),
    json_out: bool = JsonFlag,
) -> None:
    """Record a valuation of an asset (licensed appraiser)."""
    led = cli(ctx).ledger()
    if amount <= 0:
        raise InvalidInput("--amount must be positive")
    result = led.assets.record_valuation(asset_id, amount, currency, method, cli(ctx).cid_or_store(report, "report"))
    tx(ctx, json_out, result, f"valuation {result.value} of asset {asset_id} recorded")
