"""Sign-In with Ethereum, session tokens, role-based access, manifests upload, rate limits."""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from fastapi.testclient import TestClient

from gateway.core.security import make_token, parse_message, read_token
from ledger.ipfs import file_cid
from tests.gateway.api_fixtures import DOMAIN, app, bearer, client, login, market, sign, siwe_message


def _nonce(client: Any) -> str:
    return str(client.get("/v1/auth/nonce").json()["nonce"])


def _login(client: Any, message: str, signature: str) -> Any:
    r = client.post("/v1/auth/login", json={"message": message, "signature": signature})
    client.cookies.clear()
    return r


def test_siwe_login_and_me(client: Any, market: Any) -> None:
    acct = market.accounts["exchange"]
    chain_id = market.w3.eth.chain_id
    n = client.get("/v1/auth/nonce").json()
    assert n["domain"] == DOMAIN and n["chain_id"] == chain_id and len(n["nonce"]) >= 8
    msg = siwe_message(acct, n["nonce"], chain_id)
    assert parse_message(msg).prepare() == msg
    r = _login(client, msg, sign(acct, msg))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["address"] == acct.address and body["roles"] == ["exchange"] and body["status"] == "active"
    assert "dl_session" in r.headers.get("set-cookie", "")
    me = client.get("/v1/auth/me", headers=bearer(body["token"])).json()
    assert me["address"] == acct.address and me["jurisdiction"] == "CN"
    # the same cookie works too
    assert client.get("/v1/auth/me", cookies={"dl_session": body["token"]}).status_code == 200
    # the nonce is single use
    replay = _login(client, msg, sign(acct, msg))
    assert replay.status_code == 401 and replay.json()["error"] == "NonceUsed"


def test_siwe_refusals(client: Any, market: Any) -> None:
    acct, other = market.accounts["holder_cn"], market.accounts["holder_hk"]
    chain_id = market.w3.eth.chain_id
    cases = {
        "DomainMismatch": siwe_message(acct, _nonce(client), chain_id, domain="evil.example"),
        "ChainMismatch": siwe_message(acct, _nonce(client), chain_id + 1),
        "Expired": siwe_message(acct, _nonce(client), chain_id, issued_at=time.time() - 7200, expires_in=60),
        "NotYetValid": siwe_message(acct, _nonce(client), chain_id, not_before=time.time() + 3600),
        "UnknownNonce": siwe_message(acct, "abcdefgh12345678", chain_id),
    }
    for code, msg in cases.items():
        r = _login(client, msg, sign(acct, msg))
        assert r.status_code == 401 and r.json()["error"] == code, (code, r.text)
    msg = siwe_message(acct, _nonce(client), chain_id)
    forged = _login(client, msg, sign(other, msg))
    assert forged.status_code == 401 and forged.json()["error"] == "InvalidSignature"
    garbage = _login(client, "hello", "0x" + "00" * 65)
    assert garbage.status_code == 401 and garbage.json()["error"] == "InvalidMessage"
    assert client.post("/v1/auth/login", json={"message": 1}).status_code == 422


def test_tokens_tamper_and_expiry(client: Any, app: Any, market: Any) -> None:
    secret = app.state.session_secret
    token, _ = make_token(secret, market.address("regulator"), 60)
    assert read_token(secret, token) is not None
    payload, mac = token.split(".")
    assert read_token(secret, payload + "." + mac[:-2] + ("AA" if mac[-2:] != "AA" else "BB")) is None
    expired, _ = make_token(secret, market.address("regulator"), 60, now=time.time() - 3600)
    r = client.get("/v1/auth/me", headers=bearer(expired))
    assert r.status_code == 401 and r.json()["error"] == "InvalidSession"
    assert client.get("/v1/auth/me").status_code == 401
    assert client.get("/v1/auth/me", headers=bearer("not.atoken")).status_code == 401
    assert client.post("/v1/auth/logout").status_code == 204


