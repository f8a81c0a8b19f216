"""`dataledger stats`: statistical accounting (统计核算) of the indexed market, from the SQL index.

    python -m gateway.stats [--database-url URL] [--period day|month] [--since TS] [--until TS] [--json]
"""

from __future__ import annotations

import argparse
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
    settings = get_settings()
    parser = argparse.ArgumentParser(prog="dataledger stats", description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=settings.DATABASE_URL)
    parser.add_argument("--period", choices=("day", "month"), default="month")
    parser.add_argument("--since", type=int, default=None, help="unix seconds")
    parser.add_argument("--until", type=int, default=None, help="unix seconds")
    parser.add_argument("--json", action="store_true")
    # passed by the dataledger CLI for every gateway component; statistics read only the index
    parser.add_argument("--rpc", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--state-dir", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--chain-id", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    from sqlalchemy import create_engine, inspect

    from gateway.services.stats import statistics

    engine = create_engine(args.database_url)
    try:
        if not inspect(engine).has_table("trades"):
            print(f"error: no index at {args.database_url}: run `dataledger index` first", file=sys.stderr)
            return 2
        with engine.connect() as conn:
            stats = statistics(conn, args.period, args.since, args.until)
    finally:
        engine.dispose()
    if args.json:
        print(json.dumps(stats, ensure_ascii=False, sort_keys=True))
        return 0
    console = Console()
    totals = stats["totals"]
    console.print(_table("Totals", [totals], list(totals)))
    console.print(_table(f"By {args.period}", stats["by_period"], ["period", "assets", "vouchers", "trades", "value"]))
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
