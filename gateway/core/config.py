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


@lru_cache
def get_settings() -> Settings:
    return Settings()
