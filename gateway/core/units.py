"""Money as people read it: the payment token and every price, fee and valuation are in fen
(分, 2 decimals of the yuan). One conversion, used by the pages, the CSV exports and the CLI."""

from __future__ import annotations

from typing import Any, Optional

CURRENCY = "CNY"
#: decimals of the amounts on chain (fen): 15000000 = ¥150,000.00
DECIMALS = 2
SYMBOL = "¥"


def fen(value: Any) -> Optional[int]:
    """An amount in fen from an int or a decimal string (None: not an amount)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def yuan(value: Any) -> str:
    """Exact yuan with two decimals, no grouping: 15000000 -> '150000.00' (for CSV and JSON)."""
    f = fen(value)
    if f is None:
        return "" if value is None else str(value)
    whole, cents = divmod(abs(f), 100)  # integers: exact for any uint256
    return f"{'-' if f < 0 else ''}{whole}.{cents:02d}"


def money(value: Any, currency: str = CURRENCY) -> str:
    """¥ with grouping and two decimals: 15000000 -> '¥150,000.00' (other currencies by code)."""
    f = fen(value)
    if f is None:
        return "" if value is None else str(value)
    sign = "-" if f < 0 else ""
    whole, cents = divmod(abs(f), 100)
    prefix = SYMBOL if currency in ("CNY", "", None) else f"{currency} "
    return f"{sign}{prefix}{whole:,}.{cents:02d}"
