"""End to end, on anvil AND on geth (``node`` is parametrised: ``test_...[anvil]`` / ``[geth]``).

One market per node, built only through the SDK's public functions (``ledger.deploy.deploy_all``,
``Ledger`` and its typed clients): participants, an asset with its manifest, vouchers, a transfer,
a redeemed use, a settled trade. Then: the indexer follows the head into SQLite (a thread, never
restarted), the gateway app serves the events, the verifier proves them (header hashes and
receipts roots, chain vs. the served API), a signed ERC-2771 transfer goes through the gateway's
relay, and the ``dataledger`` CLI runs as a subprocess from another folder. On geth this also
covers: EIP-1559 fees over a non-zero base fee, geth's revert shape (``execution reverted`` with
``data``), an ``eth_getLogs`` block-range limit (tests/e2e/conftest.py) and geth's header fields.

The tests of one node share the market and run in file order (each adds to the chain).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, TypeVar

import pytest
from fastapi.testclient import TestClient
from web3 import Web3

from dataledger.dev import demo
from gateway.core.config import Settings
from gateway.indexer import metrics
from gateway.indexer.store import make_engine, migrate
from gateway.indexer.sync import Indexer, IndexerConfig
from gateway.verify import Node, verify_history
from gateway.verify import receipts as rc
from gateway.verify.sources import HttpSource
from ledger.chain import Ledger
from ledger.contracts.models import RightType, Role, Side, SourceType, hash32
from ledger.deploy import deploy_all, deployment_record, write_deployment
from ledger.deployment import Deployment
from ledger.errors import ContractRevert, TxError
from ledger.ipfs import open_store
from ledger.tx import FeePolicy, TxSender
from tests.e2e.conftest import DevNode
from tests.gateway.api_fixtures import DOMAIN, bearer, login

REPO_ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")

#: the demo participants this market registers (dataledger.dev.demo.PARTICIPANTS keys)
MEMBERS = ("authority", "exchange", "holder_cn", "bank_cn", "holder_sg")
PRICE = 80_000_00
YEAR = 365 * 24 * 3600


def together(*calls: Callable[[], T]) -> list[T]:
    """Run independent SDK calls concurrently (one block for all of them on geth, not one each)."""
    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(c) for c in calls]
        return [f.result() for f in futures]


@dataclass
class Market:
    node: DevNode
    w3: Web3
    state_dir: Path
    record: dict[str, Any]
    db_url: str
    ledgers: dict[str, Ledger]
    ids: dict[str, int] = field(default_factory=dict)
    tx: dict[str, str] = field(default_factory=dict)
    indexer: Optional[Indexer] = None
    indexer_error: list[BaseException] = field(default_factory=list)
    range_shrinks: float = 0.0

    def address(self, key: str) -> str:
        return self.ledgers[key].address

    def head(self) -> int:
        return int(self.w3.eth.block_number)

    def wait_indexed(self, block: int, timeout: float = 60.0) -> None:
        """Wait until the FOLLOWING indexer (never re-run) has committed ``block``."""
        deadline = time.monotonic() + timeout
        while True:
            assert not self.indexer_error, f"the indexer thread died: {self.indexer_error[0]!r}"
            assert self.indexer is not None
            state = self.indexer.state
            if state is not None and state.last_block >= block:
                return
            assert time.monotonic() < deadline, f"indexer did not reach block {block} within {timeout}s"
            time.sleep(0.1)


def seed(m: Market) -> None:
    """A small market through the SDK's typed clients (see the module docstring)."""
    led = m.ledgers
    people = {p.key: p for p in demo.PARTICIPANTS}
    now = led["authority"].now()

    # organisations (the authority registers each; each officer then adds its own account)
    together(*[lambda k=k: led["authority"].participants.register_organisation(
        demo.org_id(people[k].credit_code), people[k].jurisdiction, people[k].roles, m.address(k))
        for k in MEMBERS])
    together(*[lambda k=k: led[k].participants.add_account(
        demo.org_id(people[k].credit_code), m.address(k), people[k].roles) for k in MEMBERS])

    # an asset with its DCAT manifest in the local IPFS store; licence, payment tokens, exchange fee
    store = open_store(str(m.state_dir / "ipfs"))
    holder = people["holder_cn"]
    body = demo._manifest_bytes(store, "Production-line sensor telemetry", "CNC line telemetry, 1 Hz.",
                                holder.organisation, holder.credit_code, 2, "enterprise", ["iot"])
    cid = store.add(body)
    registered, *_ = together(
        lambda: led["holder_cn"].assets.register(cid, demo.sha256(body), 2, SourceType.ENTERPRISE),
        lambda: led["authority"].participants.set_licence_expiry(m.address("exchange"), now + YEAR),
        lambda: led["authority"].token.mint(m.address("bank_cn"), 10 * PRICE),
        lambda: led["authority"].settlement.set_exchange_fee(m.address("exchange"), 100),
    )
    asset = int(registered.value)

    # vouchers: one to transfer and redeem, one to trade, one to move through the relay
    issued = together(*[lambda s=s: led["holder_cn"].vouchers.issue(
        m.address("holder_cn"), asset, RightType.USE, s, now, now + YEAR, 10, True)
        for s in ("predictive maintenance", "quality analytics", "energy audit")],
        lambda: led["bank_cn"].token.approve(led["bank_cn"].settlement.address, 2**256 - 1))
    v_use, v_trade, v_relay = (int(r.value) for r in issued[:3])

    transfer, _ = together(
        lambda: led["holder_cn"].vouchers.transfer(m.address("bank_cn"), v_use),
        lambda: led["holder_cn"].vouchers.approve_operator(led["holder_cn"].settlement.address))

    deadline = led["exchange"].now() + 7 * 24 * 3600
    exchange = m.address("exchange")
    sell = led["holder_cn"].settlement.sign(led["holder_cn"].settlement.make_order(
        Side.SELL, v_trade, PRICE, exchange, deadline))
    buy = led["bank_cn"].settlement.sign(led["bank_cn"].settlement.make_order(
        Side.BUY, v_trade, PRICE, exchange, deadline))
    used, settled = together(
        lambda: led["bank_cn"].vouchers.redeem(v_use, "SME loan decision #2026-118"),
        lambda: led["exchange"].settlement.settle(sell, buy))
    m.ids.update(asset=asset, v_use=v_use, v_trade=v_trade, v_relay=v_relay, use_number=int(used.value))
    m.tx.update(transfer=transfer.tx_hash, redeem=used.tx_hash, settle=settled.tx_hash)


