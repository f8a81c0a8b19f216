"""What every ``dataledger`` command shares: the invocation's :class:`CliContext` (``ctx.obj``: the
global options, the :class:`~ledger.settings.Settings` they override, the connection, the keystore,
the IPFS store), the one-line error handling and the output helpers.

Nothing heavy is imported here: web3, the SDK's clients and the gateway load when a command runs,
so that ``dataledger --help`` starts fast.
"""

from __future__ import annotations

import functools
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from ledger.errors import InvalidInput, LedgerError, WalletError

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount

    from ledger.chain import Ledger
    from ledger.contracts.base import TxResult
    from ledger.deployment import Deployment
    from ledger.ipfs import IpfsStore
    from ledger.settings import Settings
    from ledger.wallet import Keystore

F = TypeVar("F", bound=Callable[..., Any])

console = Console()
err_console = Console(stderr=True, soft_wrap=True, highlight=False)

DAY = 24 * 3600
ZERO = "0x" + "00" * 20

JsonFlag = typer.Option(False, "--json", help="Machine-readable JSON output.")


@dataclass(frozen=True)
class Options:
    """The global options as given on the command line (None: not given, the setting applies)."""

    rpc: Optional[str] = None
    chain_id: Optional[int] = None
    state_dir: Optional[Path] = None
    account: Optional[str] = None
    keystore: Optional[Path] = None
    json: bool = False
    gateway: Optional[str] = None
    deployment: Optional[Path] = None


class CliContext:
    """One invocation (``ctx.obj``): options over :class:`~ledger.settings.Settings` (the environment),
    and the clients built from them on first use."""

    def __init__(self, options: Optional[Options] = None) -> None:
        self.options = options or Options()

    # ------------------------------------------------------------ settings

    @cached_property
    def settings(self) -> Settings:
        """The environment (RPC_URL, CHAIN_ID, STATE_DIR, ...) with the options given on top."""
        from ledger.settings import Settings

        o = self.options
        given: dict[str, Any] = {"RPC_URL": o.rpc, "CHAIN_ID": o.chain_id, "STATE_DIR": o.state_dir,
                                 "DATALEDGER_ACCOUNT": o.account, "DATALEDGER_KEYSTORE_DIR": o.keystore,
                                 "DATALEDGER_GATEWAY": o.gateway, "DATALEDGER_DEPLOYMENT": o.deployment}
        return Settings(**{k: v for k, v in given.items() if v is not None})

    @property
    def rpc(self) -> str:
        return self.settings.RPC_URL

    @property
    def chain_id(self) -> Optional[int]:
        return self.settings.CHAIN_ID

    @property
    def state_dir(self) -> Path:
        return self.settings.STATE_DIR

    @property
    def gateway(self) -> Optional[str]:
        return self.settings.DATALEDGER_GATEWAY

    @property
    def deployment(self) -> Optional[Path]:
        return self.settings.DATALEDGER_DEPLOYMENT

    @property
    def json(self) -> bool:
        return self.options.json

    def database_url(self, given: Optional[str] = None, state_dir: Optional[Path] = None) -> str:
        """--database-url, else DATABASE_URL, else SQLite in the state directory (<state-dir>/gateway.db)."""
        if given:
            return given
        if state_dir is not None and not self.settings.DATABASE_URL:
            return f"sqlite:///{(state_dir / 'gateway.db').resolve()}"
        return self.settings.database_url()

    # ------------------------------------------------------------ accounts

    def keystore(self) -> Keystore:
        from ledger.wallet import Keystore

        return Keystore(self.settings.keystore_dir())

    def password(self, confirm: bool = False) -> str:
        from ledger.settings import Settings

        given = Settings().password()  # read now: a test or a wrapper may set it after start-up
        if given is not None:
            return given
        if not sys.stdin.isatty():
            raise WalletError("no password: set DATALEDGER_PASSWORD or run interactively")
        return str(typer.prompt("password", hide_input=True, confirmation_prompt=confirm))

    def signer(self) -> Optional[LocalAccount]:
        """The acting account: --account from the keystore, else DATALEDGER_PRIVATE_KEY, else None."""
        from ledger.chain import load_account

        name = self.settings.DATALEDGER_ACCOUNT
        if name:
            from ledger.wallet import unlock_file

            return unlock_file(self.keystore().find(name).file, self.password())
        key = self.settings.private_key()
        return load_account(key) if key else None

    # ------------------------------------------------------------ the chain

    def ledger(self, need_account: bool = True, need_deployment: bool = True) -> Ledger:
        """A connection to the market: the account (when needed) and the deployment — --deployment FILE,
        else <state-dir>/deployments/<chainId>.json, else --gateway's /v1/contracts checked against
        the chain."""
        from ledger.chain import Ledger
        from ledger.deployment import Deployment
        from ledger.errors import DeploymentMissing, NoAccount

        account = self.signer() if need_account else None
        if need_account and account is None:
            raise NoAccount("this command needs an account: --account NAME (keystore) or DATALEDGER_PRIVATE_KEY")
        led = Ledger.connect(self.rpc, chain_id=self.chain_id, account=account, state_dir=self.state_dir,
                             deployment=self.deployment)
        if need_deployment and not led.has_deployment():
            where = Deployment.path_for(self.state_dir, led.chain_id)
            if not self.gateway:
                raise DeploymentMissing(
                    f"no deployment record for chain {led.chain_id} at {where}: pass --gateway URL (its "
                    "/v1/contracts, checked against the chain) or --deployment FILE; `dataledger deploy` would "
                    "deploy a NEW market")
            led.deployment = self.gateway_deployment(where)
        return led

    def gateway_deployment(self, where: Path) -> Deployment:
        from gateway.verify.deployment import DeploymentRejected, DeploymentUnavailable, checked_gateway_record
        from ledger.errors import DeploymentMissing

        assert self.gateway is not None
        try:
            return checked_gateway_record(self.rpc, self.gateway)
        except (DeploymentUnavailable, DeploymentRejected) as exc:
            raise DeploymentMissing(f"no deployment record at {where}, and the gateway's cannot be used: {exc}") \
                from None

    # ------------------------------------------------------------ IPFS

    def store(self) -> IpfsStore:
        """Kubo at IPFS_API, else the embedded store <state-dir>/ipfs."""
        from ledger.ipfs import open_store

        return open_store(self.settings.IPFS_API or str(self.state_dir / "ipfs"))

    def cid_or_store(self, value: str, what: str) -> str:
        """A CID as given, or the CID of a file / text added to the IPFS store."""
        from ledger.contracts.models import cid_to_chain

        value = value.strip()
        if not value:
            raise InvalidInput(f"empty {what}")
        path = Path(value)
        if path.is_file():
            return str(self.store().add_file(path))
        try:
            cid_to_chain(value)
            return value
        except InvalidInput:
            pass
        return str(self.store().add(value.encode("utf-8")))


