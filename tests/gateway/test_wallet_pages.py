"""Every role's actions from the pages, in headless Chromium with a browser wallet (issue 14).

The wallet is a test EIP-1193 provider injected before the page's scripts (``add_init_script``),
announced through EIP-6963 like a real extension; its accounts, chain, ``personal_sign``,
``eth_signTypedData_v4`` and ``eth_sendTransaction`` go to a Python binding (``expose_function``)
that signs with eth-account and the demo keys and broadcasts to anvil: the page cannot tell it
from a real wallet. Behind it: the real gateway (uvicorn) and the real indexer following a fresh
anvil with the demo market. No mocks. Screenshots of each step: test-artifacts/wallet/.

The walk is one story, in order (each test continues from the state the previous left):
bank_cn (holder) is refused a cross-border transfer (code 11, advice) and transfers within CN;
holder_cn authorises bank_cn, which redeems a use with a purpose (a document, its digest on chain);
holder_cn requests a clearance to SG, customs approves, the once-refused transfer goes through;
a regulator freezes voucher 3 and holder_hk's transfer form shows the frozen reason; holder_sg and
bank_cn sign orders, the exchange checks and settles them through the relay; wrong chain, a
rejected signature and a stale relay nonce send nothing (the relayer's nonce is unchanged).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Optional

import pytest
import uvicorn
from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from eth_account.signers.local import LocalAccount
from web3 import Web3

from gateway.core.devkeys import dev_key
from tests.gateway.api_fixtures import Market, build_market
from tests.gateway.test_web import ARGS, CHROMIUM, _free_port

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "wallet"
WAIT = 30_000

PROVIDER_JS = """
(() => {
  const listeners = {};
  function make(info, binding) {
    const provider = {
      request: async ({ method, params }) => {
        const r = await window[binding](method, params || []);
        if (r && r.error) { const e = new Error(r.error.message); e.code = r.error.code; throw e; }
        return r ? r.result : null;
      },
      on: (ev, f) => { (listeners[ev] = listeners[ev] || []).push(f); },
      removeListener: (ev, f) => { listeners[ev] = (listeners[ev] || []).filter(x => x !== f); },
    };
    const announce = () => window.dispatchEvent(new CustomEvent("eip6963:announceProvider",
      { detail: Object.freeze({ info, provider }) }));
    window.addEventListener("eip6963:requestProvider", announce);
    announce();
    return provider;
  }
  window.__walletEmit = (ev, arg) => (listeners[ev] || []).forEach(f => f(arg));
  const icon = "data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciLz4=";
  make({ uuid: "6f1c5a2e-0000-4000-8000-000000000001", name: "Test Wallet", icon, rdns: "test.dataledger.wallet" },
       "__walletRpc");
  make({ uuid: "6f1c5a2e-0000-4000-8000-000000000002", name: "Other Wallet", icon, rdns: "test.other.wallet" },
       "__otherWalletRpc");
})();
"""


class BrowserWallet:
    """The Python side of the injected provider: one account, a chain it says it is on."""

    def __init__(self, w3: Web3, account: LocalAccount, chain_id: int) -> None:
        self.w3 = w3
        self.account = account
        self.chain_id = chain_id
        self.real_chain = chain_id
        self.reject = False
        self.knows_chain = True  # False: the wallet must be told the chain (wallet_addEthereumChain)
        self.added: list[dict[str, Any]] = []
        self.before_sign: Optional[Callable[[], None]] = None
        self.signatures = 0
        self.sent: list[str] = []
        self.log: list[str] = []

    def rpc(self, method: str, params: list[Any]) -> dict[str, Any]:
        self.log.append(method)
        try:
            return {"result": self._rpc(method, params)}
        except WalletError as exc:
            return {"error": {"code": exc.code, "message": str(exc)}}

    def _rpc(self, method: str, params: list[Any]) -> Any:
        if method in ("eth_requestAccounts", "eth_accounts"):
            return [self.account.address.lower()]  # as many wallets do: lower case
        if method == "eth_chainId":
            return hex(self.chain_id)
        if method == "wallet_switchEthereumChain":
            wanted = int(params[0]["chainId"], 16)
            if wanted != self.real_chain or not self.knows_chain:
                raise WalletError(4902, "unrecognised chain")
            self.chain_id = wanted
            return None
        if method == "wallet_addEthereumChain":
            self.added.append(params[0])
            self.knows_chain = True
            self.chain_id = int(params[0]["chainId"], 16)
            return None
        if self.reject:
            raise WalletError(4001, "User rejected the request.")
        if self.chain_id != self.real_chain and method == "eth_sendTransaction":
            raise WalletError(4901, "wrong chain")
        if method == "personal_sign":
            assert params[1].lower() == self.account.address.lower()
            self.signatures += 1
            return "0x" + bytes(self.account.sign_message(encode_defunct(hexstr=params[0])).signature).hex()
        if method == "eth_signTypedData_v4":
            assert params[0].lower() == self.account.address.lower()
            data = json.loads(params[1])
            for name, fields in data["types"].items():  # decimal strings, as wallets accept them
                target = data["domain"] if name == "EIP712Domain" else data["message"] \
                    if name == data["primaryType"] else None
                for f in fields if target is not None else []:
                    if f["type"].startswith("uint") and isinstance(target.get(f["name"]), str):
                        target[f["name"]] = int(target[f["name"]])
            if self.before_sign is not None:
                hook, self.before_sign = self.before_sign, None
                hook()
            self.signatures += 1
            return "0x" + bytes(self.account.sign_message(encode_typed_data(full_message=data)).signature).hex()
        if method == "eth_sendTransaction":
            tx = dict(params[0])
            assert tx["from"].lower() == self.account.address.lower()
            full = {"to": Web3.to_checksum_address(tx["to"]), "data": tx["data"], "value": int(tx.get("value", "0x0"), 16),
                    "gas": int(tx["gas"], 16), "gasPrice": self.w3.eth.gas_price, "chainId": self.real_chain,
                    "nonce": self.w3.eth.get_transaction_count(self.account.address, "pending")}
            signed = self.account.sign_transaction(full)
            h = self.w3.eth.send_raw_transaction(signed.raw_transaction)
            self.sent.append("0x" + bytes(h).hex())
            return "0x" + bytes(h).hex()
        raise WalletError(4200, f"unsupported method {method}")


class WalletError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


# ------------------------------------------------------------------ fixtures


class Stack:
    def __init__(self, market: Market, base: str, app: Any, pw: Any, browser: Any) -> None:
        self.market, self.base, self.app, self.pw, self.browser = market, base, app, pw, browser
        self.pages: dict[str, tuple[Any, BrowserWallet]] = {}
        self.relayer = Account.from_key(dev_key(19)).address
        self.orders: dict[str, str] = {}

    @property
    def w3(self) -> Web3:
        return self.market.w3

    def relayer_nonce(self) -> int:
        return int(self.w3.eth.get_transaction_count(self.relayer))

    def page(self, who: str, chain_id: Optional[int] = None, locale: str = "en-US") -> tuple[Any, BrowserWallet]:
        key = who if locale == "en-US" else f"{who}@{locale}"
        if key in self.pages:
            return self.pages[key]
        wallet = BrowserWallet(self.w3, self.market.accounts[who], chain_id or int(self.w3.eth.chain_id))
        wallet.real_chain = int(self.w3.eth.chain_id)
        context = self.browser.new_context(viewport={"width": 1280, "height": 900}, locale=locale)  # the walk reads English
        context.expose_function("__walletRpc", wallet.rpc)
        other = BrowserWallet(self.w3, self.market.accounts["holder_mo"], wallet.real_chain)
        context.expose_function("__otherWalletRpc", other.rpc)
        context.add_init_script(PROVIDER_JS)
        page = context.new_page()
        page.set_default_timeout(WAIT)
        self.pages[key] = (page, wallet)
        return page, wallet


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    from playwright.sync_api import sync_playwright

    from gateway.main import create_app

    market = build_market()
    port = _free_port()
    app = create_app(market.settings(SIWE_DOMAIN=f"127.0.0.1:{port}", SIWE_URI=f"http://127.0.0.1:{port}/"))
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    stop = threading.Event()

    def follow() -> None:  # the indexer following the head, as `dataledger index --follow` does
        while not stop.is_set():
            try:
                market.index()
            except Exception:  # retried on the next round
                pass
            stop.wait(0.25)

    indexer = threading.Thread(target=follow, daemon=True)
    indexer.start()
    deadline = time.time() + 20
    while not srv.started:
        if time.time() > deadline:
            pytest.fail("the gateway did not start", pytrace=False)
        time.sleep(0.05)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        try:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        except Exception as exc:
            pytest.fail(f"Chromium could not start ({CHROMIUM}): {exc}", pytrace=False)
        st = Stack(market, f"http://127.0.0.1:{port}", app, pw, browser)
        try:
            yield st
        finally:
            browser.close()
    stop.set()
    indexer.join(10)
    srv.should_exit = True
    thread.join(10)


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def sign_in(st: Stack, who: str, choose: bool = False, locale: str = "en-US") -> tuple[Any, BrowserWallet]:
    page, wallet = st.page(who, locale=locale)
    page.goto(st.base + "/me")
    page.click("#wallet-connect")
    # two wallets announced (EIP-6963): the page offers a chooser
    page.wait_for_selector("#wallet-chooser button.wallet-option")
    assert page.locator("#wallet-chooser button.wallet-option").count() == 2
    if choose:
        shot(page, f"{who}-00-chooser")
    page.click("#wallet-chooser button[data-rdns='test.dataledger.wallet']")
    page.wait_for_selector("#wallet-signin:not([hidden])")
    page.click("#wallet-signin")
    page.wait_for_selector("#me-session")
    page.wait_for_selector("#wallet-session:not([hidden])")
    return page, wallet


def signed(st: Stack, who: str) -> tuple[Any, BrowserWallet]:
    """``who``'s /me page, signed in (again only when this browser context is not yet)."""
    page, wallet = st.page(who)
    page.goto(st.base + "/me")
    if page.locator("#me-session").count() == 0:
        return sign_in(st, who)
    return page, wallet


