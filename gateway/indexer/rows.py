"""The ``events`` table's rows, built without a database connection.

The backfill builds them in its decode stage (gateway.indexer.fetch), so the writer, the
pipeline's bottleneck, only sends them: COPY text for PostgreSQL, parameter tuples otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, Optional

from gateway.indexer.decode import DecodedEvent, canonical_jsons

#: the ``events`` table's columns, in the order of the rows below
EVENT_COLUMNS = ("block_number", "log_index", "block_hash", "tx_hash", "tx_index", "address", "contract",
                 "event", "args")
_EVENT_FIELDS = attrgetter("block_number", "log_index", "block_hash", "tx_hash", "tx_index", "address", "contract",
                           "name")
#: batches of more than this many events go to PostgreSQL by COPY (fewer: one multi-row INSERT)
COPY_MIN_EVENTS = 200


@dataclass
class EventRows:
    """``events`` table rows of a batch, in the form its database takes them (:func:`event_rows`)."""
    count: int
    tuples: list[tuple[Any, ...]] = field(default_factory=list)
    copy_text: Optional[bytes] = None


def copy_escape(value: str) -> str:
    """A text value in PostgreSQL's COPY text format (backslash, tab, newline, CR escaped)."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return value


def event_rows(events: Sequence[DecodedEvent], dialect: str, args_json: Optional[list[str]] = None) -> EventRows:
    """The ``events`` table rows of ``events`` for a database of ``dialect`` (SQLAlchemy's name):
    COPY text (PostgreSQL, more than :data:`COPY_MIN_EVENTS` events) or parameter tuples.
    ``args_json``: each event's ``canonical_json(args)`` when already made (the compiled decoder's)."""
    fields = _EVENT_FIELDS
    if args_json is None:
        args_json = canonical_jsons([e.args for e in events])
    if dialect == "postgresql" and len(events) > COPY_MIN_EVENTS:
        n = len(events)
        text = "".join([f"{b}\t{i}\t{bh}\t{tx}\t{ti}\t{a}\t{c}\t{name}\t{j}\n"
                        for (b, i, bh, tx, ti, a, c, name), j in zip(map(fields, events), args_json)])
        # the values (hex from the node, names, their JSON) hold none of COPY's special characters
        # in practice: checked once on the whole text (each row has exactly its 8 tab separators
        # and its newline, no backslash, no CR); otherwise every value is escaped
        if text.count("\t") != 8 * n or text.count("\n") != n or "\\" in text or "\r" in text:
            esc = copy_escape
            text = "".join([f"{b}\t{i}\t{esc(bh)}\t{esc(tx)}\t{ti}\t{esc(a)}\t{esc(c)}\t{esc(name)}\t{esc(j)}\n"
                            for (b, i, bh, tx, ti, a, c, name), j in zip(map(fields, events), args_json)])
        return EventRows(n, copy_text=text.encode())
    return EventRows(len(events), tuples=[fields(e) + (j,) for e, j in zip(events, args_json)])
