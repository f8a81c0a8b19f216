"""Read-your-writes: where a transaction stands (unknown / pending / indexed / reverted).

Relayed transactions are not awaited by the relay: clients poll here. A reverted transaction is
replayed at its block to recover the decoded reason (for a relayed ForwardRequest, the forwarded
call as the signer, since the forwarder does not bubble the target's error).
"""

from __future__ import annotations

from typing import Annotated, Any, Optional

from fastapi import APIRouter, Path, Request
from pydantic import BaseModel
from web3.exceptions import ContractLogicError, Web3RPCError

from gateway.api.common import ERRORS
from gateway.api.deps import EngineDep, SettingsDep
from gateway.core.errors import ApiError, jsonable, revert_response
from gateway.indexer.status import INDEXED, PENDING, REVERTED, tx_status
from ledger.errors import as_revert
from ledger.rpc import NodeUnavailable, RpcError

router = APIRouter(prefix="/v1/tx", tags=["tx"], responses=ERRORS)


class RevertReason(BaseModel):
    error: str
    reason: str
    values: dict[str, Any] = {}


class TxStatusPublic(BaseModel):
    tx_hash: str
    #: unknown | pending (in the pool, or mined and not indexed yet) | indexed | reverted
    state: str
    #: mined with status 1 (indexed, or mined and awaiting the indexer)
    confirmed: bool = False
    block_number: Optional[int] = None
    block_hash: Optional[str] = None
    detail: str = ""
    revert: Optional[RevertReason] = None


_GENERIC = {"FailedCall", "FailedInnerCall", "Reverted"}


def _decode_revert(request: Request, settings: Any, tx_hash: str, block: int) -> Optional[RevertReason]:
    from gateway.api.routes.relay import relayer

    try:
        ledger = relayer(request, settings)
        w3 = ledger.w3
        tx = w3.eth.get_transaction(tx_hash)  # type: ignore[arg-type]
        fwd = ledger.forwarder
        outer: dict[str, Any] = {"from": tx["from"], "to": tx["to"], "data": tx["input"], "value": tx["value"]}
        calls: list[dict[str, Any]] = [outer]
        if str(tx["to"]).lower() == fwd.address.lower():
            # the forwarder reports a failed target call without its reason: replay that call too
            _fn, args = fwd.contract.decode_function_input(tx["input"])
            fr = args["request"]
            if not isinstance(fr, dict):  # a plain tuple in the ABI's order
                fr = dict(zip(("from", "to", "value", "gas", "deadline", "data", "signature"), fr))
            calls.append({"from": fwd.address, "to": fr["to"],
                          "data": bytes(fr["data"]) + bytes.fromhex(str(fr["from"])[2:]), "value": fr["value"]})
        # replayed on the state and header of its block: what made it fail is there (a deadline
        # passed, a nonce used by an earlier transaction of the block)
        for call in calls:
            try:
                w3.eth.call(call, block)  # type: ignore[arg-type]
            except (ContractLogicError, Web3RPCError) as exc:
                revert = as_revert(exc, None, tx_hash)
                if revert is not None and revert.name not in _GENERIC:
                    _status, payload = revert_response(revert)
                    return RevertReason(error=payload["error"], reason=payload["reason"],
                                        values=jsonable(payload["values"]))
        return RevertReason(error="Reverted", reason="the transaction reverted; replaying it at its block gives "
                            "no decodable reason")
    except ApiError:
        return None
    except Exception:  # the reason is best effort; the state stands
        return None


@router.get("/{tx_hash}", response_model=TxStatusPublic)
def get_tx(tx_hash: Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{64}$")], request: Request, engine: EngineDep,
           settings: SettingsDep) -> TxStatusPublic:
    try:
        st = tx_status(settings.RPC_URL, engine, tx_hash)
    except (NodeUnavailable, RpcError, OSError) as exc:
        raise ApiError(503, "NodeUnavailable", f"the chain node does not answer: {exc}") from None
    revert = _decode_revert(request, settings, st.tx_hash, st.block_number) \
        if st.state == REVERTED and st.block_number is not None else None
    confirmed = st.state == INDEXED or (st.state == PENDING and st.block_number is not None)
    return TxStatusPublic(tx_hash=st.tx_hash, state=st.state, confirmed=confirmed, block_number=st.block_number,
                          block_hash=st.block_hash, detail=st.detail, revert=revert)
