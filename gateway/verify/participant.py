"""Participant verification: every field the gateway serves about a participant (its account row, the
organisation it belongs to, what it holds) checked against the chain.

Chain side, trusting only the node:

1. the participant's history (gateway.verify.selection.PARTICIPANT_RULES: its account events and
   the events of its organisations) by ``eth_getLogs`` up to the verified block (the node's head or
   ``block``), every event's block header and receipt proven (gateway.verify.blockproof.prove);
2. those events replayed through the indexer's own projections into the rows an honest gateway
   holds (``participants``, ``organisations``);
3. ParticipantRegistry's own views at the verified block by ``eth_call``: ``participant`` (jurisdiction,
   roles, licence expiry, status, organisation), ``organisation`` (status, allowed roles,
   jurisdiction, officer), ``isActive`` and ``licenceValid`` (the standing, recomputed from the
   replayed rows and the block's timestamp), and ``holdingsOf`` of DataVoucher and AssetRegistry
   (what it holds). Replayed rows and views must agree (else a chain problem, never "verified").

Each served field is then ``ok`` / ``mismatch`` (named: "participant 0x… status: served active,
chain suspended") / ``unverified`` (presentation, listed) / ``redacted``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, Optional

from gateway.indexer import projections as pj
from gateway.indexer.decode import Decoder
from gateway.verify import state as st
from gateway.verify.blockproof import prove
from gateway.verify.comparison import compare
from gateway.verify.history import add_links, event_dict, event_key
from gateway.verify.node import Node, get_logs, node_contracts
from gateway.verify.results import ChainHistory, EventVerdict, Verdict, VerifyError
from gateway.verify.selection import check_account, filter_participant, participant_log_filters, participant_org_ids
from gateway.verify.sources import Served
from ledger.contracts.models import LICENSED_ROLES, Role, Status

KIND = "participant"
ZERO32 = "0x" + "00" * 32
#: served fields read from the contracts' views only (no event of the participant's history sets them)
HOLDINGS = {"vouchers_held": "DataVoucher", "assets_held": "AssetRegistry"}
#: served labels with no chain counterpart of their own
PRESENTATION = st.PRESENTATION | {"verification"}


def role_names(roles: int) -> list[str]:
    """The API's ``role_names`` of a role bit set (gateway.api.routes.participants)."""
    return [r.name.lower() for r in Role if r.name is not None and int(roles) & int(r)]


def rebuild_participant(node: Node, account: str, contracts: Mapping[str, Mapping[str, Any]],
                        to_block: Optional[int] = None, max_range: int = 0) -> ChainHistory:
    """The participant's history from the node's logs, with block proofs."""
    acct = check_account(account)
    deployment: dict[str, dict[str, Any]] = {
        n: {"address": str(c["address"]).lower(), "deployBlock": int(c.get("deployBlock", 0))}
        for n, c in contracts.items()}
    addresses = {n: str(c["address"]) for n, c in deployment.items()}
    chain_id = int(node.call("eth_chainId", [], phase="rpc_head"), 16)
    head = node.call("eth_getBlockByNumber", [hex(to_block) if to_block is not None else "latest", False],
                     phase="rpc_head")
    if head is None:
        raise VerifyError(f"the node has no block {to_block}")
    head_number = int(head["number"], 16)
    from_block = min((int(c["deployBlock"]) for c in deployment.values()), default=0)
    decoder = Decoder(addresses)
    logs = get_logs(node, participant_log_filters(acct, addresses), from_block, head_number, max_range)
    events = [event_dict(decoder.decode(log)) for log in logs]
    orgs = participant_org_ids(acct, events)
    if orgs:
        more = get_logs(node, [f for f in participant_log_filters(acct, addresses, orgs) if f["_rule"].key == "orgs"],
                         from_block, head_number, max_range)
        logs += more
        events += [event_dict(decoder.decode(log)) for log in more]
    events.sort(key=event_key)
    events = filter_participant(acct, events)
    add_links(events)
    raw = {(int(lg["blockNumber"], 16), int(lg["logIndex"], 16)): lg for lg in logs}
    history = ChainHistory(KIND, int(acct, 16), chain_id, deployment, from_block,
                           {"number": head_number, "hash": head["hash"], "timestamp": int(head["timestamp"], 16)},
                           events, raw, [])
    prove(node, history)
    return history


