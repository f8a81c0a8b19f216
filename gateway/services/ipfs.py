"""Manifests on IPFS: fetch by CID (embedded store or Kubo), re-hash, compare with the chain."""

from __future__ import annotations

import hashlib
import threading
from typing import Any, Optional

from ledger.ipfs import IpfsStore, cid_from_chain, open_store
from ledger.ipfs.errors import BlockNotFound, CidMismatch, IpfsError

_CACHE_MAX = 4096


class ManifestVerifier:
    """Caches the sha-256 of fetched manifests per CID (content addressing makes that safe)."""

    def __init__(self, target: str, store: IpfsStore | None = None) -> None:
        self.target = target
        self._store: IpfsStore | None = store
        self._hashes: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def store(self) -> IpfsStore:
        if self._store is None:
            self._store = open_store(self.target)
        return self._store

    def verify(self, manifest_cid_hex: str, content_hash: str, chain: Optional[dict[str, Any]] = None,
               version: Optional[int] = None) -> dict[str, Any]:
        """Check the SERVED manifest (CID, content hash, version) against the chain's
        ``latestManifest`` (``chain``: gateway.verify.state.latest_manifest, read by eth_call at a
        block), then re-hash the chain's manifest bytes from IPFS against the chain's contentHash.
        Without ``chain`` (node unreachable) the status is ``unverified``: the bytes are compared
        with the gateway's own indexed hash only, and the detail says so.

        {"status": verified|mismatch|unverified|unavailable|invalid, "cid", "expected_content_hash",
         "actual_content_hash", "detail", "chain_block"}"""
        if chain is not None and "error" in chain:
            out = self._verify_bytes(manifest_cid_hex, content_hash)
            return {**out, "status": "unverified", "chain_block": chain["block"],
                    "detail": f"NOT checked against the chain: AssetRegistry.latestManifest at block {chain['block']} "
                              f"failed ({chain['error']})"}
        if chain is not None:
            diffs = [name for name, served, onchain in (
                ("manifest CID", manifest_cid_hex, chain["manifest_cid"]),
                ("content hash", content_hash, chain["content_hash"]),
                ("version", version, chain["version"])) if served is not None and str(served).lower() != str(onchain).lower()]
            out = self._verify_bytes(chain["manifest_cid"], chain["content_hash"])
            out["chain_block"] = chain["block"]
            where = f"AssetRegistry.latestManifest at block {chain['block']} (eth_call)"
            if diffs:
                return {**out, "status": "mismatch",
                        "detail": f"the served {', '.join(diffs)} differ(s) from {where}"}
            if out["status"] == "verified":
                out["detail"] = (f"the served manifest CID, version and content hash equal {where}; sha-256 of the "
                                 "IPFS bytes of that CID equals that contentHash")
            return out
        out = self._verify_bytes(manifest_cid_hex, content_hash)
        if out["status"] in ("verified", "mismatch"):
            same = "equals" if out["status"] == "verified" else "differs from"
            return {**out, "status": "unverified",
                    "detail": f"NOT checked against the chain (node unreachable): sha-256 of the IPFS bytes {same} "
                              "the content hash this gateway indexed"}
        return out

    def _verify_bytes(self, manifest_cid_hex: str, content_hash: str) -> dict[str, Any]:
        try:
            cid = cid_from_chain(bytes.fromhex(manifest_cid_hex.removeprefix("0x")))
        except ValueError:
            cid = ""
        out: dict[str, Any] = {"cid": cid, "expected_content_hash": content_hash, "actual_content_hash": None,
                               "chain_block": None}
        if not cid or cid.startswith("0x"):
            return {**out, "status": "invalid", "detail": "the on-chain manifest CID does not parse as a CID"}
        actual = self._hashes.get(cid)
        if actual is None:
            try:
                data = self.store.cat(cid)
            except CidMismatch as exc:
                return {**out, "status": "mismatch", "detail": f"IPFS returned bytes that do not hash to the CID: {exc}"}
            except BlockNotFound:
                return {**out, "status": "unavailable", "detail": "the manifest is not held by the IPFS store"}
            except (IpfsError, OSError, ValueError) as exc:
                return {**out, "status": "unavailable", "detail": f"IPFS error: {exc}"}
            actual = "0x" + hashlib.sha256(data).hexdigest()
            with self._lock:
                if len(self._hashes) > _CACHE_MAX:
                    self._hashes.clear()
                self._hashes[cid] = actual
        out["actual_content_hash"] = actual
        if actual == content_hash.lower():
            return {**out, "status": "verified", "detail": "sha-256 of the IPFS bytes equals contentHash on chain"}
        return {**out, "status": "mismatch", "detail": "sha-256 of the IPFS bytes differs from contentHash on chain"}

    def cid_text(self, manifest_cid_hex: str) -> str:
        try:
            return cid_from_chain(bytes.fromhex(manifest_cid_hex.removeprefix("0x")))
        except ValueError:
            return manifest_cid_hex
