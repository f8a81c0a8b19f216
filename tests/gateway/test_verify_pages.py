"""The pages say exactly what was verified against what (headless Chromium, as tests/gateway/test_web.py):
the voucher page's badge and scope line, the asset page's manifest line checked against the chain's
``latestManifest`` (eth_call), and both turning red, naming the field, when the database is tampered."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from gateway.core.config import Settings
from tests.gateway.test_verify_tamper import ASSET, VOUCHER, execute
from tests.gateway.test_web import _shot, browser
from tests.gateway.verify_market import Market, index_into, market, voucher_frozen_after_index

DEAD = "0x000000000000000000000000000000000000dead"


@pytest.fixture
def site(market: Market, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(base URL, database URL) of the real gateway over a fresh SQLite index."""
    from gateway.main import create_app

    url = index_into(market, f"sqlite:///{tmp_path / 'gw.db'}")
    app = create_app(Settings(RPC_URL=market.rpc_url, DATABASE_URL=url, STATE_DIR=market.state_dir,
                              IPFS_STORE_DIR=market.state_dir / "ipfs", IPFS_API=None, RATE_LIMIT_ENABLED=False,
                              RESPONSE_CACHE_SECONDS=0, SESSION_SECRET="t"))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started:
        assert time.time() < deadline, "the gateway did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}", url
    srv.should_exit = True
    thread.join(10)
    sock.close()


def _text(page: Any, selector: str) -> str:
    return " ".join((page.text_content(selector) or "").split())


def test_pages_say_what_was_checked(site: tuple[str, str], browser: Any) -> None:
    base, _ = site
    page = browser.new_page()
    page.goto(f"{base}/vouchers/{VOUCHER}")
    assert _text(page, "#history-check") == "history verified"
    scope = _text(page, "#history-check-scope")
    assert "checked against the node at block" in scope and "5 events of the history" in scope
    assert "contracts' state by eth_call" in scope
    _shot(page, "verify-voucher-ok")
    page.goto(f"{base}/assets/{ASSET}")
    line = _text(page, "#manifest-check")
    assert line.startswith("verified") and "AssetRegistry.latestManifest at block" in line, line
    assert "eth_call" in line and "IPFS bytes" in line
    page.close()


def test_pages_name_a_tampered_field(site: tuple[str, str], browser: Any) -> None:
    base, url = site
    execute(url, "UPDATE vouchers SET holder = :o WHERE voucher_id = :t", o=DEAD, t=VOUCHER)
    execute(url, "UPDATE assets SET content_hash = :h WHERE asset_id = :a", h="0x" + "cd" * 32, a=ASSET)
    page = browser.new_page()
    page.goto(f"{base}/vouchers/{VOUCHER}")
    assert _text(page, "#history-check") == "history NOT verified"
    assert f"voucher {VOUCHER} holder: served {DEAD}" in _text(page, "#history-check-scope")
    _shot(page, "verify-voucher-tampered")
    page.goto(f"{base}/assets/{ASSET}")
    line = _text(page, "#manifest-check")
    assert line.startswith("mismatch") and "content hash differ(s) from AssetRegistry.latestManifest" in line, line
    _shot(page, "verify-asset-tampered")
    page.close()


def test_page_says_gateway_behind(site: tuple[str, str], browser: Any, market: Market) -> None:
    """An empty block past the gateway's height leaves the voucher verified (nothing of it is
    unserved); an unserved event of the voucher makes it "gateway behind"."""
    base, _ = site
    market.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]  # no indexer runs here
    page = browser.new_page()
    page.goto(f"{base}/vouchers/{VOUCHER}")
    assert _text(page, "#history-check") == "history verified"
    assert "checked against the node at block" in _text(page, "#history-check-scope")
    with voucher_frozen_after_index(market, VOUCHER):
        page.goto(f"{base}/vouchers/{VOUCHER}")
        assert _text(page, "#history-check") == "gateway behind"
        assert "gateway behind by 2 blocks; events after block" in _text(page, "#history-check-scope")
    page.close()
