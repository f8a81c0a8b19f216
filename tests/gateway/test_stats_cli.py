"""`dataledger stats` over the indexed demo market (real anvil, real indexer, SQLite)."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from dataledger.cli import app as cli
from tests.gateway.api_fixtures import Market, market


def test_stats_json_counts_the_seeded_market(market: Market) -> None:
    result = CliRunner().invoke(cli, ["--rpc", market.rpc_url, "stats", "--json", "--database-url",
                                      market.database_url, "--period", "day"])
    assert result.exit_code == 0, result.output
    stats: dict[str, Any] = json.loads(result.stdout)
    totals = stats["totals"]
    assert totals["assets"] >= 3 and totals["vouchers"] >= 4 and totals["trades"] >= 2
    assert int(totals["value"]) >= 80_000_00 + 150_000_00  # the two seeded trades
    assert totals["cross_border_trades"] >= 1  # CN -> HK under the customs clearance
    assert {row["jurisdiction"] for row in stats["by_jurisdiction"]} >= {"CN"}
    assert sum(row["vouchers"] for row in stats["by_level"]) == totals["vouchers"]


def test_stats_table_and_missing_index(market: Market, tmp_path: Any) -> None:
    table = CliRunner().invoke(cli, ["stats", "--database-url", market.database_url])
    assert table.exit_code == 0, table.output
    assert "Cross-border flows" in table.stdout
    missing = CliRunner().invoke(cli, ["stats", "--database-url", f"sqlite:///{tmp_path / 'none.db'}"])
    assert missing.exit_code == 2
    assert "run `dataledger index` first" in missing.output
