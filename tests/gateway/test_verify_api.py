"""The verification routes (gateway.api.routes.verify) and the HTTP provenance source, on SQLite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway.api.routes.verify import router
from gateway.core.config import Settings
from gateway.indexer.store import make_engine
from gateway.verify import HttpSource, select_history, verify_bundle, verify_history
from gateway.verify.history import add_links
from ledger.deployment import Deployment
from tests.gateway.verify_market import Market, index_into, market


@pytest.fixture
def client(market: Market, tmp_path: Path) -> TestClient:
    """The routes on SQLite (they are database-agnostic; the tamper suite covers PostgreSQL)."""
    url = index_into(market, f"sqlite:///{tmp_path / 'gateway.db'}")
    settings = Settings(RPC_URL=market.rpc_url, DATABASE_URL=url, STATE_DIR=market.state_dir,
                        IPFS_STORE_DIR=market.state_dir / "ipfs", IPFS_API=None)
    app = FastAPI()
    app.state.deployment = Deployment.from_dict(market.record)
    app.include_router(router)
    engine = make_engine(url)

    # a stand-in for the provenance endpoint (the API engineer's), served from the same selection
    @app.get("/v1/{plural}/{subject_id}/provenance")
    def provenance(plural: str, subject_id: int) -> dict[str, Any]:
        kind = {"vouchers": "voucher", "assets": "asset"}[plural]
        with engine.connect() as conn:
            events = select_history(conn, kind, subject_id)
        add_links(events)
        return {"subject": {"id": subject_id}, "events": events}

    app.state.settings = settings
    app.state.engine = engine
    return TestClient(app)


def test_verification_routes(client: TestClient) -> None:
    reply = client.get("/v1/vouchers/4/verification")
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["ok"] and body["counts"]["ok"] == 5
    for asset in (1, 2, 3):  # asset 1 includes a voucher use: the API's selection is the verifier's
        assert client.get(f"/v1/assets/{asset}/verification").json()["ok"], asset
    assert client.get("/v1/vouchers/999/verification").status_code == 404


def test_bundle_route_bytes_verify_offline(client: TestClient) -> None:
    reply = client.get("/v1/vouchers/4/bundle")
    assert reply.status_code == 200
    result = verify_bundle(reply.content, reply.headers["X-Trusted-Head"])
    assert result["ok"], result["problems"]


def test_http_source(client: TestClient, market: Market) -> None:
    source = HttpSource("http://testserver", client=client)
    verdict = verify_history(market.rpc_url, "voucher", 4, source=source, state_dir=market.state_dir)
    assert verdict.ok, verdict.summary
    served = source.history("asset", 2)
    served.events[0]["links"]["asset_id"] = 3  # a wrong link is an altered field too
    verdict = verify_history(market.rpc_url, "asset", 2, served=served, state_dir=market.state_dir)
    assert [(v.status, v.fields) for v in verdict.events if v.status != "ok"] == [("altered", ["links.asset_id"])]


def test_provenance_endpoint_returns_the_bundle(market: Market, tmp_path: Path) -> None:
    """GET /v1/{vouchers,assets}/{id}/provenance?bundle=true: the proof bundle, checked offline."""
    from gateway.main import create_app

    settings = Settings(RPC_URL=market.rpc_url, DATABASE_URL=index_into(market, f"sqlite:///{tmp_path / 'gw.db'}"),
                        STATE_DIR=market.state_dir, IPFS_STORE_DIR=market.state_dir / "ipfs",
                        RATE_LIMIT_ENABLED=False, SESSION_SECRET="t")
    from dataledger.dev.demo import demo_accounts
    from gateway.core.security import make_token

    regulator = {"Authorization": "Bearer " + make_token(b"t", demo_accounts()["regulator"].address, 600)[0]}
    with TestClient(create_app(settings)) as app_client:
        # asset 2's history has customs events hidden from anonymous callers (gateway.services.redaction):
        # its bundle (raw receipts) is refused to them and served to a regulator
        refused = app_client.get("/v1/assets/2/provenance?bundle=true")
        assert refused.status_code == 401 and refused.json()["error"] == "RedactedHistory"
        for path, headers in (("/v1/vouchers/4/provenance?bundle=true", {}),
                              ("/v1/assets/2/provenance?bundle=true", regulator)):
            reply = app_client.get(path, headers=headers)
            assert reply.status_code == 200, reply.text
            result = verify_bundle(reply.content, reply.headers["X-Trusted-Head"])
            assert result["ok"], result["problems"]
        plain = app_client.get("/v1/vouchers/4/provenance")
        assert plain.status_code == 200 and "events" in plain.json()
        assert app_client.get("/v1/vouchers/999/provenance?bundle=true").status_code == 404
