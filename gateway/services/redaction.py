"""The ONE redaction policy of the gateway: which fields of which rows and event arguments a
caller may see. Every route, page, bundle and search result that serves clearances, user
authorisations or redeemed uses goes through here.

Roles (a caller may have several):

- **anonymous**: no session;
- **participant**: signed in (any standing);
- **party**: the subject's own side: the clearance's requester, the use's holder or user, the
  authorisation's holder or user, and any account of the same organisation as one of them;
- **customs** / **regulator** (supervisors): everything; the data **authority** also sees uses.

Rules (the same as ``/v1/clearances``, ``/v1/vouchers/{id}/users`` and ``/v1/uses``):

=====================================  ==============================================  ==========================
row / event                            hidden from non-parties                         who sees everything
=====================================  ==============================================  ==========================
clearance (row)                        requester, recipient, purpose_cid, officer,     party, customs, regulator
                                       conditions_cid, reason
DataCustoms.ClearanceRequested         args.requester, args.recipient, args.purposeCid  party, customs, regulator
DataCustoms.ClearanceApproved          args.officer, args.recipient, args.conditionsCid party, customs, regulator
DataCustoms.ClearanceRejected          args.officer, args.reason                        party, customs, regulator
DataCustoms.ClearanceRevoked           args.revoker, args.recipient, args.reason        party, customs, regulator
DataVoucher.UserAuthorised             args.user, args.allowed                          party, customs, regulator
DataVoucher.VoucherUsed                args.user, args.purposeHash                      party, customs, regulator,
                                                                                        authority
=====================================  ==============================================  ==========================

Hidden fields are represented uniformly: the value is served as ``null`` and the item carries
``"redacted": ["args.requester", ...]`` (rows: ``["requester", ...]``), an empty list when nothing
is hidden. Proof bundles carry raw receipts (every log's data), so a bundle of a history with an
event hidden from the caller is refused (:func:`refuse_bundle`).

Deliberate trust assumption: this hides the fields from the gateway's API and pages only. The
events are public logs of the chain: anyone with access to a node reads them in full.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Optional

from fastapi import Request
from sqlalchemy import Connection, text

from gateway.core.errors import ApiError
from ledger.contracts.models import Role

CLEARANCE_HIDDEN = ("requester", "recipient", "purpose_cid", "officer", "conditions_cid", "reason")

#: (contract, event) -> hidden argument names
EVENT_HIDDEN: dict[tuple[str, str], tuple[str, ...]] = {
    ("DataCustoms", "ClearanceRequested"): ("requester", "recipient", "purposeCid"),
    ("DataCustoms", "ClearanceApproved"): ("officer", "recipient", "conditionsCid"),
    ("DataCustoms", "ClearanceRejected"): ("officer", "reason"),
    ("DataCustoms", "ClearanceRevoked"): ("revoker", "recipient", "reason"),
    ("DataVoucher", "UserAuthorised"): ("user", "allowed"),
    ("DataVoucher", "VoucherUsed"): ("user", "purposeHash"),
}


#: projection tables whose rows carry the hidden fields above (the verifier withholds their values)
WITHHELD_TABLES = frozenset({"clearances", "voucher_users", "voucher_uses"})


@dataclass
class Viewer:
    """Who is looking, as the policy needs it."""

    address: Optional[str] = None
    roles: int = 0
    org_id: Optional[str] = None
    _orgs: dict[str, Optional[str]] = field(default_factory=dict)

    @property
    def anonymous(self) -> bool:
        return self.address is None

    @property
    def supervisor(self) -> bool:
        return bool(self.roles & (int(Role.CUSTOMS) | int(Role.REGULATOR)))

    @property
    def authority(self) -> bool:
        return bool(self.roles & int(Role.AUTHORITY))

    @property
    def role(self) -> str:
        """The caller's class, for error messages and docs."""
        if self.anonymous:
            return "anonymous"
        if self.roles & int(Role.REGULATOR):
            return "regulator"
        if self.roles & int(Role.CUSTOMS):
            return "customs"
        return "participant"

    def _org(self, conn: Optional[Connection], account: str) -> Optional[str]:
        if account not in self._orgs:
            org = None
            if conn is not None:
                row = conn.execute(text("SELECT org_id FROM participants WHERE account = :a"),
                                   {"a": account}).first()
                org = str(row[0]) if row is not None else None
            self._orgs[account] = org
        return self._orgs[account]

    def is_party(self, parties: Iterable[Optional[str]], conn: Optional[Connection] = None) -> bool:
        """The caller is one of ``parties`` or in the organisation of one of them."""
        if self.address is None:
            return False
        me = self.address.lower()
        accounts = [p.lower() for p in parties if isinstance(p, str) and p]
        if me in accounts:
            return True
        if self.org_id is None or conn is None:
            return False
        return any(self._org(conn, a) == self.org_id for a in accounts)


