"""The seeded demo market of `make up`: who is who, and a small but complete history.

Accounts are anvil's default-mnemonic accounts (demo only: their keys are public). The history
covers every kind of record: organisations and licences, datasets with manifests on IPFS, a
valuation, primary-market vouchers from the authority, an enterprise voucher, a use redeemed by a
bank (the Foshan pilot), a customs clearance, and trades settled by the exchange (one through a
broker, one cross-border).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from dataledger.dev.anvil import DEFAULT_MNEMONIC
from ledger.contracts.models import LICENSED_ROLES, Role, cid_to_chain
from ledger.errors import LedgerError
from ledger.ipfs import IpfsStore, open_store
from ledger.tx import NonceManager, TxSender
from ledger.wallet import ORDER_FIELDS, sign_order

Account.enable_unaudited_hdwallet_features()

# role bits, as in contracts/src/interfaces/IParticipantRegistry.sol (ParticipantRoles)
# plain ints (web3 would treat an IntFlag, which is iterable, as a list)
AUTHORITY, OPERATOR, EXCHANGE, BROKER, APPRAISER, CUSTOMS, REGULATOR, HOLDER = (int(role) for role in (
    Role.AUTHORITY, Role.OPERATOR, Role.EXCHANGE, Role.BROKER, Role.APPRAISER, Role.CUSTOMS, Role.REGULATOR,
    Role.HOLDER))


@dataclass(frozen=True)
class DemoParticipant:
    key: str  # short name used in demo.json
    index: int  # anvil mnemonic index
    organisation: str
    credit_code: str  # unified social credit code (stand-in values)
    jurisdiction: str
    roles: int
    name_zh: str = ""
    city: str = ""


PARTICIPANTS = (
    DemoParticipant("authority", 0, "Guangdong Provincial Data Authority", "11440000MB2C00001A", "CN", AUTHORITY,
                    "广东省政务服务和数据管理局", "Guangzhou"),
    DemoParticipant("operator", 1, "Guangdong Public Data Operations Co.", "91440000MA5F00002B", "CN", OPERATOR | HOLDER,
                    "广东公共数据运营有限公司", "Guangzhou"),
    DemoParticipant("exchange", 2, "Guangzhou Data Exchange", "91440101MA9X00003C", "CN", EXCHANGE,
                    "广州数据交易所", "Guangzhou"),
    DemoParticipant("broker", 3, "Pearl River Data Brokerage", "91440101MA9X00004D", "CN", BROKER,
                    "珠江数据经纪有限公司", "Guangzhou"),
    DemoParticipant("appraiser", 4, "Lingnan Data Asset Appraisal", "91440101MA9X00005E", "CN", APPRAISER,
                    "岭南数据资产评估有限公司", "Guangzhou"),
    DemoParticipant("customs", 5, "Nansha Data Customs", "11440115MB2C00006F", "CN", CUSTOMS,
                    "南沙数据海关", "Guangzhou"),
    DemoParticipant("regulator", 6, "Guangdong Market Supervision", "11440000MB2C00007G", "CN", REGULATOR,
                    "广东省市场监督管理局", "Guangzhou"),
    DemoParticipant("holder_cn", 7, "Foshan Precision Manufacturing Ltd.", "91440604MA4W00008H", "CN", HOLDER,
                    "佛山精密制造有限公司", "Foshan"),
    DemoParticipant("bank_cn", 8, "Foshan Rural Commercial Bank", "91440600MA4W00009J", "CN", HOLDER,
                    "佛山农村商业银行", "Foshan"),
    DemoParticipant("holder_hk", 9, "Kowloon Analytics Ltd.", "HK-CR-3001234", "HK", HOLDER,
                    "九龍數據分析有限公司", "Hong Kong"),
    DemoParticipant("holder_mo", 10, "Macau Logistics Data Lda.", "MO-SO-88123", "MO", HOLDER,
                    "澳門物流數據有限公司", "Macau"),
    DemoParticipant("holder_sg", 11, "Straits Research Pte. Ltd.", "SG-UEN-201912345K", "SG", HOLDER,
                    "海峡研究私人有限公司", "Singapore"),
)

#: licence kinds of the licensed roles (profile documents)
_LICENCE_KINDS = {OPERATOR: "public-data-operation", EXCHANGE: "data-exchange", BROKER: "data-brokerage",
                  APPRAISER: "data-asset-appraisal"}


def profile_document(p: DemoParticipant, valid_until: str = "2027-12-31") -> bytes:
    """The participant organisation's profile document (ledger.profile), canonical bytes."""
    from ledger.profile import Licence, Names, OrganisationProfile, profile_bytes

    licences = [Licence(kind=kind, number=f"{p.credit_code[-6:]}-{bit:03d}", issuer="广东省政务服务和数据管理局",
                        valid_until=valid_until)
                for bit, kind in sorted(_LICENCE_KINDS.items()) if p.roles & bit]
    return profile_bytes(OrganisationProfile(
        legal_name=Names(zh=p.name_zh or None, en=p.organisation), credit_code=p.credit_code,
        jurisdiction=p.jurisdiction, city=p.city or None, licences=licences))


