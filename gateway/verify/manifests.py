"""Manifest checks: the bytes behind an AssetRegistered / ManifestUpdated CID, fetched from IPFS,
re-hashed to the CID and to the on-chain contentHash."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Optional

from gateway.verify.results import ManifestCheck


def check_manifest(event: Mapping[str, Any], fetch: Any) -> ManifestCheck:
    """Fetch (``fetch(cid) -> bytes``), re-hash to the CID and to the on-chain contentHash."""
    from ledger.ipfs import cid_from_chain

    args = event["args"]
    asset_id = int(args["assetId"])
    version = int(args.get("version", 0))
    content_hash = str(args["contentHash"]).lower()
    try:
        cid = cid_from_chain(bytes.fromhex(str(args["manifestCid"])[2:]))
    except Exception as exc:
        return ManifestCheck(asset_id, version, str(args.get("manifestCid")), content_hash, "mismatch",
                             f"not a CID: {exc}", int(event["block_number"]), int(event["log_index"]))
    check = ManifestCheck(asset_id, version, cid, content_hash, "ok", "", int(event["block_number"]),
                          int(event["log_index"]))
    try:
        data = fetch(cid)
    except Exception as exc:
        name = type(exc).__name__
        check.status = "mismatch" if name == "CidMismatch" else "unavailable"
        check.detail = f"{name}: {exc}"
        return check
    return check_manifest_bytes(check, data)


def check_manifest_bytes(check: ManifestCheck, data: bytes) -> ManifestCheck:
    from ledger.ipfs import Cid, file_cid

    problems = []
    try:
        same_cid = Cid.decode(file_cid(data)).multihash == Cid.decode(check.cid).multihash \
            and Cid.decode(file_cid(data)).codec == Cid.decode(check.cid).codec
    except Exception as exc:
        same_cid = False
        problems.append(f"cid: {exc}")
    if not same_cid:
        problems.append("bytes do not hash to the CID")
    digest = "0x" + hashlib.sha256(data).hexdigest()
    if digest != check.content_hash:
        problems.append(f"sha-256 {digest[:18]}… is not the on-chain contentHash")
    if problems:
        check.status, check.detail = "mismatch", "; ".join(problems)
    return check


def ipfs_fetcher(ipfs: Optional[str] = None, state_dir: Optional[Path | str] = None) -> Any:
    """``cid -> bytes`` from Kubo (``ipfs`` URL / IPFS_API) or the embedded store (``state_dir/ipfs``)."""
    from ledger.ipfs import open_store
    from ledger.settings import Settings

    target = ipfs or Settings().IPFS_API or (str(Path(state_dir) / "ipfs") if state_dir else None)
    store = open_store(target)
    return store.cat
