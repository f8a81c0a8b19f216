"""Read-your-writes: where a transaction stands, for the API.

    tx_status(rpc_url_or_rpc, engine, tx_hash) -> TxStatus(state, block_number, block_hash, detail)

``state`` is one of:

- ``unknown``: the node knows no such transaction;
- ``pending``: in the node's pool, or mined but not yet indexed (``block_number`` then says where:
  the API can tell the client to retry shortly);
- ``indexed``: mined in block N and the index has reached N (its events, if any, are queryable);
- ``reverted``: mined in block N with status 0 (no events, nothing to index).

The node answers for the chain; the database answers for the index. A receipt in a block the
index holds with another hash (a reorg not processed yet) counts as pending.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Union

from sqlalchemy import Engine, text

from ledger.rpc import RpcClient

UNKNOWN, PENDING, INDEXED, REVERTED = "unknown", "pending", "indexed", "reverted"


@dataclass(frozen=True)
class TxStatus:
    tx_hash: str
    state: str
    block_number: Optional[int] = None
    block_hash: Optional[str] = None
    detail: str = ""


def tx_status(rpc: Union[str, RpcClient], engine: Engine, tx_hash: str) -> TxStatus:
    tx_hash = tx_hash.lower()
    own = isinstance(rpc, str)
    client = RpcClient(rpc, timeout=10) if isinstance(rpc, str) else rpc
    try:
        receipt = client.call("eth_getTransactionReceipt", [tx_hash])
        if receipt is None:
            tx = client.call("eth_getTransactionByHash", [tx_hash])
            if tx is None:
                return TxStatus(tx_hash, UNKNOWN, detail="the node knows no such transaction")
            return TxStatus(tx_hash, PENDING, detail="in the transaction pool, not mined yet")
        block = int(receipt["blockNumber"], 16)
        block_hash = str(receipt["blockHash"]).lower()
        if int(receipt.get("status", "0x1"), 16) == 0:
            return TxStatus(tx_hash, REVERTED, block, block_hash, "mined and reverted: nothing to index")
        with engine.connect() as conn:
            row = conn.execute(text("SELECT last_block, last_block_hash FROM indexer_state WHERE id = 1")).first()
            indexed_hash = conn.execute(text("SELECT hash FROM blocks WHERE number = :n"), {"n": block}).scalar()
        if row is None or int(row[0]) < block:
            return TxStatus(tx_hash, PENDING, block, block_hash,
                            f"mined in block {block}, index at block {row[0] if row else -1}")
        if indexed_hash is not None and indexed_hash != block_hash:
            return TxStatus(tx_hash, PENDING, block, block_hash, "the index holds another fork of this block")
        return TxStatus(tx_hash, INDEXED, block, block_hash, f"indexed at block {block}")
    finally:
        if own:
            client.close()


_engines: dict[str, Engine] = {}


def indexed_block(database_url: str) -> Optional[int]:
    """The index checkpoint (last fully indexed block) of ``database_url``; None when the database
    or the indexer state does not exist yet. Never creates a database (the /health probe uses it)."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from gateway.indexer.store import make_engine

    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and (not url.database or not Path(url.database).exists()):
        return None
    engine = _engines.get(database_url)
    if engine is None:
        engine = _engines[database_url] = make_engine(database_url, pool_pre_ping=True) \
            if url.get_backend_name() != "sqlite" else make_engine(database_url)
    try:
        with engine.connect() as conn:
            value = conn.execute(text("SELECT last_block FROM indexer_state WHERE id = 1")).scalar()
    except Exception:  # no table yet, or the database is down: /health says "not indexed"
        return None
    return None if value is None else int(value)
