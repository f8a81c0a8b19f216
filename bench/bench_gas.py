"""Gas of every state-changing function of every contract, and settlement against a bare DvP.

    .venv/bin/python -m bench gas        # or: make bench

Starts its own anvil, deploys the suite (ledger.deploy.deploy_all) and the bare baseline
(BareVoucher = plain OZ ERC-721, BareToken = plain OZ ERC-20, BareDvP = EIP-712 orders of the original
10-field type and the same nonce bitmap, with no compliance/fees/order terms), registers the market's participants, and reads ``gasUsed``
from the receipt of one call of every non-view function of every contract (the run fails if one
is missing). Then it compares settlement with the baseline measured in the same run:

* compliant single settlement / bare single settlement            goal <= 1.5x
* compliant batch of 50 (gas per trade) / compliant single         goal <= 0.75x

and prints PASS/MISS for each, with a per-call profile (callTracer self-gas per contract and
function; SLOAD cold/warm, SSTORE, external calls from the opcode trace) of both single settlements.
"""

from __future__ import annotations

import statistics
import sys
from collections import Counter
from typing import Any, Optional

from eth_account import Account
from eth_account.messages import encode_typed_data
from web3 import Web3

from bench.report import Goal, check, report, run_main
from dataledger.dev.anvil import DEFAULT_MNEMONIC, AnvilNode
from ledger.artifacts import load_artifact
from ledger.deploy import deploy_all, deploy_contract
from tests.contracts.conftest import ORGS
from tests.contracts.helpers import REGISTRAR_ROLE, Roles, SourceType, b32, event, fresh_content, jur, org_id
from tests.contracts.trading import BARE_DVP, BUY, MAX_UINT, SELL, Order, forward_request, sign_order

Account.enable_unaudited_hdwallet_features()

GOAL_SINGLE = 1.5
GOAL_BATCH = 0.75
BATCH = 50
FEE_BPS = 100
DAY = 24 * 3600


class GasBench:
    def __init__(self, w3: Web3, accounts: list[Any]) -> None:
        self.w3 = w3
        self.accounts = accounts
        self.keys = {a.address: a for a in accounts}
        self.rows: list[tuple[str, str, int, str]] = []
        self.measured: set[tuple[str, str]] = set()
        self.nonce = 0
        self.chain_id = w3.eth.chain_id

    # ---------------------------------------------------------------- plumbing
    def send(self, fn: Any, sender: str, **tx: Any) -> Any:
        tx_hash = fn.transact({"from": sender, **tx})
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        if receipt["status"] != 1:
            raise RuntimeError(f"{fn.fn_name} reverted")
        return receipt

    def measure(self, contract: str, fn: Any, sender: str, note: str = "", label: Optional[str] = None) -> Any:
        receipt = self.send(fn, sender)
        name = label or fn.abi["name"] + "(" + ",".join(i["type"] for i in fn.abi["inputs"]) + ")"
        self.rows.append((contract, name, int(receipt["gasUsed"]), note))
        self.measured.add((contract, fn.abi["name"] + "(" + ",".join(i["type"] for i in fn.abi["inputs"]) + ")"))
        return receipt

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def order(self, maker: str, side: int, vid: int, token: str, exchange: str, price: int = 10_000,
              broker: str = "0x" + "00" * 20, commission: int = 0, **terms: int) -> Order:
        self.nonce += 1
        return Order(maker=maker, side=side, voucherId=vid, price=price, paymentToken=token, exchange=exchange,
                     broker=broker, commission=commission, nonce=self.nonce, deadline=self.now() + DAY, **terms)

    def trade(self, sell: Order, buy: Order, verifying: str, name: str) -> tuple[Any, ...]:
        bare = name == BARE_DVP  # the baseline keeps the original order type (no terms)
        return (sell.as_tuple(bare), sign_order(self.keys[sell.maker], sell, self.chain_id, verifying, name=name),
                buy.as_tuple(bare), sign_order(self.keys[buy.maker], buy, self.chain_id, verifying, name=name))


def _all_mutating(names: list[str]) -> set[tuple[str, str]]:
    out = set()
    for name in names:
        for e in load_artifact(name)["abi"]:
            if e["type"] == "function" and e.get("stateMutability") not in ("view", "pure"):
                out.add((name, e["name"] + "(" + ",".join(i["type"] for i in e["inputs"]) + ")"))
    return out