SEEN: set[str] = set()


def wait_confirmed(page: Any) -> str:
    """After an action: the page reloaded from the index with the confirmation of a transaction
    not seen before (an earlier action's banner does not count); the tx hash."""
    page.wait_for_function(
        "(seen) => { const a = document.querySelector(\"#wallet-flash[data-state='confirmed'] a.tx-link\");"
        " return !!a && !seen.includes(a.getAttribute('href')); }", arg=sorted(SEEN), timeout=WAIT)
    href = str(page.get_attribute("#wallet-flash a.tx-link", "href"))
    SEEN.add(href)
    return href.rsplit("/", 1)[-1]


def check_recipient(page: Any, voucher: int, to: str) -> Any:
    form = f"#transfer-{voucher}"
    page.fill(f"{form} input[name=to]", to)
    page.click(f"{form} button.check")
    return page.wait_for_selector(f"{form} .verdict[data-state='allowed'], {form} .verdict[data-state='restricted']")


def owner(st: Stack, voucher: int) -> str:
    return str(st.market.contracts["DataVoucher"].functions.ownerOf(voucher).call())


# ------------------------------------------------------------------ the walk


def test_holder_signs_in_is_refused_cross_border_then_transfers(stack: Stack) -> None:
    st = stack
    a = st.market.accounts
    page, wallet = sign_in(st, "bank_cn", choose=True)
    session = page.inner_text("#wallet-session")
    assert "holder" in session and "(CN)" in session, session
    assert page.locator("#voucher-4").count() == 1
    shot(page, "holder-01-signed-in")

    verdict = check_recipient(page, 4, a["holder_sg"].address)
    assert verdict.get_attribute("data-code") == "11"
    text = verdict.inner_text()
    assert "clearance" in text.lower() and "What to do" in text
    assert page.locator("#transfer-4 button.go").is_disabled()
    shot(page, "holder-02-cross-border-refused")

    # the same refusal if the page's check is bypassed: the gateway refuses before any signature
    before, sigs = st.relayer_nonce(), wallet.signatures
    r = page.evaluate("""async (to) => { const r = await fetch('/v1/actions/prepare', {method: 'POST',
        headers: {'Content-Type': 'application/json'}, body: JSON.stringify({action: 'transfer',
        params: {voucher_id: 4, to}})}); return [r.status, await r.json()]; }""", a["holder_sg"].address)
    assert r[0] == 409 and r[1]["error"] == "TransferRestricted" and r[1]["values"]["code"] == 11
    assert (st.relayer_nonce(), wallet.signatures) == (before, sigs)

    verdict = check_recipient(page, 4, a["holder_cn"].address)
    assert verdict.get_attribute("data-state") == "allowed"
    before = st.relayer_nonce()
    page.click("#transfer-4 button.go")
    page.wait_for_selector("#transfer-4 .status[data-state='pending']")
    tx = wait_confirmed(page)
    shot(page, "holder-03-transferred")
    assert owner(st, 4) == a["holder_cn"].address
    assert st.relayer_nonce() == before + 1  # relayed, gas-free for the holder
    assert page.locator("#voucher-4").count() == 0  # the page reloaded from the index

    page.goto(st.base + "/vouchers/4")
    page.wait_for_selector(f"#timeline a[title='{tx}']")
    assert "Transfer" in page.inner_text("#timeline")
    shot(page, "holder-04-provenance")


