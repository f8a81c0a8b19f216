"""One verification, assembled: :func:`verify_history` rebuilds a voucher's or an asset's history
from the node (gateway.verify.history, proven by gateway.verify.blockproof), compares it with what
a gateway serves (gateway.verify.comparison), checks its manifests (gateway.verify.manifests) and
its served state (gateway.verify.state), and returns the :class:`Verdict`.

The verifier's modules, by job:

- gateway.verify.node        the node: JSON-RPC client (ledger.rpc) with the verifier's defaults,
                             contracts to read, eth_getLogs in ranges, headers and receipts;
- gateway.verify.history     the chain's history of a subject (logs decoded, links);
- gateway.verify.blockproof  header hashes, receipts roots, each log in its receipt;
- gateway.verify.comparison  served events against the chain's, every difference named;
- gateway.verify.manifests   manifests re-hashed to their CID and contentHash;
- gateway.verify.results     the verdict data model and exit codes;
- gateway.verify.core        this module: the verdict of one history;
- gateway.verify.cli         output (text, JSON) and ``dataledger verify``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

from gateway.verify.comparison import compare
from gateway.verify.history import event_key, rebuild
from gateway.verify.manifests import check_manifest, ipfs_fetcher
from gateway.verify.node import Node, node_contracts
from gateway.verify.results import ChainHistory, EventVerdict, ManifestCheck, Verdict, VerifyError
from gateway.verify.selection import check_kind
from gateway.verify.sources import ProvenanceSource, Served
from ledger.rpc import RpcClient


def verify_history(rpc: RpcClient | str, kind: str, subject_id: int, *,
                   source: Optional[ProvenanceSource] = None, served: Optional[Served] = None,
                   contracts: Optional[Mapping[str, Mapping[str, Any]]] = None,
                   state_dir: Optional[Path | str] = None, chain_id: Optional[int] = None,
                   ipfs: Optional[str] = None, fetch: Any = None, manifests: bool = True,
                   max_range: int = 0, block: Optional[int] = None, state: bool = True,
                   withhold: frozenset[str] = frozenset(),
                   withhold_events: frozenset[tuple[str, str]] = frozenset()) -> Verdict:
    """Rebuild the history from the node up to ``block`` (default: the node's head; never the
    gateway's claimed height), compare it with ``source``'s (or ``served``), prove each event's
    block and receipt, check the manifests, and check every served state field against the events
    and the contracts' views at that block (gateway.verify.state). Without a source: chain-side only.

    ``contracts``: {name: {"address", "deployBlock"}}; default: the deployment record in
    ``state_dir`` for the node's chain. ``fetch``: ``cid -> bytes`` (default: IPFS, see
    :func:`ipfs_fetcher`). ``withhold`` (state tables) and ``withhold_events`` ((contract, event)
    pairs): still checked, but the verdict shows no value of them (the gateway's redaction policy
    for a caller who may not see them)."""
    from gateway.verify import state as st

    check_kind(kind)
    if not 0 <= int(subject_id) < 2**256:
        raise VerifyError(f"{kind} id {subject_id} is outside uint256")
    t_start = time.perf_counter()
    node = rpc if isinstance(rpc, Node) else Node(rpc)
    try:
        node_chain, contracts = node_contracts(node, chain_id, contracts, state_dir)
        if served is None and source is not None:
            t0 = time.perf_counter()
            served = source.history(kind, subject_id)
            node.timings["source"] = time.perf_counter() - t0
        history = rebuild(node, kind, subject_id, contracts, to_block=block, max_range=max_range)
        head_n = int(history.head["number"])
        compared_to = head_n
        notes: list[str] = []
        gateway_block = served.indexed_block if served is not None else None
        behind_by = 0
        served_events: list[dict[str, Any]] = list(served.events) if served is not None else []
        if served is not None:
            if gateway_block is None:
                notes.append("the gateway does not say its indexed height: every unserved event counts as missing")
            elif gateway_block < head_n:
                behind_by = head_n - gateway_block
                compared_to = gateway_block
            elif gateway_block > head_n:
                later = [e for e in served_events if _safe_block(e) > head_n]
                served_events = [e for e in served_events if _safe_block(e) <= head_n]
                notes.append(f"the gateway is at block {gateway_block}, past the verified block {head_n}: "
                             f"{len(later)} served events after it and the served state are not checked")
        problems = list(history.problems)

        if served is not None:
            served_blocks = set()
            for e in served_events:
                try:
                    served_blocks.add(int(e["block_number"]))
                except (KeyError, TypeError, ValueError):
                    pass
            missing = sorted(n for n in served_blocks if n not in history.headers)
            node_hashes: dict[int, Optional[str]] = {n: h["hash"] for n, h in history.headers.items()}
            if missing:
                got = node.batch([("eth_getBlockByNumber", [hex(n), False]) for n in missing], phase="rpc_headers")
                node_hashes.update({n: (h["hash"] if h else None) for n, h in zip(missing, got)})
            verdicts = compare(history.events, served_events, node_hashes, compared_to)
            for v in verdicts:  # an event whose arguments the caller may not see: named, values withheld
                if v.detail and (v.contract, v.event) in withhold_events:
                    v.detail = "values withheld from this caller"
        else:
            verdicts = [EventVerdict("ok", e["block_number"], e["log_index"], tx_hash=e["tx_hash"],
                                     contract=e["contract"], event=e["event"], chain_position=i)
                        for i, e in enumerate(history.events)]
        for v in verdicts:
            if v.chain_position is not None:
                e = history.events[v.chain_position]
                v.proof = history.proofs.get(event_key(e), "not checked")
                if v.proof != "ok" and v.status == "ok":
                    v.status, v.detail = "unproven", f"chain proof failed: {v.proof}"

        manifest_checks: list[ManifestCheck] = []
        if manifests and history.manifest_events:
            t0 = time.perf_counter()
            getter = fetch or ipfs_fetcher(ipfs, state_dir)
            manifest_checks = [check_manifest(e, getter) for e in history.manifest_events]
            node.timings["manifests"] = time.perf_counter() - t0
            by_key = {(m.block_number, m.log_index): m for m in manifest_checks}
            for v in verdicts:
                m = by_key.get((v.block_number, v.log_index))
                if m is not None and v.chain_position is not None:
                    v.manifest = m.status if m.status == "ok" else f"{m.status}: {m.detail}"
            for m in manifest_checks:
                if m.status != "ok":
                    problems.append(f"manifest v{m.version} of asset {m.asset_id} ({m.cid}): {m.status}: {m.detail}")
        for b in history.blocks:
            if not b.ok:
                problems.append(f"block {b.number}: {b.detail}")

        # ---- state: replayed events + the contracts' views at the verified block
        checks: list[Any] = []
        exists_on_chain = bool(history.events)
        if state:
            t0 = time.perf_counter()
            stamps = {n: int(h["timestamp"], 16) for n, h in history.headers.items()}
            expected_head = st.expected_rows(kind, int(subject_id), st.replay(history.events, stamps))
            addresses = {n: str(c["address"]).lower() for n, c in contracts.items()}
            views = st.view_values(kind, int(subject_id), st.read_views(node, kind, int(subject_id), addresses, head_n,
                                                                        expected_head))
            exists_on_chain = exists_on_chain or bool(views.get("vouchers") or views.get("assets"))
            if kind == "asset":
                _add_voucher_count(expected_head, history.events, int(subject_id), head_n)
            expected = expected_head
            if compared_to < head_n:
                expected = st.expected_rows(kind, int(subject_id), st.replay(history.events, stamps, upto=compared_to))
                if kind == "asset":
                    _add_voucher_count(expected, history.events, int(subject_id), compared_to)
            served_state = served.state if served is not None and served.state is not None else {}
            if served is not None and gateway_block is not None and gateway_block > head_n:
                served_state = {}
            checks, chain_problems = st.check_state(kind, int(subject_id), served_state, expected, expected_head,
                                                    views, head_n, compared_to,
                                                    served.partial if served is not None else (), withhold)
            problems += chain_problems
            if served is not None and served.state is None:
                notes.append("this source serves no state rows: only the event list was compared")
            node.timings["state"] = time.perf_counter() - t0

        verdict, summary, counts = assemble(kind, int(subject_id), history, served, served_events, verdicts, checks,
                                            problems, notes, exists_on_chain, head_n, compared_to, gateway_block,
                                            behind_by)
        ok = verdict == "verified"
        node.timings["total"] = time.perf_counter() - t_start
        return Verdict(kind=kind, id=int(subject_id), chain_id=history.chain_id, ok=ok, summary=summary,
                       head=history.head, compared_to_block=compared_to,
                       source=(served.origin or (source.name if source else "served")) if served else None,
                       counts=counts, events=verdicts, blocks=history.blocks, manifests=manifest_checks,
                       problems=problems, timings={k: round(v, 6) for k, v in node.timings.items()},
                       rpc_calls=node.calls, rpc_requests=node.requests, verdict=verdict, block=head_n,
                       gateway_block=gateway_block, behind_by=behind_by, state=checks, notes=notes)
    finally:
        if not isinstance(rpc, Node):
            node.close()


def assemble(kind: str, subject_id: int, history: ChainHistory, served: Optional[Served],
             served_events: Sequence[Mapping[str, Any]], verdicts: Sequence[EventVerdict], checks: Sequence[Any],
             problems: list[str], notes: list[str], exists_on_chain: bool, head_n: int, compared_to: int,
             gateway_block: Optional[int], behind_by: int) -> tuple[str, str, dict[str, int]]:
    """The verdict (verified | mismatch | behind | unknown), its one-line summary and the event
    counts by status, from the event verdicts, state checks and problems (``problems`` and
    ``notes`` get what the verdict itself adds)."""
    counts: dict[str, int] = {"chain": len(history.events), "served": len(served_events)}
    for v in verdicts:
        counts[v.status] = counts.get(v.status, 0) + 1
    failed = [v for v in verdicts if v.failed]
    state_failed = [c for c in checks if c.failed]
    served_anything = served is not None and (bool(served_events) or any(served_state_rows(served)))
    gap = [v for v in verdicts if v.status == "not_indexed"]
    if not exists_on_chain and not served_anything and not problems:
        verdict = "unknown"
    elif failed or problems or state_failed or not all(b.ok for b in history.blocks):
        verdict = "mismatch"
    elif behind_by and gap:
        verdict = "behind"
    else:
        verdict = "verified"
    if behind_by and not gap and verdict == "verified":
        # blocks keep coming (geth --dev.period, QBFT's empty blocks): a gateway a few blocks
        # behind that has served every event of this subject up to the verified block is
        # complete for it — verified at the head, with the gateway's height said
        notes.append(f"the gateway is at block {gateway_block}, {behind_by} behind the verified block {head_n}; "
                     f"none of this {kind}'s events fall in between")
    if not exists_on_chain and served_anything:
        problems.append(f"{kind} {subject_id} does not exist on chain at block {head_n}, yet the gateway serves it")
        verdict = "mismatch"
    ok = verdict == "verified"
    kinds = sorted({v.status for v in failed})
    n_ok = sum(1 for c in checks if c.status == "ok")
    n_unv = sum(1 for c in checks if c.status == "unverified")
    n_ns = sum(1 for c in checks if c.status == "not_served")
    n_red = sum(1 for c in checks if c.status == "redacted") + sum(len(v.redacted) for v in verdicts)
    if verdict == "unknown":
        summary = f"{kind} {subject_id}: UNKNOWN: no such {kind} on chain at block {head_n} (and none served)"
    elif served is None:
        what = f"chain-side history of {kind} {subject_id} at block {head_n}: {len(history.events)} events"
        summary = (f"{what}, every block and receipt proven; events agree with the contracts' state" if ok
                   else f"{what}: FAILED ({'; '.join(problems or kinds)})")
    elif verdict == "mismatch":
        named = [c.describe() for c in state_failed][:3]
        summary = (f"{kind} {subject_id}: MISMATCH at block {head_n}: "
                   + "; ".join(named + [f"{counts[k]} {k} event(s)" for k in kinds] + problems[:3]))
    elif verdict == "behind":
        summary = (f"{kind} {subject_id}: gateway behind by {behind_by} blocks; events after block {compared_to} "
                   f"not yet served ({len(gap)} of this {kind}'s events); what it serves up to block "
                   f"{compared_to} matches the chain")
    else:
        summary = (f"{kind} {subject_id}: VERIFIED at block {head_n}: the {len(served_events)} served events match "
                   f"the chain (proven by headers and receipts roots); {n_ok} served fields equal the chain "
                   f"(events replayed, contract views by eth_call at block {head_n})"
                   + (f"; {n_unv} presentation fields unverified" if n_unv else "")
                   + (f"; {n_red} redacted fields not served, not checked" if n_red else "")
                   + (f"; {n_ns} chain rows not served by this source, not checked" if n_ns else ""))
    if notes and verdict != "unknown":
        summary += " (note: " + "; ".join(notes) + ")"
    return verdict, summary, counts


def served_state_rows(served: Served) -> list[Any]:
    """Every state row the source serves (empty when it serves none)."""
    return [r for rows in (served.state or {}).values() for r in rows]


def _safe_block(e: Mapping[str, Any]) -> int:
    try:
        return int(e["block_number"])
    except (KeyError, TypeError, ValueError):
        return -1


def _add_voucher_count(expected: dict[str, Any], events: Sequence[Mapping[str, Any]], asset_id: int, upto: int) -> None:
    """The asset detail's ``vouchers`` (vouchers issued over it) from its VoucherIssued events."""
    for row in expected.get("assets", {}).values():
        row["vouchers"] = sum(1 for e in events if e["event"] == "VoucherIssued" and int(e["block_number"]) <= upto)