# ====================================================================== profiling


def _self_gas(w3: Web3, tx_hash: Any, names: dict[str, str]) -> list[tuple[str, str, int, int]]:
    """callTracer frames as (depth-indented contract, function selector name, gas incl. children, self gas)."""
    trace = w3.provider.make_request("debug_traceTransaction", [tx_hash.to_0x_hex(), {"tracer": "callTracer"}])
    selectors: dict[str, str] = {}
    for name in set(names.values()):
        for e in load_artifact(name)["abi"]:
            if e["type"] == "function":
                sig = e["name"] + "(" + ",".join(_t(i) for i in e["inputs"]) + ")"
                selectors["0x" + Web3.keccak(text=sig)[:4].hex()] = e["name"]
    out: list[tuple[str, str, int, int]] = []

    def walk(frame: dict[str, Any], depth: int) -> None:
        to = frame.get("to", "").lower()
        gas = int(frame["gasUsed"], 16)
        subs = frame.get("calls") or []
        child = sum(int(s["gasUsed"], 16) for s in subs)
        label = names.get(to, "precompile ecrecover" if to == "0x" + "00" * 19 + "01" else to[:10])
        fn = selectors.get(frame.get("input", "")[:10], frame.get("input", "")[:10])
        out.append(("  " * depth + label, fn, gas, gas - child))
        for s in subs:
            walk(s, depth + 1)

    walk(trace["result"], 0)
    return out


def _t(param: dict[str, Any]) -> str:
    if param["type"].startswith("tuple"):
        return "(" + ",".join(_t(c) for c in param["components"]) + ")" + param["type"][5:]
    return str(param["type"])


def _opcodes(w3: Web3, tx_hash: Any) -> dict[str, Any]:
    """SLOAD cold/warm, SSTORE, external calls, LOGs and their gas from the opcode trace."""
    trace = w3.provider.make_request(
        "debug_traceTransaction",
        [tx_hash.to_0x_hex(), {"disableStack": True, "disableMemory": True, "disableStorage": True}],
    )["result"]
    c: Counter[str] = Counter()
    g: Counter[str] = Counter()
    for log in trace["structLogs"]:
        op, cost = log["op"], int(log["gasCost"])
        if op == "SLOAD":
            kind = "SLOAD cold" if cost >= 2100 else "SLOAD warm"
            c[kind] += 1
            g[kind] += cost
        elif op == "TLOAD" or op == "TSTORE":
            c[op] += 1
            g[op] += cost
        elif op == "SSTORE":
            c["SSTORE"] += 1
            g["SSTORE"] += cost
        elif op in ("CALL", "STATICCALL", "DELEGATECALL"):
            c[op] += 1
        elif op.startswith("LOG"):
            c["LOG"] += 1
            g["LOG"] += cost
        elif op in ("KECCAK256",):
            c[op] += 1
            g[op] += cost
    return {"counts": dict(c), "gas": dict(g), "total": int(trace["gas"])}


# ====================================================================== the run


def run() -> dict[str, Any]:
    node = AnvilNode(accounts=20, extra_args=("--steps-tracing",))
    node.start()
    try:
        return _run(node)
    finally:
        node.stop()