@pytest.fixture(scope="module")
def market(node: DevNode, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Market]:
    tmp = tmp_path_factory.mktemp(f"e2e-{node.kind}")
    state_dir = tmp / "state"
    state_dir.mkdir()
    accounts = demo.demo_accounts()
    base = Ledger.connect(node.rpc_url, chain_id=node.chain_id, state_dir=state_dir)
    contracts = deploy_all(base.w3, accounts["authority"])  # signed locally, fees priced from the node
    record = deployment_record(base.w3, contracts)
    write_deployment(state_dir, record)
    root = Ledger.connect(node.rpc_url, chain_id=node.chain_id, state_dir=state_dir)
    ledgers = {k: root.as_account(accounts[k]) for k in MEMBERS}  # one nonce manager for all
    m = Market(node, root.w3, state_dir, record, f"sqlite:///{tmp / 'gateway.db'}", ledgers)
    seed(m)

    # the indexer starts after the seeding (a backfill, with geth's range limit) and then follows
    migrate(m.db_url)
    engine = make_engine(m.db_url)
    shrinks_before = metrics.snapshot()["counters"].get("range_shrinks", 0)
    m.indexer = Indexer(node.rpc_url, engine, Deployment.from_dict(record).entries(), IndexerConfig(poll_interval=0.1))

    def follow() -> None:
        assert m.indexer is not None
        try:
            m.indexer.run(follow=True)
        except BaseException as exc:  # reported by wait_indexed
            m.indexer_error.append(exc)

    thread = threading.Thread(target=follow, name=f"e2e-indexer-{node.kind}", daemon=True)
    thread.start()
    try:
        m.wait_indexed(m.head())
        m.range_shrinks = metrics.snapshot()["counters"].get("range_shrinks", 0) - shrinks_before
        yield m
    finally:
        m.indexer.stop()
        thread.join(timeout=30)
        m.indexer.close()
        engine.dispose()
    assert not thread.is_alive(), "the indexer did not stop"


