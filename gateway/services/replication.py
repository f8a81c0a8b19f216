"""IPFS on several Kubo nodes: every manifest and document pinned on every node, checked and repaired.

``IPFS_APIS`` (a list of Kubo RPC URLs; ``IPFS_API`` alone is a list of one) makes the gateway
write through :class:`ReplicatedStore`: an upload is added and pinned on every node (it succeeds
when at least one node took it; the others show up as under-replicated), reads go to the first
node that has the content.

What must be replicated: every CID the chain records, as indexed (manifest CIDs of every asset
version, valuation report CIDs, clearance purpose and conditions documents), plus the documents a
manifest lists (its distributions' CIDs, read from the manifest bytes). Values that are not CIDs
(e.g. a bare hash some records carry) are counted and skipped.

:func:`replication_report` asks every node once for its recursive pins and lists, per CID, the
nodes that do not pin it; /health shows the summary. :func:`repair` pins each missing CID on each
node lacking it, copying the DAG block by block (``block/put``: nodes run without swarm
connections to each other, and a block copy keeps the CID whatever chunking made it) from a node
that has it or from the gateway's local store (``IPFS_STORE_DIR``), then ``pin/add``. It runs on
demand or periodically::

    python -m gateway.services.replication status|repair [--watch SECONDS] [--json]
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from sqlalchemy import Engine, text

from ledger.ipfs import cid_from_chain
from ledger.ipfs.errors import BlockNotFound, CidMismatch, IpfsError
from ledger.ipfs.kubo import KuboClient
from ledger.ipfs.unixfs import Cid, iter_dag_cids

log = logging.getLogger(__name__)

#: (table, column) of CIDs recorded on chain, as the indexer stores them (0x-hex of the chain bytes)
CHAIN_CID_COLUMNS = (("asset_manifests", "manifest_cid"), ("assets", "manifest_cid"),
                     ("valuations", "report_cid"), ("clearances", "purpose_cid"),
                     ("clearances", "conditions_cid"))
#: CIDs listed in /health (the count is always complete)
HEALTH_LIST = 20


def node_apis(settings: Any) -> list[str]:
    """The configured Kubo nodes: IPFS_APIS, else [IPFS_API], else none (embedded store)."""
    apis = [a for a in (getattr(settings, "IPFS_APIS", None) or []) if a]
    if not apis and getattr(settings, "IPFS_API", None):
        apis = [settings.IPFS_API]
    return apis


def cid_key(cid: str) -> str:
    """Identity of content across CID versions and codecs: the multihash."""
    return Cid.decode(cid).multihash.hex()


def _as_cid(value: Optional[str]) -> Optional[str]:
    if not value:
        return None
    try:
        if value.startswith("0x"):
            text_ = cid_from_chain(bytes.fromhex(value[2:]))
        else:
            text_ = value
        return Cid.decode(text_).encode()
    except (ValueError, IpfsError):
        return None


def _table_columns(conn: Any, table: str) -> set[str]:
    from sqlalchemy import inspect

    try:
        return {c["name"] for c in inspect(conn).get_columns(table)}
    except Exception:
        return set()


def chain_cids(engine: Engine) -> tuple[list[str], int]:
    """(CIDs recorded on chain, sorted and distinct; count of values that are not CIDs)."""
    found: set[str] = set()
    invalid = 0
    with engine.connect() as conn:
        for table, column in CHAIN_CID_COLUMNS:
            if column not in _table_columns(conn, table):
                continue
            for (value,) in conn.execute(text(f"SELECT DISTINCT {column} FROM {table} WHERE {column} IS NOT NULL")):
                cid = _as_cid(str(value))
                if cid is None:
                    invalid += 1
                else:
                    found.add(cid)
    return sorted(found), invalid


def _manifest_cids(data: bytes) -> Iterator[str]:
    """CIDs a manifest lists (any ``cid`` / ``...:cid`` key, at any depth)."""
    try:
        doc = json.loads(data)
    except ValueError:
        return
    stack: list[Any] = [doc]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for k, v in item.items():
                if isinstance(v, str) and (k == "cid" or k.endswith(":cid")):
                    cid = _as_cid(v)
                    if cid is not None:
                        yield cid
                else:
                    stack.append(v)
        elif isinstance(item, list):
            stack.extend(item)


# ---------------------------------------------------------------- the nodes


@dataclass
class Node:
    number: int
    api: str
    client: KuboClient
    peer_id: Optional[str] = None
    error: Optional[str] = None
    pinned: set[str] = field(default_factory=set)  # cid_key of recursive pins

    def refresh(self) -> bool:
        try:
            self.peer_id = str(self.client.id().get("ID"))
            self.pinned = {cid_key(c) for c in self.client.pins()}
            self.error = None
            return True
        except (IpfsError, ValueError, OSError) as exc:
            self.error = type(exc).__name__
            log.warning("Kubo node %d unavailable: %s", self.number, exc)
            return False


def open_nodes(apis: Sequence[str], timeout: float = 30.0) -> list[Node]:
    return [Node(i + 1, api, KuboClient(api, timeout=timeout)) for i, api in enumerate(apis)]


def close_nodes(nodes: Iterable[Node]) -> None:
    for n in nodes:
        n.client.close()


class ReplicatedStore:
    """An IpfsStore writing to every node and reading from the first that answers."""

    def __init__(self, apis: Sequence[str], timeout: float = 30.0) -> None:
        if not apis:
            raise ValueError("no Kubo node configured")
        self.nodes = open_nodes(apis, timeout)

    def version(self) -> str:
        versions = []
        for n in self.nodes:
            try:
                versions.append(n.client.version())
            except IpfsError:
                versions.append("down")
        if all(v == "down" for v in versions):
            raise IpfsError("no Kubo node answers")
        return ", ".join(f"node {n.number}: {v}" for n, v in zip(self.nodes, versions))

    def _each(self, what: str, fn: Any) -> list[Any]:
        done: list[Any] = []
        last: Optional[BaseException] = None
        for n in self.nodes:
            try:
                done.append(fn(n.client))
            except CidMismatch:
                raise
            except (IpfsError, OSError) as exc:
                last = exc
                log.warning("%s on Kubo node %d failed (%s): under-replicated until repaired", what, n.number, exc)
        if not done:
            raise last if last is not None else IpfsError(f"{what}: no Kubo node")
        if len({cid_key(c) for c in done if isinstance(c, str)}) > 1:
            raise CidMismatch(str(done[0]), str(done[-1]), f"{what} on several nodes")
        return done

    def add(self, data: bytes, *, pin: bool = True) -> str:
        return str(self._each("add", lambda c: c.add(data, pin=pin))[0])

    def add_file(self, path: Any, *, pin: bool = True) -> str:
        return str(self._each("add", lambda c: c.add_file(path, pin=pin))[0])

    def pin(self, cid: str) -> None:
        self._each("pin", lambda c: c.pin(cid))

    def _first(self, fn: Any) -> Any:
        last: BaseException = BlockNotFound("no Kubo node")
        for n in self.nodes:
            try:
                return fn(n.client)
            except CidMismatch:
                raise
            except (IpfsError, OSError) as exc:
                last = exc
        raise last

    def cat(self, cid: str) -> bytes:
        return bytes(self._first(lambda c: c.cat(cid)))

    def block_get(self, cid: str) -> bytes:
        return bytes(self._first(lambda c: c.block_get(cid)))

    def has(self, cid: str) -> bool:
        return any(self._safe_has(n.client, cid) for n in self.nodes)

    @staticmethod
    def _safe_has(client: KuboClient, cid: str) -> bool:
        try:
            return client.has(cid)
        except IpfsError:
            return False


# ---------------------------------------------------------------- report and repair


@dataclass
class Report:
    cids: list[str]
    invalid: int
    nodes: list[Node]
    #: cid -> numbers of the (reachable) nodes that do not pin it
    missing: dict[str, list[int]]
    checked_at: float

    @property
    def status(self) -> str:
        if any(n.error for n in self.nodes):
            return "degraded"
        return "under-replicated" if self.missing else "ok"

    def public(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "cids": len(self.cids),
            "not_cids": self.invalid,
            "under_replicated": len(self.missing),
            "missing": [{"cid": c, "missing_on": nodes} for c, nodes in sorted(self.missing.items())[:HEALTH_LIST]],
            "nodes": [{"node": n.number, "peer_id": n.peer_id, "status": "down" if n.error else "ok",
                       "pins": None if n.error else len(n.pinned), "detail": n.error or ""} for n in self.nodes],
            "checked_at": round(self.checked_at, 3),
        }


def _sources(nodes: Sequence[Node], local: Optional[Any]) -> list[Any]:
    return [n.client for n in nodes if not n.error] + ([local] if local is not None else [])


def wanted_cids(engine: Engine, nodes: Sequence[Node], local: Optional[Any] = None) -> tuple[list[str], int]:
    """The chain's CIDs plus the documents their manifests list (manifests read from any node that
    has them, or the local store)."""
    cids, invalid = chain_cids(engine)
    out = set(cids)
    for cid in cids:
        for source in _sources(nodes, local):
            try:
                data = source.cat(cid)
            except (IpfsError, OSError, ValueError):
                continue
            out.update(_manifest_cids(data))
            break
    return sorted(out), invalid


def replication_report(engine: Engine, nodes: Sequence[Node], local: Optional[Any] = None) -> Report:
    for n in nodes:
        n.refresh()
    cids, invalid = wanted_cids(engine, nodes, local)
    missing: dict[str, list[int]] = {}
    for cid in cids:
        key = cid_key(cid)
        lacking = [n.number for n in nodes if not n.error and key not in n.pinned]
        if lacking:
            missing[cid] = lacking
    return Report(cids, invalid, list(nodes), missing, time.time())


def copy_dag(cid: str, source: Any, target: KuboClient) -> int:
    """Copy every block of ``cid``'s DAG from ``source`` to ``target`` (verified); returns the count."""
    count = 0
    for c in iter_dag_cids(cid, source.block_get):
        if not target.has(c):
            target.block_put(c, source.block_get(c))
        count += 1
    return count


