"""Issue 11 High #1 with the gateway's store on a real Kubo daemon (IPFS_API): the seeded market's
store copied into Kubo (same CIDs), then the public route and the data route asked as in
test_data_access.py."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ledger.ipfs import KuboClient, open_store
from tests.gateway.api_fixtures import Market, build_market
from tests.gateway.data_market import manifest_of, records, token

LINE = 2


@pytest.fixture(scope="module")
def kmarket() -> Market:
    return build_market()


@pytest.fixture(scope="module")
def kclient(kmarket: Market, kubo: Any) -> Iterator[Any]:
    from gateway.main import create_app

    local = open_store(str(kmarket.state_dir / "ipfs"))
    remote = KuboClient(kubo.api)
    for cid in local.pins():
        assert remote.add(local.cat(cid), pin=True) == cid  # Kubo-identical CIDs
    with TestClient(create_app(kmarket.settings(IPFS_API=kubo.api))) as c:
        yield c


def test_kubo_public_route_and_data_route(kclient: Any, kmarket: Market, kubo: Any) -> None:
    assert kclient.app.state.manifests.store.__class__.__name__ == "KuboClient"
    doc = manifest_of(kclient, LINE)
    f = records(doc)
    r = kclient.get(f"/v1/manifests/{f['cid']}")
    assert r.status_code == 404 and r.json()["error"] == "NotPublic" and b"month,entity" not in r.content
    big = KuboClient(kubo.api).add(b"month,entity,value\n" + b"y" * (3 << 20))
    r = kclient.get(f"/v1/manifests/{big}")
    assert r.status_code == 404 and r.json()["error"] == "NotPublic"
    # an uploaded (canonical) manifest stays public
    from tests.gateway.test_api_auth import MANIFEST

    up = kclient.post("/v1/manifests", json=MANIFEST, headers=token(kclient, kmarket, "holder_cn"))
    assert up.status_code == 201, up.text
    r = kclient.get(f"/v1/manifests/{up.json()['cid']}")
    assert r.status_code == 200 and json.loads(r.content)["title"] == MANIFEST["title"]
    bank = token(kclient, kmarket, "bank_cn")
    r = kclient.get(f"/v1/assets/{LINE}/data/{f['cid']}", headers=bank)
    assert r.status_code == 200 and hashlib.sha256(r.content).hexdigest() == f["sha256"]
    mo = token(kclient, kmarket, "holder_mo")
    assert kclient.get(f"/v1/assets/{LINE}/data/{f['cid']}", headers=mo).status_code == 403
    assert kclient.get(f"/v1/assets/{LINE}/data/{f['cid']}").status_code == 401
