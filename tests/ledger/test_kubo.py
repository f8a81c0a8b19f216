"""Kubo RPC client against the real daemon: add, cat, pin, block get, has, verification."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ledger.ipfs import BlockNotFound, CidMismatch, KuboClient, KuboError, api_url, file_cid
from ledger.ipfs.unixfs import CHUNK_SIZE, PBNode, block_cid, verify_block
from tests.kubo_fixture import KuboNode
from tests.ledger.test_unixfs import det_bytes


@pytest.fixture()
def client(kubo: KuboNode) -> Iterator[KuboClient]:
    with KuboClient(kubo.api) as c:
        yield c


def test_version(client: KuboClient) -> None:
    assert client.version() == "0.43.1"


def test_multiaddr_api(kubo: KuboNode) -> None:
    assert api_url(kubo.api_multiaddr) == kubo.api
    assert api_url("/dns4/ipfs.local/tcp/443/https") == "https://ipfs.local:443"
    assert api_url("http://127.0.0.1:5001/api/v0/") == "http://127.0.0.1:5001"
    with KuboClient(kubo.api_multiaddr) as c:
        assert c.version() == "0.43.1"
    with pytest.raises(ValueError):
        api_url("/ip4/127.0.0.1/udp/5001")


@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE, CHUNK_SIZE + 1, 5 * 2**20])
def test_add_cat_pin_block(client: KuboClient, size: int) -> None:
    data = det_bytes(size, f"kubo-{size}")
    cid = client.add(data)
    assert cid == file_cid(data)
    assert client.has(cid)
    assert client.cat(cid) == data
    client.pin(cid)
    assert client.is_pinned(cid)
    root = client.block_get(cid)
    verify_block(cid, root)
    if size > CHUNK_SIZE:
        links = PBNode.decode(root).links
        assert len(links) == -(-size // CHUNK_SIZE)
        assert client.block_get(links[-1].cid) == data[(len(links) - 1) * CHUNK_SIZE :]
        assert b"".join(client.iter_blocks(cid)) == data


def test_add_unpinned_then_pin(client: KuboClient) -> None:
    data = det_bytes(1000, "unpinned")
    cid = client.add(data, pin=False)
    assert not client.is_pinned(cid)
    client.pin(cid)
    assert client.is_pinned(cid)


def test_add_file_streams(client: KuboClient, tmp_path: Path) -> None:
    f = tmp_path / "f.bin"
    f.write_bytes(det_bytes(3 * 2**20 + 1, "kubo-file"))
    cid = client.add_file(f)
    assert cid == file_cid(f.read_bytes())
    assert client.cat(cid) == f.read_bytes()


def test_cat_other_layout_verified_block_by_block(client: KuboClient, kubo: KuboNode) -> None:
    """Content added with another chunker: fast-path CID differs, the DAG walk verifies it."""
    data = det_bytes(10_000, "other-layout")
    r = httpx.post(
        f"{kubo.api}/api/v0/add",
        params={"cid-version": "1", "chunker": "size-1000"},
        files={"file": ("f", data)},
    )
    cid = json.loads(r.text.strip().splitlines()[-1])["Hash"]
    assert cid != file_cid(data)
    assert client.cat(cid) == data


def test_cat_cidv0(client: KuboClient, kubo: KuboNode) -> None:
    data = det_bytes(CHUNK_SIZE + 10, "v0")
    r = httpx.post(f"{kubo.api}/api/v0/add", files={"file": ("f", data)})
    cid = json.loads(r.text.strip().splitlines()[-1])["Hash"]
    assert cid.startswith("Qm")
    assert client.cat(cid) == data
    assert client.has(cid)


def test_missing_block(client: KuboClient) -> None:
    cid = block_cid(b"this block was never added anywhere " + det_bytes(16, "missing"))
    assert not client.has(cid)
    assert not client.has("garbage")
    with pytest.raises(BlockNotFound):
        client.block_get(cid)  # offline daemon: not found, no network search


def test_verification_refuses_wrong_bytes(client: KuboClient) -> None:
    """The check every Kubo read goes through, fed bytes that are not the block's."""
    cid = client.add(b"genuine content")
    genuine = client.block_get(cid)
    verify_block(cid, genuine)
    with pytest.raises(CidMismatch) as exc:
        verify_block(cid, genuine + b"!", where="Kubo block/get")
    assert exc.value.expected == cid
    assert exc.value.actual == block_cid(genuine + b"!")


def test_unreachable() -> None:
    with KuboClient("http://127.0.0.1:9", timeout=2) as c:
        with pytest.raises(KuboError, match="127.0.0.1:9"):
            c.version()


def test_rpc_error_is_kubo_error(client: KuboClient) -> None:
    with pytest.raises(KuboError):
        client._post("pin/add", {"arg": "not-a-cid"})
