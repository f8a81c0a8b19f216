"""The web pages over the seeded market (real anvil, real indexer, SQLite), through the ASGI app:
languages (every msgid translated; no English left on a Chinese page; the choice by ?lang=,
cookie and Accept-Language), decoded values (¥, +08:00, names by code), list pages (filters,
pagination, CSV of exactly the rows shown), HTML error pages for pages and JSON for /v1, the
regulator's date range and accounting tables, the uses page's restriction."""

from __future__ import annotations

import csv
import io
import re
from html.parser import HTMLParser
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.core import units
from gateway.core.security import make_token
from gateway.web import i18n
from tests.gateway.api_fixtures import Market, app, client, market

LANGS = ("zh-Hans", "zh-Hant", "en")
#: words that are the same in every language (names of things, formats)
NEUTRAL = {"API", "CSV", "JSON", "CID", "dataledger", "#", "UTC"}


def page_paths(market: Market, client: Any) -> list[str]:
    org_id = client.get("/v1/participants").json()["items"][0]["org_id"]
    return ["/", "/participants", "/assets", "/vouchers", "/trades", "/uses", "/clearances", "/assets/1",
            "/assets/2", "/vouchers/1", "/vouchers/3", "/clearances/1", "/regulator", "/regulator?period=day",
            "/customs", "/search", "/search?q=zzzz", "/search?q=2", "/search?q=c1", f"/address/{market.address('holder_hk')}",
            f"/organisations/{org_id}", "/assets/abc", "/nope", "/assets?level=9", "/assets/999", "/me"]


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self.attrs: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "code", "title"):
            self._skip += 1
        for name, value in attrs:
            if name in ("placeholder", "aria-label") and value:
                self.attrs.append(value)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "code", "title"):
            self._skip = max(0, self._skip - 1)

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.texts.append(" ".join(data.split()))


def _msgids() -> list[str]:
    return [str(m.id) for m in i18n.extract() if m.id]


def test_catalogues_translate_every_msgid_with_the_same_placeholders() -> None:
    msgids = _msgids()
    assert len(msgids) > 200  # the extraction found the templates and the Python strings
    assert "Data vouchers" in msgids and "Trade value %(per)s (¥)" in msgids and "no data" in msgids
    for locale in ("zh_Hans", "zh_Hant"):
        assert i18n.untranslated(locale, msgids) == [], locale
        t = i18n.translations(locale)
        for msgid in msgids:
            assert sorted(re.findall(r"%\((\w+)\)s", t.gettext(msgid))) == sorted(re.findall(r"%\((\w+)\)s", msgid)), \
                (locale, msgid)
            # the provenance sentences (gateway.services.story) are str.format templates: {name} placeholders
            assert sorted(re.findall(r"\{(\w+)\}", t.gettext(msgid))) == sorted(re.findall(r"\{(\w+)\}", msgid)), \
                (locale, msgid)
    # the two scripts differ where they should, and the terms are the agreed ones
    hans, hant = i18n.translations("zh_Hans"), i18n.translations("zh_Hant")
    assert hans.gettext("Data assets") == "数据资产" and hant.gettext("Data assets") == "數據資產"
    assert hans.gettext("Data vouchers") == "数据凭证" and hant.gettext("Data vouchers") == "數據憑證"
    assert "通关" in hans.gettext("Clearances") and "通關" in hant.gettext("Clearances")
    # the committed .pot is current (python -m gateway.web.i18n extract regenerates it)
    from babel.messages.pofile import read_po

    with i18n.POT.open("rb") as fh:
        pot = {str(m.id) for m in read_po(fh) if m.id}
    assert pot == set(msgids), "run python -m gateway.web.i18n extract"


