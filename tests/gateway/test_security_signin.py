"""Issue 11, Medium #6 and #8 and Low items: the SIWE domain and URI come from configuration only
(phishing replay with ``Host: evil.example``), rate limits cannot be bypassed by rotating sessions
or flushed by filling the bucket table, sign-ins are limited, logout revokes the token (also on a
second gateway over the same database), licence expiry 0 is no licence."""

from __future__ import annotations

import time
from typing import Any

from eth_account import Account
from fastapi.testclient import TestClient

from gateway.core.ratelimit import MAX_BUCKETS, TokenBuckets
from gateway.core.security import make_token
from gateway.main import create_app
from ledger.chain import Ledger
from tests.gateway.api_fixtures import DOMAIN
from tests.gateway.security_fixtures import app_client, backend, bearer, login, sign, siwe_message


def _nonce(c: Any) -> str:
    return str(c.get("/v1/auth/nonce").json()["nonce"])


# ---------------------------------------------------------------- #6 SIWE domain and URI


def test_phishing_domain_replayed_with_its_host_header_is_refused(backend: Any) -> None:
    market, url = backend
    regulator = market.accounts["regulator"]
    chain_id = market.w3.eth.chain_id
    # configured domain, and the local chain's default (SIWE_DOMAIN unset: never the Host header)
    for overrides in ({}, {"SIWE_DOMAIN": None, "SIWE_URI": None}):
        with app_client(market, url, **overrides) as c:
            expected = c.get("/v1/auth/nonce").json()["domain"]
            assert expected == (DOMAIN if not overrides else "127.0.0.1:8000")
            evil = {"host": "evil.example"}
            n = c.get("/v1/auth/nonce", headers=evil).json()
            assert n["domain"] == expected  # the Host header does not change what is expected
            msg = siwe_message(regulator, n["nonce"], chain_id, domain="evil.example")
            r = c.post("/v1/auth/login", json={"message": msg, "signature": sign(regulator, msg)}, headers=evil)
            assert r.status_code == 401 and r.json()["error"] == "DomainMismatch", r.text
            assert "token" not in r.json()
            # the right domain with another site's URI is refused too
            msg = siwe_message(regulator, _nonce(c), chain_id, domain=expected).replace(
                f"URI: https://{expected}/", "URI: https://evil.example/")
            r = c.post("/v1/auth/login", json={"message": msg, "signature": sign(regulator, msg)})
            assert r.status_code == 401 and r.json()["error"] == "UriMismatch", r.text
    # and the configured pair signs in
    with app_client(market, url) as c:
        msg = siwe_message(regulator, _nonce(c), chain_id)
        assert c.post("/v1/auth/login", json={"message": msg, "signature": sign(regulator, msg)}).status_code == 200


# ---------------------------------------------------------------- #8 rate limits


LIMITS = dict(RATE_LIMIT_ENABLED=True, RATE_LIMIT_IP_PER_SECOND=0.01, RATE_LIMIT_IP_BURST=3,
              RATE_LIMIT_SESSION_PER_SECOND=0.01, RATE_LIMIT_SESSION_BURST=5)


def test_rotating_sessions_do_not_bypass_the_ip_bucket(backend: Any) -> None:
    market, url = backend
    with app_client(market, url, **LIMITS) as c:
        secret = c.app.state.session_secret  # type: ignore[attr-defined]
        assert [c.get("/v1/assets").status_code for _ in range(4)] == [200, 200, 200, 429]
        # a key with no participant record: every fresh token is still charged to the IP
        outsider = Account.create().address
        for _ in range(5):
            token, _ = make_token(secret, outsider, 600)
            r = c.get("/v1/assets", headers=bearer(token))
            assert r.status_code == 429 and r.json()["error"] == "TooManyRequests", r.text
        # a participant has its own bucket, keyed by the account: rotating tokens shares it
        codes = [c.get("/v1/assets", headers=bearer(make_token(secret, market.address("regulator"), 600)[0]))
                 .status_code for _ in range(7)]
        assert codes == [200] * 5 + [429, 429], codes


def test_sign_in_is_rate_limited(backend: Any) -> None:
    market, url = backend
    with app_client(market, url, RATE_LIMIT_ENABLED=True, RATE_LIMIT_IP_BURST=1000,
                    RATE_LIMIT_SIGNIN_PER_SECOND=0.01, RATE_LIMIT_SIGNIN_BURST=3) as c:
        acct = market.accounts["holder_cn"]
        nonce = _nonce(c)
        msg = siwe_message(acct, nonce, market.w3.eth.chain_id)
        assert c.post("/v1/auth/login", json={"message": msg, "signature": sign(acct, msg)}).status_code == 200
        assert c.get("/v1/auth/nonce").status_code == 200
        r = c.get("/v1/auth/nonce")
        assert r.status_code == 429 and "sign-in" in r.json()["reason"]
        assert c.post("/v1/auth/login", json={"message": msg, "signature": "0x"}).status_code == 429
        assert c.get("/v1/assets").status_code == 200  # other reads are not sign-in limited