def expected_rows(account: str, rows: st.MemRows) -> dict[str, dict[tuple[str, ...], dict[str, Any]]]:
    """The replayed participant row (plus ``role_names``) and its organisations' rows."""
    out: dict[str, dict[tuple[str, ...], dict[str, Any]]] = {"participants": {}, "organisations": {}}
    row = rows.get("participants", (account,))
    if row is not None:
        out["participants"][(account,)] = {**row, "role_names": role_names(int(row["roles"]))}
    for org in rows.rows("organisations"):
        out["organisations"][(str(org["org_id"]).lower(),)] = dict(org)
    return out


def read_views(node: Node, account: str, addresses: Mapping[str, str], block: int,
               org_ids: Sequence[str]) -> dict[str, Any]:
    """label -> decoded return value of the views at ``block`` (None when a call reverted)."""
    calls: list[tuple[str, str, str, tuple[Any, ...]]] = [
        ("participant", "ParticipantRegistry", "participant", (account,)),
        ("active", "ParticipantRegistry", "isActive", (account,)),
        ("licence", "ParticipantRegistry", "licenceValid", (account,)),
        *((f"held:{f}", c, "holdingsOf", (account,)) for f, c in HOLDINGS.items() if c in addresses),
        *((f"org:{o}", "ParticipantRegistry", "organisation", (bytes.fromhex(o[2:]),)) for o in org_ids),
    ]
    replies = node.try_batch([("eth_call", [{"to": addresses[c], "data": st.call_data(c, f, a)}, hex(block)])
                              for _, c, f, a in calls], phase="rpc_state")
    return {label: st.decode_return(c, f, value) if ok and value not in (None, "0x") else None
            for (label, c, f, _), (ok, value) in zip(calls, replies)}


def view_values(views: Mapping[str, Any], expected: Mapping[str, Mapping[tuple[str, ...], Mapping[str, Any]]],
                account: str) -> dict[str, dict[tuple[str, ...], dict[str, Any]]]:
    """The views mapped onto the projection's columns: {table: {key: {column: value}}}."""
    out: dict[str, dict[tuple[str, ...], dict[str, Any]]] = {"participants": {}, "organisations": {}}
    p = (views.get("participant") or {}).get("p")
    if p is not None:
        status = Status(int(p["status"]))
        if status != Status.NONE:
            out["participants"][(account,)] = {
                "org_id": p["orgId"], "jurisdiction": pj.text_of(p["jurisdiction"]), "roles": p["roles"],
                "licence_expiry": p["licenceExpiry"], "status": str(status.name).lower()}
        elif (account,) in expected.get("participants", {}):
            out["participants"][(account,)] = {"status": "removed"}  # the chain deletes a removed record
    for label, value in views.items():
        if label.startswith("org:") and value is not None and int(value["_0"]["status"]) != Status.NONE:
            o = value["_0"]
            out["organisations"][(label[4:],)] = {
                "jurisdiction": pj.text_of(o["jurisdiction"]), "allowed_roles": o["allowedRoles"],
                "officer": o["officer"], "status": str(Status(int(o["status"])).name).lower()}
    return out


def standing_problems(account: str, expected: Mapping[str, Mapping[tuple[str, ...], Mapping[str, Any]]],
                      views: Mapping[str, Any], block: int, timestamp: int) -> list[str]:
    """The standing the contract computes (isActive, licenceValid) against the replayed rows."""
    row = expected.get("participants", {}).get((account,))
    org = expected.get("organisations", {}).get((str(row["org_id"]).lower(),)) if row else None
    active = bool(row and org and row["status"] == "active" and org["status"] == "active")
    licensed = bool(row and int(row["roles"]) & int(LICENSED_ROLES))
    valid = active and (not licensed or int(row["licence_expiry"]) > timestamp if row else False)
    out = []
    for label, want in (("active", active), ("licence", valid)):
        got = views.get(label)
        if got is None:
            out.append(f"participant {account}: ParticipantRegistry view {label} failed at block {block}")
        elif bool(got["_0"]) != want:
            out.append(f"participant {account} {'isActive' if label == 'active' else 'licenceValid'}: events give "
                       f"{want}, contract state at block {block} {bool(got['_0'])}")
    return out


