"""Issue 11 Medium #7: provenance must not undo the redaction.

One policy (gateway.services.redaction) decides per role which fields of customs cases, user
authorisations and redeemed uses a caller sees, on every route, page, bundle and search result.
The route-table test asks EVERY GET route of the app (a new route is covered automatically) as
each role and looks for the hidden values in the bytes served. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, Optional

import pytest
from eth_account import Account
from sqlalchemy import create_engine, text
from starlette.routing import Mount

from dataledger.dev import demo
from ledger.contracts.models import Role
from tests.gateway.data_market import app_routes, dclient, dmarket, send, token, try_send

PURPOSE = "0x" + hashlib.sha256(b"SME loan decision #2026-118").hexdigest()  # the demo's redeem
HIDDEN_EVENT_ARGS = {
    "ClearanceRequested": ["args.requester", "args.recipient", "args.purposeCid"],
    "ClearanceApproved": ["args.officer", "args.recipient", "args.conditionsCid"],
    "UserAuthorised": ["args.user", "args.allowed"],
    "VoucherUsed": ["args.user", "args.purposeHash"],
}


class Scene:
    """The secrets of the seeded market and the extra actors this module adds."""

    def __init__(self, market: Any) -> None:
        self.market = market
        # only ever named in UserAuthorised.args.user: an account of another CN organisation (the
        # operator's), since authoriseUser applies the transfer rule to the user (issue 11 #4)
        self.stranger = Account.create().address
        self.colleague = Account.create()  # a second account of holder_cn's organisation
        operator_org = demo.org_id(next(p for p in demo.PARTICIPANTS if p.key == "operator").credit_code)
        send(market, "ParticipantRegistry", "addAccount", "operator", operator_org, self.stranger, int(Role.HOLDER))
        assert try_send(market, "DataVoucher", "authoriseUser", "holder_cn", 1, self.stranger, True)
        oid = demo.org_id(next(p for p in demo.PARTICIPANTS if p.key == "holder_cn").credit_code)
        send(market, "ParticipantRegistry", "addAccount", "holder_cn", oid, self.colleague.address, int(Role.HOLDER))
        market.index()
        engine = create_engine(market.database_url)
        with engine.connect() as conn:
            case = conn.execute(text("SELECT purpose_cid, conditions_cid FROM clearances WHERE clearance_id = 1")).one()
            self.txs = {str(r[0]): str(r[1]) for r in conn.execute(text(
                "SELECT event, tx_hash FROM events WHERE event IN "
                "('VoucherUsed', 'ClearanceRequested', 'ClearanceApproved', 'UserAuthorised')"))}
        engine.dispose()
        self.secrets = {"purposeHash": PURPOSE, "purposeCid": str(case[0]), "conditionsCid": str(case[1]),
                        "stranger": self.stranger.lower()}

    #: where a secret is public by design: the stranger is a participant (an authorised user must be
    #: one), so the participant directory lists it; what stays hidden is that it is authorised
    PUBLIC_ON = {"stranger": ("/v1/participants", "/participants")}

    def leaked(self, body: bytes, url: str) -> list[str]:
        low = body.lower()
        return [name for name, value in self.secrets.items()
                if value.lower().removeprefix("0x").encode() in low and value.lower()[2:] not in url.lower()
                and not url.startswith(self.PUBLIC_ON.get(name, ()))]


@pytest.fixture(scope="module")
def scene(dmarket: Any) -> Scene:
    return Scene(dmarket)


def headers_for(client: Any, market: Any, scene: Scene, role: str) -> dict[str, str]:
    if role == "anonymous":
        return {}
    if role == "colleague":
        from tests.gateway.api_fixtures import bearer, login

        return bearer(login(client, scene.colleague, market.w3.eth.chain_id))
    return token(client, market, role)


def _urls(path: str, scene: Scene, market: Any) -> list[str]:
    values: dict[str, list[str]] = {
        "asset_id": ["1", "2"], "voucher_id": ["1"], "clearance_id": ["1"],
        "tx_hash": sorted(scene.txs.values()), "trade_id": ["0x" + "ab" * 32],
        "account": [market.address("holder_cn").lower(), market.address("bank_cn").lower()],
        "cid": ["bafkreiegvujpwaxe4fzzyl4a2x4d7ovzzktca36isqbmy3omk4brumftba"], "nonce": ["x"],
    }
    urls = [path]
    for name in re.findall(r"\{(\w+)(?::\w+)?\}", path):
        urls = [re.sub(r"\{" + name + r"(?::\w+)?\}", v, u, count=1) for u in urls for v in values.get(name, ["1"])]
    out = []
    for u in urls:
        out.append(u)
        if u.endswith("/provenance"):
            out.append(u + "?bundle=true")
        if u.rstrip("/").endswith("search"):
            out.extend(f"{u}?q={q}" for q in [*scene.txs.values(), "1", "v1", "c1",
                                                 market.address("bank_cn").lower()])
    return out


@pytest.mark.parametrize("role", ["anonymous", "holder_mo", "holder_hk", "exchange"])
def test_no_route_serves_a_hidden_value(dclient: Any, dmarket: Any, scene: Scene, role: str) -> None:
    """Every GET route and page, as callers who may see none of the secrets (anonymous, a
    participant of another organisation, the clearance's recipient, an exchange)."""
    headers = headers_for(dclient, dmarket, scene, role)
    checked = 0
    for path, methods, route in app_routes(dclient.app):
        if isinstance(route, Mount) or "GET" not in methods or path in ("/openapi.json", "/docs", "/redoc"):
            continue
        for url in _urls(path, scene, dmarket):
            r = dclient.get(url, headers=headers)
            checked += 1
            assert r.status_code < 500 or r.status_code == 503, (url, r.status_code, r.text[:300])
            assert not scene.leaked(r.content, url), (role, url, scene.leaked(r.content, url))
            if "bundle=true" in url and r.status_code != 404:
                assert r.status_code == (401 if role == "anonymous" else 403), (url, r.status_code)
                assert r.json()["error"] == "RedactedHistory"
    assert checked > 40


def _events(client: Any, path: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    r = client.get(path, headers=headers)
    assert r.status_code == 200, r.text
    events: list[dict[str, Any]] = r.json()["events"]
    return events


def _hidden(events: list[dict[str, Any]], name: str, user: Optional[str] = None) -> list[list[str]]:
    return [e["redacted"] for e in events if e["event"] == name
            and (user is None or e["args"].get("user") in (None, user))]


#: role -> (sees the customs case, sees the use, sees bank_cn's authorisation, sees the stranger's)
EXPECTED = {
    "anonymous": (False, False, False, False),
    "holder_mo": (False, False, False, False),
    "holder_hk": (False, False, False, False),  # the recipient is not the requester
    "bank_cn": (False, True, True, False),  # the authorised user: its own use and authorisation only
    "holder_cn": (True, True, True, True),  # requester, holder
    "colleague": (True, True, True, True),  # same organisation as holder_cn
    "authority": (False, True, False, False),  # the data authority sees every use
    "customs": (True, True, True, True),
    "regulator": (True, True, True, True),
}


@pytest.mark.parametrize("role", list(EXPECTED))
def test_each_role_sees_what_the_policy_says_everywhere(dclient: Any, dmarket: Any, scene: Scene,
                                                       role: str) -> None:
    case, use, own_auth, stranger_auth = EXPECTED[role]
    h = headers_for(dclient, dmarket, scene, role)
    bank = dmarket.address("bank_cn").lower()

    voucher = _events(dclient, "/v1/vouchers/1/provenance", h)
    asset1 = _events(dclient, "/v1/assets/1/provenance", h)
    asset2 = _events(dclient, "/v1/assets/2/provenance", h)
    for events in (voucher, asset1):
        used = [e for e in events if e["event"] == "VoucherUsed"]
        assert used and all((e["redacted"] == []) == use for e in used), (role, used)
        for e in used:
            assert (e["args"]["purposeHash"] == PURPOSE) == use
            if not use:
                assert e["redacted"] == HIDDEN_EVENT_ARGS["VoucherUsed"] and e["args"]["user"] is None
        auths = [e for e in events if e["event"] == "UserAuthorised"]
        assert len(auths) == (2 if events is voucher else 0)  # asset histories name no authorisation
        for e in auths:  # a served authorisation is whole; a hidden one has user and allowed null
            assert (e["redacted"] == []) == (e["args"]["user"] is not None), (role, e)
            if e["redacted"]:
                assert e["redacted"] == HIDDEN_EVENT_ARGS["UserAuthorised"] and e["args"]["allowed"] is None
    visible_users = {e["args"]["user"] for e in voucher if e["event"] == "UserAuthorised"} - {None}
    assert (bank in visible_users) == own_auth and (scene.stranger.lower() in visible_users) == stranger_auth

    customs_events = [e for e in asset2 if e["contract"] == "DataCustoms"]
    assert {e["event"] for e in customs_events} == {"ClearanceRequested", "ClearanceApproved"}
    for e in customs_events:
        assert (e["redacted"] == []) == case, (role, e)
        if not case:
            assert e["redacted"] == HIDDEN_EVENT_ARGS[e["event"]]
            assert all(e["args"][p[5:]] is None for p in e["redacted"])
    # the clearance rows agree with the events (one policy)
    rows = dclient.get("/v1/clearances", headers=h).json()["items"]
    assert (rows[0]["redacted"] == []) == case and (rows[0]["recipient"] is not None) == case
    assert (dclient.get("/v1/clearances/1", headers=h).json()["redacted"] == []) == case

    # the row endpoints answer per the same policy
    uses = dclient.get("/v1/uses", headers=h)
    if role == "anonymous":
        assert uses.status_code == 401
    else:
        assert (uses.json()["total"] >= 1) == use
    users = dclient.get("/v1/vouchers/1/users", headers=h)
    if role == "anonymous":
        assert users.status_code == 401
    elif not (own_auth or stranger_auth):
        assert users.status_code == 403
    else:
        listed = {u["user"] for u in users.json()["items"]}
        assert (bank in listed) == own_auth and (scene.stranger.lower() in listed) == stranger_auth

    # bundles: served only when nothing of the history is hidden from the caller
    for path, whole in (("/v1/vouchers/1/provenance?bundle=true", use and own_auth and stranger_auth),
                        ("/v1/vouchers/1/bundle", use and own_auth and stranger_auth),
                        ("/v1/assets/2/bundle", case)):
        r = dclient.get(path, headers=h)
        if whole:
            assert r.status_code == 200, (role, path, r.text[:300])
        else:
            assert r.status_code == (401 if role == "anonymous" else 403), (role, path, r.status_code)
            assert r.json()["error"] == "RedactedHistory"

    # the pages: /tx of the redeem, the voucher page, the asset page, the customs queue
    tx = dclient.get(f"/tx/{scene.txs['VoucherUsed']}", headers=h).text
    assert (PURPOSE[2:] in tx) == use and ('data-redacted="args.purposeHash"' in tx) != use
    page = dclient.get("/vouchers/1", headers=h).text
    assert (PURPOSE[2:] in page) == use and (scene.stranger.lower()[2:] in page.lower()) == stranger_auth
    page = dclient.get("/assets/2", headers=h).text
    assert (scene.secrets["purposeCid"][2:] in page) == case
    page = dclient.get(f"/tx/{scene.txs['ClearanceRequested']}", headers=h).text
    assert (scene.secrets["purposeCid"][2:] in page) == case
    page = dclient.get("/customs", headers=h).text.lower()
    assert (dmarket.address("holder_hk").lower()[:10] in page) == case


def test_bundle_refused_when_an_included_block_carries_a_hidden_log(dclient: Any, dmarket: Any,
                                                                    scene: Scene) -> None:
    """A public history (issue and transfer of a new voucher) mined in the SAME block as another
    voucher's redeem: the bundle's receipts would carry that VoucherUsed (user, purpose hash)."""
    from tests.gateway.data_market import issue

    m = dmarket
    v = issue(m, "holder_cn", "holder_cn", 2)
    secret = hashlib.sha256(b"another secret purpose").digest()
    w3 = m.w3
    w3.provider.make_request("evm_setAutomine", [False])  # type: ignore[arg-type]
    try:
        dv = m.contracts["DataVoucher"].functions
        t1 = dv.transferFrom(m.address("holder_cn"), m.address("operator"), v).transact({"from": m.address("holder_cn")})
        t2 = dv.redeem(1, secret).transact({"from": m.address("bank_cn")})
        w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    finally:
        w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
    r1, r2 = w3.eth.wait_for_transaction_receipt(t1), w3.eth.wait_for_transaction_receipt(t2)
    assert r1["status"] == r2["status"] == 1 and r1["blockNumber"] == r2["blockNumber"]
    m.index()
    history = dclient.get(f"/v1/vouchers/{v}/provenance").json()["events"]
    assert all(e["redacted"] == [] for e in history)  # nothing of its own history is hidden
    for role, status in (("anonymous", 401), ("holder_mo", 403), ("operator", 403)):
        h = headers_for(dclient, m, scene, role)
        for path in (f"/v1/vouchers/{v}/bundle", f"/v1/vouchers/{v}/provenance?bundle=true"):
            r = dclient.get(path, headers=h)
            assert r.status_code == status, (role, path, r.status_code, r.text[:200])
            assert r.json()["error"] == "RedactedHistory" and secret.hex() not in r.text
    for role in ("regulator", "holder_cn"):  # holder_cn: holder of voucher 1, a party to the use
        r = dclient.get(f"/v1/vouchers/{v}/bundle", headers=headers_for(dclient, m, scene, role))
        assert r.status_code == 200, (role, r.text[:300])


def test_verification_checks_hidden_fields_but_shows_their_values_to_supervisors_only(
        dclient: Any, dmarket: Any, scene: Scene) -> None:
    """/verification checks every field the gateway holds; a caller the policy hides uses and user
    authorisations from gets each check's verdict without its values, a regulator gets the values."""
    anon = dclient.get("/v1/vouchers/1/verification")
    assert anon.status_code == 200, anon.text
    assert not scene.leaked(anon.content, "/v1/vouchers/1/verification")
    withheld = [c for c in anon.json()["state"] if c["withheld"]]
    assert withheld and all(c["status"] in ("ok", "not_served") for c in withheld)
    assert all(c["served"] is None and c["chain"] is None for c in withheld)
    assert any(c["subject"] == "a user authorisation of voucher 1" for c in withheld)
    reg = dclient.get("/v1/vouchers/1/verification", headers=token(dclient, dmarket, "regulator"))
    assert reg.status_code == 200, reg.text
    assert anon.json()["verdict"] == reg.json()["verdict"] == "verified"
    assert not any(c["withheld"] for c in reg.json()["state"])
    assert scene.stranger.lower() in reg.text.lower()
