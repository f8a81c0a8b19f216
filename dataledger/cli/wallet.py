"""`dataledger wallet`: eth-account V3 keystores."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from dataledger.cli.context import JsonFlag, cli, emit, handled
from ledger.errors import InvalidInput

app = typer.Typer(help="eth-account V3 keystores.", no_args_is_help=True)

@app.command("create")
@handled
def wallet_create(ctx: typer.Context,
                  name: str = typer.Argument(..., help="Wallet name."), json_out: bool = JsonFlag) -> None:
    """Create a new random key in an encrypted keystore."""
    entry = cli(ctx).keystore().create(name, cli(ctx).password(confirm=True))
    emit(ctx, json_out, entry.to_dict(), f"created {entry.name} {entry.address} ({entry.file})")


@app.command("import")
@handled
def wallet_import(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="Wallet name."),
    key_env: str = typer.Option("DATALEDGER_PRIVATE_KEY", "--key-env", help="Env var holding the private key."),
    key_file: Optional[Path] = typer.Option(None, "--key-file", help="File holding the hex private key."),
    json_out: bool = JsonFlag,
) -> None:
    """Import a private key (from --key-file, the environment, or a prompt) into a keystore."""
    from ledger.settings import env_value

    if key_file is not None:
        key = key_file.read_text().strip()
    elif env_value(key_env):
        key = str(env_value(key_env)).strip()
    elif sys.stdin.isatty():
        key = str(typer.prompt("private key", hide_input=True))
    else:
        raise InvalidInput(f"no private key: use --key-file or set {key_env}")
    entry = cli(ctx).keystore().import_key(name, key, cli(ctx).password(confirm=True))
    emit(ctx, json_out, entry.to_dict(), f"imported {entry.name} {entry.address} ({entry.file})")


@app.command("list")
@handled
def wallet_list(ctx: typer.Context, json_out: bool = JsonFlag) -> None:
    """List keystores (name, address, file)."""
    entries = cli(ctx).keystore().list()
    table = Table("name", "address", "file")
    for e in entries:
        table.add_row(e.name, e.address, str(e.file))
    emit(ctx, json_out, [e.to_dict() for e in entries], table)
