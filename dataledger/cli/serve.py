"""`dataledger stats` (statistics from the index) and `dataledger serve` (the gateway)."""

from __future__ import annotations

from typing import Any, Optional

import typer

from dataledger.cli.context import JsonFlag, cli, emit, handled
from ledger.errors import InvalidInput

commands = typer.Typer()

@commands.command("stats")
@handled
def stats(
    ctx: typer.Context,
    database_url: Optional[str] = typer.Option(
        None, "--database-url", help="The index (default: DATABASE_URL, else sqlite:///<state-dir>/gateway.db)."),
    period: str = typer.Option("month", "--period", help="day | month"),
    since: Optional[int] = typer.Option(None, "--since", help="Unix seconds."),
    until: Optional[int] = typer.Option(None, "--until", help="Unix seconds."),
    json_out: bool = typer.Option(False, "--json", help="JSON on stdout."),
) -> None:
    """Market statistics (统计核算) from the SQL index: totals, per period, level, source type,
    jurisdiction and cross-border flows. Exit code 2 when there is no index yet."""
    from gateway.stats import stats_command

    if period not in ("day", "month"):
        raise InvalidInput(f"--period {period!r}: day or month")
    code = stats_command(cli(ctx).database_url(database_url), period, since, until, json_out or cli(ctx).json)
    if code:
        raise typer.Exit(code)


@commands.command("serve")
@handled
def serve(
    ctx: typer.Context,
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: Optional[int] = typer.Option(None, "--port", help="TCP port (default: GATEWAY_PORT, else 8000)."),
    database_url: Optional[str] = typer.Option(
        None, "--database-url", help="The index (default: DATABASE_URL, else sqlite:///<state-dir>/gateway.db)."),
    ipfs: Optional[str] = typer.Option(None, "--ipfs", help="Kubo RPC API URL (default: IPFS_API, else the "
                                                            "embedded store <state-dir>/ipfs)."),
    json_out: bool = JsonFlag,
) -> None:
    """Run the gateway (API, pages, relay) on the chain at --rpc, the deployment record in --state-dir
    and the index at --database-url; run `dataledger index --follow` beside it to keep the index current."""
    import uvicorn

    from gateway.core.config import Settings
    from gateway.main import create_app

    opts = cli(ctx)
    state = opts.state_dir.resolve()
    values: dict[str, Any] = {"RPC_URL": opts.rpc, "STATE_DIR": state, "DATABASE_URL": opts.database_url(database_url),
                              "IPFS_API": ipfs or opts.settings.IPFS_API}
    if opts.settings.IPFS_STORE_DIR is None:
        values["IPFS_STORE_DIR"] = state / "ipfs"
    if opts.chain_id is not None:
        values["CHAIN_ID"] = opts.chain_id
    application = create_app(Settings(**values))
    listen = port if port is not None else opts.settings.GATEWAY_PORT
    if json_out or opts.json:
        emit(ctx, True, {"serving": f"http://{host}:{listen}"})
    uvicorn.run(application, host=host, port=listen)