def test_every_page_in_each_language_has_no_english_msgid_left(market: Market, client: Any) -> None:
    english = {m for m in _msgids() if re.search(r"[A-Za-z]{2}", m) and m not in NEUTRAL}
    # strings shown with their values filled in: match their fixed parts
    patterns = [re.compile("^" + re.sub(r"%\\\(\w+\\\)s", ".*", re.escape(m)) + "$") for m in english if "%(" in m]
    for path in page_paths(market, client):
        for lang in LANGS:
            r = client.get(path + ("&" if "?" in path else "?") + f"lang={lang}")
            assert r.status_code < 500, (path, lang)
            assert r.headers["content-type"].startswith("text/html"), (path, lang)
            assert f'<html lang="{lang}">' in r.text, (path, lang)
            if lang == "en":
                continue
            parser = _Text()
            parser.feed(r.text)
            for text in parser.texts + parser.attrs:
                assert text not in english, (path, lang, text)
                assert not any(p.match(text) for p in patterns), (path, lang, text)
            assert "数" in r.text or "數" in r.text, (path, lang)
        hans = client.get(path + ("&" if "?" in path else "?") + "lang=zh-Hans").text
        hant = client.get(path + ("&" if "?" in path else "?") + "lang=zh-Hant").text
        assert hans != hant, path


def _wallet_strings(html: str) -> dict[str, dict[str, str]]:
    import json

    m = re.search(r'<script type="application/json" id="wallet-strings">(.*?)</script>', html, re.S)
    assert m, "the wallet dictionary is on every page"
    return dict(json.loads(m.group(1)))


def test_me_signed_in_and_the_wallet_dictionary_are_in_the_viewers_language(market: Market, app: Any,
                                                                             client: Any) -> None:
    """/me signed in as each role (holder and data officer, customs, regulator, exchange) has no
    English msgid left on a Chinese page, and the JSON dictionary wallet.js builds its texts from
    is rendered in the request's language (every entry translated, placeholders kept)."""
    from gateway.web.act_strings import ERRORS, UI

    english = {m for m in _msgids() if re.search(r"[A-Za-z]{2}", m) and m not in NEUTRAL}
    patterns = [re.compile("^" + re.sub(r"%\\\(\w+\\\)s", ".*", re.escape(m)) + "$") for m in english if "%(" in m]
    for who, section in (("holder_cn", "h-org"), ("customs", "h-customs"), ("regulator", "h-regulator"),
                         ("exchange", "h-exchange")):
        token, _ = make_token(app.state.session_secret, market.address(who), 600)
        client.cookies.set("dl_session", token)
        for lang in ("zh-Hans", "zh-Hant"):
            html = client.get(f"/me?lang={lang}").text
            assert 'id="me-session"' in html and f'id="{section}"' in html, (who, lang)
            parser = _Text()
            parser.feed(html)
            for text in parser.texts + parser.attrs:
                assert text not in english, (who, lang, text)
                assert not any(p.match(text) for p in patterns), (who, lang, text)
        client.cookies.clear()
    hans = _wallet_strings(client.get("/me?lang=zh-Hans").text)
    hant = _wallet_strings(client.get("/me?lang=zh-Hant").text)
    en = _wallet_strings(client.get("/me?lang=en").text)
    client.cookies.clear()
    assert set(hans["errors"]) == set(ERRORS) and set(hans["ui"]) == set(UI)
    assert en["ui"]["connect"] == "Connect wallet" and hans["ui"]["connect"] == "连接钱包" \
        and hant["ui"]["connect"] == "連接錢包"
    assert "凭证" in hans["errors"]["VoucherExpired"] and "憑證" in hant["errors"]["VoucherExpired"]
    assert "通关" in hans["advice"]["11"] and "通關" in hant["advice"]["11"]
    assert "监管" in hans["restrictions"]["5"] and "監管" in hant["restrictions"]["5"]
    assert hans["roles"]["customs"] == "数据海关" and hant["statuses"]["frozen"] == "已凍結"
    assert hans["checks"]["sell: signature"] == "卖出订单：签名" and hant["checks"]["buy: nonce"] == "買入訂單：序號" \
        and en["checks"]["sell: signature"] == "sell: signature"
    for group in ("errors", "ui", "advice", "restrictions", "roles", "statuses", "checks"):
        assert set(hans[group]) == set(en[group]) == set(hant[group]), group
        for key, english_text in en[group].items():
            for zh in (hans, hant):
                assert zh[group][key] != english_text, (group, key)
                assert sorted(re.findall(r"\{(\w+)\}", zh[group][key])) == \
                    sorted(re.findall(r"\{(\w+)\}", english_text)), (group, key)


