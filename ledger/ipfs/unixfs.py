"""CIDs, dag-pb and UnixFS, computed exactly as Kubo's ``ipfs add --cid-version=1`` does.

Kubo's defaults for ``--cid-version=1``: raw leaves (codec ``raw``), chunker ``size-262144``,
balanced DAG with at most 174 links per node, intermediate nodes dag-pb UnixFS ``File`` nodes
carrying ``filesize`` and ``blocksizes``, sha2-256, base32 multibase (``b...``).
A file of at most one chunk (including the empty file) is a single raw block.

The protobuf encoding of dag-pb and UnixFS is written by hand (it is tiny); everything streams
with :mod:`hashlib`, so memory stays at one chunk plus one pending link list per tree level.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from .errors import CidMismatch, DagError, InvalidCid, UnsupportedCid, UnsupportedLayout

CHUNK_SIZE = 262144
MAX_LINKS = 174
#: Kubo converts a directory to a HAMT shard above this estimated size; we refuse to go near it.
HAMT_THRESHOLD = 262144

CODEC_RAW = 0x55
CODEC_DAG_PB = 0x70
MH_SHA2_256 = 0x12
MH_IDENTITY = 0x00

# UnixFS Data.DataType
UNIXFS_RAW = 0
UNIXFS_DIRECTORY = 1
UNIXFS_FILE = 2
UNIXFS_METADATA = 3
UNIXFS_SYMLINK = 4
UNIXFS_HAMT_SHARD = 5

#: Called with (binary CID, block bytes) for every block a builder produces.
BlockSink = Callable[[bytes, bytes], None]

_B58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58_ALPHABET)}


# --------------------------------------------------------------------------- varints, bases


def encode_varint(n: int) -> bytes:
    """Unsigned LEB128 varint (protobuf / multiformats)."""
    if n < 0:
        raise ValueError("varint must be non-negative")
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def decode_varint(buf: bytes | memoryview, pos: int = 0) -> tuple[int, int]:
    """Decode a varint at ``pos``; returns (value, new position)."""
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _b58encode(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = []
    while n:
        n, r = divmod(n, 58)
        out.append(_B58_ALPHABET[r])
    pad = len(data) - len(data.lstrip(b"\0"))
    return "1" * pad + "".join(reversed(out))


def _b58decode(s: str) -> bytes:
    n = 0
    for c in s:
        try:
            n = n * 58 + _B58_INDEX[c]
        except KeyError:
            raise InvalidCid(f"invalid base58 character {c!r}") from None
    pad = len(s) - len(s.lstrip("1"))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * pad + body


# --------------------------------------------------------------------------- CIDs


@dataclass(frozen=True)
class Cid:
    """A parsed CID (v0 or v1)."""

    version: int
    codec: int
    mh_code: int
    digest: bytes

    @property
    def multihash(self) -> bytes:
        return encode_varint(self.mh_code) + encode_varint(len(self.digest)) + self.digest

    @property
    def binary(self) -> bytes:
        if self.version == 0:
            return self.multihash
        return encode_varint(1) + encode_varint(self.codec) + self.multihash

    def encode(self) -> str:
        """Canonical string form: base58btc for v0, base32 ``b...`` for v1."""
        if self.version == 0:
            return _b58encode(self.multihash)
        return "b" + base64.b32encode(self.binary).decode("ascii").lower().rstrip("=")

    def __str__(self) -> str:
        return self.encode()

    @classmethod
    def decode(cls, value: str | bytes | Cid) -> Cid:
        """Parse a CID string (``Qm...`` or multibase ``b``/``B``/``z``/``f``) or binary CID."""
        if isinstance(value, Cid):
            return value
        if isinstance(value, str):
            raw = _cid_string_to_bytes(value)
        else:
            raw = bytes(value)
        return cls.from_bytes(raw)

    @classmethod
    def from_bytes(cls, raw: bytes) -> Cid:
        try:
            if len(raw) == 34 and raw[0] == MH_SHA2_256 and raw[1] == 32:
                return cls(0, CODEC_DAG_PB, MH_SHA2_256, raw[2:])
            version, pos = decode_varint(raw, 0)
            if version != 1:
                raise InvalidCid(f"unsupported CID version {version}")
            codec, pos = decode_varint(raw, pos)
            mh_code, pos = decode_varint(raw, pos)
            length, pos = decode_varint(raw, pos)
        except ValueError as exc:
            raise InvalidCid(f"malformed CID bytes: {exc}") from None
        digest = raw[pos:]
        if len(digest) != length:
            raise InvalidCid(f"multihash length {length} but {len(digest)} digest bytes")
        return cls(1, codec, mh_code, digest)


def _cid_string_to_bytes(s: str) -> bytes:
    s = s.strip()
    if not s:
        raise InvalidCid("empty CID string")
    if len(s) == 46 and s.startswith("Qm"):
        return _b58decode(s)
    prefix, body = s[0], s[1:]
    try:
        if prefix in "bB":
            body = body.upper()
            return base64.b32decode(body + "=" * (-len(body) % 8))
        if prefix == "z":
            return _b58decode(body)
        if prefix in "fF":
            return bytes.fromhex(body)
    except (ValueError, TypeError) as exc:
        raise InvalidCid(f"cannot decode CID {s!r}: {exc}") from None
    raise InvalidCid(f"unsupported multibase prefix {prefix!r} in CID {s!r}")


def normalize_cid(value: str | bytes | Cid) -> str:
    """Canonical string form of any accepted CID spelling (raises :class:`InvalidCid`)."""
    return Cid.decode(value).encode()


def _cid_v1_bytes(codec: int, digest: bytes) -> bytes:
    # 0x01 <codec> 0x12 0x20 <digest>; both codecs we emit fit in one varint byte
    return bytes((1, codec, MH_SHA2_256, 32)) + digest


def cid_bytes_to_str(raw: bytes) -> str:
    """Binary CIDv1 -> base32 string (fast path for CIDv1, falls back to full parsing)."""
    if raw[:1] == b"\x01":
        return "b" + base64.b32encode(raw).decode("ascii").lower().rstrip("=")
    return Cid.from_bytes(raw).encode()


def block_cid(data: bytes, codec: int = CODEC_RAW) -> str:
    """CIDv1 (sha2-256) of one block."""
    return cid_bytes_to_str(_cid_v1_bytes(codec, hashlib.sha256(data).digest()))


def hash_block_like(cid: Cid, data: bytes) -> Cid:
    """The CID that ``data`` has under the version/codec/hash function of ``cid``."""
    if cid.mh_code == MH_SHA2_256:
        digest = hashlib.sha256(data).digest()
    elif cid.mh_code == MH_IDENTITY:
        digest = bytes(data)
    else:
        raise UnsupportedCid(f"cannot verify multihash function 0x{cid.mh_code:x} of {cid}")
    return Cid(cid.version, cid.codec, cid.mh_code, digest)


def verify_block(cid: str | bytes | Cid, data: bytes, where: str = "") -> None:
    """Raise :class:`CidMismatch` unless ``data`` hashes to ``cid``."""
    expected = Cid.decode(cid)
    actual = hash_block_like(expected, data)
    if actual.digest != expected.digest:
        raise CidMismatch(expected.encode(), actual.encode(), where)


# --------------------------------------------------------------------------- protobuf


def _pb_key(field_no: int, wire: int) -> bytes:
    return encode_varint((field_no << 3) | wire)


def _pb_bytes(field_no: int, value: bytes) -> bytes:
    return _pb_key(field_no, 2) + encode_varint(len(value)) + value


def _pb_uint(field_no: int, value: int) -> bytes:
    return _pb_key(field_no, 0) + encode_varint(value)


@dataclass
class PBLink:
    """A dag-pb link: binary CID, name, cumulative size of the target."""

    hash: bytes
    name: str | None = ""
    tsize: int | None = None

    @property
    def cid(self) -> str:
        return cid_bytes_to_str(self.hash)


@dataclass
class PBNode:
    """A dag-pb node (links + opaque data)."""

    links: list[PBLink] = field(default_factory=list)
    data: bytes | None = None

    def encode(self) -> bytes:
        """Canonical dag-pb bytes as go-merkledag writes them: Links (field 2) first, then Data."""
        out = bytearray()
        for link in self.links:
            lb = _pb_bytes(1, link.hash)
            if link.name is not None:
                lb += _pb_bytes(2, link.name.encode("utf-8"))
            if link.tsize is not None:
                lb += _pb_uint(3, link.tsize)
            out += _pb_bytes(2, lb)
        if self.data is not None:
            out += _pb_bytes(1, self.data)
        return bytes(out)

    @classmethod
    def decode(cls, buf: bytes) -> PBNode:
        node = cls()
        try:
            for fno, wire, val in _pb_fields(buf):
                if fno == 2 and wire == 2:
                    assert isinstance(val, bytes)
                    node.links.append(_decode_link(val))
                elif fno == 1 and wire == 2:
                    assert isinstance(val, bytes)
                    node.data = val
                else:
                    raise DagError(f"unexpected dag-pb field {fno} (wire type {wire})")
        except ValueError as exc:
            raise DagError(f"malformed dag-pb node: {exc}") from None
        return node


def _decode_link(buf: bytes) -> PBLink:
    link = PBLink(hash=b"", name=None, tsize=None)
    for fno, wire, val in _pb_fields(buf):
        if fno == 1 and wire == 2:
            assert isinstance(val, bytes)
            link.hash = val
        elif fno == 2 and wire == 2:
            assert isinstance(val, bytes)
            link.name = val.decode("utf-8")
        elif fno == 3 and wire == 0:
            assert isinstance(val, int)
            link.tsize = val
        else:
            raise DagError(f"unexpected dag-pb link field {fno}")
    if not link.hash:
        raise DagError("dag-pb link without a hash")
    return link


def _pb_fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    pos = 0
    n = len(buf)
    while pos < n:
        key, pos = decode_varint(buf, pos)
        fno, wire = key >> 3, key & 7
        if wire == 0:
            val, pos = decode_varint(buf, pos)
            yield fno, wire, val
        elif wire == 2:
            length, pos = decode_varint(buf, pos)
            if pos + length > n:
                raise ValueError("truncated length-delimited field")
            yield fno, wire, bytes(buf[pos : pos + length])
            pos += length
        elif wire == 5:
            pos += 4
        elif wire == 1:
            pos += 8
        else:
            raise ValueError(f"unsupported wire type {wire}")
    if pos != n:
        raise ValueError("trailing bytes")


@dataclass
class UnixFSData:
    """The UnixFS ``Data`` message carried in a dag-pb node's data field."""

    type: int
    data: bytes | None = None
    filesize: int | None = None
    blocksizes: list[int] = field(default_factory=list)

    def encode(self) -> bytes:
        out = bytearray(_pb_uint(1, self.type))
        if self.data is not None:
            out += _pb_bytes(2, self.data)
        if self.filesize is not None:
            out += _pb_uint(3, self.filesize)
        for bs in self.blocksizes:
            out += _pb_uint(4, bs)
        return bytes(out)

    @classmethod
    def decode(cls, buf: bytes) -> UnixFSData:
        typ: int | None = None
        out = cls(type=-1)
        try:
            for fno, wire, val in _pb_fields(buf):
                if fno == 1 and wire == 0:
                    assert isinstance(val, int)
                    typ = val
                elif fno == 2 and wire == 2:
                    assert isinstance(val, bytes)
                    out.data = val
                elif fno == 3 and wire == 0:
                    assert isinstance(val, int)
                    out.filesize = val
                elif fno == 4 and wire == 0:
                    assert isinstance(val, int)
                    out.blocksizes.append(val)
                elif fno == 4 and wire == 2:  # packed encoding, tolerated on read
                    assert isinstance(val, bytes)
                    p = 0
                    while p < len(val):
                        v, p = decode_varint(val, p)
                        out.blocksizes.append(v)
                # hashType, fanout, mode, mtime: ignored
        except ValueError as exc:
            raise DagError(f"malformed UnixFS data: {exc}") from None
        if typ is None:
            raise DagError("UnixFS data without a type")
        out.type = typ
        return out


