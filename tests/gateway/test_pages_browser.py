"""The pages in headless Chromium (Debian's /usr/bin/chromium driven by Playwright): a regulator's
walk in each language, every page at 390 px without sideways scrolling, /docs and /redoc with the
network cut. A test that cannot start Chromium FAILS. Screenshots: test-artifacts/screenshots/.
Debian's fonts-noto-cjk must be installed (scripts/setup.sh test) so the screenshots show the
characters; the first test fails without a CJK font."""

from __future__ import annotations

import re
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import uvicorn

from gateway.core.security import make_token
from tests.gateway.api_fixtures import Market, market
from tests.gateway.test_web import ARGS, CHROMIUM, _shot, server  # server: the real gateway on a loopback port

LANGS = ("zh-Hans", "zh-Hant", "en")
ACCEPT = {"zh-Hans": "zh-CN", "zh-Hant": "zh-HK", "en": "en-GB"}


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        pytest.fail(f"playwright (Python package) is not installed: {exc}", pytrace=False)
    with sync_playwright() as p:
        try:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        except Exception as exc:
            pytest.fail(f"Chromium could not start ({CHROMIUM}): {exc}", pytrace=False)
        try:
            yield browser
        finally:
            browser.close()


def test_a_cjk_font_is_installed_for_the_screenshots() -> None:
    out = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True, check=False).stdout
    assert "CJK" in out or "Noto Sans SC" in out or "WenQuanYi" in out, \
        "no CJK font: install Debian's fonts-noto-cjk (scripts/setup.sh test does)"


def _paths(base: str, market: Market, server_app: Any) -> list[tuple[str, str]]:
    import httpx

    org_id = httpx.get(base + "/v1/participants").json()["items"][0]["org_id"]
    return [("home", "/"), ("participants", "/participants"), ("assets", "/assets"), ("vouchers", "/vouchers"),
            ("trades", "/trades"), ("uses", "/uses"), ("clearances", "/clearances"), ("asset", "/assets/2"),
            ("voucher", "/vouchers/3"), ("clearance", "/clearances/1"), ("regulator", "/regulator"),
            ("customs", "/customs"), ("search", "/search?q=2"), ("organisation", f"/organisations/{org_id}"),
            ("address", f"/address/{market.address('holder_hk')}"), ("error", "/assets/abc")]


def test_every_page_fits_390px_in_every_language(server: Any, chromium: Any, market: Market) -> None:
    base, app = server
    market.index()
    paths = _paths(base, market, app)
    for lang in LANGS:
        context = chromium.new_context(viewport={"width": 390, "height": 844}, locale=ACCEPT[lang],
                                       device_scale_factor=1)
        page = context.new_page()
        for slug, path in paths:
            page.goto(base + path + ("&" if "?" in path else "?") + f"lang={lang}")
            page.wait_for_load_state("load")
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{path} [{lang}] is {width}px wide at 390px"
            assert page.evaluate("document.body.scrollWidth") <= 390, (path, lang)
            if page.locator("svg.chart").count():
                boxes = page.eval_on_selector_all("svg.chart", "els => els.map(e => e.getBoundingClientRect().right)")
                assert max(boxes) <= 390, (path, lang, boxes)
            _shot(page, f"390-{lang}-{slug}")
        context.close()


#: The rule: where an account or an organisation has a name (a verified profile), the page's
#: visible text shows the name, never its raw hex. Exempt: attributes (title= hover, href), the
#: inside of a <details> disclosure (the raw values one click away; its <summary> is visible text
#: and is checked), and what is not rendered (script, style, hidden elements). An element of class
#: ``raw`` (an explicit secondary line of raw values) may hold a named value only if the page's
#: visible text outside such elements shows that value's name (in zh, en, or converted to 繁體).
#: Every text node of <body> is checked for a 0x token of 6+ hex digits, or 4+ before an ellipsis
#: (the shortened "0xb946…faf3"): a violation is a token that is (a prefix of) the address of a named
#: participant or a named org_id.
RAW_HEX_JS = """
(named) => {
  const out = [], rawHits = [];
  const visible = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || el.closest("script, style, noscript, template, textarea")) continue;
    const det = el.closest("details");
    if (det && !el.closest("summary")) continue;
    if (!el.checkVisibility()) continue;
    const raw = el.closest(".raw");
    if (!raw) visible.push(n.textContent);
    if (!n.textContent.includes("0x")) continue;
    for (const m of n.textContent.matchAll(/0x[0-9a-fA-F]{4,}(?=…)|0x[0-9a-fA-F]{6,}/g)) {
      const tok = m[0].toLowerCase();
      const hit = Object.keys(named).find(v => v.startsWith(tok));
      if (!hit) continue;
      const rec = {token: m[0], named: hit, text: n.textContent.trim().slice(0, 120),
                   where: el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
                          (el.className ? "." + String(el.className).split(" ").join(".") : "")};
      (raw ? rawHits : out).push(rec);
    }
  }
  const text = visible.join(" ");
  for (const rec of rawHits) {
    if (!named[rec.named].some(name => text.includes(name))) {
      rec.why = "a raw value on a page that does not show its name"; out.push(rec);
    }
  }
  return out;
}
"""


