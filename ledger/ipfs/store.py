"""Embedded content-addressed block store on disk, producing the same CIDs as Kubo.

Layout under ``root``::

    blocks/<XY>/<KEY>.data   one block per file; KEY = base32 multihash (like Kubo's flatfs),
                             XY = the next-to-last two characters of KEY
    pins/<CID>               one empty file per recursive pin

Blocks are keyed by multihash, so the CIDv0 and CIDv1 spellings of a dag-pb block are the
same block. Every read re-hashes the block and raises :class:`CidMismatch` on corruption.
Writes go through a temp file and ``os.replace``, so a crash never leaves a partial block.
"""

from __future__ import annotations

import base64
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .errors import BlockNotFound, InvalidCid
from .unixfs import (
    CODEC_RAW,
    Cid,
    FileBuilder,
    add_directory,
    block_cid,
    cid_bytes_to_str,
    iter_dag_cids,
    iter_file_blocks,
    verify_block,
)

_READ_SIZE = 1 << 20


class LocalStore:
    """Embedded IPFS-compatible store (no daemon)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._blocks = self.root / "blocks"
        self._pins = self.root / "pins"
        self._blocks.mkdir(parents=True, exist_ok=True)
        self._pins.mkdir(parents=True, exist_ok=True)

    def __repr__(self) -> str:
        return f"LocalStore({str(self.root)!r})"

    # ----------------------------------------------------------------- block layer

    def block_path(self, cid: str | Cid) -> Path:
        """File holding the block of ``cid`` (may not exist)."""
        c = Cid.decode(cid)
        key = base64.b32encode(c.multihash).decode("ascii").rstrip("=")
        return self._blocks / key[-3:-1] / f"{key}.data"

    def _put_raw(self, cid_bin: bytes, data: bytes) -> None:
        path = self.block_path(Cid.from_bytes(cid_bin))
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise

    def block_put(self, data: bytes, codec: int = CODEC_RAW) -> str:
        """Store one block; returns its CIDv1."""
        cid = block_cid(data, codec)
        self._put_raw(Cid.decode(cid).binary, data)
        return cid

    def block_get(self, cid: str) -> bytes:
        """The block's bytes, verified against ``cid``."""
        path = self.block_path(cid)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise BlockNotFound(normalize(cid)) from None
        verify_block(cid, data, where=f"embedded store {path}")
        return data

    def has(self, cid: str) -> bool:
        """Whether the block of ``cid`` is stored (not verified; use block_get for that)."""
        try:
            return self.block_path(cid).is_file()
        except InvalidCid:
            return False

    # ----------------------------------------------------------------- UnixFS layer

    def add(self, data: bytes, *, pin: bool = True) -> str:
        """Add bytes as a UnixFS file (CID as ``ipfs add --cid-version=1``)."""
        return self.add_stream(io.BytesIO(data), pin=pin)

    def add_stream(self, stream: BinaryIO, *, pin: bool = True) -> str:
        """Add everything read from ``stream`` as one UnixFS file."""
        b = FileBuilder(self._put_raw)
        while chunk := stream.read(_READ_SIZE):
            b.update(chunk)
        cid = b.finish()
        if pin:
            self._pin_file(cid)
        return cid

    def add_file(self, path: str | os.PathLike[str], *, pin: bool = True) -> str:
        """Add a file from disk, streaming."""
        with open(path, "rb") as f:
            return self.add_stream(f, pin=pin)

    def add_directory(self, path: str | os.PathLike[str], *, pin: bool = True) -> str:
        """Add a directory tree (CID as ``ipfs add -r --cid-version=1``)."""
        cid = cid_bytes_to_str(add_directory(path, self._put_raw)[0])
        if pin:
            self._pin_file(cid)
        return cid

    def cat(self, cid: str) -> bytes:
        """The content of a UnixFS file; every block is verified."""
        return b"".join(iter_file_blocks(cid, self.block_get))

    def iter_blocks(self, cid: str) -> Iterator[bytes]:
        """File content block by block (streaming), each verified."""
        return iter_file_blocks(cid, self.block_get)

    # ----------------------------------------------------------------- pins

    def _pin_file(self, cid: str) -> None:
        (self._pins / normalize(cid)).touch()

    def pin(self, cid: str) -> None:
        """Pin recursively; the whole DAG must be present and intact."""
        for c in iter_dag_cids(cid, self.block_get):
            # dag-pb nodes were read and verified by the walk; raw leaves are checked here
            if Cid.decode(c).codec == CODEC_RAW:
                self.block_get(c)
        self._pin_file(cid)

    def is_pinned(self, cid: str) -> bool:
        return (self._pins / normalize(cid)).exists()

    def pins(self) -> list[str]:
        return sorted(p.name for p in self._pins.iterdir() if not p.name.startswith("."))


def normalize(cid: str | Cid) -> str:
    return Cid.decode(cid).encode()
