"""Gateway settings (environment variables, or .env), pydantic-settings style."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

ROOT = Path(__file__).resolve().parent.parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    #: JSON-RPC endpoint of the chain (anvil locally; a Besu QBFT node in production).
    RPC_URL: str = "http://127.0.0.1:8545"
    #: Expected chain id; the gateway refuses a node that reports another.
    CHAIN_ID: int | None = None
    #: SQLAlchemy URL; SQLite by default, PostgreSQL for real use.
    DATABASE_URL: str = f"sqlite:///{ROOT / '.dataledger' / 'gateway.db'}"
    #: Kubo RPC API (e.g. http://127.0.0.1:5001) or, when unset, the embedded on-disk store.
    IPFS_API: str | None = None
    IPFS_STORE_DIR: Path = ROOT / ".dataledger" / "ipfs"
    #: Where deployment records live (<STATE_DIR>/deployments/<chainId>.json).
    STATE_DIR: Path = ROOT / ".dataledger"

    #: Private key of the gateway's relayer (pays gas of relayed ERC-2771 requests and settlements).
    #: Default: anvil's default-mnemonic account 19 (local chains only; its key is public).
    RELAYER_KEY: str | None = None
    #: HMAC secret of session tokens; unset: a random secret per process (sessions end on restart).
    SESSION_SECRET: str | None = None
    #: Lifetime of a session token (seconds) and of a sign-in nonce.
    SESSION_TTL: int = 8 * 3600
    SIWE_NONCE_TTL: int = 600
    #: EIP-4361 domain the gateway accepts; unset: the Host header of the request.
    SIWE_DOMAIN: str | None = None
    #: Token buckets: requests per second and burst, per client IP and per session.
    RATE_LIMIT_IP_PER_SECOND: float = 20.0
    RATE_LIMIT_IP_BURST: int = 60
    RATE_LIMIT_SESSION_PER_SECOND: float = 40.0
    RATE_LIMIT_SESSION_BURST: int = 120
    #: Set false to disable rate limiting (benchmarks).
    RATE_LIMIT_ENABLED: bool = True
    #: Anonymous read responses are re-served while the index position is unchanged, for at most
    #: this many seconds (gateway.core.respcache); 0 disables.
    RESPONSE_CACHE_SECONDS: float = 1.0
    #: /health re-uses the node's chain id and head block for this many seconds (one RPC round trip
    #: per probe otherwise).
    HEALTH_CHAIN_CACHE_SECONDS: float = 1.0


@lru_cache
def get_settings() -> Settings:
    return Settings()
