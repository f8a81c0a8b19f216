"""Who may read which bytes of the IPFS store.

Two doors, nothing else of the store is served:

- **public documents** (:func:`public_document`): the manifests recorded on chain (any version of
  any asset, as indexed), the valuation reports recorded on chain, and manifest documents uploaded
  through ``POST /v1/manifests`` (validated, canonical dataledger manifests: metadata, no data);
- **dataset files** (:func:`authorise_download`): a distribution file listed in the asset's CURRENT
  on-chain manifest, to a signed-in caller who, according to the CHAIN (not the index), holds or is
  an authorised user of a live voucher on that asset (Active, ``validFrom <= now <= validUntil``) and
  passes the cross-border rule: the contracts' own view ``detectTransferRestriction(address(0),
  caller, voucher)`` (the voucher "issued" to the caller) must answer 0, which checks the caller's
  standing and licence, the voucher's and asset's status and expiry, and, when the caller's
  jurisdiction is not the asset's home, an approved customs clearance for the caller.

The index only nominates candidate vouchers (those of the asset the caller holds or was ever
authorised on); every decision is re-read from the node.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any, Optional

from sqlmodel import Session, select

from gateway.core.errors import ApiError
from gateway.models import AssetManifest, Valuation, Voucher, VoucherUser
from ledger.ipfs.errors import BlockNotFound, CidMismatch, InvalidCid, IpfsError
from ledger.ipfs.unixfs import CODEC_DAG_PB, CODEC_RAW, Cid, PBNode, UnixFSData
from ledger.manifest import Distribution, ManifestError, parse_manifest

#: largest document the public route serves (a manifest is small; the POST route caps it at 1 MiB)
MAX_PUBLIC_BYTES = 1 << 20
ZERO_ADDRESS = "0x" + "00" * 20
STATUS_ACTIVE = 1  # DataVoucher.VoucherStatus.Active; AssetRegistry.AssetStatus.Active


def parse_cid(text: str) -> Cid:
    """The CID of a path segment (any multibase / version the CID library reads), or 422."""
    try:
        return Cid.decode(text)
    except (InvalidCid, ValueError) as exc:
        raise ApiError(422, "InvalidCid", f"not a CID: {exc}", {"cid": text}) from None


def _chain_forms(cid: Cid) -> list[str]:
    """How the indexer may hold the CID (``0x`` hex of the bytes recorded on chain: the binary CID,
    or the CID text when a registrant recorded it as text)."""
    forms = {cid.binary, cid.encode().encode("ascii")}
    return ["0x" + f.hex() for f in forms]


def _cat(store: Any, cid: Cid) -> bytes:
    try:
        data: bytes = store.cat(cid.encode())
        return data
    except BlockNotFound:
        raise ApiError(404, "NotFound", "not held by the IPFS store", {"cid": cid.encode()}) from None
    except CidMismatch as exc:
        raise ApiError(502, "IpfsCorrupt", f"the IPFS store returned bytes that do not hash to the CID: {exc}",
                       {"cid": cid.encode()}) from None
    except (InvalidCid, ValueError) as exc:
        raise ApiError(422, "InvalidCid", str(exc), {"cid": cid.encode()}) from None
    except (IpfsError, OSError) as exc:
        raise ApiError(502, "IpfsUnavailable", str(exc)) from None


def _size(store: Any, cid: Cid) -> Optional[int]:
    """The file size from the root block alone (raw leaf: its length; dag-pb: UnixFS filesize),
    so the public route never reads a large dataset file to find out it is not a manifest.
    None when the root block is not held or not a UnixFS file."""
    try:
        block: bytes = store.block_get(cid.encode())
    except (BlockNotFound, InvalidCid, IpfsError, OSError, ValueError):
        return None
    if cid.codec == CODEC_RAW:
        return len(block)
    if cid.codec != CODEC_DAG_PB:
        return None
    try:
        node = PBNode.decode(block)
        size = UnixFSData.decode(node.data or b"").filesize
    except (ValueError, IndexError):
        return None
    return int(size) if size is not None else None


def public_document(db: Session, store: Any, text: str) -> bytes:
    """Bytes of a public document (see module doc), else 404 ``NotPublic`` (also for dataset files:
    the answer does not say whether the store holds the CID)."""
    cid = parse_cid(text)
    forms = _chain_forms(cid)
    on_chain = db.exec(select(AssetManifest.asset_id).where(AssetManifest.manifest_cid.in_(forms))  # type: ignore[attr-defined]
                       .limit(1)).first() is not None
    if not on_chain:
        on_chain = db.exec(select(Valuation.asset_id).where(Valuation.report_cid.in_(forms))  # type: ignore[attr-defined]
                           .limit(1)).first() is not None
    refusal = ApiError(404, "NotPublic", "not a public document of this gateway (manifests and valuation reports "
                       "recorded on chain, or manifests uploaded through POST /v1/manifests); dataset files are "
                       "served by GET /v1/assets/{asset_id}/data/{cid} to entitled callers", {"cid": text})
    if on_chain:
        return _cat(store, cid)
    size = _size(store, cid)
    if size is None or size > MAX_PUBLIC_BYTES:
        raise refusal
    try:
        data = _cat(store, cid)
    except ApiError as exc:
        if exc.status == 404:
            raise refusal from None
        raise
    # an uploaded manifest: exactly the canonical bytes POST /v1/manifests stores
    if len(data) > MAX_PUBLIC_BYTES:
        raise refusal
    try:
        parse_manifest(data, canonical=True)
    except (ManifestError, ValueError):
        raise refusal from None
    return data


@dataclass
class Grant:
    """Why the caller may download: the voucher and the caller's relation to it."""

    voucher_id: int
    relation: str  # holder | authorised user
    distribution: Distribution


