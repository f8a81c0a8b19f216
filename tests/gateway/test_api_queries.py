"""Read routes over the seeded demo market: participants, assets (+ IPFS manifest check),
vouchers, provenance, trades, clearances (redaction), statistics, tx status, search, health, metrics."""

from __future__ import annotations

from typing import Any

from sqlalchemy import create_engine, text

from tests.gateway.api_fixtures import app, bearer, client, login, market

ZERO = "0x" + "00" * 20


def test_participants_list_filter_and_detail(client: Any, market: Any) -> None:
    r = client.get("/v1/participants", params={"limit": 100})
    assert r.status_code == 200
    body = r.json()
    assert body["total"] == 12 and len(body["items"]) == 12
    exchanges = client.get("/v1/participants", params={"role": "exchange"}).json()["items"]
    assert [p["account"] for p in exchanges] == [market.address("exchange").lower()]
    assert exchanges[0]["role_names"] == ["exchange"]
    hk = client.get("/v1/participants", params={"jurisdiction": "HK"}).json()["items"]
    assert [p["account"] for p in hk] == [market.address("holder_hk").lower()]
    page = client.get("/v1/participants", params={"limit": 5, "offset": 10}).json()
    assert len(page["items"]) == 2 and page["total"] == 12
    d = client.get(f"/v1/participants/{market.address('holder_cn')}").json()
    assert d["jurisdiction"] == "CN" and d["assets_held"] == 2 and d["organisation"]["status"] == "active"
    assert client.get("/v1/participants/0x" + "12" * 20).status_code == 404
    bad = client.get("/v1/participants/not-an-address")
    assert bad.status_code == 422 and bad.json()["error"] == "InvalidAddress"
    assert client.get("/v1/participants", params={"role": "wizard"}).status_code == 422


def test_asset_detail_manifest_verifies_against_ipfs(client: Any, market: Any) -> None:
    a = client.get("/v1/assets/2").json()
    assert a["holder"] == market.address("holder_cn").lower()
    assert a["manifest_cid_text"].startswith("bafk")
    assert [m["version"] for m in a["manifests"]] == [0]
    assert len(a["valuations"]) == 1 and a["valuations"][0]["currency"] == "CNY"
    check = a["manifest_verification"]
    assert check["status"] == "verified", check
    assert check["actual_content_hash"] == a["content_hash"]
    listed = client.get("/v1/assets", params={"level": 3}).json()["items"]
    assert [x["asset_id"] for x in listed] == [3]
    assert client.get("/v1/assets/999").status_code == 404
    assert client.get("/v1/assets/-1").status_code == 422


def test_asset_manifest_mismatch_detected(app: Any, client: Any) -> None:
    """A store that returns other bytes for the CID is caught (re-hash != contentHash)."""
    verifier = app.state.manifests
    a = client.get("/v1/assets/1", params={"verify": False}).json()
    saved = dict(verifier._hashes)
    try:
        verifier._hashes[a["manifest_cid_text"]] = "0x" + "ab" * 32
        check = client.get("/v1/assets/1").json()["manifest_verification"]
        assert check["status"] == "mismatch"
    finally:
        verifier._hashes.clear()
        verifier._hashes.update(saved)


def test_vouchers_filters_and_pagination(client: Any, market: Any) -> None:
    all_ = client.get("/v1/vouchers").json()
    assert all_["total"] == 4
    held = client.get("/v1/vouchers", params={"holder": market.address("holder_cn")}).json()["items"]
    assert all(v["holder"] == market.address("holder_cn").lower() for v in held)
    by_asset = client.get("/v1/vouchers", params={"asset_id": 1}).json()
    assert by_asset["total"] == 2 and {v["asset_id"] for v in by_asset["items"]} == {1}
    operating = client.get("/v1/vouchers", params={"right": "operating"}).json()["items"]
    assert [v["right_name"] for v in operating] == ["operating"]
    assert client.get("/v1/vouchers", params={"status": "revoked"}).json()["total"] == 0
    assert client.get("/v1/vouchers", params={"status": "active"}).json()["total"] == 4
    page = client.get("/v1/vouchers", params={"limit": 1, "offset": 1}).json()
    assert page["total"] == 4 and [v["voucher_id"] for v in page["items"]] == [2]
    assert client.get("/v1/vouchers", params={"limit": 0}).status_code == 422
    assert client.get("/v1/vouchers", params={"status": "lost"}).status_code == 422
    v = client.get("/v1/vouchers/3").json()
    assert v["transfers"][0]["from_address"] == ZERO
    assert client.get("/v1/vouchers/77").json()["error"] == "NotFound"