def test_user_redeems_with_a_purpose(stack: Stack) -> None:
    st = stack
    a = st.market.accounts
    page, wallet = sign_in(st, "holder_cn")
    page.fill("#authorize-4 input[name=user]", a["bank_cn"].address)
    before, sigs = st.relayer_nonce(), wallet.signatures
    # a double click sends once: the form is locked while pending
    page.evaluate("() => { const b = document.querySelector('#authorize-4 button.go'); b.click(); b.click(); }")
    wait_confirmed(page)
    assert st.relayer_nonce() == before + 1 and wallet.signatures == sigs + 1
    shot(page, "user-01-authorised")

    user_page, _ = signed(st, "bank_cn")
    user_page.wait_for_selector("#usable-4")
    purpose = "Credit model validation for SME loan batch 2026-12 (使用目的)"
    uses = st.market.contracts["DataVoucher"].functions.voucherCore(4).call()[7]
    user_page.fill("#use-4 input[name=purpose]", purpose)
    user_page.click("#use-4 button.go")
    tx = wait_confirmed(user_page)
    shot(user_page, "user-02-redeemed")
    assert st.market.contracts["DataVoucher"].functions.voucherCore(4).call()[7] == uses + 1
    receipt = st.w3.eth.get_transaction_receipt(tx)  # type: ignore[arg-type]
    used = st.market.contracts["DataVoucher"].events.VoucherUsed().process_receipt(receipt)
    assert bytes(used[0]["args"]["purposeHash"]) == hashlib.sha256(purpose.encode()).digest()
    # the purpose is a document in the gateway's IPFS store: its CID's digest is what the chain holds
    from ledger.ipfs import Cid

    store = st.app.state.manifests.store
    cid = Cid.from_bytes(bytes([1, 0x55, 0x12, 0x20]) + hashlib.sha256(purpose.encode()).digest()).encode()
    assert store.cat(cid) == purpose.encode()


