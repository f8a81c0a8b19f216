"""Identity you can verify (issue 13): profile documents and manifests fetched from IPFS and checked
against their CIDs, names beside addresses, decoded amounts and times, search in Chinese and English
on SQLite and PostgreSQL, provenance as sentences, purpose texts behind the redaction policy."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from dataledger.dev import demo
from gateway.indexer.sync import IndexerConfig, run_indexer
from gateway.services.documents import DocumentFetcher
from ledger.deployment import Deployment
from ledger.ipfs import Cid, LocalStore
from tests.gateway.api_fixtures import Market, app, bearer, build_market, client, login
from tests.gateway.indexer_fixtures import new_postgres_database

FOSHAN = next(p for p in demo.PARTICIPANTS if p.key == "holder_cn")


@pytest.fixture(scope="module")
def market() -> Market:
    """A seeded market of this module's own: these tests count documents, uses and amounts exactly,
    and other modules write to the shared market (relayed transfers, uses, trades)."""
    return build_market()


def rows(url: str, sql: str, **params: Any) -> list[Any]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(sql), params))
    finally:
        engine.dispose()


def index_into(market: Market, url: str, ipfs: Path) -> None:
    run_indexer(market.rpc_url, url, Deployment.from_dict(market.record).entries(), IndexerConfig(ipfs=str(ipfs)))


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def db_client(request: pytest.FixtureRequest, market: Market, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[TestClient]:
    """The seeded market indexed (events and documents) into a fresh SQLite or PostgreSQL database."""
    from gateway.main import create_app

    if request.param == "postgres":
        url = new_postgres_database(request.getfixturevalue("postgres_url"))
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('identity') / 'g.db'}"
    index_into(market, url, market.state_dir / "ipfs")
    with TestClient(create_app(market.settings(DATABASE_URL=url))) as c:
        yield c


# ------------------------------------------------------------------ documents


def test_every_document_is_fetched_and_verified(market: Market) -> None:
    counts = {(str(k), str(s)): int(n) for k, s, n in rows(
        market.database_url, "SELECT kind, status, COUNT(*) FROM documents GROUP BY kind, status")}
    assert counts == {("profile", "verified"): 12, ("manifest", "verified"): 3, ("purpose", "verified"): 2,
                      ("conditions", "verified"): 1}
    (name_zh, name_en, code), = rows(market.database_url, "SELECT name_zh, name_en, credit_code FROM documents"
                                     " WHERE credit_code = :c", c=FOSHAN.credit_code)
    assert (name_zh, name_en) == ("佛山精密制造有限公司", "Foshan Precision Manufacturing Ltd.")


def test_a_document_whose_bytes_do_not_match_its_cid_is_recorded_and_never_used(market: Market, tmp_path: Path,
                                                                                 client: Any) -> None:
    ipfs = tmp_path / "ipfs"
    shutil.copytree(market.state_dir / "ipfs", ipfs)
    (cid,), = rows(market.database_url, "SELECT cid FROM documents WHERE credit_code = :c", c=FOSHAN.credit_code)
    block = LocalStore(ipfs).block_path(cid)
    forged = block.read_bytes().replace("佛山精密".encode(), "深圳精密".encode())
    block.write_bytes(forged)
    url = f"sqlite:///{tmp_path / 'g.db'}"
    index_into(market, url, ipfs)
    (status, error, name), = rows(url, "SELECT status, error, name_zh FROM documents WHERE cid = :c", c=cid)
    assert status == "mismatch" and "do not hash to the CID" in error and name is None
    assert rows(url, "SELECT COUNT(*) FROM documents WHERE status = 'verified' AND kind = 'profile'") == [(11,)]
    from gateway.main import create_app

    with TestClient(create_app(market.settings(DATABASE_URL=url))) as c:
        p = c.get(f"/v1/participants/{market.address('holder_cn')}").json()
        assert p["organisation"]["profile_status"] == "mismatch"
        assert p["organisation"]["name_zh"] is None and p["organisation"]["name_en"] is None
        trade = c.get("/v1/trades", params={"voucher_id": 3}).json()["items"][0]
        assert trade["seller_name"] is None and trade["buyer_name"] == "Kowloon Analytics Ltd."
        assert c.get("/v1/search", params={"q": "深圳"}).json()["results"] == []
        state = c.get(f"/v1/documents/{cid}").json()
        assert state["status"] == "mismatch" and state["error"]


def test_a_missing_document_does_not_hold_up_blocks_and_is_retried(market: Market, tmp_path: Path) -> None:
    empty = tmp_path / "empty-ipfs"
    empty.mkdir()
    url = f"sqlite:///{tmp_path / 'g.db'}"
    index_into(market, url, empty)  # returns: the missing documents do not keep it waiting
    head = market.w3.eth.block_number
    assert rows(url, "SELECT last_block FROM indexer_state") == [(head,)]  # every block indexed regardless
    missing = rows(url, "SELECT status, attempts, next_attempt_at, error FROM documents")
    assert len(missing) == 18 and {r[0] for r in missing} == {"missing"}
    assert all(r[1] == 1 and r[2] > time.time() and "not in the IPFS store" in r[3] for r in missing)
    # the documents arrive; a fetcher whose clock is past the retry time picks them up
    shutil.rmtree(empty)
    shutil.copytree(market.state_dir / "ipfs", empty)
    engine = create_engine(url)
    try:
        fetcher = DocumentFetcher(engine, str(empty), clock=lambda: time.time() + 3600)
        assert fetcher.drain() == 18
    finally:
        engine.dispose()
    assert rows(url, "SELECT DISTINCT status FROM documents") == [("verified",)]


# ------------------------------------------------------------------ names, amounts, times


def test_names_amounts_and_times_beside_the_raw_values(client: Any, market: Market) -> None:
    trade = client.get("/v1/trades", params={"voucher_id": 3}).json()["items"][0]
    assert trade["price"] == "15000000" and trade["price_decimal"] == "150000.00"
    assert trade["currency"] == "CNY" and trade["decimals"] == 2 and trade["fee_decimal"] == "1500.00"
    assert trade["seller"] == market.address("holder_cn").lower()
    assert trade["seller_name"] == "Foshan Precision Manufacturing Ltd." and trade["seller_name_zh"] == "佛山精密制造有限公司"
    assert trade["exchange_name"] == "Guangzhou Data Exchange" and trade["buyer_name_zh"] == "九龍數據分析有限公司"
    assert trade["settled_at_iso"].endswith("+08:00") and isinstance(trade["settled_at"], int)
    assert trade["asset_title"] == "Production-line sensor telemetry"
    v = client.get("/v1/vouchers/3").json()
    assert v["holder_name"] == "Kowloon Analytics Ltd." and v["issuer_name_zh"] == "佛山精密制造有限公司"
    assert v["right"] == 1 and v["right_key"] == "use" and v["valid_until_iso"].endswith("+08:00")
    assert v["trades"][0]["price_decimal"] == "150000.00"
    a = client.get("/v1/assets/2").json()
    assert a["title"] == "Production-line sensor telemetry" and a["title_zh"] == "生产线传感器遥测数据"
    assert a["home_jurisdiction"] == "CN" and a["home_jurisdiction_name"] == "Mainland China"
    assert "物联网" in a["keywords"] and a["themes"] == ["manufacturing"] and a["manifest_status"] == "verified"
    assert a["valuations"][0]["amount_decimal"] == "1200000.00" and a["valuations"][0]["currency"] == "CNY"
    p = client.get(f"/v1/participants/{market.address('holder_hk')}").json()
    assert p["organisation"]["name_zh"] == "九龍數據分析有限公司" and p["jurisdiction_name"] == "Hong Kong SAR"
    assert p["organisation_names"]["credit_code"] == "HK-CR-3001234"
    org = client.get(f"/v1/organisations/{p['org_id']}").json()
    assert org["name_en"] == "Kowloon Analytics Ltd." and org["profile"]["jurisdiction"] == "HK"
    assert [x["account"] for x in org["accounts"]] == [market.address("holder_hk").lower()]
    assert client.get("/v1/organisations/0x" + "11" * 32).status_code == 404
    assert client.get("/v1/organisations/nothex").status_code == 422


# ------------------------------------------------------------------ search


def _hits(c: TestClient, q: str) -> set[tuple[str, str]]:
    r = c.get("/v1/search", params={"q": q})
    assert r.status_code == 200, r.text
    return {(h["kind"], h["label"]) for h in r.json()["results"]}


def test_search_in_chinese_and_english(db_client: TestClient, market: Market) -> None:
    foshan_org = ("organisation", "Foshan Precision Manufacturing Ltd.")
    bank = ("organisation", "Foshan Rural Commercial Bank")
    assert {foshan_org, bank, ("asset", "Foshan enterprise tax and power-use records 2025")} <= _hits(db_client, "佛山")
    assert {foshan_org, bank} <= _hits(db_client, "Foshan")
    assert {foshan_org, bank} <= _hits(db_client, "foshan")  # case-insensitive
    assert _hits(db_client, "sensor") == {("asset", "Production-line sensor telemetry")}
    assert ("asset", "Production-line sensor telemetry") in _hits(db_client, "传感器")
    # a credit code finds its organisation first (sha-256 = org id), then the datasets it publishes
    assert _hits(db_client, FOSHAN.credit_code) == {foshan_org, ("asset", "Production-line sensor telemetry"),
                                                    ("asset", "Precision part design library")}
    first = db_client.get("/v1/search", params={"q": FOSHAN.credit_code}).json()["results"][0]
    assert (first["kind"], first["match"], first["label_zh"]) == ("organisation", "credit_code", "佛山精密制造有限公司")
    assert ("asset", "Production-line sensor telemetry") in _hits(db_client, "物联网")  # a Chinese keyword
    assert _hits(db_client, "佛") >= {foshan_org, bank}  # one character
    manifest = db_client.get("/v1/assets/2").json()["manifest_cid_text"]
    assert _hits(db_client, manifest) == {("asset", "Production-line sensor telemetry")}
    profile = db_client.get(f"/v1/participants/{market.address('holder_cn')}").json()["organisation"]
    assert _hits(db_client, profile["profile_cid_text"]) == {foshan_org}
    assert _hits(db_client, "no such thing anywhere") == set()
    assert _hits(db_client, "100%_\\") == set()  # LIKE wildcards are literal
    # purpose texts are never searchable, whoever asks
    assert _hits(db_client, "SME loan") == set()
    # either Chinese script finds the other: 廣州 (繁體) the 简体 profiles of Guangzhou, 九龙 (简体) the 繁體
    # profile of Kowloon Analytics, 數據 the 简体 数据 in names and titles
    guangzhou = {("organisation", "Guangzhou Data Exchange"), ("organisation", "Guangdong Public Data Operations Co.")}
    assert _hits(db_client, "广州") >= {("organisation", "Guangzhou Data Exchange")}
    assert _hits(db_client, "廣州數據") == _hits(db_client, "广州数据") >= {("organisation", "Guangzhou Data Exchange")}
    assert _hits(db_client, "廣東公共數據") >= guangzhou - {("organisation", "Guangzhou Data Exchange")}
    assert ("organisation", "Kowloon Analytics Ltd.") in _hits(db_client, "九龙数据")
    assert ("asset", "Production-line sensor telemetry") in _hits(db_client, "傳感器")


# ------------------------------------------------------------------ provenance as a story


def test_provenance_tells_each_event_as_a_sentence(client: Any) -> None:
    events = client.get("/v1/vouchers/3/provenance").json()["events"]
    sale = next(e for e in events if e["event"] == "TradeSettled")
    assert sale["story"]["text"] == ("Foshan Precision Manufacturing Ltd. sold its use right on voucher 3 through "
                                     "Guangzhou Data Exchange to Kowloon Analytics Ltd. for ¥150,000.00, under "
                                     "clearance 1")
    assert sale["story"]["template"].startswith("{seller} sold its {right} on voucher {voucher}")
    assert sale["story"]["clearance"] == {"clearance_id": 1, "url": "/v1/clearances/1"}
    assert sale["args"]["price"] == "15000000" and sale["time"].endswith("+08:00")
    assert sale["block_number"] > 0 and sale["tx_hash"].startswith("0x") and isinstance(sale["log_index"], int)
    assert all(e["story"]["text"] and "0x434e" not in e["story"]["text"] for e in events)
    # a domestic sale links no clearance
    domestic = client.get("/v1/vouchers/4/provenance").json()["events"]
    sale4 = next(e for e in domestic if e["event"] == "TradeSettled")
    assert sale4["story"]["clearance"] is None and "¥80,000.00" in sale4["story"]["text"]
    assets = client.get("/v1/assets/2/provenance").json()["events"]
    registered = next(e for e in assets if e["event"] == "AssetRegistered")
    assert "Mainland China" in registered["story"]["text"] and "Production-line sensor telemetry" in \
        registered["story"]["text"]


def test_a_story_never_tells_what_the_caller_may_not_see(client: Any, market: Market) -> None:
    anonymous = client.get("/v1/assets/2/provenance").json()["events"]
    requested = next(e for e in anonymous if e["event"] == "ClearanceRequested")
    assert requested["args"]["requester"] is None
    assert "Foshan" not in requested["story"]["text"] and "an undisclosed party" in requested["story"]["text"]
    customs = bearer(login(client, market.accounts["customs"], market.w3.eth.chain_id))
    full = client.get("/v1/assets/2/provenance", headers=customs).json()["events"]
    requested = next(e for e in full if e["event"] == "ClearanceRequested")
    assert requested["story"]["text"].startswith("Foshan Precision Manufacturing Ltd. asked data customs")


def _sentences(html: str) -> list[str]:
    return [m for m in re.findall(r'<p class="ev-story">(.*?)</p>', html, re.S)]


def test_the_voucher_page_tells_the_story_in_the_viewers_language(client: Any) -> None:
    client.cookies.clear()
    link = '<a href="/clearances/1" class="story-clearance">1</a>'
    hans = _sentences(client.get("/vouchers/3?lang=zh-Hans").text)
    assert ("佛山精密制造有限公司 通过 广州数据交易所 将数据凭证 3 的数据加工使用权以 ¥150,000.00 出售给 "
            f"九龍數據分析有限公司，依据通关申请 {link}") in hans
    hant = _sentences(client.get("/vouchers/3?lang=zh-Hant").text)
    # 繁體: the profiles' 简体 names in Traditional characters (廣州數據, 製造), a 繁體 name unchanged
    assert ("佛山精密製造有限公司 透過 廣州數據交易所 將數據憑證 3 的數據加工使用權以 ¥150,000.00 出售給 "
            f"九龍數據分析有限公司，依據通關申請 {link}") in hant
    en = _sentences(client.get("/vouchers/3?lang=en").text)
    assert ("Foshan Precision Manufacturing Ltd. sold its use right on voucher 3 through Guangzhou Data Exchange to "
            f"Kowloon Analytics Ltd. for ¥150,000.00, under clearance {link}") in en
    # one sentence per event, beside the evidence and the raw arguments
    page = client.get("/vouchers/3?lang=zh-Hans").text
    assert len(hans) == page.count('<li class="ev ') and page.count("ev-raw") == len(hans) and hans
    assert all("{" not in s and "0x434e" not in s for s in hans + hant + en)
    # the issue sentence: the right, validity and uses translated, the asset by its Chinese title
    issued = next(s for s in hans if "签发数据凭证 3：" in s)
    assert issued.startswith("佛山精密制造有限公司 向 佛山精密制造有限公司 签发数据凭证 3：“生产线传感器遥测数据”（数据资产 2） 的"
                             "数据加工使用权，有效期 "), issued
    assert issued.endswith("，可使用 100 次") and issued.count("+08:00") == 2, issued
    # times in the viewer's zone
    utc = _sentences(client.get("/vouchers/3?lang=en&tz=UTC").text)
    assert any("valid " in s and "+00:00 to " in s for s in utc), utc
    # a domestic sale links no clearance
    four = _sentences(client.get("/vouchers/4?lang=zh-Hans").text)
    assert any("¥80,000.00" in s and "story-clearance" not in s for s in four)
    # the asset page: its registration with the level and the jurisdiction in words, the Chinese title
    asset = _sentences(client.get("/assets/2?lang=zh-Hans").text)
    assert any("登记了 “生产线传感器遥测数据”（数据资产 2）" in s and "数据，来自中国内地" in s for s in asset), asset
    asset_en = _sentences(client.get("/assets/2?lang=en").text)
    assert any("registered “Production-line sensor telemetry” (asset 2)" in s and "from Mainland China" in s
               for s in asset_en), asset_en
    # what the viewer may not see is not told in any language (an anonymous viewer of asset 2)
    requested = [s for s in asset if "向数据海关提交通关申请" in s]
    assert requested and all(s.startswith("未披露的一方") and "佛山" not in s for s in requested), requested
    # the API keeps English unless asked (?lang=zh-Hans|zh-Hant); the template stays the English msgid
    events = client.get("/v1/vouchers/3/provenance").json()["events"]
    assert next(e for e in events if e["event"] == "TradeSettled")["story"]["text"].startswith("Foshan Precision")
    zh = client.get("/v1/vouchers/3/provenance?lang=zh-Hans").json()["events"]
    sale = next(e for e in zh if e["event"] == "TradeSettled")["story"]
    assert sale["text"] == ("佛山精密制造有限公司 通过 广州数据交易所 将数据凭证 3 的数据加工使用权以 ¥150,000.00 出售给 "
                            "九龍數據分析有限公司，依据通关申请 1")
    assert sale["template"].startswith("{seller} sold its {right}") and sale["params"]["right"] == "数据加工使用权"
    assert sale["clearance"] == {"clearance_id": 1, "url": "/v1/clearances/1"}
    hant = client.get("/v1/assets/2/provenance?lang=zh-Hant").json()["events"]
    registered = next(e for e in hant if e["event"] == "AssetRegistered")["story"]["text"]
    assert "來自中國內地" in registered and "「生產線傳感器遙測數據」" in registered, registered
    bad = client.get("/v1/vouchers/3/provenance?lang=fr")
    assert bad.status_code == 422 and "lang" in bad.text
    client.cookies.clear()


def test_the_clearance_and_tx_pages_tell_the_story(client: Any) -> None:
    client.cookies.clear()
    clearance = _sentences(client.get("/clearances/1?lang=zh-Hans").text)
    link = '<a href="/clearances/1" class="story-clearance">1</a>'
    # an anonymous viewer: the officer and the recipient are not told
    assert any(s.startswith(f"未披露的一方 批准了通关申请 {link}：“生产线传感器遥测数据”（数据资产 2） 可提供给香港特别行政区的 "
                            "未披露的一方，有效期至 ") for s in clearance), clearance
    events = client.get("/v1/vouchers/3/provenance").json()["events"]
    sale = next(e for e in events if e["event"] == "TradeSettled")
    tx = _sentences(client.get(f"/tx/{sale['tx_hash']}?lang=en").text)
    assert any(s.startswith("Foshan Precision Manufacturing Ltd. sold its use right on voucher 3") for s in tx), tx
    client.cookies.clear()


def test_a_translation_that_breaks_its_placeholders_falls_back_to_english() -> None:
    from gateway.web.pages import story_html

    s = {"template": "no such msgid {a} {b}", "text": "English <b>text</b>", "params": {"a": "<x>"}}
    assert str(story_html(s)) == "English &lt;b&gt;text&lt;/b&gt;"
    ok = {"template": "{a} and {b}", "text": "", "params": {"a": "<x>", "b": "y"}}
    assert str(story_html(ok)) == "&lt;x&gt; and y"


# ------------------------------------------------------------------ purpose and conditions texts


def test_purpose_texts_only_for_callers_the_policy_allows(client: Any, market: Market) -> None:
    chain_id = market.w3.eth.chain_id
    bank = bearer(login(client, market.accounts["bank_cn"], chain_id))  # the use's user
    uses = client.get("/v1/uses", headers=bank).json()["items"]
    assert len(uses) == 1 and uses[0]["purpose_text"] == "SME loan decision #2026-118"
    assert Cid.decode(uses[0]["purpose_cid"]).digest.hex() == uses[0]["purpose_hash"][2:]
    assert uses[0]["user_name"] == "Foshan Rural Commercial Bank" and uses[0]["used_at_iso"].endswith("+08:00")
    stranger = bearer(login(client, market.accounts["holder_mo"], chain_id))  # no party to the use
    assert client.get("/v1/uses", headers=stranger).json()["items"] == []
    assert client.get("/v1/uses").status_code == 401
    # clearance purpose and conditions: customs reads them, an anonymous caller gets neither CID nor text
    customs = bearer(login(client, market.accounts["customs"], chain_id))
    case = client.get("/v1/clearances/1", headers=customs).json()
    assert case["purpose_text"].startswith("Cross-border purpose") and case["purpose_status"] == "verified"
    assert case["conditions_text"].startswith("Conditions: no onward transfer")
    assert case["requester_name"] == "Foshan Precision Manufacturing Ltd." and case["destination_name"] == "Hong Kong SAR"
    anon = client.get("/v1/clearances/1").json()
    assert anon["purpose_cid"] is None and anon["purpose_text"] is None and anon["conditions_text"] is None
    assert "purpose_cid" in anon["redacted"] and anon["requester_name"] is None
    other = client.get("/v1/clearances/1", headers=stranger).json()
    assert other["purpose_text"] is None and other["conditions_text"] is None


def test_statistics_carry_currency_and_decimal_amounts(client: Any) -> None:
    stats = client.get("/v1/statistics").json()
    assert stats["currency"] == "CNY" and stats["decimals"] == 2
    assert stats["totals"]["value"] == "23000000" and stats["totals"]["value_decimal"] == "230000.00"


# ------------------------------------------------------------------ 繁體: names in Traditional characters


def test_traditional_pages_show_names_and_titles_in_traditional_characters(client: Any, market: Market) -> None:
    """The profiles and manifests hold 简体; a 繁體 page converts them (广州 -> 廣州, 数据 -> 數據, 佛山 stays),
    keeps the original on hover, and a 简体 or English page is unchanged."""
    client.cookies.clear()
    hant = client.get("/participants?lang=zh-Hant").text
    assert ">廣州數據交易所</a>" in hant and ">佛山精密製造有限公司</a>" in hant and ">九龍數據分析有限公司</a>" in hant
    assert "广州数据交易所" not in re.sub(r'title="[^"]*"', "", hant)  # only on hover
    assert re.search(r'title="广州数据交易所 · 0x[0-9a-f]{64}">廣州數據交易所</a>', hant)
    hans = client.get("/participants?lang=zh-Hans").text
    assert ">广州数据交易所</a>" in hans and "廣州數據交易所" not in hans
    assert ">Guangzhou Data Exchange</a>" in client.get("/participants?lang=en").text
    asset = client.get("/assets/2?lang=zh-Hant").text
    assert '<h1 id="asset-title">生產線傳感器遙測數據 ' in asset
    assert "生产线传感器遥测数据" not in re.sub(r'title="[^"]*"', "", asset)
    assert '<h1 id="asset-title">生产线传感器遥测数据 ' in client.get("/assets/2?lang=zh-Hans").text
    # the CSV of a 繁體 page is what the page shows
    csv = client.get("/participants.csv?lang=zh-Hant")
    assert csv.status_code == 200 and "廣州數據交易所" in csv.content.decode("utf-8-sig")
    # search typed in 繁體 finds the 简体 organisations, on the page too
    found = client.get("/search", params={"q": "廣州數據", "lang": "zh-Hant"})
    assert found.status_code == 200 and ">廣州數據交易所</a>" in found.text, found.text[:2000]
    client.cookies.clear()


def test_a_document_with_its_own_traditional_name_is_preferred_to_the_conversion() -> None:
    from gateway.services.legible import OrganisationName, hant_title, org_name_in
    from gateway.services.script import to_hans, to_hant
    from ledger.profile import Names, OrganisationProfile, parse_profile, profile_bytes

    org = OrganisationName(id="0x1", name_zh="广州数据交易所", name_en="Guangzhou Data Exchange")
    assert org_name_in(org, "zh-Hant") == "廣州數據交易所" and org_name_in(org, "zh") == "广州数据交易所"
    own = OrganisationName(id="0x1", name_zh="广州数据交易所", name_en="Guangzhou Data Exchange",
                           name_zh_hant="廣州數據交易所（香港）")
    assert org_name_in(own, "zh-Hant") == "廣州數據交易所（香港）" and org_name_in(own, "en") == "Guangzhou Data Exchange"
    assert "name_zh_hant" not in own.model_dump()  # the API's organisation_names keep their fields
    assert org_name_in(OrganisationName(id="0x1", name_en="Straits"), "zh-Hant") == "Straits"
    # a profile may carry it (legal_name.zh_hant); profiles without it keep their bytes
    plain = OrganisationProfile(legal_name=Names(zh="佛山", en="Foshan"), credit_code="X1", jurisdiction="CN")
    assert b"zh_hant" not in profile_bytes(plain)
    with_hant = OrganisationProfile(legal_name=Names(zh="广州", en="Guangzhou", zh_hant="廣州"), credit_code="X2",
                                    jurisdiction="CN")
    assert parse_profile(profile_bytes(with_hant)).legal_name.zh_hant == "廣州"
    # a manifest's own zh-HK / zh-Hant translation is its Traditional title
    assert hant_title('{"translations": {"zh-CN": {"title": "数据"}, "zh-HK": {"title": "數據（港）"}}}') == "數據（港）"
    assert hant_title('{"translations": {"zh-CN": {"title": "数据"}}}') is None and hant_title("not json") is None
    # the converter: 佛山 stays, 广州 -> 廣州, 数据 -> 數據; Latin text and digits unchanged; and back
    assert (to_hant("佛山"), to_hant("广州"), to_hant("数据"), to_hant("Ltd. 2025")) == ("佛山", "廣州", "數據", "Ltd. 2025")
    assert to_hans("廣州數據") == "广州数据"