def _pair(market: Market, voucher_id: int, seller: str, buyer: str, price: int, nonce: int) -> dict[str, Any]:
    """Two signed orders (nothing sent to the chain)."""
    from ledger.chain import Ledger

    out = []
    for key, side in ((seller, 0), (buyer, 1)):
        led = Ledger.connect(market.rpc_url, account=market.accounts[key], state_dir=market.state_dir)
        order = led.settlement.make_order(side, voucher_id, price, market.address("exchange"), led.now() + 3600,
                                          nonce=nonce + side)
        out.append(led.settlement.sign(order).to_dict())
    return {"sell": out[0], "buy": out[1]}


def test_the_settlement_console_details_have_no_english_msgid_left(market: Market, client: Any, app: Any) -> None:
    """The exchange's settlement check (/v1/actions/settlement/check, shown by the console on /me):
    with ?lang=zh-Hans|zh-Hant (what the page asks) every check's detail is translated, organisations
    by name in the page's script, amounts in ¥, times +08:00; the English template and the raw values
    stay for machines; without ?lang the API answers in English."""
    from gateway.api.routes.actions import CHECK_DETAILS

    english = {m for m in _msgids() if re.search(r"[A-Za-z]{2}", m) and m not in NEUTRAL}
    patterns = [re.compile("^" + re.sub(r"\\\{\w+\\\}", ".*", re.escape(m)) + "$") for m in english if "{" in m]
    token, _ = make_token(app.state.session_secret, market.address("exchange"), 600)
    client.cookies.clear()
    headers = {"Authorization": f"Bearer {token}"}
    # Kowloon Analytics sells voucher 3 back to the Foshan bank (a cross-border move the checks refuse),
    # and a tampered pair (price changed after signing)
    pair = _pair(market, 3, "holder_hk", "bank_cn", 12_345_67, 7_000)
    tampered = _pair(market, 3, "holder_hk", "bank_cn", 12_345_67, 7_100)
    tampered["sell"]["order"]["price"] = 1
    kowloon = {"en": "Kowloon Analytics Ltd.", "zh-Hans": "九龍數據分析有限公司", "zh-Hant": "九龍數據分析有限公司"}
    bank = {"en": "Foshan Rural Commercial Bank", "zh-Hans": "佛山农村商业银行", "zh-Hant": "佛山農村商業銀行"}
    for body in (pair, tampered):
        for lang in ("en", "zh-Hans", "zh-Hant"):
            url = "/v1/actions/settlement/check" + ("" if lang == "en" else f"?lang={lang}")
            r = client.post(url, json=body, headers=headers)
            assert r.status_code == 200, r.text
            checks = {c["name"]: c for c in r.json()["checks"]}
            assert not r.json()["ok"] and len(checks) >= 20
            for c in checks.values():
                assert c["template"] in CHECK_DETAILS.values(), c
                if lang == "en":
                    continue
                text = re.sub(r"0x[0-9a-fA-F]+|settle\(sell, buy\)|setApprovalForAll|approve|Gas", "", c["detail"])
                assert c["detail"] not in english and not any(p.match(c["detail"]) for p in patterns), (lang, c)
                assert not re.search(r"[A-Za-z]{3,}", text), (lang, c)  # no English word left
            sig = checks["sell: signature"]
            assert kowloon[lang] in checks["terms: not a self-trade"]["detail"]
            assert bank[lang] in checks["terms: not a self-trade"]["detail"]
            assert checks["terms: not a self-trade"]["values"] == {"seller": market.address("holder_hk"),
                                                                   "buyer": market.address("bank_cn")}
            assert re.search(r"\+08:00", checks["sell: deadline"]["detail"])
            assert checks["sell: deadline"]["values"]["deadline"].isdigit()
            if body is pair:
                assert sig["ok"] and kowloon[lang] in sig["detail"], sig
                assert "¥12,345.67" in checks["terms: price"]["detail"]
                assert checks["terms: price"]["values"] == {"sell": "1234567", "buy": "1234567"}
            else:
                assert not sig["ok"] and "¥0.01" in checks["terms: price"]["detail"]
            verdict = checks["restriction verdict seller -> buyer"]
            assert verdict["values"]["code"].isdigit() and verdict["values"]["name"]
            if lang == "zh-Hans" and not verdict["ok"]:
                assert "处理办法" in verdict["detail"], verdict
            if lang == "zh-Hant":
                assert "數據憑證 3" in checks["terms: voucher"]["detail"]
    client.cookies.clear()


