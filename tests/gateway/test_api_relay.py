"""The gasless relay: holders' ERC-2771 requests and exchanges' settlements, with every
pre-check refusing (4xx, decoded reason) before any gas is spent."""

from __future__ import annotations

from typing import Any

from ledger.chain import Ledger
from ledger.contracts.models import hash32
from tests.gateway.api_fixtures import app, bearer, client, login, market

RELAYER = "0x8626f6940E2eb28930eFb4CeF49B2d1F2C9C1199"  # anvil account 19


def _ledger(market: Any, key: str) -> Ledger:
    return Ledger.connect(market.rpc_url, account=market.accounts[key], state_dir=market.state_dir)


def _request(market: Any, key: str, fn: str, *args: Any, deadline_in: int = 3600, gas: int = 400_000,
             target: str = "vouchers") -> dict[str, Any]:
    led = _ledger(market, key)
    client_ = getattr(led, target)
    data = bytes.fromhex(client_.build(fn, *args)["data"][2:])
    req = led.forwarder.sign(led.require_account(), client_.address, data, led.now() + deadline_in, gas=gas)
    return req.to_dict()


_tokens: dict[str, str] = {}


def _as(client: Any, market: Any, key: str) -> dict[str, str]:
    """Bearer header of ``key`` signed in (the relay serves signed-in participants only)."""
    if key not in _tokens:
        _tokens[key] = login(client, market.accounts[key], market.w3.eth.chain_id)
    return bearer(_tokens[key])


def _relayer_nonce(market: Any) -> int:
    return int(market.w3.eth.get_transaction_count(RELAYER))


def test_forward_transfer_relayed_and_indexed(client: Any, market: Any) -> None:
    bank, holder = market.address("bank_cn"), market.address("holder_cn")
    req = _request(market, "bank_cn", "safeTransferFrom", bank, holder, 4)
    r = client.post("/v1/relay/forward", json=req, headers=_as(client, market, "bank_cn"))
    assert r.status_code == 200, r.text
    tx_hash = r.json()["tx_hash"]
    # the relay answers with the hash before the receipt (poll /v1/tx/{hash})
    assert market.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)["status"] == 1
    assert client.get(f"/v1/tx/{tx_hash}").json()["state"] in ("pending", "indexed")
    market.index()
    assert client.get(f"/v1/tx/{tx_hash}").json()["state"] == "indexed"
    assert client.get("/v1/vouchers/4").json()["holder"] == holder.lower()
    # replaying the same signed request: stale nonce, nothing sent
    before = _relayer_nonce(market)
    again = client.post("/v1/relay/forward", json=req, headers=_as(client, market, "bank_cn"))
    assert again.status_code == 409 and again.json()["error"] == "StaleNonce"
    assert _relayer_nonce(market) == before


def test_forward_refusals_spend_no_gas(client: Any, market: Any) -> None:
    holder, sg = market.address("holder_cn"), market.address("holder_sg")
    before = _relayer_nonce(market)
    # restriction view: non-transferable voucher 1 (code 8)
    r = client.post("/v1/relay/forward", json=_request(market, "holder_cn", "safeTransferFrom", holder, sg, 1),
                    headers=_as(client, market, "holder_cn"))
    assert r.status_code == 409 and r.json()["error"] == "TransferRestricted"
    assert r.json()["values"]["code"] == 8 and r.json()["reason"]
    # simulation: an unauthorised user redeeming (decoded custom error with values)
    r = client.post("/v1/relay/forward", json=_request(market, "holder_sg", "redeem", 1, hash32("x")),
                    headers=_as(client, market, "holder_sg"))
    assert r.status_code == 403 and r.json()["error"] == "NotAuthorisedUser", r.text
    assert r.json()["values"]["voucherId"] == 1
    # expired deadline
    bank_h = _as(client, market, "bank_cn")
    r = client.post("/v1/relay/forward", json=_request(market, "bank_cn", "redeem", 1, hash32("y"), deadline_in=-10),
                    headers=bank_h)
    assert r.status_code == 409 and r.json()["error"] == "RequestExpired"
    # tampered data: the signature no longer matches
    req = _request(market, "bank_cn", "redeem", 1, hash32("z"))
    req["data"] = req["data"][:-2] + ("00" if req["data"][-2:] != "00" else "01")
    r = client.post("/v1/relay/forward", json=req, headers=bank_h)
    assert r.status_code == 403 and r.json()["error"] == "InvalidSignature"
    # wrong domain
    req = _request(market, "bank_cn", "redeem", 1, hash32("z"))
    r = client.post("/v1/relay/forward", json={**req, "chainId": 1}, headers=bank_h)
    assert r.status_code == 422 and r.json()["error"] == "WrongDomain"
    # untrusted target and settlement through the holder relay
    r = client.post("/v1/relay/forward", json={**req, "to": market.address("bank_cn")}, headers=bank_h)
    assert r.status_code == 422 and r.json()["error"] == "UntrustedTarget"
    # malformed
    assert client.post("/v1/relay/forward", json={"from": "0x12"}, headers=bank_h).status_code == 422
    assert _relayer_nonce(market) == before


