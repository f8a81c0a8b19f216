"""Where the history to verify comes from: the gateway's provenance API (``--gateway URL``) or the
gateway's database read directly (``--database-url``). Both give the same shape as
``GET /v1/{vouchers|assets}/{id}/provenance``: ``{"subject": {...}, "events": [...]}`` with events
``{block_number, block_hash, tx_hash, log_index, contract, address, event, args, links}``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional, Protocol, runtime_checkable

from gateway.verify.selection import check_account, check_kind, select_history, select_participant_history


@dataclass
class Served:
    """What a gateway serves for one history."""

    subject: dict[str, Any]
    events: list[dict[str, Any]]
    #: the gateway's indexed height when it says so (later chain events are "not yet indexed")
    indexed_block: Optional[int] = None
    origin: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    #: the state rows it serves, by projection table ("vouchers", "trades", ...): each row a dict of
    #: the API's fields, optionally ``_origin`` (where served) and ``redacted`` (withheld fields).
    #: None: this source serves no state (only the event list is compared)
    state: Optional[dict[str, list[dict[str, Any]]]] = None
    #: tables this caller may see only a subset of (a signed-in non-supervisor sees its own uses):
    #: chain rows it does not serve are "not served to this caller", not a mismatch
    partial: set[str] = field(default_factory=set)


class SourceError(RuntimeError):
    """The gateway (or its database) could not give the history."""


@runtime_checkable
class ProvenanceSource(Protocol):
    name: str

    def history(self, kind: str, subject_id: int) -> Served: ...


def _plural(kind: str) -> str:
    return {"voucher": "vouchers", "asset": "assets"}[check_kind(kind)]


class HttpSource:
    """The provenance endpoint of a running gateway."""

    def __init__(self, base_url: str, timeout: float = 30.0, client: Any = None, page_size: int = 500,
                 token: Optional[str] = None) -> None:
        """``token``: a bearer token (Sign-In with Ethereum) for the routes only signed-in callers
        get (uses); a regulator / customs officer sees all of them."""
        import httpx

        self.page_size = page_size
        self.base_url = base_url.rstrip("/")
        self.name = self.base_url
        self._client = client or httpx.Client(timeout=timeout)
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}

    def history(self, kind: str, subject_id: int) -> Served:
        import httpx

        url = f"{self.base_url}/v1/{_plural(kind)}/{int(subject_id)}/provenance"
        try:
            reply = self._client.get(url)
        except httpx.HTTPError as exc:
            raise SourceError(f"gateway {self.base_url} unreachable: {exc}") from exc
        if reply.status_code == 404 or (reply.status_code == 422 and int(subject_id) > 2**63 - 1):
            # nothing served (an id past the gateway's BIGINT id type cannot be served at all)
            return Served(subject={}, events=[], origin=url, extra={"status": reply.status_code}, state={})
        if reply.status_code != 200:
            raise SourceError(f"{url}: HTTP {reply.status_code}: {reply.text[:200]}")
        try:
            body = reply.json()
        except ValueError as exc:
            raise SourceError(f"{url}: not JSON: {exc}") from exc
        if not isinstance(body, dict) or not isinstance(body.get("events"), list):
            raise SourceError(f"{url}: no events list in the answer")
        indexed = body.get("indexed_block")
        if indexed is None and isinstance(body.get("meta"), dict):
            indexed = body["meta"].get("indexed_block")
        if indexed is None:
            try:
                health = self._client.get(f"{self.base_url}/health").json()
                indexed = health.get("indexed_block")
            except Exception:  # the height is optional
                indexed = None
        subject = body.get("subject") or {}
        me = self._get("/v1/auth/me") if self._headers else None
        roles = set(me.get("roles") or []) if isinstance(me, dict) else set()
        return Served(subject=subject, events=list(body["events"]),
                      indexed_block=int(indexed) if indexed is not None else None, origin=url,
                      state=self.state(kind, int(subject_id), subject),
                      partial=set() if roles & {"regulator", "customs", "authority"} else {"voucher_uses"})

    def _get(self, path: str) -> Optional[Any]:
        """JSON of ``path``; None when the gateway does not serve it to an anonymous caller (401/403/404)."""
        import httpx

        url = f"{self.base_url}{path}"
        try:
            reply = self._client.get(url, headers=self._headers)
        except httpx.HTTPError as exc:
            raise SourceError(f"gateway {self.base_url} unreachable: {exc}") from exc
        if reply.status_code in (401, 403, 404):
            return None
        if reply.status_code != 200:
            raise SourceError(f"{url}: HTTP {reply.status_code}: {reply.text[:200]}")
        try:
            return reply.json()
        except ValueError as exc:
            raise SourceError(f"{url}: not JSON: {exc}") from exc

    def _page(self, path: str, max_items: int = 1_000_000) -> Optional[list[dict[str, Any]]]:
        """Every item of a paged list route (``items``/``total``), following ``offset``."""
        limit = self.page_size
        out: list[dict[str, Any]] = []
        while True:
            body = self._get(f"{path}&limit={limit}&offset={len(out)}")
            if not isinstance(body, dict) or not isinstance(body.get("items"), list):
                return None if not out else out
            items = [dict(r, _origin=path) for r in body["items"] if isinstance(r, dict)]
            out += items
            total = body.get("total")
            if not items or not isinstance(total, int) or len(out) >= total or len(out) >= max_items:
                return out

    def state(self, kind: str, subject_id: int, subject: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
        """The state the gateway serves about the subject: its detail route, the provenance
        subject, and the list routes of its uses / clearances (every field is then checked)."""
        out: dict[str, list[dict[str, Any]]] = {}
        p = _plural(kind)
        prov = {k: v for k, v in subject.items() if k not in ("kind", "id")}
        table = "vouchers" if kind == "voucher" else "assets"
        rows: list[dict[str, Any]] = []
        if prov:
            rows.append(dict(prov, _origin=f"/v1/{p}/{subject_id}/provenance subject"))
        path = f"/v1/{p}/{subject_id}" + ("?verify=false" if kind == "asset" else "")
        detail = self._get(path)
        if isinstance(detail, dict):
            nested = {"transfers": "voucher_transfers", "trades": "trades", "manifests": "asset_manifests",
                      "valuations": "valuations"}
            for key, tbl in nested.items():
                if isinstance(detail.get(key), list):
                    out[tbl] = [dict(r, _origin=f"{path} {key}") for r in detail[key] if isinstance(r, dict)]
            rows.append({k: v for k, v in detail.items() if k not in nested and k != "manifest_verification"}
                        | {"_origin": path})
        if rows:  # neither route serves it (a 404 of the provenance route itself shows as missing events)
            out[table] = rows
        if kind == "voucher":
            uses = self._page(f"/v1/uses?voucher_id={subject_id}")
            if uses is not None:
                out["voucher_uses"] = uses
        else:
            uses = self._page(f"/v1/uses?asset_id={subject_id}")
            if uses is not None:
                out["voucher_uses"] = uses
            cases = self._page(f"/v1/clearances?asset_id={subject_id}")
            if cases is not None:
                out["clearances"] = cases
        return out

    def participant(self, account: str) -> Served:
        """What the gateway serves about a participant: ``GET /v1/participants/{account}`` (its row,
        its organisation, what it holds) and its item in ``GET /v1/participants?org_id=…``. The
        gateway serves no event list for participants (``extra["events"] == "none"``)."""
        acct = check_account(account)
        path = f"/v1/participants/{acct}"
        detail = self._get(path)
        state: dict[str, list[dict[str, Any]]] = {"participants": [], "organisations": []}
        if isinstance(detail, dict):
            org = detail.get("organisation")
            if isinstance(org, dict):
                state["organisations"].append(dict(org, _origin=f"{path} organisation"))
            state["participants"].append({k: v for k, v in detail.items() if k != "organisation"} | {"_origin": path})
            org_id = detail.get("org_id")
            if isinstance(org_id, str):
                listed = self._page(f"/v1/participants?org_id={org_id}") or []
                state["participants"] += [r for r in listed if str(r.get("account", "")).lower() == acct]
        health = self._get("/health")
        indexed = health.get("indexed_block") if isinstance(health, dict) else None
        return Served(subject={"kind": "participant", "id": acct}, events=[],
                      indexed_block=int(indexed) if indexed is not None else None,
                      origin=f"{self.base_url}{path}", extra={"events": "none"}, state=state)

    def close(self) -> None:
        self._client.close()


def api_reader() -> Optional[Callable[[Any, str, int], list[dict[str, Any]]]]:
    """The provenance API's own query code (gateway.services.provenance), when installed: verifying
    through it checks exactly what the endpoint serves."""
    try:
        from gateway.services import provenance
    except ImportError:
        return None

    def read(conn: Any, kind: str, subject_id: int) -> list[dict[str, Any]]:
        fn = provenance.voucher_events if kind == "voucher" else provenance.asset_events
        return list(fn(conn, subject_id))

    return read


class SqlSource:
    """The gateway's ``events`` table, read directly. ``reader(conn, kind, id)`` selects the rows:
    by default :func:`gateway.verify.selection.select_history` (the same rule as the chain side);
    :func:`api_reader` gives the provenance API's query."""

    def __init__(self, engine_or_url: Any,
                 reader: Optional[Callable[[Any, str, int], list[dict[str, Any]]]] = None) -> None:
        self.reader = reader or select_history
        from sqlalchemy import Engine

        from gateway.indexer.store import make_engine

        if isinstance(engine_or_url, Engine):
            self.engine = engine_or_url
            self._own = False
        else:
            self.engine = make_engine(str(engine_or_url))
            self._own = True
        self.name = f"sql:{self.engine.url.render_as_string(hide_password=True)}"

    def history(self, kind: str, subject_id: int) -> Served:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            rows = self.reader(conn, check_kind(kind), int(subject_id))
            try:
                state = conn.execute(text("SELECT last_block FROM indexer_state WHERE id = 1")).first()
            except Exception:  # no state table: height unknown
                state = None
        events = []
        for r in rows:
            ev: dict[str, Any] = {k: r[k] for k in ("block_number", "block_hash", "tx_hash", "log_index", "contract", "address",
                                    "event", "args") if k in r}
            for k in ("tx_index", "links"):
                if r.get(k) is not None:
                    ev[k] = r[k]
            events.append(ev)
        with self.engine.connect() as conn:
            tables = sql_state(conn, kind, int(subject_id))
        return Served(subject={"kind": kind, "id": int(subject_id)}, events=events,
                      indexed_block=int(state[0]) if state is not None else None, origin=self.name, state=tables)

    def participant(self, account: str) -> Served:
        """The participant's rows as ``GET /v1/participants/{account}`` serves them (its row, its
        organisation's row, the counts of what it holds) and its events in the ``events`` table."""
        from sqlalchemy import text

        acct = check_account(account)
        with self.engine.connect() as conn:
            rows = select_participant_history(conn, acct)
            height = conn.execute(text("SELECT last_block FROM indexer_state WHERE id = 1")).first()
            state: dict[str, list[dict[str, Any]]] = {"participants": [], "organisations": []}
            p = conn.execute(text("SELECT * FROM participants WHERE account = :a"), {"a": acct}).first()
            if p is not None:
                row = dict(p._mapping, _origin="table participants")
                from gateway.verify.participant import role_names

                row["role_names"] = role_names(int(row["roles"]))  # as the route labels the roles
                for field, sql in (("vouchers_held", "SELECT count(*) FROM vouchers WHERE holder = :a"),
                                   ("assets_held", "SELECT count(*) FROM assets WHERE holder = :a")):
                    row[field] = conn.execute(text(sql), {"a": acct}).scalar_one()
                state["participants"].append(row)
                org = conn.execute(text("SELECT * FROM organisations WHERE org_id = :o"), {"o": row["org_id"]}).first()
                if org is not None:
                    state["organisations"].append(dict(org._mapping, _origin="table organisations"))
        events = [{k: r[k] for k in ("block_number", "block_hash", "tx_hash", "tx_index", "log_index", "contract",
                                     "address", "event", "args")} for r in rows]
        return Served(subject={"kind": "participant", "id": acct}, events=events,
                      indexed_block=int(height[0]) if height is not None else None, origin=self.name, state=state)

    def close(self) -> None:
        if self._own:
            self.engine.dispose()


def sql_state(conn: Any, kind: str, subject_id: int) -> dict[str, list[dict[str, Any]]]:
    """The projection rows of the subject in the gateway's database (what its routes serve)."""
    from sqlalchemy import text

    from gateway.verify.state import TABLES

    out: dict[str, list[dict[str, Any]]] = {}
    for table, column in TABLES[kind]:
        if subject_id > 2**63 - 1:  # no such row can exist (BIGINT keys)
            out[table] = []
            continue
        if table == "broker_payments":
            sql = ("SELECT * FROM broker_payments WHERE trade_id IN "
                   "(SELECT trade_id FROM trades WHERE voucher_id = :id)")
        else:
            sql = f"SELECT * FROM {table} WHERE {column} = :id"
        out[table] = [dict(r._mapping, _origin=f"table {table}") for r in conn.execute(text(sql), {"id": subject_id})]
    return out