def _check_shape(doc: dict[str, Any]) -> None:
    assert set(doc) == {"subject", "events", "verification"}
    assert doc["verification"]["status"] == "unverified"  # the gateway's word: checked by /verification
    keys = {"block_number", "block_hash", "tx_hash", "log_index", "contract", "address", "event", "args", "links",
            "redacted", "timestamp", "time", "story"}  # time and story: issue 13 (gateway.services.story)
    order = [(e["block_number"], e["log_index"]) for e in doc["events"]]
    assert order == sorted(order) and len(set(order)) == len(order)
    for e in doc["events"]:
        assert set(e) == keys
        assert set(e["links"]) == {"asset_id", "voucher_id", "trade_id", "clearance_id"}
        assert e["time"].endswith("+08:00") and e["story"]["text"] and set(e["story"]) == {
            "text", "template", "params", "clearance"}
        assert e["block_hash"].startswith("0x") and len(e["tx_hash"]) == 66
        # hidden fields (gateway.services.redaction) are null and named in "redacted"
        assert all(p.startswith("args.") and e["args"][p[5:]] is None for p in e["redacted"])


def test_voucher_provenance_matches_the_node(client: Any, market: Any) -> None:
    doc = client.get("/v1/vouchers/1/provenance").json()
    _check_shape(doc)
    assert doc["subject"]["kind"] == "voucher" and doc["subject"]["id"] == 1
    names = [e["event"] for e in doc["events"]]
    assert names[:2] == ["VoucherIssued", "Transfer"] and "UserAuthorised" in names and "VoucherUsed" in names
    assert all(e["links"]["voucher_id"] == 1 for e in doc["events"])
    # every coordinate re-checks against the node: the receipt holds the same log
    w3 = market.w3
    for e in doc["events"]:
        receipt = w3.eth.get_transaction_receipt(e["tx_hash"])
        assert "0x" + bytes(receipt["blockHash"]).hex() == e["block_hash"]
        log = next(lg for lg in receipt["logs"] if lg["logIndex"] == e["log_index"])
        assert log["address"].lower() == e["address"]
    # a traded voucher: TradeSettled (+ BrokerPaid) with trade links
    traded = client.get("/v1/vouchers/4/provenance").json()
    _check_shape(traded)
    settled = [e for e in traded["events"] if e["event"] == "TradeSettled"]
    assert len(settled) == 1 and settled[0]["links"]["trade_id"] == settled[0]["args"]["tradeId"]
    assert any(e["event"] == "BrokerPaid" for e in traded["events"])
    assert client.get("/v1/vouchers/99/provenance").status_code == 404


def test_asset_provenance(client: Any) -> None:
    doc = client.get("/v1/assets/2/provenance").json()
    _check_shape(doc)
    names = [e["event"] for e in doc["events"]]
    assert names[0] == "AssetRegistered"
    for expected in ("ValuationRecorded", "ClearanceRequested", "ClearanceApproved", "VoucherIssued"):
        assert expected in names
    case = next(e for e in doc["events"] if e["event"] == "ClearanceApproved")
    assert case["links"]["clearance_id"] == 1 and case["links"]["asset_id"] == 2
    assert client.get("/v1/assets/42/provenance").status_code == 404


def test_trades_match_settled_events(client: Any, market: Any) -> None:
    engine = create_engine(market.database_url)
    with engine.connect() as conn:
        settled = conn.execute(text("SELECT count(*) FROM events WHERE event = 'TradeSettled'")).scalar()
    engine.dispose()
    body = client.get("/v1/trades").json()
    assert settled == 2
    assert body["total"] == settled, "the indexer's trades projection must hold every TradeSettled event"
    t = body["items"][0]
    detail = client.get(f"/v1/trades/{t['trade_id']}").json()
    assert detail["trade_id"] == t["trade_id"]
    hk = client.get("/v1/trades", params={"party": market.address("holder_hk")}).json()
    assert hk["total"] == 1
    assert client.get("/v1/trades/0x" + "00" * 32).status_code == 404
    assert client.get("/v1/trades/xyz").status_code == 422