# --------------------------------------------------------------------------- file builder


class FileBuilder:
    """Streaming balanced-DAG builder; feed bytes with :meth:`update`, get the CID from :meth:`finish`.

    ``sink`` (optional) receives every block (binary CID, bytes), leaves first, root last.
    """

    def __init__(
        self,
        sink: BlockSink | None = None,
        *,
        chunk_size: int = CHUNK_SIZE,
        max_links: int = MAX_LINKS,
    ) -> None:
        if chunk_size <= 0 or max_links < 2:
            raise ValueError("chunk_size must be > 0 and max_links >= 2")
        self._sink = sink
        self._chunk_size = chunk_size
        self._max_links = max_links
        self._buf = bytearray()
        # levels[i]: pending children of a level-(i+1) node: (binary cid, file bytes, tsize)
        self._levels: list[list[tuple[bytes, int, int]]] = [[]]
        self._leaves = 0
        self.size = 0
        self._done: str | None = None

    def update(self, data: bytes | bytearray | memoryview) -> None:
        if self._done is not None:
            raise RuntimeError("FileBuilder already finished")
        mv = memoryview(data)
        n = len(mv)
        self.size += n
        cs = self._chunk_size
        pos = 0
        if self._buf:
            take = min(cs - len(self._buf), n)
            self._buf += mv[:take]
            pos = take
            if len(self._buf) == cs:
                self._leaf(bytes(self._buf))
                self._buf.clear()
        while n - pos >= cs:
            self._leaf(mv[pos : pos + cs])
            pos += cs
        if pos < n:
            self._buf += mv[pos:]

    def _leaf(self, chunk: bytes | memoryview) -> None:
        cid = _cid_v1_bytes(CODEC_RAW, hashlib.sha256(chunk).digest())
        if self._sink is not None:
            self._sink(cid, chunk if isinstance(chunk, bytes) else chunk.tobytes())
        self._leaves += 1
        self._push(0, (cid, len(chunk), len(chunk)))

    def _push(self, level: int, item: tuple[bytes, int, int]) -> None:
        while True:
            if level == len(self._levels):
                self._levels.append([])
            pending = self._levels[level]
            pending.append(item)
            if len(pending) < self._max_links:
                return
            item = self._commit(pending)
            self._levels[level] = []
            level += 1

    def _commit(self, children: list[tuple[bytes, int, int]]) -> tuple[bytes, int, int]:
        filesize = sum(c[1] for c in children)
        data = UnixFSData(UNIXFS_FILE, filesize=filesize, blocksizes=[c[1] for c in children])
        node = PBNode([PBLink(c[0], "", c[2]) for c in children], data.encode()).encode()
        cid = _cid_v1_bytes(CODEC_DAG_PB, hashlib.sha256(node).digest())
        if self._sink is not None:
            self._sink(cid, node)
        return cid, filesize, len(node) + sum(c[2] for c in children)

    def finish_bytes(self) -> bytes:
        """Finish and return the root as a binary CID."""
        if self._done is not None:
            return Cid.decode(self._done).binary
        if self._buf or self._leaves == 0:
            self._leaf(bytes(self._buf))  # the empty file is one empty raw leaf
            self._buf.clear()
        top = max(i for i, lv in enumerate(self._levels) if lv)
        for i in range(top):
            if self._levels[i]:
                item = self._commit(self._levels[i])
                self._levels[i] = []
                self._levels[i + 1].append(item)
        pending = self._levels[top]
        root = pending[0] if len(pending) == 1 else self._commit(pending)
        self.tsize = root[2]
        self._done = cid_bytes_to_str(root[0])
        return root[0]

    def finish(self) -> str:
        """Finish and return the root CID string."""
        self.finish_bytes()
        assert self._done is not None
        return self._done