def _funded_relayer(market: Market) -> str:
    """A fresh relayer key, paid 10 ether by an account of the default mnemonic the market does not
    sign with (index 15, so no nonce manager of the market is disturbed)."""
    from eth_account import Account

    from dataledger.dev.anvil import DEFAULT_MNEMONIC

    Account.enable_unaudited_hdwallet_features()
    payer = Account.from_mnemonic(DEFAULT_MNEMONIC, account_path="m/44'/60'/0'/0/15")
    relayer = Account.create()
    w3 = market.w3
    base = int(w3.eth.get_block("latest")["baseFeePerGas"] or 0)
    tx = {"to": relayer.address, "value": 10 * 10**18, "gas": 21_000, "nonce": w3.eth.get_transaction_count(payer.address),
          "chainId": w3.eth.chain_id, "maxFeePerGas": 2 * base + 10**9, "maxPriorityFeePerGas": 10**9, "type": 2}
    tx_hash = w3.eth.send_raw_transaction(payer.sign_transaction(tx).raw_transaction)
    assert w3.eth.wait_for_transaction_receipt(tx_hash, timeout=60)["status"] == 1
    return "0x" + bytes(relayer.key).hex()


@pytest.fixture(scope="module")
def client(market: Market) -> Iterator[TestClient]:
    from gateway.main import create_app

    # configured as a production gateway must be off the local chain 31337 (geth's dev chain is 1337):
    # its own relayer key (funded here, never a public dev key), a long secret, the sign-in domain and URI
    relayer = _funded_relayer(market)
    settings = Settings(RPC_URL=market.node.rpc_url, CHAIN_ID=market.node.chain_id, DATABASE_URL=market.db_url,
                        IPFS_API=None, IPFS_STORE_DIR=market.state_dir / "ipfs", STATE_DIR=market.state_dir,
                        SESSION_SECRET="e2e-secret-" + "x" * 32, SIWE_DOMAIN=DOMAIN, SIWE_URI=f"https://{DOMAIN}/",
                        RELAYER_KEY=relayer, RATE_LIMIT_ENABLED=False)
    with TestClient(create_app(settings)) as c:
        yield c


# ---------------------------------------------------------------- the market and the node


def test_market_seeded_through_sdk(market: Market) -> None:
    led = market.ledgers["bank_cn"]
    ids = market.ids
    assert led.participants.is_active(market.address("holder_sg"))
    assert led.participants.has_roles(market.address("exchange"), Role.EXCHANGE)
    assert led.assets.asset(ids["asset"]).holder == market.address("holder_cn")
    assert led.vouchers.owner_of(ids["v_use"]) == market.address("bank_cn")
    assert led.vouchers.owner_of(ids["v_trade"]) == market.address("bank_cn")  # bought
    assert led.vouchers.owner_of(ids["v_relay"]) == market.address("holder_cn")
    assert ids["use_number"] == 1
    fee = PRICE * 100 // 10_000
    assert led.token.balance_of(market.address("holder_cn")) == PRICE - fee
    assert led.token.balance_of(market.address("exchange")) == fee


def test_fees_priced_from_the_node(market: Market) -> None:
    """Every SDK transaction is EIP-1559, its fee cap covering the (non-zero) base fee of its block;
    a transaction priced at zero is refused by the node with a clear TxError and costs no nonce."""
    w3 = market.w3
    for name, tx_hash in market.tx.items():
        tx = w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
        block = w3.eth.get_block(tx["blockNumber"])
        base = int(block["baseFeePerGas"])
        assert base > 0, f"{market.node.kind}: block {block['number']} has no base fee"
        assert int(tx["type"]) == 2, f"{name}: type {tx['type']}"
        assert int(tx["maxFeePerGas"]) >= base
        receipt = w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        assert int(receipt["effectiveGasPrice"]) >= base
    sg = market.ledgers["holder_sg"]
    nonce = w3.eth.get_transaction_count(Web3.to_checksum_address(sg.address), "pending")
    zero = TxSender(w3, sg.require_account(), fees=FeePolicy("zero"))
    with pytest.raises(TxError, match="node rejected the transaction"):
        zero.send(sg.token.build("approve", market.address("bank_cn"), 1))
    assert w3.eth.get_transaction_count(Web3.to_checksum_address(sg.address), "pending") == nonce
    sg.token.approve(market.address("bank_cn"), 1)  # the normal path still works with that nonce
    assert w3.eth.get_transaction_count(Web3.to_checksum_address(sg.address), "latest") == nonce + 1


