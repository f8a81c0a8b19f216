"""The demo market worth reading (issue 13): ~30 organisations, ~50 bilingual datasets and six months
of activity, seeded deterministically on top of the small demo (ledger.demo.seed, whose ids stay the
first ones).

Who: the small seed's twelve organisations, plus a second exchange (Shenzhen), a second broker,
appraiser, data customs and regulator, and enterprises in Guangzhou, Shenzhen, Foshan, Hong Kong,
Macau and abroad (Germany, Japan) — each with a profile document (Chinese and English legal names,
credit code, licences) whose CID the registrar records.

What: datasets across sectors with bilingual DCAT manifests; per month: registrations, valuations,
primary grants of public data by the authority, enterprise vouchers, uses (purpose texts stored as
documents), authorised users, trades on both exchanges (some through brokers), clearances granted
and refused and the cross-border sales they allow; a freeze (lifted), and a recovery from a lost key
by two regulators.

When: on anvil, when the chain's clock is at least five months behind the wall clock (``make up``
starts a fresh anvil with its genesis six months back), the activity is spread month by month up
to now with ``evm_setNextBlockTimestamp``; on any other chain it all happens at the chain's time.

``scale`` multiplies the datasets and the monthly activity (``size="bench"``: scale 4).
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from dataledger.dev import demo
from dataledger.dev.anvil import DEFAULT_MNEMONIC
from ledger.contracts.models import LICENSED_ROLES, cid_to_chain
from ledger.ipfs import open_store
from ledger.tx import TxSender
from ledger.wallet import sign_order

DAY = 24 * 3600
MONTH = 30 * DAY
FIRST_EXTRA_INDEX = 20  # mnemonic indexes of the extra accounts (anvil funds 0..19)

A, X, B, P, C, R, H = (demo.AUTHORITY, demo.EXCHANGE, demo.BROKER, demo.APPRAISER, demo.CUSTOMS,
                          demo.REGULATOR, demo.HOLDER)

#: key, English name, Chinese name, credit code, jurisdiction, roles, city
EXTRA: tuple[tuple[str, str, str, str, str, int, str], ...] = (
    ("exchange_sz", "Shenzhen Data Exchange", "深圳数据交易所", "91440300MA5H00101K", "CN", X, "Shenzhen"),
    ("broker_sz", "Qianhai Data Brokerage Ltd.", "前海数据经纪有限公司", "91440300MA5H00102L", "CN", B, "Shenzhen"),
    ("appraiser_sz", "Greater Bay Data Valuation Co.", "大湾区数据资产评估有限公司", "91440300MA5H00103M", "CN", P,
     "Shenzhen"),
    ("customs_sz", "Qianhai Data Customs", "前海数据海关", "11440300MB2C00104N", "CN", C, "Shenzhen"),
    ("regulator_sz", "Shenzhen Market Regulation Bureau", "深圳市市场监督管理局", "11440300MB2C00105P", "CN", R,
     "Shenzhen"),
    ("gz_metro", "Guangzhou Metro Group", "广州地铁集团有限公司", "91440101MA9X00106Q", "CN", H, "Guangzhou"),
    ("gz_health", "Guangzhou Health Data Centre", "广州健康医疗数据中心", "12440100MB2C00107R", "CN", H, "Guangzhou"),
    ("gz_logistics", "Baiyun Airport Logistics Co.", "白云机场物流有限公司", "91440101MA9X00108T", "CN", H, "Guangzhou"),
    ("sz_port", "Shenzhen Smart Port Co.", "深圳智慧港口有限公司", "91440300MA5H00109U", "CN", H, "Shenzhen"),
    ("sz_ev", "Shenzhen EV Telematics Ltd.", "深圳新能源车联网有限公司", "91440300MA5H00110W", "CN", H, "Shenzhen"),
    ("sz_bank", "Shenzhen Merchants Fintech", "深圳招商金融科技有限公司", "91440300MA5H00111X", "CN", H, "Shenzhen"),
    ("fs_ceramics", "Foshan Ceramics Industry Group", "佛山陶瓷产业集团有限公司", "91440604MA4W00112Y", "CN", H,
     "Foshan"),
    ("fs_appliance", "Shunde Home Appliance Data Co.", "顺德家电数据有限公司", "91440606MA4W00113A", "CN", H, "Foshan"),
    ("fs_textile", "Foshan Textile Cloud Ltd.", "佛山纺织云有限公司", "91440604MA4W00114B", "CN", H, "Foshan"),
    ("hk_insure", "Victoria Harbour Insurance Ltd.", "維港保險有限公司", "HK-CR-3005678", "HK", H, "Hong Kong"),
    ("hk_trade", "Kwun Tong Trade Analytics Ltd.", "觀塘貿易分析有限公司", "HK-CR-3009012", "HK", H, "Hong Kong"),
    ("mo_tourism", "Macau Tourism Data Lda.", "澳門旅遊數據有限公司", "MO-SO-88456", "MO", H, "Macau"),
    ("de_auto", "Rhein Automotive Analytics GmbH", "莱茵汽车分析有限公司", "DE-HRB-123456", "DE", H, "Stuttgart"),
    ("jp_robotics", "Osaka Robotics Data K.K.", "大阪机器人数据株式会社", "JP-CN-1200001012345", "JP", H, "Osaka"),
)

#: sector datasets: English title, Chinese title, keywords (en), keywords (zh), theme, source type, level
SECTORS: tuple[tuple[str, str, list[str], list[str], str, int, int], ...] = (
    ("{city} metro ridership by station", "{city_zh}地铁分站客流", ["transport", "ridership"], ["交通", "客流"],
     "transport", 1, 2),
    ("{city} port container throughput", "{city_zh}港口集装箱吞吐量", ["port", "logistics"], ["港口", "物流"],
     "logistics", 1, 2),
    ("{city} EV charging sessions", "{city_zh}新能源车充电记录", ["ev", "energy", "charging"], ["新能源车", "充电"],
     "energy", 1, 2),
    ("{city} SME credit indicators", "{city_zh}中小企业信用指标", ["credit", "finance", "sme"], ["信用", "金融"],
     "finance", 0, 2),
    ("{city} hospital outpatient statistics", "{city_zh}医院门诊统计", ["health", "outpatient"], ["医疗", "门诊"],
     "health", 0, 3),
    ("{city} ceramic kiln sensor telemetry", "{city_zh}陶瓷窑炉传感器遥测", ["sensor", "iot", "manufacturing"],
     ["传感器", "物联网", "制造"], "manufacturing", 1, 2),
    ("{city} home appliance usage logs", "{city_zh}家电使用日志", ["appliance", "iot"], ["家电", "物联网"],
     "manufacturing", 1, 2),
    ("{city} textile order book", "{city_zh}纺织订单数据", ["textile", "orders"], ["纺织", "订单"], "trade", 1, 1),
    ("{city} air cargo manifests", "{city_zh}航空货运舱单", ["cargo", "logistics", "aviation"], ["货运", "航空"],
     "logistics", 1, 2),
    ("{city} retail payment volumes", "{city_zh}零售支付交易量", ["payments", "retail", "finance"], ["支付", "零售"],
     "finance", 1, 2),
    ("{city} tourism visitor flows", "{city_zh}旅游客流数据", ["tourism", "mobility"], ["旅游", "人流"], "tourism", 1, 1),
    ("{city} industrial robot maintenance records", "{city_zh}工业机器人维护记录", ["robotics", "maintenance", "sensor"],
     ["机器人", "维护"], "manufacturing", 1, 2),
    ("{city} enterprise power consumption", "{city_zh}企业用电量", ["power", "energy", "public"], ["用电", "能源"],
     "energy", 0, 2),
    ("{city} land parcel registry extracts", "{city_zh}地块登记摘要", ["land", "registry", "public"], ["土地", "登记"],
     "government", 0, 1),
)
CITY_ZH = {"Guangzhou": "广州", "Shenzhen": "深圳", "Foshan": "佛山", "Hong Kong": "香港", "Macau": "澳门",
           "Stuttgart": "斯图加特", "Osaka": "大阪"}


@dataclass(frozen=True)
class _Call:
    contract: str
    fn_name: str
    args: tuple[Any, ...]


class _Functions:
    """``lite["DataVoucher"].functions.issue(...)``: records the call (no web3 objects per transaction)."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, fn_name: str) -> Any:
        return lambda *args: _Call(self._name, fn_name, args)


