"""Every environment variable the SDK and the ``dataledger`` CLI read, in one place (pydantic-settings).

Relative defaults are relative to the working directory (``./.dataledger``) or to ``STATE_DIR``;
nothing defaults into the source checkout. The gateway's application settings
(``gateway.core.config.Settings``) and the development stack's (``dataledger.dev.settings``) extend
this class; no other module reads the environment.

    from ledger.settings import Settings
    s = Settings()                      # the environment (and ./.env)
    s = Settings(RPC_URL="http://...")  # explicit values win
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Optional

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_RPC_URL = "http://127.0.0.1:8545"
#: the state directory when STATE_DIR is unset: relative to the working directory
DEFAULT_STATE_DIR = Path(".dataledger")


class Settings(BaseSettings):
    """The library's and the CLI's settings (environment variable = field name)."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore",
                                      populate_by_name=True)

    # ------------------------------------------------------------ the chain and the deployment
    #: JSON-RPC endpoint of the chain (CLI: --rpc).
    RPC_URL: str = DEFAULT_RPC_URL
    #: Expected chain id; a node reporting another is refused (CLI: --chain-id).
    CHAIN_ID: Optional[int] = None
    #: State directory: deployment records (deployments/<chainId>.json), the embedded IPFS store, the
    #: SQLite index. Relative to the working directory. ``DATALEDGER_HOME`` is accepted as an alias.
    STATE_DIR: Path = Field(default=DEFAULT_STATE_DIR, validation_alias=AliasChoices("STATE_DIR", "DATALEDGER_HOME"))
    #: A deployment record file to use instead of <STATE_DIR>/deployments/<chainId>.json (CLI: --deployment).
    DATALEDGER_DEPLOYMENT: Optional[Path] = None
    #: A gateway whose GET /v1/contracts is used (checked against the chain) when there is no local
    #: record (CLI: --gateway).
    DATALEDGER_GATEWAY: Optional[str] = None

    #: TCP port of the gateway (``dataledger serve``; the dev stack's gateway).
    GATEWAY_PORT: int = 8000

    # ------------------------------------------------------------ storage
    #: SQLAlchemy URL of the index; unset: SQLite <STATE_DIR>/gateway.db (see :meth:`database_url`).
    DATABASE_URL: Optional[str] = None
    #: Kubo RPC API (e.g. http://127.0.0.1:5001); unset: the embedded store (see :meth:`ipfs_target`).
    IPFS_API: Optional[str] = None
    #: Directory of the embedded IPFS store; unset: <STATE_DIR>/ipfs. ``DATALEDGER_IPFS_DIR`` is an alias.
    IPFS_STORE_DIR: Optional[Path] = Field(default=None, validation_alias=AliasChoices("IPFS_STORE_DIR",
                                                                              "DATALEDGER_IPFS_DIR"))

    # ------------------------------------------------------------ accounts and keys
    #: Keystore name or address to act as (CLI: --account).
    DATALEDGER_ACCOUNT: Optional[str] = None
    #: Keystore directory; unset: ~/.dataledger/keystores (CLI: --keystore).
    DATALEDGER_KEYSTORE_DIR: Optional[Path] = None
    #: Password of the keystore (non-interactive use).
    DATALEDGER_PASSWORD: Optional[SecretStr] = None
    #: A hex private key to act as when no --account is given.
    DATALEDGER_PRIVATE_KEY: Optional[SecretStr] = None
    #: scrypt work factor of new keystores (tests lower it; default eth-account's 2**18).
    DATALEDGER_SCRYPT_N: Optional[int] = None

    # ------------------------------------------------------------ build and diagnostics
    #: Another contract artifacts directory of the shipped format (the coverage run's instrumented
    #: build); unset: the artifacts shipped in ledger/artifacts.
    DATALEDGER_ARTIFACTS_DIR: Optional[Path] = None
    #: Show tracebacks instead of the CLI's one-line errors.
    DATALEDGER_DEBUG: bool = False

    # ------------------------------------------------------------ derived values

    def database_url(self) -> str:
        """DATABASE_URL, else SQLite in the state directory."""
        return self.DATABASE_URL or f"sqlite:///{(self.STATE_DIR / 'gateway.db').resolve()}"

    def ipfs_dir(self) -> Path:
        """The embedded IPFS store's directory: IPFS_STORE_DIR, else <STATE_DIR>/ipfs."""
        return self.IPFS_STORE_DIR if self.IPFS_STORE_DIR is not None else self.STATE_DIR / "ipfs"

    def ipfs_target(self) -> str:
        """What :func:`ledger.ipfs.open_store` opens: IPFS_API (Kubo), else the embedded store's directory."""
        return self.IPFS_API or str(self.ipfs_dir())

    def keystore_dir(self) -> Path:
        given = self.DATALEDGER_KEYSTORE_DIR
        return given.expanduser() if given is not None else Path.home() / ".dataledger" / "keystores"

    def password(self) -> Optional[str]:
        return None if self.DATALEDGER_PASSWORD is None else self.DATALEDGER_PASSWORD.get_secret_value()

    def private_key(self) -> Optional[str]:
        key = self.DATALEDGER_PRIVATE_KEY
        return None if key is None or not key.get_secret_value() else key.get_secret_value()


@lru_cache(maxsize=1)
def process_settings() -> Settings:
    """The settings read once per process, for hot paths (the artifacts directory); everything else
    reads :class:`Settings` when it needs it (a value set later in the process is seen)."""
    return Settings()


def child_environment(**overrides: str) -> dict[str, str]:
    """This process's environment with ``overrides``: what a child process (the dev stack's gateway
    and indexer) is started with."""
    import os

    return {**os.environ, **overrides}


def env_value(name: str) -> Optional[str]:
    """The value of the environment variable ``name`` (None when unset), for the rare input whose
    variable the user names at run time (``dataledger wallet import --key-env NAME``)."""
    import os

    return os.environ.get(name)