def test_customs_approves_and_the_refused_transfer_goes_through(stack: Stack) -> None:
    st = stack
    a = st.market.accounts
    page, _ = signed(st, "holder_cn")
    verdict = check_recipient(page, 4, a["holder_sg"].address)
    assert verdict.get_attribute("data-code") == "11"
    page.click("#transfer-4 .verdict button.prefill-clearance")
    assert page.input_value("#request-clearance input[name=destination]") == "SG"
    page.fill("#request-clearance input[name=purpose]", "Joint research with Straits Research on line telemetry")
    shot(page, "customs-01-request")
    page.click("#request-clearance button.go")
    wait_confirmed(page)

    officer, _ = sign_in(st, "customs")
    officer.wait_for_selector("#customs-queue tr[id^=clearance-]")
    case = str(officer.locator("#customs-queue tr[id^=clearance-]").last.get_attribute("id"))[10:]
    expiry = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%d")
    officer.fill(f"#approve-{case} input[name=expiry]", expiry)
    officer.fill(f"#approve-{case} input[name=conditions]", "Aggregate outputs only")
    shot(officer, "customs-02-queue")
    officer.click(f"#approve-{case} button.go")
    wait_confirmed(officer)
    assert officer.locator(f"#clearance-{case}").count() == 0
    shot(officer, "customs-03-approved")

    page.goto(st.base + "/me")
    verdict = check_recipient(page, 4, a["holder_sg"].address)
    assert verdict.get_attribute("data-state") == "allowed", verdict.inner_text()
    page.click("#transfer-4 button.go")
    wait_confirmed(page)
    assert owner(st, 4) == a["holder_sg"].address
    shot(page, "customs-04-transfer-through")


def test_regulator_freezes_and_the_holder_sees_why(stack: Stack) -> None:
    st = stack
    a = st.market.accounts
    reg, _ = sign_in(st, "regulator")
    reg.fill("#regulate input[name=voucher_id]", "3")
    reg.fill("#regulate input[name=reason]", "court order 2026-77")
    reg.click("#regulate button[value=freeze]")
    wait_confirmed(reg)
    assert reg.locator("#frozen-vouchers a[href='/vouchers/3']").count() == 1
    shot(reg, "regulator-01-frozen")
    # a second freeze is refused with the decoded reason, before anything is sent
    reg.fill("#regulate input[name=voucher_id]", "3")
    reg.fill("#regulate input[name=reason]", "again")
    reg.click("#regulate button[value=freeze]")
    status = reg.wait_for_selector("#regulate .status[data-state='refused']")
    assert "not active" in status.inner_text()

    page, _ = sign_in(st, "holder_hk")
    # the transfer form says at once why the voucher cannot move
    assert "court order 2026-77" in page.inner_text("#frozen-note-3")
    assert "court order 2026-77" in (page.get_attribute("#transfer-3 button.go", "title") or "")
    verdict = check_recipient(page, 3, a["holder_cn"].address)
    assert verdict.get_attribute("data-code") == "5"
    assert "court order 2026-77" in verdict.inner_text()
    go = page.locator("#transfer-3 button.go")
    assert go.is_disabled() and "court order 2026-77" in (go.get_attribute("title") or "")
    shot(page, "regulator-02-holder-sees-frozen")


