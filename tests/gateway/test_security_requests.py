"""Issue 11, High #3 and the gateway's defaults (Low): request bodies bounded before parsing, in a
real uvicorn process (a segfaulting worker is a dead process); refusal to start with development
defaults outside chain 31337; /health shows no IPFS URL or store path."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.core.bodylimit import json_depth
from gateway.core.config import Settings
from tests.gateway.security_fixtures import (
    ROOT,
    backend,
    bearer,
    gateway_process,
    get_market,
    settings_env,
    sign,
    siwe_message,
)

ATTACK = b"[" * 75000 + b"]" * 75000  # the audit's ~150 KB body
POST_ROUTES = ["/v1/auth/login", "/v1/auth/logout", "/v1/relay/forward", "/v1/relay/settlements",
               "/v1/relay/permit", "/v1/manifests", "/v1/documents", "/v1/actions/prepare", "/v1/actions/order",
               "/v1/actions/settlement/check"]


def _post(url: str, body: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(url, content=body, headers={"content-type": "application/json", **(headers or {})},
                      timeout=30)


def test_every_post_route_is_in_the_openapi_list() -> None:
    """The attack below covers every POST route the app has (a new route must be added)."""
    from gateway.main import create_app

    app = create_app(get_market().settings())
    posts = sorted(p for p, item in app.openapi()["paths"].items() if "post" in item)
    assert posts == sorted(POST_ROUTES)


def test_nested_json_bomb_refused_and_process_survives(backend: Any, tmp_path: Path) -> None:
    market, url = backend
    settings = Settings()
    with gateway_process(settings_env(market, url), tmp_path / "gw.log") as gw:
        for route in POST_ROUTES:
            r = _post(gw.url + route, ATTACK)
            assert r.status_code == (413 if len(ATTACK) > _cap(settings, route) else 400), (route, r.text)
            assert r.json()["error"] in ("BodyTooLarge", "JsonTooDeep") and r.json()["reason"], r.text
            assert gw.alive() is None, f"gateway died on {route}: {gw.log.read_text()[-2000:]}"
            # within the size cap, nesting alone is refused before any parser runs
            depth = min(_cap(settings, route) // 2 - 1, 50_000)
            deep = b"[" * depth + b"]" * depth
            r = _post(gw.url + route, deep)
            assert r.status_code == 400 and r.json()["error"] == "JsonTooDeep", (route, r.text)
            assert r.json()["values"]["limit"] == settings.JSON_MAX_DEPTH
            # a Content-Length above the cap is refused without reading the body
            big = b" " * (_cap(settings, route) + 1)
            r = _post(gw.url + route, big)
            assert r.status_code == 413 and r.json()["values"]["limit"] == _cap(settings, route)
            assert gw.alive() is None
        # the process still serves readers afterwards
        assert httpx.get(gw.url + "/v1/participants", timeout=10).status_code == 200
        assert httpx.get(gw.url + "/health", timeout=10).json()["status"] in ("ok", "degraded")


def _cap(settings: Settings, route: str) -> int:
    best = max((p for p in settings.BODY_LIMITS if route.startswith(p)), key=len, default=None)
    return settings.BODY_LIMITS[best] if best else settings.BODY_MAX_BYTES


def _padded(payload: dict[str, Any], size: int) -> bytes:
    raw = json.dumps(payload).encode()
    assert len(raw) <= size, len(raw)
    return raw[:-1] + b" " * (size - len(raw)) + raw[-1:]


def test_valid_bodies_just_under_the_limits_pass(backend: Any, tmp_path: Path) -> None:
    market, url = backend
    settings = Settings()
    chain_id = market.w3.eth.chain_id
    acct = market.accounts["bank_cn"]
    with gateway_process(settings_env(market, url), tmp_path / "gw.log") as gw:
        client = httpx.Client(base_url=gw.url, timeout=30)
        nonce = client.get("/v1/auth/nonce").json()["nonce"]
        msg = siwe_message(acct, nonce, chain_id)
        body = _padded({"message": msg, "signature": sign(acct, msg)}, _cap(settings, "/v1/auth/login"))
        assert len(body) == _cap(settings, "/v1/auth/login")
        r = client.post("/v1/auth/login", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 200, r.text
        token = r.json()["token"]
        # a real relayed call (cancelling an order nonce: no counted state changes), padded to
        # exactly the relay's cap
        from ledger.chain import Ledger

        led = Ledger.connect(market.rpc_url, account=acct, state_dir=market.state_dir)
        data = bytes.fromhex(led.settlement.build("cancelOrder", int(time.time() * 1000) + 31)["data"][2:])
        req = led.forwarder.sign(acct, led.settlement.address, data, led.now() + 3600, gas=200_000).to_dict()
        body = _padded(req, _cap(settings, "/v1/relay/forward"))
        r = client.post("/v1/relay/forward", content=body,
                        headers={"content-type": "application/json", **bearer(token)})
        assert r.status_code == 200, r.text
        assert market.w3.eth.wait_for_transaction_receipt(r.json()["tx_hash"], timeout=60)["status"] == 1
        # nesting exactly at the limit reaches the route (its own validation answers)
        deep: Any = "x"
        for _ in range(settings.JSON_MAX_DEPTH - 1):
            deep = [deep]
        raw = json.dumps({"message": deep, "signature": "0x"}).encode()
        assert json_depth(raw, 100) == settings.JSON_MAX_DEPTH
        r = client.post("/v1/auth/login", content=raw, headers={"content-type": "application/json"})
        assert r.status_code == 422 and r.json()["error"] == "ValidationError", r.text
        # brackets inside strings do not count
        r = client.post("/v1/auth/login", json={"message": "[" * 4000, "signature": "0x"})
        assert r.status_code == 401 and r.json()["error"] == "InvalidMessage", r.text
        assert gw.alive() is None


# ---------------------------------------------------------------- refusal to start off the local chain


def _start(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "uvicorn", "gateway.main:app", "--port", "1"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("missing", ["SESSION_SECRET", "RELAYER_KEY", "SIWE_DOMAIN", "SIWE_URI"])
def test_off_local_chain_refuses_to_start_without_settings(missing: str) -> None:
    market = get_market()
    url = market.database_url
    full = dict(CHAIN_ID=1, SESSION_SECRET="s" * 40, RELAYER_KEY="0x" + "42" * 32,
                SIWE_DOMAIN="gateway.example", SIWE_URI="https://gateway.example/")
    full[missing] = None  # type: ignore[assignment]
    done = _start(settings_env(market, url, **full))
    assert done.returncode != 0
    lines = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert lines == [lines[-1]] and lines[-1].startswith("gateway refuses to start:") and missing in lines[-1], \
        done.stderr


def test_off_local_chain_refuses_public_dev_keys_and_short_secrets() -> None:
    market = get_market()
    url = market.database_url
    base = dict(CHAIN_ID=1, SESSION_SECRET="s" * 40, SIWE_DOMAIN="gateway.example", SIWE_URI="https://gateway.example/")
    from gateway.core.devkeys import dev_key

    for key in ("0x" + bytes(market.accounts["authority"].key).hex(), dev_key(19)):  # anvil's 0 and 19
        done = _start(settings_env(market, url, RELAYER_KEY=key, **base))
        assert done.returncode != 0 and "public development key" in done.stderr.strip().splitlines()[-1], done.stderr
    done = _start(settings_env(market, url, RELAYER_KEY="0x" + "42" * 32, **{**base, "SESSION_SECRET": "short"}))
    assert done.returncode != 0 and "SESSION_SECRET must be at least 32" in done.stderr, done.stderr


def test_node_on_another_chain_with_dev_defaults_refuses(tmp_path: Path) -> None:
    """CHAIN_ID unset: the node's chain decides (an anvil on chain 1337 is not the local chain)."""
    from dataledger.dev.anvil import AnvilNode

    market = get_market()
    with AnvilNode(chain_id=1337, accounts=1) as node:
        env = settings_env(market, f"sqlite:///{tmp_path / 'x.db'}", RPC_URL=node.rpc_url, CHAIN_ID=None,
                           SESSION_SECRET=None)
        done = _start(env)
    assert done.returncode != 0
    assert "gateway refuses to start: chain 1337 is not the local chain 31337" in done.stderr, done.stderr


