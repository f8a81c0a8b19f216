"""Dataset manifests: a DCAT-shaped pydantic schema, a builder, canonical bytes and their CID.

A manifest describes a dataset (W3C DCAT ``dcat:Dataset``: title, description, publisher,
theme, keywords, temporal/spatial coverage, licence, rights) and lists its files as
``dcat:Distribution`` entries (path, media type, byte size, sha-256, CID), plus the market's
classification level (1 public .. 4 core/sensitive) and source type.

Canonical bytes: JSON with sorted keys, no whitespace, UTF-8, ``None`` fields left out.
``manifest_cid`` is the CID ``ipfs add --cid-version=1`` gives those bytes; ``content_hash``
is their sha-256 (the ``contentHash`` recorded on chain).
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import os
import re
import stat
from datetime import date, datetime
from enum import Enum, IntEnum
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ledger.ipfs.errors import CidMismatch, InvalidCid
from ledger.ipfs.unixfs import Cid, FileBuilder, file_cid

SCHEMA = "dataledger/manifest/v1"

#: JSON-LD context mapping manifest keys to DCAT / Dublin Core terms.
CONTEXT: dict[str, str] = {
    "dcat": "http://www.w3.org/ns/dcat#",
    "dct": "http://purl.org/dc/terms/",
    "foaf": "http://xmlns.com/foaf/0.1/",
    "spdx": "http://spdx.org/rdf/terms#",
    "dl": "urn:dataledger:terms:",
    "title": "dct:title",
    "description": "dct:description",
    "publisher": "dct:publisher",
    "name": "foaf:name",
    "identifier": "dct:identifier",
    "account": "dl:account",
    "theme": "dcat:theme",
    "keywords": "dcat:keyword",
    "temporal": "dct:temporal",
    "start": "dcat:startDate",
    "end": "dcat:endDate",
    "spatial": "dct:spatial",
    "license": "dct:license",
    "rights": "dct:rights",
    "access_rights": "dct:accessRights",
    "issued": "dct:issued",
    "modified": "dct:modified",
    "language": "dct:language",
    "distributions": "dcat:distribution",
    "path": "dl:path",
    "media_type": "dcat:mediaType",
    "byte_size": "dcat:byteSize",
    "sha256": "spdx:checksumValue",
    "cid": "dl:cid",
    "classification_level": "dl:classificationLevel",
    "source_type": "dl:sourceType",
    "schema": "dl:schema",
}

_EXTRA_MEDIA_TYPES = {
    ".csv": "text/csv",
    ".tsv": "text/tab-separated-values",
    ".json": "application/json",
    ".jsonl": "application/x-ndjson",
    ".ndjson": "application/x-ndjson",
    ".parquet": "application/vnd.apache.parquet",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".geojson": "application/geo+json",
    ".md": "text/markdown",
    ".yaml": "application/yaml",
    ".yml": "application/yaml",
}
# Python's built-in table only, never /etc/mime.types, so every machine gives the same bytes.
_MIME = mimetypes.MimeTypes(filenames=())
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_READ_SIZE = 1 << 20


class ManifestError(ValueError):
    """A manifest cannot be built, parsed or verified; the message says which field and why."""


class ClassificationLevel(IntEnum):
    """分类分级: 1 public .. 4 core/sensitive."""

    PUBLIC = 1
    INTERNAL = 2
    SENSITIVE = 3
    CORE = 4


class SourceType(str, Enum):
    """Where the data comes from (same order as the contracts' ``SourceType`` enum)."""

    PUBLIC = "public"
    ENTERPRISE = "enterprise"
    PERSONAL_DERIVED = "personal-derived"

    @property
    def chain_value(self) -> int:
        """The value of the Solidity enum."""
        return list(SourceType).index(self)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Agent(_Model):
    """``dct:publisher`` (a ``foaf:Agent``)."""

    name: str = Field(min_length=1)
    identifier: str | None = Field(default=None, description="e.g. unified social credit code")
    account: str | None = Field(default=None, description="0x address of the holder")


class Translation(_Model):
    """The dataset's title, description and keywords in another language (``dct:title`` etc. with a
    language tag: the key of ``Manifest.translations``, e.g. ``zh-CN``)."""

    title: str = Field(min_length=1)
    description: str | None = None
    keywords: list[str] = Field(default_factory=list)


class PeriodOfTime(_Model):
    """``dct:temporal`` (``dct:PeriodOfTime``); at least one bound."""

    start: date | datetime | None = None
    end: date | datetime | None = None

    @model_validator(mode="after")
    def _check(self) -> PeriodOfTime:
        if self.start is None and self.end is None:
            raise ValueError("temporal coverage needs a start or an end")
        if self.start is not None and self.end is not None and _as_dt(self.start) > _as_dt(self.end):
            raise ValueError(f"temporal start {self.start} is after end {self.end}")
        return self


def _as_dt(v: date | datetime) -> datetime:
    if isinstance(v, datetime):
        return v.replace(tzinfo=None)
    return datetime(v.year, v.month, v.day)


class Distribution(_Model):
    """One file of the dataset (``dcat:Distribution``)."""

    path: str = Field(min_length=1, description="relative POSIX path inside the dataset")
    media_type: str = Field(pattern=r"^[\w.+-]+/[\w.+-]+$")
    byte_size: int = Field(ge=0)
    sha256: str
    cid: str

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        p = PurePosixPath(v)
        if p.is_absolute() or "\\" in v or any(part in ("..", ".", "") for part in v.split("/")):
            raise ValueError(f"path {v!r} must be relative, '/'-separated, without '.' or '..'")
        return v

    @field_validator("sha256")
    @classmethod
    def _sha(cls, v: str) -> str:
        if not _SHA256_RE.match(v):
            raise ValueError(f"sha256 {v!r} is not 64 lowercase hex digits")
        return v

    @field_validator("cid")
    @classmethod
    def _cid(cls, v: str) -> str:
        try:
            c = Cid.decode(v)
        except InvalidCid as exc:
            raise ValueError(f"cid {v!r} is not a CID: {exc}") from None
        if c.version != 1 or c.encode() != v:
            raise ValueError(f"cid {v!r} must be a CIDv1 in base32 (as ipfs add --cid-version=1)")
        return v


class Manifest(_Model):
    """A dataset manifest (``dcat:Dataset``)."""

    context: dict[str, str] = Field(default_factory=lambda: dict(CONTEXT), alias="@context")
    type: Literal["dcat:Dataset"] = Field(default="dcat:Dataset", alias="@type")
    schema_: Literal["dataledger/manifest/v1"] = Field(default="dataledger/manifest/v1", alias="schema")

    title: str = Field(min_length=1)
    description: str | None = None
    publisher: Agent
    theme: list[str] = Field(default_factory=list)
    keywords: list[str] = Field(default_factory=list)
    temporal: PeriodOfTime | None = None
    spatial: str | None = Field(default=None, description="region, e.g. CN-GD or a GeoNames URI")
    license: str | None = Field(default=None, description="SPDX id or licence URI")
    rights: str | None = Field(default=None, description="terms of use")
    access_rights: str | None = None
    language: list[str] = Field(default_factory=list)
    issued: date | None = None
    modified: date | None = None

    classification_level: ClassificationLevel
    source_type: SourceType
    distributions: list[Distribution] = Field(min_length=1)
    #: the title, description and keywords in other languages, by BCP 47 tag ("zh-CN", "zh-HK", "en")
    translations: dict[str, Translation] | None = None

    @field_validator("context")
    @classmethod
    def _context(cls, v: dict[str, str]) -> dict[str, str]:
        if v != CONTEXT:
            raise ValueError("@context must be the dataledger manifest context")
        return v

    @field_validator("publisher", mode="before")
    @classmethod
    def _publisher(cls, v: Any) -> Any:
        return {"name": v} if isinstance(v, str) else v

    @field_validator("theme", "keywords", "language")
    @classmethod
    def _terms(cls, v: list[str]) -> list[str]:
        if any(not t.strip() for t in v):
            raise ValueError("empty term")
        return sorted(set(v))

    @field_validator("distributions")
    @classmethod
    def _dists(cls, v: list[Distribution]) -> list[Distribution]:
        seen: set[str] = set()
        for d in v:
            if d.path in seen:
                raise ValueError(f"duplicate distribution path {d.path!r}")
            seen.add(d.path)
        return sorted(v, key=lambda d: d.path.encode("utf-8"))

    @property
    def byte_size(self) -> int:
        return sum(d.byte_size for d in self.distributions)

    def canonical_bytes(self) -> bytes:
        return canonical_json(self)


# --------------------------------------------------------------------------- canonical form


def canonical_json(manifest: Manifest) -> bytes:
    """Sorted keys, no whitespace, UTF-8, ``None`` omitted."""
    obj = manifest.model_dump(mode="json", by_alias=True, exclude_none=True)
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def manifest_cid(manifest: Manifest) -> str:
    """CID of the canonical bytes, as ``ipfs add --cid-version=1`` gives it."""
    return file_cid(canonical_json(manifest))


def content_hash(manifest: Manifest) -> bytes:
    """sha-256 of the canonical bytes (32 bytes; the on-chain ``contentHash``)."""
    return hashlib.sha256(canonical_json(manifest)).digest()


def parse_manifest(
    data: bytes | str, *, expected_cid: str | None = None, canonical: bool = False
) -> Manifest:
    """Parse and validate manifest JSON.

    With ``expected_cid`` the bytes must hash to it (:class:`CidMismatch` otherwise); with
    ``canonical`` they must be exactly the canonical serialisation (so their sha-256 is the
    manifest's :func:`content_hash`).
    """
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if expected_cid is not None:
        actual = file_cid(raw)
        if actual != Cid.decode(expected_cid).encode():
            raise CidMismatch(expected_cid, actual, "manifest bytes")
    try:
        obj = json.loads(raw)
    except ValueError as exc:
        raise ManifestError(f"manifest is not JSON: {exc}") from None
    manifest = _validate(obj)
    if canonical and canonical_json(manifest) != raw:
        raise ManifestError("manifest bytes are valid but not in canonical form")
    return manifest


def _validate(obj: Any) -> Manifest:
    try:
        return Manifest.model_validate(obj)
    except ValidationError as exc:
        raise ManifestError(_describe(exc)) from exc


def _describe(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(manifest)"
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{loc}: {msg}")
    return f"invalid manifest ({len(lines)} error{'s' if len(lines) != 1 else ''}): " + "; ".join(lines)


# --------------------------------------------------------------------------- builder


def media_type_for(path: str) -> str:
    """Deterministic media type from the file name (never depends on the host's mime.types)."""
    suffix = PurePosixPath(path).suffix.lower()
    if suffix in _EXTRA_MEDIA_TYPES:
        return _EXTRA_MEDIA_TYPES[suffix]
    guessed, _ = _MIME.guess_type(path, strict=True)
    return guessed or "application/octet-stream"


def hash_file(path: str | os.PathLike[str]) -> tuple[int, str, str]:
    """(byte size, sha-256 hex, CID) of a file in one streaming pass."""
    sha = hashlib.sha256()
    builder = FileBuilder()
    with open(path, "rb") as f:
        while chunk := f.read(_READ_SIZE):
            sha.update(chunk)
            builder.update(chunk)
    return builder.size, sha.hexdigest(), builder.finish()


def _walk(root: Path, include_hidden: bool) -> list[tuple[str, Path]]:
    out: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        if not include_hidden:
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if not include_hidden and name.startswith("."):
                continue
            full = Path(dirpath) / name
            rel = full.relative_to(root).as_posix()
            st = full.lstat()
            if not stat.S_ISREG(st.st_mode):
                raise ManifestError(f"{rel}: only regular files can be listed (symlink or special file)")
            out.append((rel, full))
        for d in dirnames:
            if (Path(dirpath) / d).is_symlink():
                raise ManifestError(f"{(Path(dirpath) / d).relative_to(root).as_posix()}: symlinked directory")
    out.sort(key=lambda e: e[0].encode("utf-8"))
    return out


def dataset_files(directory: str | os.PathLike[str], include_hidden: bool = False) -> list[tuple[str, Path]]:
    """(relative POSIX path, file) of every file a manifest of ``directory`` lists, in manifest order."""
    root = Path(directory)
    if not root.is_dir():
        raise ManifestError(f"{directory}: not a directory")
    return _walk(root, include_hidden)


def build_manifest(
    directory: str | os.PathLike[str], *, include_hidden: bool = False, **metadata: Any
) -> Manifest:
    """Walk ``directory``, hash every file (sha-256 + CID, one pass) and validate the manifest.

    ``metadata`` holds the dataset fields (title, publisher, classification_level, source_type,
    description, theme, keywords, temporal, spatial, license, rights, ...). Hidden files
    (``.name``) are skipped unless ``include_hidden``.
    """
    root = Path(directory)
    if not root.is_dir():
        raise ManifestError(f"{directory}: not a directory")
    if "distributions" in metadata:
        raise ManifestError("distributions are computed from the directory; do not pass them")
    files = _walk(root, include_hidden)
    if not files:
        raise ManifestError(f"{directory}: no files to list")
    dists = []
    for rel, full in files:
        size, sha, cid = hash_file(full)
        dists.append(
            {"path": rel, "media_type": media_type_for(rel), "byte_size": size, "sha256": sha, "cid": cid}
        )
    return _validate({**metadata, "distributions": dists})


def verify_directory(manifest: Manifest, directory: str | os.PathLike[str]) -> None:
    """Re-hash the files under ``directory``; raise ManifestError on any difference."""
    root = Path(directory)
    problems = []
    for d in manifest.distributions:
        full = root / d.path
        if not full.is_file():
            problems.append(f"{d.path}: missing")
            continue
        size, sha, cid = hash_file(full)
        if (size, sha, cid) != (d.byte_size, d.sha256, d.cid):
            problems.append(f"{d.path}: expected {d.byte_size} B sha256 {d.sha256} cid {d.cid}, "
                            f"found {size} B sha256 {sha} cid {cid}")
    if problems:
        raise ManifestError("directory does not match manifest: " + "; ".join(problems))


__all__ = [
    "Agent",
    "CONTEXT",
    "ClassificationLevel",
    "Distribution",
    "Manifest",
    "ManifestError",
    "dataset_files",
    "PeriodOfTime",
    "SCHEMA",
    "SourceType",
    "build_manifest",
    "canonical_json",
    "content_hash",
    "hash_file",
    "manifest_cid",
    "media_type_for",
    "parse_manifest",
    "verify_directory",
]
