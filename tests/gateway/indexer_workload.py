"""Event load for the indexer tests: a deployed market driven through the real contracts.

Self-contained (raw web3 against the shipped ABIs) so the indexer tests do not depend on the
contract test fixtures. Accounts are anvil's default ones (unlocked: eth_sendTransaction).
"""

from __future__ import annotations

import hashlib
import itertools
import random
from dataclasses import dataclass, field
from typing import Any, Optional

from web3 import Web3
from web3.contract import Contract

from ledger.deploy import deploy_all, deployment_record
from ledger.vocabulary import Role

AUTHORITY, OPERATOR, EXCHANGE, BROKER, APPRAISER, CUSTOMS, REGULATOR, HOLDER = (int(r) for r in Role)
ZERO = "0x" + "00" * 20

#: name -> (account index, jurisdiction, roles, licensed)
PARTIES: dict[str, tuple[int, str, int, bool]] = {
    "authority": (0, "CN", AUTHORITY | HOLDER, False),
    "appraiser": (4, "CN", APPRAISER, True),
    "customs": (5, "CN", CUSTOMS, False),
    "regulator": (6, "CN", REGULATOR, False),
    "holder_a": (7, "CN", HOLDER, False),
    "holder_b": (8, "CN", HOLDER, False),
    "holder_c": (10, "CN", HOLDER, False),
    "holder_hk": (9, "HK", HOLDER, False),
}
HOLDERS = ("holder_a", "holder_b", "holder_c")

_counter = itertools.count(1)


def content() -> tuple[bytes, bytes]:
    n = next(_counter)
    digest = hashlib.sha256(f"indexer-test-dataset-{n}-{random.random()}".encode()).digest()
    return b"\x01\x55\x12\x20" + digest, digest


@dataclass
class Market:
    w3: Web3
    contracts: dict[str, Contract]
    addr: dict[str, str]
    record: dict[str, Any]
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    assets: dict[str, list[int]] = field(default_factory=dict)  # holder -> asset ids
    vouchers: dict[int, str] = field(default_factory=dict)  # token id -> owner name
    next_token: int = 1
    next_asset: int = 1

    def send(self, fn: Any, sender: str, wait: bool = True) -> Any:
        tx_hash = fn.transact({"from": self.addr[sender], "gas": 1_500_000})
        if not wait:
            return tx_hash
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        assert receipt["status"] == 1, f"{fn.fn_name} reverted"
        return receipt

    def tx(self, fn: Any, sender: str) -> dict[str, Any]:
        """The transaction request of a call (for anvil_reorg's replacement blocks)."""
        return {"from": self.addr[sender], "to": fn.address, "data": fn._encode_transaction_data(),
                "gas": hex(1_500_000)}

    # --- actions (each returns after its receipt)
    def register_asset(self, holder: str, level: int = 2) -> int:
        cid, digest = content()
        self.send(self.contracts["AssetRegistry"].functions.registerAsset(cid, digest, level, 1), holder)
        asset_id = self.next_asset
        self.next_asset += 1
        self.assets.setdefault(holder, []).append(asset_id)
        return asset_id

    def issue(self, holder: str, asset_id: int, to: Optional[str] = None) -> int:
        now = self.w3.eth.get_block("latest")["timestamp"]
        fn = self.contracts["DataVoucher"].functions.issue(
            self.addr[to or holder], asset_id, 0, b"\x11" * 32, now - 10, now + 10 ** 7, 5, True)
        self.send(fn, holder)
        token = self.next_token
        self.next_token += 1
        self.vouchers[token] = to or holder
        return token

    def transfer_voucher(self, token: int, to: str) -> None:
        owner = self.vouchers[token]
        self.send(self.contracts["DataVoucher"].functions.transferFrom(self.addr[owner], self.addr[to], token), owner)
        self.vouchers[token] = to

    def redeem(self, token: int) -> None:
        self.send(self.contracts["DataVoucher"].functions.redeem(token, b"\x22" * 32), self.vouchers[token])

    def mint(self, to: str, amount: int) -> None:
        self.send(self.contracts["PaymentToken"].functions.mint(self.addr[to], amount), "authority")

    def pay(self, frm: str, to: str, amount: int) -> None:
        self.send(self.contracts["PaymentToken"].functions.transfer(self.addr[to], amount), frm)

    def value(self, asset_id: int, amount: int) -> None:
        self.send(self.contracts["AssetRegistry"].functions.recordValuation(
            asset_id, amount, b"CNY", b"income".ljust(32, b"\0"), b"report"), "appraiser")

    def random_action(self) -> None:
        """One random successful action (mostly voucher and payment traffic)."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.15 or not self.vouchers:
            holder = rng.choice(HOLDERS)
            if not self.assets.get(holder) or rng.random() < 0.3:
                self.register_asset(holder)
            self.issue(holder, rng.choice(self.assets[holder]))
        elif roll < 0.55:
            token = rng.choice(sorted(self.vouchers))
            to = rng.choice([h for h in HOLDERS if h != self.vouchers[token]])
            self.transfer_voucher(token, to)
        elif roll < 0.65:
            self.redeem_any()
        elif roll < 0.85:
            self.mint(rng.choice(HOLDERS), rng.randint(1, 10 ** 6))
        elif roll < 0.95:
            self.pay_any()
        else:
            holder = rng.choice([h for h in HOLDERS if self.assets.get(h)] or [None])
            if holder is None:
                self.mint("holder_a", 1)
            else:
                self.value(rng.choice(self.assets[holder]), rng.randint(1, 10 ** 12))

    def redeem_any(self) -> None:
        token = self.rng.choice(sorted(self.vouchers))
        v = self.contracts["DataVoucher"].functions
        try:
            self.redeem(token)
        except Exception:  # exhausted: issue instead
            holder = self.vouchers[token]
            if self.assets.get(holder):
                self.issue(holder, self.assets[holder][0])
        del v

    def pay_any(self) -> None:
        token = self.contracts["PaymentToken"]
        for holder in self.rng.sample(HOLDERS, len(HOLDERS)):
            balance = token.functions.balanceOf(self.addr[holder]).call()
            if balance > 0:
                to = self.rng.choice([h for h in HOLDERS if h != holder])
                self.pay(holder, to, self.rng.randint(1, balance))
                return
        self.mint("holder_a", 100)

    def mints(self, n: int) -> None:
        """n payment-token mints: valid on any branch after a reorg (the model of vouchers may be stale)."""
        for i in range(n):
            self.mint(HOLDERS[i % len(HOLDERS)], 10 + i)

    def activity(self, n: int) -> None:
        for _ in range(n):
            self.random_action()


def setup_market(w3: Web3, seed: int = 7) -> Market:
    """Deploy the suite and register the parties (each an organisation with one account)."""
    accounts = w3.eth.accounts
    deployer = accounts[0]
    contracts = deploy_all(w3, deployer)
    addr = {name: accounts[idx] for name, (idx, _, _, _) in PARTIES.items()}
    market = Market(w3=w3, contracts=contracts, addr=addr, record=deployment_record(w3, contracts),
                    rng=random.Random(seed))
    registry = contracts["ParticipantRegistry"]
    now = w3.eth.get_block("latest")["timestamp"]
    for name, (_idx, jur, roles, licensed) in PARTIES.items():
        org = hashlib.sha256(f"org-{name}".encode()).digest()
        market.send(registry.functions.registerOrganisation(org, jur.encode(), roles, addr[name]), "authority")
        market.send(registry.functions.addAccount(org, addr[name], roles), name)
        if licensed:
            market.send(registry.functions.setLicenceExpiry(addr[name], now + 10 ** 8), "authority")
    return market
