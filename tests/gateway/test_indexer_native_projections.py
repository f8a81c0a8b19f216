"""The compiled projections of DataVoucher's ``VoucherIssued`` and ``Transfer`` (native/,
``native.voucher_projector`` / ``voucher_reader``) against the Python handlers.

``Store.apply_events`` and ``projections.reads_of`` hand those two events to compiled code, which
must leave exactly what the handlers leave (``projections.voucher_issued``,
``projections.voucher_transfer`` with ``BatchRows.get`` / ``put`` / ``append``): the same state
rows, undo pre-images in the same order, dirty keys, appended transfer rows, projected count and
lazy loads, for any mix of events, in any order, with unusual arguments (which it leaves to the
handlers) and voucher rows loaded or not.
"""

from __future__ import annotations

from typing import Any, Optional

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.indexer import native, projections, store
from gateway.indexer.decode import DecodedEvent
from gateway.indexer.store import BatchRows, Store

A, B, C = ("0x" + c * 40 for c in "abc")
ZERO = "0x" + "00" * 20

#: voucher ids as the decoder gives them (a decimal string) and as the compiled code leaves to
#: ``int``: an int, whitespace, a sign, underscores, leading zeros, a float, a bool, more digits
#: than it reads, not a number, None
_ID = st.one_of(
    st.integers(1, 6).map(str),
    st.integers(1, 6),
    st.sampled_from([" 3", "+2", "1_0", "0004", 4.0, True, "1" * 19, "9" * 40, 2**70, "x", "", None, "٣"]),
)
_ADDRESS = st.sampled_from([A, B, C, ZERO])


def _args(name: str, data: Any) -> dict[str, Any]:
    if name == "VoucherIssued":
        args = {"voucherId": data.draw(_ID), "assetId": data.draw(st.one_of(st.integers(1, 3).map(str), _ID)),
                "issuer": data.draw(_ADDRESS), "holder": data.draw(_ADDRESS), "right": data.draw(st.integers(0, 3)),
                "scopeHash": "0x" + "11" * 32, "validFrom": 1, "validUntil": data.draw(st.integers(2, 2**40)),
                "maxUses": data.draw(st.integers(0, 5)), "transferable": data.draw(st.booleans())}
    elif name == "Transfer":
        args = {"from": data.draw(_ADDRESS), "to": data.draw(_ADDRESS), "tokenId": data.draw(_ID)}
    elif name == "VoucherUsed":
        args = {"voucherId": data.draw(_ID), "useNumber": data.draw(st.integers(1, 5)), "assetId": "1",
                "user": data.draw(_ADDRESS), "holder": data.draw(_ADDRESS), "purposeHash": "0x" + "22" * 32}
    elif name in ("VoucherFrozen", "VoucherRevoked"):
        args = {"voucherId": data.draw(_ID)}
    else:  # an event no DataVoucher handler takes
        args = {"owner": data.draw(_ADDRESS), "approved": data.draw(_ADDRESS), "tokenId": data.draw(_ID)}
    if data.draw(st.integers(0, 9)) == 0 and args:  # an argument missing (an ABI the handler was not written for)
        del args[data.draw(st.sampled_from(sorted(args)))]
    return args


@st.composite
def _events(draw: Any) -> list[DecodedEvent]:
    data = draw(st.data())
    kinds = st.sampled_from([("DataVoucher", "VoucherIssued")] * 4 + [("DataVoucher", "Transfer")] * 4 + [
        ("DataVoucher", "VoucherUsed"), ("DataVoucher", "VoucherFrozen"), ("DataVoucher", "VoucherRevoked"),
        ("DataVoucher", "Approval"), ("PaymentToken", "Transfer"), ("", "Transfer"), ("Other", "VoucherIssued")])
    out = []
    block = 10
    for log_index in range(draw(st.integers(0, 40))):
        block += draw(st.sampled_from([0, 0, 0, 1, 2]))
        contract, name = draw(kinds)
        if contract == "PaymentToken":
            args = {"from": draw(_ADDRESS), "to": draw(_ADDRESS), "value": str(draw(st.integers(0, 99)))}
        else:
            args = _args(name, data)
        out.append(DecodedEvent(block, "0x" + f"{block:064x}", "0x" + f"{log_index:064x}", 0, log_index,
                                "0x" + "dd" * 20, contract, name, args, 1_700_000_000 + block))
    return out


def _voucher_row(voucher_id: int, holder: str) -> dict[str, Any]:
    return {"voucher_id": voucher_id, "asset_id": 1, "issuer": A, "holder": holder, "right": 0,
            "scope_hash": "0x" + "11" * 32, "valid_from": 1, "valid_until": 9, "max_uses": 5, "uses": 1,
            "transferable": True, "status": "active", "issued_block": 1, "issued_tx": "0x" + "ee" * 32,
            "issued_at": 1_699_999_999, "updated_block": 1}


