"""The relayer's transaction nonces shared by every gateway process over the database.

Several gateway replicas relaying with ONE relayer key would each count nonces locally
(ledger.tx.NonceManager) and sign two transactions with the same nonce: the second is refused by the
node ("replacement transaction underpriced") or replaces the first. :class:`SharedNonceManager`
hands out each nonce with one atomic statement on ``relayer_nonces`` (migration 0006)::

    UPDATE relayer_nonces SET next_nonce = max(next_nonce, <node's pending count>) + 1 ... RETURNING

PostgreSQL row-locks the row for the statement (SQLite takes its write lock), so two processes never
get the same nonce, and the node's pending count keeps the counter from falling behind
transactions sent with the key elsewhere. A nonce handed out but never broadcast (the process died
in between) would leave a gap that blocks every later transaction: when the counter is ahead of the
node's pending count and nothing was handed out for :data:`STALE_SECONDS`, it restarts from the
node's count (filling the gap). Release and resync follow NonceManager's rules.
"""

from __future__ import annotations

import time
from typing import Optional

from sqlalchemy import Connection, Engine, text
from web3 import Web3

from ledger.tx import NonceManager

#: a counter ahead of the node's pending count with no reservation for this long is a gap
STALE_SECONDS = 30.0


class SharedNonceManager(NonceManager):
    def __init__(self, w3: Web3, engine: Engine, chain_id: int) -> None:
        super().__init__(w3)
        self.engine = engine
        self.chain_id = int(chain_id)
        self._max = "GREATEST" if engine.dialect.name == "postgresql" else "MAX"

    def _pending(self, address: str) -> int:
        return int(self.w3.eth.get_transaction_count(address, "pending"))  # type: ignore[arg-type]

    def _ensure(self, conn: Connection, address: str, pending: int) -> None:
        conn.execute(text("INSERT INTO relayer_nonces (chain_id, address, next_nonce, updated_at) "
                          "VALUES (:c, :a, :n, :t) ON CONFLICT (chain_id, address) DO NOTHING"),
                     {"c": self.chain_id, "a": address, "n": pending, "t": time.time()})

    def reserve(self, address: str) -> int:
        address = Web3.to_checksum_address(address)
        pending = self._pending(address)
        now = time.time()
        with self._lock_for(address), self.engine.begin() as conn:
            self._ensure(conn, address, pending)
            nonce = conn.execute(text(
                f"UPDATE relayer_nonces SET next_nonce = CASE WHEN next_nonce > :p AND updated_at < :stale "
                f"THEN :p + 1 ELSE {self._max}(next_nonce, :p) + 1 END, updated_at = :t "
                f"WHERE chain_id = :c AND address = :a RETURNING next_nonce - 1"),
                {"p": pending, "stale": now - STALE_SECONDS, "t": now, "c": self.chain_id, "a": address}).scalar()
        assert nonce is not None
        return int(nonce)

    def release(self, address: str, nonce: int) -> None:
        """A reserved nonce that was definitely not broadcast: roll back when it was the last one
        handed out, else restart from the node's pending count at the next reserve."""
        address = Web3.to_checksum_address(address)
        with self.engine.begin() as conn:
            done = conn.execute(text("UPDATE relayer_nonces SET next_nonce = :n WHERE chain_id = :c AND "
                                     "address = :a AND next_nonce = :n + 1"),
                                {"n": nonce, "c": self.chain_id, "a": address}).rowcount
            if done != 1:
                conn.execute(text("UPDATE relayer_nonces SET next_nonce = 0 WHERE chain_id = :c AND address = :a"),
                             {"c": self.chain_id, "a": address})

    def resync(self, address: str) -> int:
        address = Web3.to_checksum_address(address)
        pending = self._pending(address)
        with self.engine.begin() as conn:
            self._ensure(conn, address, pending)
            value = conn.execute(text(f"UPDATE relayer_nonces SET next_nonce = {self._max}(next_nonce, :p) "
                                      f"WHERE chain_id = :c AND address = :a RETURNING next_nonce"),
                                 {"p": pending, "c": self.chain_id, "a": address}).scalar()
        return int(value or pending)

    def forget(self, address: Optional[str] = None) -> None:
        with self.engine.begin() as conn:
            if address is None:
                conn.execute(text("UPDATE relayer_nonces SET next_nonce = 0 WHERE chain_id = :c"), {"c": self.chain_id})
            else:
                conn.execute(text("UPDATE relayer_nonces SET next_nonce = 0 WHERE chain_id = :c AND address = :a"),
                             {"c": self.chain_id, "a": Web3.to_checksum_address(address)})

    def peek(self, address: str) -> Optional[int]:
        with self.engine.connect() as conn:
            value = conn.execute(text("SELECT next_nonce FROM relayer_nonces WHERE chain_id = :c AND address = :a"),
                                 {"c": self.chain_id, "a": Web3.to_checksum_address(address)}).scalar()
        return None if value is None else int(value)