class _Lite:
    def __init__(self, name: str) -> None:
        self.functions = _Functions(name)


@dataclass
class _Org:
    key: str
    account: LocalAccount
    name: str
    name_zh: str
    credit_code: str
    jurisdiction: str
    roles: int
    city: str


def extra_accounts() -> dict[str, LocalAccount]:
    """The extra organisations' accounts (anvil's default mnemonic, indexes 20..; demo only), plus
    the recovery target account of the Shenzhen port ("sz_port_new")."""
    keys = [e[0] for e in EXTRA] + ["sz_port_new"]
    return {k: Account.from_mnemonic(DEFAULT_MNEMONIC, account_path=f"m/44'/60'/0'/0/{FIRST_EXTRA_INDEX + i}")
            for i, k in enumerate(keys)}


class _Seeder:
    def __init__(self, w3: Web3, contracts: dict[str, Contract], state_dir: Path, scale: int) -> None:
        self.w3 = w3
        self.c = contracts
        self.store = open_store(str(state_dir / "ipfs"))
        self.scale = scale
        self.rng = random.Random(13)
        self.send = demo._DemoSigner(w3)
        self.keys: dict[str, LocalAccount] = {**demo.demo_accounts(), **extra_accounts()}
        for acct in extra_accounts().values():  # the signer knows the demo keys; add the extra ones
            self.send.senders[str(acct.address)] = TxSender(w3, acct, next(iter(self.send.senders.values())).nonces,
                                                            int(w3.eth.chain_id))
        self.addr = {k: str(a.address) for k, a in self.keys.items()}
        self.orgs: dict[str, _Org] = {}
        for p in demo.PARTICIPANTS:
            self.orgs[p.key] = _Org(p.key, self.keys[p.key], p.organisation, p.name_zh, p.credit_code,
                                    p.jurisdiction, p.roles, p.city)
        for key, name, zh, code, jur, roles, city in EXTRA:
            self.orgs[key] = _Org(key, self.keys[key], name, zh, code, jur, roles, city)
        self.nonces: dict[str, int] = {}
        self.lite = {name: _Lite(name) for name in contracts}
        self._abi: dict[tuple[str, str, int], tuple[bytes, list[str]]] = {}
        self._impersonated: set[str] = set()
        try:
            self.anvil = str(w3.provider.make_request("web3_clientVersion", [])  # type: ignore[arg-type]
                             .get("result", "")).lower().startswith("anvil")
        except Exception:  # not anvil: the activity happens at the chain's own time
            self.anvil = False
        self._fee_bps: dict[str, int] = {}
        base = int(w3.eth.get_block("latest").get("baseFeePerGas") or 0)
        self.fees = {"maxFeePerGas": max(4 * base, 10**10), "maxPriorityFeePerGas": 10**9} if base else {"gasPrice": 0}
        self.counts = {"datasets": 0, "vouchers": 0, "uses": 0, "trades": 0, "clearances": 0, "refused": 0,
                       "valuations": 0}

    # ------------------------------------------------------------ plumbing

    def tx(self, call: _Call, sender_key: str) -> Any:
        """Send ``call`` from ``sender_key``; the receipt (a dict; raises when it reverted). On anvil the
        node signs for impersonated accounts (the seed sends hundreds of transactions: local ECDSA
        and web3's per-call ABI lookups dominate otherwise); elsewhere they are signed locally."""
        data = self.encode(call)
        sender = self.addr[sender_key]
        if self.anvil:
            if sender not in self._impersonated:
                self.w3.provider.make_request("anvil_impersonateAccount", [sender])  # type: ignore[arg-type]
                self._impersonated.add(sender)
            reply = self.w3.provider.make_request("eth_sendTransaction", [  # type: ignore[arg-type]
                {"from": sender, "to": self.c[call.contract].address, "data": data, "gas": hex(3_000_000)}])
            if "error" in reply:
                raise RuntimeError(f"demo market transaction {call.fn_name} from {sender_key} failed: "
                                   f"{reply['error'].get('message')}")
            receipt = None
            for attempt in range(2000):  # anvil mines at once; the receipt may take a moment to appear
                receipt = self.w3.provider.make_request("eth_getTransactionReceipt", [  # type: ignore[arg-type]
                    reply["result"]])["result"]
                if receipt is not None:
                    break
                time.sleep(0.002 if attempt < 50 else 0.05)
            if receipt is None or int(receipt["status"], 16) != 1:
                why = self.w3.provider.make_request("eth_call", [  # type: ignore[arg-type]
                    {"from": sender, "to": self.c[call.contract].address, "data": data}, "latest"])
                raise RuntimeError(f"demo market transaction {call.fn_name}{call.args} from {sender_key} reverted: "
                                   f"{why.get('error')}")
            return receipt
        tx = {"to": self.c[call.contract].address, "data": data, "gas": 3_000_000, **self.fees}
        try:
            sent = self.send.senders[sender].send(tx).receipt
        except Exception as exc:  # one line saying which step failed
            raise RuntimeError(f"demo market transaction {call.fn_name} from {sender_key} failed: {exc}") from None
        return {"logs": [{"address": str(log["address"]), "topics": ["0x" + bytes(t).hex() for t in log["topics"]]}
                         for log in sent["logs"]]}

    def _abi_of(self, contract: str) -> list[dict[str, Any]]:
        return [dict(e) for e in self.c[contract].abi]

    def encode(self, call: _Call) -> str:
        from eth_abi.abi import encode
        from eth_utils.abi import collapse_if_tuple
        from web3 import Web3 as _W3

        key = (call.contract, call.fn_name, len(call.args))
        if key not in self._abi:
            abi = next(e for e in self._abi_of(call.contract) if e.get("type") == "function"
                       and e["name"] == call.fn_name and len(e["inputs"]) == len(call.args))
            types = [collapse_if_tuple(dict(i)) for i in abi["inputs"]]
            self._abi[key] = (bytes(_W3.keccak(text=f"{call.fn_name}({','.join(types)})")[:4]), types)
        selector, types = self._abi[key]
        return "0x" + (selector + encode(types, list(call.args))).hex()

    def event_id(self, contract: str, receipt: Any, event: str) -> int:
        """The first indexed argument (an id) of ``event`` emitted by ``contract`` in ``receipt``."""
        from web3 import Web3 as _W3

        abi = next(e for e in self._abi_of(contract) if e.get("type") == "event" and e["name"] == event)
        topic0 = "0x" + _W3.keccak(text=f"{event}({','.join(i['type'] for i in abi['inputs'])})").hex().removeprefix("0x")
        address = self.c[contract].address.lower()
        for log in receipt["logs"]:
            if str(log["address"]).lower() == address and str(log["topics"][0]).lower() == topic0:
                return int(str(log["topics"][1]), 16)
        raise RuntimeError(f"{event} not emitted")

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def at(self, ts: int) -> None:
        """The next block at ``ts`` (anvil); elsewhere, or when the chain is already past it, nothing."""
        if ts <= self.now():
            return
        try:
            self.w3.provider.make_request("evm_setNextBlockTimestamp", [ts])  # type: ignore[arg-type]
        except Exception:
            pass

    # ------------------------------------------------------------ organisations

    def organisations(self, licence_until: int) -> None:
        registry = self.lite["ParticipantRegistry"]
        funder = self.keys["authority"]
        for acct in extra_accounts().values():
            if self.w3.eth.get_balance(acct.address) < 10**18:
                self.send.senders[str(funder.address)].send({"to": acct.address, "value": 10 * 10**18})
        for key, name, zh, code, jur, roles, city in EXTRA:
            oid = demo.org_id(code)
            self.tx(registry.functions.registerOrganisation(oid, jur.encode(), roles, self.addr[key]), "authority")
            p = demo.DemoParticipant(key, 0, name, code, jur, roles, zh, city)
            profile = self.store.add(demo.profile_document(p))
            self.tx(registry.functions.setOrganisationProfile(oid, cid_to_chain(profile)), "authority")
            self.tx(registry.functions.addAccount(oid, self.addr[key], roles), key)
            if roles & LICENSED_ROLES:
                self.tx(registry.functions.setLicenceExpiry(self.addr[key], licence_until), "authority")
        # the port's second account (the recovery target when its first key is "lost")
        self.tx(registry.functions.addAccount(demo.org_id(self.orgs["sz_port"].credit_code), self.addr["sz_port_new"],
                                              H), "sz_port")
        self.tx(self.lite["TradeSettlement"].functions.setExchangeFee(self.addr["exchange_sz"], 80), "authority")

    # ------------------------------------------------------------ datasets

    def dataset(self, holder: str, n: int) -> tuple[int, int, int]:
        """Register the holder's n-th dataset; (asset id, level, source type)."""
        org = self.orgs[holder]
        en, zh, kw, kw_zh, theme, source, level = SECTORS[(n + len(holder)) % len(SECTORS)]
        if holder == "operator":
            source = 0  # the operator's datasets are public data
        elif source == 0:
            source = 1
        city, city_zh = org.city, CITY_ZH.get(org.city, org.city)
        year = 2025 - (n // len(SECTORS))
        title, title_zh = f"{en.format(city=city)} {year}", f"{zh.format(city_zh=city_zh)} {year}"
        desc = f"Monthly {kw[0]} records published by {org.name} ({city}), synthetic demo data."
        desc_zh = f"{org.name_zh}发布的{kw_zh[0]}月度数据（演示用合成数据）。"
        body = demo._manifest_bytes(self.store, title, desc, org.name, org.credit_code, level,
                                    ("public", "enterprise", "personal-derived")[source], kw, rows=60,
                                    zh=(title_zh, desc_zh, kw_zh), themes=[theme])
        cid = self.store.add(body)
        receipt = self.tx(self.lite["AssetRegistry"].functions.registerAsset(
            cid_to_chain(cid), demo.sha256(body), level, source), holder)
        self.counts["datasets"] += 1
        return self.event_id("AssetRegistry", receipt, "AssetRegistered"), level, source

    # ------------------------------------------------------------ orders

    def order(self, maker: str, side: int, voucher_id: int, price: int, exchange: str, broker: Optional[str],
              deadline: int) -> tuple[tuple[Any, ...], bytes]:
        settlement = self.c["TradeSettlement"]
        core = self.c["DataVoucher"].functions.voucherCore(voucher_id).call()
        nonce = self.nonces.get(maker, 1000) + 1
        self.nonces[maker] = nonce
        message = {
            "maker": self.addr[maker], "side": side, "voucherId": voucher_id, "price": price,
            "paymentToken": self.c["PaymentToken"].address, "exchange": self.addr[exchange],
            "broker": self.addr[broker] if broker else "0x" + "00" * 20,
            "commission": price // 50 if broker else 0,
            "maxFeeBps": self.fee_bps(exchange),
            "minUsesLeft": core[6] - core[7] if side == 1 else 0, "minValidUntil": core[5] if side == 1 else 0,
            "nonce": nonce, "deadline": deadline,
        }
        sig = sign_order(self.keys[maker], message, int(self.w3.eth.chain_id), settlement.address)
        return demo._order_tuple(message), sig

    def fee_bps(self, exchange: str) -> int:
        if exchange not in self._fee_bps:
            self._fee_bps[exchange] = int(self.c["TradeSettlement"].functions.exchangeFeeBps(self.addr[exchange]).call())
        return self._fee_bps[exchange]

    def trade(self, voucher_id: int, seller: str, buyer: str, price: int, exchange: str, broker: Optional[str]) -> None:
        deadline = self.now() + 7 * DAY
        sell = self.order(seller, 0, voucher_id, price, exchange, broker, deadline)
        buy = self.order(buyer, 1, voucher_id, price, exchange, None, deadline)
        self.tx(self.lite["TradeSettlement"].functions.settle(sell[0], sell[1], buy[0], buy[1]), exchange)
        self.counts["trades"] += 1

    # ------------------------------------------------------------ the six months

    def run(self) -> None:
        rng = self.rng
        start = self.now()
        wall = int(time.time())
        spread = wall - start > 150 * DAY
        months = [start + DAY + m * ((wall - start - 2 * DAY) // 6) for m in range(6)] if spread else [start] * 6
        licence_until = max(start, wall) + 2 * 365 * DAY
        self.organisations(licence_until)
        c = self.c
        lite = self.lite
        vouchers, assets = lite["DataVoucher"], lite["AssetRegistry"]
        customs, token = lite["DataCustoms"], lite["PaymentToken"]
        enterprises = [k for k, o in self.orgs.items() if o.roles == H and k != "sz_port_new"]
        cn = [k for k in enterprises if self.orgs[k].jurisdiction == "CN"]
        abroad = [k for k in enterprises if self.orgs[k].jurisdiction != "CN"]
        publishers = ["operator"] + [k for k in cn if k not in ("bank_cn", "sz_bank")]
        buyers = enterprises
        for who in buyers:
            self.tx(token.functions.mint(self.addr[who], 50_000_000_00 * self.scale), "authority")
            self.tx(token.functions.approve(c["TradeSettlement"].address, 2**256 - 1), who)
        for who in publishers:
            self.tx(vouchers.functions.setApprovalForAll(c["TradeSettlement"].address, True), who)
        appraisers = ["appraiser", "appraiser_sz"]
        exchanges = ["exchange", "exchange_sz"]
        brokers = ["broker", "broker_sz", None, None]
        customs_officers = ["customs", "customs_sz"]
        per_month = max(1, (47 * self.scale) // 6)
        owned: list[tuple[int, str, int]] = []  # (voucher id, holder, asset id) of transferable enterprise vouchers
        datasets: list[tuple[int, str, int, int]] = []  # (asset id, holder, level, source)
        counter: dict[str, int] = {}
        purpose_n = 0
        frozen: Optional[int] = None
        for m, ts in enumerate(months):
            self.at(ts)
            # registrations and valuations
            for i in range(per_month + (1 if m < (47 * self.scale) % 6 else 0)):
                holder = publishers[(m * per_month + i) % len(publishers)]
                counter[holder] = counter.get(holder, 0) + 1
                aid, level, source = self.dataset(holder, counter[holder])
                datasets.append((aid, holder, level, source))
                if i % 2 == 0:
                    report = self.store.add(f"Valuation report of asset {aid}: income approach, month {m + 1}".encode())
                    amount = rng.randrange(200_000, 5_000_000) * 100
                    self.tx(assets.functions.recordValuation(aid, amount, b"CNY", demo.sha256("income-approach"),
                                                             cid_to_chain(report)), appraisers[i % 2])
                    self.counts["valuations"] += 1
            now = self.now()
            # vouchers: primary grants of public data, enterprise vouchers for sale
            for aid, holder, _level, source in datasets[-per_month:]:
                if source == 0:
                    to = cn[rng.randrange(len(cn))]
                    receipt = self.tx(vouchers.functions.issue(self.addr[to], aid, 1, demo.sha256("public data grant"),
                                                               now, now + 2 * 365 * DAY, 24, False), "authority")
                    vid = self.event_id("DataVoucher", receipt, "VoucherIssued")
                    self.counts["vouchers"] += 1
                    self.use(vid, to, f"公共数据授权使用：{self.orgs[to].name_zh} 月度分析 #{m + 1}-{aid}")
                else:
                    for copy in range(2):
                        receipt = self.tx(vouchers.functions.issue(
                            self.addr[holder], aid, 1, demo.sha256(f"licensed use {aid}-{copy}"), now,
                            now + 2 * 365 * DAY, 50, True), holder)
                        vid = self.event_id("DataVoucher", receipt, "VoucherIssued")
                        self.counts["vouchers"] += 1
                        owned.append((vid, holder, aid))
            # uses by holders and by users they authorise (banks)
            for vid, holder, aid in owned[-per_month:]:
                purpose_n += 1
                self.use(vid, holder, f"Internal analytics run {purpose_n} on asset {aid}")
            # domestic trades, some through brokers
            for_sale = [o for o in owned if o[1] in publishers]
            rng.shuffle(for_sale)
            sold: set[int] = set()
            for vid, holder, _aid in for_sale[: 3 * self.scale]:
                buyer = rng.choice([b for b in cn if b != holder])
                price = rng.randrange(20_000, 400_000) * 100
                self.trade(vid, holder, buyer, price, exchanges[m % 2], brokers[(vid + m) % 4])
                sold.add(vid)
                self.authorise_and_use(vid, buyer, m)
            owned = [o for o in owned if o[0] not in sold]
            # cross-border: a clearance requested; granted (then a sale abroad) or refused
            for vid, holder, aid in [o for o in owned if o[1] in publishers][: 1 * self.scale + (m % 2)]:
                buyer = abroad[(vid + m) % len(abroad)]
                dest = self.orgs[buyer].jurisdiction
                purpose = self.store.add(f"Cross-border purpose: {self.orgs[buyer].name} analytics on asset {aid}"
                                         .encode())
                receipt = self.tx(customs.functions.requestClearance(aid, dest.encode(), self.addr[buyer],
                                                                     cid_to_chain(purpose)), holder)
                case = self.event_id("DataCustoms", receipt, "ClearanceRequested")
                self.counts["clearances"] += 1
                officer = customs_officers[case % 2]
                if (case + m) % 3 == 0:
                    self.tx(customs.functions.rejectClearance(case, "important data: outbound transfer not "
                                                                    "approved (security assessment pending)"), officer)
                    self.counts["refused"] += 1
                    continue
                conditions = self.store.add(b"Conditions: no onward transfer; aggregate outputs only; "
                                            b"deletion after 12 months")
                self.tx(customs.functions.approveClearance(case, self.now() + 120 * DAY, cid_to_chain(conditions)),
                        officer)
                self.trade(vid, holder, buyer, rng.randrange(50_000, 600_000) * 100, exchanges[(m + 1) % 2], None)
                owned = [o for o in owned if o[0] != vid]
            # supervision: a freeze in month 2 lifted in month 4; a recovery in month 5
            if m == 2 and owned:
                frozen = owned[0][0]
                self.tx(vouchers.functions.freeze(frozen, "suspected misuse reported by the exchange"), "regulator")
                owned = owned[1:]
            if m == 4 and frozen is not None:
                self.tx(vouchers.functions.unfreeze(frozen, "investigation closed: no misuse"), "regulator_sz")
            if m == 5:
                self.recovery(owned)
        if spread:
            self.at(int(time.time()))  # the chain's clock back to the wall clock
            try:
                self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
            except Exception:  # not anvil
                pass

    def use(self, vid: int, who: str, purpose: str) -> None:
        digest = demo.purpose_digest(self.store, purpose)
        self.tx(self.lite["DataVoucher"].functions.redeem(vid, digest), who)
        self.counts["uses"] += 1

    def authorise_and_use(self, vid: int, holder: str, m: int) -> None:
        bank = "sz_bank" if holder != "sz_bank" else "bank_cn"
        self.tx(self.lite["DataVoucher"].functions.authoriseUser(vid, self.addr[bank], True), holder)
        self.use(vid, bank, f"{self.orgs[bank].name_zh}：贷款审批数据核验 #{m + 1}-{vid}")

    def recovery(self, owned: list[tuple[int, str, int]]) -> None:
        """The Shenzhen port lost the key of its first account: a regulator freezes its voucher and
        proposes moving it to the port's new account; a second regulator executes."""
        vouchers = self.lite["DataVoucher"]
        mine = [o for o in owned if o[1] == "sz_port"]
        if not mine:
            return
        vid = mine[0][0]
        self.tx(vouchers.functions.freeze(vid, "holder reports its key lost"), "regulator")
        self.tx(vouchers.functions.proposeRecovery(vid, self.addr["sz_port_new"], "lost key: move to the port's new "
                                                                                  "account"), "regulator")
        self.tx(vouchers.functions.executeRecovery(vid, "second regulator confirms the port's request"),
                "regulator_sz")
        self.tx(vouchers.functions.unfreeze(vid, "recovered to the new account"), "regulator")


def seed_market(w3: Web3, contracts: dict[str, Contract], state_dir: Path, scale: int = 1) -> str:
    """The small demo, then the market on top of it; returns a one-line summary."""
    demo.seed(w3, contracts, state_dir)
    s = _Seeder(w3, contracts, state_dir, scale)
    s.run()
    n = s.counts
    return (f"{len(s.orgs)} organisations, {n['datasets'] + 3} datasets, {n['vouchers'] + 4} vouchers, "
            f"{n['uses'] + 1} uses, {n['trades'] + 2} trades, {n['clearances'] + 1} clearances "
            f"({n['refused']} refused), {n['valuations'] + 1} valuations, a freeze and a recovery "
            f"(head block {w3.eth.block_number})")