@dataclass
class RepairResult:
    repaired: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    before: Optional[Report] = None
    after: Optional[Report] = None

    def public(self) -> dict[str, Any]:
        return {"repaired": self.repaired, "failed": self.failed,
                "before": self.before.public() if self.before else None,
                "after": self.after.public() if self.after else None}


def repair(engine: Engine, nodes: Sequence[Node], local: Optional[Any] = None) -> RepairResult:
    """Pin every under-replicated CID on the nodes lacking it (see the module docstring)."""
    before = replication_report(engine, nodes, local)
    result = RepairResult(before=before)
    by_number = {n.number: n for n in nodes}
    for cid, lacking in before.missing.items():
        key = cid_key(cid)
        holders: list[tuple[str, Any]] = [(f"node {n.number}", n.client) for n in nodes
                                          if not n.error and key in n.pinned]
        if local is not None:
            holders.append(("local store", local))
        for number in lacking:
            target = by_number[number]
            for name, source in holders:
                try:
                    blocks = copy_dag(cid, source, target.client)
                    target.client.pin(cid)
                except (IpfsError, OSError, ValueError) as exc:
                    log.info("repair of %s on node %d from %s failed: %s", cid, number, name, exc)
                    continue
                result.repaired.append({"cid": cid, "node": number, "source": name, "blocks": blocks})
                break
            else:
                result.failed.append({"cid": cid, "node": number,
                                      "reason": "no node and not the local store holds it" if holders
                                      else "no source"})
    result.after = replication_report(engine, nodes, local)
    return result


