"""The ``market`` fixture: one deployed suite with a realistic set of participants.

Deployed once per session (``market_session``); ``market`` wraps it in the per-test ``chain``
snapshot, so every test starts from the same registered market and its changes are reverted.

Participants (anvil default accounts; officer = the organisation's chief data officer):

    idx  name        org                      jur  roles                licence
    0    authority   Guangdong data authority  CN   AUTHORITY|HOLDER     -      (also admin + registrar)
    1    operator    public-data operator      CN   OPERATOR|HOLDER      1 year
    2    exchange    data exchange             CN   EXCHANGE             1 year
    3    broker      data broker               CN   BROKER               1 year
    4    appraiser   asset appraiser           CN   APPRAISER            1 year
    5    customs     data customs              CN   CUSTOMS              -
    6    regulator   market regulator          CN   REGULATOR            -
    7    holder_cn   enterprise A (officer 12) CN   HOLDER               -
    8    bank_cn     bank                      CN   HOLDER               -
    9    holder_hk   Hong Kong enterprise      HK   HOLDER               -
    10   holder_mo   Macao enterprise          MO   HOLDER               -
    11   holder_sg   Singapore enterprise      SG   HOLDER               -
    12   officer_cn  officer of enterprise A (not itself a participant)
    13-18 spare      unregistered
    19   outsider    unregistered
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Optional

import pytest
from web3 import Web3
from web3.contract import Contract

from ledger.artifacts import UnknownArtifact
from ledger.deploy import deploy_all, deploy_contract
from tests.contracts.helpers import (
    ClearanceState,
    Roles,
    SourceType,
    event,
    fresh_content,
    jur,
    org_id,
    send,
)

LICENCE_SECONDS = 365 * 24 * 3600

#: name -> (account index, unified social credit code, jurisdiction, org allowed roles, account roles, licensed)
ORGS: dict[str, tuple[int, str, str, int, int, bool]] = {
    "authority": (0, "11440000MB2C00001X", "CN", Roles.AUTHORITY | Roles.HOLDER, Roles.AUTHORITY | Roles.HOLDER, False),
    "operator": (1, "91440101MA5C00002Y", "CN", Roles.OPERATOR | Roles.HOLDER, Roles.OPERATOR | Roles.HOLDER, True),
    "exchange": (2, "91440101MA5C00003Z", "CN", Roles.EXCHANGE, Roles.EXCHANGE, True),
    "broker": (3, "91440101MA5C00004A", "CN", Roles.BROKER | Roles.HOLDER, Roles.BROKER, True),
    "appraiser": (4, "91440101MA5C00005B", "CN", Roles.APPRAISER, Roles.APPRAISER, True),
    "customs": (5, "11440000MB2C00006C", "CN", Roles.CUSTOMS, Roles.CUSTOMS, False),
    "regulator": (6, "11440000MB2C00007D", "CN", Roles.REGULATOR, Roles.REGULATOR, False),
    "holder_cn": (7, "91440604MA5C00008E", "CN", Roles.HOLDER, Roles.HOLDER, False),
    "bank_cn": (8, "91440604MA5C00009F", "CN", Roles.HOLDER, Roles.HOLDER, False),
    "holder_hk": (9, "HK-BR-0000000010", "HK", Roles.HOLDER, Roles.HOLDER, False),
    "holder_mo": (10, "MO-RC-0000000011", "MO", Roles.HOLDER, Roles.HOLDER, False),
    "holder_sg": (11, "SG-UEN-201900012G", "SG", Roles.HOLDER, Roles.HOLDER, False),
}
OFFICER_CN_INDEX = 12  # the officer of holder_cn's organisation is a separate account
OUTSIDER_INDEX = 19


@dataclass
class Market:
    w3: Web3
    contracts: dict[str, Contract]
    accounts: list[Any]  # LocalAccounts (anvil's, unlocked on the node)
    addr: dict[str, str]  # participant name -> address
    orgs: dict[str, bytes]  # participant name -> orgId
    officers: dict[str, str]  # participant name -> officer address of its organisation
    licence_expiry: int
    partial: bool = False  # True while DataVoucher & co. are not built yet
    chain: Optional[Any] = field(default=None, repr=False)

    # contracts
    @property
    def participants(self) -> Contract:
        return self.contracts["ParticipantRegistry"]

    @property
    def assets(self) -> Contract:
        return self.contracts["AssetRegistry"]

    @property
    def datacustoms(self) -> Contract:
        return self.contracts["DataCustoms"]

    @property
    def voucher(self) -> Contract:
        return self.contracts["DataVoucher"]

    @property
    def token(self) -> Contract:
        return self.contracts["PaymentToken"]

    @property
    def settlement(self) -> Contract:
        return self.contracts["TradeSettlement"]

    # well-known accounts
    def __getattr__(self, name: str) -> str:
        addr = self.__dict__.get("addr", {})
        if name in addr:
            return addr[name]
        raise AttributeError(name)

    @property
    def admin(self) -> str:
        return self.accounts[0].address

    @property
    def officer_cn(self) -> str:
        return self.accounts[OFFICER_CN_INDEX].address

    @property
    def outsider(self) -> str:
        return self.accounts[OUTSIDER_INDEX].address

    @property
    def spare(self) -> list[str]:
        return [a.address for a in self.accounts[13:19]]

    # convenience actions
    def register_asset(
        self,
        holder: str,
        level: int = 2,
        source: SourceType = SourceType.ENTERPRISE,
        cid: bytes | None = None,
        content_hash: bytes | None = None,
    ) -> int:
        """Register a fresh dataset held by ``holder``; returns its asset id."""
        if cid is None or content_hash is None:
            cid, content_hash = fresh_content()
        receipt = send(self.assets.functions.registerAsset(cid, content_hash, level, int(source)), holder)
        return int(event(self.assets, receipt, "AssetRegistered")["assetId"])

    def clear(
        self,
        asset_id: int,
        destination: str,
        recipient: str = "0x" + "00" * 20,
        expiry: int | None = None,
        requester: str | None = None,
    ) -> int:
        """Request and approve a clearance; returns the clearance id. Default expiry: 30 days."""
        requester = requester or self.addr["authority"]
        receipt = send(
            self.datacustoms.functions.requestClearance(asset_id, jur(destination), recipient, b"purpose"),
            requester,
        )
        clearance_id = int(event(self.datacustoms, receipt, "ClearanceRequested")["clearanceId"])
        if expiry is None:
            expiry = int(self.w3.eth.get_block("latest")["timestamp"]) + 30 * 24 * 3600
        send(self.datacustoms.functions.approveClearance(clearance_id, expiry, b"conditions"), self.addr["customs"])
        assert self.datacustoms.functions.clearance(clearance_id).call()[3] == ClearanceState.APPROVED
        return clearance_id


def _deploy(w3: Web3, deployer: Any) -> tuple[dict[str, Contract], bool]:
    try:
        return deploy_all(w3, deployer), False
    except UnknownArtifact:
        # Voucher/settlement artifacts not built yet: the registries alone (same constructor order).
        c: dict[str, Contract] = {}
        c["ParticipantRegistry"] = deploy_contract(w3, "ParticipantRegistry", deployer.address, sender=deployer)
        p = c["ParticipantRegistry"].address
        c["AssetRegistry"] = deploy_contract(w3, "AssetRegistry", p, sender=deployer)
        c["DataCustoms"] = deploy_contract(w3, "DataCustoms", p, c["AssetRegistry"].address, sender=deployer)
        return c, True


@pytest.fixture(scope="session")
def market_session(w3: Web3, accounts: list[Any]) -> Market:
    deployer = accounts[0]
    contracts, partial = _deploy(w3, deployer)
    registry = contracts["ParticipantRegistry"]
    now = int(w3.eth.get_block("latest")["timestamp"])
    licence_expiry = now + LICENCE_SECONDS
    addr: dict[str, str] = {}
    orgs: dict[str, bytes] = {}
    officers: dict[str, str] = {}
    for name, (idx, uscc, j, allowed, roles, licensed) in ORGS.items():
        account = accounts[idx].address
        officer = accounts[OFFICER_CN_INDEX].address if name == "holder_cn" else account
        oid = org_id(uscc)
        send(registry.functions.registerOrganisation(oid, jur(j), allowed, officer), deployer.address)
        send(registry.functions.addAccount(oid, account, roles), officer)
        if licensed:
            send(registry.functions.setLicenceExpiry(account, licence_expiry), deployer.address)
        addr[name] = account
        orgs[name] = oid
        officers[name] = officer
    return Market(
        w3=w3,
        contracts=contracts,
        accounts=accounts,
        addr=addr,
        orgs=orgs,
        officers=officers,
        licence_expiry=licence_expiry,
        partial=partial,
    )


@pytest.fixture
def market(market_session: Market, chain: Any) -> Iterator[Market]:
    """The registered market, reverted to its initial state after the test."""
    market_session.chain = chain
    yield market_session
    market_session.chain = None