def demo_accounts() -> dict[str, LocalAccount]:
    return {
        p.key: Account.from_mnemonic(DEFAULT_MNEMONIC, account_path=f"m/44'/60'/0'/0/{p.index}")
        for p in PARTICIPANTS
    }


def sha256(text: str | bytes) -> bytes:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).digest()


def org_id(credit_code: str) -> bytes:
    return sha256(credit_code)


def purpose_digest(store: IpfsStore, purpose: str) -> bytes:
    """Store a use's purpose text on IPFS and return what redeem records: the sha-256 digest of its
    raw-leaf CIDv1 (= sha-256 of the text; see ledger.contracts.vouchers.purpose_document)."""
    from ledger.contracts.vouchers import purpose_document

    return purpose_document(store, purpose)[1]


class _DemoSigner:
    """Sends the seeding transactions signed locally with the demo keys through ledger.tx.TxSender
    (fees priced from the node, one nonce manager), so the demo seeds any node, not only one that
    holds the accounts unlocked (anvil)."""

    def __init__(self, w3: Web3) -> None:
        nonces = NonceManager(w3)
        chain_id = int(w3.eth.chain_id)
        self.senders: dict[str, TxSender] = {
            str(a.address): TxSender(w3, a, nonces, chain_id) for a in demo_accounts().values()}

    def __call__(self, fn: Any, sender: str) -> Any:
        contract = fn.w3.eth.contract(address=fn.address, abi=fn.contract_abi)
        data = contract.encode_abi(fn.fn_name, args=list(fn.args))
        try:
            return self.senders[sender].send({"to": fn.address, "data": data}).receipt
        except LedgerError as exc:
            raise RuntimeError(f"demo seeding transaction {fn.fn_name} from {sender} failed: {exc}") from None


def _event_arg(contract: Contract, receipt: Any, event: str, arg: str) -> Any:
    for log in getattr(contract.events, event)().process_receipt(receipt, errors=DISCARD):
        return log["args"][arg]
    raise RuntimeError(f"{event} not emitted")


def _dataset_files(title: str, rows: int) -> dict[str, bytes]:
    """Small deterministic CSV files standing in for the dataset's content."""
    slug = hashlib.sha256(title.encode()).hexdigest()[:8]
    data = "\n".join(["month,entity,value"] + [f"2025-{1 + i % 12:02d},E{slug}{i % 7},{(i * 7919) % 10007}"
                                                for i in range(rows)]) + "\n"
    readme = f"{title}\nSynthetic demo content; {rows} rows.\n"
    return {"data/records.csv": data.encode(), "README.txt": readme.encode()}