def test_voucher_users_visible_to_holder_user_and_regulator_only(client: Any, market: Any) -> None:
    chain_id = market.w3.eth.chain_id
    assert client.get("/v1/vouchers/1/users").status_code == 401
    holder = login(client, market.accounts["holder_cn"], chain_id)
    rows = client.get("/v1/vouchers/1/users", headers=bearer(holder)).json()["items"]  # a page like every list
    assert [r["user"] for r in rows] == [market.address("bank_cn").lower()] and rows[0]["allowed"] is True
    bank = login(client, market.accounts["bank_cn"], chain_id)
    assert len(client.get("/v1/vouchers/1/users", headers=bearer(bank)).json()["items"]) == 1
    regulator = login(client, market.accounts["regulator"], chain_id)
    assert client.get("/v1/vouchers/1/users", headers=bearer(regulator)).status_code == 200
    stranger = login(client, market.accounts["holder_sg"], chain_id)
    denied = client.get("/v1/vouchers/1/users", headers=bearer(stranger))
    assert denied.status_code == 403 and denied.json()["error"] == "Forbidden"


def test_uses_scoped_by_role(client: Any, market: Any) -> None:
    chain_id = market.w3.eth.chain_id
    assert client.get("/v1/uses").status_code == 401
    regulator = login(client, market.accounts["regulator"], chain_id)
    assert client.get("/v1/uses", headers=bearer(regulator)).json()["total"] == 1
    bank = login(client, market.accounts["bank_cn"], chain_id)
    mine = client.get("/v1/uses", headers=bearer(bank)).json()
    assert mine["total"] == 1 and mine["items"][0]["user"] == market.address("bank_cn").lower()
    other = login(client, market.accounts["holder_sg"], chain_id)
    assert client.get("/v1/uses", headers=bearer(other)).json()["total"] == 0


MANIFEST = {
    "title": "Foshan logistics flows 2026",
    "description": "Daily truck flows between logistics parks.",
    "publisher": {"name": "Foshan Precision Manufacturing Ltd."},
    "keywords": ["logistics", "flows"],
    "classification_level": 2,
    "source_type": "enterprise",
    "distributions": [{"path": "flows.csv", "media_type": "text/csv", "byte_size": 3,
                       "sha256": hashlib.sha256(b"a,b").hexdigest(), "cid": file_cid(b"a,b")}],
}


def test_manifest_upload_requires_a_participant_and_stores_on_ipfs(client: Any, market: Any, app: Any) -> None:
    chain_id = market.w3.eth.chain_id
    assert client.post("/v1/manifests", json=MANIFEST).status_code == 401
    outsider = login(client, market.accounts.get("outsider") or _outsider(), chain_id)
    r = client.post("/v1/manifests", json=MANIFEST, headers=bearer(outsider))
    assert r.status_code == 403 and r.json()["error"] == "NotAParticipant"
    token = login(client, market.accounts["holder_cn"], chain_id)
    r = client.post("/v1/manifests", json=MANIFEST, headers=bearer(token))
    assert r.status_code == 201, r.text
    stored = r.json()
    assert stored["cid"].startswith("bafk") and stored["content_hash"].startswith("0x")
    raw = client.get(f"/v1/manifests/{stored['cid']}")
    assert raw.status_code == 200 and json.loads(raw.content)["title"] == MANIFEST["title"]
    assert "0x" + hashlib.sha256(raw.content).hexdigest() == stored["content_hash"]
    bad = client.post("/v1/manifests", json={**MANIFEST, "classification_level": 9}, headers=bearer(token))
    assert bad.status_code == 422 and bad.json()["error"] == "InvalidManifest"
    assert "classification_level" in bad.json()["reason"]


def _outsider() -> Any:
    from eth_account import Account

    return Account.create()


def test_rate_limits_per_ip_and_per_session(market: Any) -> None:
    from gateway.main import create_app

    limited = create_app(market.settings(RATE_LIMIT_ENABLED=True, RATE_LIMIT_IP_PER_SECOND=0.5,
                                         RATE_LIMIT_IP_BURST=3, RATE_LIMIT_SESSION_PER_SECOND=0.5,
                                         RATE_LIMIT_SESSION_BURST=5))
    with TestClient(limited) as c:
        codes = [c.get("/v1/assets").status_code for _ in range(4)]
        assert codes[:3] == [200, 200, 200] and codes[3] == 429
        r = c.get("/v1/assets")
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert r.json()["error"] == "TooManyRequests"
        assert c.get("/health").status_code == 200  # probes are not limited
        token, _ = make_token(limited.state.session_secret, market.address("regulator"), 600)
        session_codes = [c.get("/v1/assets", headers=bearer(token)).status_code for _ in range(6)]
        assert session_codes[:5] == [200] * 5 and session_codes[5] == 429
