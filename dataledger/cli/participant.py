"""`dataledger participant`: organisations and their accounts."""

from __future__ import annotations

import typer

from dataledger.cli.context import JsonFlag, cli, emit, handled, tx, when

app = typer.Typer(help="Organisations and their accounts.", no_args_is_help=True)

@app.command("register-org")
@handled
def participant_register_org(
    ctx: typer.Context,
    code: str = typer.Argument(..., help="Unified social credit code (or 0x org id)."),
    jurisdiction: str = typer.Option(..., "--jurisdiction", "-j", help="CN, HK, MO or ISO-3166 alpha-2."),
    roles: str = typer.Option(..., "--roles", help="Allowed roles, e.g. holder,exchange."),
    officer: str = typer.Option(..., "--officer", help="Chief data officer address."),
    json_out: bool = JsonFlag,
) -> None:
    """Register an organisation (registrar / data authority)."""
    result = cli(ctx).ledger().participants.register_organisation(code, jurisdiction, roles, officer)
    tx(ctx, json_out, result, f"organisation {code} registered")


@app.command("register-account")
@handled
def participant_register_account(
    ctx: typer.Context,
    code: str = typer.Argument(..., help="The organisation's credit code (or 0x org id)."),
    address: str = typer.Argument(..., help="Account to add."),
    roles: str = typer.Option(..., "--roles", help="Roles, e.g. holder."),
    json_out: bool = JsonFlag,
) -> None:
    """Add an account to an organisation (its chief data officer)."""
    result = cli(ctx).ledger().participants.add_account(code, address, roles)
    tx(ctx, json_out, result, f"account {address} added to {code}")


@app.command("licence")
@handled
def participant_licence(
    ctx: typer.Context,
    address: str = typer.Argument(...),
    expiry: str = typer.Option("+365d", "--expiry", help="Unix seconds, +365d, or ISO date; 0 withdraws."),
    json_out: bool = JsonFlag,
) -> None:
    """Set an account's licence expiry (registrar)."""
    led = cli(ctx).ledger()
    until = 0 if expiry == "0" else when(expiry, 0)
    tx(ctx, json_out, led.participants.set_licence_expiry(address, until), f"licence of {address} until {until}")


@app.command("licensed-roles")
@handled
def participant_licensed_roles(
    ctx: typer.Context,
    address: str = typer.Argument(...),
    roles: str = typer.Option(..., "--roles", help="The licensed roles it keeps, e.g. broker; 'none' drops them."),
    expiry: str = typer.Option("+365d", "--expiry", help="Licence expiry: unix seconds, +365d, ISO date; 0."),
    json_out: bool = JsonFlag,
) -> None:
    """Grant or drop an account's licensed roles with their licence (registrar only)."""
    led = cli(ctx).ledger()
    bits = 0 if roles.strip().lower() == "none" else roles
    until = 0 if expiry == "0" or bits == 0 else when(expiry, 0)
    tx(ctx, json_out, led.participants.set_licensed_roles(address, bits, until),
        f"licensed roles of {address} set to {roles} until {until}")


@app.command("suspend")
@handled
def participant_suspend(ctx: typer.Context,
                        address: str = typer.Argument(...), reason: str = typer.Option(..., "--reason"),
                        json_out: bool = JsonFlag) -> None:
    """Suspend an account (registrar)."""
    tx(ctx, json_out, cli(ctx).ledger().participants.suspend_account(address, reason), f"{address} suspended")


@app.command("reinstate")
@handled
def participant_reinstate(ctx: typer.Context,
                          address: str = typer.Argument(...), reason: str = typer.Option(..., "--reason"),
                          json_out: bool = JsonFlag) -> None:
    """Reinstate a suspended account (registrar)."""
    tx(ctx, json_out, cli(ctx).ledger().participants.reinstate_account(address, reason), f"{address} reinstated")


@app.command("show")
@handled
def participant_show(ctx: typer.Context, address: str = typer.Argument(...), json_out: bool = JsonFlag) -> None:
    """Show a participant (status none when unregistered)."""
    p = cli(ctx).ledger(need_account=False).participants.participant(address)
    emit(ctx, json_out, p.to_dict())
