"""``dataledger``: the command line of the data element market ledger (typer + rich).

Global options (before the command): ``--rpc`` (env RPC_URL, default http://127.0.0.1:8545),
``--chain-id`` (env CHAIN_ID, checked on connect), ``--state-dir`` (default .dataledger),
``--account`` (a keystore name or address; env DATALEDGER_ACCOUNT) and ``--keystore`` (env
DATALEDGER_KEYSTORE_DIR). A key may also come from DATALEDGER_PRIVATE_KEY. Every command takes
``--json`` for machine-readable output. On failure: ONE line on stderr, exit code 1.
"""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from ledger.errors import InvalidInput, LedgerError, WalletError

if TYPE_CHECKING:
    from ledger.chain import Ledger

F = TypeVar("F", bound=Callable[..., Any])

app = typer.Typer(
    name="dataledger",
    help="Ledger of the data element market: wallets, participants, assets, vouchers, customs, trades.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
wallet_app = typer.Typer(help="eth-account V3 keystores.", no_args_is_help=True)
participant_app = typer.Typer(help="Organisations and their accounts.", no_args_is_help=True)
asset_app = typer.Typer(help="Dataset registration (确权登记).", no_args_is_help=True)
valuation_app = typer.Typer(help="Asset valuations (资产评估).", no_args_is_help=True)
voucher_app = typer.Typer(help="Data asset vouchers (数据资产凭证).", no_args_is_help=True)
customs_app = typer.Typer(help="Cross-border clearances (数据海关).", no_args_is_help=True)
order_app = typer.Typer(help="EIP-712 trade orders.", no_args_is_help=True)
trade_app = typer.Typer(help="Settlement of matched trades.", no_args_is_help=True)
token_app = typer.Typer(help="The payment token (dCNY stand-in).", no_args_is_help=True)
manifest_app = typer.Typer(help="DCAT dataset manifests (no chain needed).", no_args_is_help=True)
for _sub, _name in (
    (wallet_app, "wallet"), (participant_app, "participant"), (asset_app, "asset"),
    (valuation_app, "valuation"), (voucher_app, "voucher"), (customs_app, "customs"),
    (order_app, "order"), (trade_app, "trade"), (token_app, "token"), (manifest_app, "manifest"),
):
    app.add_typer(_sub, name=_name)

console = Console()
err_console = Console(stderr=True, soft_wrap=True, highlight=False)

DAY = 24 * 3600
ZERO = "0x" + "00" * 20


# ------------------------------------------------------------------ global state


@dataclass
class Options:
    rpc: str = "http://127.0.0.1:8545"
    chain_id: Optional[int] = None
    state_dir: Path = Path(".dataledger")
    account: Optional[str] = None
    keystore: Optional[Path] = None
    json: bool = False
    gateway: Optional[str] = None
    deployment: Optional[Path] = None


_OPTIONS = Options()


def _opts() -> Options:
    """The global options of the running invocation (set by the app callback)."""
    return _OPTIONS


@app.callback()
def _global(
    rpc: str = typer.Option("http://127.0.0.1:8545", "--rpc", envvar="RPC_URL", help="JSON-RPC endpoint."),
    chain_id: Optional[int] = typer.Option(None, "--chain-id", envvar="CHAIN_ID", help="Expected chain id."),
    state_dir: Path = typer.Option(Path(".dataledger"), "--state-dir", help="State directory (deployments, ipfs)."),
    account: Optional[str] = typer.Option(None, "--account", envvar="DATALEDGER_ACCOUNT",
                                          help="Keystore name or address to act as."),
    keystore: Optional[Path] = typer.Option(None, "--keystore", envvar="DATALEDGER_KEYSTORE_DIR",
                                            help="Keystore directory (default ~/.dataledger/keystores)."),
    json_out: bool = typer.Option(False, "--json", help="Machine-readable output for every command."),
    gateway: Optional[str] = typer.Option(
        None, "--gateway", envvar="DATALEDGER_GATEWAY",
        help="Gateway URL: without a local deployment record, its GET /v1/contracts is used once checked "
             "against the chain (code and wiring of every contract)."),
    deployment: Optional[Path] = typer.Option(
        None, "--deployment", envvar="DATALEDGER_DEPLOYMENT",
        help="Deployment record file to use instead of <state-dir>/deployments/<chainId>.json."),
) -> None:
    global _OPTIONS
    _OPTIONS = Options(rpc, chain_id, state_dir, account, keystore, json_out, gateway, deployment)


JsonFlag = typer.Option(False, "--json", help="Machine-readable JSON output.")


def handled(fn: F) -> F:
    """Run a command: any failure -> one line on stderr and exit code 1 (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except KeyboardInterrupt:
            _fail("interrupted")
        except LedgerError as exc:
            _fail(str(exc))
        except Exception as exc:  # noqa: BLE001 - the CLI never shows a traceback
            if os.environ.get("DATALEDGER_DEBUG"):
                raise
            _fail(_one_line(exc))

    return wrapper  # type: ignore[return-value]


def _one_line(exc: BaseException) -> str:
    from ledger.ipfs import IpfsError

    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, (IpfsError, FileNotFoundError, PermissionError)):
        return text
    mod = type(exc).__module__
    if mod.startswith("ledger.manifest") or type(exc).__name__ == "ManifestError":
        return text
    return f"{type(exc).__name__}: {text}"


def _fail(message: str) -> None:
    err_console.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def _emit(json_flag: bool, data: Any, human: Any = None) -> None:
    from ledger.contracts.base import jsonable

    if json_flag or _opts().json:
        sys.stdout.write(json.dumps(jsonable(data), indent=2, sort_keys=True, default=str) + "\n")
        return
    if human is None:
        human = _table(data) if isinstance(data, dict) else str(data)
    console.print(human)


def _table(data: dict[str, Any], title: Optional[str] = None) -> Table:
    from ledger.contracts.base import jsonable

    table = Table(title=title, show_header=False, box=None)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in data.items():
        value = jsonable(value)
        table.add_row(str(key), json.dumps(value) if isinstance(value, (dict, list)) else str(value))
    return table


def _tx(json_flag: bool, result: Any, what: str) -> None:
    data = result.to_dict()
    _emit(json_flag, data, f"{what} (tx {result.tx_hash}, block {result.block_number})")


# ------------------------------------------------------------------ connection & accounts


def _keystore() -> Any:
    from ledger.wallet import Keystore

    return Keystore(_opts().keystore)


def _password(confirm: bool = False) -> str:
    from ledger.wallet import PASSWORD_ENV

    env = os.environ.get(PASSWORD_ENV)
    if env is not None:
        return env
    if not sys.stdin.isatty():
        raise WalletError(f"no password: set {PASSWORD_ENV} or run interactively")
    return str(typer.prompt("password", hide_input=True, confirmation_prompt=confirm))


def _account() -> Any:
    """The acting LocalAccount: --account from the keystore, else DATALEDGER_PRIVATE_KEY."""
    from ledger.chain import load_account

    opts = _opts()
    if opts.account:
        ks = _keystore()
        entry = ks.find(opts.account)
        from ledger.wallet import unlock_file

        return unlock_file(entry.file, _password())
    key = os.environ.get("DATALEDGER_PRIVATE_KEY")
    if key:
        return load_account(key)
    return None


def _ledger(need_account: bool = True, need_deployment: bool = True) -> "Ledger":
    from ledger.chain import Ledger
    from ledger.errors import DeploymentMissing, NoAccount

    opts = _opts()
    account = _account() if need_account else None
    if need_account and account is None:
        raise NoAccount("this command needs an account: --account NAME (keystore) or DATALEDGER_PRIVATE_KEY")
    ledger = Ledger.connect(opts.rpc, chain_id=opts.chain_id, account=account, state_dir=opts.state_dir,
                            deployment=opts.deployment)
    if need_deployment and not ledger.has_deployment():
        where = opts.state_dir / "deployments" / f"{ledger.chain_id}.json"
        if not opts.gateway:
            raise DeploymentMissing(
                f"no deployment record for chain {ledger.chain_id} at {where}: pass --gateway URL (its "
                "/v1/contracts, checked against the chain) or --deployment FILE; `dataledger deploy` would "
                "deploy a NEW market")
        from gateway.verify.deployment import DeploymentRejected, DeploymentUnavailable, checked_gateway_record

        try:
            record = checked_gateway_record(opts.rpc, opts.gateway)
        except (DeploymentUnavailable, DeploymentRejected) as exc:
            raise DeploymentMissing(f"no deployment record at {where}, and the gateway's cannot be used: {exc}") \
                from None
        ledger = Ledger.connect(opts.rpc, chain_id=opts.chain_id, account=account, state_dir=opts.state_dir,
                                deployment=record)
    return ledger


def _cid_or_store(value: str, what: str) -> str:
    """A CID as given, or the CID of a file / text added to the IPFS store."""
    from ledger.contracts.models import cid_to_chain

    value = value.strip()
    if not value:
        raise InvalidInput(f"empty {what}")
    path = Path(value)
    if path.is_file():
        return str(_store().add_file(path))
    try:
        cid_to_chain(value)
        return value
    except InvalidInput:
        pass
    return str(_store().add(value.encode("utf-8")))


def _store() -> Any:
    from ledger.ipfs import open_store

    target = os.environ.get("IPFS_API") or str(_opts().state_dir / "ipfs")
    return open_store(target)


def _when(value: Optional[str], default: int) -> int:
    """Unix seconds from an int, '+7d'/'+12h'/'+30m' relative to now, or an ISO date."""
    if value is None:
        return default
    text = value.strip()
    if text.isdigit():
        return int(text)
    if text.startswith("+") and text[-1] in "dhms" and text[1:-1].isdigit():
        mult = {"d": DAY, "h": 3600, "m": 60, "s": 1}[text[-1]]
        return int(time.time()) + int(text[1:-1]) * mult
    try:
        from datetime import datetime, timezone

        dt = datetime.fromisoformat(text)
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=timezone.utc)
        return int(dt.timestamp())
    except ValueError:
        raise InvalidInput(f"invalid time {value!r}: unix seconds, +7d / +12h / +30m, or an ISO date") from None


# ------------------------------------------------------------------ wallet


@wallet_app.command("create")
@handled
def wallet_create(name: str = typer.Argument(..., help="Wallet name."), json_out: bool = JsonFlag) -> None:
    """Create a new random key in an encrypted keystore."""
    entry = _keystore().create(name, _password(confirm=True))
    _emit(json_out, entry.to_dict(), f"created {entry.name} {entry.address} ({entry.file})")


@wallet_app.command("import")
@handled
def wallet_import(
    name: str = typer.Argument(..., help="Wallet name."),
    key_env: str = typer.Option("DATALEDGER_PRIVATE_KEY", "--key-env", help="Env var holding the private key."),
    key_file: Optional[Path] = typer.Option(None, "--key-file", help="File holding the hex private key."),
    json_out: bool = JsonFlag,
) -> None:
    """Import a private key (from --key-file, the environment, or a prompt) into a keystore."""
    if key_file is not None:
        key = key_file.read_text().strip()
    elif os.environ.get(key_env):
        key = os.environ[key_env].strip()
    elif sys.stdin.isatty():
        key = str(typer.prompt("private key", hide_input=True))
    else:
        raise InvalidInput(f"no private key: use --key-file or set {key_env}")
    entry = _keystore().import_key(name, key, _password(confirm=True))
    _emit(json_out, entry.to_dict(), f"imported {entry.name} {entry.address} ({entry.file})")


@wallet_app.command("list")
@handled
def wallet_list(json_out: bool = JsonFlag) -> None:
    """List keystores (name, address, file)."""
    entries = _keystore().list()
    table = Table("name", "address", "file")
    for e in entries:
        table.add_row(e.name, e.address, str(e.file))
    _emit(json_out, [e.to_dict() for e in entries], table)


# ------------------------------------------------------------------ participant


@participant_app.command("register-org")
@handled
def participant_register_org(
    code: str = typer.Argument(..., help="Unified social credit code (or 0x org id)."),
    jurisdiction: str = typer.Option(..., "--jurisdiction", "-j", help="CN, HK, MO or ISO-3166 alpha-2."),
    roles: str = typer.Option(..., "--roles", help="Allowed roles, e.g. holder,exchange."),
    officer: str = typer.Option(..., "--officer", help="Chief data officer address."),
    json_out: bool = JsonFlag,
) -> None:
    """Register an organisation (registrar / data authority)."""
    result = _ledger().participants.register_organisation(code, jurisdiction, roles, officer)
    _tx(json_out, result, f"organisation {code} registered")


@participant_app.command("register-account")
@handled
def participant_register_account(
    code: str = typer.Argument(..., help="The organisation's credit code (or 0x org id)."),
    address: str = typer.Argument(..., help="Account to add."),
    roles: str = typer.Option(..., "--roles", help="Roles, e.g. holder."),
    json_out: bool = JsonFlag,
) -> None:
    """Add an account to an organisation (its chief data officer)."""
    result = _ledger().participants.add_account(code, address, roles)
    _tx(json_out, result, f"account {address} added to {code}")


@participant_app.command("licence")
@handled
def participant_licence(
    address: str = typer.Argument(...),
    expiry: str = typer.Option("+365d", "--expiry", help="Unix seconds, +365d, or ISO date; 0 withdraws."),
    json_out: bool = JsonFlag,
) -> None:
    """Set an account's licence expiry (registrar)."""
    led = _ledger()
    when = 0 if expiry == "0" else _when(expiry, 0)
    _tx(json_out, led.participants.set_licence_expiry(address, when), f"licence of {address} until {when}")


@participant_app.command("licensed-roles")
@handled
def participant_licensed_roles(
    address: str = typer.Argument(...),
    roles: str = typer.Option(..., "--roles", help="The licensed roles it keeps, e.g. broker; 'none' drops them."),
    expiry: str = typer.Option("+365d", "--expiry", help="Licence expiry: unix seconds, +365d, ISO date; 0."),
    json_out: bool = JsonFlag,
) -> None:
    """Grant or drop an account's licensed roles with their licence (registrar only)."""
    led = _ledger()
    bits = 0 if roles.strip().lower() == "none" else roles
    when = 0 if expiry == "0" or bits == 0 else _when(expiry, 0)
    _tx(json_out, led.participants.set_licensed_roles(address, bits, when),
        f"licensed roles of {address} set to {roles} until {when}")


@participant_app.command("suspend")
@handled
def participant_suspend(address: str = typer.Argument(...), reason: str = typer.Option(..., "--reason"),
                        json_out: bool = JsonFlag) -> None:
    """Suspend an account (registrar)."""
    _tx(json_out, _ledger().participants.suspend_account(address, reason), f"{address} suspended")


@participant_app.command("reinstate")
@handled
def participant_reinstate(address: str = typer.Argument(...), reason: str = typer.Option(..., "--reason"),
                          json_out: bool = JsonFlag) -> None:
    """Reinstate a suspended account (registrar)."""
    _tx(json_out, _ledger().participants.reinstate_account(address, reason), f"{address} reinstated")


@participant_app.command("show")
@handled
def participant_show(address: str = typer.Argument(...), json_out: bool = JsonFlag) -> None:
    """Show a participant (status none when unregistered)."""
    p = _ledger(need_account=False).participants.participant(address)
    _emit(json_out, p.to_dict())


# ------------------------------------------------------------------ asset


def _load_manifest(path: Path, meta: dict[str, Any]) -> Any:
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


def _metadata(meta: Optional[Path], title: Optional[str], publisher: Optional[str], level: Optional[int],
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


@asset_app.command("register")
@handled
def asset_register(
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

    metadata = _metadata(meta, title, publisher, level, source, description, keywords)
    manifest = _load_manifest(path, metadata)
    body = canonical_json(manifest)
    cid = manifest_cid(manifest)
    digest = content_hash(manifest)
    if expected_cid is not None and normalize_cid(expected_cid) != normalize_cid(cid):
        raise CidMismatch(expected_cid, cid, "manifest")
    level_value = int(manifest.classification_level)
    source_value = SourceType(manifest.source_type.chain_value)

    led = _ledger()
    assets = led.assets
    # simulate first: nothing is written to IPFS or the chain if registration would revert
    from ledger.contracts.models import cid_to_chain

    led.sender.estimate(assets.build("registerAsset", cid_to_chain(cid), digest, level_value,
                                     int(source_value)), "AssetRegistry")
    store = _store()
    files = [d for d in manifest.distributions] if path.is_dir() else []
    with Progress(transient=True, console=err_console, disable=json_out or _opts().json) as progress:
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
    _emit(json_out, data, f"asset {result.value} registered: {cid} (tx {result.tx_hash})")


@asset_app.command("show")
@handled
def asset_show(asset_id: int = typer.Argument(...), json_out: bool = JsonFlag) -> None:
    """Show an asset with its latest manifest and valuations."""
    led = _ledger(need_account=False)
    asset = led.assets.asset(asset_id)
    data = asset.to_dict()
    from ledger.contracts.models import KNOWN_METHODS

    data["valuations"] = []
    for v in led.assets.valuations(asset_id):
        entry = v.to_dict()
        if entry.get("method") in KNOWN_METHODS:  # recorded as the sha-256 of a known method name
            entry["method_name"] = KNOWN_METHODS[entry["method"]]
        data["valuations"].append(entry)
    _emit(json_out, data)


@asset_app.command("freeze")
@handled
def asset_freeze(asset_id: int = typer.Argument(...), reason: str = typer.Option(..., "--reason"),
                 json_out: bool = JsonFlag) -> None:
    """Freeze an asset (regulator)."""
    _tx(json_out, _ledger().assets.freeze(asset_id, reason), f"asset {asset_id} frozen")


@asset_app.command("revoke")
@handled
def asset_revoke(asset_id: int = typer.Argument(...), reason: str = typer.Option(..., "--reason"),
                 json_out: bool = JsonFlag) -> None:
    """Revoke an asset (regulator; final)."""
    _tx(json_out, _ledger().assets.revoke(asset_id, reason), f"asset {asset_id} revoked")


@asset_app.command("release-hash")
@handled
def asset_release_hash(content_hash: str = typer.Argument(..., help="0x-hex sha-256 of the dataset."),
                       claimant: Optional[str] = typer.Option(None, "--claimant",
                                                              help="Only this account may register it next."),
                       reason: str = typer.Option(..., "--reason"), json_out: bool = JsonFlag) -> None:
    """Free a revoked asset's content hash (registrar; e.g. after a squatting ruling)."""
    _tx(json_out, _ledger().assets.release_content_hash(content_hash, claimant, reason),
        f"content hash {content_hash} released" + (f" for {claimant}" if claimant else ""))


@manifest_app.command("build")
@handled
def manifest_build(
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
    from ledger.manifest import ManifestError, build_manifest, canonical_json, content_hash, dataset_files, \
        hash_file, manifest_cid, media_type_for

    if not directory.is_dir():
        raise InvalidInput(f"{directory}: not a directory")
    metadata = _metadata(meta, title, publisher, level, source, description, keywords)
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
    if json_out or _opts().json:
        _emit(True, data)
        return
    for f in data["files"]:  # as `ipfs add --cid-version=1` prints them, plus the size
        console.print(f"{f['cid']}  {f['byte_size']:>12}  {f['path']}", markup=False, highlight=False, soft_wrap=True)
    if data["manifest"] is None:
        console.print(f"no manifest: it needs {', '.join(missing)} (or --meta FILE)", markup=False, highlight=False)
        return
    console.print_json(json.dumps(data["manifest"], ensure_ascii=False))
    console.print(f"manifest cid {data['manifest_cid']}  sha-256 {data['content_hash']}"
                  + (f"  written to {out}" if out is not None else ""), markup=False, highlight=False, soft_wrap=True)


# ------------------------------------------------------------------ valuation


@valuation_app.command("add")
@handled
def valuation_add(
    asset_id: int = typer.Argument(...),
    amount: int = typer.Option(..., "--amount", help="In the currency's minor units."),
    currency: str = typer.Option("CNY", "--currency"),
    method: str = typer.Option(..., "--method", help="income | cost | market | ..."),
    report: str = typer.Option(..., "--report", help="Report file (added to IPFS) or its CID."),
    json_out: bool = JsonFlag,
) -> None:
    """Record a valuation of an asset (licensed appraiser)."""
    led = _ledger()
    if amount <= 0:
        raise InvalidInput("--amount must be positive")
    result = led.assets.record_valuation(asset_id, amount, currency, method, _cid_or_store(report, "report"))
    _tx(json_out, result, f"valuation {result.value} of asset {asset_id} recorded")


# ------------------------------------------------------------------ voucher


@voucher_app.command("issue")
@handled
def voucher_issue(
    to: str = typer.Option(..., "--to"),
    asset_id: int = typer.Option(..., "--asset"),
    right: str = typer.Option("use", "--right", help="holding | use | operating"),
    scope: str = typer.Option(..., "--scope", help="Scope/purpose statement (hashed) or 0x bytes32."),
    valid_from: Optional[str] = typer.Option(None, "--valid-from", help="Default: now."),
    valid_until: str = typer.Option("+365d", "--valid-until"),
    max_uses: int = typer.Option(1, "--max-uses"),
    transferable: bool = typer.Option(True, "--transferable/--non-transferable"),
    json_out: bool = JsonFlag,
) -> None:
    """Issue a voucher over an asset."""
    led = _ledger()
    now = led.now()
    result = led.vouchers.issue(to, asset_id, right, scope, _when(valid_from, now), _when(valid_until, now),
                                max_uses, transferable)
    _tx(json_out, result, f"voucher {result.value} issued to {to}")


@voucher_app.command("transfer")
@handled
def voucher_transfer(
    token_id: int = typer.Argument(...),
    to: str = typer.Argument(...),
    gasless: bool = typer.Option(False, "--gasless", help="Sign an ERC-2771 request for the relay instead."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Where to write the signed request."),
    deadline: str = typer.Option("+1h", "--deadline", help="Deadline of a gasless request."),
    json_out: bool = JsonFlag,
) -> None:
    """Transfer a voucher (checked against the compliance rules before anything is sent)."""
    led = _ledger()
    if gasless:
        request = led.vouchers.transfer_request(to, token_id, _when(deadline, 0))
        _write_request(request, out, json_out)
        return
    _tx(json_out, led.vouchers.transfer(to, token_id), f"voucher {token_id} transferred to {to}")


def _write_request(request: Any, out: Optional[Path], json_out: bool) -> None:
    data = request.to_dict()
    if out is not None:
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(out)
    _emit(json_out or out is None, data, f"signed request written to {out}")


@voucher_app.command("redeem")
@handled
def voucher_redeem(
    token_id: int = typer.Argument(...),
    purpose: str = typer.Option(..., "--purpose", help="Purpose statement (stored on IPFS; its CID digest goes on "
                                                       "chain) or a 0x bytes32 recorded as is."),
    gasless: bool = typer.Option(False, "--gasless"),
    out: Optional[Path] = typer.Option(None, "--out", "-o"),
    deadline: str = typer.Option("+1h", "--deadline"),
    json_out: bool = JsonFlag,
) -> None:
    """Redeem one use of a voucher (holder or an authorised user). The purpose text is stored as a
    document on IPFS (IPFS_API, else <state-dir>/ipfs) and the sha-256 digest of its CID is recorded."""
    from ledger.contracts.vouchers import purpose_document

    led = _ledger()
    recorded: str | bytes = purpose
    if not (purpose.startswith("0x") and len(purpose) == 66):
        recorded = purpose_document(_store(), purpose)[1]
    if gasless:
        _write_request(led.vouchers.redeem_request(token_id, recorded, _when(deadline, 0)), out, json_out)
        return
    result = led.vouchers.redeem(token_id, recorded)
    _tx(json_out, result, f"use {result.value} of voucher {token_id} redeemed")


@voucher_app.command("relay")
@handled
def voucher_relay(request_file: Path = typer.Argument(..., help="A signed request file."),
                  json_out: bool = JsonFlag) -> None:
    """Submit a signed ERC-2771 request through the LedgerForwarder, paying its gas."""
    from ledger.contracts import ForwardRequest

    try:
        data = json.loads(request_file.read_text())
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{request_file}: {exc}") from None
    request = ForwardRequest.from_dict(data)
    _tx(json_out, _ledger().forwarder.relay(request), f"request of {request.sender} relayed")


@voucher_app.command("authorize")
@handled
def voucher_authorize(token_id: int = typer.Argument(...), user: str = typer.Argument(...),
                      revoke: bool = typer.Option(False, "--revoke"), json_out: bool = JsonFlag) -> None:
    """Allow (or with --revoke stop allowing) a user to redeem uses of your voucher."""
    _tx(json_out, _ledger().vouchers.authorize_user(token_id, user, not revoke),
        f"user {user} {'de' if revoke else ''}authorised on voucher {token_id}")


@voucher_app.command("approve")
@handled
def voucher_approve(operator: Optional[str] = typer.Argument(None, help="Default: TradeSettlement."),
                    revoke: bool = typer.Option(False, "--revoke"), json_out: bool = JsonFlag) -> None:
    """Let an operator (by default the settlement contract) move your vouchers."""
    led = _ledger()
    target = operator or led.address_of("TradeSettlement")
    _tx(json_out, led.vouchers.approve_operator(target, not revoke), f"operator {target} approved={not revoke}")


def _supervise(action: str, token_id: int, reason: str, json_out: bool) -> None:
    led = _ledger()
    if led.vouchers.owner_of(token_id) is None:
        from ledger.errors import UnknownVoucher

        raise UnknownVoucher(token_id)
    _tx(json_out, getattr(led.vouchers, action)(token_id, reason), f"voucher {token_id} {action}")


@voucher_app.command("freeze")
@handled
def voucher_freeze(token_id: int = typer.Argument(...), reason: str = typer.Option(..., "--reason"),
                   json_out: bool = JsonFlag) -> None:
    """Freeze a voucher (regulator)."""
    _supervise("freeze", token_id, reason, json_out)


@voucher_app.command("unfreeze")
@handled
def voucher_unfreeze(token_id: int = typer.Argument(...), reason: str = typer.Option(..., "--reason"),
                     json_out: bool = JsonFlag) -> None:
    """Lift a freeze (regulator)."""
    _supervise("unfreeze", token_id, reason, json_out)


@voucher_app.command("revoke")
@handled
def voucher_revoke(token_id: int = typer.Argument(...), reason: str = typer.Option(..., "--reason"),
                   json_out: bool = JsonFlag) -> None:
    """Revoke a voucher (regulator)."""
    _supervise("revoke", token_id, reason, json_out)


@voucher_app.command("recover-propose")
@handled
def voucher_recover_propose(token_id: int = typer.Argument(...), to: str = typer.Argument(...),
                            reason: str = typer.Option(..., "--reason"), json_out: bool = JsonFlag) -> None:
    """Propose moving a voucher from a lost key to a new holder (regulator; another regulator executes)."""
    result = _ledger().vouchers.propose_recovery(token_id, to, reason)
    _tx(json_out, result, f"recovery of voucher {token_id} to {to} proposed; another regulator executes it "
                          f"(voucher recover-execute {token_id}) before {result.value}")


@voucher_app.command("recover-execute")
@handled
def voucher_recover_execute(token_id: int = typer.Argument(...), reason: str = typer.Option(..., "--reason"),
                            json_out: bool = JsonFlag) -> None:
    """Execute another regulator's recovery proposal (the voucher moves to the proposed holder)."""
    led = _ledger()
    proposal = led.vouchers.recovery_proposal(token_id)
    _tx(json_out, led.vouchers.execute_recovery(token_id, reason), f"voucher {token_id} recovered to {proposal.to}")


@voucher_app.command("recover-cancel")
@handled
def voucher_recover_cancel(token_id: int = typer.Argument(...), reason: str = typer.Option(..., "--reason"),
                           json_out: bool = JsonFlag) -> None:
    """Cancel a pending recovery proposal (regulator)."""
    _tx(json_out, _ledger().vouchers.cancel_recovery(token_id, reason), f"recovery of voucher {token_id} cancelled")


@voucher_app.command("show")
@handled
def voucher_show(token_id: int = typer.Argument(...), json_out: bool = JsonFlag) -> None:
    """Show a voucher."""
    _emit(json_out, _ledger(need_account=False).vouchers.voucher(token_id).to_dict())


@voucher_app.command("why-not")
@handled
def voucher_why_not(token_id: int = typer.Argument(...), to: str = typer.Argument(...),
                    sender: Optional[str] = typer.Option(None, "--from", help="Default: the current holder."),
                    use: bool = typer.Option(False, "--use", help="A use by ``to`` (authorise/redeem), not a move."),
                    json_out: bool = JsonFlag) -> None:
    """Explain whether (and why not) a voucher could move to ``to`` now (or, with --use, be used by it)."""
    vouchers = _ledger(need_account=False).vouchers
    r = vouchers.use_restriction(to, token_id) if use else vouchers.why_not(token_id, to, sender)
    data = {"tokenId": token_id, "to": to, "code": r.code, "allowed": r.allowed, "message": r.message}
    _emit(json_out, data, f"[{r.code}] {r.message}")


# ------------------------------------------------------------------ customs


@customs_app.command("request")
@handled
def customs_request(
    asset_id: int = typer.Argument(...),
    destination: str = typer.Option(..., "--destination", "-d"),
    purpose: str = typer.Option(..., "--purpose", help="Purpose file / text (added to IPFS) or CID."),
    recipient: Optional[str] = typer.Option(None, "--recipient", help="Default: anyone in the destination."),
    json_out: bool = JsonFlag,
) -> None:
    """Request a cross-border clearance."""
    led = _ledger()
    from ledger.contracts.base import checksum
    from ledger.contracts.models import jurisdiction

    jurisdiction(destination)
    if recipient:
        checksum(recipient, "recipient")
    result = led.customs.request(asset_id, destination, _cid_or_store(purpose, "purpose"), recipient)
    _tx(json_out, result, f"clearance case {result.value} requested")


@customs_app.command("approve")
@handled
def customs_approve(case_id: int = typer.Argument(...),
                    expiry: str = typer.Option("+90d", "--expiry"),
                    conditions: Optional[str] = typer.Option(None, "--conditions"),
                    json_out: bool = JsonFlag) -> None:
    """Approve a clearance case until --expiry (customs)."""
    led = _ledger()
    led.customs.clearance(case_id)
    cid = _cid_or_store(conditions, "conditions") if conditions else ""
    _tx(json_out, led.customs.approve(case_id, _when(expiry, 0), cid), f"case {case_id} approved")


@customs_app.command("reject")
@handled
def customs_reject(case_id: int = typer.Argument(...), reason: str = typer.Option(..., "--reason"),
                   json_out: bool = JsonFlag) -> None:
    """Reject a clearance case (customs)."""
    _tx(json_out, _ledger().customs.reject(case_id, reason), f"case {case_id} rejected")


@customs_app.command("revoke")
@handled
def customs_revoke(case_id: int = typer.Argument(...), reason: str = typer.Option(..., "--reason"),
                   json_out: bool = JsonFlag) -> None:
    """Revoke an approved clearance (customs or regulator)."""
    _tx(json_out, _ledger().customs.revoke(case_id, reason), f"case {case_id} revoked")


@customs_app.command("show")
@handled
def customs_show(case_id: int = typer.Argument(...), json_out: bool = JsonFlag) -> None:
    """Show a clearance case."""
    _emit(json_out, _ledger(need_account=False).customs.clearance(case_id).to_dict())


# ------------------------------------------------------------------ orders & trades


@order_app.command("sign")
@handled
def order_sign(
    side: str = typer.Option(..., "--side", help="sell | buy"),
    voucher_id: int = typer.Option(..., "--voucher"),
    price: int = typer.Option(..., "--price", help="Payment token units (2 decimals)."),
    exchange: str = typer.Option(..., "--exchange"),
    out: Path = typer.Option(..., "--out", "-o", help="Signed order file to write."),
    broker: Optional[str] = typer.Option(None, "--broker"),
    commission: int = typer.Option(0, "--commission"),
    nonce: Optional[int] = typer.Option(None, "--nonce", help="Default: random."),
    deadline: str = typer.Option("+1d", "--deadline"),
    max_fee_bps: Optional[int] = typer.Option(
        None, "--max-fee-bps", min=0, help="Highest exchange fee accepted. Default: the exchange's fee now."),
    min_uses_left: Optional[int] = typer.Option(
        None, "--min-uses-left", min=0, help="Voucher must keep at least this many uses. Default: buy = uses left now, sell = 0."),
    min_valid_until: Optional[str] = typer.Option(
        None, "--min-valid-until", help="Voucher must be valid until at least this time. Default: buy = its validity end now, sell = 0."),
    json_out: bool = JsonFlag,
) -> None:
    """Sign an EIP-712 order (bound to this chain and settlement contract) into a JSON file.

    The order commits to the fee and the voucher terms: settlement reverts if the exchange fee rose
    above --max-fee-bps or the voucher has fewer uses left / an earlier validity end than signed."""
    led = _ledger()
    if out.exists():
        raise InvalidInput(f"{out} exists; refusing to overwrite a signed order")
    order = led.settlement.make_order(side, voucher_id, price, exchange, _when(deadline, 0), broker,
                                      commission, nonce, max_fee_bps=max_fee_bps, min_uses_left=min_uses_left,
                                      min_valid_until=None if min_valid_until is None else _when(min_valid_until, 0))
    signed = led.settlement.sign(order)
    signed.write(out)
    _emit(json_out, signed.to_dict(), f"{order.maker} signed {side} order nonce {order.nonce} -> {out}")


@order_app.command("cancel")
@handled
def order_cancel(nonce: int = typer.Argument(...), json_out: bool = JsonFlag) -> None:
    """Cancel one of your order nonces."""
    _tx(json_out, _ledger().settlement.cancel(nonce), f"order nonce {nonce} cancelled")


@trade_app.command("settle")
@handled
def trade_settle(sell: Path = typer.Argument(...), buy: Path = typer.Argument(...),
                 json_out: bool = JsonFlag) -> None:
    """Settle one matched trade from two signed order files (exchange)."""
    from ledger.contracts import SignedOrder

    s, b = SignedOrder.read(sell), SignedOrder.read(buy)
    result = _ledger().settlement.settle(s, b)
    _tx(json_out, result, f"trade {result.value} settled")


@trade_app.command("settle-batch")
@handled
def trade_settle_batch(files: list[Path] = typer.Argument(..., help="Signed order files (sells and buys)."),
                       json_out: bool = JsonFlag) -> None:
    """Settle many trades atomically; sells and buys are paired by voucher id."""
    from ledger.contracts import Side, SignedOrder

    orders = [SignedOrder.read(f) for f in files]
    sells = [o for o in orders if o.order.side == Side.SELL]
    buys = {o.order.voucherId: o for o in orders if o.order.side == Side.BUY}
    if len(buys) != len(sells) or len(sells) * 2 != len(orders):
        raise InvalidInput("every sell order needs exactly one buy order for the same voucher")
    pairs = []
    for s in sells:
        if s.order.voucherId not in buys:
            raise InvalidInput(f"no buy order for voucher {s.order.voucherId}")
        pairs.append((s, buys[s.order.voucherId]))
    result = _ledger().settlement.settle_batch(pairs)
    _tx(json_out, result, f"{len(pairs)} trades settled")


# ------------------------------------------------------------------ token


@token_app.command("mint")
@handled
def token_mint(to: str = typer.Argument(...), amount: int = typer.Argument(...), json_out: bool = JsonFlag) -> None:
    """Mint payment tokens (admin or authority)."""
    _tx(json_out, _ledger().token.mint(to, amount), f"minted {amount} to {to}")


@token_app.command("approve")
@handled
def token_approve(amount: str = typer.Argument("max"), spender: Optional[str] = typer.Option(None, "--spender"),
                  json_out: bool = JsonFlag) -> None:
    """Approve the settlement contract (or --spender) to spend your tokens."""
    led = _ledger()
    value = 2**256 - 1 if amount == "max" else int(amount)
    target = spender or led.address_of("TradeSettlement")
    _tx(json_out, led.token.approve(target, value), f"{target} approved for {amount}")


@token_app.command("balance")
@handled
def token_balance(address: str = typer.Argument(...), json_out: bool = JsonFlag) -> None:
    """Balance of an account."""
    bal = _ledger(need_account=False).token.balance_of(address)
    _emit(json_out, {"address": address, "balance": bal}, f"{bal / 100:.2f} dCNY ({bal})")


# ------------------------------------------------------------------ operations


@app.command("deploy")
@handled
def deploy(force: bool = typer.Option(False, "--force", help="Replace an existing deployment record."),
           json_out: bool = JsonFlag) -> None:
    """Deploy the contract suite and write the deployment record."""
    from rich.progress import Progress

    from ledger.deploy import SUITE, deploy_all, deployment_record, write_deployment

    led = _ledger(need_deployment=False)
    path = led.state_dir / "deployments" / f"{led.chain_id}.json"
    if path.exists() and not force:
        raise InvalidInput(f"{path} exists (a market is already deployed on chain {led.chain_id}); use --force")
    account = led.require_account()
    with Progress(transient=True, console=err_console, disable=json_out or _opts().json) as progress:
        task = progress.add_task("deploying", total=len(SUITE))
        c = deploy_all(led.w3, account, progress=lambda _name: progress.advance(task))
    record = deployment_record(led.w3, c)
    written = write_deployment(led.state_dir, record)
    _emit(json_out, {"record": str(written), **record}, f"deployed {len(c)} contracts; record {written}")


@app.command("seed-demo")
@handled
def seed_demo(json_out: bool = JsonFlag,
              size: str = typer.Option("small", "--size", help="small (the tests' market), market (~30 "
                                       "organisations, ~50 datasets, six months) or bench")) -> None:
    """Populate a fresh local market with the demo participants and history (anvil keys)."""
    try:
        from ledger import demo
    except ImportError:
        raise LedgerError("ledger.demo is not available in this installation") from None
    from ledger.deploy import load_contracts

    led = _ledger(need_account=False)
    assert led.deployment is not None
    contracts = load_contracts(led.w3, led.deployment)
    if size not in demo.SIZES:
        raise LedgerError(f"unknown demo size {size!r} (one of: {', '.join(demo.SIZES)})")
    summary = demo.seed(led.w3, contracts, led.state_dir, size=size)
    written = demo.write_demo_file(led.state_dir, led.w3, contracts) if hasattr(demo, "write_demo_file") else None
    _emit(json_out, {"summary": summary, "demoFile": str(written) if written else None}, summary)


def _database_url(given: Optional[str], state_dir: Optional[Path] = None) -> str:
    """--database-url, else DATABASE_URL, else SQLite in the state directory (<state-dir>/gateway.db)."""
    if given:
        return given
    env = os.environ.get("DATABASE_URL")
    if env:
        return env
    return f"sqlite:///{((state_dir or _opts().state_dir) / 'gateway.db').resolve()}"


@app.command("index")
@handled
def index(
    rpc: Optional[str] = typer.Option(None, "--rpc", "--rpc-url", help="JSON-RPC endpoint (default: the global --rpc)."),
    database_url: Optional[str] = typer.Option(
        None, "--database-url", help="SQLAlchemy URL (default: DATABASE_URL, else sqlite:///<state-dir>/gateway.db)."),
    follow: bool = typer.Option(False, "--follow", help="Keep following the head until Ctrl-C / SIGTERM."),
    confirmations: int = typer.Option(0, "--confirmations", min=0, help="Stay this many blocks behind the head."),
    max_range: int = typer.Option(1000, "--max-range", min=1, help="Largest eth_getLogs block range."),
    initial_range: int = typer.Option(10, "--initial-range", min=1, help="First eth_getLogs block range."),
    target_events: int = typer.Option(20000, "--target-events", min=1,
                                      help="Events per request the adaptive range aims at."),
    until_block: Optional[int] = typer.Option(None, "--until-block", min=0, help="Stop after this block."),
    no_wait: bool = typer.Option(False, "--no-wait", help="Exit with code 3 when another indexer holds the lock."),
    dump: Optional[Path] = typer.Option(None, "--dump", metavar="PATH",
                                        help="Write the canonical dump of the database to PATH, print its sha256."),
    state_dir: Optional[Path] = typer.Option(None, "--state-dir", help="Default: the global --state-dir."),
    json_out: bool = typer.Option(False, "--json", help="JSON lines (progress, then a summary) instead of a bar."),
    ipfs: Optional[str] = typer.Option(None, "--ipfs", envvar="IPFS_API",
                                       help="Kubo RPC API URL the documents (profiles, manifests, purposes) are "
                                            "fetched from (default: the embedded store <state-dir>/ipfs)."),
    no_documents: bool = typer.Option(False, "--no-documents", help="Index events only; fetch no documents."),
) -> None:
    """Index the deployment's contract events into SQL (migrations first); --follow keeps up with the head.

    Exit codes: 0 done, 1 node unreachable or unexpected error, 2 no deployment record or a database of
    another chain, 3 another indexer holds the writer lock (--no-wait), 130 interrupted.
    """
    from gateway.indexer.cli import dump_command, index_command
    from gateway.indexer.sync import IndexerConfig

    opts = _opts()
    state = state_dir or opts.state_dir
    url = _database_url(database_url, state)
    if dump is not None:
        console.print(dump_command(url, dump), markup=False, highlight=False)
        return
    node = rpc or opts.rpc
    if opts.chain_id is not None:
        _check_chain_id(node, opts.chain_id)
    code = index_command(node, url, state, follow=follow, confirmations=confirmations,
                         max_range=max_range, json_output=json_out or opts.json, wait_for_lock=not no_wait,
                         until_block=until_block,
                         config=IndexerConfig(initial_range=initial_range, target_events=target_events,
                                              ipfs=None if no_documents else (ipfs or str(state / "ipfs"))))
    if code:
        raise typer.Exit(code)


def _check_chain_id(rpc: str, expected: int) -> None:
    from ledger.errors import ChainIdMismatch
    from gateway.indexer.rpc import NodeUnavailable, Rpc, RpcError

    node = Rpc(rpc, timeout=10)
    try:
        actual = node.chain_id()
    except (NodeUnavailable, RpcError) as exc:
        raise LedgerError(f"no JSON-RPC answer from {rpc}: {exc}") from None
    finally:
        node.close()
    if actual != expected:
        raise ChainIdMismatch(expected, actual, "--chain-id / CHAIN_ID")


# "-1" / "-5" must reach the id check (exit 2, "outside uint256") instead of reading as an option
@app.command("verify", context_settings={"ignore_unknown_options": True})
@handled
def verify(
    kind: Optional[str] = typer.Argument(None, metavar="voucher|asset|participant", help="What to verify."),
    subject_id: Optional[str] = typer.Argument(None, metavar="ID", help="Its uint256 id (decimal); a "
                                                                        "participant's account address."),
    rpc: Optional[str] = typer.Option(None, "--rpc", help="JSON-RPC endpoint of a node you trust (default: the "
                                                         "global --rpc)."),
    gateway: Optional[str] = typer.Option(None, "--gateway", help="Gateway base URL whose provenance API is "
                                                                  "checked (default: the global --gateway)."),
    token: Optional[str] = typer.Option(None, "--token", help="Bearer token of a signed-in caller (regulators "
                                                              "see every use); default anonymous."),
    database_url: Optional[str] = typer.Option(None, "--database-url",
                                               help="Check the gateway's database directly instead."),
    deployment: Optional[Path] = typer.Option(
        None, "--deployment", metavar="FILE",
        help="Deployment record to verify against (offline use); default <state-dir>/deployments/<chainId>.json, "
             "else the gateway's /v1/contracts checked against the chain."),
    ipfs: Optional[str] = typer.Option(None, "--ipfs", help="Kubo RPC API URL (default IPFS_API, else "
                                                            "<state-dir>/ipfs, else the gateway's manifests)."),
    no_manifests: bool = typer.Option(False, "--no-manifests", help="Skip the IPFS manifest check."),
    block: Optional[int] = typer.Option(None, "--block", help="Verify at this block (default: the node's head; "
                                                              "never the gateway's height)."),
    max_range: int = typer.Option(0, "--max-range", min=0, help="Largest eth_getLogs block range (0: unbounded)."),
    export: Optional[Path] = typer.Option(None, "--export", metavar="FILE",
                                          help="Write a proof bundle of the history."),
    bundle: Optional[Path] = typer.Option(None, "--bundle", metavar="FILE", help="Check a proof bundle offline."),
    trusted_head: Optional[str] = typer.Option(None, "--trusted-head", metavar="HASH",
                                               help="Block hash the bundle must end at."),
    validators: Optional[Path] = typer.Option(
        None, "--validators", metavar="FILE",
        help="QBFT validator set (Besu genesis, JSON list or one address per line): the bundle's head must "
             "carry a quorum of their commit seals."),
    state_dir: Optional[Path] = typer.Option(None, "--state-dir", help="Default: the global --state-dir."),
    json_out: bool = typer.Option(False, "--json", help="JSON verdict on stdout."),
) -> None:
    """Rebuild a voucher's, an asset's or a participant's history from the chain and check what the
    gateway serves; or check a proof bundle offline.

    Exit codes: 0 verified, 1 mismatch (named), 2 could not run (node or gateway unreachable, no
    deployment, bad arguments), 3 unknown id / account, 4 gateway behind the verified block.
    """
    from gateway.verify.cli import VerifyOptions, verify_command

    for token in (kind, subject_id):  # an unknown option taken as a positional (see context_settings)
        if token and token.startswith("-") and not token[1:].isdigit():
            err_console.print(f"error: no such option: {token} (see dataledger verify --help)", markup=False)
            raise typer.Exit(2)
    opts = _opts()
    code = verify_command(VerifyOptions(
        kind=kind, id=subject_id, rpc=rpc or opts.rpc, state_dir=str(state_dir or opts.state_dir),
        chain_id=opts.chain_id, gateway=gateway or opts.gateway, token=token, database_url=database_url,
        deployment=str(deployment or opts.deployment or "") or None, ipfs=ipfs, no_manifests=no_manifests,
        block=block, max_range=max_range, export=str(export) if export else None,
        bundle=str(bundle) if bundle else None, trusted_head=trusted_head,
        validators=str(validators) if validators else None, json=json_out or opts.json))
    raise typer.Exit(code)


@app.command("stats")
@handled
def stats(
    database_url: Optional[str] = typer.Option(
        None, "--database-url", help="The index (default: DATABASE_URL, else sqlite:///<state-dir>/gateway.db)."),
    period: str = typer.Option("month", "--period", help="day | month"),
    since: Optional[int] = typer.Option(None, "--since", help="Unix seconds."),
    until: Optional[int] = typer.Option(None, "--until", help="Unix seconds."),
    json_out: bool = typer.Option(False, "--json", help="JSON on stdout."),
) -> None:
    """Market statistics (统计核算) from the SQL index: totals, per period, level, source type,
    jurisdiction and cross-border flows. Exit code 2 when there is no index yet."""
    from gateway.stats import stats_command

    if period not in ("day", "month"):
        raise InvalidInput(f"--period {period!r}: day or month")
    code = stats_command(_database_url(database_url), period, since, until, json_out or _opts().json)
    if code:
        raise typer.Exit(code)


@app.command("serve")
@handled
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", envvar="GATEWAY_PORT", help="TCP port."),
    database_url: Optional[str] = typer.Option(
        None, "--database-url", help="The index (default: DATABASE_URL, else sqlite:///<state-dir>/gateway.db)."),
    ipfs: Optional[str] = typer.Option(None, "--ipfs", envvar="IPFS_API",
                                       help="Kubo RPC API URL (default: the embedded store <state-dir>/ipfs)."),
    json_out: bool = JsonFlag,
) -> None:
    """Run the gateway (API, pages, relay) on the chain at --rpc, the deployment record in --state-dir
    and the index at --database-url; run `dataledger index --follow` beside it to keep the index current."""
    import uvicorn

    from gateway.core.config import Settings
    from gateway.main import create_app

    opts = _opts()
    state = opts.state_dir.resolve()
    values: dict[str, Any] = {"RPC_URL": opts.rpc, "STATE_DIR": state, "DATABASE_URL": _database_url(database_url),
                              "IPFS_API": ipfs}
    if not os.environ.get("IPFS_STORE_DIR"):
        values["IPFS_STORE_DIR"] = state / "ipfs"
    if opts.chain_id is not None:
        values["CHAIN_ID"] = opts.chain_id
    application = create_app(Settings(**values))
    if json_out or opts.json:
        _emit(True, {"serving": f"http://{host}:{port}"})
    uvicorn.run(application, host=host, port=port)


def run(args: list[str]) -> int:
    """Run ``dataledger ARGS`` in this process and return its exit code (``python -m gateway.verify``,
    ``python -m gateway.indexer`` and ``python -m gateway.stats`` use it)."""
    command = typer.main.get_command(app)
    try:
        command.main(args=args, prog_name="dataledger", standalone_mode=True)
    except SystemExit as exc:  # standalone mode: usage errors (2), typer.Exit(code), --help (0)
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0


@app.command("status")
@handled
def status(json_out: bool = JsonFlag) -> None:
    """Chain id, head block, PoA detection and the deployment in use."""
    led = _ledger(need_account=False, need_deployment=False)
    data = {"rpc": _opts().rpc, "chainId": led.chain_id, "block": led.block_number(), "poa": led.poa,
            "deployment": (led.deployment or {}).get("contracts")}
    _emit(json_out, data)


def main() -> None:
    """Console-script entry (``dataledger``)."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
