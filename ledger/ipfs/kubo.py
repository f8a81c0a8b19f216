"""Kubo RPC client over HTTP (``/api/v0``), with every read verified against its CID.

Uses httpx directly: ``ipfshttpclient`` refuses Kubo versions above 0.8 in ``connect()`` and
has been unmaintained since 2021.

``add`` passes the import parameters explicitly (CIDv1, raw leaves, size-262144 chunker,
sha2-256, 174 links per node) so the result does not depend on the daemon's ``Import`` config,
and cross-checks Kubo's answer against the locally computed CID.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any, BinaryIO

import httpx

from .errors import BlockNotFound, CidMismatch, InvalidCid, KuboError
from .unixfs import (
    CHUNK_SIZE,
    CODEC_RAW,
    MAX_LINKS,
    Cid,
    FileBuilder,
    file_cid,
    iter_file_blocks,
    verify_block,
)

DEFAULT_API = "http://127.0.0.1:5001"

ADD_PARAMS: dict[str, str] = {
    "cid-version": "1",
    "raw-leaves": "true",
    "chunker": f"size-{CHUNK_SIZE}",
    "hash": "sha2-256",
    "max-file-links": str(MAX_LINKS),
    "trickle": "false",
    "progress": "false",
}


def api_url(api: str) -> str:
    """Normalise an RPC address: ``http(s)://host:port`` or a multiaddr like ``/ip4/127.0.0.1/tcp/5001``."""
    api = api.strip().rstrip("/")
    if api.startswith(("http://", "https://")):
        return api.removesuffix("/api/v0")
    if api.startswith("/"):
        parts = api.strip("/").split("/")
        host: str | None = None
        port: str | None = None
        scheme = "http"
        i = 0
        while i < len(parts):
            proto = parts[i]
            if proto in ("ip4", "dns", "dns4", "dns6") and i + 1 < len(parts):
                host = parts[i + 1]
                i += 2
            elif proto == "ip6" and i + 1 < len(parts):
                host = f"[{parts[i + 1]}]"
                i += 2
            elif proto == "tcp" and i + 1 < len(parts):
                port = parts[i + 1]
                i += 2
            elif proto in ("http", "https"):
                scheme = proto
                i += 1
            else:
                raise ValueError(f"unsupported multiaddr component {proto!r} in {api!r}")
        if host is None or port is None:
            raise ValueError(f"multiaddr {api!r} lacks a host or TCP port")
        return f"{scheme}://{host}:{port}"
    raise ValueError(f"not an RPC URL or multiaddr: {api!r}")


