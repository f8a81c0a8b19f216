"""Exceptions raised by the IPFS layer."""

from __future__ import annotations


class IpfsError(Exception):
    """Base class of every IPFS-layer error."""


class InvalidCid(IpfsError, ValueError):
    """A string or byte sequence is not a CID this package understands."""


class UnsupportedCid(IpfsError):
    """A well-formed CID uses a codec or hash function we cannot verify."""


class CidMismatch(IpfsError):
    """Bytes read back do not hash to the CID they were requested by."""

    def __init__(self, expected: str, actual: str, where: str = "") -> None:
        self.expected = expected
        self.actual = actual
        self.where = where
        msg = f"CID mismatch: expected {expected}, content hashes to {actual}"
        if where:
            msg += f" ({where})"
        super().__init__(msg)


class BlockNotFound(IpfsError, KeyError):
    """A block is not present in the store."""

    def __init__(self, cid: str) -> None:
        self.cid = cid
        super().__init__(cid)

    def __str__(self) -> str:
        return f"block not found: {self.cid}"


class DagError(IpfsError):
    """A block decodes to something that is not a valid UnixFS DAG node."""


class UnsupportedLayout(IpfsError):
    """Input that Kubo would lay out in a way this package does not reproduce."""


class KuboError(IpfsError):
    """Kubo's RPC API answered with an error or could not be reached."""

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None) -> None:
        self.status = status
        self.code = code
        super().__init__(message)
