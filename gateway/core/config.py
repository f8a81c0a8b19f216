"""Gateway settings: the library's :class:`ledger.settings.Settings` (RPC_URL, CHAIN_ID, STATE_DIR,
DATABASE_URL, IPFS_API, IPFS_STORE_DIR, ...: environment variables, or .env) plus the application's
own (relay, sessions, sign-in, rate limits, caches, body limits). No other gateway module reads the
environment.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, model_validator

from ledger.settings import Settings as LedgerSettings


class Settings(LedgerSettings):
    """The gateway's settings. Relative to the working directory by default: the deployment record
    in <STATE_DIR>/deployments/<chainId>.json, SQLite <STATE_DIR>/gateway.db, the embedded IPFS
    store <STATE_DIR>/ipfs (or Kubo at IPFS_API)."""

    #: SQLAlchemy URL; unset: SQLite <STATE_DIR>/gateway.db (PostgreSQL for real use).
    DATABASE_URL: str = ""
    #: the embedded IPFS store's directory; unset: <STATE_DIR>/ipfs
    IPFS_STORE_DIR: Path = Field(default=Path(), validation_alias=AliasChoices("IPFS_STORE_DIR", "DATALEDGER_IPFS_DIR"))
    #: Several Kubo RPC APIs (a JSON list): uploads are pinned on every one, /health shows CIDs
    #: recorded on chain that some node does not pin, and ``python -m gateway.services.replication
    #: repair`` re-pins them (gateway.services.replication). Takes precedence over IPFS_API.
    IPFS_APIS: list[str] = []
    #: /health recomputes the replication report (one pin list per node) at most this often.
    IPFS_REPLICATION_CHECK_SECONDS: float = 30.0

    @model_validator(mode="before")
    @classmethod
    def _unset_is_derived(cls, data: Any) -> Any:
        if isinstance(data, dict):  # an explicit None means "derive it", as unset does
            return {k: v for k, v in data.items() if not (k in ("DATABASE_URL", "IPFS_STORE_DIR") and v is None)}
        return data

    @model_validator(mode="after")
    def _derived(self) -> Settings:
        if not self.DATABASE_URL:
            self.DATABASE_URL = self.database_url()
        if self.IPFS_STORE_DIR == Path():
            self.IPFS_STORE_DIR = self.STATE_DIR / "ipfs"
        return self

    def ipfs_dir(self) -> Path:
        return self.IPFS_STORE_DIR

    #: Private key of the gateway's relayer (pays gas of relayed ERC-2771 requests and settlements).
    #: Required outside the local chain (id 31337), and never one of the public development keys;
    #: on the local chain only, unset means anvil's default-mnemonic account 19 (gateway.core.devkeys).
    RELAYER_KEY: str | None = None
    #: HMAC secret of session tokens (at least 32 characters). Required outside the local chain;
    #: on the local chain only, unset means a random secret per process (sessions end on restart).
    SESSION_SECRET: str | None = None
    #: Lifetime of a session token (seconds) and of a sign-in nonce.
    SESSION_TTL: int = 8 * 3600
    SIWE_NONCE_TTL: int = 600
    #: EIP-4361 domain and URI the gateway accepts (configuration only: the Host header is never
    #: used). Required outside the local chain; on the local chain unset means 127.0.0.1:8000.
    SIWE_DOMAIN: str | None = None
    SIWE_URI: str | None = None
    #: The chain node URL offered to browser wallets (``wallet_addEthereumChain`` from the web pages,
    #: ``/v1/actions/chain``): a URL the public may reach. Unset: none is offered, except the
    #: gateway's own RPC_URL on the local development chain (31337); RPC_URL (an internal address)
    #: is never given out otherwise.
    PUBLIC_RPC_URL: str | None = None
    #: Token buckets: requests per second and burst, per client IP and per session.
    RATE_LIMIT_IP_PER_SECOND: float = 20.0
    RATE_LIMIT_IP_BURST: int = 60
    RATE_LIMIT_SESSION_PER_SECOND: float = 40.0
    RATE_LIMIT_SESSION_BURST: int = 120
    #: Sign-in (nonce and login) per client IP, on top of the IP bucket.
    RATE_LIMIT_SIGNIN_PER_SECOND: float = 0.5
    RATE_LIMIT_SIGNIN_BURST: int = 10
    #: Buckets kept in memory per kind; when full, idle (refilled) buckets are evicted oldest first
    #: and, if none is idle, new clients share one overflow bucket (a live bucket is never reset).
    RATE_LIMIT_MAX_BUCKETS: int = 100_000
    #: Where the buckets live: ``database`` (table rate_limit_buckets: every gateway replica over the
    #: database shares them), ``memory`` (per process), ``auto`` (the database on PostgreSQL).
    RATE_LIMIT_STORE: Literal["auto", "database", "memory"] = "auto"
    #: Set false to disable rate limiting (benchmarks).
    RATE_LIMIT_ENABLED: bool = True
    #: Anonymous read responses are re-served while the index position is unchanged, for at most
    #: this many seconds (gateway.core.respcache); 0 disables.
    RESPONSE_CACHE_SECONDS: float = 1.0
    #: /health re-uses the node's chain id and head block for this many seconds (one RPC round trip
    #: per probe otherwise).
    HEALTH_CHAIN_CACHE_SECONDS: float = 1.0

    #: Request bodies: the global cap (bytes), per-route caps (path prefix -> bytes, longest prefix
    #: wins) and the deepest JSON nesting accepted; checked before any parsing (413 / 400).
    BODY_MAX_BYTES: int = 64 * 1024
    BODY_LIMITS: dict[str, int] = {"/v1/auth/": 8 * 1024, "/v1/relay/": 32 * 1024,
                                   "/v1/manifests": (1 << 20) + 64 * 1024}
    JSON_MAX_DEPTH: int = 32

    #: Relay: call data and gas caps of one relayed request.
    RELAY_MAX_CALLDATA_BYTES: int = 4096
    RELAY_MAX_GAS: int = 1_500_000
    #: Worker threads of the relay (its own pool: relays never occupy the readers' threadpool).
    RELAY_WORKERS: int = 4
    #: Relay budgets per signer and per client IP: requests and gas (the requests' gas limits) per
    #: period of RELAY_BUDGET_PERIOD seconds. Kept in the database (table relay_budgets), so every
    #: gateway process over the same database shares them.
    RELAY_BUDGET_PERIOD: int = 3600
    RELAY_BUDGET_SIGNER_REQUESTS: int = 120
    RELAY_BUDGET_SIGNER_GAS: int = 60_000_000
    RELAY_BUDGET_IP_REQUESTS: int = 600
    RELAY_BUDGET_IP_GAS: int = 300_000_000


#: The local development chain (anvil / hardhat): the only chain with development defaults.
LOCAL_CHAIN_ID = 31337


class ConfigError(RuntimeError):
    """The settings are not safe for the chain: the gateway refuses to start (one-line reason)."""


def is_local(chain_id: int | None) -> bool:
    return chain_id == LOCAL_CHAIN_ID


def check_startup(settings: Settings, chain_id: int | None) -> None:
    """Refuse development defaults outside the local chain (``chain_id`` None: not known yet)."""
    if chain_id is None or is_local(chain_id):
        return
    missing = [name for name in ("SIWE_DOMAIN", "SIWE_URI", "RELAYER_KEY", "SESSION_SECRET")
               if not getattr(settings, name)]
    if missing:
        raise ConfigError(f"chain {chain_id} is not the local chain {LOCAL_CHAIN_ID}: set {', '.join(missing)}")
    if len(settings.SESSION_SECRET or "") < 32:
        raise ConfigError(f"SESSION_SECRET must be at least 32 characters on chain {chain_id}")
    from eth_account import Account

    from gateway.core.devkeys import is_dev_key

    try:
        Account.from_key(settings.RELAYER_KEY or "")
    except Exception:  # any malformed key
        raise ConfigError("RELAYER_KEY is not a valid private key") from None
    if is_dev_key(settings.RELAYER_KEY or ""):
        raise ConfigError(f"RELAYER_KEY is a public development key; refused on chain {chain_id}")


def siwe_domain(settings: Settings) -> str:
    return settings.SIWE_DOMAIN or "127.0.0.1:8000"


def siwe_uri(settings: Settings) -> str:
    return settings.SIWE_URI or f"http://{siwe_domain(settings)}/"


def relayer_key(settings: Settings, chain_id: int | None) -> str:
    """The relayer's key for ``chain_id``: RELAYER_KEY, or on the local chain only a dev key."""
    if settings.RELAYER_KEY:
        if not is_local(chain_id):
            from gateway.core.devkeys import is_dev_key

            if is_dev_key(settings.RELAYER_KEY):
                raise ConfigError(f"RELAYER_KEY is a public development key; refused on chain {chain_id}")
        return settings.RELAYER_KEY
    if not is_local(chain_id):
        raise ConfigError(f"RELAYER_KEY is not set (chain {chain_id})")
    from gateway.core.devkeys import dev_key

    return dev_key(19)


@lru_cache
def get_settings() -> Settings:
    return Settings()
