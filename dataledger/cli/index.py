"""`dataledger index`: contract events into SQL."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dataledger.cli.context import cli, console, handled
from ledger.errors import LedgerError

commands = typer.Typer()

@commands.command("index")
@handled
def index(
    ctx: typer.Context,
    rpc: Optional[str] = typer.Option(None, "--rpc", "--rpc-url", help="JSON-RPC endpoint (default: the global --rpc)."),
    database_url: Optional[str] = typer.Option(
        None, "--database-url", help="SQLAlchemy URL (default: DATABASE_URL, else sqlite:///<state-dir>/gateway.db)."),
    follow: bool = typer.Option(False, "--follow", help="Keep following the head until Ctrl-C / SIGTERM."),
    confirmations: int = typer.Option(0, "--confirmations", min=0, help="Stay this many blocks behind the head."),
    max_range: int = typer.Option(1000, "--max-range", min=1, help="Largest eth_getLogs block range."),
    initial_range: int = typer.Option(10, "--initial-range", min=1, help="First eth_getLogs block range."),
    target_events: Optional[int] = typer.Option(
        None, "--target-events", min=1,
        help="Events per request the adaptive range aims at (default 5,000 on PostgreSQL, 4,000 on SQLite; "
             "memory grows with it: peak RSS at 10^6 events ~235 MiB at 5,000 on PostgreSQL, ~270 MiB at "
             "4,000 on SQLite, ~450 MiB at 20,000)."),
    until_block: Optional[int] = typer.Option(None, "--until-block", min=0, help="Stop after this block."),
    no_wait: bool = typer.Option(False, "--no-wait", help="Exit with code 3 when another indexer holds the lock."),
    dump: Optional[Path] = typer.Option(None, "--dump", metavar="PATH",
                                        help="Write the canonical dump of the database to PATH, print its sha256."),
    state_dir: Optional[Path] = typer.Option(None, "--state-dir", help="Default: the global --state-dir."),
    json_out: bool = typer.Option(False, "--json", help="JSON lines (progress, then a summary) instead of a bar."),
    ipfs: Optional[str] = typer.Option(None, "--ipfs",
                                       help="Kubo RPC API URL the documents (profiles, manifests, purposes) are "
                                            "fetched from (default: IPFS_API, else the embedded store "
                                            "<state-dir>/ipfs)."),
    no_documents: bool = typer.Option(False, "--no-documents", help="Index events only; fetch no documents."),
) -> None:
    """Index the deployment's contract events into SQL (migrations first); --follow keeps up with the head.

    Exit codes: 0 done, 1 node unreachable or unexpected error, 2 no deployment record or a database of
    another chain, 3 another indexer holds the writer lock (--no-wait), 130 interrupted.
    """
    from gateway.indexer.cli import dump_command, index_command
    from gateway.indexer.sync import IndexerConfig

    opts = cli(ctx)
    state = state_dir or opts.state_dir
    url = cli(ctx).database_url(database_url, state)
    if dump is not None:
        console.print(dump_command(url, dump), markup=False, highlight=False)
        return
    node = rpc or opts.rpc
    if opts.chain_id is not None:
        _check_chain_id(node, opts.chain_id)
    config = IndexerConfig(initial_range=initial_range,
                           ipfs=None if no_documents else (ipfs or opts.settings.IPFS_API or str(state / "ipfs")))
    if target_events is not None:
        config.target_events = target_events
    code = index_command(node, url, state, follow=follow, confirmations=confirmations,
                         max_range=max_range, json_output=json_out or opts.json, wait_for_lock=not no_wait,
                         until_block=until_block,
                         config=config)
    if code:
        raise typer.Exit(code)


def _check_chain_id(rpc: str, expected: int) -> None:
    from ledger.errors import ChainIdMismatch
    from ledger.rpc import NodeUnavailable, RpcClient, RpcError

    node = RpcClient(rpc, timeout=10)
    try:
        actual = node.chain_id()
    except (NodeUnavailable, RpcError) as exc:
        raise LedgerError(f"no JSON-RPC answer from {rpc}: {exc}") from None
    finally:
        node.close()
    if actual != expected:
        raise ChainIdMismatch(expected, actual, "--chain-id / CHAIN_ID")


# "-1" / "-5" must reach the id check (exit 2, "outside uint256") instead of reading as an option
