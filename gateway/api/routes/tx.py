"""Read-your-writes: where a transaction stands (unknown / pending / indexed / reverted)."""

from __future__ import annotations

from typing import Annotated, Optional

from fastapi import APIRouter, Path
from pydantic import BaseModel

from gateway.api.common import ERRORS
from gateway.api.deps import EngineDep, SettingsDep
from gateway.core.errors import ApiError
from gateway.indexer.rpc import NodeUnavailable, RpcError
from gateway.indexer.status import tx_status

router = APIRouter(prefix="/v1/tx", tags=["tx"], responses=ERRORS)


class TxStatusPublic(BaseModel):
    tx_hash: str
    state: str
    block_number: Optional[int] = None
    block_hash: Optional[str] = None
    detail: str = ""


@router.get("/{tx_hash}", response_model=TxStatusPublic)
def get_tx(tx_hash: Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{64}$")], engine: EngineDep,
           settings: SettingsDep) -> TxStatusPublic:
    try:
        st = tx_status(settings.RPC_URL, engine, tx_hash)
    except (NodeUnavailable, RpcError, OSError) as exc:
        raise ApiError(503, "NodeUnavailable", f"the chain node does not answer: {exc}") from None
    return TxStatusPublic(tx_hash=st.tx_hash, state=st.state, block_number=st.block_number,
                          block_hash=st.block_hash, detail=st.detail)
