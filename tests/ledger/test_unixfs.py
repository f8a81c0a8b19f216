"""UnixFS/CID computation, checked against known vectors and against the real Kubo daemon."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import httpx
import pytest

from ledger.ipfs import CidMismatch, InvalidCid, KuboClient
from ledger.ipfs.unixfs import (
    CHUNK_SIZE,
    CODEC_DAG_PB,
    CODEC_RAW,
    MAX_LINKS,
    Cid,
    FileBuilder,
    PBLink,
    PBNode,
    UnixFSData,
    block_cid,
    decode_varint,
    directory_cid,
    encode_varint,
    file_cid,
    normalize_cid,
    path_cid,
    verify_block,
)
from tests.kubo_fixture import KuboNode

EMPTY_FILE_CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
EMPTY_DIR_V0 = "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"


def det_bytes(n: int, seed: str = "dataledger") -> bytes:
    """Deterministic pseudo-random bytes, fast even for tens of MiB."""
    return hashlib.shake_256(seed.encode()).digest(n) if n else b""


# --------------------------------------------------------------------------- pure unit tests


def test_varint_round_trip() -> None:
    for n in (0, 1, 127, 128, 300, 2**32, 2**63 - 1):
        enc = encode_varint(n)
        assert decode_varint(enc) == (n, len(enc))
    assert encode_varint(300) == b"\xac\x02"


def test_known_vectors() -> None:
    assert file_cid(b"") == EMPTY_FILE_CID
    assert block_cid(b"") == EMPTY_FILE_CID
    # the empty UnixFS directory, CIDv0 and v1 spellings of one block
    empty_dir = PBNode([], UnixFSData(1).encode()).encode()
    assert empty_dir == b"\x0a\x02\x08\x01"
    assert Cid.decode(block_cid(empty_dir, CODEC_DAG_PB)).multihash == Cid.decode(EMPTY_DIR_V0).multihash


def test_cid_parse_and_normalize() -> None:
    c = Cid.decode(EMPTY_FILE_CID)
    assert (c.version, c.codec) == (1, CODEC_RAW)
    assert Cid.decode(c.binary) == c
    assert normalize_cid(EMPTY_FILE_CID.upper()) == EMPTY_FILE_CID
    assert normalize_cid("f" + c.binary.hex()) == EMPTY_FILE_CID
    v0 = Cid.decode(EMPTY_DIR_V0)
    assert v0.version == 0 and v0.encode() == EMPTY_DIR_V0
    for bad in ("", "xyz", "b!!!!", "Qm" + "0" * 44, "bafy"):
        with pytest.raises(InvalidCid):
            Cid.decode(bad)


def test_pbnode_round_trip() -> None:
    link = PBLink(Cid.decode(EMPTY_FILE_CID).binary, "a.txt", 0)
    data = UnixFSData(2, filesize=10, blocksizes=[4, 6]).encode()
    node = PBNode([link], data)
    dec = PBNode.decode(node.encode())
    assert dec.links == [link] and dec.data == data
    fs = UnixFSData.decode(data)
    assert (fs.type, fs.filesize, fs.blocksizes) == (2, 10, [4, 6])


def test_verify_block_refuses_wrong_bytes() -> None:
    cid = block_cid(b"right")
    verify_block(cid, b"right")
    with pytest.raises(CidMismatch) as exc:
        verify_block(cid, b"wrong")
    assert exc.value.expected == cid
    assert exc.value.actual == block_cid(b"wrong")
    assert cid in str(exc.value)


def test_streaming_equals_one_shot() -> None:
    data = det_bytes(3 * CHUNK_SIZE + 12345)
    b = FileBuilder()
    pos = 0
    for step in (1, 7, 1000, CHUNK_SIZE - 3, 2 * CHUNK_SIZE, 10**9):
        b.update(data[pos : pos + step])
        pos += step
    assert b.finish() == file_cid(data)
    assert b.size == len(data)


def test_single_chunk_is_raw_block() -> None:
    for n in (1, 100, CHUNK_SIZE):
        d = det_bytes(n)
        assert file_cid(d) == block_cid(d)
    assert file_cid(det_bytes(CHUNK_SIZE + 1)).startswith("bafybei")


def test_sink_receives_every_block() -> None:
    blocks: dict[bytes, bytes] = {}
    b = FileBuilder(lambda cid, data: blocks.__setitem__(cid, data), chunk_size=10, max_links=3)
    b.update(det_bytes(95))
    root = b.finish()
    for cid, data in blocks.items():
        verify_block(Cid.from_bytes(cid), data)
    assert Cid.decode(root).binary in blocks
    assert sum(len(d) for c, d in blocks.items() if c[1] == CODEC_RAW) == 95


# --------------------------------------------------------------------------- against Kubo


def kubo_add(kubo: KuboNode, data: bytes, **extra: str) -> str:
    """``ipfs add --cid-version=1`` over the RPC API, with only the given overrides."""
    params = {"cid-version": "1", "only-hash": "true", "pin": "false", **extra}
    r = httpx.post(
        f"{kubo.api}/api/v0/add", params=params, files={"file": ("f", data)}, timeout=300
    )
    assert r.status_code == 200, r.text
    return str(json.loads(r.text.strip().splitlines()[-1])["Hash"])


SIZES = {
    "0B": 0,
    "1B": 1,
    "256KiB": CHUNK_SIZE,
    "256KiB+1": CHUNK_SIZE + 1,
    "5MiB": 5 * 2**20,
    "174 leaves": MAX_LINKS * CHUNK_SIZE,
    "174 leaves + 1B": MAX_LINKS * CHUNK_SIZE + 1,
    "200 leaves + odd": 200 * CHUNK_SIZE + 777,
}


@pytest.mark.parametrize("size", list(SIZES.values()), ids=list(SIZES))
def test_file_cid_matches_kubo(kubo: KuboNode, size: int) -> None:
    data = det_bytes(size, f"size-{size}")
    assert file_cid(data) == kubo_add(kubo, data)


def test_real_add_matches_kubo_cli(kubo: KuboNode, tmp_path: Path) -> None:
    """`ipfs add --cid-version=1 FILE` on the command line (through the daemon) agrees too."""
    f = tmp_path / "data.bin"
    f.write_bytes(det_bytes(3 * CHUNK_SIZE + 5, "cli"))
    out = kubo.cli("add", "--cid-version=1", "-Q", str(f)).strip()
    assert out == path_cid(f)


@pytest.mark.parametrize("size", [0, 1, 16, 17, 48, 49, 144, 145, 433, 432, 1000, 2593])
def test_tree_shapes_match_kubo(kubo: KuboNode, size: int) -> None:
    """Deep and ragged trees, cheaply: tiny chunks and 3 links per node on both sides."""
    data = det_bytes(size, f"shape-{size}")
    b = FileBuilder(chunk_size=16, max_links=3)
    b.update(data)
    assert b.finish() == kubo_add(kubo, data, chunker="size-16", **{"max-file-links": "3"})


def test_directory_cid_matches_kubo(kubo: KuboNode, tmp_path: Path) -> None:
    root = tmp_path / "dataset"
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "a.csv").write_text("id,value\n1,2\n")
    (root / "B.bin").write_bytes(det_bytes(CHUNK_SIZE * 2 + 3))
    (root / "sub" / "数据.json").write_text('{"k": "v"}', encoding="utf-8")
    (root / "sub" / "deeper" / "zero").write_bytes(b"")
    (root / ".hidden").write_text("skipped by default")
    os.symlink("a.csv", root / "link")
    out = kubo.cli("add", "-r", "--cid-version=1", "-Q", str(root)).strip()
    assert directory_cid(root) == out
    assert path_cid(root) == out


def test_kubo_client_hash_only(kubo: KuboNode) -> None:
    with KuboClient(kubo.api) as client:
        data = det_bytes(CHUNK_SIZE * 3)
        assert client.add_hash_only(data) == file_cid(data)