def _subject(table: str, key: Sequence[str]) -> str:
    return f"participant {key[0]}" if table == "participants" else f"organisation {key[0]}"


def check_served(account: str, served: Mapping[str, Sequence[Mapping[str, Any]]],
                 expected: Mapping[str, Mapping[tuple[str, ...], Mapping[str, Any]]],
                 views: Mapping[str, Mapping[tuple[str, ...], Mapping[str, Any]]], held: Mapping[str, Optional[int]],
                 block: int, compared_to: int) -> list[st.FieldCheck]:
    """One check per served field of the participant rows and the organisation rows."""
    at = f"block {compared_to}"
    checks: list[st.FieldCheck] = []
    current = expected.get("participants", {}).get((account,))
    for table in ("participants", "organisations"):
        want = expected.get(table, {})
        if table == "organisations":  # the gateway serves the organisation the participant is in
            want = {k: v for k, v in want.items() if current is not None and k == (str(current["org_id"]).lower(),)}
        seen: set[tuple[str, ...]] = set()
        for row in served.get(table, []):
            origin = str(row.get("_origin", table))
            key: tuple[str, ...] = (str(row.get("account" if table == "participants" else "org_id", "")).lower(),)
            name = _subject(table, key)
            erow = want.get(key)
            if erow is None:
                what = "participant" if table == "participants" else "organisation of this participant"
                checks.append(st.FieldCheck(name, "(row)", "mismatch", served="served", chain=None,
                                            against=f"no such {what} on chain at {at}", origin=origin))
                continue
            seen.add(key)
            hidden = st.redacted_fields(row)
            vrow = views.get(table, {}).get(key, {}) if compared_to == block else {}
            for f, value in row.items():
                if f.startswith("_"):
                    continue
                if f in hidden:
                    checks.append(st.FieldCheck(name, f, "redacted", against="not served — not checked", origin=origin))
                elif table == "participants" and f in HOLDINGS:
                    if compared_to != block or held.get(f) is None:
                        checks.append(st.FieldCheck(name, f, "unverified", served=value,
                                                    against=f"read by eth_call at block {block} only; the gateway "
                                                            f"is at {at}", origin=origin))
                    else:
                        ok = st.norm(value) == st.norm(held[f])
                        checks.append(st.FieldCheck(name, f, "ok" if ok else "mismatch", served=value, chain=held[f],
                                                    view=held[f], against=f"eth_call {HOLDINGS[f]}.holdingsOf at "
                                                    f"block {block}", origin=origin))
                elif f in erow:
                    ok = st.norm(value) == st.norm(erow[f])
                    against = f"events to {at}" + (f" + eth_call at block {block}" if f in vrow else "")
                    checks.append(st.FieldCheck(name, f, "ok" if ok else "mismatch", served=value, chain=erow[f],
                                                view=vrow.get(f), against=against, origin=origin))
                else:
                    checks.append(st.FieldCheck(name, f, "unverified", served=value,
                                                against="presentation field: no chain counterpart", origin=origin))
        for key in want:
            if key not in seen:
                checks.append(st.FieldCheck(_subject(table, key), "(row)", "mismatch", served=None, chain="on chain",
                                            against=f"on chain at {at}, not served", origin=table))
    return checks


