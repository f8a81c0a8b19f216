"""`dataledger deploy`, `seed-demo` and `status`: a market on a chain."""

from __future__ import annotations

import typer

from dataledger.cli.context import JsonFlag, cli, emit, err_console, handled
from ledger.errors import InvalidInput, LedgerError

commands = typer.Typer()

@commands.command("deploy")
@handled
def deploy(ctx: typer.Context,
           force: bool = typer.Option(False, "--force", help="Replace an existing deployment record."),
           json_out: bool = JsonFlag) -> None:
    """Deploy the contract suite and write the deployment record."""
    from rich.progress import Progress

    from ledger.deploy import SUITE, deploy_all
    from ledger.deployment import Deployment

    led = cli(ctx).ledger(need_deployment=False)
    path = Deployment.path_for(led.state_dir, led.chain_id)
    if path.exists() and not force:
        raise InvalidInput(f"{path} exists (a market is already deployed on chain {led.chain_id}); use --force")
    account = led.require_account()
    with Progress(transient=True, console=err_console, disable=json_out or cli(ctx).json) as progress:
        task = progress.add_task("deploying", total=len(SUITE))
        c = deploy_all(led.w3, account, progress=lambda _name: progress.advance(task))
    deployment = Deployment.of_contracts(led.chain_id, c)
    written = deployment.write(led.state_dir)
    emit(ctx, json_out, {"record": str(written), **deployment.to_record()},
         f"deployed {len(c)} contracts; record {written}")


@commands.command("seed-demo")
@handled
def seed_demo(ctx: typer.Context, json_out: bool = JsonFlag,
              size: str = typer.Option("small", "--size", help="small (the tests' market), market (~30 "
                                       "organisations, ~50 datasets, six months) or bench")) -> None:
    """Populate a fresh local market with the demo participants and history (anvil keys)."""
    try:
        from dataledger.dev import demo
    except ImportError:
        raise LedgerError("dataledger.dev.demo is not available in this installation") from None
    led = cli(ctx).ledger(need_account=False)
    assert led.deployment is not None
    contracts = led.deployment.web3_contracts(led.w3)
    if size not in demo.SIZES:
        raise LedgerError(f"unknown demo size {size!r} (one of: {', '.join(demo.SIZES)})")
    summary = demo.seed(led.w3, contracts, led.state_dir, size=size)
    written = demo.write_demo_file(led.state_dir, led.w3, contracts) if hasattr(demo, "write_demo_file") else None
    emit(ctx, json_out, {"summary": summary, "demoFile": str(written) if written else None}, summary)



@commands.command("status")
@handled
def status(ctx: typer.Context, json_out: bool = JsonFlag) -> None:
    """Chain id, head block, PoA detection and the deployment in use."""
    led = cli(ctx).ledger(need_account=False, need_deployment=False)
    data = {"rpc": cli(ctx).rpc, "chainId": led.chain_id, "block": led.block_number(), "poa": led.poa,
            "deployment": None if led.deployment is None else led.deployment.to_record()["contracts"]}
    emit(ctx, json_out, data)