def named_hex(base: str) -> dict[str, list[str]]:
    """Addresses of participants and ids of organisations that have a name (verified profile),
    lowercased -> the forms of that name a page may show (Chinese, English, Chinese in 繁體)."""
    import httpx

    from gateway.services.script import to_hant

    out: dict[str, list[str]] = {}
    offset = 0
    while True:
        page = httpx.get(base + f"/v1/participants?limit=200&offset={offset}").json()
        for p in page["items"]:
            names = p.get("organisation_names") or {}
            forms = [n for n in (names.get("name_zh"), names.get("name_en")) if n]
            if forms:
                forms += [to_hant(n) for n in forms]
                out[str(p["account"]).lower()] = forms
                out[str(p["org_id"]).lower()] = forms
        offset += len(page["items"])
        if not page["items"] or offset >= page["total"]:
            break
    assert len(out) >= 10, out
    return out


def assert_no_raw_hex(page: Any, named: dict[str, list[str]], where: str) -> None:
    """The rule above, on the page as rendered now."""
    found = page.evaluate(RAW_HEX_JS, named)
    assert not found, f"{where}: raw hex of a named participant/organisation in visible text: {found[:8]}"


def test_no_raw_hex_where_a_name_exists_on_any_page(server: Any, chromium: Any, market: Market) -> None:
    """Every page (home, the list pages of organisations, assets, vouchers, trades, uses and
    clearances, the details, the dashboard, the customs queue, search, a transaction, /me) in each
    language, as a signed-in regulator: the rule of RAW_HEX_JS."""
    base, app = server
    market.index()
    named = named_hex(base)
    paths = _paths(base, market, app) + [("me", "/me"), ("tx", _a_tx_path(base)),
                                         ("search-org", "/search?q=%E4%BD%9B%E5%B1%B1")]
    failures: list[str] = []
    for lang in LANGS:
        context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale=ACCEPT[lang])
        token, _ = make_token(app.state.session_secret, market.address("regulator"), 600)
        context.add_cookies([{"name": "dl_session", "value": token, "url": base}])
        page = context.new_page()
        for _slug, path in paths:
            page.goto(base + path + ("&" if "?" in path else "?") + f"lang={lang}")
            page.wait_for_load_state("load")
            page.wait_for_function("!document.getElementById('wallet-session') || "
                                   "document.getElementById('wallet-session').textContent.trim() !== ''")
            found = page.evaluate(RAW_HEX_JS, named)
            if found:
                failures.append(f"{path} [{lang}]: {found[:4]}")
        # the check can fail: a named address as plain text, shortened, and as a .raw value on a page
        # that does not show the name, are each caught; inside a <details> disclosure it is not
        holder = market.address("holder_hk").lower()
        page.goto(base + f"/nope?lang={lang}")
        for html, caught in ((f"<p>{holder}</p>", True), (f"<p>{holder[:10]}…{holder[-4:]}</p>", True),
                             (f'<p class="raw">{holder}</p>', True),
                             (f"<details><summary>raw</summary>{holder}</details>", False)):
            page.evaluate("html => { const d = document.createElement('div'); d.id = 'planted'; d.innerHTML = html;"
                          " document.querySelector('main').appendChild(d); }", html)
            assert bool(page.evaluate(RAW_HEX_JS, named)) is caught, (lang, html)
            page.evaluate("document.getElementById('planted').remove()")
        context.close()
    assert not failures, "raw hex of a named participant/organisation in visible text:\n" + "\n".join(failures)


def _a_tx_path(base: str) -> str:
    import httpx

    ev = httpx.get(base + "/v1/vouchers/3/provenance").json()
    items = ev["events"] if isinstance(ev, dict) and "events" in ev else ev.get("items", ev)
    return f"/tx/{items[0]['tx_hash']}"