def test_every_refusal_the_api_can_give_has_a_translated_message() -> None:
    """Every error code an action or relay route raises (ApiError(status, "Code", ...)) and every
    contract custom error has a message in the wallet dictionary (act_strings.ERRORS), so the pages
    never show an English API reason; and a decoded custom error in a settlement check is told in
    the page's language."""
    from pathlib import Path

    from gateway.api.routes.actions import _Checks
    from gateway.web.act_strings import ERRORS
    from ledger.errors import ContractRevert

    root = Path(__file__).resolve().parents[2] / "gateway" / "api"
    codes: set[str] = set()
    for f in [root / "deps.py", *(root / "routes").glob("*.py")]:
        if f.name in ("actions.py", "relay.py", "auth.py", "documents.py") or f.name == "deps.py":
            codes |= set(re.findall(r'ApiError\(\s*\d+,\s*"(\w+)"', f.read_text()))
    assert {"InvalidOrder", "WouldRevert", "NotAnExchange"} <= codes
    assert codes - set(ERRORS) == set(), "add a message to gateway/web/act_strings.py ERRORS"
    for locale in ("zh_Hans", "zh_Hant"):
        assert i18n.untranslated(locale, ERRORS.values()) == [], locale

    class _NoDb:
        def connection(self) -> Any:
            return None

    c = _Checks(_NoDb(), "zh-Hans")  # type: ignore[arg-type]
    assert c.error(ContractRevert("VoucherExpired", {"voucherId": 3})) == "凭证 3 已过期。"
    assert _Checks(_NoDb(), None).error(ContractRevert("VoucherExpired", {"voucherId": 3})) == "Voucher 3 has expired."


def test_language_choice_query_cookie_accept_language(client: Any) -> None:
    client.cookies.clear()
    assert '<html lang="zh-Hans">' in client.get("/").text  # the default
    assert '<html lang="zh-Hant">' in client.get("/", headers={"Accept-Language": "zh-HK,en;q=0.5"}).text
    assert '<html lang="en">' in client.get("/", headers={"Accept-Language": "fr-FR, en-GB;q=0.8"}).text
    assert '<html lang="zh-Hans">' in client.get("/", headers={"Accept-Language": "fr-FR"}).text
    r = client.get("/assets?lang=zh-Hant")
    assert "dl_lang=zh-Hant" in r.headers["set-cookie"]
    assert r.headers["content-language"] == "zh-Hant" and "Accept-Language" in r.headers["vary"]
    # remembered: the next page without ?lang= is Traditional, whatever the browser asks for
    assert '<html lang="zh-Hant">' in client.get("/vouchers", headers={"Accept-Language": "en"}).text
    assert '<html lang="en">' in client.get("/trades?lang=en").text
    assert '<html lang="en">' in client.get("/trades").text
    # an unknown value is ignored (no cookie set), never an error
    r = client.get("/?lang=xx")
    assert r.status_code == 200 and "set-cookie" not in r.headers
    # every page has the switch with the current query kept
    html = client.get("/trades?right=use&lang=zh-Hans").text
    assert re.search(r'href="/trades\?right=use&amp;lang=zh-Hant"', html)
    client.cookies.clear()


