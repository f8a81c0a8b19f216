"""The compiled part of the backfill's hot path (native/, Rust, built by scripts/setup.sh).

On two cores a Python backfill is bound by the interpreter lock: parsing the node's JSON and
decoding the logs took about two fifths of it. The module ``gateway.indexer._logs`` does both
without holding the lock (the writer runs meanwhile), and makes the Python objects at the end:

- :func:`parse_logs_reply` parses an ``eth_getLogs`` reply body into a ``LogBatch`` (logs held in
  Rust), or parses it the Python way (:func:`ledger.rpc.loads`) when it is not an ordinary answer
  (an error, a removed log, a JSON escape or non-ASCII text in a string, an odd number);
- :func:`native_decoder` gives the ``_logs.Decoder`` of a :class:`~gateway.indexer.decode.Decoder`
  (the same ABIs, looked up the same way), whose ``decode(batch)`` gives the ``DecodedEvent`` and
  canonical argument JSON of every log it decodes the ordinary way, and leaves the others (an
  event no ABI knows, array or tuple arguments, malformed data, invalid UTF-8, an integer a JSON
  number cannot hold) to the Python decoder.

- :func:`voucher_projector` and :func:`voucher_reader` give the compiled projections of
  DataVoucher's ``VoucherIssued`` and ``Transfer``, and the rows they read (``Store.apply_events``
  and ``projections.reads_of`` run them; they hold the lock, in less time than the handlers).

Without the module (no Rust toolchain when the stack was set up) everything runs in Python, with
the same results: ``tests/gateway/test_indexer_native.py`` holds the two paths equal.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any, Optional, cast

from ledger.rpc import loads

if TYPE_CHECKING:
    from gateway.indexer.decode import Decoder

_logs: Optional[ModuleType]
try:
    from gateway.indexer import _logs
except ImportError:  # pragma: no cover - exercised where the module was not built
    _logs = None

#: whether the compiled module is here
AVAILABLE = _logs is not None


def parse_logs_reply(body: bytes) -> Any:
    """An ``eth_getLogs`` reply body -> ``{"result": LogBatch}``, or what :func:`ledger.rpc.loads`
    makes of it when it is not an ordinary answer (then ``RpcClient.call`` handles it as ever)."""
    assert _logs is not None
    batch = _logs.parse_reply(body)
    if batch is None:
        return loads(body)
    return {"result": batch}


def is_batch(logs: Any) -> bool:
    """Whether ``logs`` is a parsed ``LogBatch`` (not a list of dicts)."""
    return _logs is not None and isinstance(logs, _logs.LogBatch)


def native_decoder(decoder: Decoder) -> Any:
    """The compiled decoder of ``decoder``'s ABIs and routing (see the module docstring)."""
    assert _logs is not None
    from gateway.indexer.decode import DecodedEvent

    index: dict[int, int] = {}
    specs: list[tuple[str, bool, list[tuple[str, str]], list[tuple[str, str]]]] = []

    def spec_index(spec: Any) -> int:
        i = index.get(id(spec))
        if i is None:
            i = index[id(spec)] = len(specs)
            specs.append((spec.name, spec.hex_decoder is not None, list(zip(spec.indexed_names, spec.indexed_types)),
                          list(zip(spec.data_names, spec.data_types))))
        return i

    by_address = [(address, topic0, n, spec_index(spec))
                  for address, table in decoder.by_address.items() for (topic0, n), spec in table.items()]
    by_topic = [(topic0, n, spec_index(spec)) for (topic0, n), spec in decoder.by_topic.items()]
    return _logs.Decoder(dict(decoder.names), specs, by_address, by_topic, DecodedEvent)


def copy_rows(rows: list[tuple[Any, ...]]) -> Optional[bytes]:
    """``rows`` in PostgreSQL's COPY text format, the bytes psycopg's ``Copy.write_row`` writes,
    made in one compiled call; None without the module, or when a value is not None, bool, int or
    str, or a string holds a NUL (the caller then writes the rows with psycopg)."""
    if _logs is None:
        return None
    text: Optional[bytes] = _logs.copy_rows(rows)
    return text



def _voucher_handlers() -> bool:
    """Whether DataVoucher's ``VoucherIssued`` and ``Transfer`` handlers are the ones the compiled
    projections copy (a test or an extension may register others: then none is compiled)."""
    from gateway.indexer import projections

    issued = projections.HANDLERS.get(("DataVoucher", "VoucherIssued"))
    transfer = projections.HANDLERS.get(("DataVoucher", "Transfer"))
    return (issued is not None and transfer is not None
            and issued.apply is projections.voucher_issued and issued.reads is projections._voucher
            and transfer.apply is projections.voucher_transfer and transfer.reads is projections._erc721_voucher)


def voucher_projector() -> Optional[Callable[..., tuple[int, int]]]:
    """``_logs.project_vouchers``: ``projections.voucher_issued`` and ``voucher_transfer`` with
    ``BatchRows.put``, compiled (``Store.apply_events`` runs it); None without the module or when
    other handlers are registered for those events."""
    project = getattr(_logs, "project_vouchers", None)
    if project is None or not _voucher_handlers():
        return None
    return cast(Callable[..., tuple[int, int]], project)


def voucher_reader() -> Optional[Callable[[list[Any], set[Any]], list[Any]]]:
    """``_logs.voucher_reads``: the ``vouchers`` keys those two events read, compiled
    (``projections.reads_of`` runs it); None as for :func:`voucher_projector`."""
    reads = getattr(_logs, "voucher_reads", None)
    if reads is None or not _voucher_handlers():
        return None
    return cast(Callable[[list[Any], set[Any]], list[Any]], reads)
