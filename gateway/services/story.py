"""Provenance as a story: each event of a voucher's or an asset's history as one sentence with names
and ¥ amounts, beside the evidence (block, time, tx, log index) and the raw arguments, which the
provenance API keeps unchanged.

Sentences are gettext msgids with named parameters (``N_("{seller} sold ...")``): the API serves
``story.template`` (the English msgid), ``story.params`` (already readable values: names, ¥ amounts,
ISO times) and ``story.text`` (the English sentence); the web pages translate the template and fill
in the same parameters. Arguments the caller may not see (gateway.services.redaction) are ``null``
in the redacted event, so the sentence names "an undisclosed party" instead: a story never tells
more than the redacted event.

A cross-border move (a trade or a transfer to an account whose jurisdiction differs from the asset's
home jurisdiction) links the clearance that allowed it: the last clearance approved for the asset,
the destination and the recipient (or any recipient) at or before that block, unexpired at that
block's time and not revoked before it (``story.clearance``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional

from pydantic import BaseModel
from sqlalchemy import Connection, bindparam, text

from gateway.services.legible import RIGHTS, Directory, hant_title, iso, jurisdiction_name, yuan
from gateway.services.script import to_hant
from gateway.web.i18n import N_, translations

ZERO = "0x" + "00" * 20
UNDISCLOSED = N_("an undisclosed party")

#: (contract, event) -> sentence template (English msgid, named parameters)
TEMPLATES: dict[tuple[str, str], str] = {
    ("DataVoucher", "VoucherIssued"): N_(
        "{issuer} issued voucher {voucher} to {holder}: the {right} on {asset}, valid {valid_from} to {valid_until}, "
        "{uses}"),
    ("DataVoucher", "Transfer"): N_("{from} transferred voucher {voucher} to {to}"),
    ("DataVoucher", "Transfer/mint"): N_("Voucher {voucher} was created for {to}"),
    ("DataVoucher", "Transfer/cross"): N_(
        "{from} transferred voucher {voucher} to {to} in {destination}, under clearance {clearance}"),
    ("DataVoucher", "UserAuthorised"): N_("{holder} authorised {user} to use voucher {voucher}"),
    ("DataVoucher", "UserAuthorised/withdrawn"): N_("{holder} withdrew the authorisation of {user} on voucher {voucher}"),
    ("DataVoucher", "UserAuthorised/hidden"): N_("{holder} changed who may use voucher {voucher}"),
    ("DataVoucher", "VoucherUsed"): N_("{user} used voucher {voucher} of {holder} (use {use_number})"),
    ("DataVoucher", "VoucherFrozen"): N_("{regulator} froze voucher {voucher}: {reason}"),
    ("DataVoucher", "VoucherUnfrozen"): N_("{regulator} unfroze voucher {voucher}: {reason}"),
    ("DataVoucher", "VoucherRevoked"): N_("{regulator} revoked voucher {voucher}: {reason}"),
    ("DataVoucher", "RecoveryProposed"): N_(
        "{regulator} proposed to recover voucher {voucher} from {from} to {to} (until {expires_at}): {reason}"),
    ("DataVoucher", "RecoveryCancelled"): N_("{regulator} cancelled the recovery of voucher {voucher}: {reason}"),
    ("DataVoucher", "VoucherRecovered"): N_("{regulator} recovered voucher {voucher} from {from} to {to}: {reason}"),
    ("DataVoucher", "Approval"): N_("{owner} approved {approved} to move voucher {voucher}"),
    ("TradeSettlement", "TradeSettled"): N_(
        "{seller} sold its {right} on voucher {voucher} through {exchange} to {buyer} for {price}"),
    ("TradeSettlement", "TradeSettled/cross"): N_(
        "{seller} sold its {right} on voucher {voucher} through {exchange} to {buyer} for {price}, "
        "under clearance {clearance}"),
    ("TradeSettlement", "BrokerPaid"): N_("{client} paid broker {broker} a commission of {amount}"),
    ("AssetRegistry", "AssetRegistered"): N_(
        "{holder} registered {asset} ({level} data from {jurisdiction})"),
    ("AssetRegistry", "ManifestUpdated"): N_("{holder} published version {version} of the manifest of {asset}"),
    ("AssetRegistry", "ValuationRecorded"): N_("{appraiser} valued {asset} at {amount}"),
    ("AssetRegistry", "AssetFrozen"): N_("{regulator} froze {asset}: {reason}"),
    ("AssetRegistry", "AssetUnfrozen"): N_("{regulator} unfroze {asset}: {reason}"),
    ("AssetRegistry", "AssetRevoked"): N_("{regulator} revoked {asset}: {reason}"),
    ("AssetRegistry", "ContentReleased"): N_("{registrar} released the content hash of {asset}: {reason}"),
    ("DataCustoms", "ClearanceRequested"): N_(
        "{requester} asked data customs for clearance {clearance} to take {asset} to {destination} for {recipient}"),
    ("DataCustoms", "ClearanceApproved"): N_(
        "{officer} approved clearance {clearance}: {asset} may go to {recipient} in {destination} until {expiry}"),
    ("DataCustoms", "ClearanceRejected"): N_("{officer} refused clearance {clearance} for {asset}: {reason}"),
    ("DataCustoms", "ClearanceRevoked"): N_("{revoker} revoked clearance {clearance} for {asset}: {reason}"),
}
GENERIC = N_("{contract} emitted {event}")
LEVEL_WORDS = {1: N_("public"), 2: N_("general"), 3: N_("important"), 4: N_("core")}


class StoryClearance(BaseModel):
    clearance_id: int
    url: str


class Story(BaseModel):
    """One event as a sentence: ``template`` (English msgid) filled with ``params`` gives ``text``."""

    text: str
    template: str
    params: dict[str, str]
    clearance: Optional[StoryClearance] = None


class _Context:
    """What the sentences need beyond the event: names, asset titles, vouchers' rights and assets,
    block times, jurisdictions, clearances (loaded lazily, cached per response)."""

    def __init__(self, conn: Connection, directory: Directory, lang: str = "en",
                 translate: Optional[Callable[[str], str]] = None,
                 when: Optional[Callable[[Any], Optional[str]]] = None) -> None:
        self.conn = conn
        #: unix seconds -> the time as the sentence shows it (ISO 8601 +08:00 unless the pages pass the viewer's zone)
        self.when: Callable[[Any], Optional[str]] = when or iso
        self.directory = directory
        self.lang = lang
        #: msgid -> the viewer's language (identity for the API, which serves English)
        self.tr: Callable[[str], str] = translate or (lambda message: message)
        self._titles: dict[int, tuple[Optional[str], Optional[str]]] = {}
        self._vouchers: dict[int, tuple[int, int]] = {}
        self._assets: dict[int, str] = {}
        self._times: dict[int, int] = {}
        self._jurisdictions: dict[str, Optional[str]] = {}

    def who(self, address: Any) -> str:
        if not isinstance(address, str) or not address:
            return self.tr(UNDISCLOSED)
        if address.lower() == ZERO:
            return self.tr(N_("nobody"))
        return self.directory.name(address, self.lang) or f"{address[:6]}…{address[-4:]}"

    def asset(self, asset_id: Any) -> str:
        """The asset by its manifest's title in the viewer's language (the other one, else its number)."""
        if asset_id is None:
            return self.tr(N_("an asset"))
        aid = int(asset_id)
        if aid not in self._titles:
            row = self.conn.execute(text(
                "SELECT d.title, d.title_zh, d.body FROM assets a JOIN documents d ON d.chain_cid = a.manifest_cid"
                " AND d.status = 'verified' WHERE a.asset_id = :a"), {"a": aid}).first()
            zh_title = row[1] or None if row is not None else None
            if self.lang == "zh-Hant" and row is not None:  # its own Traditional title, else the 简体 one converted
                zh_title = hant_title(row[2]) or (to_hant(zh_title) if zh_title else None)
            self._titles[aid] = (row[0] or None, zh_title) if row is not None else (None, None)
        en, zh = self._titles[aid]
        title = (zh or en) if self.lang in ("zh", "zh-Hant") else (en or zh)
        if title:
            return self.tr(N_("“{title}” (asset {id})")).format(title=title, id=aid)
        return self.tr(N_("asset {id}")).format(id=aid)

    def voucher(self, voucher_id: int) -> tuple[int, int]:
        """(right, asset id) of the voucher."""
        if voucher_id not in self._vouchers:
            row = self.conn.execute(text("SELECT \"right\", asset_id FROM vouchers WHERE voucher_id = :t"),
                                    {"t": voucher_id}).first()
            self._vouchers[voucher_id] = (int(row[0]), int(row[1])) if row is not None else (-1, -1)
        return self._vouchers[voucher_id]

    def home(self, asset_id: int) -> str:
        if asset_id not in self._assets:
            row = self.conn.execute(text("SELECT home_jurisdiction FROM assets WHERE asset_id = :a"),
                                    {"a": asset_id}).first()
            self._assets[asset_id] = str(row[0]) if row is not None else ""
        return self._assets[asset_id]

    def jurisdiction(self, account: Any) -> Optional[str]:
        if not isinstance(account, str):
            return None
        a = account.lower()
        if a not in self._jurisdictions:
            row = self.conn.execute(text("SELECT jurisdiction FROM participants WHERE account = :a"), {"a": a}).first()
            self._jurisdictions[a] = str(row[0]) if row is not None else None
        return self._jurisdictions[a]

    def load_times(self, blocks: list[int]) -> None:
        todo = sorted(set(blocks) - set(self._times))
        for i in range(0, len(todo), 500):
            rows = self.conn.execute(text("SELECT number, timestamp FROM blocks WHERE number IN :b")
                                     .bindparams(bindparam("b", expanding=True)), {"b": todo[i:i + 500]}).all()
            self._times.update({int(r[0]): int(r[1]) for r in rows})

    def time(self, block: int) -> Optional[int]:
        if block not in self._times:
            self.load_times([block])
        return self._times.get(block)

    def clearance_for(self, asset_id: int, recipient: str, block: int) -> Optional[int]:
        """The clearance that allowed moving the asset's voucher to ``recipient`` at ``block``."""
        destination = self.jurisdiction(recipient)
        when = self.time(block)
        if destination is None or when is None:
            return None
        rows = self.conn.execute(text(
            "SELECT clearance_id, recipient, expiry, status, updated_block FROM clearances WHERE asset_id = :a"
            " AND destination = :d AND requested_block <= :b ORDER BY clearance_id DESC"),
            {"a": asset_id, "d": destination, "b": block}).all()
        for clearance_id, rec, expiry, status, updated in rows:
            if rec not in (recipient.lower(), ZERO) or expiry is None or int(expiry) < when:
                continue
            if status == "approved" or (status == "revoked" and int(updated) > block):
                return int(clearance_id)
        return None