def test_decoded_values_yuan_local_time_utc_on_hover_names_by_code(client: Any) -> None:
    client.cookies.clear()
    html = client.get("/vouchers/3?lang=en").text
    assert "¥150,000.00" in html  # 15000000 fen
    assert "15000000" not in html.replace("15000000", "", 0) or "¥" in html
    times = re.findall(r'<time datetime="([0-9T:\-]+Z)" title="UTC \1">([^<]+)</time>', html)
    assert times and all(t[1].endswith("+08:00") for t in times)
    assert "use right" in html or "operating right" in html or "holding right" in html
    # the provenance timeline: raw bytes decoded (no homeJurisdiction 0x434e, currency 0x434e59)
    asset = client.get("/assets/1?lang=zh-Hans").text
    assert "0x434e<" not in asset and ">0x434e59<" not in asset
    assert "中国内地" in asset
    # CIDs are links to the checked document
    assert re.search(r'<a class="cid" href="/v1/manifests/b[a-z2-7]+"', asset)
    # another zone on request, remembered
    utc = client.get("/trades?lang=en&tz=UTC").text
    assert "+00:00" in utc and "+08:00" not in utc
    assert "+00:00" in client.get("/trades").text
    assert client.get("/trades?tz=Not/AZone").status_code == 200
    client.cookies.clear()


def test_money_helper_is_exact() -> None:
    assert units.money(15000000) == "¥150,000.00"
    assert units.money("23000000") == "¥230,000.00"
    assert units.money(5) == "¥0.05" and units.money(-101) == "-¥1.01"
    assert units.yuan("1500000") == "15000.00" and units.yuan(10**30 + 1) == "10000000000000000000000000000.01"
    assert units.money(None) == "" and units.money("abc") == "abc"


def test_names_fall_back_to_short_addresses_and_prefer_the_viewers_language() -> None:
    from gateway.web.names import asset_title, org_name

    org = SimpleNamespace(name_zh="佛山精密制造有限公司", name_en="Foshan Precision Manufacturing Ltd.")
    i18n.set_locale("en")
    assert org_name(org) == "Foshan Precision Manufacturing Ltd."
    i18n.set_locale("zh_Hant")  # 繁體: the 简体 name converted (制 -> 製), or the profile's own Traditional name
    assert org_name(org) == "佛山精密製造有限公司"
    assert org_name(SimpleNamespace(name_zh="广州数据交易所", name_zh_hant="廣州數據交易所（自有）")) == "廣州數據交易所（自有）"
    assert asset_title(SimpleNamespace(title_zh="生产线传感器遥测数据", title="x")) == "生產線傳感器遙測數據"
    assert org_name(SimpleNamespace(name_en="Only English")) == "Only English"
    assert org_name(SimpleNamespace(org_id="0x1")) is None
    assert asset_title(SimpleNamespace(title="Production-line sensor telemetry")) == "Production-line sensor telemetry"
    i18n.set_locale("zh_Hans")
    assert org_name(org) == "佛山精密制造有限公司"