def test_exchange_settles_a_signed_pair(stack: Stack) -> None:
    st = stack
    a = st.market.accounts
    seller, _ = sign_in(st, "holder_sg")
    seller.click("#approve-settlement button.go")
    wait_confirmed(seller)
    seller.fill("#sell-4 input[name=price]", "100000")
    seller.select_option("#sell-4 select[name=exchange]", a["exchange"].address.lower())
    seller.click("#sell-4 button.go")
    sell = seller.wait_for_selector("#sell-4 .status[data-state='confirmed'] textarea.signed-order").input_value()
    shot(seller, "exchange-01-sell-signed")

    buyer, _ = signed(st, "bank_cn")
    buyer.fill("#buy-order input[name=voucher_id]", "4")
    buyer.fill("#buy-order input[name=price]", "100000")
    buyer.click("#buy-order button.go")
    buy = buyer.wait_for_selector("#buy-order .status[data-state='confirmed'] textarea.signed-order").input_value()
    shot(buyer, "exchange-02-buy-signed")

    ex, _ = sign_in(st, "exchange")
    ex.fill("#settle-console textarea[name=sell]", sell)
    ex.fill("#settle-console textarea[name=buy]", buy)
    ex.click("#settle-console button.check")
    ex.wait_for_selector("#settle-checks[data-ok='1']")
    assert ex.locator("#settle-checks tr.check-fail").count() == 0
    names = ex.inner_text("#settle-checks")
    for check in ("sell: signature", "buy: signature", "restriction verdict", "fee within", "simulation of settle"):
        assert check in names
    shot(ex, "exchange-03-checks")
    ex.click("#settle-console button.go")
    ex.wait_for_selector("#settle-console .status[data-state='confirmed'] #settle-trade")
    shot(ex, "exchange-04-settled")
    assert owner(st, 4) == a["bank_cn"].address
    trade = ex.get_attribute("#settle-trade", "href")
    ex.goto(st.base + str(trade))
    assert "/vouchers/4" in ex.url

    # a tampered pair, uploaded as one file, is refused by the checks (price changed after signing)
    bad = json.loads(sell)
    bad["order"]["price"] = 1
    ex.goto(st.base + "/me")
    ex.set_input_files("#settle-console input[name=pair]", files=[{
        "name": "pair.json", "mimeType": "application/json",
        "buffer": json.dumps({"sell": bad, "buy": json.loads(buy)}).encode()}])
    ex.click("#settle-console button.check")
    ex.wait_for_selector("#settle-checks[data-ok='0']")
    assert ex.locator("#settle-console button.go").is_disabled()
    assert ex.locator("#settle-checks tr.check-fail", has_text="sell: signature").count() == 1
    assert json.loads(ex.input_value("#settle-console textarea[name=sell]"))[
        "order"]["price"] == 1
    assert ex.locator("#settle-checks tr.check-fail").count() >= 2  # the signature, and the voucher has moved
    shot(ex, "exchange-05-tampered-pair-refused")
    # the same checks on a 简体 page: names and details translated (names of organisations, ¥)
    ex.goto(st.base + "/me?lang=zh-Hans")
    ex.fill("#settle-console textarea[name=sell]", json.dumps(bad))
    ex.fill("#settle-console textarea[name=buy]", buy)
    ex.click("#settle-console button.check")
    ex.wait_for_selector("#settle-checks[data-ok='0']")
    table = ex.inner_text("#settle-checks")
    rows = {cells[1]: cells for cells in (line.split("\t") for line in table.splitlines()) if len(cells) == 3}
    assert rows["卖出订单：签名"][0] == "✗" and rows["卖出订单：签名"][2].startswith("签名者 "), table
    assert "订单发起方 海峡研究私人有限公司" in rows["卖出订单：签名"][2], table
    assert "¥0.01" in table and "卖出订单" in table
    leftover = re.sub(r"0x[0-9a-fA-F]+|settle\(sell, buy\)|setApprovalForAll|approve|Gas", "", table)
    assert not re.search(r"[A-Za-z]{3,}", leftover), table  # no English word left
    shot(ex, "exchange-06-checks-zh")


