"""`dataledger voucher`: data asset vouchers (数据资产凭证)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from dataledger.cli.context import JsonFlag, cli, emit, handled, tx, when
from ledger.errors import InvalidInput

if TYPE_CHECKING:
    from ledger.contracts import ForwardRequest


app = typer.Typer(help="Data asset vouchers (数据资产凭证).", no_args_is_help=True)

@app.command("issue")
@handled
def voucher_issue(
    ctx: typer.Context,
    to: str = typer.Option(..., "--to"),
    asset_id: int = typer.Option(..., "--asset"),
    right: str = typer.Option("use", "--right", help="holding | use | operating"),
    scope: str = typer.Option(..., "--scope", help="Scope/purpose statement (hashed) or 0x bytes32."),
    valid_from: Optional[str] = typer.Option(None, "--valid-from", help="Default: now."),
    valid_until: str = typer.Option("+365d", "--valid-until"),
    max_uses: int = typer.Option(1, "--max-uses"),
    transferable: bool = typer.Option(True, "--transferable/--non-transferable"),
    json_out: bool = JsonFlag,
) -> None:
    """Issue a voucher over an asset."""
    led = cli(ctx).ledger()
    now = led.now()
    result = led.vouchers.issue(to, asset_id, right, scope, when(valid_from, now), when(valid_until, now),
                                max_uses, transferable)
    tx(ctx, json_out, result, f"voucher {result.value} issued to {to}")


@app.command("transfer")
@handled
def voucher_transfer(
    ctx: typer.Context,
    voucher_id: int = typer.Argument(...),
    to: str = typer.Argument(...),
    gasless: bool = typer.Option(False, "--gasless", help="Sign an ERC-2771 request for the relay instead."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Where to write the signed request."),
    deadline: str = typer.Option("+1h", "--deadline", help="Deadline of a gasless request."),
    json_out: bool = JsonFlag,
) -> None:
    """Transfer a voucher (checked against the compliance rules before anything is sent)."""
    led = cli(ctx).ledger()
    if gasless:
        request = led.vouchers.transfer_request(to, voucher_id, when(deadline, 0))
        _write_request(ctx, request, out, json_out)
        return
    tx(ctx, json_out, led.vouchers.transfer(to, voucher_id), f"voucher {voucher_id} transferred to {to}")


def _write_request(ctx: typer.Context, request: ForwardRequest, out: Optional[Path], json_out: bool) -> None:
    data = request.to_dict()
    if out is not None:
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(out)
    emit(ctx, json_out or out is None, data, f"signed request written to {out}")


@app.command("redeem")
@handled
def voucher_redeem(
    ctx: typer.Context,
    voucher_id: int = typer.Argument(...),
    purpose: str = typer.Option(..., "--purpose", help="Purpose statement (stored on IPFS; its CID digest goes on "
                                                       "chain) or a 0x bytes32 recorded as is."),
    gasless: bool = typer.Option(False, "--gasless"),
    out: Optional[Path] = typer.Option(None, "--out", "-o"),
    deadline: str = typer.Option("+1h", "--deadline"),
    json_out: bool = JsonFlag,
) -> None:
    """Redeem one use of a voucher (holder or an authorised user). The purpose text is stored as a
    document on IPFS (IPFS_API, else <state-dir>/ipfs) and the sha-256 digest of its CID is recorded."""
    from ledger.contracts.vouchers import purpose_document

    led = cli(ctx).ledger()
    recorded: str | bytes = purpose
    if not (purpose.startswith("0x") and len(purpose) == 66):
        recorded = purpose_document(cli(ctx).store(), purpose)[1]
    if gasless:
        _write_request(ctx, led.vouchers.redeem_request(voucher_id, recorded, when(deadline, 0)), out, json_out)
        return
    result = led.vouchers.redeem(voucher_id, recorded)
    tx(ctx, json_out, result, f"use {result.value} of voucher {voucher_id} redeemed")


@app.command("relay")
@handled
def voucher_relay(ctx: typer.Context, request_file: Path = typer.Argument(..., help="A signed request file."),
                  json_out: bool = JsonFlag) -> None:
    """Submit a signed ERC-2771 request through the LedgerForwarder, paying its gas."""
    from ledger.contracts import ForwardRequest

    try:
        data = json.loads(request_file.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{request_file}: {exc}") from None
    request = ForwardRequest.from_dict(data)
    tx(ctx, json_out, cli(ctx).ledger().forwarder.relay(request), f"request of {request.sender} relayed")


@app.command("authorise")
@handled
def voucher_authorise(ctx: typer.Context, voucher_id: int = typer.Argument(...), user: str = typer.Argument(...),
                      revoke: bool = typer.Option(False, "--revoke"), json_out: bool = JsonFlag) -> None:
    """Allow (or with --revoke stop allowing) a user to redeem uses of your voucher."""
    tx(ctx, json_out, cli(ctx).ledger().vouchers.authorise_user(voucher_id, user, not revoke),
        f"user {user} {'de' if revoke else ''}authorised on voucher {voucher_id}")


@app.command("approve")
@handled
def approve(ctx: typer.Context, operator: Optional[str] = typer.Argument(None, help="Default: TradeSettlement."),
                    revoke: bool = typer.Option(False, "--revoke"), json_out: bool = JsonFlag) -> None:
    """Let an operator (by default the settlement contract) move your vouchers."""
    led = cli(ctx).ledger()
    target = operator or led.address_of("TradeSettlement")
    tx(ctx, json_out, led.vouchers.approve_operator(target, not revoke), f"operator {target} approved={not revoke}")


def _supervise(ctx: typer.Context, action: str, voucher_id: int, reason: str, json_out: bool) -> None:
    led = cli(ctx).ledger()
    if led.vouchers.owner_of(voucher_id) is None:
        from ledger.errors import UnknownVoucher

        raise UnknownVoucher(voucher_id)
    tx(ctx, json_out, getattr(led.vouchers, action)(voucher_id, reason), f"voucher {voucher_id} {action}")


@app.command("freeze")
@handled
def voucher_freeze(ctx: typer.Context, voucher_id: int = typer.Argument(...), reason: str = typer.Option(..., "--reason"),
                   json_out: bool = JsonFlag) -> None:
    """Freeze a voucher (regulator)."""
    _supervise(ctx, "freeze", voucher_id, reason, json_out)


@app.command("unfreeze")
@handled
def voucher_unfreeze(ctx: typer.Context,
                     voucher_id: int = typer.Argument(...), reason: str = typer.Option(..., "--reason"),
                     json_out: bool = JsonFlag) -> None:
    """Lift a freeze (regulator)."""
    _supervise(ctx, "unfreeze", voucher_id, reason, json_out)


@app.command("revoke")
@handled
def voucher_revoke(ctx: typer.Context, voucher_id: int = typer.Argument(...), reason: str = typer.Option(..., "--reason"),
                   json_out: bool = JsonFlag) -> None:
    """Revoke a voucher (regulator)."""
    _supervise(ctx, "revoke", voucher_id, reason, json_out)


@app.command("recover-propose")
@handled
def voucher_recover_propose(ctx: typer.Context, voucher_id: int = typer.Argument(...), to: str = typer.Argument(...),
                            reason: str = typer.Option(..., "--reason"), json_out: bool = JsonFlag) -> None:
    """Propose moving a voucher from a lost key to a new holder (regulator; another regulator executes)."""
    result = cli(ctx).ledger().vouchers.propose_recovery(voucher_id, to, reason)
    tx(ctx, json_out, result, f"recovery of voucher {voucher_id} to {to} proposed; another regulator executes it "
                          f"(voucher recover-execute {voucher_id}) before {result.value}")


@app.command("recover-execute")
@handled
def voucher_recover_execute(ctx: typer.Context,
                            voucher_id: int = typer.Argument(...), reason: str = typer.Option(..., "--reason"),
                            json_out: bool = JsonFlag) -> None:
    """Execute another regulator's recovery proposal (the voucher moves to the proposed holder)."""
    led = cli(ctx).ledger()
    proposal = led.vouchers.recovery_proposal(voucher_id)
    tx(ctx, json_out, led.vouchers.execute_recovery(voucher_id, reason), f"voucher {voucher_id} recovered to {proposal.to}")