def viewer_of(caller: Any, conn: Optional[Connection] = None) -> Viewer:
    """A Viewer from gateway.api.deps.Caller (or None: anonymous)."""
    if caller is None or getattr(caller, "address", None) is None:
        return Viewer()
    address = str(caller.address).lower()
    org = None
    if conn is not None:
        row = conn.execute(text("SELECT org_id FROM participants WHERE account = :a"), {"a": address}).first()
        org = str(row[0]) if row is not None else None
    # only an active account in an active organisation counts as its organisation's
    return Viewer(address=address, roles=int(caller.roles), org_id=org if int(caller.roles) else None)


def viewer_from_request(request: Request, conn: Connection) -> Viewer:
    """The Viewer of a request's session (bearer token or cookie); anonymous without a valid one."""
    from sqlmodel import Session

    from gateway.api.deps import caller_for, session_token
    from gateway.core.security import read_token

    token = session_token(request)
    secret = getattr(request.app.state, "session_secret", None)
    session = read_token(secret, token) if token and secret else None
    if session is None:
        return Viewer()
    with Session(bind=conn) as db:
        caller = caller_for(db, session.address)
    return viewer_of(caller, conn)


# ---------------------------------------------------------------- rows


def clearance_parties(requester: Optional[str]) -> list[Optional[str]]:
    return [requester]


def sees_clearance(viewer: Viewer, requester: Optional[str], conn: Optional[Connection] = None) -> bool:
    return viewer.supervisor or viewer.is_party(clearance_parties(requester), conn)


def sees_use(viewer: Viewer, holder: Optional[str], user: Optional[str], conn: Optional[Connection] = None) -> bool:
    return viewer.supervisor or viewer.authority or viewer.is_party([holder, user], conn)


def sees_authorisation(viewer: Viewer, holder: Optional[str], user: Optional[str],
                       conn: Optional[Connection] = None) -> bool:
    return viewer.supervisor or viewer.is_party([holder, user], conn)


def redact_clearance(row: dict[str, Any], viewer: Viewer, conn: Optional[Connection] = None) -> dict[str, Any]:
    """A clearance row as ``viewer`` may see it (hidden fields null, listed in ``redacted``)."""
    out = dict(row)
    if sees_clearance(viewer, row.get("requester"), conn):
        out["redacted"] = []
        return out
    for name in CLEARANCE_HIDDEN:
        out[name] = None
    out["redacted"] = list(CLEARANCE_HIDDEN)
    return out


# ---------------------------------------------------------------- events


class _Requesters:
    """clearance id -> requester, read once per request."""

    def __init__(self, conn: Optional[Connection]) -> None:
        self.conn = conn
        self.cache: dict[int, Optional[str]] = {}

    def __call__(self, clearance_id: Any) -> Optional[str]:
        try:
            key = int(clearance_id)
        except (TypeError, ValueError):
            return None
        if key not in self.cache:
            row = None
            if self.conn is not None:
                row = self.conn.execute(text("SELECT requester FROM clearances WHERE clearance_id = :c"),
                                        {"c": key}).first()
            self.cache[key] = str(row[0]) if row is not None else None
        return self.cache[key]


def hidden_args(event: dict[str, Any], viewer: Viewer, conn: Optional[Connection] = None,
                requesters: Optional[_Requesters] = None) -> tuple[str, ...]:
    """The argument names of ``event`` hidden from ``viewer`` (empty: all visible)."""
    names = EVENT_HIDDEN.get((str(event.get("contract")), str(event.get("event"))))
    if not names or viewer.supervisor:
        return ()
    if viewer.anonymous:
        return names  # no lookups: nobody anonymous is a party
    args = event.get("args") or {}
    if event.get("contract") == "DataCustoms":
        requester = args.get("requester") or (requesters or _Requesters(conn))(args.get("clearanceId"))
        return () if viewer.is_party([requester], conn) else names
    if event.get("event") == "VoucherUsed":
        return () if sees_use(viewer, args.get("holder"), args.get("user"), conn) else names
    return () if sees_authorisation(viewer, args.get("holder"), args.get("user"), conn) else names