def test_wrong_chain_rejection_and_stale_nonce_send_nothing(stack: Stack) -> None:
    st = stack
    a = st.market.accounts
    page, wallet = st.page("holder_mo", chain_id=1)
    page.goto(st.base + "/me")
    page.click("#wallet-connect")
    page.click("#wallet-chooser button[data-rdns='test.dataledger.wallet']")
    chain = page.wait_for_selector("#wallet-chain[data-state='wrong']")
    assert "chain 1" in chain.inner_text()
    page.click("#wallet-signin")
    msg = page.wait_for_selector("#wallet-message[data-kind='error']")
    assert "Switch the network" in msg.inner_text() and wallet.signatures == 0
    shot(page, "errors-01-wrong-chain")
    wallet.knows_chain = False  # switching answers 4902: the page adds the chain with its parameters
    page.click("#wallet-switch")
    page.wait_for_selector("#wallet-chain[data-state='ok']", state="attached")
    assert wallet.added and int(wallet.added[0]["chainId"], 16) == wallet.real_chain
    assert wallet.added[0]["rpcUrls"] == [st.market.rpc_url]  # the local chain's node (31337 only)
    page.click("#wallet-signin")
    page.wait_for_selector("#me-session")

    # the user switches the wallet to another network: actions are refused, nothing signed or sent
    wallet.chain_id = 1
    voucher = page.locator("#my-vouchers tr.voucher").count()
    assert voucher == 0  # holder_mo holds nothing: use the cancel-order form (relayed too)
    before, sigs = st.relayer_nonce(), wallet.signatures
    page.fill("#cancel-order input[name=nonce]", "999")
    page.click("#cancel-order button.go")
    status = page.wait_for_selector("#cancel-order .status[data-state='refused']")
    assert "Switch the network" in status.inner_text()
    assert (st.relayer_nonce(), wallet.signatures) == (before, sigs)
    shot(page, "errors-02-wrong-chain-action")
    wallet.chain_id = wallet.real_chain

    # the wallet rejects (EIP-1193 code 4001)
    wallet.reject = True
    page.click("#cancel-order button.go")
    status = page.wait_for_selector("#cancel-order .status[data-state='refused']:has-text('rejected')")
    assert "Nothing was sent" in status.inner_text()
    assert (st.relayer_nonce(), wallet.signatures) == (before, sigs)
    shot(page, "errors-03-rejected")
    wallet.reject = False

    # a stale nonce: another request of the signer lands between preparing and relaying
    def spend_nonce() -> None:
        from ledger.chain import Ledger

        led = Ledger.connect(st.market.rpc_url, account=a["holder_mo"], state_dir=st.market.state_dir)
        fr = led.settlement.build("cancelOrder", 424242)
        req = led.forwarder.sign(a["holder_mo"], led.settlement.address, bytes.fromhex(fr["data"][2:]),
                                 led.now() + 600)
        other = Ledger.connect(st.market.rpc_url, account=st.market.accounts["appraiser"],
                               state_dir=st.market.state_dir)
        other.forwarder.contract.functions.execute(req.data_tuple()).transact(
            {"from": st.market.accounts["appraiser"].address})

    wallet.before_sign = spend_nonce
    page.click("#cancel-order button.go")
    status = page.wait_for_selector("#cancel-order .status[data-state='refused']:has-text('nonce')")
    assert "Nothing was sent" in status.inner_text(), status.inner_text()
    assert st.relayer_nonce() == before
    shot(page, "errors-04-stale-nonce")

    # and the same form then works
    page.click("#cancel-order button.go")
    wait_confirmed(page)
    assert st.relayer_nonce() == before + 1

    # the wallet switches to another account: the session ends (signed out), nothing is acted on
    page.wait_for_selector("html[data-wallet-bound]", state="attached")  # re-attached after the reload
    page.evaluate("(a) => window.__walletEmit('accountsChanged', [a])", a["holder_hk"].address.lower())
    page.wait_for_selector("#me-signed-out")
    assert "switched account" in page.inner_text("#wallet-flash")
    assert page.is_hidden("#wallet-session") and page.is_visible("#wallet-signin")
    shot(page, "errors-05-account-changed")


