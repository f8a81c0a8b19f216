"""Compare the events a gateway serves with the chain's, naming every difference: ``missing``,
``extra``, ``altered`` (which fields), ``reordered``, ``non_canonical``, ``not_indexed``."""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from typing import Any, Optional

from gateway.indexer.decode import canonical_json
from gateway.verify.history import event_key
from gateway.verify.results import EventVerdict

#: event fields compared between the gateway and the chain (besides the position)
COMPARED_FIELDS = ("block_hash", "tx_hash", "tx_index", "address", "contract", "event", "args")
#: what identifies an event's content regardless of where it is served
CONTENT_FIELDS = ("address", "contract", "event", "args")


def _norm(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _content(e: Mapping[str, Any]) -> str:
    return canonical_json({k: e.get(k) for k in CONTENT_FIELDS})


def _diff_fields(served: Mapping[str, Any], chain: Mapping[str, Any]) -> list[str]:
    out = []
    for f in COMPARED_FIELDS:
        if f not in served:
            if f == "tx_index":
                continue  # optional in the API shape
            out.append(f)
            continue
        if f == "args":
            sa, ca = served.get("args"), chain.get("args")
            hidden = redacted_args(served)
            if hidden and isinstance(sa, dict) and isinstance(ca, dict):
                sa = {k: v for k, v in sa.items() if k not in hidden}
                ca = {k: v for k, v in ca.items() if k not in hidden}
            if canonical_json(sa) != canonical_json(ca):
                if isinstance(sa, dict) and isinstance(ca, dict):
                    keys = sorted(set(sa) | set(ca))
                    out += [f"args.{k}" for k in keys if canonical_json(sa.get(k)) != canonical_json(ca.get(k))
                            or (k in sa) != (k in ca)]
                else:
                    out.append("args")
        elif f == "tx_index":
            if int(served[f]) != int(chain[f]):
                out.append(f)
        elif _norm(served.get(f)) != _norm(chain.get(f)):
            out.append(f)
    links = served.get("links")
    if isinstance(links, Mapping):
        for k, mine in (chain.get("links") or {}).items():
            theirs = links.get(k)
            if theirs is not None and mine is not None and str(theirs).lower() != str(mine).lower():
                out.append(f"links.{k}")
    return out


def redacted_args(served: Mapping[str, Any]) -> set[str]:
    """Arguments a served event says it withholds (``"redacted": ["args.requester", ...]``)."""
    r = served.get("redacted")
    if not isinstance(r, list):
        return set()
    return {str(x)[5:] for x in r if str(x).startswith("args.")}


def _lis_positions(seq: list[int]) -> set[int]:
    """Indices (into ``seq``) of one longest strictly increasing subsequence."""
    tails: list[int] = []
    tails_idx: list[int] = []
    prev = [-1] * len(seq)
    for i, v in enumerate(seq):
        j = bisect.bisect_left(tails, v)
        if j == len(tails):
            tails.append(v)
            tails_idx.append(i)
        else:
            tails[j] = v
            tails_idx[j] = i
        prev[i] = tails_idx[j - 1] if j > 0 else -1
    out: set[int] = set()
    i = tails_idx[-1] if tails_idx else -1
    while i >= 0:
        out.add(i)
        i = prev[i]
    return out


def compare(chain_events: Sequence[Mapping[str, Any]], served: Sequence[Mapping[str, Any]],
            node_hashes: Mapping[int, Optional[str]], compared_to: Optional[int] = None) -> list[EventVerdict]:
    """Verdicts for the union of both lists, in chain order (served-only events where served).
    ``node_hashes``: block number -> the node's block hash (None: the node has no such block).
    ``compared_to``: chain events above this block are ``not_indexed`` (not a failure)."""
    chain_by_key = {event_key(e): (i, e) for i, e in enumerate(chain_events)}
    chain_by_content: dict[str, tuple[int, int]] = {_content(e): event_key(e) for e in chain_events}
    verdicts: list[EventVerdict] = []
    seen: set[tuple[int, int]] = set()
    matched_positions: list[tuple[int, int]] = []  # (served position, chain position)
    by_position: dict[int, EventVerdict] = {}
    for pos, s in enumerate(served):
        try:
            key = event_key(s)
        except (KeyError, TypeError, ValueError):
            verdicts.append(EventVerdict("extra", -1, -1, position=pos, detail="malformed event (no block/log index)"))
            continue
        v = EventVerdict("ok", key[0], key[1], tx_hash=str(s.get("tx_hash", "")), contract=str(s.get("contract", "")),
                         event=str(s.get("event", "")), position=pos)
        by_position[pos] = v
        verdicts.append(v)
        if key in seen:
            v.status, v.detail = "extra", "served twice"
            continue
        seen.add(key)
        node_hash = node_hashes.get(key[0])
        served_hash = str(s.get("block_hash", "")).lower()
        chain = chain_by_key.get(key)
        if node_hash is None:
            v.status, v.fields = "non_canonical", ["block_hash"]
            v.detail = f"the node has no block {key[0]}"
            continue
        if served_hash != node_hash.lower():
            v.status = "non_canonical"
            v.fields = ["block_hash"] + ([f for f in _diff_fields(s, chain[1]) if f != "block_hash"] if chain else [])
            v.detail = f"served block hash {served_hash[:18]}… is not the node's block {key[0]} ({node_hash[:18]}…)"
            if chain:
                v.chain_position = chain[0]
            continue
        if chain is None:
            other = chain_by_content.get(_content(s))
            if other is not None:
                v.status, v.detail = "reordered", f"this event is at block {other[0]} log {other[1]} on chain"
                v.fields = ["block_number", "log_index"]
            else:
                v.status, v.detail = "extra", "no such event of this history on chain"
            continue
        v.chain_position = chain[0]
        v.redacted = sorted(f"args.{k}" for k in redacted_args(s))
        diff = _diff_fields(s, chain[1])
        if diff:
            other = chain_by_content.get(_content(s))
            if other is not None and other != key:
                v.status = "reordered"
                v.detail = f"served at block {key[0]} log {key[1]}; on chain at block {other[0]} log {other[1]}"
                v.fields = diff
            else:
                v.status, v.fields = "altered", diff
                v.detail = "differs from the chain in " + ", ".join(diff)
        else:
            matched_positions.append((pos, chain[0]))
    # served order against chain order
    if matched_positions:
        keep = _lis_positions([c for _, c in matched_positions])
        for i, (pos, cpos) in enumerate(matched_positions):
            if i not in keep:
                v = by_position[pos]
                v.status, v.detail = "reordered", f"served at position {pos}, chain position {cpos}"
    for i, e in enumerate(chain_events):
        if event_key(e) in seen:
            continue
        status = "missing"
        detail = "on chain, not served"
        if compared_to is not None and int(e["block_number"]) > compared_to:
            status, detail = "not_indexed", f"not yet served: after the gateway's indexed block {compared_to}"
        verdicts.append(EventVerdict(status, int(e["block_number"]), int(e["log_index"]), tx_hash=e["tx_hash"],
                                     contract=e["contract"], event=e["event"], chain_position=i, detail=detail))

    def order(v: EventVerdict) -> tuple[int, int, int]:
        return (v.block_number, v.log_index, v.position if v.position is not None else -1)

    verdicts.sort(key=order)
    return verdicts