def test_local_chain_keeps_its_development_defaults(backend: Any, tmp_path: Path) -> None:
    market, url = backend
    env = settings_env(market, url, SESSION_SECRET=None, SIWE_DOMAIN=None, SIWE_URI=None)
    with gateway_process(env, tmp_path / "gw.log") as gw:
        n = httpx.get(gw.url + "/v1/auth/nonce", timeout=10).json()
        assert n["domain"] == "127.0.0.1:8000" and n["uri"] == "http://127.0.0.1:8000/"


def test_health_names_no_ipfs_url_or_store_path(backend: Any, tmp_path: Path) -> None:
    market, url = backend
    store = str(market.state_dir / "ipfs")
    with gateway_process(settings_env(market, url), tmp_path / "gw.log") as gw:
        text = httpx.get(gw.url + "/health", timeout=10).text
    assert store not in text and str(market.state_dir) not in text, text
    assert json.loads(text)["ipfs"] == "embedded"
    with gateway_process(settings_env(market, url, IPFS_API="http://127.0.0.1:1"), tmp_path / "gw2.log") as gw:
        text = httpx.get(gw.url + "/health", timeout=10).text
    assert "127.0.0.1:1" not in text and json.loads(text)["ipfs"] == "kubo", text


def test_node_down_at_start_then_another_chain_refuses_sign_in(tmp_path: Path) -> None:
    """CHAIN_ID unset and no node at start: the gateway serves, but once the node answers on a
    chain other than 31337 sign-in applies the start-up check (503), never the dev defaults."""
    from fastapi.testclient import TestClient

    from dataledger.dev.anvil import AnvilNode, free_port
    from gateway.main import create_app

    market = get_market()
    port = free_port()
    app = create_app(market.settings(RPC_URL=f"http://127.0.0.1:{port}", CHAIN_ID=None, SESSION_SECRET=None,
                                     SIWE_DOMAIN=None, SIWE_URI=None,
                                     DATABASE_URL=f"sqlite:///{tmp_path / 'x.db'}"))
    with TestClient(app) as c:
        assert c.get("/health").json()["chain_id"] is None
        with AnvilNode(port=port, chain_id=1337, accounts=1):
            r = c.get("/v1/auth/nonce")
            assert r.status_code == 503 and r.json()["error"] == "GatewayMisconfigured", r.text
            assert "1337" in r.json()["reason"]