class KuboClient:
    """Client of one Kubo node's RPC API."""

    def __init__(
        self,
        api: str | None = None,
        *,
        timeout: float = 120.0,
        client: httpx.Client | None = None,
    ) -> None:
        if api is None:
            from ledger.settings import Settings

            api = Settings().IPFS_API
        self.api = api_url(api or DEFAULT_API)
        self._base = f"{self.api}/api/v0"
        self._client = client or httpx.Client(timeout=timeout)
        self._own_client = client is None

    def __repr__(self) -> str:
        return f"KuboClient({self.api!r})"

    def close(self) -> None:
        if self._own_client:
            self._client.close()

    def __enter__(self) -> KuboClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- transport

    def _post(
        self,
        cmd: str,
        params: dict[str, str] | None = None,
        files: Any = None,
    ) -> httpx.Response:
        url = f"{self._base}/{cmd}"
        try:
            r = self._client.post(url, params=params, files=files)
        except httpx.HTTPError as exc:
            raise KuboError(f"Kubo RPC {cmd} at {self.api} failed: {exc}") from exc
        if r.status_code != 200:
            msg, code = r.text, None
            try:
                body = r.json()
                msg, code = body.get("Message", msg), body.get("Code")
            except ValueError:
                pass
            if "not found" in msg or "could not find" in msg:
                arg = _arg(params)
                raise BlockNotFound(arg or msg)
            raise KuboError(f"Kubo RPC {cmd}: {msg.strip()}", status=r.status_code, code=code)
        return r

    def version(self) -> str:
        return str(self._post("version").json()["Version"])

    def id(self) -> dict[str, Any]:
        out: dict[str, Any] = self._post("id").json()
        return out

    # ----------------------------------------------------------------- IpfsStore interface

    def add(self, data: bytes, *, pin: bool = True) -> str:
        """Add bytes as a UnixFS file; Kubo's CID must equal the locally computed one."""
        expected = file_cid(data)
        got = self._add_stream(data, pin=pin)
        if got != expected:
            raise CidMismatch(expected, got, f"Kubo {self.api} add")
        return got

    def add_file(self, path: str | os.PathLike[str], *, pin: bool = True) -> str:
        """Add a file from disk (streamed upload); cross-checked like :meth:`add`."""
        b = FileBuilder()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                b.update(chunk)
        expected = b.finish()
        with open(path, "rb") as f:
            got = self._add_stream(f, pin=pin)
        if got != expected:
            raise CidMismatch(expected, got, f"Kubo {self.api} add {path}")
        return got

    def add_hash_only(self, data: bytes) -> str:
        """CID Kubo would give ``data`` (``only-hash``: nothing is stored)."""
        return self._add_stream(data, pin=False, only_hash=True)

    def _add_stream(self, body: bytes | BinaryIO, *, pin: bool, only_hash: bool = False) -> str:
        params = dict(ADD_PARAMS)
        params["pin"] = "true" if pin else "false"
        if only_hash:
            params["only-hash"] = "true"
        r = self._post("add", params, files={"file": ("file", body, "application/octet-stream")})
        last: dict[str, Any] | None = None
        for line in r.text.splitlines():
            if line.strip():
                obj = json.loads(line)
                if "Hash" in obj:
                    last = obj
        if last is None:
            raise KuboError(f"Kubo add returned no hash: {r.text[:200]!r}")
        return str(last["Hash"])

    def block_get(self, cid: str) -> bytes:
        """Raw block bytes, verified against ``cid``."""
        c = _cid(cid)
        data = self._post("block/get", {"arg": c}).content
        verify_block(c, data, where=f"Kubo {self.api} block/get")
        return data

    def cat(self, cid: str) -> bytes:
        """File content, verified.

        Fast path: ``cat`` and recompute the CID locally (matches for anything added with
        Kubo's CIDv1 defaults). Otherwise the DAG is walked block by block, each verified.
        """
        c = _cid(cid)
        data = self._post("cat", {"arg": c}).content
        if file_cid(data) == c:
            return data
        return b"".join(iter_file_blocks(c, self.block_get))

    def pin(self, cid: str) -> None:
        """Pin recursively on the node."""
        c = _cid(cid)
        r = self._post("pin/add", {"arg": c, "recursive": "true"})
        pins = r.json().get("Pins") or []
        if not any(_same(p, c) for p in pins):
            raise KuboError(f"Kubo pin/add did not report {c}: {r.text[:200]}")

    def is_pinned(self, cid: str) -> bool:
        c = _cid(cid)
        try:
            r = self._post("pin/ls", {"arg": c, "type": "recursive"})
        except KuboError as exc:
            if "not pinned" in str(exc):
                return False
            raise
        keys = r.json().get("Keys") or {}
        return any(_same(k, c) for k in keys)

    def has(self, cid: str) -> bool:
        """Whether the node holds the block locally (never searches the network)."""
        try:
            c = _cid(cid)
        except InvalidCid:
            return False
        try:
            self._post("block/stat", {"arg": c, "offline": "true"})
        except BlockNotFound:
            return False
        return True

    def iter_blocks(self, cid: str) -> Iterator[bytes]:
        """File content block by block, each verified."""
        return iter_file_blocks(_cid(cid), self.block_get)

    def block_put(self, cid: str, data: bytes) -> None:
        """Store one block under ``cid`` (verified first; the node keys blocks by multihash)."""
        c = Cid.decode(cid)
        verify_block(c, data, where="block_put")
        codec = "raw" if c.codec == CODEC_RAW else "dag-pb"
        self._post("block/put", {"cid-codec": codec, "mhtype": "sha2-256", "pin": "false"},
                   files={"data": ("block", data, "application/octet-stream")})

    def pins(self) -> list[str]:
        """Every recursively pinned CID of the node (one ``pin/ls``)."""
        keys = self._post("pin/ls", {"type": "recursive"}).json().get("Keys") or {}
        return sorted(str(k) for k in keys)

    def unpin(self, cid: str) -> None:
        self._post("pin/rm", {"arg": _cid(cid), "recursive": "true"})


def _cid(cid: str) -> str:
    return Cid.decode(cid).encode()


def _same(a: str, b: str) -> bool:
    try:
        return Cid.decode(a).multihash == Cid.decode(b).multihash
    except InvalidCid:
        return False


def _arg(params: dict[str, str] | None) -> str | None:
    return params.get("arg") if params else None


__all__ = ["KuboClient", "api_url", "DEFAULT_API", "ADD_PARAMS", "CODEC_RAW"]
