"""``dataledger``: the command line of the data element market ledger (typer + rich).

Global options (before the command) override the settings (:class:`ledger.settings.Settings`, read
from the environment): ``--rpc`` (RPC_URL, default http://127.0.0.1:8545), ``--chain-id`` (CHAIN_ID,
checked on connect), ``--state-dir`` (STATE_DIR, default ./.dataledger), ``--account`` (a keystore
name or address; DATALEDGER_ACCOUNT), ``--keystore`` (DATALEDGER_KEYSTORE_DIR), ``--gateway``
(DATALEDGER_GATEWAY) and ``--deployment`` (DATALEDGER_DEPLOYMENT). A key may also come from
DATALEDGER_PRIVATE_KEY. Every command takes ``--json`` for machine-readable output. On failure: ONE
line on stderr, exit code 1.

One module per command group (wallet, participant, asset, valuation, voucher, customs, order/trade,
token, manifest; market: deploy/seed-demo/status; index; verify; serve: stats/serve); the invocation's
state is the :class:`~dataledger.cli.context.CliContext` in ``ctx.obj``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dataledger.cli import (
    asset,
    customs,
    index,
    manifest,
    market,
    participant,
    serve,
    token,
    trade,
    valuation,
    verify,
    voucher,
    wallet,
)
from dataledger.cli.context import CliContext, Options

app = typer.Typer(
    name="dataledger",
    help="Ledger of the data element market: wallets, participants, assets, vouchers, customs, trades.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
for _sub, _name in (
    (wallet.app, "wallet"), (participant.app, "participant"), (asset.app, "asset"),
    (valuation.app, "valuation"), (voucher.app, "voucher"), (customs.app, "customs"),
    (trade.order_app, "order"), (trade.trade_app, "trade"), (token.app, "token"), (manifest.app, "manifest"),
):
    app.add_typer(_sub, name=_name)
for _commands in (market.commands, index.commands, verify.commands, serve.commands):
    app.registered_commands.extend(_commands.registered_commands)


@app.callback()
def _global(
    ctx: typer.Context,
    rpc: Optional[str] = typer.Option(None, "--rpc", help="JSON-RPC endpoint (default: RPC_URL, else "
                                                          "http://127.0.0.1:8545)."),
    chain_id: Optional[int] = typer.Option(None, "--chain-id", help="Expected chain id (default: CHAIN_ID)."),
    state_dir: Optional[Path] = typer.Option(None, "--state-dir", help="State directory: deployments, ipfs "
                                                                      "(default: STATE_DIR, else ./.dataledger)."),
    account: Optional[str] = typer.Option(None, "--account", help="Keystore name or address to act as "
                                                                  "(default: DATALEDGER_ACCOUNT)."),
    keystore: Optional[Path] = typer.Option(None, "--keystore", help="Keystore directory (default: "
                                                                     "DATALEDGER_KEYSTORE_DIR, else "
                                                                     "~/.dataledger/keystores)."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output for every command."),
    gateway: Optional[str] = typer.Option(
        None, "--gateway",
        help="Gateway URL: without a local deployment record, its GET /v1/contracts is used once checked "
             "against the chain (code and wiring of every contract). Default: DATALEDGER_GATEWAY."),
    deployment: Optional[Path] = typer.Option(
        None, "--deployment",
        help="Deployment record file to use instead of <state-dir>/deployments/<chainId>.json "
             "(default: DATALEDGER_DEPLOYMENT)."),
) -> None:
    ctx.obj = CliContext(Options(rpc, chain_id, state_dir, account, keystore, json_out, gateway, deployment))


def run(args: list[str]) -> int:
    """Run ``dataledger ARGS`` in this process and return its exit code (``python -m gateway.verify``,
    ``python -m gateway.indexer`` and ``python -m gateway.stats`` use it)."""
    command = typer.main.get_command(app)
    try:
        command.main(args=args, prog_name="dataledger", standalone_mode=True)
    except SystemExit as exc:  # standalone mode: usage errors (2), typer.Exit(code), --help (0)
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


def main() -> None:
    """Console-script entry (``dataledger``)."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