def test_forward_redeem_relayed(client: Any, market: Any) -> None:
    r = client.post("/v1/relay/forward", json=_request(market, "bank_cn", "redeem", 1, hash32("loan #2")),
                    headers=_as(client, market, "bank_cn"))
    assert r.status_code == 200, r.text
    assert market.w3.eth.wait_for_transaction_receipt(r.json()["tx_hash"], timeout=60)["status"] == 1
    market.index()
    assert client.get("/v1/vouchers/1").json()["uses"] == 2


def _orders(market: Any, voucher_id: int, price: int, seller: str, buyer: str,
            nonce: int = 900) -> tuple[dict, dict, dict]:
    ex = market.address("exchange")
    out = []
    for key, side in ((seller, 0), (buyer, 1)):
        led = _ledger(market, key)
        order = led.settlement.make_order(side, voucher_id, price, ex, led.now() + 3600, nonce=nonce + side)
        out.append(led.settlement.sign(order))
    sell, buy = out
    exl = _ledger(market, "exchange")
    data = bytes.fromhex(exl.settlement.build("settle", sell.order.as_tuple(), sell.signature_bytes(),
                                              buy.order.as_tuple(), buy.signature_bytes())["data"][2:])
    req = exl.forwarder.sign(exl.require_account(), exl.settlement.address, data, exl.now() + 3600, gas=900_000)
    return sell.to_dict(), buy.to_dict(), req.to_dict()


def test_settlement_relay_only_for_the_signed_in_exchange(client: Any, market: Any) -> None:
    chain_id = market.w3.eth.chain_id
    # the seller lets the settlement contract move its vouchers
    hk = _ledger(market, "holder_hk")
    hk.vouchers.approve_operator(hk.settlement.address, True)
    sell, buy, req = _orders(market, 3, 120_00, "holder_hk", "bank_cn")
    body = {"sell": sell, "buy": buy, "request": req}
    before = _relayer_nonce(market)
    assert client.post("/v1/relay/settlements", json=body).status_code == 401
    bank = login(client, market.accounts["bank_cn"], chain_id)
    denied = client.post("/v1/relay/settlements", json=body, headers=bearer(bank))
    assert denied.status_code == 403 and denied.json()["error"] == "NotAnExchange"
    exchange = login(client, market.accounts["exchange"], chain_id)
    tampered = {**body, "buy": {**buy, "order": {**buy["order"], "price": 1}}}
    r = client.post("/v1/relay/settlements", json=tampered, headers=bearer(exchange))
    assert r.status_code == 422 and r.json()["error"] == "RequestDataMismatch"
    assert _relayer_nonce(market) == before
    ok = client.post("/v1/relay/settlements", json=body, headers=bearer(exchange))
    assert ok.status_code == 200, ok.text
    trade_id = ok.json()["trade_id"]
    assert market.w3.eth.wait_for_transaction_receipt(ok.json()["tx_hash"], timeout=60)["status"] == 1
    market.index()
    prov = client.get("/v1/vouchers/3/provenance").json()
    assert any(e["event"] == "TradeSettled" and e["links"]["trade_id"] == trade_id for e in prov["events"])
    # the same orders again: nonces are used, refused before sending
    sell2, buy2, req2 = _orders(market, 3, 120_00, "bank_cn", "holder_hk")
    before = _relayer_nonce(market)
    again = client.post("/v1/relay/settlements", json={"sell": sell, "buy": buy, "request": req2},
                        headers=bearer(exchange))
    assert again.status_code in (409, 422)
    assert _relayer_nonce(market) == before


def test_settlement_relay_refuses_a_voucher_used_after_signing(client: Any, market: Any) -> None:
    """Issue 11 #9 through the relay: the buy order commits to the voucher's uses left; the seller
    redeems one after signing; the relay refuses with the decoded UsesLeftBelowTerms, no gas spent."""
    chain_id = market.w3.eth.chain_id
    authority = _ledger(market, "authority")
    now = authority.now()
    vid = authority.vouchers.issue(market.address("holder_cn"), 1, "use", "relay terms", now, now + 86400, 3,
                                   True).value
    seller = _ledger(market, "holder_cn")
    seller.vouchers.approve_operator(seller.settlement.address, True)
    sell, buy, req = _orders(market, vid, 50_00, "holder_cn", "bank_cn", nonce=7_700)
    assert buy["order"]["minUsesLeft"] == 3
    seller.vouchers.redeem(vid, "used after signing")
    exchange = login(client, market.accounts["exchange"], chain_id)
    before = _relayer_nonce(market)
    r = client.post("/v1/relay/settlements", json={"sell": sell, "buy": buy, "request": req},
                    headers=bearer(exchange))
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["error"] == "UsesLeftBelowTerms", r.text
    assert _relayer_nonce(market) == before
    assert seller.vouchers.owner_of(vid) == market.address("holder_cn")