def _manifest_bytes(store: IpfsStore, title: str, description: str, publisher: str, credit_code: str,
                    level: int, source: str, keywords: list[str], rows: int = 240,
                    zh: Optional[tuple[str, str, list[str]]] = None, themes: Optional[list[str]] = None) -> bytes:
    """A DCAT manifest (ledger.manifest.Manifest) whose distributions are stored in the IPFS store;
    ``zh``: (title, description, keywords) in Chinese."""
    from ledger.manifest import (
        Agent,
        ClassificationLevel,
        Distribution,
        Manifest,
        SourceType,
        Translation,
        canonical_json,
        media_type_for,
    )

    distributions = [
        Distribution(path=path, media_type=media_type_for(path), byte_size=len(body),
                     sha256=hashlib.sha256(body).hexdigest(), cid=store.add(body))
        for path, body in sorted(_dataset_files(title, rows).items())
    ]
    manifest = Manifest(
        title=title, description=description,
        publisher=Agent(name=publisher, identifier=credit_code),
        keywords=keywords, spatial="CN-GD", license="proprietary",
        rights="Use only within the purpose stated in the voucher scope.",
        classification_level=ClassificationLevel(level), source_type=SourceType(source),
        distributions=distributions, theme=themes or [],
        translations={"zh-CN": Translation(title=zh[0], description=zh[1], keywords=zh[2])} if zh else None,
    )
    return canonical_json(manifest)


#: demo sizes: the small market the tests rely on (fixed ids), the market of `make up` (~30
#: organisations, ~50 datasets, six months: dataledger.dev.demo_market) and a bigger one for benchmarks
SIZES = {"small": 0, "market": 1, "bench": 4}


