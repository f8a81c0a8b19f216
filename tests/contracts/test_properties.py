"""Stateful property tests of the whole contract suite (hypothesis RuleBasedStateMachine on anvil).

One registered market (the ``trading`` fixture, plus approvals, funds, a licence grid and a few
assets and vouchers) is snapshotted once; every hypothesis example reverts to that snapshot, so
examples are independent and cheap. A Python model of the rules (docs/contracts-plan.md) predicts
the outcome -- success, or the exact custom error -- of every action; rules drive random issuance,
transfers (unregistered, suspended, licence-expired, cross-border HK/MO/SG, level >= 3 assets),
customs clearances, supervision, recovery, licence changes, time travel, uses and settlements
(single and batch, random prices, fees and broker commissions).

Checked at every step (invariants) or at every attempted move:

* vouchers: ``voucherCount`` equals the number issued (no burns); ``ownerOf`` of every voucher is
  the model's owner and the sum of ``balanceOf`` over every known account equals ``voucherCount``
  (so each voucher has exactly one owner); ``uses <= maxUses`` and uses/status match the model;
* ``detectTransferRestriction`` is called right before every transfer and settlement: it must equal
  the model's code, and view == 0 <=> the transaction succeeds (the other reasons a move can fail --
  approvals, signatures, nonces, deadlines, brokers, funds -- are chosen by the rules and predicted
  by the model, and a failing transaction is also sent and must be mined with status 0);
* payment: in every settlement the buyer pays exactly price + its broker's commission and the
  seller, exchange and brokers receive exactly that (sum of deltas = 0); ``totalSupply`` changes
  only by mints and burns and equals the sum of all balances.

Transactions go over raw JSON-RPC (httpx, batched reads) because web3's middleware costs ~20 ms
per transaction; encodings come from the shipped ABIs, errors decode through tests.contracts.helpers.

Time never causes flakiness: every time threshold the rules create (validity, licence, clearance,
deadline) lies on a grid ``T0 + k*HOUR + HALF`` and the clock only moves in whole hours, while the
wall-clock drift inside one example stays far below HALF (anvil restores the clock on revert).

``make test`` runs the short machine (derandomized, no database); ``make soak`` runs >= SOAK_STEPS
(default 10,000) steps and writes bench/results/soak.json.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import httpx
import pytest
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from web3 import Web3

from ledger.artifacts import load_artifact
from ledger.vocabulary import AssetStatus, ClearanceState, Restriction, Status, VoucherStatus
from tests.contracts.conftest import OFFICER_CN_INDEX, ORGS, OUTSIDER_INDEX
from tests.contracts.helpers import Roles, SourceType, _abi_type, decode_revert, fresh_content
from tests.contracts.trading import BUY, MAX_UINT, SELL, ZERO, Order, Trading, sign_order, trading

HOUR = 3600
HALF = HOUR // 2
DAY = 24 * HOUR
GAS = 8_000_000
ACTIVE, SUSPENDED = int(Status.ACTIVE), int(Status.SUSPENDED)
A_NONE, A_ACTIVE, A_FROZEN, A_REVOKED = (int(s) for s in AssetStatus)  # asset status
V_NONE, V_ACTIVE, V_FROZEN, V_REVOKED = (int(s) for s in VoucherStatus)  # voucher status
C_REQUESTED, C_APPROVED, C_REJECTED, C_REVOKED = (int(s) for s in list(ClearanceState)[1:])  # clearance state
NO_JUR = b"\x00\x00"
RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"

# restriction codes (DataVoucher)
(SUCCESS, SENDER_NOT_ACTIVE, RECIPIENT_NOT_ACTIVE, SENDER_LICENCE_EXPIRED, RECIPIENT_LICENCE_EXPIRED,
 VOUCHER_FROZEN, VOUCHER_REVOKED, VOUCHER_EXPIRED, VOUCHER_NOT_TRANSFERABLE, ASSET_FROZEN, ASSET_REVOKED,
 CLEARANCE_REQUIRED, UNKNOWN_VOUCHER) = (int(r) for r in Restriction)

Err = Optional[tuple[Any, ...]]  # None = success, else (error name, *expected args) (args may be partial)


# ====================================================================== raw JSON-RPC + ABI


class Rpc:
    """Minimal JSON-RPC client (keep-alive, batches) -- ~10x faster than web3 per transaction."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.client = httpx.Client(timeout=60)
        self._ids = itertools.count(1)

    def batch(self, calls: list[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
        if not calls:
            return []
        payload = [{"jsonrpc": "2.0", "id": next(self._ids), "method": m, "params": p} for m, p in calls]
        replies = self.client.post(self.url, json=payload).json()
        by_id = {r["id"]: r for r in replies}
        return [by_id[p["id"]] for p in payload]

    def transact(self, tx: dict[str, Any], timeout: float = 30) -> dict[str, Any]:
        """Send from an unlocked account; wait for the receipt (anvil automine is asynchronous)."""
        tx_hash = self("eth_sendTransaction", tx)
        deadline = time.monotonic() + timeout
        while True:
            receipt = self("eth_getTransactionReceipt", tx_hash)
            if receipt is not None:
                return dict(receipt)
            if time.monotonic() > deadline:
                raise TimeoutError(f"no receipt for {tx_hash}")
            time.sleep(0.002)

    def __call__(self, method: str, *params: Any) -> Any:
        reply = self.batch([(method, list(params))])[0]
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]


class Abi:
    """Function encoders of one deployed contract, from its shipped artifact."""

    def __init__(self, name: str, address: str) -> None:
        self.name = name
        self.address = address
        self.fns: dict[str, tuple[bytes, list[str], list[str]]] = {}
        for entry in load_artifact(name)["abi"]:
            if entry.get("type") != "function":
                continue
            ins = [_abi_type(i) for i in entry["inputs"]]
            outs = [_abi_type(o) for o in entry["outputs"]]
            sig = f"{entry['name']}({','.join(ins)})"
            spec = (keccak(text=sig)[:4], ins, outs)
            self.fns[sig] = spec
            self.fns.setdefault(entry["name"], spec)  # first overload by bare name

    def data(self, fn: str, *args: Any) -> str:
        selector, ins, _ = self.fns[fn]
        return "0x" + (selector + abi_encode(ins, list(args))).hex()

    def decode(self, fn: str, result: str) -> tuple[Any, ...]:
        return tuple(abi_decode(self.fns[fn][2], bytes.fromhex(result[2:])))


def _word_int(result: str) -> int:
    return int(result, 16) if result not in ("0x", "") else 0


def _word_addr(result: str) -> str:
    return Web3.to_checksum_address("0x" + result[-40:])


# ====================================================================== model


@dataclass
class Part:
    jur: bytes
    roles: int
    licence: int
    status: int
    org: str


@dataclass
class Model:
    """What the contracts should hold, and the rules that decide what they must do."""

    now: int  # grid time T0 + whole hours travelled (actual block time = now + drift < HALF)
    parts: dict[str, Part]
    orgs: dict[str, int]
    exchange: str
    fee_bps: int
    assets: dict[int, dict[str, Any]] = field(default_factory=dict)
    vouchers: dict[int, dict[str, Any]] = field(default_factory=dict)
    users: set[tuple[int, str, str]] = field(default_factory=set)
    cases: dict[int, dict[str, Any]] = field(default_factory=dict)
    covers: dict[tuple[int, bytes, str], tuple[int, int]] = field(default_factory=dict)
    bal: dict[str, int] = field(default_factory=dict)
    supply: int = 0
    nonce: int = 0

    # ---------------------------------------------------------------- participants
    def active(self, a: str) -> bool:
        p = self.parts.get(a)
        return p is not None and p.status == ACTIVE and self.orgs[p.org] == ACTIVE

    def has_roles(self, a: str, roles: int) -> bool:
        if not self.active(a):
            return False
        p = self.parts[a]
        if p.roles & roles != roles:
            return False
        return not (roles & Roles.LICENSED and p.licence <= self.now)

    def licence_valid(self, a: str) -> bool:
        if not self.active(a):
            return False
        p = self.parts[a]
        return p.roles & Roles.LICENSED == 0 or p.licence > self.now

    def jur(self, a: str) -> bytes:
        p = self.parts.get(a)
        return p.jur if p else NO_JUR

    def cleared(self, asset_id: int, dest: bytes, to: str) -> bool:
        return any(self.covers.get((asset_id, dest, r), (0, 0))[0] > self.now for r in (to, ZERO))

    # ---------------------------------------------------------------- the transfer rule
    def restriction(self, frm: str, to: str, vid: int, recovery: bool = False, use: bool = False) -> int:
        """The transfer rule; ``use``: a use by ``to`` of the voucher held by ``frm`` (no transferable flag)."""
        v = self.vouchers.get(vid)
        if v is None:
            return UNKNOWN_VOUCHER
        if v["status"] == V_REVOKED:
            return VOUCHER_REVOKED
        if v["status"] == V_FROZEN and not recovery:
            return VOUCHER_FROZEN
        if self.now > v["until"]:
            return VOUCHER_EXPIRED
        mint = frm == ZERO
        if not v["transferable"] and not mint and not recovery and not use:
            return VOUCHER_NOT_TRANSFERABLE
        if not mint and not recovery and not self.licence_valid(frm):
            return SENDER_LICENCE_EXPIRED if self.active(frm) else SENDER_NOT_ACTIVE
        if not self.licence_valid(to):
            return RECIPIENT_LICENCE_EXPIRED if self.active(to) else RECIPIENT_NOT_ACTIVE
        a = self.assets[v["asset"]]
        if a["status"] == A_FROZEN:
            return ASSET_FROZEN
        if a["status"] != A_ACTIVE:
            return ASSET_REVOKED
        jur_to = self.jur(to)
        cross = jur_to != a["home"]
        if not cross and a["level"] >= 3 and not mint:
            cross = self.jur(frm) != jur_to
        if cross and not self.cleared(v["asset"], jur_to, to):
            return CLEARANCE_REQUIRED
        return SUCCESS

    def asset_status(self, asset_id: int) -> int:
        a = self.assets.get(asset_id)
        return a["status"] if a else A_NONE

    # ---------------------------------------------------------------- payment token moves
    def token_move(self, frm: str, to: str, amount: int) -> Err:
        """PaymentToken._update for a transfer (after any allowance check)."""
        if not self.active(frm):
            return ("InactiveParticipant", frm)
        if not self.active(to):
            return ("InactiveParticipant", to)
        if self.bal.get(frm, 0) < amount:
            return ("ERC20InsufficientBalance", frm, self.bal.get(frm, 0), amount)
        self.bal[frm] -= amount
        self.bal[to] = self.bal.get(to, 0) + amount
        return None

    # ---------------------------------------------------------------- one trade (TradeSettlement._settle)
    def trade(self, sell: Order, buy: Order) -> Err:
        if sell.maker == buy.maker:
            return ("SelfTrade", sell.maker)
        for o in (sell, buy):
            if self.fee_bps > o.maxFeeBps:
                return ("FeeAboveOrderMaximum", o.maker, o.maxFeeBps, self.fee_bps)
            if self.now > o.deadline:
                return ("OrderExpired", o.maker, o.nonce, o.deadline)
            if o.broker == ZERO:
                if o.commission != 0:
                    return ("CommissionWithoutBroker", o.maker, o.commission)
            elif not self.has_roles(o.broker, Roles.BROKER):
                return ("BrokerNotLicensed", o.broker)
        price = sell.price
        fee = price * self.fee_bps // 10_000
        if fee + sell.commission > price:
            return ("FeesExceedPrice", price, fee, sell.commission)
        buyer = buy.maker
        legs = [(to, amount) for to, amount in (
            (sell.maker, price - fee - sell.commission),
            (self.exchange, fee),
            (sell.broker, sell.commission),
            (buy.broker, buy.commission),
        ) if amount]  # zero legs are skipped (a zero-price trade makes no payment call)
        # PaymentToken.transferFromMany (only called when some leg is non-zero): every party's
        # standing first (buyer, then the recipients in leg order: one registry call), then the legs
        for party in ([buyer] + [to for to, _ in legs]) if legs else []:
            if not self.active(party):
                return ("InactiveParticipant", party)
        for to, amount in legs:
            err = self.token_move(buyer, to, amount)
            if err:
                return err
        v = self.vouchers[sell.voucherId]
        # DataVoucher.safeTransferFromWithTerms: the stricter of the two orders' voucher terms first
        left = max(v["max"] - v["uses"], 0)
        min_left = max(sell.minUsesLeft, buy.minUsesLeft)
        if left < min_left:
            return ("UsesLeftBelowTerms", sell.voucherId, min_left, left)
        min_until = max(sell.minValidUntil, buy.minValidUntil)
        if v["until"] < min_until:
            return ("ValidityBelowTerms", sell.voucherId, min_until, v["until"])
        owner = v["owner"]
        code = self.restriction(owner, buyer, sell.voucherId)
        if code:
            return ("TransferRestricted", code, owner, buyer, sell.voucherId)
        if owner != sell.maker:
            return ("ERC721IncorrectOwner", sell.maker, sell.voucherId, owner)
        v["owner"] = buyer
        return None


# ====================================================================== the world: contracts + model + stats


STATS: Counter[str] = Counter()


class World:
    """Deployed market, raw RPC, the model, and one method per action (predict, run, compare)."""

    def __init__(self, t: Trading) -> None:
        m = t.m
        self.t, self.m = t, m
        self.rpc = Rpc(m.w3.provider.endpoint_uri)  # type: ignore[attr-defined]
        self.c = {name: Abi(name, c.address) for name, c in m.contracts.items()}
        self.chain_id = m.w3.eth.chain_id
        self.admin = m.admin
        self.exchange = m.exchange
        self.accounts = [a.address for a in m.accounts]
        self.keys = {a.address: a for a in m.accounts}
        # candidates for "any account": all participants, the separate officer and an outsider
        self.cands = [m.addr[n] for n in ORGS] + [self.accounts[OFFICER_CN_INDEX], self.accounts[OUTSIDER_INDEX]]
        self.known = self.accounts + [m.settlement.address, m.voucher.address, m.token.address]
        self.name_of = {a: n for n, a in m.addr.items()}
        self.name_of[self.accounts[OFFICER_CN_INDEX]] = "officer_cn"
        self.name_of[self.accounts[OUTSIDER_INDEX]] = "outsider"
        self.model: Model  # set by setup()
        self.regulator2 = self.accounts[13]  # a second account of the regulator's organisation (setup)

    # ---------------------------------------------------------------- chain plumbing
    def head_time(self) -> int:
        return int(self.rpc("eth_getBlockByNumber", "latest", False)["timestamp"], 16)

    def call(self, contract: str, fn: str, *args: Any) -> tuple[Any, ...]:
        c = self.c[contract]
        return c.decode(fn, self.rpc("eth_call", {"to": c.address, "data": c.data(fn, *args)}, "latest"))

    def view_call(self, contract: str, fn: str, *args: Any) -> tuple[str, list[Any]]:
        c = self.c[contract]
        return ("eth_call", [{"to": c.address, "data": c.data(fn, *args)}, "latest"])

    def act(self, label: str, contract: str, fn: str, args: tuple[Any, ...], sender: str, expect: Err,
            views: tuple[tuple[str, list[Any]], ...] = ()) -> list[Any]:
        """eth_call (+ ``views``, same state) then send the transaction; the outcome and, on failure,
        the decoded custom error must be the predicted ones. Returns the decoded view results."""
        c = self.c[contract]
        tx = {"from": sender, "to": c.address, "data": c.data(fn, *args), "gas": hex(GAS)}
        replies = self.rpc.batch([("eth_call", [tx, "latest"]), *views])
        receipt = self.rpc.transact(tx)
        mined_ok = receipt["status"] == "0x1"
        pre = replies[0]
        if "error" in pre:
            got: Err = decode_revert(pre["error"].get("data"))
            got = (got[0], *got[1])  # type: ignore[index]
        else:
            got = None
        STATS[f"{label}:{'ok' if mined_ok else 'revert'}"] += 1
        if got is not None:
            STATS[f"{label}:revert:{got[0]}"] += 1
        where = f"{label} {fn}{args!r} from {self.name_of.get(sender, sender)}"
        assert mined_ok == (got is None), f"{where}: eth_call said {got}, mined status {receipt['status']}"
        if expect is None:
            assert got is None, f"{where}: model expects success, contract reverted {got}"
        else:
            assert got is not None, f"{where}: model expects {expect}, contract succeeded"
            assert got[0] == expect[0], f"{where}: model expects {expect}, contract reverted {got}"
            for i, want in enumerate(expect[1:]):
                have = got[1 + i]
                if isinstance(want, str) and isinstance(have, str):
                    want, have = want.lower(), have.lower()
                assert want == have, f"{where}: model expects {expect}, contract reverted {got}"
        return [r.get("result") for r in replies[1:]]

    def send_ok(self, contract: str, fn: str, *args: Any, sender: str) -> None:
        self.act("setup", contract, fn, args, sender, None)

    def grid(self, hours: int) -> int:
        """A time threshold on the grid: never within HALF of any block time of this example."""
        return self.model.now + hours * HOUR + HALF

    # ---------------------------------------------------------------- one-time set-up (before the snapshot)
    def setup(self) -> None:
        m = self.m
        t0 = self.head_time()
        parts = {}
        for name, (_idx, _uscc, j, _allowed, roles, licensed) in ORGS.items():
            parts[m.addr[name]] = Part(j.encode(), roles, m.licence_expiry if licensed else 0, ACTIVE, name)
        self.model = Model(now=t0, parts=parts, orgs={n: ACTIVE for n in ORGS}, exchange=self.exchange,
                           fee_bps=self.t.fee_bps)
        self.send_ok("ParticipantRegistry", "addAccount", m.orgs["regulator"], self.regulator2, Roles.REGULATOR,
                     sender=m.officers["regulator"])
        parts[self.regulator2] = Part(b"CN", Roles.REGULATOR, 0, ACTIVE, "regulator")
        for a in self.known:
            self.model.bal[a] = int(self.call("PaymentToken", "balanceOf", a)[0])
        self.model.supply = int(self.call("PaymentToken", "totalSupply")[0])
        # licences on the time grid (400 days)
        for name, (_i, _u, _j, _a, _r, licensed) in ORGS.items():
            if licensed:
                self.set_licence(m.addr[name], 400 * 24)
        # everyone approves the settlement for tokens and vouchers (approvals are never a reason here)
        for a in self.accounts:
            self.send_ok("PaymentToken", "approve", m.settlement.address, MAX_UINT, sender=a)
            self.send_ok("DataVoucher", "setApprovalForAll", m.settlement.address, True, sender=a)
        for name in ("holder_sg", "authority", "broker"):
            self.mint(m.addr[name], 100_000_000)
        # a few datasets and vouchers to start from
        a = m.addr
        for holder, level, source in (
            ("holder_cn", 2, SourceType.ENTERPRISE), ("holder_cn", 3, SourceType.ENTERPRISE),
            ("authority", 1, SourceType.PUBLIC), ("operator", 2, SourceType.PUBLIC),
            ("holder_hk", 2, SourceType.ENTERPRISE), ("holder_sg", 4, SourceType.PERSONAL_DERIVED),
            ("bank_cn", 4, SourceType.ENTERPRISE),
        ):
            self.register_asset(a[holder], level, int(source))
        # clearances: public asset 4 to anyone in MO (400 days); level-3 asset 2 to holder_hk (30 days)
        self.request_clearance(a["operator"], 4, b"MO", ZERO)
        self.approve_clearance(1, 24 * 400, a["customs"])
        self.request_clearance(a["holder_cn"], 2, b"HK", a["holder_hk"])
        self.approve_clearance(2, 24 * 30, a["customs"])
        for issuer, asset_id, to in (
            ("holder_cn", 1, "holder_cn"), ("holder_cn", 1, "bank_cn"), ("holder_cn", 2, "holder_cn"),
            ("authority", 3, "operator"), ("authority", 3, "holder_cn"), ("holder_hk", 5, "holder_hk"),
            ("bank_cn", 7, "bank_cn"), ("authority", 4, "holder_mo"), ("holder_cn", 2, "holder_hk"),
            ("holder_sg", 6, "holder_sg"),
        ):
            self.issue(a[issuer], asset_id, a[to], 1, -2, 24 * 60, 3, True)
        self.issue(a["holder_cn"], 1, a["bank_cn"], 1, -2, 24 * 60, 3, False)  # a non-transferable one
        self.check_invariants()

    # ---------------------------------------------------------------- actions (predict, act, update model)
    def register_asset(self, holder: str, level: int, source: int) -> None:
        md = self.model
        if not md.active(holder):
            expect: Err = ("NotActive", holder)
        elif source == SourceType.PUBLIC and not (md.has_roles(holder, Roles.AUTHORITY)
                                                   or md.has_roles(holder, Roles.OPERATOR)):
            expect = ("NotAuthorised", holder)
        elif not 1 <= level <= 4:
            expect = ("InvalidLevel", level)
        else:
            expect = None
        cid, digest = fresh_content()
        self.act("registerAsset", "AssetRegistry", "registerAsset", (cid, digest, level, source), holder, expect)
        if expect is None:
            md.assets[len(md.assets) + 1] = {"holder": holder, "level": level, "source": source,
                                             "status": A_ACTIVE, "home": md.jur(holder)}

    def issue(self, issuer: str, asset_id: int, to: str, right: int, from_h: int, dur_h: int, max_uses: int,
              transferable: bool) -> None:
        md = self.model
        vf, vu = self.grid(from_h), self.grid(from_h + dur_h)
        a = md.assets.get(asset_id)
        status = md.asset_status(asset_id)
        vid = len(md.vouchers) + 1
        expect: Err = None
        if status != A_ACTIVE:
            expect = ("AssetNotActive", asset_id, status)
        else:
            assert a is not None
            allowed = (md.has_roles(issuer, Roles.AUTHORITY) if a["source"] == SourceType.PUBLIC
                       else issuer == a["holder"] and md.active(issuer))
            if not allowed:
                expect = ("NotAuthorisedIssuer", issuer, asset_id, a["source"])
            elif vf >= vu:
                expect = ("InvalidValidity", vf, vu)
        if expect is None:
            md.vouchers[vid] = {"asset": asset_id, "status": V_ACTIVE, "transferable": transferable, "from": vf,
                                "until": vu, "max": max_uses, "uses": 0, "owner": to}
            code = md.restriction(ZERO, to, vid)
            if code:
                del md.vouchers[vid]
                expect = ("TransferRestricted", code, ZERO, to, vid)
            STATS[f"mint-code:{code}"] += 1
        self.act("issue", "DataVoucher", "issue", (to, asset_id, right, b"\x11" * 32, vf, vu, max_uses, transferable),
                 issuer, expect)

    def transfer(self, vid: int, to: str, sender: str) -> None:
        md = self.model
        owner = md.vouchers[vid]["owner"]
        code = md.restriction(owner, to, vid)
        if sender != owner:
            expect: Err = ("ERC721InsufficientApproval", sender, vid)
        elif code:
            expect = ("TransferRestricted", code, owner, to, vid)
        else:
            expect = None
        views = self.act("transfer", "DataVoucher", "transferFrom", (owner, to, vid), sender, expect,
                         views=(self.view_call("DataVoucher", "detectTransferRestriction", owner, to, vid),))
        view = _word_int(views[0])
        STATS[f"transfer-code:{view}"] += 1
        assert view == code, f"detectTransferRestriction({owner}, {to}, {vid}) = {view}, model {code}"
        if sender == owner:  # the property: no transfer succeeds that the view rejects, and vice versa
            assert (view == SUCCESS) == (expect is None)
        if expect is None:
            md.vouchers[vid]["owner"] = to

    def authorise_user(self, vid: int, user: str, allowed: bool, caller: str) -> None:
        md = self.model
        holder = md.vouchers[vid]["owner"]
        expect: Err = None if caller == holder else ("NotVoucherHolder", vid, caller, holder)
        if expect is None and allowed:
            code = md.restriction(holder, user, vid, use=True)
            STATS[f"authorize-code:{code}"] += 1
            if code:
                expect = ("UseRestricted", code, holder, user, vid)
        self.act("authoriseUser", "DataVoucher", "authoriseUser", (vid, user, allowed), caller, expect)
        if expect is None:
            (md.users.add if allowed else md.users.discard)((vid, holder, user))

    def redeem(self, vid: int, user: str) -> None:
        md = self.model
        v = md.vouchers[vid]
        holder = v["owner"]
        expect: Err = None
        if user != holder and (vid, holder, user) not in md.users:
            expect = ("NotAuthorisedUser", vid, user, holder)
        elif v["status"] != V_ACTIVE:
            expect = ("VoucherNotActive", vid, v["status"])
        elif md.now < v["from"]:
            expect = ("VoucherNotYetValid", vid, v["from"])
        elif md.now > v["until"]:
            expect = ("VoucherExpired", vid, v["until"])
        elif v["uses"] >= v["max"]:
            expect = ("UsesExhausted", vid, v["max"])
        else:  # the transfer rule from the holder to the user (standing, licences, asset, customs)
            code = md.restriction(holder, user, vid, use=True)
            STATS[f"redeem-code:{code}"] += 1
            if code:
                expect = ("UseRestricted", code, holder, user, vid)
        self.act("redeem", "DataVoucher", "redeem", (vid, b"\x22" * 32), user, expect)
        if expect is None:
            v["uses"] += 1

    def request_clearance(self, requester: str, asset_id: int, dest: bytes, recipient: str) -> None:
        md = self.model
        status = md.asset_status(asset_id)
        if not md.active(requester):
            expect: Err = ("NotActive", requester)
        elif status == A_NONE:
            expect = ("UnknownAsset", asset_id)
        elif status != A_ACTIVE:
            expect = ("InvalidAssetStatus", asset_id, status)
        elif recipient != ZERO and md.jur(recipient) != dest:
            expect = ("RecipientNotInDestination", recipient, dest, md.jur(recipient))
        else:
            expect = None
        self.act("requestClearance", "DataCustoms", "requestClearance", (asset_id, dest, recipient, b"purpose"),
                 requester, expect)
        if expect is None:
            md.cases[len(md.cases) + 1] = {"asset": asset_id, "requester": requester, "dest": dest,
                                           "recipient": recipient, "state": C_REQUESTED}

    def _decidable(self, clearance_id: int, caller: str) -> Err:
        md = self.model
        c = md.cases.get(clearance_id)
        if not md.has_roles(caller, Roles.CUSTOMS):
            return ("NotAuthorised", caller, Roles.CUSTOMS)
        if c is None:
            return ("UnknownClearance", clearance_id)
        if c["state"] != C_REQUESTED:
            return ("InvalidClearanceState", clearance_id, c["state"])
        if c["requester"] == caller:
            return ("SelfDecision", clearance_id, caller)
        return None

    def approve_clearance(self, clearance_id: int, expiry_h: int, caller: str) -> None:
        md = self.model
        expiry = self.grid(expiry_h)
        expect = self._decidable(clearance_id, caller)
        if expect is None:
            c = md.cases[clearance_id]
            status = md.asset_status(c["asset"])
            key = (c["asset"], c["dest"], c["recipient"])
            cover = md.covers.get(key, (0, 0))
            if expiry <= md.now:
                expect = ("InvalidExpiry", expiry)
            elif status != A_ACTIVE:
                expect = ("InvalidAssetStatus", c["asset"], status)
            elif cover[0] > md.now:
                expect = ("ClearanceActive", clearance_id, cover[1], cover[0])
        self.act("approveClearance", "DataCustoms", "approveClearance", (clearance_id, expiry, b"conditions"), caller,
                 expect)
        if expect is None:
            c = md.cases[clearance_id]
            c["state"] = C_APPROVED
            md.covers[(c["asset"], c["dest"], c["recipient"])] = (expiry, clearance_id)

    def reject_clearance(self, clearance_id: int, caller: str) -> None:
        expect = self._decidable(clearance_id, caller)
        self.act("rejectClearance", "DataCustoms", "rejectClearance", (clearance_id, "not justified"), caller, expect)
        if expect is None:
            self.model.cases[clearance_id]["state"] = C_REJECTED

    def revoke_clearance(self, clearance_id: int, caller: str) -> None:
        md = self.model
        c = md.cases.get(clearance_id)
        if not (md.has_roles(caller, Roles.CUSTOMS) or md.has_roles(caller, Roles.REGULATOR)):
            expect: Err = ("NotAuthorised", caller)
        elif c is None:
            expect = ("UnknownClearance", clearance_id)
        elif c["state"] != C_APPROVED:
            expect = ("InvalidClearanceState", clearance_id, c["state"])
        else:
            expect = None
        self.act("revokeClearance", "DataCustoms", "revokeClearance", (clearance_id, "conditions breached"), caller,
                 expect)
        if expect is None:
            assert c is not None
            c["state"] = C_REVOKED
            key = (c["asset"], c["dest"], c["recipient"])
            if md.covers.get(key, (0, 0))[1] == clearance_id:
                del md.covers[key]

    def supervise_voucher(self, vid: int, action: str, caller: str) -> None:
        md = self.model
        v = md.vouchers.get(vid)
        status = v["status"] if v else V_NONE
        expect: Err = None
        if not md.has_roles(caller, Roles.REGULATOR):
            expect = ("NotRegulator", caller)
        elif action == "freeze" and status != V_ACTIVE:
            expect = ("VoucherNotActive", vid, status)
        elif action == "unfreeze" and status != V_FROZEN:
            expect = ("VoucherNotFrozen", vid, status)
        elif action == "revoke" and status == V_NONE:
            expect = ("ERC721NonexistentToken", vid)
        elif action == "revoke" and status == V_REVOKED:
            expect = ("VoucherAlreadyRevoked", vid)
        self.act(f"voucher.{action}", "DataVoucher", action, (vid, "supervision"), caller, expect)
        if expect is None:
            assert v is not None
            v["status"] = {"freeze": V_FROZEN, "unfreeze": V_ACTIVE, "revoke": V_REVOKED}[action]

    def supervise_asset(self, asset_id: int, action: str, caller: str) -> None:
        md = self.model
        status = md.asset_status(asset_id)
        expect: Err = None
        if not md.has_roles(caller, Roles.REGULATOR):
            expect = ("NotAuthorised", caller, Roles.REGULATOR)
        elif status == A_NONE:
            expect = ("UnknownAsset", asset_id)
        elif (action == "freeze" and status != A_ACTIVE) or (action == "unfreeze" and status != A_FROZEN) or (
            action == "revoke" and status == A_REVOKED
        ):
            expect = ("InvalidAssetStatus", asset_id, status)
        self.act(f"asset.{action}", "AssetRegistry", action, (asset_id, "supervision"), caller, expect)
        if expect is None:
            md.assets[asset_id]["status"] = {"freeze": A_FROZEN, "unfreeze": A_ACTIVE, "revoke": A_REVOKED}[action]

    def recover(self, vid: int, to: str, caller: str) -> None:
        md = self.model
        owner = md.vouchers[vid]["owner"]
        code = md.restriction(owner, to, vid, recovery=True)
        if not md.has_roles(caller, Roles.REGULATOR):
            expect: Err = ("NotRegulator", caller)
        elif to == owner:
            expect = ("InvalidRecipient", to)
        elif code:
            expect = ("TransferRestricted", code, owner, to, vid)
        else:
            expect = None
        STATS[f"recover-code:{code}"] += 1
        self.act("proposeRecovery", "DataVoucher", "proposeRecovery", (vid, to, "lost key"), caller, expect)
        if expect is None:
            # two-person rule: the proposer cannot execute; the second regulator can
            self.act("executeRecovery", "DataVoucher", "executeRecovery", (vid, "confirmed"), caller,
                     ("RecoveryNeedsSecondRegulator", vid, caller))
            second = self.regulator2
            expect2: Err = None if md.has_roles(second, Roles.REGULATOR) else ("NotRegulator", second)
            self.act("executeRecovery", "DataVoucher", "executeRecovery", (vid, "confirmed"), second, expect2)
            if expect2 is None:
                md.vouchers[vid]["owner"] = to
            else:
                self.send_ok("DataVoucher", "cancelRecovery", vid, "no second regulator", sender=caller)

    def set_licence(self, account: str, hours: Optional[int]) -> None:
        md = self.model
        expiry = 0 if hours is None else self.grid(hours)
        p = md.parts.get(account)
        if p is None:
            expect: Err = ("UnknownAccount", account)
        elif p.roles & Roles.LICENSED == 0:
            expect = ("NoLicensedRole", account, p.roles)
        else:
            expect = None
        self.act("setLicenceExpiry", "ParticipantRegistry", "setLicenceExpiry", (account, expiry), self.admin, expect)
        if expect is None:
            assert p is not None
            p.licence = expiry

    def set_account_status(self, account: str, suspend: bool) -> None:
        p = self.model.parts.get(account)
        want = ACTIVE if suspend else SUSPENDED
        if p is None:
            expect: Err = ("UnknownAccount", account)
        elif p.status != want:
            expect = ("AccountStatusInvalid", account, p.status)
        else:
            expect = None
        fn = "suspendAccount" if suspend else "reinstateAccount"
        self.act(fn, "ParticipantRegistry", fn, (account, "supervision"), self.admin, expect)
        if expect is None:
            assert p is not None
            p.status = SUSPENDED if suspend else ACTIVE

    def set_org_status(self, org: str, suspend: bool) -> None:
        md = self.model
        want = ACTIVE if suspend else SUSPENDED
        oid = self.m.orgs[org]
        expect: Err = None if md.orgs[org] == want else ("OrganisationStatusInvalid", oid, md.orgs[org])
        fn = "suspendOrganisation" if suspend else "reinstateOrganisation"
        self.act(fn, "ParticipantRegistry", fn, (oid, "supervision"), self.admin, expect)
        if expect is None:
            md.orgs[org] = SUSPENDED if suspend else ACTIVE

    def travel(self, hours: int) -> None:
        self.rpc("evm_increaseTime", hours * HOUR)
        self.rpc("evm_mine")
        self.model.now += hours * HOUR
        STATS["time_travel:ok"] += 1

    def mint(self, to: str, amount: int) -> None:
        md = self.model
        # the admin mints only with registry standing (it is also an AUTHORITY participant here)
        expect: Err = (("NotMinter", self.admin) if not md.active(self.admin)
                       else None if md.active(to) else ("InactiveParticipant", to))
        self.act("mint", "PaymentToken", "mint", (to, amount), self.admin, expect)
        if expect is None:
            md.bal[to] = md.bal.get(to, 0) + amount
            md.supply += amount

    def burn(self, who: str, amount: int) -> None:
        md = self.model
        if not md.active(who):
            expect: Err = ("InactiveParticipant", who)
        elif md.bal.get(who, 0) < amount:
            expect = ("ERC20InsufficientBalance", who, md.bal.get(who, 0), amount)
        else:
            expect = None
        self.act("burn", "PaymentToken", "burn", (amount,), who, expect)
        if expect is None:
            md.bal[who] -= amount
            md.supply -= amount

    def pay(self, frm: str, to: str, amount: int) -> None:
        expect = self.model.token_move(frm, to, amount)  # mutates the model only on success
        self.act("token.transfer", "PaymentToken", "transfer", (to, amount), frm, expect)

    def set_fee(self, bps: int) -> None:
        expect: Err = ("FeeTooHigh", bps, 2000) if bps > 2000 else None
        self.act("setExchangeFee", "TradeSettlement", "setExchangeFee", (self.exchange, bps), self.admin, expect)
        if expect is None:
            self.model.fee_bps = bps

    # ---------------------------------------------------------------- settlement
    def make_trade(self, p: dict[str, Any]) -> tuple[Order, Order]:
        md = self.model
        vid = p["vid"]
        seller = md.vouchers[vid]["owner"]
        deadline = self.grid(-1 if p["expired"] else 24)

        v = md.vouchers[vid]
        # voucher terms as a buyer would sign them: what it sees now, shifted by -1/0/+1 (a stale or
        # false listing asks for more than there is); fee caps around the current fee
        left = max(v["max"] - v["uses"], 0)
        terms = p.get("terms", (None, None))
        min_left = 0 if terms[0] is None else max(left + terms[0], 0)
        min_until = 0 if terms[1] is None else max(v["until"] + terms[1], 0)

        def cap(shift: Optional[int]) -> int:
            return 2000 if shift is None else max(md.fee_bps + shift, 0)

        def order(maker: str, side: int, broker: Optional[str], commission: int, **kw: int) -> Order:
            md.nonce += 1
            return Order(maker=maker, side=side, voucherId=vid, price=p["price"],
                         paymentToken=self.m.token.address, exchange=self.exchange,
                         broker=broker or ZERO, commission=commission, nonce=md.nonce, deadline=deadline, **kw)

        return (order(seller, SELL, p["sell_broker"], p["sell_commission"], maxFeeBps=cap(p.get("sell_fee_cap"))),
                order(p["buyer"], BUY, p["buy_broker"], p["buy_commission"], maxFeeBps=cap(p.get("buy_fee_cap")),
                      minUsesLeft=min_left, minValidUntil=min_until))

    def signed(self, o: Order) -> tuple[Any, bytes]:
        return o.as_tuple(), sign_order(self.keys[o.maker], o, self.chain_id, self.m.settlement.address)

    def balances(self) -> tuple[dict[str, int], int]:
        replies = self.rpc.batch([self.view_call("PaymentToken", "balanceOf", a) for a in self.known]
                                 + [self.view_call("PaymentToken", "totalSupply")])
        values = [_word_int(r["result"]) for r in replies]
        return dict(zip(self.known, values[:-1])), values[-1]

    def settle(self, trades: list[dict[str, Any]], caller: str, batch: bool) -> None:
        md = self.model
        pairs = [self.make_trade(p) for p in trades]
        views = tuple(self.view_call("DataVoucher", "detectTransferRestriction", s.maker, b.maker, s.voucherId)
                      for s, b in pairs)
        codes_pre = [md.restriction(s.maker, b.maker, s.voucherId) for s, b in pairs]
        trial = copy.deepcopy(md)
        expect: Err = None
        if not md.has_roles(caller, Roles.EXCHANGE):
            expect = ("ExchangeNotLicensed", caller)
        else:
            for s, b in pairs:
                expect = trial.trade(s, b)
                if expect:
                    break
        before, supply_before = self.balances()
        if batch:
            label, fn = "settleBatch", "settleBatch"
            args: tuple[Any, ...] = ([(*self.signed(s), *self.signed(b)) for s, b in pairs],)
        else:
            (s, b), = pairs
            label, fn = "settle", "settle"
            args = (*self.signed(s), *self.signed(b))
        got_views = self.act(label, "TradeSettlement", fn, args, caller, expect, views=views)
        for (s, b), raw, code in zip(pairs, got_views, codes_pre):
            view = _word_int(raw)
            STATS[f"settle-code:{view}"] += 1
            assert view == code, f"detectTransferRestriction({s.maker}, {b.maker}, {s.voucherId}) = {view}, model {code}"
        if len(pairs) == 1 and codes_pre[0] != SUCCESS:
            # the property, for a single move: a restricted voucher never settles (act() checked the
            # mined status against the model, which also failed)
            assert expect is not None
        after, supply_after = self.balances()
        assert supply_after == supply_before, "settlement changed the payment token supply"
        delta = {a: after[a] - before[a] for a in self.known}
        assert sum(delta.values()) == 0, f"settlement created or destroyed money: {delta}"
        if expect is None:
            fee_bps = md.fee_bps
            trial.nonce = md.nonce
            self.model = trial
            # each trade: the buyer pays price + its broker's commission; seller (price - fee - seller
            # commission), exchange (fee) and brokers receive exactly that
            legs: Counter[str] = Counter()
            for s, b in pairs:
                fee = s.price * fee_bps // 10_000
                legs[s.maker] += s.price - fee - s.commission
                legs[self.exchange] += fee
                legs[s.broker] += s.commission
                legs[b.broker] += b.commission
                legs[b.maker] -= s.price + b.commission
                STATS["settle-value"] += s.price
            expected_delta = {a: legs.get(a, 0) for a in self.known}
            assert delta == expected_delta, f"payment legs {delta} != expected {expected_delta}"
        else:
            assert all(v == 0 for v in delta.values()), "a failed settlement moved money"

    # ---------------------------------------------------------------- invariants
    def check_invariants(self) -> None:
        md = self.model
        vids = sorted(md.vouchers)
        calls = [
            self.view_call("DataVoucher", "voucherCount"),
            self.view_call("AssetRegistry", "assetCount"),
            self.view_call("DataCustoms", "clearanceCount"),
            self.view_call("PaymentToken", "totalSupply"),
        ]
        calls += [self.view_call("DataVoucher", "balanceOf", a) for a in self.known]
        calls += [self.view_call("PaymentToken", "balanceOf", a) for a in self.known]
        calls += [self.view_call("DataVoucher", "ownerOf", v) for v in vids]
        calls += [self.view_call("DataVoucher", "voucherCore", v) for v in vids]
        replies = self.rpc.batch(calls)
        for r in replies:
            assert "error" not in r, f"invariant read failed: {r}"
        res = [r["result"] for r in replies]
        count, n_assets, n_cases, supply = (_word_int(x) for x in res[:4])
        k = len(self.known)
        vbal = [_word_int(x) for x in res[4:4 + k]]
        tbal = [_word_int(x) for x in res[4 + k:4 + 2 * k]]
        owners = [_word_addr(x) for x in res[4 + 2 * k:4 + 2 * k + len(vids)]]
        cores = [self.c["DataVoucher"].decode("voucherCore", x)[0] for x in res[4 + 2 * k + len(vids):]]
        # vouchers: no burns, one owner each, the balances add up
        assert count == len(md.vouchers) == (vids[-1] if vids else 0), f"voucherCount {count} != {len(md.vouchers)}"
        assert sum(vbal) == count, f"sum of voucher balances {sum(vbal)} != voucherCount {count}"
        held = Counter(md.vouchers[v]["owner"] for v in vids)
        for a, b in zip(self.known, vbal):
            assert b == held.get(a, 0), f"balanceOf({self.name_of.get(a, a)}) = {b}, model {held.get(a, 0)}"
        for v, owner, core in zip(vids, owners, cores):
            mv = md.vouchers[v]
            assert owner == mv["owner"], f"ownerOf({v}) = {owner}, model {mv['owner']}"
            # core: (assetId, right, status, transferable, validFrom, validUntil, maxUses, uses)
            assert core[7] <= core[6], f"voucher {v}: uses {core[7]} > maxUses {core[6]}"
            assert (core[0], core[2], core[6], core[7]) == (mv["asset"], mv["status"], mv["max"], mv["uses"]), (
                f"voucher {v}: core {core} != model {mv}")
        assert n_assets == len(md.assets) and n_cases == len(md.cases)
        # payment token: supply = minted - burned = sum of balances; each balance as modelled
        assert supply == md.supply == sum(tbal), f"totalSupply {supply}, model {md.supply}, sum {sum(tbal)}"
        for a, b in zip(self.known, tbal):
            assert b == md.bal.get(a, 0), f"token balance of {self.name_of.get(a, a)} = {b}, model {md.bal.get(a, 0)}"
        STATS["invariant checks"] += 1


# ====================================================================== the state machine

IDX = st.integers(0, 1023)
DESTS = [b"CN", b"HK", b"MO", b"SG", b"US"]
LICENSED_NAMES = ["operator", "exchange", "broker", "appraiser"]


class Ctx:
    world: Optional[World] = None
    baseline: Optional[Model] = None
    snapshot: Optional[str] = None
    steps: int = 0
    examples: int = 0


class MarketMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        w = Ctx.world
        assert w is not None and Ctx.baseline is not None
        assert w.rpc("evm_revert", Ctx.snapshot), "evm_revert failed"
        Ctx.snapshot = w.rpc("evm_snapshot")
        w.model = copy.deepcopy(Ctx.baseline)
        self.w = w
        Ctx.examples += 1

    # ---------------------------------------------------------------- picking
    def acct(self, i: int) -> str:
        return self.w.cands[i % len(self.w.cands)]

    def addr(self, name: str) -> str:
        return self.w.m.addr[name]

    def voucher(self, i: int) -> int:
        return i % len(self.w.model.vouchers) + 1

    def asset(self, i: int) -> int:
        return i % (len(self.w.model.assets) + 1) + 1  # includes one unknown id

    def step(self, name: str) -> None:
        Ctx.steps += 1
        STATS[f"rule:{name}"] += 1

    def has_vouchers(self) -> bool:
        return bool(self.w.model.vouchers)

    # ---------------------------------------------------------------- rules
    @rule(holder=IDX, level=st.integers(0, 5), source=st.integers(0, 2))
    def register_asset(self, holder: int, level: int, source: int) -> None:
        self.step("register_asset")
        self.w.register_asset(self.acct(holder), level, source)

    @rule(issuer=st.sampled_from(["holder", "holder", "authority", "any"]), i=IDX, asset=IDX, to=IDX,
          right=st.integers(0, 2), from_h=st.sampled_from([-48, -1, 0, 2, 30]),
          dur_h=st.sampled_from([0, 1, 6, 24, 24 * 10, 24 * 90]), max_uses=st.integers(0, 4),
          transferable=st.sampled_from([True, True, True, False]))
    def issue(self, issuer: str, i: int, asset: int, to: int, right: int, from_h: int, dur_h: int, max_uses: int,
              transferable: bool) -> None:
        self.step("issue")
        asset_id = self.asset(asset)
        a = self.w.model.assets.get(asset_id)
        who = {"holder": a["holder"] if a else self.acct(i), "authority": self.addr("authority"),
               "any": self.acct(i)}[issuer]
        self.w.issue(who, asset_id, self.acct(to), right, from_h, dur_h, max_uses, transferable)

    @precondition(has_vouchers)
    @rule(v=IDX, to=IDX, by_owner=st.sampled_from([True] * 7 + [False]), other=IDX)
    def transfer(self, v: int, to: int, by_owner: bool, other: int) -> None:
        self.step("transfer")
        vid = self.voucher(v)
        owner = self.w.model.vouchers[vid]["owner"]
        self.w.transfer(vid, self.acct(to), owner if by_owner else self.acct(other))

    @precondition(has_vouchers)
    @rule(v=IDX, user=IDX, allowed=st.sampled_from([True, True, False]), by_holder=st.sampled_from([True] * 5 + [False]))
    def authorise_user(self, v: int, user: int, allowed: bool, by_holder: bool) -> None:
        self.step("authorise_user")
        vid = self.voucher(v)
        holder = self.w.model.vouchers[vid]["owner"]
        self.w.authorise_user(vid, self.acct(user), allowed, holder if by_holder else self.acct(user + 1))

    @precondition(has_vouchers)
    @rule(v=IDX, who=st.sampled_from(["holder", "holder", "user", "any"]), i=IDX)
    def redeem(self, v: int, who: str, i: int) -> None:
        self.step("redeem")
        md = self.w.model
        vid = self.voucher(v)
        holder = md.vouchers[vid]["owner"]
        users = sorted(u for (t, h, u) in md.users if t == vid and h == holder)
        user = {"holder": holder, "user": users[i % len(users)] if users else holder, "any": self.acct(i)}[who]
        self.w.redeem(vid, user)

    @rule(requester=IDX, asset=IDX, dest=st.sampled_from(DESTS), recipient=IDX,
          named=st.sampled_from([True, True, False]))
    def request_clearance(self, requester: int, asset: int, dest: bytes, recipient: int, named: bool) -> None:
        self.step("request_clearance")
        md = self.w.model
        if named:  # mostly someone who really is in the destination
            inside = [a for a in self.w.cands if md.jur(a) == dest]
            to = inside[recipient % len(inside)] if inside and recipient % 4 else self.acct(recipient)
        else:
            to = ZERO
        self.w.request_clearance(self.acct(requester), self.asset(asset), dest, to)

    @precondition(lambda self: bool(self.w.model.cases))
    @rule(case=IDX, expiry_h=st.sampled_from([-1, 1, 5, 24, 24 * 30]),
          caller=st.sampled_from(["customs"] * 6 + ["regulator", "any"]), i=IDX)
    def approve_clearance(self, case: int, expiry_h: int, caller: str, i: int) -> None:
        self.step("approve_clearance")
        who = self.acct(i) if caller == "any" else self.addr(caller)
        self.w.approve_clearance(case % len(self.w.model.cases) + 1, expiry_h, who)

    @precondition(lambda self: bool(self.w.model.cases))
    @rule(case=IDX)
    def reject_clearance(self, case: int) -> None:
        self.step("reject_clearance")
        self.w.reject_clearance(case % len(self.w.model.cases) + 1, self.addr("customs"))

    @precondition(lambda self: bool(self.w.model.cases))
    @rule(case=IDX, caller=st.sampled_from(["customs", "regulator", "holder_cn"]))
    def revoke_clearance(self, case: int, caller: str) -> None:
        self.step("revoke_clearance")
        self.w.revoke_clearance(case % len(self.w.model.cases) + 1, self.addr(caller))

    @rule(v=IDX, action=st.sampled_from(["freeze", "unfreeze", "revoke", "freeze", "unfreeze"]),
          caller=st.sampled_from(["regulator"] * 5 + ["customs"]))
    def supervise_voucher(self, v: int, action: str, caller: str) -> None:
        self.step("supervise_voucher")
        vid = v % (len(self.w.model.vouchers) + 1) + 1  # includes one unknown id
        self.w.supervise_voucher(vid, action, self.addr(caller))

    @rule(asset=IDX, action=st.sampled_from(["freeze", "unfreeze", "revoke", "freeze", "unfreeze"]),
          caller=st.sampled_from(["regulator"] * 5 + ["holder_cn"]))
    def supervise_asset(self, asset: int, action: str, caller: str) -> None:
        self.step("supervise_asset")
        self.w.supervise_asset(self.asset(asset), action, self.addr(caller))

    @precondition(has_vouchers)
    @rule(v=IDX, to=IDX, caller=st.sampled_from(["regulator"] * 5 + ["customs"]))
    def recover(self, v: int, to: int, caller: str) -> None:
        self.step("recover")
        self.w.recover(self.voucher(v), self.acct(to), self.addr(caller))

    @rule(who=st.sampled_from(LICENSED_NAMES + ["holder_cn"]),
          hours=st.sampled_from([None, -1, 1, 12, 24 * 30, 24 * 400]))
    def set_licence(self, who: str, hours: Optional[int]) -> None:
        self.step("set_licence")
        self.w.set_licence(self.addr(who), hours)

    @rule(i=IDX, suspend=st.booleans())
    def account_status(self, i: int, suspend: bool) -> None:
        self.step("account_status")
        self.w.set_account_status(self.acct(i), suspend)

    @rule(org=st.sampled_from(sorted(ORGS)), suspend=st.booleans())
    def org_status(self, org: str, suspend: bool) -> None:
        self.step("org_status")
        self.w.set_org_status(org, suspend)

    @rule(hours=st.sampled_from([1, 6, 24, 24 * 7, 24 * 45]))
    def time_travel(self, hours: int) -> None:
        self.step("time_travel")
        self.w.travel(hours)

    @rule(to=IDX, amount=st.integers(1, 50_000_000))
    def mint(self, to: int, amount: int) -> None:
        self.step("mint")
        self.w.mint(self.acct(to), amount)

    @rule(who=IDX, amount=st.integers(0, 200_000_000))
    def burn(self, who: int, amount: int) -> None:
        self.step("burn")
        self.w.burn(self.acct(who), amount)

    @rule(frm=IDX, to=IDX, amount=st.integers(0, 200_000_000))
    def token_transfer(self, frm: int, to: int, amount: int) -> None:
        self.step("token_transfer")
        self.w.pay(self.acct(frm), self.acct(to), amount)

    @rule(bps=st.sampled_from([0, 25, 100, 250, 2000, 2001]))
    def set_fee(self, bps: int) -> None:
        self.step("set_fee")
        self.w.set_fee(bps)

    TRADE = st.fixed_dictionaries({
        "v": IDX,
        "buyer": IDX,
        "price": st.sampled_from([0, 1, 99, 10_000, 1_234_567, 150_000_000]) | st.integers(0, 3_000_000),
        "sell_broker": st.sampled_from([None, None, None, "broker", "broker", "broker", "holder_cn"]),
        "sell_commission": st.sampled_from([0, 1, 500, 20_000]),
        "buy_broker": st.sampled_from([None, None, None, "broker", "broker", "broker", "outsider"]),
        "buy_commission": st.sampled_from([0, 7, 500]),
        "commission_without_broker": st.sampled_from([False] * 15 + [True]),
        "expired": st.sampled_from([False] * 15 + [True]),
        # order terms (issue 11, #9): fee caps relative to the fee (None = 2000), buy-side voucher
        # terms relative to the voucher now (None = no term)
        "sell_fee_cap": st.sampled_from([None] * 6 + [0, 0, -1]),
        "buy_fee_cap": st.sampled_from([None] * 6 + [0, 0, -1]),
        "terms": st.sampled_from([(None, None)] * 3 + [(0, 0)] * 2 + [(1, 0), (0, 1), (-1, -1)]),
    })

    def trade_params(self, raw: dict[str, Any]) -> dict[str, Any]:
        p = dict(raw)
        p["vid"] = self.voucher(raw["v"])
        buyers = [self.addr(n) for n in ("bank_cn", "holder_cn", "holder_hk", "holder_mo", "holder_sg", "operator")]
        p["buyer"] = buyers[raw["buyer"] % len(buyers)] if raw["buyer"] % 5 else self.acct(raw["buyer"] // 5)
        seller = self.w.model.vouchers[p["vid"]]["owner"]
        if p["buyer"] == seller and raw["buyer"] % 7:  # a self-trade only now and then
            p["buyer"] = buyers[(buyers.index(seller) + 1) % len(buyers)] if seller in buyers else buyers[0]
        names = {"broker": self.addr("broker"), "holder_cn": self.addr("holder_cn"),
                 "outsider": self.w.accounts[OUTSIDER_INDEX], None: None}
        p["sell_broker"], p["buy_broker"] = names[raw["sell_broker"]], names[raw["buy_broker"]]
        for side in ("sell", "buy"):  # a commission without a broker only when asked for
            if p[f"{side}_broker"] is None and not raw["commission_without_broker"]:
                p[f"{side}_commission"] = 0
        return p

    @precondition(has_vouchers)
    @rule(trade=TRADE, caller=st.sampled_from(["exchange"] * 9 + ["broker"]))
    def settle(self, trade: dict[str, Any], caller: str) -> None:
        self.step("settle")
        self.w.settle([self.trade_params(trade)], self.addr(caller), batch=False)

    CLEAN_TRADE = st.fixed_dictionaries({
        "v": IDX,
        "buyer": IDX,
        "price": st.integers(100, 1_000_000),
        "sell_broker": st.sampled_from([None, "broker"]),
        "sell_commission": st.sampled_from([0, 1, 50]),
        "buy_broker": st.sampled_from([None, "broker"]),
        "buy_commission": st.sampled_from([0, 7, 500]),
        "commission_without_broker": st.just(False),
        "expired": st.just(False),
        "sell_fee_cap": st.sampled_from([None, 0]),
        "buy_fee_cap": st.sampled_from([None, 0]),
        "terms": st.sampled_from([(None, None), (0, 0)]),
    })

    @precondition(has_vouchers)
    @rule(trade=CLEAN_TRADE)
    def settle_clean(self, trade: dict[str, Any]) -> None:
        """A well-formed order pair (licensed broker or none, affordable price): what remains to
        decide the outcome is the compliance state of the voucher, parties, asset and customs."""
        self.step("settle_clean")
        self.w.settle([self.trade_params(trade)], self.addr("exchange"), batch=False)

    @precondition(has_vouchers)
    @rule(trades=st.lists(TRADE, min_size=1, max_size=3))
    def settle_batch(self, trades: list[dict[str, Any]]) -> None:
        self.step("settle_batch")
        self.w.settle([self.trade_params(t) for t in trades], self.addr("exchange"), batch=True)

    # ---------------------------------------------------------------- invariants (after every step)
    @invariant()
    def chain_matches_model(self) -> None:
        self.w.check_invariants()


# ====================================================================== tests


@pytest.fixture
def world(trading: Trading) -> World:
    w = World(trading)
    w.setup()
    Ctx.world, Ctx.baseline = w, copy.deepcopy(w.model)
    Ctx.snapshot = w.rpc("evm_snapshot")
    Ctx.steps = Ctx.examples = 0
    STATS.clear()
    return w


def machine_settings(max_examples: int, steps: int, derandomize: bool = True) -> settings:
    return settings(
        max_examples=max_examples,
        stateful_step_count=steps,
        derandomize=derandomize,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )


def test_market_properties(world: World) -> None:
    """Short run for `make test`: 25 examples of up to 25 steps (well under a minute)."""
    t0 = time.monotonic()
    run_state_machine_as_test(MarketMachine, settings=machine_settings(25, 25))
    elapsed = time.monotonic() - t0
    print(f"\nproperty run: {Ctx.examples} examples, {Ctx.steps} steps, {elapsed:.1f}s")
    if os.environ.get("PROPERTY_STATS"):
        print(json.dumps(dict(sorted(STATS.items())), indent=1))
    assert Ctx.steps >= 100, f"only {Ctx.steps} steps ran"
    moves = sum(n for k, n in STATS.items() if k.startswith(("transfer:", "settle:", "settleBatch:")))
    assert moves > 0


@pytest.mark.soak
@pytest.mark.timeout(0)
def test_market_properties_soak(world: World) -> None:
    """>= SOAK_STEPS (default 10,000) steps; writes bench/results/soak.json."""
    target = int(os.environ.get("SOAK_STEPS", "10000"))
    per_example = int(os.environ.get("SOAK_STEPS_PER_EXAMPLE", "50"))
    t0 = time.monotonic()
    rounds = 0
    while Ctx.steps < target:
        remaining = target - Ctx.steps
        # first round derandomized (reproducible); any top-up rounds draw fresh randomness
        run_state_machine_as_test(
            MarketMachine,
            settings=machine_settings(max(1, remaining * 5 // (4 * per_example)) + 1, per_example, rounds == 0),
        )
        rounds += 1
    elapsed = time.monotonic() - t0
    summary = {
        "steps": Ctx.steps,
        "examples": Ctx.examples,
        "rounds": rounds,
        "target_steps": target,
        "steps_per_example_max": per_example,
        "seconds": round(elapsed, 1),
        "steps_per_second": round(Ctx.steps / elapsed, 1),
        "counters": dict(sorted(STATS.items())),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "soak.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\nsoak: {Ctx.steps} steps in {Ctx.examples} examples, {elapsed:.1f}s -> {RESULTS / 'soak.json'}")
    assert Ctx.steps >= target
