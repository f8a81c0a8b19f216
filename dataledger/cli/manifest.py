"""`dataledger manifest`: DCAT dataset manifests (no chain needed); the metadata options it shares
with `asset register`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from dataledger.cli.context import JsonFlag, cli, console, emit, handled
from ledger.errors import InvalidInput

if TYPE_CHECKING:
    from ledger.manifest import Manifest


app = typer.Typer(help="DCAT dataset manifests (no chain needed).", no_args_is_help=True)

def load_manifest(path: Path, meta: dict[str, Any]) -> Manifest:
    """Manifest from a JSON file (validated) or built from a directory with ``meta``."""
    from ledger.manifest import ManifestError, build_manifest, parse_manifest

    if path.is_dir():
        if not meta.get("title") or not meta.get("publisher"):
            raise InvalidInput("registering a directory needs --title and --publisher (or --meta FILE)")
        return build_manifest(path, **meta)
    if path.is_file():
        try:
            return parse_manifest(path.read_bytes())
        except ManifestError as exc:
            raise InvalidInput(f"{path}: {exc}") from None
    raise InvalidInput(f"{path} does not exist")


def metadata_of(meta: Optional[Path], title: Optional[str], publisher: Optional[str], level: Optional[int],
              source: Optional[str], description: Optional[str], keywords: Optional[str]) -> dict[str, Any]:
    """Manifest metadata: the --meta JSON file, overridden by the options given."""
    metadata: dict[str, Any] = {}
    if meta is not None:
        try:
            loaded = json.loads(meta.read_text())
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"--meta {meta}: {exc}") from None
        if not isinstance(loaded, dict):
            raise InvalidInput(f"--meta {meta}: not a JSON object")
        metadata.update(loaded)
    for key, value in (("title", title), ("publisher", publisher), ("classification_level", level),
                       ("source_type", source), ("description", description)):
        if value is not None:
            metadata[key] = value
    if keywords:
        metadata["keywords"] = [k.strip() for k in keywords.split(",") if k.strip()]
    return metadata



@app.command("build")
@handled
def manifest_build(
    ctx: typer.Context,
    directory: Path = typer.Argument(..., help="The dataset directory."),
    title: Optional[str] = typer.Option(None, "--title", help="Default: the directory's name."),
    publisher: Optional[str] = typer.Option(None, "--publisher"),
    level: Optional[int] = typer.Option(None, "--level", help="Classification 1..4."),
    source: Optional[str] = typer.Option(None, "--source", help="public | enterprise | personal-derived."),
    description: Optional[str] = typer.Option(None, "--description"),
    keywords: Optional[str] = typer.Option(None, "--keywords", help="Comma-separated."),
    meta: Optional[Path] = typer.Option(None, "--meta", help="JSON file of manifest metadata."),
    include_hidden: bool = typer.Option(False, "--include-hidden", help="List .dotfiles too."),
    out: Optional[Path] = typer.Option(None, "--out", "-o",
                                       help="Write the manifest's canonical bytes here (for `asset register`)."),
    json_out: bool = JsonFlag,
) -> None:
    """Hash every file of DIR (sha-256 and its Kubo CID, `ipfs add --cid-version=1`), build the DCAT
    manifest and print it with its CID; nothing is stored or sent. Without --publisher, --level and
    --source (or --meta) only the files' CIDs are printed: a manifest needs them."""
    from ledger.manifest import (
        ManifestError,
        build_manifest,
        canonical_json,
        content_hash,
        dataset_files,
        hash_file,
        manifest_cid,
        media_type_for,
    )

    if not directory.is_dir():
        raise InvalidInput(f"{directory}: not a directory")
    metadata = metadata_of(meta, title, publisher, level, source, description, keywords)
    metadata.setdefault("title", directory.resolve().name)
    missing = [opt for key, opt in (("publisher", "--publisher"), ("classification_level", "--level"),
                                    ("source_type", "--source")) if metadata.get(key) is None]
    data: dict[str, Any]
    if missing:
        try:
            files = dataset_files(directory, include_hidden)
        except ManifestError as exc:
            raise InvalidInput(str(exc)) from None
        data = {"directory": str(directory), "files": [], "manifest": None, "manifest_cid": None,
                "missing": missing}
        for rel, full in files:
            size, sha, cid = hash_file(full)
            data["files"].append({"path": rel, "media_type": media_type_for(rel), "byte_size": size,
                                  "sha256": sha, "cid": cid})
    else:
        try:
            manifest = build_manifest(directory, include_hidden=include_hidden, **metadata)
        except ManifestError as exc:
            raise InvalidInput(str(exc)) from None
        body = canonical_json(manifest)
        data = {"directory": str(directory), "files": [d.model_dump(mode="json") for d in manifest.distributions],
                "manifest": json.loads(body), "manifest_cid": manifest_cid(manifest),
                "content_hash": "0x" + content_hash(manifest).hex()}
        if out is not None:
            tmp = out.with_name(out.name + ".tmp")
            tmp.write_bytes(body)
            tmp.replace(out)
            data["written"] = str(out)
    if json_out or cli(ctx).json:
        emit(ctx, True, data)
        return
    for f in data["files"]:  # as `ipfs add --cid-version=1` prints them, plus the size
        console.print(f"{f['cid']}  {f['byte_size']:>12}  {f['path']}", markup=False, highlight=False, soft_wrap=True)
    if data["manifest"] is None:
        console.print(f"no manifest: it needs {', '.join(missing)} (or --meta FILE)", markup=False, highlight=False)
        return
    console.print_json(json.dumps(data["manifest"], ensure_ascii=False))
    console.print(f"manifest cid {data['manifest_cid']}  sha-256 {data['content_hash']}"
                  + (f"  written to {out}" if out is not None else ""), markup=False, highlight=False, soft_wrap=True)
