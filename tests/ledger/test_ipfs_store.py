"""Embedded on-disk store: round trips, Kubo-identical CIDs, corruption refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ledger.ipfs import (
    BlockNotFound,
    CidMismatch,
    DagError,
    IpfsStore,
    KuboClient,
    LocalStore,
    file_cid,
    open_store,
)
from ledger.ipfs.unixfs import CHUNK_SIZE, Cid, PBNode
from tests.kubo_fixture import KuboNode
from tests.ledger.test_unixfs import det_bytes, kubo_add


@pytest.fixture()
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "ipfs")


@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE, CHUNK_SIZE + 1, 3 * 2**20 + 17])
def test_round_trip(store: LocalStore, size: int) -> None:
    data = det_bytes(size, f"rt-{size}")
    cid = store.add(data)
    assert cid == file_cid(data)
    assert store.has(cid)
    assert store.cat(cid) == data
    assert b"".join(store.iter_blocks(cid)) == data
    assert store.is_pinned(cid)


def test_cids_equal_kubo(store: LocalStore, kubo: KuboNode) -> None:
    data = det_bytes(2 * 2**20 + 5, "store-vs-kubo")
    assert store.add(data) == kubo_add(kubo, data)


def test_add_file_and_directory(store: LocalStore, tmp_path: Path, kubo: KuboNode) -> None:
    f = tmp_path / "big.bin"
    f.write_bytes(det_bytes(CHUNK_SIZE * 5 + 9, "file"))
    cid = store.add_file(f)
    assert store.cat(cid) == f.read_bytes()

    d = tmp_path / "ds"
    (d / "x").mkdir(parents=True)
    (d / "x" / "one.txt").write_text("one")
    (d / "two.bin").write_bytes(det_bytes(CHUNK_SIZE + 1, "two"))
    dcid = store.add_directory(d)
    assert dcid == kubo.cli("add", "-r", "--cid-version=1", "-Q", str(d)).strip()
    # every block of the directory DAG is present; the directory itself is not a file
    store.pin(dcid)
    with pytest.raises(DagError):
        store.cat(dcid)
    sub = PBNode.decode(store.block_get(dcid)).links
    assert [link.name for link in sub] == ["two.bin", "x"]
    assert store.cat(sub[0].cid) == (d / "two.bin").read_bytes()


def test_block_get_and_put(store: LocalStore) -> None:
    cid = store.block_put(b"hello block")
    assert store.block_get(cid) == b"hello block"
    # CIDv0 / CIDv1 spellings of one multihash are one block
    v1 = store.add(det_bytes(CHUNK_SIZE + 1))
    v0 = Cid(0, 0x70, 0x12, Cid.decode(v1).digest).encode()
    assert v0.startswith("Qm")
    assert store.block_get(v0) == store.block_get(v1)


def test_missing_block(store: LocalStore) -> None:
    cid = file_cid(b"never stored")
    assert not store.has(cid)
    assert not store.has("not-a-cid")
    with pytest.raises(BlockNotFound):
        store.block_get(cid)
    with pytest.raises(BlockNotFound):
        store.cat(cid)
    with pytest.raises(BlockNotFound):
        store.pin(cid)


def test_corrupt_leaf_refused(store: LocalStore) -> None:
    data = det_bytes(3 * CHUNK_SIZE, "corrupt")
    cid = store.add(data)
    leaf = PBNode.decode(store.block_get(cid)).links[1].cid
    path = store.block_path(leaf)
    raw = bytearray(path.read_bytes())
    raw[100] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(CidMismatch) as exc:
        store.cat(cid)
    assert exc.value.expected == leaf
    assert exc.value.actual != leaf
    with pytest.raises(CidMismatch):
        store.block_get(leaf)
    with pytest.raises(CidMismatch):
        store.pin(cid)


def test_corrupt_root_refused(store: LocalStore) -> None:
    cid = store.add(b"small file")
    store.block_path(cid).write_bytes(b"small fil3")
    with pytest.raises(CidMismatch):
        store.cat(cid)


def test_missing_leaf_blocks_pin(store: LocalStore) -> None:
    cid = store.add(det_bytes(2 * CHUNK_SIZE, "pin"), pin=False)
    assert not store.is_pinned(cid)
    leaf = PBNode.decode(store.block_get(cid)).links[0].cid
    os.unlink(store.block_path(leaf))
    with pytest.raises(BlockNotFound):
        store.pin(cid)
    assert not store.is_pinned(cid)


def test_open_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("IPFS_API", raising=False)
    s = open_store(tmp_path / "emb")
    assert isinstance(s, LocalStore) and isinstance(s, IpfsStore)
    assert isinstance(open_store(str(tmp_path / "emb2")), LocalStore)
    k = open_store("http://127.0.0.1:5001")
    assert isinstance(k, KuboClient) and isinstance(k, IpfsStore)
    assert isinstance(open_store("/ip4/127.0.0.1/tcp/5001"), KuboClient)
    monkeypatch.setenv("IPFS_API", "http://127.0.0.1:5999")
    env = open_store()
    assert isinstance(env, KuboClient) and env.api == "http://127.0.0.1:5999"
    monkeypatch.delenv("IPFS_API")
    monkeypatch.setenv("DATALEDGER_IPFS_DIR", str(tmp_path / "envdir"))
    s2 = open_store()
    assert isinstance(s2, LocalStore) and s2.root == tmp_path / "envdir"