def _run(node: AnvilNode) -> dict[str, Any]:
    w3 = Web3(Web3.HTTPProvider(node.rpc_url, request_kwargs={"timeout": 120}))
    accounts = [Account.from_mnemonic(DEFAULT_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}") for i in range(20)]
    b = GasBench(w3, accounts)
    admin = accounts[0].address
    c = deploy_all(w3, accounts[0])
    reg, assets, customs, fwd = c["ParticipantRegistry"], c["AssetRegistry"], c["DataCustoms"], c["LedgerForwarder"]
    voucher, token, settlement = c["DataVoucher"], c["PaymentToken"], c["TradeSettlement"]
    bare_nft = deploy_contract(w3, "BareVoucher", sender=accounts[0])
    bare_tok = deploy_contract(w3, "BareToken", sender=accounts[0])
    bare_dvp = deploy_contract(w3, "BareDvP", bare_nft.address, sender=accounts[0])

    # ---------------------------------------------------------------- participants (as the test market)
    addr: dict[str, str] = {}
    licence = b.now() + 365 * DAY
    for i, (name, (idx, uscc, j, allowed, roles, licensed)) in enumerate(ORGS.items()):
        account = accounts[idx].address
        officer = accounts[12].address if name == "holder_cn" else account
        oid = org_id(uscc)
        fn = reg.functions.registerOrganisation(oid, jur(j), allowed, officer)
        if i == len(ORGS) - 1:
            b.measure("ParticipantRegistry", fn, admin)
            b.measure("ParticipantRegistry", reg.functions.addAccount(oid, account, roles), officer)
        else:
            b.send(fn, admin)
            b.send(reg.functions.addAccount(oid, account, roles), officer)
        if licensed:
            f = reg.functions.setLicenceExpiry(account, licence)
            b.measure("ParticipantRegistry", f, admin) if name == "broker" else b.send(f, admin)
        addr[name] = account
    S, B, E, BR = addr["holder_cn"], addr["bank_cn"], addr["exchange"], addr["broker"]
    regulator, customs_acct, appraiser = addr["regulator"], addr["customs"], addr["appraiser"]
    spare, spare2 = accounts[13].address, accounts[14].address

    # bindHoldings runs once inside deploy_all: measured on a scratch registry
    scratch_reg = deploy_contract(w3, "ParticipantRegistry", admin, sender=accounts[0])
    b.measure("ParticipantRegistry", scratch_reg.functions.bindHoldings([assets.address, voucher.address]), admin,
              "once, at deployment (two sources)")

    # registry admin functions on a scratch organisation
    oid = org_id("BENCH-SCRATCH-ORG")
    b.send(reg.functions.registerOrganisation(oid, jur("CN"), Roles.HOLDER | Roles.BROKER | Roles.CUSTOMS, spare),
           admin)
    b.send(reg.functions.addAccount(oid, spare2, Roles.HOLDER), spare)
    b.measure("ParticipantRegistry", reg.functions.setOrganisationProfile(oid, bytes.fromhex("01551220" + "ab" * 32)),
              admin, "profile document CID (36-byte CIDv1)")
    b.measure("ParticipantRegistry", reg.functions.setAccountRoles(oid, spare2, Roles.HOLDER | Roles.CUSTOMS), spare,
              "non-licensed roles (licensed ones change through the registrar)")
    b.measure("ParticipantRegistry", reg.functions.setLicensedRoles(spare2, Roles.BROKER, licence), admin,
              "grant a licensed role with its licence")
    b.send(reg.functions.setLicensedRoles(spare2, 0, 0), admin)
    b.measure("ParticipantRegistry", reg.functions.suspendAccount(spare2, "bench"), admin)
    b.measure("ParticipantRegistry", reg.functions.reinstateAccount(spare2, "bench"), admin)
    b.measure("ParticipantRegistry", reg.functions.removeAccount(oid, spare2), spare,
              "asks the asset registry and the vouchers what it holds")
    b.measure("ParticipantRegistry", reg.functions.suspendOrganisation(oid, "bench"), admin)
    b.measure("ParticipantRegistry", reg.functions.reinstateOrganisation(oid, "bench"), admin)
    b.measure("ParticipantRegistry", reg.functions.setOfficer(oid, spare2), admin)
    b.measure("ParticipantRegistry", reg.functions.grantRole(REGISTRAR_ROLE, spare), admin)
    b.measure("ParticipantRegistry", reg.functions.revokeRole(REGISTRAR_ROLE, spare), admin)
    b.send(reg.functions.grantRole(REGISTRAR_ROLE, spare), admin)
    b.measure("ParticipantRegistry", reg.functions.renounceRole(REGISTRAR_ROLE, spare), spare)

    # ---------------------------------------------------------------- assets and customs
    def register(holder: str, level: int = 2, source: int = SourceType.ENTERPRISE, measure: bool = False) -> int:
        cid, digest = fresh_content()
        fn = assets.functions.registerAsset(cid, digest, level, int(source))
        r = b.measure("AssetRegistry", fn, holder, "36-byte CID") if measure else b.send(fn, holder)
        return int(event(assets, r, "AssetRegistered")["assetId"])

    asset = register(S, measure=True)
    cid, digest = fresh_content()
    b.measure("AssetRegistry", assets.functions.updateManifest(asset, cid, digest), S)
    b.measure("AssetRegistry", assets.functions.recordValuation(asset, 1_000_000, b"CNY", b32("income"), cid),
              appraiser)
    scratch = register(S)
    b.measure("AssetRegistry", assets.functions.freeze(scratch, "bench"), regulator)
    b.measure("AssetRegistry", assets.functions.unfreeze(scratch, "bench"), regulator)
    b.measure("AssetRegistry", assets.functions.revoke(scratch, "bench"), regulator)
    scratch_hash = assets.functions.manifestVersion(scratch, 0).call()[0]
    b.measure("AssetRegistry", assets.functions.releaseContentHash(scratch_hash, S, "bench"), admin,
              "revoked asset's hash, reserved for a claimant")
    r = b.measure("DataCustoms", customs.functions.requestClearance(asset, jur("HK"), addr["holder_hk"], cid), S)
    case = int(event(customs, r, "ClearanceRequested")["clearanceId"])
    b.measure("DataCustoms", customs.functions.approveClearance(case, b.now() + 30 * DAY, cid), customs_acct)
    b.measure("DataCustoms", customs.functions.revokeClearance(case, "bench"), regulator)
    r = b.send(customs.functions.requestClearance(asset, jur("MO"), "0x" + "00" * 20, cid), S)
    b.measure("DataCustoms", customs.functions.rejectClearance(int(event(customs, r, "ClearanceRequested")["clearanceId"]),
                                                               "bench"), customs_acct)

    # ---------------------------------------------------------------- vouchers
    def issue(to: str, measure: bool = False, note: str = "") -> int:
        now = b.now()
        fn = voucher.functions.issue(to, asset, 1, b"\x11" * 32, now, now + 365 * DAY, 10, True)
        r = b.measure("DataVoucher", fn, S, note) if measure else b.send(fn, S)
        return int(event(voucher, r, "VoucherIssued")["voucherId"])

    v1 = issue(S, True, "recipient already known to the registry; first voucher of the holder")
    v2 = issue(S)
    b.measure("DataVoucher", voucher.functions.transferFrom(S, B, v1), S, "holder to holder (CN, level 2)")
    b.measure("DataVoucher", voucher.functions.safeTransferFrom(B, S, v1), B, "to an EOA",
              label="safeTransferFrom(address,address,uint256)")
    b.measure("DataVoucher", voucher.functions.safeTransferFrom(S, B, v1, b""), S, "to an EOA",
              label="safeTransferFrom(address,address,uint256,bytes)")
    b.measure("DataVoucher", voucher.functions.safeTransferFromWithTerms(B, S, v1, 10, 0), B,
              "to an EOA, with order terms (uses left, validity end)")
    b.send(voucher.functions.safeTransferFrom(S, B, v1), S)
    b.measure("DataVoucher", voucher.functions.approve(S, v1), B)
    b.measure("DataVoucher", voucher.functions.setApprovalForAll(settlement.address, True), B)
    b.measure("DataVoucher", voucher.functions.authoriseUser(v1, addr["operator"], True), B,
              "domestic user (the transfer rule applies to the user)")
    b.measure("DataVoucher", voucher.functions.redeem(v1, b"\x22" * 32), B, "by the holder", label="redeem (holder)")
    b.measure("DataVoucher", voucher.functions.redeem(v1, b"\x22" * 32), addr["operator"],
              "by an authorised user", label="redeem (authorised user)")
    b.measure("DataVoucher", voucher.functions.freeze(v2, "bench"), regulator)
    regulator2 = accounts[15].address  # recovery takes two regulators
    b.send(reg.functions.addAccount(org_id(ORGS["regulator"][1]), regulator2, Roles.REGULATOR), regulator)
    b.measure("DataVoucher", voucher.functions.proposeRecovery(v2, B, "lost key"), regulator,
              "frozen voucher to a new key")
    b.measure("DataVoucher", voucher.functions.executeRecovery(v2, "confirmed"), regulator2,
              "by a second regulator")
    b.send(voucher.functions.proposeRecovery(v1, S, "lost key"), regulator)
    b.measure("DataVoucher", voucher.functions.cancelRecovery(v1, "key found"), regulator2)
    b.measure("DataVoucher", voucher.functions.unfreeze(v2, "bench"), regulator)
    b.measure("DataVoucher", voucher.functions.revoke(v2, "bench"), regulator)

    # ---------------------------------------------------------------- payment token
    b.measure("PaymentToken", token.functions.mint(S, 10**10), admin, "to a fresh balance")
    b.send(token.functions.mint(B, 10**10), admin)
    b.send(token.functions.mint(E, 1), admin)  # the exchange already holds a balance (steady state)
    b.measure("PaymentToken", token.functions.transfer(B, 1_000), S, "both balances non-zero")
    b.measure("PaymentToken", token.functions.approve(settlement.address, MAX_UINT), S)
    b.send(token.functions.approve(settlement.address, MAX_UINT), B)
    b.send(token.functions.approve(S, MAX_UINT), B)
    b.measure("PaymentToken", token.functions.transferFrom(B, S, 1_000), S, "infinite allowance")
    b.measure("PaymentToken", token.functions.transferFromMany(B, [S, E], [900, 100]), S,
              "two legs, infinite allowance (a settlement's seller + exchange legs)")
    b.measure("PaymentToken", token.functions.burn(1_000), S)
    owner_acct = accounts[7]  # holder_cn
    deadline = b.now() + DAY
    permit = encode_typed_data(
        domain_data={"name": "Data Settlement CNY", "version": "1", "chainId": b.chain_id,
                     "verifyingContract": token.address},
        message_types={"Permit": [{"name": "owner", "type": "address"}, {"name": "spender", "type": "address"},
                                  {"name": "value", "type": "uint256"}, {"name": "nonce", "type": "uint256"},
                                  {"name": "deadline", "type": "uint256"}]},
        message_data={"owner": owner_acct.address, "spender": E, "value": 5_000,
                      "nonce": token.functions.nonces(owner_acct.address).call(), "deadline": deadline},
    )
    sig = Account.sign_message(permit, owner_acct.key)
    b.measure("PaymentToken", token.functions.permit(owner_acct.address, E, 5_000, deadline, sig.v,
                                                      sig.r.to_bytes(32, "big"), sig.s.to_bytes(32, "big")), E,
              "submitted by the spender")

    # ---------------------------------------------------------------- settlement: compliant
    b.send(settlement.functions.setExchangeFee(E, FEE_BPS), admin)
    b.measure("TradeSettlement", settlement.functions.setExchangeFee(E, FEE_BPS), admin, "unchanged value")
    b.send(voucher.functions.setApprovalForAll(settlement.address, True), S)
    n_vouchers = 8 + BATCH + 4
    for_sale = [issue(S) for _ in range(n_vouchers)]
    # B already holds v1 (non-zero voucher balance); S holds many; E, S, B hold tokens.

    def compliant(vid: int, **kw: Any) -> tuple[Any, ...]:
        # as the SDK makes them: both orders cap the fee at the exchange's current fee; the buy order
        # commits to the voucher's uses left and validity end as read before signing
        core = voucher.functions.voucherCore(vid).call()
        sell = b.order(S, SELL, vid, token.address, E, broker=kw.get("sb", "0x" + "00" * 20),
                       commission=kw.get("sc", 0), maxFeeBps=FEE_BPS)
        buy = b.order(B, BUY, vid, token.address, E, broker=kw.get("bb", "0x" + "00" * 20),
                      commission=kw.get("bc", 0), maxFeeBps=FEE_BPS, minUsesLeft=core[6] - core[7],
                      minValidUntil=core[5])
        return b.trade(sell, buy, settlement.address, "dataledger-settlement")

    # warm-up: the first settlement touches the nonce words of S and B (zero -> non-zero)
    first = b.send(settlement.functions.settle(*compliant(for_sale.pop())), E)
    singles = []
    for _ in range(3):
        r = b.send(settlement.functions.settle(*compliant(for_sale.pop())), E)
        singles.append(int(r["gasUsed"]))
    compliant_tx = r["transactionHash"]
    single = int(statistics.median(singles))
    b.rows.append(("TradeSettlement", "settle(...)", single, f"fee {FEE_BPS} bps, no brokers; steady state"))
    b.measured.add(("TradeSettlement", "settle(tuple,bytes,tuple,bytes)"))
    with_brokers = b.send(settlement.functions.settle(*compliant(for_sale.pop(), sb=BR, sc=50, bb=BR, bc=50)), E)
    b.rows.append(("TradeSettlement", "settle(...) with 2 brokers", int(with_brokers["gasUsed"]),
                   "seller and buyer broker commissions (4 payment legs)"))
    b.send(settlement.functions.setExchangeFee(E, 0), admin)
    no_fee = b.send(settlement.functions.settle(*compliant(for_sale.pop())), E)
    b.rows.append(("TradeSettlement", "settle(...) fee 0", int(no_fee["gasUsed"]),
                   "one payment leg, as the bare DvP"))
    b.send(settlement.functions.setExchangeFee(E, FEE_BPS), admin)
    batch_trades = [compliant(for_sale.pop()) for _ in range(BATCH)]
    r = b.measure("TradeSettlement", settlement.functions.settleBatch(batch_trades), E,
                  f"{BATCH} trades, fee {FEE_BPS} bps", label=f"settleBatch({BATCH} trades)")
    batch_total = int(r["gasUsed"])
    b.measure("TradeSettlement", settlement.functions.cancelOrder(10**6), S, "fresh nonce word")
    b.measure("LedgerForwarder", fwd.functions.execute(
        forward_request(w3, fwd, accounts[8], settlement.address,
                        settlement.functions.cancelOrder(10**6 + 1)._encode_transaction_data())), E,
        "relayed TradeSettlement.cancelOrder")
    reqs = [forward_request(w3, fwd, accounts[i], settlement.address,
                            settlement.functions.cancelOrder(10**6 + 2)._encode_transaction_data()) for i in (7, 8)]
    b.measure("LedgerForwarder", fwd.functions.executeBatch(reqs, E), E, "2 relayed cancelOrder")
    b.measure("TradeSettlement", settlement.functions.transferOwnership(spare), admin)
    b.measure("TradeSettlement", settlement.functions.acceptOwnership(), spare)
    b.measure("TradeSettlement", settlement.functions.renounceOwnership(), spare)

    # ---------------------------------------------------------------- settlement: bare baseline, same accounts
    b.measure("BareToken", bare_tok.functions.mint(S, 10**10), S, "to a fresh balance")
    b.send(bare_tok.functions.mint(B, 10**10), B)
    b.measure("BareToken", bare_tok.functions.transfer(B, 1_000), S, "both balances non-zero")
    b.measure("BareToken", bare_tok.functions.approve(bare_dvp.address, MAX_UINT), S)
    b.send(bare_tok.functions.approve(bare_dvp.address, MAX_UINT), B)
    b.send(bare_tok.functions.approve(S, MAX_UINT), B)
    b.measure("BareToken", bare_tok.functions.transferFrom(B, S, 1_000), S, "infinite allowance")
    nft_ids = list(range(1, n_vouchers + 10))
    b.measure("BareVoucher", bare_nft.functions.mint(S, nft_ids[0]), S, "first token of the holder")
    for tid in nft_ids[1:]:
        b.send(bare_nft.functions.mint(S, tid), S)
    b.send(bare_nft.functions.mint(B, 10**6), B)
    b.measure("BareVoucher", bare_nft.functions.transferFrom(S, B, nft_ids[0]), S)
    b.measure("BareVoucher", bare_nft.functions.safeTransferFrom(B, S, nft_ids[0]), B,
              label="safeTransferFrom(address,address,uint256)")
    b.measure("BareVoucher", bare_nft.functions.safeTransferFrom(S, B, nft_ids[0], b""), S,
              label="safeTransferFrom(address,address,uint256,bytes)")
    b.measure("BareVoucher", bare_nft.functions.approve(S, nft_ids[0]), B)
    b.measure("BareVoucher", bare_nft.functions.setApprovalForAll(bare_dvp.address, True), S)
    b.send(bare_nft.functions.setApprovalForAll(bare_dvp.address, True), B)
    bare_ids = nft_ids[1:]

    def bare(tid: int) -> tuple[Any, ...]:
        sell = b.order(S, SELL, tid, bare_tok.address, E)
        buy = b.order(B, BUY, tid, bare_tok.address, E)
        return b.trade(sell, buy, bare_dvp.address, "dataledger-bare-dvp")

    b.send(bare_dvp.functions.settle(*bare(bare_ids.pop())), E)  # warm-up: nonce words
    bare_singles = []
    for _ in range(3):
        r = b.send(bare_dvp.functions.settle(*bare(bare_ids.pop())), E)
        bare_singles.append(int(r["gasUsed"]))
    bare_tx = r["transactionHash"]
    bare_single = int(statistics.median(bare_singles))
    b.rows.append(("BareDvP", "settle(...)", bare_single, "plain ERC-721 vs ERC-20; steady state"))
    b.measured.add(("BareDvP", "settle(tuple,bytes,tuple,bytes)"))
    r = b.measure("BareDvP", bare_dvp.functions.settleBatch([bare(bare_ids.pop()) for _ in range(BATCH)]), E,
                  f"{BATCH} trades", label=f"settleBatch({BATCH} trades)")
    bare_batch_total = int(r["gasUsed"])

    # ---------------------------------------------------------------- PaymentToken admin (delayed hand-over)
    bench_role = Web3.keccak(text="BENCH_ROLE")
    b.measure("PaymentToken", token.functions.grantRole(bench_role, spare), admin, "a role other than the admin's")
    b.measure("PaymentToken", token.functions.revokeRole(bench_role, spare), admin)
    b.send(token.functions.grantRole(bench_role, spare), admin)
    b.measure("PaymentToken", token.functions.renounceRole(bench_role, spare), spare)
    b.measure("PaymentToken", token.functions.changeDefaultAdminDelay(3 * DAY), admin)
    b.measure("PaymentToken", token.functions.rollbackDefaultAdminDelay(), admin)
    b.measure("PaymentToken", token.functions.beginDefaultAdminTransfer(spare), admin)
    b.measure("PaymentToken", token.functions.cancelDefaultAdminTransfer(), admin)
    b.send(token.functions.beginDefaultAdminTransfer(spare), admin)
    w3.provider.make_request("evm_increaseTime", [2 * DAY + 1])  # type: ignore[arg-type]
    w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    b.measure("PaymentToken", token.functions.acceptDefaultAdminTransfer(), spare, "after the 2-day delay")

    # ---------------------------------------------------------------- completeness
    wanted = _all_mutating(["ParticipantRegistry", "AssetRegistry", "DataCustoms", "LedgerForwarder", "DataVoucher",
                            "PaymentToken", "TradeSettlement", "BareVoucher", "BareToken", "BareDvP"])
    missing = sorted(f"{c}.{f}" for c, f in wanted - b.measured)

    # ---------------------------------------------------------------- goals
    ratio_single = single / bare_single
    per_trade = batch_total / BATCH
    ratio_batch = per_trade / single
    bare_per_trade = bare_batch_total / BATCH
    verdict_single = "PASS" if ratio_single <= GOAL_SINGLE else "MISS"
    verdict_batch = "PASS" if ratio_batch <= GOAL_BATCH else "MISS"

    names = {c_.address.lower(): n for n, c_ in c.items()}
    names.update({bare_nft.address.lower(): "BareVoucher", bare_tok.address.lower(): "BareToken",
                  bare_dvp.address.lower(): "BareDvP"})
    prof_compliant = _self_gas(w3, compliant_tx, names)
    prof_bare = _self_gas(w3, bare_tx, names)
    ops_compliant = _opcodes(w3, compliant_tx)
    ops_bare = _opcodes(w3, bare_tx)

    rows = [(cn, fn, gas, note) for cn, fn, gas, note in b.rows]
    rows += [
        ("ratio", "compliant single / bare single", round(ratio_single, 3), f"goal <= {GOAL_SINGLE}: {verdict_single}"),
        ("ratio", f"compliant batch-{BATCH} per trade / compliant single", round(ratio_batch, 3),
         f"goal <= {GOAL_BATCH}: {verdict_batch}"),
        ("ratio", "compliant single, fee 0 (one payment leg) / bare single",
         round(int(no_fee["gasUsed"]) / bare_single, 3), "reference: same number of payment legs"),
        ("ratio", f"bare batch-{BATCH} per trade / bare single", round(bare_per_trade / bare_single, 3), "reference"),
        ("ratio", "compliant batch per trade / bare batch per trade", round(per_trade / bare_per_trade, 3),
         "reference"),
    ]
    notes = [
        "gas = receipt gasUsed of one transaction (includes the 21,000 intrinsic gas and calldata).",
        "Like with like: both settlements use the same seller/buyer/submitting accounts and nonce bitmap; the "
        "compliant orders carry the 3 term fields (fee cap on both, the voucher's uses left and validity end on "
        "the buy order, as the SDK signs them), the bare DvP keeps the original 10-field order; before measuring, each side ran one warm-up settlement so the makers' nonce words are "
        "non-zero, the seller, buyer (and exchange) already hold token balances and the buyer already holds "
        "a voucher/NFT; each order uses a fresh (unused) nonce; single = median of 3 consecutive settlements.",
        f"Compliant settle: exchange fee {FEE_BPS} bps (two payment legs: seller and exchange), no brokers; "
        "the bare DvP has no fee (one leg). 'settle(...) fee 0' is the one-leg compliant variant.",
        f"Batch: one settleBatch of {BATCH} trades (same seller and buyer, distinct vouchers), gas / {BATCH}.",
        f"compliant single {single:,} vs bare single {bare_single:,}: {ratio_single:.3f}x (goal <= {GOAL_SINGLE}) "
        f"{verdict_single}",
        f"compliant batch per trade {per_trade:,.0f} vs compliant single {single:,}: {ratio_batch:.3f}x "
        f"(goal <= {GOAL_BATCH}) {verdict_batch}",
        "missing functions: " + (", ".join(missing) if missing else "none (every state-changing function measured)"),
    ]
    figures = {
        "compliant_single": single,
        "compliant_singles": singles,
        "compliant_first_settlement": int(first["gasUsed"]),
        "compliant_with_brokers": int(with_brokers["gasUsed"]),
        "compliant_fee0": int(no_fee["gasUsed"]),
        "compliant_batch_total": batch_total,
        "compliant_batch_per_trade": per_trade,
        "bare_single": bare_single,
        "bare_singles": bare_singles,
        "bare_batch_total": bare_batch_total,
        "bare_batch_per_trade": bare_per_trade,
        "ratio_single": ratio_single,
        "ratio_single_fee0": int(no_fee["gasUsed"]) / bare_single,
        "ratio_batch": ratio_batch,
        "goal_single": GOAL_SINGLE,
        "goal_batch": GOAL_BATCH,
        "verdict_single": verdict_single,
        "verdict_batch": verdict_batch,
        "missing_functions": missing,
        "profile_compliant_single": prof_compliant,
        "profile_bare_single": prof_bare,
        "opcodes_compliant_single": ops_compliant,
        "opcodes_bare_single": ops_bare,
    }
    goals = [
        Goal("gas: compliant single settlement / bare OZ ERC-721 + ERC-20 DvP", round(ratio_single, 3), GOAL_SINGLE,
             unit="x", shown=f"{single:,} / {bare_single:,} = {ratio_single:.3f}x"),
        Goal(f"gas: batch of {BATCH}, per trade / compliant single", round(ratio_batch, 3), GOAL_BATCH, unit="x"),
    ]
    report("gas", "Gas per state-changing function (receipt gasUsed)", ["contract", "function", "gas", "note"], rows,
           figures, notes, goals=goals)
    for title, prof, ops in (("compliant settle", prof_compliant, ops_compliant), ("bare settle", prof_bare, ops_bare)):
        print(f"\n  call profile of one {title} (gas incl. sub-calls / self):")
        for label, fn, gas, own in prof:
            print(f"    {label:<34} {fn:<28} {gas:>8,} {own:>8,}")
        print(f"  opcodes: {ops['counts']}  gas: {ops['gas']}")
    for verdict, text in ((verdict_single, f"single {ratio_single:.3f}x <= {GOAL_SINGLE}"),
                          (verdict_batch, f"batch {ratio_batch:.3f}x <= {GOAL_BATCH}")):
        print(f"  {verdict}: {text}")
    if missing:
        raise RuntimeError(f"functions not measured: {missing}")
    check("gas", goals)
    return figures


if __name__ == "__main__":
    sys.exit(run_main(run))