def test_bucket_table_cannot_be_flushed_by_filling_it() -> None:
    buckets = TokenBuckets(rate=0.001, burst=2)
    t = 1000.0
    assert buckets.take("victim", t) == 0 and buckets.take("victim", t) == 0
    assert buckets.take("victim", t) > 0  # drained
    for i in range(MAX_BUCKETS + 10):  # the default cap: fill it with throw-away addresses
        buckets.take(f"junk{i}", t + 1)
    assert len(buckets._state) <= MAX_BUCKETS + 1
    assert buckets.take("victim", t + 2) > 0, "a live bucket was reset by filling the table"


def test_filling_the_ip_table_through_the_app_resets_no_live_bucket(backend: Any) -> None:
    market, url = backend
    app = create_app(market.settings(DATABASE_URL=url, RATE_LIMIT_MAX_BUCKETS=50, **LIMITS))
    victim = TestClient(app, client=("10.0.0.1", 1000))
    assert [victim.get("/v1/assets").status_code for _ in range(4)] == [200, 200, 200, 429]
    codes = [TestClient(app, client=(f"10.1.{i // 250}.{i % 250}", 1000)).get("/v1/assets").status_code
             for i in range(120)]
    assert codes[:49] == [200] * 49  # room for 49 more clients, then newcomers share one overflow bucket
    assert codes.count(429) >= 120 - 49 - 3
    assert victim.get("/v1/assets").status_code == 429


# ---------------------------------------------------------------- Low: logout revokes, licence 0


def test_logout_revokes_the_token_on_every_gateway(backend: Any) -> None:
    market, url = backend
    with app_client(market, url) as c1, app_client(market, url) as c2:
        token = login(c1, market.accounts["regulator"], market.w3.eth.chain_id)
        assert c1.get("/v1/auth/me", headers=bearer(token)).status_code == 200
        assert c2.get("/v1/auth/me", headers=bearer(token)).status_code == 200
        assert c1.post("/v1/auth/logout", headers=bearer(token)).status_code == 204
        for c in (c1, c2):
            r = c.get("/v1/auth/me", headers=bearer(token))
            assert r.status_code == 401 and r.json()["error"] == "SessionRevoked", r.text
            r = c.get("/v1/auth/me", cookies={"dl_session": token})
            assert r.status_code == 401
        assert c2.post("/v1/auth/logout", headers=bearer(token)).status_code == 204  # idempotent
        # a new sign-in of the same account works
        again = login(c2, market.accounts["regulator"], market.w3.eth.chain_id)
        assert c1.get("/v1/auth/me", headers=bearer(again)).status_code == 200


def test_licence_expiry_zero_is_no_licence(backend: Any) -> None:
    market, url = backend
    authority = Ledger.connect(market.rpc_url, account=market.accounts["authority"], state_dir=market.state_dir)
    exchange = market.address("exchange")
    previous = authority.participants.participant(exchange).licence_expiry
    authority.participants.set_licence_expiry(exchange, 0)
    try:
        url = _reindex(market, url)
        with app_client(market, url) as c:
            token = login(c, market.accounts["exchange"], market.w3.eth.chain_id)
            me = c.get("/v1/auth/me", headers=bearer(token)).json()
            assert "exchange" not in me["roles"], me
            r = c.post("/v1/relay/settlements", headers=bearer(token), json=_dummy_settlement(market))
            assert r.status_code == 403 and r.json()["error"] in ("NotAnExchange", "NotAParticipant"), r.text
    finally:
        authority.participants.set_licence_expiry(exchange, previous)
        _reindex(market, url)
    with app_client(market, url) as c:
        token = login(c, market.accounts["exchange"], market.w3.eth.chain_id)
        assert "exchange" in c.get("/v1/auth/me", headers=bearer(token)).json()["roles"]


def _reindex(market: Any, url: str) -> str:
    from gateway.indexer.sync import run_indexer
    from ledger.deployment import Deployment

    with market.lock:
        run_indexer(market.rpc_url, url, Deployment.from_dict(market.record).entries())
    return url


def _dummy_settlement(market: Any) -> dict[str, Any]:
    ex = market.address("exchange")
    order = {"maker": ex, "side": 0, "voucherId": 1, "price": 1, "paymentToken": ex, "exchange": ex,
             "nonce": 1, "deadline": int(time.time()) + 60}
    signed = {"order": order, "signature": "0x" + "11" * 65, "chainId": 31337, "settlement": ex}
    req = {"from": ex, "to": ex, "value": 0, "gas": 100_000, "nonce": 0, "deadline": int(time.time()) + 60,
           "data": "0x", "signature": "0x" + "11" * 65, "chainId": 31337, "forwarder": ex}
    return {"sell": signed, "buy": signed, "request": req}
