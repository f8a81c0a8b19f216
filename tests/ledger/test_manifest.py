"""Dataset manifests: builder, canonical bytes, CIDs equal Kubo's, clear validation errors."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from ledger.ipfs import CidMismatch, KuboClient, LocalStore
from ledger.ipfs.unixfs import CHUNK_SIZE
from ledger.manifest import (
    CONTEXT,
    ClassificationLevel,
    Manifest,
    ManifestError,
    SourceType,
    build_manifest,
    canonical_json,
    content_hash,
    manifest_cid,
    media_type_for,
    parse_manifest,
    verify_directory,
)
from tests.kubo_fixture import KuboNode
from tests.ledger.test_unixfs import det_bytes, kubo_add

META: dict[str, Any] = {
    "title": "佛山市企业用电数据 2024",
    "description": "Monthly power use per enterprise, Foshan pilot.",
    "publisher": {"name": "Foshan Data Authority", "identifier": "11440600MB2C12345X"},
    "theme": ["energy", "enterprise"],
    "keywords": ["power", "电力", "credit"],
    "temporal": {"start": "2024-01-01", "end": "2024-12-31"},
    "spatial": "CN-GD-FS",
    "license": "CC-BY-4.0",
    "rights": "Use limited to credit assessment by authorised banks.",
    "classification_level": 2,
    "source_type": "enterprise",
}


@pytest.fixture()
def dataset(tmp_path: Path) -> Path:
    root = tmp_path / "dataset"
    (root / "raw" / "2024").mkdir(parents=True)
    (root / "README.md").write_text("# power use\n")
    (root / "data.csv").write_text("org,month,kwh\nA,2024-01,100\n")
    (root / "empty.bin").write_bytes(b"")
    (root / "raw" / "2024" / "dump.parquet").write_bytes(det_bytes(3 * CHUNK_SIZE + 11, "pq"))
    (root / "raw" / "用电.json").write_text(json.dumps({"k": "v"}), encoding="utf-8")
    (root / ".DS_Store").write_bytes(b"junk")
    return root


def test_build_matches_kubo(dataset: Path, kubo: KuboNode) -> None:
    m = build_manifest(dataset, **META)
    paths = [d.path for d in m.distributions]
    assert paths == ["README.md", "data.csv", "empty.bin", "raw/2024/dump.parquet", "raw/用电.json"]
    for d in m.distributions:
        data = (dataset / d.path).read_bytes()
        assert d.byte_size == len(data)
        assert d.sha256 == hashlib.sha256(data).hexdigest()
        assert d.cid == kubo_add(kubo, data), d.path
    by_path = {d.path: d for d in m.distributions}
    assert by_path["data.csv"].media_type == "text/csv"
    assert by_path["raw/2024/dump.parquet"].media_type == "application/vnd.apache.parquet"
    assert by_path["empty.bin"].media_type == "application/octet-stream"

    canon = canonical_json(m)
    assert manifest_cid(m) == kubo_add(kubo, canon)
    assert content_hash(m) == hashlib.sha256(canon).digest()
    # stored for real on Kubo, read back verified
    with KuboClient(kubo.api) as client:
        cid = client.add(canon)
        assert cid == manifest_cid(m)
        assert parse_manifest(client.cat(cid), expected_cid=cid) == m


def test_canonical_form(dataset: Path) -> None:
    m = build_manifest(dataset, **META)
    canon = canonical_json(m)
    text = canon.decode("utf-8")
    assert "佛山" in text  # UTF-8, not \u escapes
    assert "\n" not in text and '","' in text and '", "' not in text and '": ' not in text
    obj = json.loads(canon)
    assert json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False) == text
    assert obj["@context"] == CONTEXT and obj["@type"] == "dcat:Dataset"
    assert obj["classification_level"] == 2 and obj["source_type"] == "enterprise"
    assert "access_rights" not in obj  # None is omitted
    # keyword order and metadata order do not change the bytes
    other = dict(reversed(list(META.items())))
    other["keywords"] = list(reversed(META["keywords"]))
    assert canonical_json(build_manifest(dataset, **other)) == canon
    # round trip
    back = parse_manifest(canon, canonical=True)
    assert back == m and canonical_json(back) == canon
    pretty = json.dumps(obj, indent=2, ensure_ascii=False).encode()
    assert parse_manifest(pretty) == m
    with pytest.raises(ManifestError, match="not in canonical form"):
        parse_manifest(pretty, canonical=True)
    assert m.classification_level is ClassificationLevel.INTERNAL
    assert m.source_type is SourceType.ENTERPRISE and m.source_type.chain_value == 1


def test_hidden_files(dataset: Path) -> None:
    m = build_manifest(dataset, include_hidden=True, **META)
    assert ".DS_Store" in [d.path for d in m.distributions]


def test_store_and_reload_embedded(dataset: Path, tmp_path: Path) -> None:
    m = build_manifest(dataset, **META)
    store = LocalStore(tmp_path / "ipfs")
    cid = store.add(canonical_json(m))
    assert cid == manifest_cid(m)
    assert parse_manifest(store.cat(cid), expected_cid=cid) == m
    with pytest.raises(CidMismatch):
        parse_manifest(canonical_json(m).replace(b"CN-GD-FS", b"CN-GD-SZ"), expected_cid=cid)


def test_verify_directory(dataset: Path) -> None:
    m = build_manifest(dataset, **META)
    verify_directory(m, dataset)
    (dataset / "data.csv").write_text("org,month,kwh\nA,2024-01,999\n")
    (dataset / "empty.bin").unlink()
    with pytest.raises(ManifestError, match=r"data\.csv: expected .*empty\.bin: missing"):
        verify_directory(m, dataset)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"classification_level": 5}, "classification_level"),
        ({"classification_level": 0}, "classification_level"),
        ({"source_type": "government"}, "source_type"),
        ({"title": ""}, "title"),
        ({"publisher": {"identifier": "x"}}, "publisher.name"),
        ({"temporal": {"start": "2025-01-01", "end": "2024-01-01"}}, "after end"),
        ({"colour": "blue"}, "colour"),
        ({"keywords": ["ok", " "]}, "keywords"),
    ],
)
def test_validation_errors_are_clear(dataset: Path, change: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ManifestError, match="invalid manifest") as exc:
        build_manifest(dataset, **{**META, **change})
    assert fragment in str(exc.value)


def test_missing_required(dataset: Path) -> None:
    meta = {k: v for k, v in META.items() if k not in ("title", "source_type")}
    with pytest.raises(ManifestError) as exc:
        build_manifest(dataset, **meta)
    assert "title: Field required" in str(exc.value)
    assert "source_type: Field required" in str(exc.value)


def _dist(**over: Any) -> dict[str, Any]:
    d = {
        "path": "a.csv",
        "media_type": "text/csv",
        "byte_size": 0,
        "sha256": hashlib.sha256(b"").hexdigest(),
        "cid": "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
    }
    d.update(over)
    return d


@pytest.mark.parametrize(
    ("dist", "fragment"),
    [
        (_dist(path="../etc/passwd"), "must be relative"),
        (_dist(path="/abs"), "must be relative"),
        (_dist(sha256="ABC"), "64 lowercase hex"),
        (_dist(cid="QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"), "CIDv1 in base32"),
        (_dist(cid="hello"), "not a CID"),
        (_dist(byte_size=-1), "byte_size"),
        (_dist(media_type="csv"), "media_type"),
    ],
)
def test_distribution_validation(dist: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ManifestError) as exc:
        parse_manifest(json.dumps({**META, "distributions": [dist]}))
    assert fragment in str(exc.value) and "distributions.0" in str(exc.value)


def test_duplicate_and_empty_distributions() -> None:
    with pytest.raises(ManifestError, match="duplicate distribution path 'a.csv'"):
        parse_manifest(json.dumps({**META, "distributions": [_dist(), _dist()]}))
    with pytest.raises(ManifestError, match="distributions"):
        parse_manifest(json.dumps({**META, "distributions": []}))


def test_builder_errors(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="not a directory"):
        build_manifest(tmp_path / "nope", **META)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ManifestError, match="no files"):
        build_manifest(tmp_path / "empty", **META)
    with pytest.raises(ManifestError, match="not JSON"):
        parse_manifest(b"{not json")
    ds = tmp_path / "ds"
    (ds / "real").mkdir(parents=True)
    (ds / "real" / "f.txt").write_text("x")
    (ds / "alias").symlink_to(ds / "real")
    with pytest.raises(ManifestError, match="alias: symlinked directory"):
        build_manifest(ds, **META)
    (ds / "alias").unlink()
    (ds / "f.lnk").symlink_to(ds / "real" / "f.txt")
    with pytest.raises(ManifestError, match="f.lnk: only regular files"):
        build_manifest(ds, **META)


def test_media_types_are_deterministic() -> None:
    assert media_type_for("x.csv") == "text/csv"
    assert media_type_for("x.JSON") == "application/json"
    assert media_type_for("x.txt") == "text/plain"
    assert media_type_for("x.unknownext") == "application/octet-stream"


def test_publisher_shorthand_and_dates(dataset: Path) -> None:
    m = build_manifest(dataset, **{**META, "publisher": "Org A", "issued": date(2024, 5, 1)})
    assert m.publisher.name == "Org A"
    assert json.loads(canonical_json(m))["issued"] == "2024-05-01"
    assert isinstance(m, Manifest)