def _extra_account(index: int) -> LocalAccount:
    from dataledger.dev.anvil import DEFAULT_MNEMONIC

    Account.enable_unaudited_hdwallet_features()
    return Account.from_mnemonic(DEFAULT_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")


def test_data_officer_adds_and_removes_within_the_rules(stack: Stack) -> None:
    st = stack
    newcomer = _extra_account(13)
    page, wallet = signed(st, "holder_cn")
    page.fill("#add-account input[name=account]", newcomer.address)
    page.check("#add-account input[name=role][value='128']")  # HOLDER, the organisation's allowed role
    page.click("#add-account button.go")
    wait_confirmed(page)
    row = f"#account-{newcomer.address.lower()}"
    page.wait_for_selector(row)
    assert "active" in page.inner_text(row) and "holder" in page.inner_text(row)
    shot(page, "officer-01-added")

    # suspending is the registrar's: refused with the reason, before the wallet is asked
    sent = list(wallet.sent)
    page.fill(f"#suspend-{newcomer.address.lower()} input[name=reason]", "left the company")
    page.click(f"#suspend-{newcomer.address.lower()} button.go")
    status = page.wait_for_selector(f"#suspend-{newcomer.address.lower()} .status[data-state='refused']")
    assert "registrar" in status.inner_text(), status.inner_text()
    assert wallet.sent == sent
    shot(page, "officer-02-suspend-refused")

    page.click(f"#remove-{newcomer.address.lower()} button.go")
    wait_confirmed(page)
    assert "removed" in page.inner_text(row)
    assert st.market.contracts["ParticipantRegistry"].functions.isActive(newcomer.address).call() is False
    shot(page, "officer-03-removed")


def test_regulators_unfreeze_revoke_and_recover_two_person(stack: Stack) -> None:
    st = stack
    a = st.market.accounts
    from dataledger.dev.demo import REGULATOR, org_id

    # a second regulator, registered by the registrar (the authority)
    second = _extra_account(12)
    registry = st.market.contracts["ParticipantRegistry"]
    oid = org_id("11440000MB2C00099Z")
    registry.functions.registerOrganisation(oid, b"CN", REGULATOR, second.address).transact(
        {"from": a["authority"].address})
    registry.functions.addAccount(oid, second.address, REGULATOR).transact({"from": second.address})
    st.market.accounts["regulator_2"] = second

    reg, _ = signed(st, "regulator")
    reg.fill("#regulate input[name=voucher_id]", "3")
    reg.fill("#regulate input[name=reason]", "court order lifted")
    reg.click("#regulate button[value=unfreeze]")
    wait_confirmed(reg)
    assert reg.locator("#frozen-vouchers a[href='/vouchers/3']").count() == 0

    # one regulator proposes moving voucher 3 from holder_hk's lost key to the operator
    reg.fill("#regulate input[name=voucher_id]", "3")
    reg.fill("#regulate input[name=reason]", "lost key, affidavit 2026-9")
    reg.fill("#regulate input[name=to]", a["operator"].address)
    reg.click("#regulate button[value=propose_recovery]")
    wait_confirmed(reg)
    assert "lost key" in reg.inner_text("#recoveries")
    # ... and cannot execute it alone
    reg.fill("#regulate input[name=voucher_id]", "3")
    reg.fill("#regulate input[name=reason]", "executing my own proposal")
    reg.click("#regulate button[value=execute_recovery]")
    status = reg.wait_for_selector("#regulate .status[data-state='refused']")
    assert "another regulator must execute" in status.inner_text(), status.inner_text()
    shot(reg, "regulator-03-recovery-needs-second")

    reg2, _ = sign_in(st, "regulator_2")
    assert "lost key" in reg2.inner_text("#recoveries")
    reg2.fill("#regulate input[name=voucher_id]", "3")
    reg2.fill("#regulate input[name=reason]", "second regulator confirms")
    reg2.click("#regulate button[value=execute_recovery]")
    wait_confirmed(reg2)
    assert owner(st, 3) == a["operator"].address
    assert "lost key" not in reg2.inner_text("#recoveries")
    shot(reg2, "regulator-04-recovered")

    reg2.fill("#regulate input[name=voucher_id]", "2")
    reg2.fill("#regulate input[name=reason]", "licence of the operation withdrawn")
    reg2.click("#regulate button[value=revoke]")
    wait_confirmed(reg2)
    assert st.market.contracts["DataVoucher"].functions.voucherCore(2).call()[0] is not None
    reg2.goto(st.base + "/vouchers/2")
    assert "revoked" in reg2.inner_text("h1")
    shot(reg2, "regulator-05-revoked")


def test_customs_rejects_with_a_reason(stack: Stack) -> None:
    st = stack
    a = st.market.accounts
    page, _ = signed(st, "holder_cn")
    page.fill("#request-clearance input[name=asset_id]", "3")
    page.fill("#request-clearance input[name=destination]", "MO")
    page.fill("#request-clearance input[name=recipient]", a["holder_mo"].address)
    page.fill("#request-clearance input[name=purpose]", "Design review with Macau Logistics")
    page.click("#request-clearance button.go")
    wait_confirmed(page)
    officer, _ = signed(st, "customs")
    case = str(officer.locator("#customs-queue tr[id^=clearance-]").last.get_attribute("id"))[10:]
    officer.fill(f"#reject-{case} input[name=reason]", "important data: no export")
    officer.click(f"#reject-{case} button.go")
    wait_confirmed(officer)
    assert officer.locator(f"#clearance-{case}").count() == 0
    # the list page (pages slice) shows the case as rejected; its page shows customs the reason
    officer.goto(st.base + "/clearances?status=rejected&lang=en")
    assert officer.locator(f"#clearance-{case}").count() == 1
    officer.goto(st.base + f"/clearances/{case}")
    assert "important data: no export" in officer.inner_text("#clearance")
    shot(officer, "customs-05-rejected")


def test_issue_a_voucher_and_revoke_a_clearance(stack: Stack) -> None:
    st = stack
    a = st.market.accounts
    page, _ = signed(st, "holder_cn")
    # asset 3 (enterprise data held by holder_cn): its holder issues over it
    page.fill("#issue-voucher input[name=asset_id]", "3")
    page.fill("#issue-voucher input[name=to]", a["holder_cn"].address)
    page.fill("#issue-voucher input[name=scope]", "design review, internal use")
    page.click("#issue-voucher button.go")
    tx = wait_confirmed(page)
    receipt = st.w3.eth.get_transaction_receipt(tx)  # type: ignore[arg-type]
    issued = st.market.contracts["DataVoucher"].events.VoucherIssued().process_receipt(receipt)
    new_id = int(issued[0]["args"]["voucherId"])
    page.wait_for_selector(f"#voucher-{new_id}")
    shot(page, "holder-05-issued")
    # over an asset it does not hold: refused, decoded, nothing sent
    page.fill("#issue-voucher input[name=asset_id]", "1")
    page.fill("#issue-voucher input[name=to]", a["holder_cn"].address)
    page.fill("#issue-voucher input[name=scope]", "not mine")
    page.click("#issue-voucher button.go")
    status = page.wait_for_selector("#issue-voucher .status[data-state='refused']")
    assert "may not issue vouchers over asset 1" in status.inner_text(), status.inner_text()

    # withdraw a user: bank_cn's authorisation on voucher 1 (the Foshan pilot) ends
    user_page, _ = signed(st, "bank_cn")
    assert user_page.locator("#usable-1").count() == 1
    page.goto(st.base + "/me")
    page.fill("#authorize-1 input[name=user]", a["bank_cn"].address)
    page.select_option("#authorize-1 select[name=allowed]", "false")
    page.click("#authorize-1 button.go")
    wait_confirmed(page)
    assert st.market.contracts["DataVoucher"].functions.isAuthorisedUser(1, a["bank_cn"].address).call() is False
    user_page.goto(st.base + "/me")
    assert user_page.locator("#usable-1").count() == 0

    officer, _ = signed(st, "customs")
    row = officer.locator("#approved-clearances tr[id^=approved-]").last
    case = str(row.get_attribute("id"))[9:]
    officer.fill(f"#revoke-clearance-{case} input[name=reason]", "conditions breached")
    officer.click(f"#revoke-clearance-{case} button.go")
    wait_confirmed(officer)
    assert officer.locator(f"#approved-{case}").count() == 0
    shot(officer, "customs-06-revoked")


def test_the_wallet_pages_speak_the_browsers_language(stack: Stack) -> None:
    """A browser asking for zh-CN: the page and every text wallet.js builds (buttons, the session
    line's roles, the restriction verdict, what to do) come from the translated dictionary."""
    from gateway.web import fmt, i18n

    st = stack
    holder_address = owner(st, 1)
    who = next(k for k, acct in st.market.accounts.items() if acct.address == holder_address)
    page, _ = st.page(who, locale="zh-CN")
    page.goto(st.base + "/me")
    assert '<html lang="zh-Hans">' in page.content()
    assert page.inner_text("#wallet-connect") == "连接钱包"
    page, _ = sign_in(st, who, locale="zh-CN")
    session = page.inner_text("#wallet-session")
    hans = i18n.translations("zh_Hans")
    roles = [hans.gettext(fmt.ROLES[r]) for r in ("holder", "operator") if r in fmt.ROLES]
    assert any(r in session for r in roles), session
    assert "holder" not in session and "operator" not in session, session
    verdict = check_recipient(page, 1, _extra_account(17).address)
    code = int(str(verdict.get_attribute("data-code")))
    text = verdict.inner_text()
    frozen = verdict.query_selector(".frozen-reason")  # the regulator's own words, in any language
    if frozen is not None:
        text = text.replace(frozen.inner_text(), "")
    assert "受限" in text and hans.gettext(fmt.RESTRICTIONS[code]) in text, text
    assert "处理办法" in text, text
    assert not re.search(r"[A-Za-z]{4,} [a-z]{3,} [a-z]{3,}", text.replace(holder_address, "")), text  # no English sentence
    shot(page, "zh-holder-01-verdict")
