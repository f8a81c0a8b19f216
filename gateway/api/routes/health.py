"""Liveness and chain position."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel

from gateway.api.deps import SettingsDep, Web3Dep

router = APIRouter(tags=["health"])


class HealthPublic(BaseModel):
    status: str
    chain_id: int | None
    head_block: int | None
    indexed_block: int | None
    lag: int | None
    database: str
    ipfs: str
    contracts: dict[str, str]
    error: str | None = None


@router.get("/health", response_model=HealthPublic)
def health(request: Request, w3: Web3Dep, settings: SettingsDep) -> HealthPublic:
    deployment = getattr(request.app.state, "deployment", None) or {}
    contracts = {name: entry["address"] for name, entry in deployment.get("contracts", {}).items()}
    database = settings.DATABASE_URL.split(":", 1)[0]
    ipfs = settings.IPFS_API or f"embedded:{settings.IPFS_STORE_DIR}"
    try:
        chain_id = w3.eth.chain_id
        head = w3.eth.block_number
    except Exception as exc:  # the node is down: say so, with 200 so probes see the body
        return HealthPublic(status="degraded", chain_id=None, head_block=None, indexed_block=None,
                            lag=None, database=database, ipfs=ipfs, contracts=contracts,
                            error=f"chain unreachable: {exc}")
    return HealthPublic(status="ok", chain_id=chain_id, head_block=head, indexed_block=None,
                        lag=None, database=database, ipfs=ipfs, contracts=contracts)
