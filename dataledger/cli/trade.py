"""`dataledger order` (EIP-712 trade orders) and `dataledger trade` (their settlement)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dataledger.cli.context import JsonFlag, cli, emit, handled, tx, when
from ledger.errors import InvalidInput

order_app = typer.Typer(help="EIP-712 trade orders.", no_args_is_help=True)
trade_app = typer.Typer(help="Settlement of matched trades.", no_args_is_help=True)

@order_app.command("sign")
@handled
def order_sign(
    ctx: typer.Context,
    side: str = typer.Option(..., "--side", help="sell | buy"),
    voucher_id: int = typer.Option(..., "--voucher"),
    price: int = typer.Option(..., "--price", help="Payment token units (2 decimals)."),
    exchange: str = typer.Option(..., "--exchange"),
    out: Path = typer.Option(..., "--out", "-o", help="Signed order file to write."),
    broker: Optional[str] = typer.Option(None, "--broker"),
    commission: int = typer.Option(0, "--commission"),
    nonce: Optional[int] = typer.Option(None, "--nonce", help="Default: random."),
    deadline: str = typer.Option("+1d", "--deadline"),
    max_fee_bps: Optional[int] = typer.Option(
        None, "--max-fee-bps", min=0, help="Highest exchange fee accepted. Default: the exchange's fee now."),
    min_uses_left: Optional[int] = typer.Option(
        None, "--min-uses-left", min=0, help="Voucher must keep at least this many uses. Default: buy = uses left now, sell = 0."),
    min_valid_until: Optional[str] = typer.Option(
        None, "--min-valid-until", help="Voucher must be valid until at least this time. Default: buy = its validity end now, sell = 0."),
    json_out: bool = JsonFlag,
) -> None:
    """Sign an EIP-712 order (bound to this chain and settlement contract) into a JSON file.

    The order commits to the fee and the voucher terms: settlement reverts if the exchange fee rose
    above --max-fee-bps or the voucher has fewer uses left / an earlier validity end than signed."""
    led = cli(ctx).ledger()
    if out.exists():
        raise InvalidInput(f"{out} exists; refusing to overwrite a signed order")
    order = led.settlement.make_order(side, voucher_id, price, exchange, when(deadline, 0), broker,
                                      commission, nonce, max_fee_bps=max_fee_bps, min_uses_left=min_uses_left,
                                      min_valid_until=None if min_valid_until is None else when(min_valid_until, 0))
    signed = led.settlement.sign(order)
    signed.write(out)
    emit(ctx, json_out, signed.to_dict(), f"{order.maker} signed {side} order nonce {order.nonce} -> {out}")


@order_app.command("cancel")
@handled
def order_cancel(ctx: typer.Context, nonce: int = typer.Argument(...), json_out: bool = JsonFlag) -> None:
    """Cancel one of your order nonces."""
    tx(ctx, json_out, cli(ctx).ledger().settlement.cancel(nonce), f"order nonce {nonce} cancelled")


@trade_app.command("settle")
@handled
def trade_settle(ctx: typer.Context, sell: Path = typer.Argument(...), buy: Path = typer.Argument(...),
                 json_out: bool = JsonFlag) -> None:
    """Settle one matched trade from two signed order files (exchange)."""
    from ledger.contracts import SignedOrder

    s, b = SignedOrder.read(sell), SignedOrder.read(buy)
    result = cli(ctx).ledger().settlement.settle(s, b)
    tx(ctx, json_out, result, f"trade {result.value} settled")


@trade_app.command("settle-batch")
@handled
def trade_settle_batch(ctx: typer.Context,
                       files: list[Path] = typer.Argument(..., help="Signed order files (sells and buys)."),
                       json_out: bool = JsonFlag) -> None:
    """Settle many trades atomically; sells and buys are paired by voucher id."""
    from ledger.contracts import Side, SignedOrder

    orders = [SignedOrder.read(f) for f in files]
    sells = [o for o in orders if o.order.side == Side.SELL]
    buys = {o.order.voucherId: o for o in orders if o.order.side == Side.BUY}
    if len(buys) != len(sells) or len(sells) * 2 != len(orders):
        raise InvalidInput("every sell order needs exactly one buy order for the same voucher")
    pairs = []
    for s in sells:
        if s.order.voucherId not in buys:
            raise InvalidInput(f"no buy order for voucher {s.order.voucherId}")
        pairs.append((s, buys[s.order.voucherId]))
    result = cli(ctx).ledger().settlement.settle_batch(pairs)
    tx(ctx, json_out, result, f"{len(pairs)} trades settled")
