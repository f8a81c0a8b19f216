"""Statistical accounting (统计核算) of the market."""

from __future__ import annotations

from typing import Literal, Annotated, Any, Optional

from fastapi import APIRouter, Query

from gateway.api.common import ERRORS
from gateway.api.deps import EngineDep
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
    (voucher transfers and trades between jurisdictions). Values are token base units (2 decimals)."""
    with engine.connect() as conn:
        return cached_statistics(conn, period, since, until)