def file_cid(data: bytes | bytearray | memoryview) -> str:
    """CID of ``data`` as ``ipfs add --cid-version=1`` reports it."""
    b = FileBuilder()
    b.update(data)
    return b.finish()


def stream_cid(stream: BinaryIO, sink: BlockSink | None = None) -> tuple[str, int]:
    """CID and size of everything read from ``stream``."""
    b = FileBuilder(sink)
    read = stream.read
    while True:
        chunk = read(CHUNK_SIZE * 4)
        if not chunk:
            break
        b.update(chunk)
    return b.finish(), b.size


def path_cid(path: str | os.PathLike[str]) -> str:
    """CID of a file (as ``ipfs add --cid-version=1 FILE``) or directory (``ipfs add -r``)."""
    p = Path(path)
    if p.is_dir():
        return directory_cid(p)
    with open(p, "rb") as f:
        return stream_cid(f)[0]


# --------------------------------------------------------------------------- directories


def _dir_node(entries: list[tuple[str, bytes, int]]) -> bytes:
    entries = sorted(entries, key=lambda e: e[0].encode("utf-8"))
    estimate = sum(len(name.encode("utf-8")) + len(cid) for name, cid, _ in entries)
    if estimate > HAMT_THRESHOLD - 4096:
        raise UnsupportedLayout(
            f"directory too large for a basic UnixFS directory (~{estimate} B of links); "
            "Kubo would shard it into a HAMT, which this package does not reproduce"
        )
    return PBNode(
        [PBLink(cid, name, tsize) for name, cid, tsize in entries],
        UnixFSData(UNIXFS_DIRECTORY).encode(),
    ).encode()


