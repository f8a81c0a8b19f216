"""A market built through the SDK itself (end to end), reverted after every test.

Accounts (anvil defaults): 0 authority (admin/registrar), 1 operator, 2 exchange, 3 broker,
4 appraiser, 5 customs, 6 regulator, 7 holder_cn, 8 bank_cn, 9 holder_hk, 10 holder_sg,
11 regulator2 (a second account of the regulator's organisation: recovery takes two regulators),
12..18 spare (unregistered), 19 outsider (unregistered).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from web3 import Web3

from dataledger.dev.anvil import AnvilNode
from ledger.chain import Ledger
from ledger.deploy import deploy_all, deployment_record

LICENCE = 365 * 24 * 3600

#: name -> (account index, credit code, jurisdiction, roles, licensed)
PARTIES: dict[str, tuple[int, str, str, str, bool]] = {
    "authority": (0, "L-AUTH-0001", "CN", "authority,holder", False),
    "operator": (1, "L-OPER-0002", "CN", "operator,holder", True),
    "exchange": (2, "L-EXCH-0003", "CN", "exchange", True),
    "broker": (3, "L-BROK-0004", "CN", "broker", True),
    "appraiser": (4, "L-APPR-0005", "CN", "appraiser", True),
    "customs": (5, "L-CUST-0006", "CN", "customs", False),
    "regulator": (6, "L-REGU-0007", "CN", "regulator", False),
    "holder_cn": (7, "L-HOCN-0008", "CN", "holder", False),
    "bank_cn": (8, "L-BACN-0009", "CN", "holder", False),
    "holder_hk": (9, "L-HOHK-0010", "HK", "holder", False),
    "holder_sg": (10, "L-HOSG-0011", "SG", "holder", False),
    "regulator2": (11, "L-REGU-0007", "CN", "regulator", False),  # joins the regulator's organisation
}
OUTSIDER = 19

_content = itertools.count(1)


def fresh_content(tag: str = "") -> tuple[str, bytes]:
    """(a CIDv1 raw string, sha-256 content hash), unique per call."""
    from ledger.ipfs import block_cid

    body = f"dataset-{tag}-{next(_content)}".encode()
    return str(block_cid(body)), hashlib.sha256(body).digest()


@dataclass
class SdkMarket:
    rpc_url: str
    record: dict[str, Any]
    accounts: list[LocalAccount]
    addr: dict[str, str]
    base: Ledger

    def as_(self, who: str | int) -> Ledger:
        idx = PARTIES[who][0] if isinstance(who, str) else who
        return self.base.as_account(self.accounts[idx])

    def key(self, who: str | int) -> LocalAccount:
        idx = PARTIES[who][0] if isinstance(who, str) else who
        return self.accounts[idx]

    @property
    def outsider(self) -> str:
        return self.accounts[OUTSIDER].address

    def asset(self, holder: str = "holder_cn", level: int = 2, source: str = "enterprise") -> int:
        cid, digest = fresh_content(holder)
        return int(self.as_(holder).assets.register(cid, digest, level, source).value)

    def voucher(self, holder: str = "holder_cn", level: int = 2, transferable: bool = True,
                max_uses: int = 5) -> int:
        asset_id = self.asset(holder, level)
        led = self.as_(holder)
        now = led.now()
        return int(led.vouchers.issue(led.address, asset_id, "use", "scope", now - 10, now + 30 * 86400,
                                      max_uses, transferable).value)


@pytest.fixture(scope="session")
def sdk_market_session(anvil: AnvilNode, w3: Web3, accounts: list[LocalAccount]) -> SdkMarket:
    contracts = deploy_all(w3, accounts[0])
    record = deployment_record(w3, contracts)
    base = Ledger.connect(anvil.rpc_url, deployment=record, account=accounts[0])
    addr: dict[str, str] = {}
    now = base.now()
    officers: dict[str, LocalAccount] = {}
    for name, (idx, code, jur, roles, licensed) in PARTIES.items():
        acct = accounts[idx]
        if code not in officers:
            base.participants.register_organisation(code, jur, roles, acct.address)
            officers[code] = acct
        base.as_account(officers[code]).participants.add_account(code, acct.address, roles)
        if licensed:
            base.participants.set_licence_expiry(acct.address, now + LICENCE)
        addr[name] = acct.address
    # settlement plumbing: exchange fee, buyers funded and approving
    base.settlement.set_exchange_fee(addr["exchange"], 100)
    for buyer in ("bank_cn", "holder_hk", "holder_sg"):
        base.token.mint(addr[buyer], 10_000_000)
        base.as_account(accounts[PARTIES[buyer][0]]).token.approve(base.settlement.address, 2**255)
    return SdkMarket(anvil.rpc_url, record, accounts, addr, base)


@pytest.fixture
def sdk_market(sdk_market_session: SdkMarket, chain: Any) -> Iterator[SdkMarket]:
    # nonces cached by the shared manager would go stale after evm_revert: start each test fresh
    sdk_market_session.base.nonces.forget()
    yield sdk_market_session
    sdk_market_session.base.nonces.forget()


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"