def _csv_rows(body: bytes) -> list[list[str]]:
    assert body.startswith("\ufeff".encode()), "CSV must start with a UTF-8 BOM (Excel)"
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_list_pages_filters_pagination_and_csv_of_exactly_the_rows_shown(client: Any) -> None:
    client.cookies.clear()
    for name in ("participants", "assets", "vouchers", "trades", "clearances"):
        html = client.get(f"/{name}?lang=en").text
        shown = len(re.findall(r'<tr class="row[" ]', html))
        assert shown >= 1, name
        rows = _csv_rows(client.get(f"/{name}.csv?lang=en").content)
        assert len(rows) == shown + 1, name  # header + the rows of the page
        assert client.get(f"/{name}?format=csv&lang=en").content == client.get(f"/{name}.csv?lang=en").content
    # the CSV has the page's rows in the page's order (trade ids of the HTML == the CSV's last column)
    html = client.get("/trades?lang=en").text
    shown_ids = re.findall(r'<code id="trade-(0x[0-9a-f]{64})"', html)
    assert shown_ids and shown_ids == [r[-1] for r in _csv_rows(client.get("/trades.csv?lang=en").content)[1:]]
    # pagination: one row a page; page 2 differs from page 1; the CSV follows the page
    one = client.get("/vouchers?limit=1&lang=en").text
    assert len(re.findall(r'<tr class="row[" ]', one)) == 1 and 'id="page-next"' in one
    p2 = client.get("/vouchers?limit=1&offset=1&lang=en").text
    assert 'id="page-prev"' in p2
    c1 = _csv_rows(client.get("/vouchers.csv?limit=1&lang=en").content)
    c2 = _csv_rows(client.get("/vouchers.csv?limit=1&offset=1&lang=en").content)
    assert len(c1) == len(c2) == 2 and c1[1] != c2[1]
    # filters: the trades of the use right vs the operating right partition the trades
    all_trades = _csv_rows(client.get("/trades.csv?lang=en").content)[1:]
    by_right = {r: _csv_rows(client.get(f"/trades.csv?right={r}&lang=en").content)[1:]
                for r in ("holding", "use", "operating")}
    assert sum(len(v) for v in by_right.values()) == len(all_trades)
    assert all(row[3] == "use right" for row in by_right["use"])
    # the CSV says what the page says, decoded: yuan, local time, Chinese headers
    zh = _csv_rows(client.get("/trades.csv?lang=zh-Hans").content)
    assert zh[0][0] == "结算时间" and "价格（元）" in zh[0]
    price = zh[0].index("价格（元）")
    assert {r[price] for r in zh[1:]} >= {"150000.00"}
    assert all(r[0].endswith("+08:00") for r in zh[1:])
    # jurisdiction, level and status filters; a future period empties the list
    hk = client.get("/vouchers?jurisdiction=hk&lang=en").text
    assert "Hong Kong SAR" in hk
    assert 'nothing matches' in client.get("/assets?from=2999-01-01&lang=en").text
    assert client.get("/assets?level=1&status=active&lang=en").status_code == 200
    # bad filters: a 400 page naming the parameter, never a 500
    for bad in ("level=9", "right=sell", "from=2026-13-01", "from=yesterday", "jurisdiction=CHN", "limit=0",
                "limit=100000", "offset=-1", "format=xml", "from=2026-02-01&to=2026-01-01", "status=gone"):
        r = client.get(f"/vouchers?{bad}&lang=en")
        assert r.status_code == 400, bad
        assert r.headers["content-type"].startswith("text/html") and "Bad request" in r.text, bad


def test_html_error_pages_for_pages_json_for_the_api(client: Any) -> None:
    for path, status in (("/assets/abc", 422), ("/vouchers/-1", 422), ("/clearances/x", 422), ("/assets/999999", 404),
                         ("/address/0x12", 422), ("/organisations/0xzz", 422), ("/no/such/page", 404),
                         ("/tx/0x00", 422), ("/vouchers/99999999999999999999999", 422)):
        r = client.get(path + "?lang=en")
        assert r.status_code == status, path
        assert r.headers["content-type"].startswith("text/html"), path
        assert 'id="error-title"' in r.text, path
    for path, status in (("/v1/assets/abc", 422), ("/v1/assets/999999", 404), ("/v1/nope", 404)):
        r = client.get(path)
        assert r.status_code == status and r.headers["content-type"].startswith("application/json"), path
        assert set(r.json()) == {"error", "reason", "values"}
    assert client.post("/assets").status_code == 405