def add_directory(
    path: str | os.PathLike[str], sink: BlockSink | None = None, *, hidden: bool = False
) -> tuple[bytes, int]:
    """Build a directory DAG like ``ipfs add -r --cid-version=1``; returns (binary CID, tsize).

    Hidden entries (names starting with ``.``) are skipped unless ``hidden`` (Kubo's default).
    Symlinks become UnixFS symlink nodes; other special files are refused.
    """
    entries: list[tuple[str, bytes, int]] = []
    with os.scandir(path) as it:
        for entry in it:
            if not hidden and entry.name.startswith("."):
                continue
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                target = os.readlink(entry.path)
                node = PBNode(
                    [], UnixFSData(UNIXFS_SYMLINK, data=os.fsencode(target)).encode()
                ).encode()
                cid = _cid_v1_bytes(CODEC_DAG_PB, hashlib.sha256(node).digest())
                if sink is not None:
                    sink(cid, node)
                entries.append((entry.name, cid, len(node)))
            elif stat.S_ISDIR(st.st_mode):
                cid, tsize = add_directory(entry.path, sink, hidden=hidden)
                entries.append((entry.name, cid, tsize))
            elif stat.S_ISREG(st.st_mode):
                b = FileBuilder(sink)
                with open(entry.path, "rb") as f:
                    while chunk := f.read(CHUNK_SIZE * 4):
                        b.update(chunk)
                cid = b.finish_bytes()
                entries.append((entry.name, cid, b.tsize))
            else:
                raise UnsupportedLayout(f"cannot add special file {entry.path}")
    node = _dir_node(entries)
    cid = _cid_v1_bytes(CODEC_DAG_PB, hashlib.sha256(node).digest())
    if sink is not None:
        sink(cid, node)
    return cid, len(node) + sum(e[2] for e in entries)