def _no_full_hex_in_visible_links(page: Any) -> None:
    """Account links show a name or a shortened address (the full one on hover), never raw hex."""
    texts = page.eval_on_selector_all("main a", "els => els.map(e => e.textContent.trim())")
    raw = [t for t in texts if re.fullmatch(r"0x[0-9a-fA-F]{40}", t)]
    assert not raw, raw
    named = page.eval_on_selector_all("main a.named", "els => els.map(e => e.textContent.trim())")
    assert not [t for t in named if t.startswith("0x")], named


def _local_times(page: Any) -> list[str]:
    times = page.eval_on_selector_all("main time", "els => els.map(e => [e.textContent, e.title])")
    for text, title in times:
        assert text.endswith("+08:00"), text
        assert title.startswith("UTC ") and title.endswith("Z"), title
    return [t for t, _ in times]


@pytest.mark.parametrize("lang", LANGS)
def test_regulator_walk(server: Any, chromium: Any, market: Market, lang: str) -> None:
    """home → the organisations list, filtered → search "佛山" → the organisation → its asset → the voucher → its provenance → the clearance → the dashboard with a
    date range → a CSV download; as a signed-in regulator, in ``lang``."""
    import httpx

    base, app = server
    market.index()
    words = {
        "zh-Hans": {"orgs": "机构", "asset": "数据资产", "voucher": "数据凭证", "clearance": "通关申请",
                    "dash": "监管看板", "right": "数据加工使用权", "cn": "中国内地", "hk": "香港特别行政区",
                    "provenance": "溯源时间线", "issued": "凭证已签发"},
        "zh-Hant": {"orgs": "機構", "asset": "數據資產", "voucher": "數據憑證", "clearance": "通關申請",
                    "dash": "監管看板", "right": "數據加工使用權", "cn": "中國內地", "hk": "香港特別行政區",
                    "provenance": "溯源時間線", "issued": "憑證已簽發"},
        "en": {"orgs": "Organisations", "asset": "Asset", "voucher": "Voucher", "clearance": "Clearance",
               "dash": "Regulator dashboard", "right": "use right", "cn": "Chinese mainland", "hk": "Hong Kong SAR",
               "provenance": "Provenance timeline", "issued": "Voucher issued"},
    }[lang]
    voucher = httpx.get(base + "/v1/vouchers/3").json()
    asset = httpx.get(base + f"/v1/assets/{voucher['asset_id']}?verify=false").json()
    holder_org = httpx.get(base + f"/v1/participants/{asset['holder']}").json()["org_id"]
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale=ACCEPT[lang], accept_downloads=True)
    token, _ = make_token(app.state.session_secret, market.address("regulator"), 600)
    context.add_cookies([{"name": "dl_session", "value": token, "url": base}])
    page = context.new_page()
    step = 0
    named = named_hex(base)

    def shot(name: str) -> None:
        """Every page of the walk: no raw hex where a name exists, then its screenshot."""
        nonlocal step
        step += 1
        assert_no_raw_hex(page, named, f"walk [{lang}] {name} {page.url}")
        _shot(page, f"walk-{lang}-{step:02d}-{name}")

    # 1. home (the browser's Accept-Language picks the language; the switch names all three)
    page.goto(base + "/")
    assert page.get_attribute("html", "lang") == lang
    assert page.locator("#lang-switch a").count() == 3
    assert int(page.get_attribute("#count-vouchers", "data-count") or 0) >= 4
    shot("home")
    # 2. the organisations list (a count card is a link), filtered to the Chinese mainland
    page.click("#card-participants")
    page.wait_for_url("**/participants")
    assert words["orgs"] in page.text_content("h1")
    page.select_option("#filters select[name=jurisdiction]", "CN")
    page.click("#filters button[type=submit]")
    page.wait_for_url("**jurisdiction=CN**")
    cells = page.locator("#list-participants tbody tr.row td:nth-child(3)").all_text_contents()
    assert cells and all(c.strip() == words["cn"] for c in cells), cells
    shot("organisations")
    # 3. search "佛山" from the header: the organisations and datasets of Foshan, by name (verified
    #    profiles and manifests); then the organisation holding the asset, named in the page's language
    page.fill("#search-input", "佛山")
    page.click("#search-button")
    page.wait_for_url("**/search?q=**")
    hit = page.locator(f"#search-results a[href='/organisations/{holder_org}']")
    assert hit.count() == 1, page.inner_text("main")
    # 繁體 pages show the profile's 简体 name in Traditional characters (制 -> 製), the original on hover
    name = {"en": "Foshan Precision Manufacturing Ltd.", "zh-Hant": "佛山精密製造有限公司"}.get(lang, "佛山精密制造有限公司")
    assert hit.text_content() == name
    if lang == "zh-Hant":
        assert (hit.get_attribute("title") or "").startswith("佛山精密制造有限公司 · 0x")
    assert page.locator("#search-results a[href^='/assets/']").count() >= 1  # a Foshan dataset by its title
    shot("search")
    hit.click()
    page.wait_for_url(f"**/organisations/{holder_org}")
    assert name in page.text_content("h1")
    _no_full_hex_in_visible_links(page)
    shot("organisation")
    # 4. its asset
    page.click(f"#org-assets a[href='/assets/{asset['asset_id']}']")
    page.wait_for_url(f"**/assets/{asset['asset_id']}")
    assert words["asset"] in page.text_content("h1")
    assert words["cn"] in page.text_content("dl.facts")
    _local_times(page)
    _no_full_hex_in_visible_links(page)
    shot("asset")
    # 5. the voucher: right by name, ¥ amounts, local times
    page.click("main a[href='/vouchers/3']")
    page.wait_for_url("**/vouchers/3")
    assert words["voucher"] in page.text_content("h1") and words["right"] in page.text_content("h1")
    prices = page.locator("#voucher-trades td.price").all_text_contents()
    assert "¥150,000.00" in prices, prices
    assert "15000000" not in page.inner_text("main")
    assert _local_times(page)
    _no_full_hex_in_visible_links(page)
    shot("voucher")
    # 6. its provenance: events in words with their times; raw arguments one click away
    page.locator("#provenance").scroll_into_view_if_needed()
    assert words["provenance"] in page.text_content("#provenance")
    first = page.locator("#timeline li.ev").first
    assert words["issued"] in first.locator(".ev-name").text_content()
    assert first.locator(".ev-coords time").count() == 1
    assert not first.locator(".ev-raw code").is_visible()
    first.locator(".ev-raw summary").click()
    assert '"voucherId"' in first.locator(".ev-raw code").text_content()
    timeline = page.inner_text("#timeline")
    assert "0x434e" not in timeline and "¥150,000.00" in timeline
    shot("provenance")
    # 7. the clearance that let the telemetry right go to Hong Kong
    page.click("#voucher-clearances a")
    page.wait_for_url("**/clearances/1")
    assert words["clearance"] in page.text_content("h1")
    facts = page.text_content("#clearance")
    assert words["hk"] in facts
    assert page.locator("#clearance .redacted").count() == 0  # a regulator sees the case in full
    _local_times(page)
    shot("clearance")
    # 8. the dashboard with a date range (the whole market: from a year back to a year ahead)
    page.click("header nav a[href='/regulator']")
    page.wait_for_url("**/regulator")
    assert words["dash"] in page.text_content("h1")
    today = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 8 * 3600))
    year_back = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 365 * 86400))
    page.fill("#range input[name=from]", year_back)
    page.fill("#range input[name=to]", str(int(today[:4]) + 1) + today[4:])
    page.click("#range button[type=submit]")
    page.wait_for_url("**from=**")
    assert re.fullmatch(r"¥[\d,]+\.\d{2}", (page.text_content("#total-value") or "").strip())
    assert page.locator("svg.chart").count() >= 6
    shot("dashboard")
    # 9. CSV download of an accounting table: UTF-8 with BOM, translated header
    with page.expect_download() as info:
        page.click("#csv-by_period")
    body = Path(info.value.path()).read_bytes()
    assert body.startswith("\ufeff".encode())
    header = body.decode("utf-8-sig").splitlines()[0]
    assert header.split(",")[0] == {"zh-Hans": "期间", "zh-Hant": "期間", "en": "Period"}[lang]
    context.close()


def test_docs_and_redoc_render_with_the_network_cut(server: Any, chromium: Any) -> None:
    base, _ = server
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    blocked: list[str] = []

    def only_loopback(route: Any) -> None:
        host = urlparse(route.request.url).hostname or ""
        if host in ("127.0.0.1", "localhost", "::1"):
            route.continue_()
        else:
            blocked.append(route.request.url)
            route.abort()

    context.route("**/*", only_loopback)
    page = context.new_page()
    page.goto(base + "/docs")
    page.wait_for_selector(".opblock", timeout=30_000)
    assert page.locator(".opblock").count() >= 20
    assert page.locator(".opblock-summary-path", has_text="/v1/trades").count() >= 1
    _shot(page, "docs-offline")
    page.goto(base + "/redoc")
    page.get_by_role("heading", name="List Trades").first.wait_for(timeout=30_000)
    assert page.locator("h2").count() >= 20  # one heading per operation
    _shot(page, "redoc-offline")
    assert blocked == [], f"the docs asked the network for: {blocked}"
    context.close()
