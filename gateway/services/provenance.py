"""Provenance of a voucher or an asset: every event about it, in chain order, with the
coordinates (block number and hash, tx hash, log index) a regulator re-checks against a node.

Lookups go through expression indexes on ``events.args`` (gateway.core.db.ensure_api_schema).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Optional

from sqlalchemy import Connection, text

from gateway.core.db import arg_expr
from gateway.indexer.decode import loads

_COLUMNS = "block_number, block_hash, tx_hash, log_index, contract, address, event, args"


def _int_or_none(value: Any) -> Optional[int]:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def links_of(contract: str, args: dict[str, Any]) -> dict[str, Any]:
    # DataVoucher's own events say voucherId; the ERC-721 standard's Transfer / Approval say tokenId
    voucher = args.get("voucherId", args.get("tokenId") if contract == "DataVoucher" else None)
    trade = args.get("tradeId")
    return {
        "asset_id": _int_or_none(args.get("assetId")),
        "voucher_id": _int_or_none(voucher),
        "trade_id": trade if isinstance(trade, str) else None,
        "clearance_id": _int_or_none(args.get("clearanceId")) if contract == "DataCustoms" else None,
    }


def event_out(row: Any) -> dict[str, Any]:
    args = loads(row[7]) if row[7] else {}
    return {
        "block_number": int(row[0]), "block_hash": row[1], "tx_hash": row[2], "log_index": int(row[3]),
        "contract": row[4], "address": row[5], "event": row[6], "args": args, "links": links_of(row[4], args),
    }


def _select(conn: Connection, key: str, value: str, contract: Optional[str] = None,
            event: Optional[str] = None) -> list[Any]:
    expr = arg_expr(conn.dialect.name, key)
    sql = f"SELECT {_COLUMNS} FROM events WHERE {expr} = :v"
    params: dict[str, Any] = {"v": value}
    if contract is not None:
        sql += " AND contract = :c"
        params["c"] = contract
    if event is not None:
        sql += " AND event = :e"
        params["e"] = event
    return list(conn.execute(text(sql), params))


def _merge(groups: Iterable[list[Any]]) -> list[dict[str, Any]]:
    seen: dict[tuple[int, int], Any] = {}
    for rows in groups:
        for row in rows:
            seen.setdefault((int(row[0]), int(row[3])), row)
    return [event_out(seen[k]) for k in sorted(seen)]


def _trade_ids(rows: list[Any]) -> list[str]:
    out = []
    for row in rows:
        if row[4] == "TradeSettlement" and row[6] == "TradeSettled":
            tid = loads(row[7]).get("tradeId")
            if isinstance(tid, str):
                out.append(tid)
    return out


def voucher_events(conn: Connection, voucher_id: int) -> list[dict[str, Any]]:
    """DataVoucher events of the token (issue, transfers, approvals, users, uses, supervision) and
    its trades (TradeSettled, BrokerPaid)."""
    own = _select(conn, "voucherId", str(voucher_id), "DataVoucher")
    erc721 = _select(conn, "tokenId", str(voucher_id), "DataVoucher")  # Transfer, Approval
    trades = _select(conn, "voucherId", str(voucher_id), "TradeSettlement")
    groups = [own, erc721, trades]
    for tid in _trade_ids(trades):
        groups.append(_select(conn, "tradeId", tid, "TradeSettlement", "BrokerPaid"))
    return _merge(groups)


def asset_events(conn: Connection, asset_id: int) -> list[dict[str, Any]]:
    """Every event naming the asset (registration, manifests, valuations, supervision, customs
    clearances, vouchers issued/used/frozen over it, trades) and the broker payments of its trades."""
    rows = _select(conn, "assetId", str(asset_id))
    groups = [rows]
    for tid in _trade_ids(rows):
        groups.append(_select(conn, "tradeId", tid, "TradeSettlement", "BrokerPaid"))
    return _merge(groups)