def redact_events(events: list[dict[str, Any]], viewer: Viewer, conn: Optional[Connection] = None
                  ) -> list[dict[str, Any]]:
    """Events (gateway.services.provenance.event_out shape) as ``viewer`` may see them: every event
    gets ``redacted`` (``["args.user", ...]`` or ``[]``), hidden argument values are null."""
    requesters = _Requesters(conn)
    out = []
    for ev in events:
        hidden = hidden_args(ev, viewer, conn, requesters)
        item = copy.copy(ev)
        if hidden:
            args = dict(ev.get("args") or {})
            for name in hidden:
                if name in args:
                    args[name] = None
            item["args"] = args
        item["redacted"] = [f"args.{n}" for n in hidden]
        out.append(item)
    return out


def refuse_bundle(events: list[dict[str, Any]], viewer: Viewer, conn: Optional[Connection], kind: str,
                  subject_id: int) -> None:
    """Raise 401/403 ``RedactedHistory`` when any event of the history is hidden (in part) from
    ``viewer``: a bundle's raw receipts would serve the hidden fields."""
    requesters = _Requesters(conn)
    hidden = [ev for ev in events if hidden_args(ev, viewer, conn, requesters)]
    if not hidden:
        return
    status = 401 if viewer.anonymous else 403
    first = hidden[0]
    raise ApiError(status, "RedactedHistory",
                   f"the {kind}'s history has {len(hidden)} event(s) with fields hidden from this caller "
                   f"({viewer.role}); a proof bundle carries raw receipts with every log's data, so it is served "
                   "only to callers who may see the whole history (the parties, customs, regulators)",
                   {"kind": kind, "id": subject_id, "hidden_events": len(hidden),
                    "first": {"block_number": first.get("block_number"), "log_index": first.get("log_index"),
                              "event": first.get("event")}},
                   headers={"WWW-Authenticate": "Bearer"} if status == 401 else None)


def viewer_is_party(viewer: Viewer, parties: Iterable[Optional[str]], conn: Optional[Connection] = None) -> bool:
    return viewer.is_party(parties, conn)


def party_accounts(viewer: Viewer, conn: Connection) -> list[str]:
    """The accounts whose rows ``viewer`` sees as a party: its own and its organisation's."""
    if viewer.address is None:
        return []
    accounts = {viewer.address.lower()}
    if viewer.org_id is not None:
        rows = conn.execute(text("SELECT account FROM participants WHERE org_id = :o"), {"o": viewer.org_id})
        accounts.update(str(r[0]).lower() for r in rows)
    return sorted(accounts)


def guard_bundle(kind: str, subject_id: int, request: Request, engine: Any) -> None:
    """Refuse a proof bundle of a history with events hidden from the request's caller (every
    bundle route calls this first)."""
    from gateway.services import provenance

    with engine.connect() as conn:
        viewer = viewer_from_request(request, conn)
        if viewer.supervisor:
            return
        events = (provenance.voucher_events(conn, subject_id) if kind == "voucher"
                  else provenance.asset_events(conn, subject_id))
        refuse_bundle(events, viewer, conn, kind, subject_id)


def guard_bundle_logs(bundle: dict[str, Any], request: Request, engine: Any, contracts: dict[str, str]) -> None:
    """Refuse a built bundle when ANY log in its receipts (not only the history's own events: a
    block's receipts carry every transaction's logs) is hidden, in part, from the caller.
    ``contracts``: name -> address of the deployment (to name the logs)."""
    from gateway.indexer.decode import Decoder

    decoder = Decoder(contracts)
    logs = []
    for number, block in (bundle.get("blocks") or {}).items():
        for receipt in block.get("receipts") or []:
            for i, log in enumerate(receipt.get("logs") or []):
                logs.append({**log, "blockNumber": hex(int(number)), "blockHash": "0x",
                             "transactionHash": receipt.get("transactionHash", "0x"),
                             "transactionIndex": receipt.get("transactionIndex", "0x0"), "logIndex": hex(i)})
    events = []
    for ev in decoder.decode_many(logs):
        if (ev.contract, ev.name) in EVENT_HIDDEN:
            events.append({"contract": ev.contract, "event": ev.name, "args": ev.args,
                           "block_number": ev.block_number, "log_index": ev.log_index})
    if not events:
        return
    with engine.connect() as conn:
        viewer = viewer_from_request(request, conn)
        if viewer.supervisor:
            return
        refuse_bundle(events, viewer, conn, str(bundle.get("kind", "history")), int(bundle.get("id", 0) or 0))
