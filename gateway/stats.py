"""`dataledger stats`: statistical accounting (统计核算) of the indexed market, from the SQL index.

    dataledger stats [--database-url URL] [--period day|month] [--since TS] [--until TS] [--json]
    (python -m gateway.stats: the same command; :func:`stats_command` is its body)
"""

from __future__ import annotations

import json
import sys
from typing import Any, Optional

from rich.console import Console
from rich.table import Table

from gateway.core.config import get_settings


def _table(title: str, rows: list[dict[str, Any]], columns: list[str]) -> Table:
    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="left" if column in columns[:1] else "right")
    for row in rows:
        table.add_row(*[str(row.get(c, "")) for c in columns])
    return table


def main(argv: Optional[list[str]] = None) -> int:
    """``python -m gateway.stats ARGS``: ``dataledger stats ARGS`` with the gateway's DATABASE_URL as
    the default index; returns the exit code."""
    from dataledger.cli import run

    args = sys.argv[1:] if argv is None else argv
    return run(["stats", "--database-url", get_settings().DATABASE_URL, *args])


def stats_command(database_url: str, period: str = "month", since: Optional[int] = None,
                  until: Optional[int] = None, json_output: bool = False) -> int:
    """Print the statistics of the index at ``database_url``; exit code (2: no index there yet)."""
    from sqlalchemy import create_engine, inspect

    from gateway.services.stats import statistics

    engine = create_engine(database_url)
    try:
        if not inspect(engine).has_table("trades"):
            print(f"error: no index at {database_url}: run `dataledger index` first", file=sys.stderr)
            return 2
        with engine.connect() as conn:
            stats = statistics(conn, period, since, until)
    finally:
        engine.dispose()
    if json_output:
        print(json.dumps(stats, ensure_ascii=False, sort_keys=True))
        return 0
    console = Console()
    totals = stats["totals"]
    console.print(_table("Totals", [totals], list(totals)))
    console.print(_table(f"By {period}", stats["by_period"], ["period", "assets", "vouchers", "trades", "value"]))
    for key, first, title in (("by_level", "label", "By classification level"),
                              ("by_source_type", "label", "By source type"),
                              ("by_jurisdiction", "jurisdiction", "By jurisdiction")):
        rows = stats[key]
        columns = [first] + [c for c in (rows[0] if rows else {}) if c not in (first, "level", "source_type")]
        console.print(_table(title, rows, columns))
    console.print(_table("Cross-border flows", stats["cross_border"],
                         ["from", "to"] + [c for c in (stats["cross_border"][0] if stats["cross_border"] else {})
                                           if c not in ("from", "to")]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
