"""`dataledger asset`: dataset registration (确权登记) and supervision."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from dataledger.cli.context import JsonFlag, cli, emit, err_console, handled, tx
from dataledger.cli.manifest import load_manifest, metadata_of

app = typer.Typer(help="Dataset registration (确权登记).", no_args_is_help=True)

@app.command("register")
@handled
def asset_register(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="A manifest JSON file, or a dataset directory to build one from."),
    title: Optional[str] = typer.Option(None, "--title"),
    publisher: Optional[str] = typer.Option(None, "--publisher"),
    level: Optional[int] = typer.Option(None, "--level", help="Classification 1..4 (directory mode)."),
    source: Optional[str] = typer.Option(None, "--source", help="public | enterprise | personal-derived."),
    description: Optional[str] = typer.Option(None, "--description"),
    keywords: Optional[str] = typer.Option(None, "--keywords", help="Comma-separated."),
    meta: Optional[Path] = typer.Option(None, "--meta", help="JSON file of manifest metadata (directory mode)."),
    expected_cid: Optional[str] = typer.Option(None, "--expected-cid", help="Refuse unless the manifest has this CID."),
    json_out: bool = JsonFlag,
) -> None:
    """Register a dataset: validate/build the manifest, check it would register, add it (and the
    dataset's files) to IPFS, verify the CIDs, then record it on chain."""
    from rich.progress import Progress

    from ledger.contracts.models import SourceType
    from ledger.ipfs import CidMismatch, normalize_cid
    from ledger.manifest import canonical_json, content_hash, manifest_cid

    metadata = metadata_of(meta, title, publisher, level, source, description, keywords)
    manifest = load_manifest(path, metadata)
    body = canonical_json(manifest)
    cid = manifest_cid(manifest)
    digest = content_hash(manifest)
    if expected_cid is not None and normalize_cid(expected_cid) != normalize_cid(cid):
        raise CidMismatch(expected_cid, cid, "manifest")
    level_value = int(manifest.classification_level)
    source_value = SourceType(manifest.source_type.chain_value)

    led = cli(ctx).ledger()
    assets = led.assets
    # simulate first: nothing is written to IPFS or the chain if registration would revert
    from ledger.contracts.models import cid_to_chain

    led.sender.estimate(assets.build("registerAsset", cid_to_chain(cid), digest, level_value,
                                     int(source_value)), "AssetRegistry")
    store = cli(ctx).store()
    files = [d for d in manifest.distributions] if path.is_dir() else []
    with Progress(transient=True, console=err_console, disable=json_out or cli(ctx).json) as progress:
        task = progress.add_task("adding to IPFS", total=len(files) + 1)
        for d in files:
            got = str(store.add_file(path / d.path))
            if normalize_cid(got) != normalize_cid(d.cid):
                raise CidMismatch(d.cid, got, d.path)
            progress.advance(task)
        stored = str(store.add(body))
        if normalize_cid(stored) != normalize_cid(cid):
            raise CidMismatch(cid, stored, "manifest")
        progress.advance(task)
    result = assets.register(cid, digest, level_value, source_value)
    data = {"assetId": result.value, "cid": cid, "contentHash": "0x" + digest.hex(), "level": level_value,
            "sourceType": source_value.name.lower().replace("_", "-"), "tx": result.to_dict()}
    emit(ctx, json_out, data, f"asset {result.value} registered: {cid} (tx {result.tx_hash})")


@app.command("show")
@handled
def asset_show(ctx: typer.Context, asset_id: int = typer.Argument(...), json_out: bool = JsonFlag) -> None:
    """Show an asset with its latest manifest and valuations."""
    led = cli(ctx).ledger(need_account=False)
    asset = led.assets.asset(asset_id)
    data = asset.to_dict()
    from ledger.contracts.models import KNOWN_METHODS

    data["valuations"] = []
    for v in led.assets.valuations(asset_id):
        entry = v.to_dict()
        if entry.get("method") in KNOWN_METHODS:  # recorded as the sha-256 of a known method name
            entry["method_name"] = KNOWN_METHODS[entry["method"]]
        data["valuations"].append(entry)
    emit(ctx, json_out, data)


@app.command("freeze")
@handled
def asset_freeze(ctx: typer.Context, asset_id: int = typer.Argument(...), reason: str = typer.Option(..., "--reason"),
                 json_out: bool = JsonFlag) -> None:
    """Freeze an asset (regulator)."""
    tx(ctx, json_out, cli(ctx).ledger().assets.freeze(asset_id, reason), f"asset {asset_id} frozen")


@app.command("revoke")
@handled
def asset_revoke(ctx: typer.Context, asset_id: int = typer.Argument(...), reason: str = typer.Option(..., "--reason"),
                 json_out: bool = JsonFlag) -> None:
    """Revoke an asset (regulator; final)."""
    tx(ctx, json_out, cli(ctx).ledger().assets.revoke(asset_id, reason), f"asset {asset_id} revoked")


@app.command("release-hash")
@handled
def asset_release_hash(ctx: typer.Context,
                       content_hash: str = typer.Argument(..., help="0x-hex sha-256 of the dataset."),
                       claimant: Optional[str] = typer.Option(None, "--claimant",
                                                              help="Only this account may register it next."),
                       reason: str = typer.Option(..., "--reason"), json_out: bool = JsonFlag) -> None:
    """Free a revoked asset's content hash (registrar; e.g. after a squatting ruling)."""
    tx(ctx, json_out, cli(ctx).ledger().assets.release_content_hash(content_hash, claimant, reason),
        f"content hash {content_hash} released" + (f" for {claimant}" if claimant else ""))