def cli(ctx: typer.Context) -> CliContext:
    """The invocation's context (``ctx.obj``, set by the root callback; the environment only when a
    command runs without the root app)."""
    found = ctx.find_object(CliContext)
    if found is None:
        found = ctx.ensure_object(CliContext)
    return found


# ------------------------------------------------------------------ errors


def handled(fn: F) -> F:
    """Run a command: any failure -> one line on stderr and exit code 1 (no traceback)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except KeyboardInterrupt:
            fail("interrupted")
        except LedgerError as exc:
            fail(str(exc))
        except Exception as exc:  # the CLI never shows a traceback
            from ledger.settings import Settings

            if Settings().DATALEDGER_DEBUG:
                raise
            fail(one_line(exc))

    return wrapper  # type: ignore[return-value]


def one_line(exc: BaseException) -> str:
    from ledger.ipfs import IpfsError

    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, (IpfsError, FileNotFoundError, PermissionError)):
        return text
    mod = type(exc).__module__
    if mod.startswith("ledger.manifest") or type(exc).__name__ == "ManifestError":
        return text
    return f"{type(exc).__name__}: {text}"


def fail(message: str) -> None:
    err_console.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(1)


# ------------------------------------------------------------------ output


def emit(ctx: typer.Context, json_flag: bool, data: Any, human: Any = None) -> None:
    """``data`` as JSON (``--json`` on the command or globally), else ``human`` (or a table of ``data``)."""
    from ledger.contracts.base import jsonable

    if json_flag or cli(ctx).json:
        sys.stdout.write(json.dumps(jsonable(data), indent=2, sort_keys=True, default=str) + "\n")
        return
    if human is None:
        human = table(data) if isinstance(data, dict) else str(data)
    console.print(human)


def table(data: dict[str, Any], title: Optional[str] = None) -> Table:
    from ledger.contracts.base import jsonable

    out = Table(title=title, show_header=False, box=None)
    out.add_column("field", style="bold")
    out.add_column("value", overflow="fold")
    for key, value in data.items():
        value = jsonable(value)
        out.add_row(str(key), json.dumps(value) if isinstance(value, (dict, list)) else str(value))
    return out


def tx(ctx: typer.Context, json_flag: bool, result: TxResult, what: str) -> None:
    emit(ctx, json_flag, result.to_dict(), f"{what} (tx {result.tx_hash}, block {result.block_number})")


def when(value: Optional[str], default: int) -> int:
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
        from datetime import datetime

        dt = datetime.fromisoformat(text)
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=UTC)
        return int(dt.timestamp())
    except ValueError:
        raise InvalidInput(f"invalid time {value!r}: unix seconds, +7d / +12h / +30m, or an ISO date") from None
