"""IPFS for dataledger: Kubo-compatible CIDs, an embedded store and a Kubo RPC client.

Both backends implement :class:`IpfsStore`; every read is re-hashed and a wrong block raises
:class:`CidMismatch`. :func:`open_store` picks the backend from a URL or a directory path.
"""

from __future__ import annotations

import os
from typing import Protocol, runtime_checkable

from .errors import (
    BlockNotFound,
    CidMismatch,
    DagError,
    InvalidCid,
    IpfsError,
    KuboError,
    UnsupportedCid,
    UnsupportedLayout,
)
from .kubo import DEFAULT_API, KuboClient, api_url
from .store import LocalStore
from .unixfs import (
    CHUNK_SIZE,
    MAX_LINKS,
    Cid,
    FileBuilder,
    block_cid,
    cid_from_chain,
    directory_cid,
    file_cid,
    normalize_cid,
    path_cid,
    stream_cid,
    verify_block,
)


@runtime_checkable
class IpfsStore(Protocol):
    """What the SDK needs from IPFS."""

    def add(self, data: bytes, *, pin: bool = True) -> str:
        """Add bytes as a UnixFS file; returns the CIDv1 ``ipfs add --cid-version=1`` gives."""
        ...

    def add_file(self, path: str | os.PathLike[str], *, pin: bool = True) -> str:
        """Add a file from disk (streaming)."""
        ...

    def cat(self, cid: str) -> bytes:
        """File content; raises CidMismatch if any block is wrong."""
        ...

    def pin(self, cid: str) -> None:
        """Pin the DAG recursively."""
        ...

    def block_get(self, cid: str) -> bytes:
        """One raw block, verified."""
        ...

    def has(self, cid: str) -> bool:
        """Whether the block is held locally."""
        ...


def open_store(target: str | os.PathLike[str] | None = None) -> IpfsStore:
    """Kubo for an ``http(s)://`` URL or multiaddr, else an embedded store at a directory.

    With no argument: ``IPFS_API`` if set (Kubo), else ``IPFS_STORE_DIR`` / ``DATALEDGER_IPFS_DIR``
    or ``<STATE_DIR>/ipfs`` (embedded; :meth:`ledger.settings.Settings.ipfs_target`).
    """
    if target is None:
        from ledger.settings import Settings

        target = Settings().ipfs_target()
    if isinstance(target, str) and target.startswith(("http://", "https://", "/ip4/", "/ip6/", "/dns")):
        return KuboClient(target)
    return LocalStore(target)


__all__ = [
    "BlockNotFound",
    "CHUNK_SIZE",
    "Cid",
    "CidMismatch",
    "DEFAULT_API",
    "DagError",
    "FileBuilder",
    "InvalidCid",
    "IpfsError",
    "IpfsStore",
    "KuboClient",
    "KuboError",
    "LocalStore",
    "MAX_LINKS",
    "UnsupportedCid",
    "UnsupportedLayout",
    "api_url",
    "block_cid",
    "cid_from_chain",
    "directory_cid",
    "file_cid",
    "normalize_cid",
    "open_store",
    "path_cid",
    "stream_cid",
    "verify_block",
]
