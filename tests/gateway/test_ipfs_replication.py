"""IPFS beyond one node (issue 15 part 5), on two real Kubo daemons (kubo, kubo2): the chain's CIDs
(manifests, their documents, reports and clearance documents) pinned on both by a repair from the
gateway's local store; one node losing a pin shows in /health and is repaired from the other node;
an upload through the gateway is pinned on both; a node that is down is reported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.services.replication import chain_cids, cid_key, close_nodes, open_nodes, repair, replication_report
from ledger.ipfs import KuboClient, open_store
from tests.gateway.api_fixtures import Market, build_market
from tests.gateway.data_market import token
from tests.gateway.test_api_auth import MANIFEST

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def rmarket() -> Market:
    return build_market()


@pytest.fixture(scope="module")
def apis(kubo: Any, kubo2: Any) -> list[str]:
    return [kubo.api, kubo2.api]


def _client(rmarket: Market, apis: list[str], **extra: Any) -> Iterator[TestClient]:
    from gateway.main import create_app

    app = create_app(rmarket.settings(IPFS_APIS=apis, IPFS_REPLICATION_CHECK_SECONDS=0, **extra))
    with TestClient(app) as c:
        yield c


def _health(client: TestClient) -> dict[str, Any]:
    body = client.get("/health").json()
    rep = body["ipfs_replication"]
    assert isinstance(rep, dict), body
    return rep


def _remove(node: KuboClient, cid: str) -> None:
    """The node loses the content: unpinned and garbage-collected (its blocks are gone)."""
    node.unpin(cid)
    node._post("repo/gc")
    assert not node.has(cid)


def test_two_nodes_under_replication_shown_and_repaired(rmarket: Market, apis: list[str]) -> None:
    engine = None
    from gateway.indexer.store import make_engine

    engine = make_engine(rmarket.database_url)
    local = open_store(str(rmarket.state_dir / "ipfs"))
    try:
        onchain, _ = chain_cids(engine)
        assert len(onchain) >= 3, onchain  # the seeded manifests (and documents)
        nodes = open_nodes(apis)
        try:
            # start from daemons holding nothing of this market (the session daemon may have the
            # seeded demo content from another test: same deterministic CIDs)
            for cid in replication_report(engine, nodes, local).cids:
                for api in apis:
                    k = KuboClient(api)
                    if k.is_pinned(cid):
                        k.unpin(cid)
                    k.close()
            for api in apis:
                KuboClient(api)._post("repo/gc")
            before = replication_report(engine, nodes, local)
            # nothing of this market is on either daemon: every CID missing on both
            assert before.missing and all(before.missing[c] == [1, 2] for c in onchain), before.public()
            wanted = set(before.cids)
            assert wanted > set(onchain)  # the manifests' distributions (documents) are included
            for gen in _client(rmarket, apis):
                rep = _health(gen)
                assert rep["status"] == "under-replicated" and rep["under_replicated"] == len(wanted), rep
                assert gen.get("/health").json()["status"] == "degraded"
            # repair from the gateway's local store: both nodes pin everything
            fixed = repair(engine, nodes, local)
            assert not fixed.failed, fixed.failed
            assert {r["source"] for r in fixed.repaired} == {"local store"}
            assert fixed.after is not None and fixed.after.status == "ok" and not fixed.after.missing
            for api in apis:
                k = KuboClient(api)
                pinned = {cid_key(c) for c in k.pins()}
                assert {cid_key(c) for c in wanted} <= pinned
                assert all(k.cat(c) == local.cat(c) for c in onchain)
                k.close()
            # node 2 loses one manifest (unpinned and collected): /health names it
            victim = onchain[0]
            _remove(KuboClient(apis[1]), victim)
            for gen in _client(rmarket, apis):
                rep = _health(gen)
                assert rep["status"] == "under-replicated" and rep["under_replicated"] == 1, rep
                assert rep["missing"] == [{"cid": victim, "missing_on": [2]}]
                assert [n["status"] for n in rep["nodes"]] == ["ok", "ok"]
            # repaired from node 1 (no local store): the blocks are copied, then pinned
            again = repair(engine, nodes, None)
            assert [(r["cid"], r["node"], r["source"]) for r in again.repaired] == [(victim, 2, "node 1")]
            assert KuboClient(apis[1]).cat(victim) == local.cat(victim)
            for gen in _client(rmarket, apis):
                rep = _health(gen)
                assert rep["status"] == "ok" and rep["under_replicated"] == 0, rep
                assert gen.get("/health").json()["status"] == "ok"
        finally:
            close_nodes(nodes)
    finally:
        engine.dispose()


def test_content_lost_everywhere_is_reported_not_invented(rmarket: Market, apis: list[str]) -> None:
    """A CID neither node nor the local store holds: the repair fails for it, named, and says why."""
    from gateway.indexer.store import make_engine

    engine = make_engine(rmarket.database_url)
    try:
        onchain, _ = chain_cids(engine)
        victim = onchain[-1]
        for api in apis:
            _remove(KuboClient(api), victim)
        nodes = open_nodes(apis)
        try:
            res = repair(engine, nodes, None)
            assert {(f["cid"], f["node"]) for f in res.failed} == {(victim, 1), (victim, 2)}
            assert res.after is not None and res.after.missing == {victim: [1, 2]}
            # the local store still has it: the next repair brings it back on both
            res = repair(engine, nodes, open_store(str(rmarket.state_dir / "ipfs")))
            assert not res.failed and res.after is not None and res.after.status == "ok"
        finally:
            close_nodes(nodes)
    finally:
        engine.dispose()


def test_upload_is_pinned_on_every_node_and_a_down_node_is_reported(rmarket: Market, apis: list[str]) -> None:
    for gen in _client(rmarket, apis):
        up = gen.post("/v1/manifests", json=MANIFEST, headers=token(gen, rmarket, "holder_cn"))
        assert up.status_code == 201, up.text
        cid = up.json()["cid"]
        for api in apis:
            k = KuboClient(api)
            assert k.is_pinned(cid), api
            k.close()
        assert gen.get(f"/v1/manifests/{cid}").status_code == 200
    # a third node that does not answer: uploads still land on the two others, /health says degraded
    dead = "http://127.0.0.1:9"
    for gen in _client(rmarket, [*apis, dead]):
        doc = {**MANIFEST, "title": f"{MANIFEST['title']} (2)"}
        up = gen.post("/v1/manifests", json=doc, headers=token(gen, rmarket, "holder_cn"))
        assert up.status_code == 201, up.text
        rep = _health(gen)
        assert rep["status"] == "degraded" and [n["status"] for n in rep["nodes"]] == ["ok", "ok", "down"], rep
        assert "127.0.0.1:9" not in json.dumps(gen.get("/health").json())  # no URL in the probe
    # every node down: the upload is refused with a reason (502), nothing crashes
    for gen in _client(rmarket, [dead, "http://127.0.0.1:7"]):
        up = gen.post("/v1/manifests", json={**MANIFEST, "title": "x"}, headers=token(gen, rmarket, "holder_cn"))
        assert up.status_code == 502 and up.json()["error"] == "IpfsUnavailable", up.text


def test_replication_cli_status_and_repair(rmarket: Market, apis: list[str]) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("IPFS_API",)}
    env.update(DATABASE_URL=rmarket.database_url, IPFS_APIS=json.dumps(apis),
               IPFS_STORE_DIR=str(rmarket.state_dir / "ipfs"), STATE_DIR=str(rmarket.state_dir))
    from gateway.indexer.store import make_engine

    engine = make_engine(rmarket.database_url)
    try:
        victim = chain_cids(engine)[0][1]
    finally:
        engine.dispose()
    _remove(KuboClient(apis[0]), victim)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "gateway.services.replication", *args], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300)

    status = run("status", "--json")
    assert status.returncode == 1, status.stderr
    assert json.loads(status.stdout)["missing"] == [{"cid": victim, "missing_on": [1]}]
    fixed = run("repair")
    assert fixed.returncode == 0 and "repaired 1 pins, 0 failed; now ok" in fixed.stdout, fixed.stdout + fixed.stderr
    assert run("status").returncode == 0
    none = subprocess.run([sys.executable, "-m", "gateway.services.replication", "status"], cwd=ROOT,
                          env={**env, "IPFS_APIS": "[]"}, capture_output=True, text=True, timeout=60)
    assert none.returncode == 2 and "no Kubo node configured" in none.stderr
