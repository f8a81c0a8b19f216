"""Gateway replicas (issue 15 part 4): two uvicorn processes over ONE PostgreSQL database behave as
one gateway: sessions, single-use sign-in nonces, rate limits, relay budgets and the relayer's
transaction nonces are shared through the database."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from web3 import Web3

from gateway.indexer.store import make_engine
from gateway.indexer.sync import run_indexer
from gateway.services.relaynonce import SharedNonceManager
from ledger.deployment import Deployment
from ledger.tx import NonceManager
from tests.gateway.api_fixtures import Market, bearer, get_market
from tests.gateway.indexer_fixtures import new_postgres_database
from tests.gateway.security_fixtures import GatewayProcess, settings_env
from tests.gateway.test_security_relay import RELAYER, _call, _login_body, _rpc

SECRET = "replica-shared-session-secret-0123456789"


@pytest.fixture(scope="module")
def shared_db(postgres_url: str) -> tuple[Market, str]:
    market = get_market()
    url = new_postgres_database(postgres_url)
    with market.lock:
        run_indexer(market.rpc_url, url, Deployment.from_dict(market.record).entries())
    return market, url


@contextmanager
def replicas(market: Market, url: str, tmp_path: Path, n: int = 2, **overrides: Any) -> Iterator[list[str]]:
    """``n`` gateway processes over ``url`` with the same configuration; yields their base URLs."""
    env = settings_env(market, url, SESSION_SECRET=SECRET, **overrides)
    with ExitStack() as stack:
        procs = [GatewayProcess(env, tmp_path / f"replica-{i}.log") for i in range(n)]
        for p in procs:
            stack.callback(p.stop)
        for p in procs:
            p.wait_ready()
        yield [p.url for p in procs]


@pytest.fixture(scope="module")
def pair(shared_db: tuple[Market, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    market, url = shared_db
    with replicas(market, url, tmp_path_factory.mktemp("replicas"), RELAY_BUDGET_SIGNER_REQUESTS=3) as urls:
        yield urls


def test_session_made_on_one_replica_works_on_the_other(shared_db: tuple[Market, str], pair: list[str]) -> None:
    market, _ = shared_db
    a, b = httpx.Client(base_url=pair[0], timeout=30), httpx.Client(base_url=pair[1], timeout=30)
    token = a.post("/v1/auth/login", json=_login_body(a, market, "holder_cn")).json()["token"]
    me = b.get("/v1/auth/me", headers=bearer(token))
    assert me.status_code == 200 and me.json()["address"].lower() == market.address("holder_cn").lower(), me.text
    # logout on B ends the session on A too (revoked_sessions is shared)
    assert b.post("/v1/auth/logout", headers=bearer(token)).status_code == 204
    gone = a.get("/v1/auth/me", headers=bearer(token))
    assert gone.status_code == 401, gone.text


def test_signed_login_replayed_on_the_other_replica_is_refused(shared_db: tuple[Market, str],
                                                              pair: list[str]) -> None:
    market, _ = shared_db
    a, b = httpx.Client(base_url=pair[0], timeout=30), httpx.Client(base_url=pair[1], timeout=30)
    body = _login_body(a, market, "bank_cn")  # nonce issued by A
    assert a.post("/v1/auth/login", json=body).status_code == 200
    replay = b.post("/v1/auth/login", json=body)
    assert replay.status_code in (401, 409) and replay.json()["error"] == "NonceUsed", replay.text
    # the same signed login sent to both replicas at the same instant: exactly one session
    for _ in range(3):
        body = _login_body(b, market, "bank_cn")
        codes: list[int] = []
        go = threading.Barrier(2)

        def post(client: httpx.Client, go: threading.Barrier = go, codes: list[int] = codes,
                 body: dict[str, Any] = body) -> None:
            go.wait()
            codes.append(client.post("/v1/auth/login", json=body).status_code)

        threads = [threading.Thread(target=post, args=(c,)) for c in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sorted(codes)[0] == 200 and sorted(codes)[1] in (401, 409), codes


def test_relay_budget_holds_across_replicas(shared_db: tuple[Market, str], pair: list[str]) -> None:
    """RELAY_BUDGET_SIGNER_REQUESTS=3 on each replica: the signer's 4th relay is refused whichever
    replica it reaches (one shared budget, not 3 per process)."""
    market, _ = shared_db
    clients = [httpx.Client(base_url=u, timeout=60) for u in pair]
    token = clients[0].post("/v1/auth/login", json=_login_body(clients[0], market, "holder_hk")).json()["token"]
    base = int(time.time() * 1000)
    for i, client in zip(range(3), itertools.cycle(clients)):
        r = client.post("/v1/relay/forward", json=_call(market, "holder_hk", "settlement", "cancelOrder", base + i,
                                                        gas=200_000), headers=bearer(token))
        assert r.status_code == 200, r.text
        assert market.w3.eth.wait_for_transaction_receipt(r.json()["tx_hash"], timeout=60)["status"] == 1
    for client in clients:
        r = client.post("/v1/relay/forward", json=_call(market, "holder_hk", "settlement", "cancelOrder", base + 9,
                                                        gas=200_000), headers=bearer(token))
        assert r.status_code == 429 and r.json()["error"] == "RelayBudgetExceeded", r.text
        assert r.json()["values"]["signer"]["requests_left"] == 0


def test_two_replicas_relay_concurrently_without_nonce_collisions(shared_db: tuple[Market, str],
                                                                  tmp_path: Path) -> None:
    """Two fresh replicas relay with the same relayer key at once while no block is mined (every
    transaction stays pending): each replica's first nonce would be the node's pending count, the
    same for both, without the shared nonce source. Every accepted transaction is mined."""
    market, url = shared_db
    with replicas(market, url, tmp_path) as pair:
        _relay_concurrently(market, pair)


def _relay_concurrently(market: Market, pair: list[str]) -> None:
    signers = ["operator", "exchange", "broker", "appraiser", "customs", "regulator", "holder_cn", "holder_mo"]
    clients = [httpx.Client(base_url=u, timeout=60) for u in pair]
    tokens = {k: clients[0].post("/v1/auth/login", json=_login_body(clients[0], market, k)).json()["token"]
              for k in signers}
    base = int(time.time() * 1000)
    # round 1 one after the other, alternating replicas (A counts from the pool's pending count, B
    # too, then A's local counter would reuse B's pending nonce); round 2 all at once
    rounds = [[(k, base + i) for i, k in enumerate(signers)],
              [(k, base + 100 + i) for i, k in enumerate(signers)]]
    start_nonce = int(market.w3.eth.get_transaction_count(RELAYER, "pending"))
    results: list[tuple[str, int, dict[str, Any]]] = []
    _rpc(market, "evm_setAutomine", False)
    try:
        for i, (k, n) in enumerate(rounds[0]):
            r = clients[i % 2].post("/v1/relay/forward", headers=bearer(tokens[k]),
                                    json=_call(market, k, "settlement", "cancelOrder", n, gas=200_000))
            results.append((k, r.status_code, r.json()))
        _rpc(market, "evm_mine")  # the forwarder nonces of round 1 are used: round 2 signs the next ones
        bodies = [(k, n, _call(market, k, "settlement", "cancelOrder", n, gas=200_000)) for k, n in rounds[1]]
        go = threading.Barrier(len(bodies))

        def relay(i: int, k: str, n: int, body: dict[str, Any]) -> None:
            with httpx.Client(base_url=pair[i % 2], timeout=60) as hc:
                go.wait()
                r = hc.post("/v1/relay/forward", json=body, headers=bearer(tokens[k]))
            results.append((k, r.status_code, r.json()))

        threads = [threading.Thread(target=relay, args=(i, *job)) for i, job in enumerate(bodies)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
    finally:
        _rpc(market, "evm_setAutomine", True)
    _rpc(market, "evm_mine")
    assert all(code == 200 for _, code, _ in results), results
    assert len(results) == 2 * len(signers)
    nonces = []
    for _, _, body in results:
        receipt = market.w3.eth.wait_for_transaction_receipt(body["tx_hash"], timeout=60)
        assert receipt["status"] == 1, receipt
        nonces.append(int(market.w3.eth.get_transaction(body["tx_hash"])["nonce"]))
    assert sorted(nonces) == list(range(start_nonce, start_nonce + 2 * len(signers))), nonces
    from ledger.chain import Ledger

    led = Ledger.connect(market.rpc_url, state_dir=market.state_dir)
    assert all(led.settlement.is_nonce_used(market.address(k), n) for k, n in rounds[0] + rounds[1])


def test_rate_limit_total_is_the_same_across_replicas(shared_db: tuple[Market, str], tmp_path: Path) -> None:
    """IP burst 10, (almost) no refill: 30 requests alternating between two replicas get exactly 10
    answers in total (per-process buckets would let 20 through)."""
    market, url = shared_db
    with replicas(market, url, tmp_path, RATE_LIMIT_ENABLED="true", RATE_LIMIT_IP_BURST=10,
                  RATE_LIMIT_IP_PER_SECOND=0.001) as urls:
        clients = [httpx.Client(base_url=u, timeout=30) for u in urls]
        codes = [clients[i % 2].get("/v1/contracts").status_code for i in range(30)]
        assert codes.count(200) == 10 and codes.count(429) == 20, codes
        assert codes[:10] == [200] * 10
        # the probe stays exempt
        assert all(c.get("/health").status_code == 200 for c in clients)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT key FROM rate_limit_buckets WHERE key LIKE 'ip|%'")).all()
    finally:
        engine.dispose()
    assert rows, "the buckets are in the database"


# ---------------------------------------------------------------- the nonce source itself


def test_shared_nonce_source_gives_two_processes_distinct_nonces(shared_db: tuple[Market, str]) -> None:
    """Two managers (as in two processes) over one database reserve concurrently: all distinct and
    contiguous. Two process-local managers, the attacker's baseline, hand out the same nonces."""
    market, url = shared_db
    w3 = Web3(Web3.HTTPProvider(market.rpc_url))
    chain_id = int(w3.eth.chain_id)
    account = Web3.to_checksum_address("0x" + "ab" * 20)  # no transactions: pending count 0
    local = [NonceManager(w3), NonceManager(w3)]
    assert local[0].reserve(account) == local[1].reserve(account) == 0  # the collision, per process
    engines = [make_engine(url), make_engine(url)]
    try:
        managers = [SharedNonceManager(w3, e, chain_id) for e in engines]
        got: list[int] = []
        lock = threading.Lock()

        def work(m: SharedNonceManager) -> None:
            for _ in range(25):
                n = m.reserve(account)
                with lock:
                    got.append(n)

        threads = [threading.Thread(target=work, args=(m,)) for m in managers for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(got) == list(range(100)), sorted(got)
        # release of the last one hands it out again; a stale gap restarts from the node's count
        managers[0].release(account, 99)
        assert managers[1].reserve(account) == 99
        with engines[0].begin() as conn:
            conn.execute(text("UPDATE relayer_nonces SET updated_at = 0 WHERE address = :a"), {"a": account})
        assert managers[0].reserve(account) == 0  # nothing of 0..99 reached the node: gap filled
        # turns (what the relay uses): held across sign + broadcast, so the other process waits;
        # a turn that fails (nothing broadcast) gives its nonce back
        in_turn: list[tuple[str, int, float, float]] = []

        def turn(i: int) -> None:
            m = managers[i % 2]
            with m.turn(account):
                t0 = time.monotonic()
                n = m.reserve(account)
                time.sleep(0.05)  # signing and broadcasting
                in_turn.append((f"t{i}", n, t0, time.monotonic()))

        threads = [threading.Thread(target=turn, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sorted(n for _, n, _, _ in in_turn) == list(range(1, 7))
        spans = sorted((a, b) for _, _, a, b in in_turn)
        assert all(spans[i][1] <= spans[i + 1][0] for i in range(len(spans) - 1)), "two turns overlapped"
        with pytest.raises(RuntimeError):
            with managers[0].turn(account):
                assert managers[0].reserve(account) == 7
                raise RuntimeError("node refused the transaction")
        assert managers[1].reserve(account) == 7
    finally:
        for e in engines:
            e.dispose()
