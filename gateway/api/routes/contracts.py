"""The deployment this gateway serves: ``GET /v1/contracts``.

Chain id, and for every contract of the deployment record its address, deploy block and ABI (the
ABIs shipped with this gateway's SDK, ``ledger/artifacts``). A client with only the gateway's URL
learns from it what to talk to; a verifier does not trust it as served: ``dataledger verify``
checks every address against the chain (code equal to the shipped artifact, contracts wired to each
other, exact deploy block; gateway/verify/deployment.py).
"""

from __future__ import annotations

from typing import Any, Optional

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field

from gateway.api.common import ERRORS
from ledger.deployment import Deployment as LedgerDeployment

router = APIRouter(prefix="/v1/contracts", tags=["contracts"], responses=ERRORS)


class ContractEntry(BaseModel):
    address: str = Field(description="checksummed contract address")
    deploy_block: int = Field(description="block of the deployment transaction (events start there)")
    abi: list[dict[str, Any]] = Field(description="the contract's ABI (Solidity compiler output)")


class Deployment(BaseModel):
    chain_id: int
    contracts: dict[str, ContractEntry]


@router.get("", response_model=Deployment, responses={503: {"description": "no deployment record loaded"}})
def get_contracts(request: Request) -> Deployment:
    """Chain id, and each contract's address, deploy block and ABI."""
    state = request.app.state
    record: Optional[LedgerDeployment] = getattr(state, "deployment", None)
    chain_id: Optional[int] = getattr(state, "chain_id", None)
    if record is None or chain_id is None:
        raise HTTPException(503, "this gateway has no deployment record for its chain (STATE_DIR/deployments/"
                                 "<chainId>.json) or cannot reach its node: it cannot say which contracts it serves")
    served = record.to_api()
    contracts = {name: ContractEntry(**entry) for name, entry in served["contracts"].items()}
    return Deployment(chain_id=int(chain_id), contracts=contracts)