def test_customs_queue_redacted_for_others_full_for_customs(client: Any, market: Any) -> None:
    anon = client.get("/v1/clearances").json()["items"]
    hidden = ["requester", "recipient", "purpose_cid", "officer", "conditions_cid", "reason"]
    assert len(anon) == 1 and anon[0]["redacted"] == hidden and all(anon[0][k] is None for k in hidden)
    chain_id = market.w3.eth.chain_id
    holder_hk = login(client, market.accounts["holder_hk"], chain_id)
    other = client.get("/v1/clearances", headers=bearer(holder_hk)).json()["items"]
    assert other[0]["redacted"] == hidden and other[0]["recipient"] is None
    for key in ("customs", "regulator"):
        token = login(client, market.accounts[key], chain_id)
        full = client.get("/v1/clearances", headers=bearer(token)).json()["items"]
        assert full[0]["redacted"] == []
        assert full[0]["recipient"] == market.address("holder_hk").lower()
        assert full[0]["officer"] == market.address("customs").lower()
    requester = login(client, market.accounts["holder_cn"], chain_id)
    own = client.get("/v1/clearances/1", headers=bearer(requester)).json()
    assert own["redacted"] == [] and own["recipient"] == market.address("holder_hk").lower()
    assert client.get("/v1/clearances/1").json()["redacted"] == hidden
    assert client.get("/v1/clearances/5").status_code == 404
    assert client.get("/v1/clearances", params={"status": "approved"}).json()["total"] == 1


def test_statistics(client: Any) -> None:
    s = client.get("/v1/statistics").json()
    assert s["totals"]["assets"] == 3 and s["totals"]["vouchers"] == 4
    assert sum(r["assets"] for r in s["by_level"]) == 3
    assert {r["label"] for r in s["by_source_type"]} == {"public", "enterprise"}
    assert any(f["from"] == "CN" and f["to"] == "HK" for f in s["cross_border"])
    assert len(s["by_period"]) >= 1
    day = client.get("/v1/statistics", params={"period": "day"}).json()
    assert len(day["by_period"][0]["period"]) == 10
    assert client.get("/v1/statistics", params={"period": "week"}).status_code == 422


def test_tx_status(client: Any, market: Any) -> None:
    doc = client.get("/v1/vouchers/1/provenance").json()
    tx_hash = doc["events"][0]["tx_hash"]
    s = client.get(f"/v1/tx/{tx_hash}").json()
    assert s["state"] == "indexed" and s["block_number"] == doc["events"][0]["block_number"]
    assert client.get("/v1/tx/0x" + "ab" * 32).json()["state"] == "unknown"
    assert client.get("/v1/tx/0x1234").status_code == 422


def test_search(client: Any, market: Any) -> None:
    hk = market.address("holder_hk")
    assert client.get("/v1/search", params={"q": hk}).json()["results"][0]["kind"] == "participant"
    hits = client.get("/v1/search", params={"q": "2"}).json()["results"]
    assert {h["kind"] for h in hits} == {"asset", "voucher"}
    assert client.get("/v1/search", params={"q": "v3"}).json()["results"][0]["url"] == "/vouchers/3"
    tx_hash = client.get("/v1/vouchers/1/provenance").json()["events"][0]["tx_hash"]
    assert client.get("/v1/search", params={"q": tx_hash}).json()["results"][0]["kind"] == "tx"
    assert client.get("/v1/search", params={"q": "nothing"}).json()["results"] == []


def test_health_and_metrics(client: Any, market: Any) -> None:
    h = client.get("/health").json()
    assert h["status"] == "ok" and h["chain_id"] == market.w3.eth.chain_id
    assert h["indexed_block"] is not None and h["lag"] is not None and h["lag"] >= 0
    assert h["database_status"]["status"] == "ok" and h["ipfs_status"]["status"] == "ok"
    assert "DataVoucher" in h["contracts"]
    m = client.get("/metrics")
    assert m.status_code == 200
    assert "dataledger_index_last_block" in m.text
    assert 'dataledger_http_requests_total{method="GET",route="/health",status="200"}' in m.text
    assert "dataledger_http_request_duration_seconds_bucket" in m.text


def test_openapi_lists_every_route(client: Any) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for p in ("/v1/participants", "/v1/participants/{account}", "/v1/assets/{asset_id}",
              "/v1/assets/{asset_id}/provenance", "/v1/vouchers", "/v1/vouchers/{voucher_id}/provenance",
              "/v1/vouchers/{voucher_id}/users", "/v1/trades", "/v1/uses", "/v1/clearances", "/v1/statistics",
              "/v1/tx/{tx_hash}", "/v1/search", "/v1/auth/nonce", "/v1/auth/login", "/v1/manifests",
              "/v1/relay/forward", "/v1/relay/settlements", "/health", "/metrics"):
        assert p in paths, p