def _current_manifest(contracts: dict[str, Any], store: Any, asset_id: int) -> tuple[Any, list[Distribution]]:
    registry = contracts["AssetRegistry"]
    core = registry.functions.assetCore(asset_id).call()
    if int(core[3]) == 0:  # AssetStatus.None
        raise ApiError(404, "NotFound", f"no asset {asset_id} on chain", {"asset_id": asset_id})
    _version, mv = registry.functions.latestManifest(asset_id).call()
    content_hash, _ts, raw_cid = bytes(mv[0]), mv[1], bytes(mv[2])
    try:
        cid = Cid.decode(raw_cid) if not raw_cid.isascii() or not raw_cid.decode().isprintable() \
            else Cid.decode(raw_cid.decode())
    except (InvalidCid, ValueError, UnicodeDecodeError):
        raise ApiError(502, "ManifestUnavailable", "the on-chain manifest CID does not parse",
                       {"asset_id": asset_id}) from None
    data = _cat(store, cid)
    if hashlib.sha256(data).digest() != content_hash:
        raise ApiError(502, "ManifestMismatch", "the manifest bytes do not hash to the asset's contentHash on chain",
                       {"asset_id": asset_id, "cid": cid.encode()})
    try:
        manifest = parse_manifest(data)
    except (ManifestError, ValueError) as exc:
        raise ApiError(502, "ManifestUnavailable", f"the asset's manifest does not parse: {exc}",
                       {"asset_id": asset_id}) from None
    return core, list(manifest.distributions)


def _candidates(db: Session, asset_id: int, caller: str) -> list[int]:
    """Vouchers of the asset the index says the caller holds or was authorised on (any holder)."""
    held = db.exec(select(Voucher.voucher_id).where(Voucher.asset_id == asset_id, Voucher.holder == caller)).all()
    # every row naming the caller, allowed or not: the chain decides (the index may lag)
    users = db.exec(select(VoucherUser.voucher_id).join(Voucher, Voucher.voucher_id == VoucherUser.voucher_id)  # type: ignore[arg-type]
                    .where(Voucher.asset_id == asset_id, VoucherUser.user == caller)).all()
    return sorted({int(t) for t in [*held, *users]})