class ReplicationMonitor:
    """/health's view: the last report, recomputed at most every ``ttl`` seconds."""

    def __init__(self, apis: Sequence[str], local_dir: Optional[Path], ttl: float) -> None:
        self.apis = list(apis)
        self.local_dir = local_dir
        self.ttl = ttl
        self._cached: Optional[tuple[float, dict[str, Any]]] = None

    def local(self) -> Optional[Any]:
        if self.local_dir is None or not Path(self.local_dir).exists():
            return None
        from ledger.ipfs import open_store

        return open_store(str(self.local_dir))

    def report(self, engine: Engine) -> dict[str, Any]:
        now = time.monotonic()
        if self._cached is not None and self._cached[0] > now:
            return self._cached[1]
        nodes = open_nodes(self.apis, timeout=10)
        try:
            out = replication_report(engine, nodes, self.local()).public()
        finally:
            close_nodes(nodes)
        self._cached = (now + self.ttl, out)
        return out


# ---------------------------------------------------------------- CLI


def main(argv: Optional[list[str]] = None) -> int:
    """``python -m gateway.services.replication status|repair [--watch S] [--json]`` with the
    gateway's settings (IPFS_APIS / IPFS_API, DATABASE_URL, IPFS_STORE_DIR). Exit codes: 0 fully
    replicated (status) or nothing failed (repair), 1 under-replicated / a repair failed, 2 bad
    usage or no Kubo node configured."""
    import argparse
    import sys

    from gateway.core.config import get_settings
    from gateway.indexer.store import make_engine

    parser = argparse.ArgumentParser(prog="python -m gateway.services.replication",
                                     description="IPFS replication of the chain's CIDs over the Kubo nodes.")
    parser.add_argument("command", choices=["status", "repair"])
    parser.add_argument("--watch", type=float, default=0.0, metavar="SECONDS",
                        help="repeat every SECONDS until interrupted (repair: the periodic repair)")
    parser.add_argument("--json", action="store_true", help="one JSON object per run")
    args = parser.parse_args(argv)
    settings = get_settings()
    apis = node_apis(settings)
    if not apis:
        print("replication: no Kubo node configured (set IPFS_APIS or IPFS_API)", file=sys.stderr)
        return 2
    engine = make_engine(settings.DATABASE_URL)
    monitor = ReplicationMonitor(apis, settings.IPFS_STORE_DIR, ttl=0)
    code = 0
    try:
        while True:
            nodes = open_nodes(apis)
            try:
                if args.command == "status":
                    out = replication_report(engine, nodes, monitor.local()).public()
                    code = 0 if out["status"] == "ok" else 1
                    line = (f"{out['cids']} CIDs on {len(nodes)} nodes: {out['status']}, "
                            f"{out['under_replicated']} under-replicated")
                else:
                    res = repair(engine, nodes, monitor.local())
                    out = res.public()
                    code = 1 if res.failed else 0
                    line = f"repaired {len(res.repaired)} pins, {len(res.failed)} failed; now {out['after']['status']}"
            except Exception as exc:  # one line, non-zero exit
                print(f"replication: {type(exc).__name__}: {exc}", file=sys.stderr)
                return 1
            finally:
                close_nodes(nodes)
            print(json.dumps(out, sort_keys=True) if args.json else line, flush=True)
            if args.watch <= 0:
                return code
            time.sleep(args.watch)
    except KeyboardInterrupt:
        return 130
    finally:
        engine.dispose()


if __name__ == "__main__":
    raise SystemExit(main())
