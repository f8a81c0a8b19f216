"""`dataledger token`: the payment token (dCNY stand-in)."""

from __future__ import annotations

from typing import Optional

import typer

from dataledger.cli.context import JsonFlag, cli, emit, handled, tx

app = typer.Typer(help="The payment token (dCNY stand-in).", no_args_is_help=True)

@app.command("mint")
@handled
def token_mint(ctx: typer.Context,
               to: str = typer.Argument(...), amount: int = typer.Argument(...), json_out: bool = JsonFlag) -> None:
    """Mint payment tokens (admin or authority)."""
    tx(ctx, json_out, cli(ctx).ledger().token.mint(to, amount), f"minted {amount} to {to}")


@app.command("approve")
@handled
def approve(ctx: typer.Context,
            amount: str = typer.Argument("max"), spender: Optional[str] = typer.Option(None, "--spender"),
                  json_out: bool = JsonFlag) -> None:
    """Approve the settlement contract (or --spender) to spend your tokens."""
    led = cli(ctx).ledger()
    value = 2**256 - 1 if amount == "max" else int(amount)
    target = spender or led.address_of("TradeSettlement")
    tx(ctx, json_out, led.token.approve(target, value), f"{target} approved for {amount}")


@app.command("balance")
@handled
def token_balance(ctx: typer.Context, address: str = typer.Argument(...), json_out: bool = JsonFlag) -> None:
    """Balance of an account."""
    bal = cli(ctx).ledger(need_account=False).token.balance_of(address)
    emit(ctx, json_out, {"address": address, "balance": bal}, f"{bal / 100:.2f} dCNY ({bal})")