def test_custom_error_with_values_decodes(market: Market) -> None:
    """A custom error with values decodes the same on both nodes: when the SDK simulates (eth_estimateGas),
    from a view (eth_call), and when a mined transaction reverted (replayed at its block)."""
    sg = market.ledgers["holder_sg"]
    voucher_id = market.ids["v_relay"]
    with pytest.raises(ContractRevert) as estimated:
        sg.vouchers.redeem(voucher_id, "not mine")
    assert estimated.value.name == "NotAuthorisedUser", str(estimated.value)
    owner = market.address("holder_cn")
    assert estimated.value.args_ == {"voucherId": voucher_id, "user": sg.address, "holder": owner}
    assert estimated.value.contract == "DataVoucher" and estimated.value.tx_hash is None

    # a view that reverts with a value (eth_call's error shape)
    with pytest.raises(ContractRevert) as viewed:
        sg.vouchers.call("ownerOf", 10**9)
    assert viewed.value.name == "ERC721NonexistentToken" and viewed.value.args_ == {"tokenId": 10**9}

    # mined with an explicit gas limit (no simulation first): status 0, reason replayed
    tx = sg.vouchers.build("redeem", voucher_id, hash32("not mine either"))
    nonce = market.w3.eth.get_transaction_count(Web3.to_checksum_address(sg.address), "pending")
    with pytest.raises(ContractRevert) as mined:
        sg.sender.send({**tx, "gas": 200_000}, "DataVoucher")
    assert mined.value.name == "NotAuthorisedUser"
    assert mined.value.args_ == {"voucherId": voucher_id, "user": sg.address, "holder": owner}
    assert mined.value.tx_hash is not None
    receipt = market.w3.eth.get_transaction_receipt(mined.value.tx_hash)  # type: ignore[arg-type]
    assert int(receipt["status"]) == 0
    assert market.w3.eth.get_transaction_count(Web3.to_checksum_address(sg.address), "latest") == nonce + 1


def test_headers_and_receipts_hash_as_the_node(market: Market) -> None:
    """The verifier's header RLP reproduces every block hash of the market (geth adds Cancun and
    Prague fields: blob gas, parent beacon root, requestsHash) and the receipts roots."""
    node = Node(market.node.rpc_url)
    try:
        start = min(int(c["deployBlock"]) for c in market.record["contracts"].values())
        numbers = list(range(start, market.head() + 1))
        headers = node.batch([("eth_getBlockByNumber", [hex(n), False]) for n in numbers])
        receipts = node.batch([("eth_getBlockReceipts", [hex(n)]) for n in numbers])
    finally:
        node.close()
    with_txs = 0
    for header, block_receipts in zip(headers, receipts):
        assert rc.header_hash(header) == header["hash"], f"block {int(header['number'], 16)}"
        assert block_receipts is not None, "eth_getBlockReceipts is not served"
        assert rc.receipts_root(block_receipts) == header["receiptsRoot"]
        with_txs += bool(block_receipts)
    assert with_txs >= 10
    if market.node.kind == "geth":
        last = headers[-1]
        assert last.get("requestsHash") and last.get("parentBeaconBlockRoot") and last.get("withdrawalsRoot")
        # the Prague field is part of the hash: leaving it out gives another hash
        without = {k: v for k, v in last.items() if k != "requestsHash"}
        assert rc.header_hash(without) != last["hash"]


# ---------------------------------------------------------------- indexer, API, relay, CLI


def test_indexer_follows_the_head(market: Market) -> None:
    """The indexer thread started after the seeding is still running and keeps up with new blocks;
    on geth it had to shrink its eth_getLogs range to pass the node's limit."""
    led = market.ledgers["holder_cn"]
    # a CN user of a CN voucher (a foreign user needs a clearance: UseRestricted, issue 11 #4)
    result = led.vouchers.authorise_user(market.ids["v_relay"], market.address("bank_cn"), True)
    market.wait_indexed(result.block_number)
    if market.node.kind == "geth":
        assert market.range_shrinks >= 1
        with pytest.raises(Exception, match="exceed maximum block range"):
            market.w3.eth.get_logs({"fromBlock": 0, "toBlock": market.node.range_limit + 1})