def seed(w3: Web3, contracts: dict[str, Contract], state_dir: Path | None = None, size: str = "small") -> str:
    """Populate a freshly deployed market; returns a one-line summary. ``size``: small (default; the
    tests' fixed ids), market (``make up``) or bench; the larger sizes start with the small one, so
    its ids are the first ones."""
    if size not in SIZES:
        raise ValueError(f"unknown demo size {size!r} (one of: {', '.join(SIZES)})")
    if SIZES[size]:
        from dataledger.dev.demo_market import seed_market

        return seed_market(w3, contracts, state_dir or Path(".dataledger"), scale=SIZES[size])
    store = open_store(str((state_dir or Path(".dataledger")) / "ipfs"))
    _send = _DemoSigner(w3)
    acct = {k: a.address for k, a in demo_accounts().items()}
    keys = demo_accounts()
    registry = contracts["ParticipantRegistry"]
    assets = contracts["AssetRegistry"]
    customs = contracts["DataCustoms"]
    vouchers = contracts["DataVoucher"]
    token = contracts["PaymentToken"]
    settlement = contracts["TradeSettlement"]
    authority = acct["authority"]
    now = int(w3.eth.get_block("latest")["timestamp"])
    year = 365 * 24 * 3600

    # organisations, accounts, licences, and each organisation's profile document (names, credit code)
    for p in PARTICIPANTS:
        oid = org_id(p.credit_code)
        _send(registry.functions.registerOrganisation(oid, p.jurisdiction.encode(), p.roles, acct[p.key]), authority)
        profile = store.add(profile_document(p))
        _send(registry.functions.setOrganisationProfile(oid, cid_to_chain(profile)), authority)
        _send(registry.functions.addAccount(oid, acct[p.key], p.roles), acct[p.key])
        if p.roles & LICENSED_ROLES:
            _send(registry.functions.setLicenceExpiry(acct[p.key], now + year), authority)

    # datasets (确权登记) with manifests on IPFS
    by_address: dict[str, DemoParticipant] = {acct[p.key]: p for p in PARTICIPANTS}

    def register(holder: str, title: str, description: str, level: int, source: int, keywords: list[str],
                 zh: Optional[tuple[str, str, list[str]]] = None, themes: Optional[list[str]] = None) -> int:
        source_name = ("public", "enterprise", "personal-derived")[source]
        who = by_address[holder]
        body = _manifest_bytes(store, title, description, who.organisation, who.credit_code, level,
                               source_name, keywords, zh=zh, themes=themes)
        cid = store.add(body)
        receipt = _send(assets.functions.registerAsset(cid_to_chain(cid), sha256(body), level, source), holder)
        return int(_event_arg(assets, receipt, "AssetRegistered", "assetId"))

    tax_power = register(acct["operator"], "Foshan enterprise tax and power-use records 2025",
                         "Monthly tax filings and metered power use of Foshan enterprises (public data).",
                         2, 0, ["tax", "power", "credit"],
                         zh=("佛山企业纳税与用电记录 2025", "佛山企业月度纳税申报与用电计量数据（公共数据）。",
                             ["纳税", "用电", "信用"]), themes=["finance", "energy"])
    line_data = register(acct["holder_cn"], "Production-line sensor telemetry",
                         "Vibration and temperature telemetry of CNC lines, 1 Hz.", 2, 1, ["iot", "manufacturing"],
                         zh=("生产线传感器遥测数据", "数控生产线振动与温度遥测，1 赫兹。", ["物联网", "制造"]),
                         themes=["manufacturing"])
    design_data = register(acct["holder_cn"], "Precision part design library",
                           "CAD library of precision parts (important data).", 3, 1, ["cad", "design"],
                           zh=("精密零件设计库", "精密零件 CAD 库（重要数据）。", ["设计"]), themes=["manufacturing"])

    report = store.add(b"Valuation report: income approach, 2026 Q3")
    _send(assets.functions.recordValuation(line_data, 1_200_000_00, b"CNY", sha256("income-approach"),
                                           cid_to_chain(report)), acct["appraiser"])

    # vouchers: primary market (public data by the authority), enterprise data by its holder
    def issue(issuer: str, to: str, asset_id: int, right: int, scope: str, max_uses: int, transferable: bool) -> int:
        receipt = _send(vouchers.functions.issue(to, asset_id, right, sha256(scope), now, now + year, max_uses,
                                                 transferable), issuer)
        return int(_event_arg(vouchers, receipt, "VoucherIssued", "voucherId"))

    foshan = issue(authority, acct["holder_cn"], tax_power, 1, "loan credit assessment", 12, False)
    operator_grant = issue(authority, acct["operator"], tax_power, 2, "authorised operation of public data", 0, False)
    line_use = issue(acct["holder_cn"], acct["holder_cn"], line_data, 1, "predictive maintenance models", 100, True)
    line_use_2 = issue(acct["holder_cn"], acct["holder_cn"], line_data, 1, "quality analytics", 50, True)

    # the Foshan pilot: the enterprise authorises its bank, which redeems a use for a loan decision
    _send(vouchers.functions.authoriseUser(foshan, acct["bank_cn"], True), acct["holder_cn"])
    _send(vouchers.functions.redeem(foshan, purpose_digest(store, "SME loan decision #2026-118")), acct["bank_cn"])

    # data customs: clearance for the telemetry right to go to Hong Kong
    purpose = store.add(b"Cross-border purpose: joint maintenance analytics with Kowloon Analytics")
    receipt = _send(customs.functions.requestClearance(line_data, b"HK", acct["holder_hk"], cid_to_chain(purpose)),
                    acct["holder_cn"])
    clearance_id = int(_event_arg(customs, receipt, "ClearanceRequested", "clearanceId"))
    conditions = store.add(b"Conditions: no onward transfer; aggregate outputs only")
    _send(customs.functions.approveClearance(clearance_id, now + 90 * 24 * 3600, cid_to_chain(conditions)), acct["customs"])

    # settlement: payment tokens, exchange fee, approvals, two trades (one with a broker, cross-border)
    for buyer in ("bank_cn", "holder_hk"):
        _send(token.functions.mint(acct[buyer], 5_000_000_00), authority)
        _send(token.functions.approve(settlement.address, 2**256 - 1), acct[buyer])
    _send(settlement.functions.setExchangeFee(acct["exchange"], 100), authority)
    _send(vouchers.functions.setApprovalForAll(settlement.address, True), acct["holder_cn"])

    chain_id = w3.eth.chain_id

    def order(maker: str, side: int, voucher_id: int, price: int, nonce: int, broker: str, commission: int) -> tuple[dict[str, Any], bytes]:
        # both orders cap the fee at the exchange's current one; the buy order commits to the
        # voucher's uses left and validity end as it reads them before signing
        core = vouchers.functions.voucherCore(voucher_id).call()
        message = {
            "maker": acct[maker], "side": side, "voucherId": voucher_id, "price": price,
            "paymentToken": token.address, "exchange": acct["exchange"], "broker": broker,
            "commission": commission, "maxFeeBps": settlement.functions.exchangeFeeBps(acct["exchange"]).call(),
            "minUsesLeft": core[6] - core[7] if side == 1 else 0, "minValidUntil": core[5] if side == 1 else 0,
            "nonce": nonce, "deadline": now + 7 * 24 * 3600,
        }
        return message, sign_order(keys[maker], message, chain_id, settlement.address)

    zero = "0x" + "00" * 20
    sell, sell_sig = order("holder_cn", 0, line_use_2, 80_000_00, 1, acct["broker"], 1_600_00)
    buy, buy_sig = order("bank_cn", 1, line_use_2, 80_000_00, 1, zero, 0)
    _send(settlement.functions.settle(_order_tuple(sell), sell_sig, _order_tuple(buy), buy_sig), acct["exchange"])
    sell, sell_sig = order("holder_cn", 0, line_use, 150_000_00, 2, zero, 0)
    buy, buy_sig = order("holder_hk", 1, line_use, 150_000_00, 1, zero, 0)
    _send(settlement.functions.settle(_order_tuple(sell), sell_sig, _order_tuple(buy), buy_sig), acct["exchange"])

    del operator_grant, design_data
    return (f"{len(PARTICIPANTS)} participants, 3 datasets, 4 vouchers, 1 use, 1 clearance, 2 trades "
            f"(head block {w3.eth.block_number})")