def directory_cid(path: str | os.PathLike[str], *, hidden: bool = False) -> str:
    """CID of a directory as ``ipfs add -r --cid-version=1 DIR`` prints for DIR itself."""
    return cid_bytes_to_str(add_directory(path, hidden=hidden)[0])


# --------------------------------------------------------------------------- reading


def iter_file_blocks(
    cid: str | Cid, get_block: Callable[[str], bytes]
) -> Iterator[bytes]:
    """Yield a UnixFS file's bytes in order, fetching blocks with ``get_block`` (which verifies)."""
    c = Cid.decode(cid)
    data = get_block(c.encode())
    if c.codec == CODEC_RAW:
        yield data
        return
    if c.codec != CODEC_DAG_PB:
        raise UnsupportedCid(f"{c} is neither raw nor dag-pb (codec 0x{c.codec:x})")
    node = PBNode.decode(data)
    if node.data is None:
        raise DagError(f"{c}: dag-pb node without UnixFS data")
    fs = UnixFSData.decode(node.data)
    if fs.type == UNIXFS_DIRECTORY or fs.type == UNIXFS_HAMT_SHARD:
        raise DagError(f"{c} is a directory, not a file")
    if fs.type not in (UNIXFS_FILE, UNIXFS_RAW):
        raise DagError(f"{c}: UnixFS node type {fs.type} is not a file")
    if fs.data:
        yield fs.data
    for link in node.links:
        yield from iter_file_blocks(Cid.from_bytes(link.hash), get_block)


def iter_dag_cids(cid: str | Cid, get_block: Callable[[str], bytes]) -> Iterator[str]:
    """Yield every CID of a DAG (root first), fetching blocks with ``get_block``."""
    c = Cid.decode(cid)
    s = c.encode()
    yield s
    if c.codec != CODEC_DAG_PB:
        return
    for link in PBNode.decode(get_block(s)).links:
        yield from iter_dag_cids(Cid.from_bytes(link.hash), get_block)


def cid_from_chain(raw: bytes) -> str:
    """Bytes recorded on chain -> CID string (binary CIDs and CID text both occur)."""
    raw = bytes(raw)
    if not raw:
        return ""
    try:
        text = raw.decode("ascii")
        if text.isprintable() and (text.startswith(("Qm", "b", "z", "f"))):
            return text
    except UnicodeDecodeError:
        pass
    try:
        return str(Cid.from_bytes(raw))
    except Exception:
        return "0x" + raw.hex()