def authorise_download(db: Session, w3: Any, contracts: dict[str, Any], store: Any, asset_id: int,
                       caller: str, cid_text: str) -> tuple[Grant, bytes]:
    """The distribution file ``cid_text`` of asset ``asset_id`` for ``caller``, or an ApiError
    (403 NoLiveVoucher / CrossBorderRestricted, 404 NotInManifest, 422 InvalidCid)."""
    cid = parse_cid(cid_text)
    me = caller.lower()
    voucher_c = contracts["DataVoucher"]
    now = int(w3.eth.get_block("latest")["timestamp"])
    live: list[tuple[int, str]] = []
    restricted: list[dict[str, Any]] = []
    lapsed: list[dict[str, Any]] = []
    for voucher_id in _candidates(db, asset_id, me):
        core = voucher_c.functions.voucherCore(voucher_id).call()
        if int(core[0]) != asset_id:
            continue
        owner = str(voucher_c.functions.ownerOf(voucher_id).call()).lower() if int(core[2]) != 0 else ""
        if not voucher_c.functions.isAuthorisedUser(voucher_id, w3.to_checksum_address(me)).call():
            lapsed.append({"voucher_id": voucher_id, "why": "not the holder nor a user the current holder authorised"})
            continue
        status, valid_from, valid_until = int(core[2]), int(core[4]), int(core[5])
        if status != STATUS_ACTIVE or now < valid_from or now > valid_until:
            lapsed.append({"voucher_id": voucher_id, "why": "voucher not live (frozen, revoked, not yet valid or expired)",
                           "status": status, "valid_from": valid_from, "valid_until": valid_until, "now": now})
            continue
        code = int(voucher_c.functions.detectTransferRestriction(ZERO_ADDRESS, w3.to_checksum_address(me),
                                                                 voucher_id).call())
        if code != 0:
            message = str(voucher_c.functions.messageForTransferRestriction(code).call())
            restricted.append({"voucher_id": voucher_id, "code": code, "message": message})
            continue
        live.append((voucher_id, "holder" if owner == me else "authorised user"))
    if not live:
        if restricted:
            raise ApiError(403, "CrossBorderRestricted" if any(r["code"] == 11 for r in restricted) else "Restricted",
                           "the chain's transfer rule refuses this asset's data to the caller: "
                           + restricted[0]["message"], {"asset_id": asset_id, "caller": me, "vouchers": restricted})
        raise ApiError(403, "NoLiveVoucher", "dataset files are served only to the holder of a live voucher on "
                       "this asset or a user its holder authorised", {"asset_id": asset_id, "caller": me,
                                                                       "vouchers": lapsed})
    _core, distributions = _current_manifest(contracts, store, asset_id)
    wanted = cid.binary
    match: Optional[Distribution] = None
    for d in distributions:
        try:
            if Cid.decode(d.cid).binary == wanted:
                match = d
                break
        except (InvalidCid, ValueError):
            continue
    if match is None:
        raise ApiError(404, "NotInManifest", "the asset's current on-chain manifest lists no file with this CID",
                       {"asset_id": asset_id, "cid": cid_text})
    data = _cat(store, Cid.decode(match.cid))
    if hashlib.sha256(data).hexdigest() != match.sha256:
        raise ApiError(502, "IpfsCorrupt", "the file does not hash to the manifest's sha256",
                       {"asset_id": asset_id, "cid": match.cid})
    voucher_id, relation = live[0]
    return Grant(voucher_id=voucher_id, relation=relation, distribution=match), data


def download_filename(path: str) -> str:
    """A safe attachment name: the last path segment, restricted to portable characters."""
    name = path.rsplit("/", 1)[-1]
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)[:200] or "data"