def test_api_serves_the_events(market: Market, client: TestClient) -> None:
    ids = market.ids
    market.wait_indexed(market.head())
    voucher = client.get(f"/v1/vouchers/{ids['v_use']}")
    assert voucher.status_code == 200, voucher.text
    assert voucher.json()["holder"] == market.address("bank_cn").lower()
    events = client.get(f"/v1/vouchers/{ids['v_use']}/provenance").json()["events"]
    names = [e["event"] for e in events]
    assert "VoucherIssued" in names and "VoucherUsed" in names
    assert market.tx["redeem"] in {e["tx_hash"] for e in events}
    traded = client.get(f"/v1/vouchers/{ids['v_trade']}/provenance").json()["events"]
    assert market.tx["settle"] in {e["tx_hash"] for e in traded}
    assert "TradeSettled" in {e["event"] for e in traded}
    asset = client.get(f"/v1/assets/{ids['asset']}")
    assert asset.status_code == 200 and asset.json()["holder"] == market.address("holder_cn").lower()
    health = client.get("/health").json()
    assert health["chain_id"] == market.node.chain_id


def test_relay_forwards_a_signed_transfer(market: Market, client: TestClient) -> None:
    """A holder signs an ERC-2771 transfer; the gateway's relayer pays for it on this node."""
    holder = market.ledgers["holder_cn"]
    voucher_id = market.ids["v_relay"]
    request = holder.vouchers.transfer_request(market.address("bank_cn"), voucher_id, holder.now() + 3600)
    token = login(client, holder.require_account(), market.node.chain_id)
    reply = client.post("/v1/relay/forward", json=request.to_dict(), headers=bearer(token))
    assert reply.status_code == 200, reply.text
    tx_hash = reply.json()["tx_hash"]
    deadline = time.monotonic() + 60
    while True:  # the following indexer picks it up; the gateway reports it indexed
        state = client.get(f"/v1/tx/{tx_hash}").json()["state"]
        if state == "indexed":
            break
        assert time.monotonic() < deadline, f"relayed tx {tx_hash} still {state}"
        time.sleep(0.2)
    assert client.get(f"/v1/vouchers/{voucher_id}").json()["holder"] == market.address("bank_cn").lower()
    receipt = market.w3.eth.get_transaction_receipt(tx_hash)
    assert receipt["from"] != holder.address  # the relayer paid
    # the same signed request again: refused before any gas is spent
    again = client.post("/v1/relay/forward", json=request.to_dict(), headers=bearer(token))
    assert again.status_code == 409, again.text
    market.tx["relay"] = tx_hash


