"""Verification over HTTP against the real gateway (gateway.main.create_app served by uvicorn on
loopback), directly and through a proxy that rewrites one field of a JSON response in flight; the
verification, bundle and provenance routes with bad ids (422 / 404, never 500)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Optional

import httpx
import pytest
from fastapi.testclient import TestClient

from dataledger.dev import demo
from gateway.core.config import Settings
from gateway.verify import HttpSource, main, verify_history
from tests.gateway.test_verify_tamper import ASSET, VOUCHER
from tests.gateway.verify_market import Market, index_into, market, voucher_frozen_after_index

DEAD = "0x000000000000000000000000000000000000dead"


def _settings(market: Market, tmp_path: Path) -> Settings:
    url = index_into(market, f"sqlite:///{tmp_path / 'gw.db'}")
    return Settings(RPC_URL=market.rpc_url, DATABASE_URL=url, STATE_DIR=market.state_dir,
                    IPFS_STORE_DIR=market.state_dir / "ipfs", IPFS_API=None, RATE_LIMIT_ENABLED=False,
                    RESPONSE_CACHE_SECONDS=0, SESSION_SECRET="t", SIWE_DOMAIN="gateway.test", SIWE_URI="https://gateway.test/",
                    CHAIN_ID=market.w3.eth.chain_id)


@pytest.fixture
def gateway(market: Market, tmp_path: Path) -> Iterator[str]:
    """The real gateway app on a loopback port (uvicorn in a thread)."""
    import uvicorn

    from gateway.main import create_app

    app = create_app(_settings(market, tmp_path))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    assert server.started
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)
    sock.close()


Rewrite = Callable[[str, Any], Any]


class Proxy:
    """Forwards GETs to ``upstream``; ``rewrite(path, json)`` may alter a JSON answer in flight."""

    def __init__(self, upstream: str, rewrite: Optional[Rewrite] = None) -> None:
        self.upstream = upstream
        self.rewrite = rewrite
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # http.server API
                reply = httpx.get(proxy.upstream + self.path, timeout=30)
                body = reply.content
                if proxy.rewrite is not None and reply.headers.get("content-type", "").startswith("application/json"):
                    body = json.dumps(proxy.rewrite(self.path, reply.json())).encode()
                self.send_response(reply.status_code)
                self.send_header("content-type", reply.headers.get("content-type", "application/octet-stream"))
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def verify_over(market: Market, url: str, kind: str = "voucher", subject: int = VOUCHER) -> Any:
    source = HttpSource(url)
    try:
        return verify_history(market.rpc_url, kind, subject, source=source, state_dir=market.state_dir)
    finally:
        source.close()


def named(verdict: Any) -> set[tuple[str, str]]:
    return {(c.subject, c.field) for c in verdict.state if c.status == "mismatch"}


def test_real_gateway_over_http(market: Market, gateway: str) -> None:
    for kind, subject in (("voucher", VOUCHER), ("asset", ASSET), ("asset", 1)):
        verdict = verify_over(market, gateway, kind, subject)
        assert verdict.verdict == "verified", (kind, subject, verdict.mismatches(), verdict.notes)
        origins = {c.origin for c in verdict.state}
        if kind == "voucher":
            assert {f"/v1/vouchers/{subject}", f"/v1/vouchers/{subject} trades",
                    f"/v1/vouchers/{subject}/provenance subject"} <= origins
            unverified = {c.field for c in verdict.state if c.status == "unverified"}
            assert {"right_name", "effective_status"} <= unverified  # listed, never claimed verified
        else:
            assert f"/v1/assets/{subject}?verify=false manifests" in origins
    # the provenance response itself says it is the gateway's word and where it is checked
    body = httpx.get(f"{gateway}/v1/vouchers/{VOUCHER}/provenance").json()
    assert body["verification"] == {"status": "unverified", "check": f"/v1/vouchers/{VOUCHER}/verification",
                                    "offline": f"/v1/vouchers/{VOUCHER}/bundle"}
    asset = verify_over(market, gateway, "asset", ASSET)
    assert any(c.origin.startswith("/v1/clearances") and c.field == "status" and c.status == "ok" for c in asset.state)


def _set(path: str, body: Any, want: str, edit: Callable[[Any], None]) -> Any:
    if path == want:
        edit(body)
    return body


REWRITES: list[tuple[str, str, Callable[[Any], None], str, int, tuple[str, str]]] = [
    ("holder", f"/v1/vouchers/{VOUCHER}", lambda b: b.update(holder=DEAD), "voucher", VOUCHER,
     (f"voucher {VOUCHER}", "holder")),
    ("subject status", f"/v1/vouchers/{VOUCHER}/provenance", lambda b: b["subject"].update(status="frozen"),
     "voucher", VOUCHER, (f"voucher {VOUCHER}", "status")),
    ("uses left", f"/v1/vouchers/{VOUCHER}", lambda b: b.update(max_uses=b["max_uses"] + 1), "voucher", VOUCHER,
     (f"voucher {VOUCHER}", "max_uses")),
    ("trade fee", f"/v1/vouchers/{VOUCHER}", lambda b: b["trades"][0].update(fee="0"), "voucher", VOUCHER,
     ("trade", "fee")),
    ("manifest", f"/v1/assets/{ASSET}?verify=false", lambda b: b.update(content_hash="0x" + "00" * 32),
     "asset", ASSET, (f"asset {ASSET}", "content_hash")),
    ("clearance", f"/v1/clearances?asset_id={ASSET}&limit=500&offset=0", lambda b: b["items"][0].update(status="rejected"),
     "asset", ASSET, ("clearance", "status")),
]


@pytest.mark.parametrize("case", REWRITES, ids=[r[0] for r in REWRITES])
def test_proxy_rewriting_one_field_in_flight(market: Market, gateway: str, case: Any,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    _, path, edit, kind, subject, (who, what) = case
    proxy = Proxy(gateway, lambda p, b: _set(p, b, path, edit))
    try:
        verdict = verify_over(market, proxy.url, kind, subject)
        assert verdict.verdict == "mismatch" and verdict.exit_code == 1
        found = named(verdict)
        assert len(found) == 1, found
        (subj, fld), = found
        assert subj.startswith(who) and fld == what, found
        code = main(["--rpc", market.rpc_url, "--state-dir", str(market.state_dir), "--gateway", proxy.url,
                     kind, str(subject)])
        assert code == 1
        assert f"{what}: served" in capsys.readouterr().out
    finally:
        proxy.close()


def test_proxy_rewriting_an_event_argument(market: Market, gateway: str) -> None:
    def edit(body: Any) -> None:
        trade = next(e for e in body["events"] if e["event"] == "TradeSettled")
        trade["args"]["price"] = str(int(trade["args"]["price"]) * 2)

    proxy = Proxy(gateway, lambda p, b: _set(p, b, f"/v1/vouchers/{VOUCHER}/provenance", edit))
    try:
        verdict = verify_over(market, proxy.url)
        assert [(v.status, v.fields) for v in verdict.events if v.status != "ok"] == [("altered", ["args.price"])]
        assert verdict.exit_code == 1
    finally:
        proxy.close()


def test_gateway_behind_over_http(market: Market, gateway: str) -> None:
    market.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]  # the gateway runs no indexer
    quiet = verify_over(market, gateway)  # an empty block: nothing of this voucher unserved
    assert quiet.verdict == "verified" and quiet.behind_by >= 1, quiet.summary
    with voucher_frozen_after_index(market, VOUCHER):
        verdict = verify_over(market, gateway)
        assert verdict.verdict == "behind" and verdict.exit_code == 4, verdict.summary
        assert main(["--rpc", market.rpc_url, "--state-dir", str(market.state_dir), "--gateway", gateway,
                     "voucher", str(VOUCHER)]) == 4


BAD_IDS = ["-1", str(2**256), str(2**63), "abc", "1.5", "1e3"]
ROUTES = ["/v1/vouchers/{id}/verification", "/v1/assets/{id}/verification", "/v1/vouchers/{id}/bundle",
          "/v1/assets/{id}/bundle", "/v1/vouchers/{id}/provenance", "/v1/assets/{id}/provenance",
          "/v1/vouchers/{id}/provenance?bundle=true", "/v1/assets/{id}/provenance?bundle=true"]


def test_routes_refuse_bad_ids_and_name_unknown_ones(market: Market, tmp_path: Path) -> None:
    from gateway.main import create_app

    with TestClient(create_app(_settings(market, tmp_path)), raise_server_exceptions=False) as client:
        for route in ROUTES:
            for bad in BAD_IDS:
                reply = client.get(route.format(id=bad))
                assert reply.status_code == 422, (route, bad, reply.status_code, reply.text)
                assert reply.json().get("reason") or reply.json().get("detail"), reply.text
            reply = client.get(route.format(id=999999))
            assert reply.status_code == 404, (route, reply.status_code, reply.text)
        body = client.get(f"/v1/vouchers/{VOUCHER}/verification").json()
        assert body["verdict"] == "verified" and body["exit_code"] == 0
        assert any(c["field"] == "holder" and c["status"] == "ok" for c in body["state"])


def test_paged_routes_and_a_regulators_view(market: Market, gateway: str) -> None:
    """One item per page, signed in as the regulator (who sees every use): every use / clearance is
    read and checked; anonymous, the uses are not served (reported, not a mismatch)."""
    from tests.gateway.api_fixtures import login
    
    with httpx.Client(base_url=gateway) as client:
        token = login(client, demo.demo_accounts()["regulator"], market.w3.eth.chain_id)
    for kind, subject in (("asset", 1), ("asset", ASSET), ("voucher", VOUCHER)):
        source = HttpSource(gateway, page_size=1, token=token)
        try:
            verdict = verify_history(market.rpc_url, kind, subject, source=source, state_dir=market.state_dir)
        finally:
            source.close()
        assert verdict.verdict == "verified", verdict.mismatches()
        if subject == 1:
            uses = {c.subject for c in verdict.state if c.subject.startswith("use ") and c.status == "ok"}
            assert uses and all(c.origin.startswith("/v1/uses") for c in verdict.state if c.subject in uses)
    anonymous = verify_over(market, gateway, "asset", 1)
    assert anonymous.verdict == "verified"
    assert {c.status for c in anonymous.state if c.subject.startswith("use ")} == {"not_served"}


def test_unknown_and_huge_ids_over_http(market: Market, gateway: str) -> None:
    base = ["--rpc", market.rpc_url, "--state-dir", str(market.state_dir), "--gateway", gateway]
    assert main(base + ["voucher", "999999"]) == 3
    assert main(base + ["voucher", str(2**256 - 1)]) == 3  # valid uint256, past the gateway's id type
    assert main(base + ["asset", str(2**63)]) == 3
    assert main(base + ["voucher", str(2**256)]) == 2


# ---------------------------------------------------------------- participants


def _participant_rewrites() -> list[tuple[str, Callable[[str], bool], Callable[[Any], None], str]]:
    
    broker = demo.demo_accounts()["broker"].address.lower()

    def listed(body: Any) -> None:
        for item in body["items"]:
            if item["account"] == broker:
                item["licence_expiry"] = 1

    return [
        ("detail status", lambda p: p == f"/v1/participants/{broker}", lambda b: b.update(status="suspended"),
         "status"),
        ("list item licence", lambda p: p.startswith("/v1/participants?org_id="), listed, "licence_expiry"),
        ("organisation officer", lambda p: p == f"/v1/participants/{broker}",
         lambda b: b["organisation"].update(officer=DEAD), "officer"),
    ]


def test_participant_over_http_and_a_proxy_rewriting_its_standing(market: Market, gateway: str,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    from gateway.verify.participant import verify_participant
    
    broker = demo.demo_accounts()["broker"].address.lower()

    def over(url: str) -> Any:
        source = HttpSource(url)
        try:
            return verify_participant(market.rpc_url, broker, source=source, state_dir=str(market.state_dir))
        finally:
            source.close()

    honest = over(gateway)
    assert honest.verdict == "verified", (honest.mismatches(), honest.problems)
    origins = {c.origin for c in honest.state if c.status == "ok"}
    assert {f"/v1/participants/{broker}", f"/v1/participants/{broker} organisation"} <= origins
    assert any(o.startswith("/v1/participants?org_id=") for o in origins)
    # presentation fields: the standing's pointer, and the names and decoded values of issue 13 (the names
    # come from the profile document whose CID, profile_cid, IS checked; the verifier does not fetch it)
    assert {c.field for c in honest.state if c.status == "unverified"} == {
        "verification", "organisation_names", "jurisdiction_name", "licence_expiry_iso", "added_by_name",
        "added_by_name_zh", "name_zh", "name_en", "credit_code", "profile_cid_text", "profile_status",
        "officer_name", "officer_name_zh"}
    assert any(c.field == "profile_cid" and c.status == "ok" for c in honest.state)
    # the served standing says it is the gateway's word, and where it is checked
    body = httpx.get(f"{gateway}/v1/participants/{broker}").json()
    assert body["verification"] == {"status": "unverified", "check": f"/v1/participants/{broker}/verification"}
    for name, when, edit, field in _participant_rewrites():
        proxy = Proxy(gateway, lambda p, b, edit=edit, when=when: (edit(b), b)[1] if when(p) else b)
        try:
            verdict = over(proxy.url)
            assert verdict.verdict == "mismatch" and verdict.exit_code == 1, name
            assert {f for _, f in named(verdict)} == {field}, (name, named(verdict))
            code = main(["--rpc", market.rpc_url, "--state-dir", str(market.state_dir), "--gateway", proxy.url,
                         "participant", broker])
            assert code == 1, name
            assert f"{field}: served" in capsys.readouterr().out
        finally:
            proxy.close()


def test_participant_verification_route(market: Market, tmp_path: Path) -> None:
    from gateway.main import create_app
    
    broker = demo.demo_accounts()["broker"].address
    with TestClient(create_app(_settings(market, tmp_path)), raise_server_exceptions=False) as client:
        body = client.get(f"/v1/participants/{broker}/verification").json()
        assert body["verdict"] == "verified" and body["exit_code"] == 0 and body["id"] == broker.lower()
        assert any(c["field"] == "status" and c["status"] == "ok" and "eth_call" in c["against"]
                   for c in body["state"])
        for bad in ("0x1234", "0x" + "g" * 40, "12", "0x" + "00" * 21, "-1"):
            reply = client.get(f"/v1/participants/{bad}/verification")
            assert reply.status_code == 422, (bad, reply.status_code, reply.text)
        reply = client.get("/v1/participants/0x00000000000000000000000000000000000b0b0b/verification")
        assert reply.status_code == 404 and "unknown participant" in reply.text
        items = client.get("/v1/participants?limit=5").json()["items"]
        assert items and all(i["verification"]["check"] == f"/v1/participants/{i['account']}/verification"
                             for i in items)