def _project(events: list[DecodedEvent], compiled: bool, seeded: dict[Any, Optional[dict[str, Any]]],
             stored: dict[Any, dict[str, Any]], record_undo: bool) -> tuple[Any, ...]:
    """Everything the projections leave in a BatchRows, and the loads they made."""
    loads: list[tuple[str, list[Any]]] = []

    def fetch_rows(_conn: Any, table_name: str, keys: list[Any]) -> dict[Any, dict[str, Any]]:
        loads.append((table_name, list(keys)))
        if table_name != "vouchers":
            return {}
        return {k: dict(stored[k]) for k in keys if k in stored}

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(store, "fetch_rows", fetch_rows)
        rows = BatchRows(None, record_undo, run=lambda fn: fn(None))
        wanted = projections.reads_of(events, compiled)
        rows.seed_loaded({"vouchers": set(seeded)}, {"vouchers": {k: r for k, r in seeded.items() if r is not None}})
        projected = Store.apply_events(rows, events, compiled)
    return (
        projected,
        wanted,
        loads,
        {t: list(r.items()) for t, r in rows.rows.items()},  # rows and the order they were first seen
        [(key, list(group.items())) for key, group in rows.undo.items()],  # pre-images in order
        rows.dirty,
        rows.in_db,
        rows.appended,
        rows.final_rows(),
    )


def test_the_compiled_projections_are_used() -> None:
    assert native.AVAILABLE, "gateway/indexer/_logs.abi3.so is missing: run scripts/native.sh"
    assert native.voucher_projector() is not None and native.voucher_reader() is not None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_events(), st.data())
def test_the_compiled_projections_equal_the_python_handlers(events: list[DecodedEvent], data: Any) -> None:
    # vouchers 1-6: some loaded with a row, some loaded as absent, the others loaded lazily
    # (some of those stored, some not)
    seeded: dict[Any, Optional[dict[str, Any]]] = {}
    stored: dict[Any, dict[str, Any]] = {}
    for voucher_id in range(1, 7):
        how = data.draw(st.sampled_from(["row", "absent", "lazy-stored", "lazy-none"]))
        if how == "row":
            seeded[(voucher_id,)] = _voucher_row(voucher_id, data.draw(_ADDRESS))
        elif how == "absent":
            seeded[(voucher_id,)] = None
        elif how == "lazy-stored":
            stored[(voucher_id,)] = _voucher_row(voucher_id, data.draw(_ADDRESS))
    record_undo = data.draw(st.booleans())
    python = _project(events, False, {k: None if r is None else dict(r) for k, r in seeded.items()}, stored,
                      record_undo)
    compiled = _project(events, True, {k: None if r is None else dict(r) for k, r in seeded.items()}, stored,
                        record_undo)
    assert compiled == python


def test_unusual_voucher_ids_are_left_to_the_handlers() -> None:
    """Each id the compiled code does not read itself gives what ``int`` gives (or the handler's
    skip), and an id it reads gives the same row as the handler's."""
    for voucher_id in ["7", 7, " 7", "+7", "0_7", "0007", 7.0, True, "1" * 19, "9" * 40, 2**70, "x", None]:
        events = [DecodedEvent(5, "0x" + "01" * 32, "0x" + "02" * 32, 0, i, "0x" + "dd" * 20, "DataVoucher", name, args,
                               1_700_000_005)
                  for i, (name, args) in enumerate([
                      ("VoucherIssued", {"voucherId": voucher_id, "assetId": "1", "issuer": A, "holder": A, "right": 0,
                                         "scopeHash": "0x" + "11" * 32, "validFrom": 1, "validUntil": 2, "maxUses": 1,
                                         "transferable": True}),
                      ("Transfer", {"from": ZERO, "to": B, "tokenId": voucher_id}),
                      ("Transfer", {"from": B, "to": C, "tokenId": voucher_id})])]
        python = _project(events, False, {}, {}, True)
        compiled = _project(events, True, {}, {}, True)
        assert compiled == python, voucher_id


def test_another_handler_for_those_events_turns_the_compiled_projections_off() -> None:
    """A handler registered in their place (a test, an extension) is the one that runs."""
    seen: list[str] = []
    key = ("DataVoucher", "Transfer")
    original = projections.HANDLERS[key]
    projections.HANDLERS[key] = projections.Handler("DataVoucher", "Transfer", original.reads,
                                                    lambda ev, rows: seen.append(ev.name))
    try:
        assert native.voucher_projector() is None and native.voucher_reader() is None
        ev = DecodedEvent(5, "0x" + "01" * 32, "0x" + "02" * 32, 0, 0, "0x" + "dd" * 20, "DataVoucher", "Transfer",
                          {"from": A, "to": B, "tokenId": "1"}, 1)
        rows = BatchRows(None, True, run=lambda fn: {})
        rows.seed_loaded({"vouchers": {(1,)}}, {})
        assert Store.apply_events(rows, [ev]) == 1
        assert seen == ["Transfer"] and rows.appended["voucher_transfers"] == []
    finally:
        projections.HANDLERS[key] = original
    assert native.voucher_projector() is not None