def _hidden(value: Any) -> bool:
    return value is None


def _story(ev: dict[str, Any], ctx: _Context) -> Story:
    contract, name, a = ev["contract"], ev["event"], ev.get("args") or {}
    key = name
    params: dict[str, str] = {}
    clearance: Optional[int] = None
    tid = a.get("voucherId", a.get("tokenId") if contract == "DataVoucher" else None)
    if tid is not None:
        params["voucher"] = str(tid)
    if "assetId" in a:
        params["asset"] = ctx.asset(a.get("assetId"))
    for f in ("issuer", "holder", "user", "regulator", "seller", "buyer", "exchange", "broker", "client", "appraiser",
              "requester", "recipient", "officer", "revoker", "registrar", "owner", "approved"):
        if f in a:
            params[f] = ctx.who(a.get(f))
    if "from" in a:
        params["from"] = ctx.who(a.get("from"))
    if "to" in a:
        params["to"] = ctx.who(a.get("to"))
    if "reason" in a:
        params["reason"] = str(a["reason"]) if a.get("reason") is not None else ctx.tr(N_("(reason hidden)"))
    if "clearanceId" in a:
        params["clearance"] = str(a["clearanceId"])
    if "destination" in a:
        params["destination"] = ctx.tr(jurisdiction_name(a.get("destination")) or UNDISCLOSED)
    if name == "VoucherIssued":
        params["right"] = ctx.tr(RIGHTS.get(int(a.get("right", -1)), str(a.get("right"))))
        params["valid_from"] = ctx.when(a.get("validFrom")) or "?"
        params["valid_until"] = ctx.when(a.get("validUntil")) or "?"
        max_uses = int(a.get("maxUses") or 0)
        params["uses"] = ctx.tr(N_("unlimited uses") if max_uses == 0 else N_("one use") if max_uses == 1
                                else N_("{count} uses")).format(count=max_uses)
    elif name == "Transfer" and contract == "DataVoucher":
        if str(a.get("from", "")).lower() == ZERO:
            key = "Transfer/mint"
        elif isinstance(a.get("to"), str):
            _right, asset_id = ctx.voucher(int(tid)) if tid is not None else (-1, -1)
            dest = ctx.jurisdiction(a["to"])
            if asset_id >= 0 and dest is not None and dest != ctx.home(asset_id):
                clearance = ctx.clearance_for(asset_id, a["to"], int(ev["block_number"]))
                if clearance is not None:
                    key = "Transfer/cross"
                    params["clearance"] = str(clearance)
                    params["destination"] = ctx.tr(jurisdiction_name(dest) or dest)
    elif name == "UserAuthorised":
        allowed = a.get("allowed")
        key = "UserAuthorised/hidden" if _hidden(allowed) else ("UserAuthorised" if allowed else
                                                                  "UserAuthorised/withdrawn")
    elif name == "VoucherUsed":
        params["use_number"] = str(a.get("useNumber"))
    elif name == "RecoveryProposed":
        params["expires_at"] = ctx.when(a.get("expiresAt")) or "?"
    elif name == "TradeSettled":
        right, asset_id = ctx.voucher(int(tid)) if tid is not None else (-1, -1)
        params["right"] = ctx.tr(RIGHTS.get(right, N_("right")))
        params["price"] = yuan(a.get("price"))
        dest = ctx.jurisdiction(a.get("buyer"))
        if asset_id >= 0 and dest is not None and dest != ctx.home(asset_id):
            clearance = ctx.clearance_for(asset_id, str(a["buyer"]), int(ev["block_number"]))
            if clearance is not None:
                key = "TradeSettled/cross"
                params["clearance"] = str(clearance)
    elif name == "BrokerPaid" or name == "ValuationRecorded":
        params["amount"] = yuan(a.get("amount"))
    elif name == "AssetRegistered":
        params["level"] = ctx.tr(LEVEL_WORDS.get(int(a.get("level") or 0), str(a.get("level"))))
        params["jurisdiction"] = ctx.tr(jurisdiction_name(a.get("homeJurisdiction")) or "?")
    elif name == "ManifestUpdated":
        params["version"] = str(a.get("version"))
    elif name == "ClearanceApproved":
        params["expiry"] = ctx.when(a.get("expiry")) or "?"
    template = TEMPLATES.get((contract, key))
    if template is None:
        template, params = GENERIC, {"contract": contract, "event": name or "?"}
    try:
        sentence = template.format(**params)
    except (KeyError, IndexError, ValueError):
        template, params = GENERIC, {"contract": contract, "event": name or "?"}
        sentence = template.format(**params)
    try:
        sentence = ctx.tr(template).format(**params)
    except (KeyError, IndexError, ValueError):  # a translation naming a parameter the msgid lacks: the English
        pass
    link = StoryClearance(clearance_id=clearance, url=f"/v1/clearances/{clearance}") if clearance is not None else None
    if link is None and contract == "DataCustoms" and a.get("clearanceId") is not None:
        link = StoryClearance(clearance_id=int(a["clearanceId"]), url=f"/v1/clearances/{int(a['clearanceId'])}")
    return Story(text=sentence, template=template, params=params, clearance=link)