def test_uses_page_shows_uses_only_to_those_the_policy_allows(market: Market, client: Any, app: Any) -> None:
    client.cookies.clear()
    anonymous = client.get("/uses?lang=en").text
    assert 'id="list-note"' in anonymous and '<tr class="row">' not in anonymous
    assert len(_csv_rows(client.get("/uses.csv").content)) == 1  # the header only
    token, _ = make_token(app.state.session_secret, market.address("regulator"), 600)
    client.cookies.set("dl_session", token)
    full = client.get("/uses?lang=en").text
    assert len(re.findall(r'<tr class="row[" ]', full)) >= 1
    assert len(_csv_rows(client.get("/uses.csv").content)) >= 2
    # a participant that is neither holder nor user of any use: the note, no rows (page and CSV)
    stranger, _ = make_token(app.state.session_secret, market.address("holder_sg"), 600)
    client.cookies.set("dl_session", stranger)
    mine = client.get("/uses?lang=en").text
    assert "Only the uses where your organisation" in mine and '<tr class="row">' not in mine
    assert len(_csv_rows(client.get("/uses.csv").content)) == 1
    # and filters cannot widen it
    assert '<tr class="row">' not in client.get("/uses?right=use&jurisdiction=CN&lang=en").text
    client.cookies.clear()


def test_csv_cells_are_never_formulas() -> None:
    from gateway.web.lists import csv_bytes

    body = csv_bytes(["name"], [["=HYPERLINK(\"http://x\")"], ["+1"], ["@SUM(A1)"], ["-2"], ["佛山"], ["150000.00"]])
    rows = _csv_rows(body)
    assert [r[0] for r in rows[1:]] == ["'=HYPERLINK(\"http://x\")", "'+1", "'@SUM(A1)", "'-2", "佛山", "150000.00"]


def test_regulator_date_range_and_accounting_tables(client: Any) -> None:
    client.cookies.clear()
    html = client.get("/regulator?lang=en").text
    for key in ("by_period", "by_jurisdiction", "by_level", "by_source_type", "by_right", "cross_border"):
        assert f'id="csv-{key}"' in html, key
        rows = _csv_rows(client.get(f"/regulator/accounting.csv?table={key}&lang=zh-Hans").content)
        assert len(rows) >= 2, key
    total = re.search(r'id="total-value">([^<]+)<', html)
    assert total and total.group(1).startswith("¥") and total.group(1).endswith(".00")
    by_period = _csv_rows(client.get("/regulator/accounting.csv?table=by_period&lang=en").content)
    assert by_period[0][0] == "Period" and sum(int(r[3]) for r in by_period[1:]) >= 2
    # a range before the market: nothing; a bad range: a 400 page
    empty = client.get("/regulator?from=2000-01-01&to=2000-01-31&lang=en").text
    assert re.search(r'id="total-value">¥0\.00<', empty)
    assert client.get("/regulator?from=2000-02-30").status_code == 400
    assert client.get("/regulator?period=year").status_code == 400
    assert client.get("/regulator/accounting.csv?table=secret").status_code == 400


