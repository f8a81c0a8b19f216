"""The routes behind the wallet pages (/v1/actions/*, /v1/documents, the restriction verdict):
who may call them, refusals decoded before any signature, and a prepared request that a wallet
signs going through the relay unchanged. The browser walk is tests/gateway/test_wallet_pages.py."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data

from dataledger.dev.anvil import DEFAULT_MNEMONIC
from tests.gateway.api_fixtures import app, bearer, client, login, market

RELAYER = "0x8626f6940E2eb28930eFb4CeF49B2d1F2C9C1199"  # anvil account 19
_tokens: dict[str, str] = {}


def _as(client: Any, market: Any, key: str) -> dict[str, str]:
    if key not in _tokens:
        _tokens[key] = login(client, market.accounts[key], market.w3.eth.chain_id)
    return bearer(_tokens[key])


def _stranger() -> Any:
    Account.enable_unaudited_hdwallet_features()
    return Account.from_mnemonic(DEFAULT_MNEMONIC, account_path="m/44'/60'/0'/0/17")


def _sign(account: Any, typed: dict[str, Any]) -> str:
    data = json.loads(json.dumps(typed))
    for name, fields in data["types"].items():
        target = data["domain"] if name == "EIP712Domain" else data["message"] if name == data["primaryType"] else None
        for f in fields if target is not None else []:
            if f["type"].startswith("uint") and isinstance(target.get(f["name"]), str):
                target[f["name"]] = int(target[f["name"]])
    return "0x" + bytes(account.sign_message(encode_typed_data(full_message=data)).signature).hex()


def test_actions_need_a_signed_in_participant(client: Any, market: Any) -> None:
    for method, url, body in (("post", "/v1/actions/prepare", {"action": "freeze", "params": {}}),
                              ("post", "/v1/documents", {"kind": "purpose", "text": "x"}),
                              ("post", "/v1/actions/order", {"side": 0, "voucher_id": 1, "price": 1,
                                                             "exchange": market.address("exchange")})):
        r = getattr(client, method)(url, json=body)
        assert r.status_code == 401, (url, r.text)
        stranger = login(client, _stranger(), market.w3.eth.chain_id)  # signed in, not a participant
        r = getattr(client, method)(url, json=body, headers=bearer(stranger))
        assert r.status_code == 403 and r.json()["error"] == "NotAParticipant", (url, r.text)
    assert client.get("/v1/actions/session").json()["signed_in"] is False


def test_session_names_the_organisation_and_roles(client: Any, market: Any) -> None:
    s = client.get("/v1/actions/session", headers=_as(client, market, "customs")).json()
    assert s["signed_in"] and s["roles"] == ["customs"] and s["organisation"]["jurisdiction"] == "CN"
    assert s["data_officer"] is True  # the demo registers every account as its organisation's officer
    c = client.get("/v1/actions/chain", params={"address": market.address("customs").lower()}).json()
    assert c["chain_id"] == market.w3.eth.chain_id and c["checksum"] == market.address("customs")
    assert c["rpc_urls"] == [market.rpc_url]  # the local chain (31337), no PUBLIC_RPC_URL: its own node


def test_chain_parameters_offer_the_public_rpc_url_only(market: Any) -> None:
    """PUBLIC_RPC_URL (a Settings field) is what wallets are told to add; RPC_URL is never given
    out when it is set."""
    from fastapi.testclient import TestClient

    from gateway.main import create_app

    public = "https://rpc.dataledger.example/"
    with TestClient(create_app(market.settings(PUBLIC_RPC_URL=public))) as c:
        params = c.get("/v1/actions/chain").json()
    assert params["rpc_urls"] == [public] and market.rpc_url not in json.dumps(params)


def test_restriction_verdict_with_what_to_do(client: Any, market: Any) -> None:
    # voucher 4 (asset 2, CN, level 2) held by bank_cn: to Singapore needs a clearance
    r = client.get("/v1/vouchers/4/restriction", params={"to": market.address("holder_sg")}).json()
    assert r["code"] == 11 and not r["allowed"] and "clearance" in r["advice"]
    assert r["clearance"] == {"asset_id": 2, "destination": "SG", "recipient": market.address("holder_sg")}
    r = client.get("/v1/vouchers/1/restriction", params={"to": market.address("bank_cn")}).json()
    assert r["code"] == 8 and r["name"] == "VOUCHER_NOT_TRANSFERABLE"
    assert client.get("/v1/vouchers/999/restriction", params={"to": market.address("bank_cn")}).json()["code"] == 12
    assert client.get("/v1/vouchers/4/restriction", params={"to": "0x12"}).status_code == 422


def test_prepare_refuses_decoded_before_any_signature(client: Any, market: Any) -> None:
    nonce = market.w3.eth.get_transaction_count(RELAYER)
    holder = _as(client, market, "holder_cn")
    # a holder acting as a regulator: the contract's own error, decoded
    r = client.post("/v1/actions/prepare", json={"action": "freeze", "params": {"voucher_id": 1, "reason": "x"}},
                    headers=holder)
    assert r.status_code in (403, 409) and r.json()["error"] == "NotRegulator", r.text
    # someone else's voucher
    r = client.post("/v1/actions/prepare", json={"action": "transfer",
                                                 "params": {"voucher_id": 4, "to": market.address("operator")}},
                    headers=holder)
    assert r.status_code in (403, 409), r.text
    # a cross-border transfer: the verdict with its advice
    r = client.post("/v1/actions/prepare", json={"action": "transfer",
                                                 "params": {"voucher_id": 4, "to": market.address("holder_sg")}},
                    headers=_as(client, market, "bank_cn"))
    assert r.status_code == 409 and r.json()["values"]["code"] == 11 and r.json()["values"]["advice"]
    # unknown action, bad parameters
    assert client.post("/v1/actions/prepare", json={"action": "mint", "params": {}}, headers=holder).status_code == 422
    r = client.post("/v1/actions/prepare", json={"action": "authorize", "params": {"voucher_id": "x", "user": "0x1"}},
                    headers=holder)
    assert r.status_code == 422, r.text
    # suspend is the registrar's, not the data officer's
    r = client.post("/v1/actions/prepare", json={"action": "suspend_account",
                                                 "params": {"account": market.address("holder_cn"), "reason": "r"}},
                    headers=holder)
    assert r.status_code in (403, 409) and r.json()["error"] == "AccessControlUnauthorizedAccount", r.text
    # the settlement console is the exchange's
    r = client.post("/v1/actions/settlement/check", json={}, headers=holder)
    assert r.status_code in (403, 422)
    assert market.w3.eth.get_transaction_count(RELAYER) == nonce


def test_prepared_request_signed_by_the_wallet_is_relayed(client: Any, market: Any) -> None:
    holder = _as(client, market, "holder_cn")
    p = client.post("/v1/actions/prepare", json={"action": "authorize", "params": {
        "voucher_id": 1, "user": market.address("bank_cn"), "allowed": True}}, headers=holder)
    assert p.status_code == 200, p.text
    prep = p.json()
    assert prep["kind"] == "forward" and prep["typed_data"]["primaryType"] == "ForwardRequest"
    signature = _sign(market.accounts["holder_cn"], prep["typed_data"])
    # the request as prepared is only valid with the holder's own signature
    forged = _sign(market.accounts["bank_cn"], prep["typed_data"])
    r = client.post("/v1/relay/forward", json={**prep["request"], "signature": forged}, headers=holder)
    assert r.status_code == 403 and r.json()["error"] == "InvalidSignature", r.text
    r = client.post("/v1/relay/forward", json={**prep["request"], "signature": signature}, headers=holder)
    assert r.status_code == 200, r.text
    receipt = market.w3.eth.wait_for_transaction_receipt(r.json()["tx_hash"])
    assert receipt["status"] == 1


def test_documents_store_the_text_its_digest_is_the_cid(client: Any, market: Any, app: Any) -> None:
    text = "Purpose: quarterly credit review — 季度信用评估"
    r = client.post("/v1/documents", json={"kind": "purpose", "text": text}, headers=_as(client, market, "bank_cn"))
    assert r.status_code == 201, r.text
    d = r.json()
    assert d["sha256"] == "0x" + hashlib.sha256(text.encode()).hexdigest()
    assert app.state.manifests.store.cat(d["cid"]) == text.encode()
    # not a public document: the manifests route does not serve it
    assert client.get(f"/v1/manifests/{d['cid']}").status_code == 404
    bad = client.post("/v1/documents", json={"kind": "dataset", "text": "x"}, headers=_as(client, market, "bank_cn"))
    assert bad.status_code == 422
    big = client.post("/v1/documents", json={"kind": "purpose", "text": "x" * 4001},
                      headers=_as(client, market, "bank_cn"))
    assert big.status_code == 422


def test_order_draft_commits_to_fee_and_terms(client: Any, market: Any) -> None:
    r = client.post("/v1/actions/order", json={"side": 1, "voucher_id": 3, "price": 1000,
                                               "exchange": market.address("exchange")},
                    headers=_as(client, market, "bank_cn"))
    assert r.status_code == 200, r.text
    d = r.json()
    core = market.contracts["DataVoucher"].functions.voucherCore(3).call()
    assert d["order"]["maxFeeBps"] == 100 and d["order"]["minValidUntil"] == core[5]
    assert d["order"]["minUsesLeft"] == core[6] - core[7]
    assert d["typed_data"]["domain"]["verifyingContract"] == market.contracts["TradeSettlement"].address
