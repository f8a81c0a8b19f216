"""Web pages in headless Chromium (Debian's /usr/bin/chromium driven by Playwright).

A test that cannot start Chromium FAILS. Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from gateway.core.security import make_token
from tests.gateway.api_fixtures import market

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(market: Any) -> Iterator[tuple[str, Any]]:
    from gateway.main import create_app

    app = create_app(market.settings())
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started:
        if time.time() > deadline:
            pytest.fail("the gateway did not start", pytrace=False)
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", app
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        pytest.fail(f"playwright (Python package) is not installed: {exc}", pytrace=False)
    profile = tempfile.mkdtemp(prefix="dl-chromium-")
    with sync_playwright() as p:
        try:
            context = p.chromium.launch_persistent_context(profile, executable_path=CHROMIUM, headless=True,
                                                           args=ARGS, viewport={"width": 1280, "height": 900},
                                                           locale="en-US")  # English pages (the default is 简体)
        except Exception as exc:
            pytest.fail(f"Chromium could not start ({CHROMIUM}): {exc}", pytrace=False)
        try:
            yield context
        finally:
            context.close()


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_home_and_search_finds_things(server: Any, browser: Any, market: Any) -> None:
    base, _ = server
    page = browser.new_page()
    page.goto(base + "/")
    assert page.title().startswith("Explorer")
    assert int(page.text_content("#count-assets")) == 3
    _shot(page, "home")
    # voucher id
    page.fill("#search-input", "v1")
    page.click("#search-button")
    page.wait_for_url(base + "/vouchers/1")
    assert "Voucher 1" in page.text_content("h1")
    # address
    page.fill("#search-input", market.address("holder_hk"))
    page.click("#search-button")
    page.wait_for_url("**/address/**")
    assert "Vouchers held" in page.content()
    # a bare number matches an asset and a voucher
    page.fill("#search-input", "2")
    page.click("#search-button")
    page.wait_for_selector("#search-results")
    links = page.locator("#search-results a").all_text_contents()
    # the page's own words (translated): asset 2 by the title of its verified manifest
    assert "Production-line sensor telemetry" in links and "Voucher 2" in links, links
    # tx hash
    tx_hash = page.request.get(base + "/v1/vouchers/1/provenance").json()["events"][0]["tx_hash"]
    page.fill("#search-input", tx_hash)
    page.click("#search-button")
    page.wait_for_url("**/tx/**")
    page.wait_for_function("document.querySelector('#tx-status').textContent.includes('indexed')")
    _shot(page, "tx")
    page.close()


def test_voucher_page_timeline_and_verification_slot(server: Any, browser: Any, market: Any) -> None:
    base, _ = server
    market.index()  # other modules share this chain: bring the index to the head (else "gateway behind")
    page = browser.new_page()
    page.goto(base + "/vouchers/1")
    items = page.locator("#timeline li.ev")
    assert items.count() >= 4
    assert items.first.get_attribute("data-event") == "VoucherIssued"
    slot = page.text_content("#history-check") or ""
    # the page re-checks the served history against the node (gateway.verify): untouched, it verifies
    assert slot.strip() == "history verified", page.get_attribute("#history-check", "title")
    assert "checked against the node at block" in (page.text_content("#history-check-scope") or "")
    # the JS filter buttons hide an event kind
    page.wait_for_selector("#timeline-filters button")
    page.click("#timeline-filters button[data-event='Transfer']")
    assert page.locator("#timeline li.ev.hidden").count() >= 1
    _shot(page, "voucher")
    page.goto(base + "/assets/2")
    manifest_line = " ".join((page.text_content("#manifest-check") or "").split())
    # checked against the chain's latestManifest (eth_call), not against the gateway's own rows
    assert manifest_line.startswith("verified") and "AssetRegistry.latestManifest at block" in manifest_line
    _shot(page, "asset")
    page.goto(base + "/vouchers/999")
    assert "Not found" in page.text_content("h1")
    page.close()


def test_regulator_dashboard_renders_svg_charts(server: Any, browser: Any) -> None:
    base, _ = server
    page = browser.new_page()
    page.goto(base + "/regulator")
    charts = page.locator("svg.chart")
    assert charts.count() >= 6
    assert page.locator("#chart-issuance rect.bar").count() >= 1
    assert page.locator("#chart-level rect.bar").count() >= 2
    assert page.locator("#chart-value path.line").count() == 1
    box = page.locator("#chart-level rect.bar").first.bounding_box()
    assert box is not None and box["height"] > 0
    assert page.locator("#chart-flows path.flow").count() >= 1
    _shot(page, "regulator")
    page.goto(base + "/trades")
    assert page.locator("#trades").count() == 1
    _shot(page, "trades")
    page.close()


def test_customs_queue_redacted_then_full_for_customs(server: Any, browser: Any, market: Any) -> None:
    base, app = server
    page = browser.new_page()
    page.goto(base + "/clearances")
    assert "Redacted" in page.text_content("#customs-view")
    assert page.locator("#clearances tr.clearance").count() == 1
    assert market.address("holder_hk")[:10].lower() not in page.content().lower()
    _shot(page, "customs-redacted")
    token, _ = make_token(app.state.session_secret, market.address("customs"), 600)
    browser.add_cookies([{"name": "dl_session", "value": token, "url": base}])
    page.goto(base + "/customs")
    assert "Full clearance details" in page.text_content("#customs-view")
    assert market.address("holder_hk")[:10].lower() in page.content().lower()
    _shot(page, "customs-full")
    browser.clear_cookies()
    page.close()
