"""Statistical accounting (统计核算) of the market from the index: issuance, trades (count and
value) by period, classification level, source type, jurisdiction, and cross-border flows."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, defaultdict
from typing import Any, Optional

from sqlalchemy import Connection, text

from ledger.vocabulary import RightType, SourceType

ZERO = "0x" + "00" * 20
#: source type code -> name, from the contract's enum (generated: ledger.vocabulary)
SOURCE_TYPES = {int(s): str(s.name).lower().replace("_", "-") for s in SourceType}
LEVELS = {1: "1 public", 2: "2 internal", 3: "3 important", 4: "4 core"}
#: right code -> name, from the contract's enum (generated: ledger.vocabulary)
RIGHTS = {int(r): str(r.name).lower() for r in RightType}


def period_of(ts: int, period: str, utc_offset: int = 0) -> str:
    """The day or month of ``ts`` in the zone ``utc_offset`` seconds east of UTC."""
    return time.strftime("%Y-%m-%d" if period == "day" else "%Y-%m", time.gmtime(int(ts) + utc_offset))


def statistics(conn: Connection, period: str = "month", since: Optional[int] = None,
               until: Optional[int] = None, utc_offset: int = 0) -> dict[str, Any]:
    """The figures of the index; periods are days/months of the zone ``utc_offset`` seconds east of
    UTC (0: UTC, the API's; the pages pass the viewer's, +08:00 by default)."""
    lo = since if since is not None else 0
    hi = until if until is not None else 2**62
    jur = {a: j for a, j in conn.execute(text("SELECT account, jurisdiction FROM participants"))}
    assets = {r[0]: r for r in conn.execute(text(
        "SELECT asset_id, level, source_type, home_jurisdiction, registered_at, status FROM assets"))}
    vouchers = list(conn.execute(text(
        "SELECT voucher_id, asset_id, issued_at, \"right\", holder FROM vouchers WHERE issued_at BETWEEN :lo AND :hi"),
        {"lo": lo, "hi": hi}))
    trades = list(conn.execute(text(
        "SELECT t.asset_id, t.price, t.fee, t.settled_at, t.seller, t.buyer, v.\"right\" FROM trades t "
        "LEFT JOIN vouchers v ON v.voucher_id = t.voucher_id WHERE t.settled_at BETWEEN :lo AND :hi"),
        {"lo": lo, "hi": hi}))
    transfers = list(conn.execute(text(
        "SELECT t.from_address, t.to_address, v.asset_id FROM voucher_transfers t "
        "JOIN vouchers v ON v.voucher_id = t.voucher_id JOIN blocks b ON b.number = t.block_number "
        "WHERE b.timestamp BETWEEN :lo AND :hi"), {"lo": lo, "hi": hi}))

    by_period: dict[str, dict[str, int]] = defaultdict(lambda: {"assets": 0, "vouchers": 0, "trades": 0, "value": 0})
    by_level: dict[int, dict[str, int]] = defaultdict(lambda: {"assets": 0, "vouchers": 0, "trades": 0, "value": 0})
    by_source: dict[int, dict[str, int]] = defaultdict(lambda: {"assets": 0, "vouchers": 0, "trades": 0, "value": 0})
    by_jur: dict[str, dict[str, int]] = defaultdict(
        lambda: {"assets": 0, "vouchers_held": 0, "trades_bought": 0, "trades_sold": 0, "value_bought": 0})
    by_right: dict[int, dict[str, int]] = defaultdict(lambda: {"vouchers": 0, "trades": 0, "value": 0})
    flows: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: {"transfers": 0, "trades": 0, "value": 0})

    for _asset_id, level, source, home, registered_at, _status in assets.values():
        if lo <= registered_at <= hi:
            by_period[period_of(registered_at, period, utc_offset)]["assets"] += 1
            by_level[level]["assets"] += 1
            by_source[source]["assets"] += 1
            by_jur[home]["assets"] += 1
    for _tid, asset_id, issued_at, right, holder in vouchers:
        a = assets.get(asset_id)
        by_period[period_of(issued_at, period, utc_offset)]["vouchers"] += 1
        by_right[int(right)]["vouchers"] += 1
        if a is not None:
            by_level[a[1]]["vouchers"] += 1
            by_source[a[2]]["vouchers"] += 1
        by_jur[jur.get(holder, "??")]["vouchers_held"] += 1
    total_value = 0
    for asset_id, price, _fee, settled_at, seller, buyer, trade_right in trades:
        value = int(price)
        total_value += value
        if trade_right is not None:
            by_right[int(trade_right)]["trades"] += 1
            by_right[int(trade_right)]["value"] += value
        p = by_period[period_of(settled_at, period, utc_offset)]
        p["trades"] += 1
        p["value"] += value
        a = assets.get(asset_id)
        if a is not None:
            for bucket in (by_level[a[1]], by_source[a[2]]):
                bucket["trades"] += 1
                bucket["value"] += value
        sj, bj = jur.get(seller, "??"), jur.get(buyer, "??")
        by_jur[bj]["trades_bought"] += 1
        by_jur[bj]["value_bought"] += value
        by_jur[sj]["trades_sold"] += 1
        if sj != bj:
            flows[(sj, bj)]["trades"] += 1
            flows[(sj, bj)]["value"] += value
    for frm, to, asset_id in transfers:
        a = assets.get(asset_id)
        fj = (a[3] if a is not None else "??") if frm == ZERO else jur.get(frm, "??")
        if to == ZERO:
            continue
        tj = jur.get(to, "??")
        if fj != tj:
            flows[(fj, tj)]["transfers"] += 1

    def money(d: dict[str, int]) -> dict[str, Any]:
        return {k: (str(v) if k.startswith("value") else v) for k, v in d.items()}

    return {
        "period": period,
        "since": since,
        "until": until,
        "totals": {"assets": sum(1 for a in assets.values() if lo <= a[4] <= hi), "vouchers": len(vouchers),
                   "trades": len(trades), "value": str(total_value),
                   "cross_border_transfers": sum(f["transfers"] for f in flows.values()),
                   "cross_border_trades": sum(f["trades"] for f in flows.values())},
        "by_period": [{"period": k, **money(v)} for k, v in sorted(by_period.items())],
        "by_level": [{"level": k, "label": LEVELS.get(k, str(k)), **money(v)} for k, v in sorted(by_level.items())],
        "by_source_type": [{"source_type": k, "label": SOURCE_TYPES.get(k, str(k)), **money(v)}
                           for k, v in sorted(by_source.items())],
        "by_jurisdiction": [{"jurisdiction": k, **money(v)} for k, v in sorted(by_jur.items())],
        "by_right": [{"right": k, "label": RIGHTS.get(k, str(k)), **money(v)} for k, v in sorted(by_right.items())],
        "cross_border": [{"from": f, "to": t, **money(v)} for (f, t), v in sorted(flows.items())],
    }


_CACHE: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_SIZE = 64


def cached_statistics(conn: Connection, period: str = "month", since: Optional[int] = None,
                      until: Optional[int] = None, utc_offset: int = 0) -> dict[str, Any]:
    """:func:`statistics`, memoised on the index position: the figures are a pure function of the
    indexed events, so they are recomputed only when the indexer has moved (or rolled back)."""
    try:
        position = tuple(conn.execute(text(
            "SELECT last_block, last_block_hash, events_total FROM indexer_state WHERE id = 1")).one())
    except Exception:  # no index yet: nothing to key on
        return statistics(conn, period, since, until, utc_offset)
    key = (position, period, since, until, utc_offset)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    result = statistics(conn, period, since, until, utc_offset)
    with _CACHE_LOCK:
        _CACHE[key] = result
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return result