def verify_participant(rpc: str | Node, account: str, *, source: Any = None, served: Optional[Served] = None,
                       contracts: Optional[Mapping[str, Mapping[str, Any]]] = None,
                       state_dir: Optional[str] = None, chain_id: Optional[int] = None,
                       max_range: int = 0, block: Optional[int] = None) -> Verdict:
    """Rebuild the participant's history from the node up to ``block`` (default the node's head;
    never the gateway's claimed height), prove it, compare the served events (when the source serves
    them) and check every served field against the replayed events and the views at that block.

    ``source``: an object with ``participant(account) -> Served`` (gateway.verify.sources)."""
    acct = check_account(account)
    t_start = time.perf_counter()
    node = rpc if isinstance(rpc, Node) else Node(rpc)
    try:
        node_chain, contracts = node_contracts(node, chain_id, contracts, state_dir)
        if served is None and source is not None:
            t0 = time.perf_counter()
            served = source.participant(acct)
            node.timings["source"] = time.perf_counter() - t0
        history = rebuild_participant(node, acct, contracts, to_block=block, max_range=max_range)
        head_n = int(history.head["number"])
        compared_to = head_n
        notes: list[str] = []
        problems = list(history.problems)
        gateway_block = served.indexed_block if served is not None else None
        behind_by = 0
        if served is not None:
            if gateway_block is None:
                notes.append("the gateway does not say its indexed height: every unserved event counts as missing")
            elif gateway_block < head_n:
                behind_by, compared_to = head_n - gateway_block, gateway_block
            elif gateway_block > head_n:
                notes.append(f"the gateway is at block {gateway_block}, past the verified block {head_n}: "
                             "its state is not checked")
        served_events = list(served.events) if served is not None and served.extra.get("events") != "none" else None
        if served_events is not None:
            served_events = [e for e in served_events if int(e.get("block_number", -1)) <= head_n]
            node_hashes: dict[int, Optional[str]] = {n: h["hash"] for n, h in history.headers.items()}
            missing = sorted({int(e["block_number"]) for e in served_events} - set(node_hashes))
            if missing:
                got = node.batch([("eth_getBlockByNumber", [hex(n), False]) for n in missing], phase="rpc_headers")
                node_hashes.update({n: (h["hash"] if h else None) for n, h in zip(missing, got)})
            verdicts = compare(history.events, served_events, node_hashes, compared_to)
        else:
            if served is not None:
                notes.append("this source serves no event list for participants: the chain's events were proven "
                             "and replayed, and the served fields checked against them")
            verdicts = [EventVerdict("ok", e["block_number"], e["log_index"], tx_hash=e["tx_hash"],
                                     contract=e["contract"], event=e["event"], chain_position=i)
                        for i, e in enumerate(history.events)]
        for v in verdicts:
            if v.chain_position is not None:
                v.proof = history.proofs.get(event_key(history.events[v.chain_position]), "not checked")
                if v.proof != "ok" and v.status == "ok":
                    v.status, v.detail = "unproven", f"chain proof failed: {v.proof}"
        for b in history.blocks:
            if not b.ok:
                problems.append(f"block {b.number}: {b.detail}")

        # ---- state: replayed events + ParticipantRegistry's views at the verified block
        t0 = time.perf_counter()
        stamps = {n: int(h["timestamp"], 16) for n, h in history.headers.items()}
        expected_head = expected_rows(acct, st.replay(history.events, stamps))
        addresses = {n: str(c["address"]).lower() for n, c in contracts.items()}
        raw_views = read_views(node, acct, addresses, head_n, [k[0] for k in expected_head["organisations"]])
        views = view_values(raw_views, expected_head, acct)
        for table, by_key in views.items():  # the chain against itself
            for key, vrow in by_key.items():
                erow = expected_head.get(table, {}).get(key)
                if erow is None:
                    problems.append(f"{_subject(table, key)}: in the contract's state at block {head_n} but no event "
                                    "of the history creates it")
                    continue
                for f, v in vrow.items():
                    if st.norm(erow.get(f)) != st.norm(v):
                        problems.append(f"{_subject(table, key)} {f}: events give {erow.get(f)}, contract state at "
                                        f"block {head_n} {v}")
        if expected_head["participants"]:
            problems += standing_problems(acct, expected_head, raw_views, head_n, int(history.head["timestamp"]))
        held = {f: (int(raw_views[f"held:{f}"]["_0"]) if raw_views.get(f"held:{f}") else None) for f in HOLDINGS}
        expected = expected_head if compared_to == head_n else \
            expected_rows(acct, st.replay(history.events, stamps, upto=compared_to))
        served_state = served.state if served is not None and served.state is not None else {}
        if gateway_block is not None and gateway_block > head_n:
            served_state = {}
        checks = check_served(acct, served_state, expected, views, held, head_n, compared_to) \
            if served is not None else []
        node.timings["state"] = time.perf_counter() - t0

        exists_on_chain = bool(history.events) or bool(views["participants"])
        served_anything = served is not None and (bool(served_events) or any(served_state.values()))
        failed = [v for v in verdicts if v.failed]
        state_failed = [c for c in checks if c.failed]
        if not exists_on_chain and not served_anything and not problems:
            verdict = "unknown"
        elif failed or problems or state_failed:
            verdict = "mismatch"
        elif behind_by and (served_events is None or any(v.status == "not_indexed" for v in verdicts)):
            verdict = "behind"
        else:
            verdict = "verified"
        if behind_by and verdict == "verified":  # complete for this participant up to the verified block
            notes.append(f"the gateway is at block {gateway_block}, {behind_by} behind the verified block {head_n}; "
                         "none of this participant's events fall in between")
        if not exists_on_chain and served_anything:
            problems.append(f"participant {acct} does not exist on chain at block {head_n}, yet the gateway serves it")
            verdict = "mismatch"
        counts: dict[str, int] = {"chain": len(history.events), "served": len(served_events or [])}
        for v in verdicts:
            counts[v.status] = counts.get(v.status, 0) + 1
        n_ok = sum(1 for c in checks if c.status == "ok")
        n_unv = sum(1 for c in checks if c.status == "unverified")
        if verdict == "unknown":
            summary = f"participant {acct}: UNKNOWN: no such participant on chain at block {head_n} (and none served)"
        elif served is None:
            what = f"chain-side history of participant {acct} at block {head_n}: {len(history.events)} events"
            summary = (f"{what}, every block and receipt proven; events agree with ParticipantRegistry's state"
                       if verdict == "verified" else f"{what}: FAILED ({'; '.join(problems)})")
        elif verdict == "mismatch":
            kinds = sorted({v.status for v in failed})
            summary = (f"participant {acct}: MISMATCH at block {head_n}: "
                       + "; ".join([c.describe() for c in state_failed][:3]
                                   + [f"{counts[k]} {k} event(s)" for k in kinds] + problems[:3]))
        elif verdict == "behind":
            gap = sum(1 for v in verdicts if v.status == "not_indexed")
            summary = (f"participant {acct}: gateway behind by {behind_by} blocks; events after block {compared_to} "
                       f"not yet served ({gap} of this participant's events); what it serves up to block "
                       f"{compared_to} matches the chain")
        else:
            summary = (f"participant {acct}: VERIFIED at block {head_n}: {n_ok} served fields equal the chain "
                       f"(its {len(history.events)} events proven and replayed, ParticipantRegistry views by eth_call "
                       f"at block {head_n})" + (f"; {n_unv} presentation fields unverified" if n_unv else ""))
        if notes and verdict != "unknown":
            summary += " (note: " + "; ".join(notes) + ")"
        node.timings["total"] = time.perf_counter() - t_start
        head = {k: history.head[k] for k in ("number", "hash")}
        return Verdict(kind=KIND, id=acct, chain_id=history.chain_id, ok=verdict == "verified", summary=summary,
                       head=head, compared_to_block=compared_to,
                       source=(served.origin or getattr(source, "name", "served")) if served else None,
                       counts=counts, events=verdicts, blocks=history.blocks, manifests=[], problems=problems,
                       timings={k: round(v, 6) for k, v in node.timings.items()}, rpc_calls=node.calls,
                       rpc_requests=node.requests, verdict=verdict, block=head_n, gateway_block=gateway_block,
                       behind_by=behind_by, state=checks, notes=notes)
    finally:
        if not isinstance(rpc, Node):
            node.close()
