"""Statistical accounting (统计核算) of the market."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional

from fastapi import APIRouter, Query

from gateway.api.common import ERRORS
from gateway.api.deps import EngineDep
from gateway.services.legible import CURRENCY, DECIMALS, decimal_amount
from gateway.services.stats import cached_statistics

router = APIRouter(prefix="/v1/statistics", tags=["statistics"], responses=ERRORS)


@router.get("", response_model=dict[str, Any])
def get_statistics(
    engine: EngineDep,
    period: Literal["day", "month"] = "month",
    since: Annotated[Optional[int], Query(ge=0, le=2**40, description="unix time, inclusive")] = None,
    until: Annotated[Optional[int], Query(ge=0, le=2**40, description="unix time, inclusive")] = None,
) -> dict[str, Any]:
    """Issuance (assets, vouchers), trade count and value by period (day/month, UTC), by
    classification level, source type, jurisdiction and right type, and cross-border flows
    (voucher transfers and trades between jurisdictions). Values are token base units (2 decimals),
    each with its ``_decimal`` yuan string beside it; ``currency`` and ``decimals`` say the scale."""
    with engine.connect() as conn:
        out = dict(cached_statistics(conn, period, since, until))
    return with_decimals(out)


def with_decimals(stats: dict[str, Any]) -> dict[str, Any]:
    """``currency`` and ``decimals`` at the top, and beside every ``value*`` amount (fen, a decimal
    string) its ``value*_decimal`` ("230000.00")."""

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: walk(v) for k, v in node.items()}
            for k, v in node.items():
                if k.startswith("value") and not k.endswith("_decimal") and isinstance(v, (str, int)):
                    out[f"{k}_decimal"] = decimal_amount(v)
            return out
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return {**walk(stats), "currency": CURRENCY, "decimals": DECIMALS}