def _order_tuple(message: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(message[name] for name, _type in ORDER_FIELDS)


def _market_participants(contracts: dict[str, Contract]) -> list[dict[str, Any]]:
    """The demo market's extra organisations (dataledger.dev.demo_market), those registered on this chain."""
    from dataledger.dev.demo_market import EXTRA, extra_accounts

    registry = contracts["ParticipantRegistry"]
    keys = extra_accounts()
    out = []
    for key, name, name_zh, code, jurisdiction, roles, _city in EXTRA:
        account = keys[key]
        if registry.functions.orgOf(account.address).call() == b"\0" * 32:
            continue
        out.append({"key": key, "address": account.address, "privateKey": account.key.hex(), "organisation": name,
                    "organisationZh": name_zh, "creditCode": code, "jurisdiction": jurisdiction,
                    "roles": [str(role.name).lower() for role in Role if roles & role]})
    return out


def write_demo_file(state_dir: Path, w3: Web3, contracts: dict[str, Contract]) -> Path:
    accounts = demo_accounts()
    document = {
        "chainId": w3.eth.chain_id,
        "mnemonic": DEFAULT_MNEMONIC,
        "note": "demo keys from anvil's public default mnemonic: never use them on a real network",
        "contracts": {name: c.address for name, c in contracts.items()},
        "participants": [
            {
                "key": p.key,
                "address": accounts[p.key].address,
                "privateKey": accounts[p.key].key.hex(),
                "organisation": p.organisation,
                "organisationZh": p.name_zh,
                "creditCode": p.credit_code,
                "jurisdiction": p.jurisdiction,
                "roles": [str(role.name).lower() for role in Role if p.roles & role],
            }
            for p in PARTICIPANTS
        ] + _market_participants(contracts),
        "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    path = state_dir / "demo.json"
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path