def _cli(market: Market, cwd: Path, *args: str, key: Optional[str] = None,
         state_dir: Optional[Path] = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("RPC_URL", "CHAIN_ID", "DATALEDGER_ACCOUNT", "DATALEDGER_PRIVATE_KEY")}
    if key is not None:
        env["DATALEDGER_PRIVATE_KEY"] = key
    exe = Path(sys.executable).parent / "dataledger"
    state = state_dir or market.state_dir
    return subprocess.run([str(exe), "--rpc", market.node.rpc_url, "--state-dir", str(state), *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_cli_from_another_folder(market: Market, tmp_path: Path) -> None:
    """The installed CLI, run elsewhere than the repository, reads, sends and refuses on this node."""
    assert not str(tmp_path).startswith(str(REPO_ROOT))
    status = _cli(market, tmp_path, "--json", "status")
    assert status.returncode == 0, status.stderr
    assert f'"chainId": {market.node.chain_id}' in status.stdout
    voucher_id = market.ids["v_use"]
    shown = _cli(market, tmp_path, "voucher", "show", str(voucher_id), "--json")
    assert shown.returncode == 0 and market.address("bank_cn") in shown.stdout, shown.stdout + shown.stderr
    used = market.ledgers["bank_cn"].vouchers.voucher(voucher_id).uses
    bank_key = "0x" + bytes(market.ledgers["bank_cn"].require_account().key).hex()
    redeemed = _cli(market, tmp_path, "voucher", "redeem", str(voucher_id), "--purpose", "credit scoring",
                    key=bank_key)
    assert redeemed.returncode == 0, redeemed.stderr
    assert f"use {used + 1} of voucher {voucher_id} redeemed" in redeemed.stdout
    sg_key = "0x" + bytes(market.ledgers["holder_sg"].require_account().key).hex()
    holder_sg = market.address("holder_sg")
    refused = _cli(market, tmp_path, "voucher", "redeem", str(market.ids["v_use"]), "--purpose", "x", key=sg_key)
    assert refused.returncode == 1
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "NotAuthorisedUser" in lines[0] and holder_sg in lines[0], refused.stderr


def test_cli_deploys_and_seeds_the_demo_market(market: Market, tmp_path: Path) -> None:
    """`dataledger deploy` and `dataledger seed-demo` (dataledger.dev.demo, every transaction signed locally
    with the demo keys: no node-held accounts) work on this node from a fresh folder."""
    authority_key = "0x" + bytes(market.ledgers["authority"].require_account().key).hex()
    state = tmp_path / "demo-state"
    deployed = _cli(market, tmp_path, "deploy", "--json", key=authority_key, state_dir=state)
    assert deployed.returncode == 0, deployed.stderr
    seeded = _cli(market, tmp_path, "seed-demo", state_dir=state)
    assert seeded.returncode == 0, seeded.stderr
    assert "12 participants, 3 datasets, 4 vouchers, 1 use, 1 clearance, 2 trades" in seeded.stdout
    shown = _cli(market, tmp_path, "voucher", "show", "4", "--json", state_dir=state)
    assert shown.returncode == 0 and market.address("bank_cn") in shown.stdout, shown.stdout + shown.stderr


def test_verifier_verifies_the_served_history(market: Market, client: TestClient, tmp_path: Path) -> None:
    """Chain vs. what the API serves, every block's header hash and receipts root checked, over
    the whole market (relay and CLI included); the CLI verifier prints VERIFIED against the database."""
    market.wait_indexed(market.head())
    source = HttpSource("http://gateway.test", client=client)
    for kind, subject in (("voucher", market.ids["v_use"]), ("voucher", market.ids["v_trade"]),
                          ("voucher", market.ids["v_relay"]), ("asset", market.ids["asset"])):
        verdict = verify_history(market.node.rpc_url, kind, subject, source=source,
                                 contracts=Deployment.from_dict(market.record).entries(), state_dir=market.state_dir,
                                 chain_id=market.node.chain_id)
        assert verdict.ok, (verdict.summary, verdict.problems)
        assert verdict.counts["chain"] == verdict.counts["served"] == verdict.counts["ok"] > 0
        assert verdict.blocks and all(b.header_hash_ok and b.receipts_root_ok for b in verdict.blocks)
    relayed = verify_history(market.node.rpc_url, "voucher", market.ids["v_relay"], source=source,
                             contracts=Deployment.from_dict(market.record).entries(), state_dir=market.state_dir)
    assert market.tx["relay"] in {e.tx_hash for e in relayed.events}
    cli = _cli(market, tmp_path, "verify", "voucher", str(market.ids["v_trade"]), "--database-url", market.db_url)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert "VERIFIED" in cli.stdout
    api = client.get(f"/v1/vouchers/{market.ids['v_use']}/verification")
    assert api.status_code == 200 and api.json()["ok"] is True, api.text


def _listening(session: int) -> set[tuple[str, int]]:
    """(address, port) of every listening TCP socket of the processes in ``session`` (from /proc)."""
    inodes: set[str] = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[3]) != session:  # field 6: session id
                continue
            for fd in (proc / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
        except (OSError, ValueError, IndexError):
            continue
    found: set[tuple[str, int]] = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        for line in Path(table).read_text().splitlines()[1:]:
            cols = line.split()
            if cols[3] != "0A" or cols[9] not in inodes:  # 0A: LISTEN
                continue
            addr_hex, port_hex = cols[1].split(":")
            raw = bytes.fromhex(addr_hex)
            if width == 8:
                address = ".".join(str(b) for b in raw[::-1])
            else:
                address = ":".join(raw[i:i + 4][::-1].hex() for i in range(0, 16, 4))
            found.add((address, int(port_hex, 16)))
    return found


def test_node_is_loopback_only(market: Market) -> None:
    """The node listens on loopback only: its JSON-RPC port and nothing else (no p2p)."""
    process = market.node.handle.process
    assert process is not None and process.poll() is None
    listening = _listening(process.pid)  # started with start_new_session: session id = pid
    port = int(market.node.rpc_url.rsplit(":", 1)[1])
    assert ("127.0.0.1", port) in listening
    assert {a for a, _ in listening} == {"127.0.0.1"}, listening
    if market.node.kind == "geth":
        assert listening == {("127.0.0.1", port)}, listening
