"""Relay budgets in the database: requests and gas per key (signer or client IP) per period.

One conditional UPDATE per key charges the request only while the key is within its budget (a new
period starts from zero); both keys are charged in one transaction, so a refusal charges neither.
The rows live in ``relay_budgets`` (migration 0003), so every gateway process over the same
database spends from the same budget.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Optional

from sqlalchemy import Engine, text


@dataclass(frozen=True)
class Budget:
    key: str  # "signer:0x..." or "ip:1.2.3.4"
    max_requests: int
    max_gas: int


class BudgetExceeded(Exception):
    def __init__(self, refused: list[str], left: dict[str, dict[str, int]], resets_in: int) -> None:
        super().__init__(f"relay budget of {', '.join(refused)} exhausted")
        self.refused = refused
        self.left = left
        self.resets_in = resets_in


_CHARGE = text(
    "UPDATE relay_budgets SET "
    " requests = CASE WHEN period = :p THEN requests + 1 ELSE 1 END,"
    " gas = CASE WHEN period = :p THEN gas + :g ELSE :g END,"
    " period = :p "
    "WHERE key = :k AND :g <= :mg AND (period <> :p OR (requests + 1 <= :mr AND gas + :g <= :mg))")


def _left(conn: Any, budget: Budget, period: int) -> dict[str, int]:
    row = conn.execute(text("SELECT period, requests, gas FROM relay_budgets WHERE key = :k"),
                       {"k": budget.key}).first()
    used_r, used_g = (int(row[1]), int(row[2])) if row is not None and int(row[0]) == period else (0, 0)
    return {"requests_left": max(0, budget.max_requests - used_r), "gas_left": max(0, budget.max_gas - used_g)}


def charge(engine: Engine, budgets: list[Budget], gas: int, period_seconds: int,
           now: Optional[float] = None) -> dict[str, dict[str, int]]:
    """Charge one request of ``gas`` to every budget, or none (BudgetExceeded with what is left).
    Returns what is left after the charge, per key."""
    now = time.time() if now is None else now
    period = int(now // period_seconds)
    resets_in = max(1, math.ceil((period + 1) * period_seconds - now))
    with engine.begin() as conn:
        for b in budgets:
            conn.execute(text("INSERT INTO relay_budgets (key, period, requests, gas) VALUES (:k, :p, 0, 0) "
                              "ON CONFLICT (key) DO NOTHING"), {"k": b.key, "p": period})
        refused = [b.key for b in budgets
                   if conn.execute(_CHARGE, {"k": b.key, "p": period, "g": int(gas), "mr": b.max_requests,
                                             "mg": b.max_gas}).rowcount != 1]
        left = {b.key: _left(conn, b, period) for b in budgets}
        if refused:  # leaving the block by the exception rolls back the other keys' charges
            raise BudgetExceeded(refused, left, resets_in)
    return left


def remaining(engine: Engine, budgets: list[Budget], period_seconds: int,
              now: Optional[float] = None) -> dict[str, dict[str, int]]:
    period = int((time.time() if now is None else now) // period_seconds)
    with engine.connect() as conn:
        return {b.key: _left(conn, b, period) for b in budgets}