def tell(conn: Connection, events: list[dict[str, Any]], directory: Optional[Directory] = None, lang: str = "en",
         translate: Optional[Callable[[str], str]] = None,
         when: Optional[Callable[[Any], Optional[str]]] = None) -> list[dict[str, Any]]:
    """Each (already redacted) provenance event with ``story``, ``timestamp`` and ``time`` (ISO +08:00).

    ``lang`` ("en", "zh" or "zh-Hant": Chinese in Traditional characters, gateway.services.script)
    chooses the language and script of organisation names and asset titles; ``translate``
    (the web pages pass ``gateway.web.i18n._``) turns the msgids among the parameters (rights, levels,
    jurisdictions, "an undisclosed party", ...) and the template into the viewer's language, so
    ``story.text`` is the sentence in that language (``story.template`` stays the English msgid);
    ``when`` formats the times inside the sentences (default ISO 8601 +08:00; the pages: the viewer's
    zone). Without them, the API's English."""
    ctx = _Context(conn, directory or Directory(conn), lang if lang in ("zh", "zh-Hant") else "en", translate, when)
    ctx.load_times([int(e["block_number"]) for e in events])
    addresses = [v for e in events for v in (e.get("args") or {}).values()
                 if isinstance(v, str) and len(v) == 42 and v.startswith("0x")]
    ctx.directory.load_accounts(addresses)
    out = []
    for ev in events:
        ts = ctx.time(int(ev["block_number"]))
        out.append({**ev, "timestamp": ts, "time": iso(ts), "story": _story(ev, ctx).model_dump()})
    return out


def tell_in(conn: Connection, events: list[dict[str, Any]], directory: Optional[Directory], lang: str) -> list[dict[str, Any]]:
    """``tell`` for the API's ``?lang=`` ("en", "zh-Hans" or "zh-Hant"): the catalogue of that language."""
    if lang not in ("zh-Hans", "zh-Hant"):
        return tell(conn, events, directory)
    return tell(conn, events, directory, lang="zh" if lang == "zh-Hans" else "zh-Hant",
                translate=translations(lang.replace("-", "_")).gettext)