@app.command("recover-cancel")
@handled
def voucher_recover_cancel(ctx: typer.Context,
                           voucher_id: int = typer.Argument(...), reason: str = typer.Option(..., "--reason"),
                           json_out: bool = JsonFlag) -> None:
    """Cancel a pending recovery proposal (regulator)."""
    tx(ctx, json_out, cli(ctx).ledger().vouchers.cancel_recovery(voucher_id, reason),
       f"recovery of voucher {voucher_id} cancelled")


@app.command("show")
@handled
def voucher_show(ctx: typer.Context, voucher_id: int = typer.Argument(...), json_out: bool = JsonFlag) -> None:
    """Show a voucher."""
    emit(ctx, json_out, cli(ctx).ledger(need_account=False).vouchers.voucher(voucher_id).to_dict())


@app.command("why-not")
@handled
def voucher_why_not(ctx: typer.Context, voucher_id: int = typer.Argument(...), to: str = typer.Argument(...),
                    sender: Optional[str] = typer.Option(None, "--from", help="Default: the current holder."),
                    use: bool = typer.Option(False, "--use", help="A use by ``to`` (authorise/redeem), not a move."),
                    json_out: bool = JsonFlag) -> None:
    """Explain whether (and why not) a voucher could move to ``to`` now (or, with --use, be used by it)."""
    vouchers = cli(ctx).ledger(need_account=False).vouchers
    r = vouchers.use_restriction(to, voucher_id) if use else vouchers.why_not(voucher_id, to, sender)
    data = {"voucher_id": voucher_id, "to": to, "code": r.code, "allowed": r.allowed, "message": r.message}
    emit(ctx, json_out, data, f"[{r.code}] {r.message}")