def test_stats_cli_prints_yuan(market: Market) -> None:
    from typer.testing import CliRunner

    from dataledger.cli import app as cli

    out = CliRunner().invoke(cli, ["stats", "--database-url", market.database_url], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    assert re.search(r"¥\d{1,3}(,\d{3})*\.\d{2}", out.stdout)
    assert "23000000" not in out.stdout


def test_docs_and_redoc_are_served_without_a_cdn(client: Any) -> None:
    for path in ("/docs", "/redoc"):
        html = client.get(path).text
        srcs = re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(r"url: '([^']+)'", html)
        assert srcs, path
        assert all(s.startswith("/") for s in srcs), (path, srcs)
        assert "cdn" not in html.lower() and "fonts.googleapis" not in html
    for url in ("/static/docs/swagger-ui-bundle.js", "/static/docs/swagger-ui.css", "/redoc/redoc.standalone.js"):
        r = client.get(url)
        assert r.status_code == 200 and len(r.content) > 100_000, url
    assert b"cdn.redoc.ly" not in client.get("/redoc/redoc.standalone.js").content


@pytest.fixture(autouse=True)
def _reset_locale() -> Any:
    yield
    i18n.set_locale(i18n.DEFAULT_LOCALE)


__all__ = ["TestClient"]


def test_api_doc_examples_recover_their_signers() -> None:
    """docs/api.md's worked relay examples are real: each signature recovers to its signer under
    the documented domain and types, and the bodies validate against the relay's request models."""
    import json
    from pathlib import Path

    from eth_account import Account
    from eth_account.messages import encode_typed_data

    from gateway.api.routes.relay import ForwardRequestIn, SignedOrderIn
    from ledger.wallet import (
        FORWARD_REQUEST_FIELDS,
        FORWARD_REQUEST_TYPES,
        ORDER_FIELDS,
        ORDER_TYPES,
        forwarder_domain,
        settlement_domain,
    )

    text = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    bodies = []
    for block in re.findall(r"```json\n(.*?)```", text, re.S):
        try:
            bodies.append(json.loads(block))
        except ValueError:
            continue
    signed = [b for b in bodies if "signature" in b]
    assert len(signed) == 2

    def typed(fields: Any, values: dict[str, Any]) -> dict[str, Any]:
        out = {}
        for name, typ in fields:
            v = values[name]
            out[name] = int(v) if typ.startswith("uint") else (bytes.fromhex(v[2:]) if typ == "bytes" else v)
        return out

    fwd = next(b for b in signed if "forwarder" in b)
    ForwardRequestIn.model_validate(fwd)
    msg = encode_typed_data(forwarder_domain(fwd["chainId"], fwd["forwarder"]), FORWARD_REQUEST_TYPES,
                            typed(FORWARD_REQUEST_FIELDS, fwd))
    assert Account.recover_message(msg, signature=fwd["signature"]) == fwd["from"]
    order = next(b for b in signed if "settlement" in b)
    SignedOrderIn.model_validate(order)
    msg = encode_typed_data(settlement_domain(order["chainId"], order["settlement"]), ORDER_TYPES,
                            typed(ORDER_FIELDS, order["order"]))
    assert Account.recover_message(msg, signature=order["signature"]) == order["order"]["maker"]


def test_openapi_documents_uint256_as_strings_amounts_and_pages(client: Any) -> None:
    schema = client.get("/openapi.json").json()
    comps = schema["components"]["schemas"]
    nonce = comps["ForwardRequestIn"]["properties"]["nonce"]
    assert nonce["type"] == "string" and nonce["pattern"] == "^[0-9]+$" and nonce["maxLength"] == 76
    assert "decimal string" in comps["PermitIn"]["properties"]["deadline"]["description"]
    trade = comps["TradeOut"]["properties"]  # TradePublic and the parties' names
    assert trade["price"]["type"] == "string" and trade["currency"]["default"] == "CNY"
    assert trade["decimals"]["default"] == 2
    users = schema["paths"]["/v1/vouchers/{voucher_id}/users"]["get"]
    assert users["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith("Page_VoucherUserOut_")
    assert {p["name"] for p in users["parameters"]} >= {"limit", "offset"}
    assert "EIP-712" in comps["ForwardRequestIn"]["description"]
    body = client.get("/v1/trades").json()["items"][0]
    assert body["currency"] == "CNY" and body["decimals"] == 2 and isinstance(body["price"], str)
    # a decimal string above 2^53 is accepted where a uint256 is expected (validated, then refused
    # only for who is asking: 401 without a session, not 422)
    r = client.post("/v1/relay/permit", json={"owner": "0x" + "11" * 20, "spender": "0x" + "22" * 20, "value": "0",
                                              "deadline": str(2**200), "signature": "0x" + "00" * 65})
    assert r.status_code == 401, r.text


def test_restriction_reasons_are_the_contracts_and_translated() -> None:
    from gateway.web import fmt
    from ledger.errors import RESTRICTION_MESSAGES

    assert fmt.RESTRICTIONS == RESTRICTION_MESSAGES  # the msgids are the contract's English texts
    i18n.set_locale("zh_Hans")
    assert fmt.restriction(11) == "跨境转让须经数据海关批准通关。"
    assert fmt.restriction(RESTRICTION_MESSAGES[5]) == "该凭证已被监管机构冻结。"
    i18n.set_locale("zh_Hant")
    assert fmt.restriction(8) == "該憑證不可轉讓。"
    i18n.set_locale("en")
    assert fmt.restriction(8) == RESTRICTION_MESSAGES[8]
