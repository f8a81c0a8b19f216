"""The relayer's transaction nonces shared by every gateway process over the database.

Several gateway replicas relaying with ONE relayer key would each count nonces locally
(ledger.tx.NonceManager) and sign two transactions with the same nonce: the second is refused by the
node ("replacement transaction underpriced") or replaces the first. :class:`SharedNonceManager`
keeps the key's next nonce in ``relayer_nonces`` (migration 0006):

- the relay sends inside :meth:`SharedNonceManager.turn`: one database transaction holding the
  key's row lock (``SELECT ... FOR UPDATE``; SQLite's write lock) from the nonce's reservation
  through signing and broadcasting. The nonce is ``max(stored next nonce, the node's pending
  count)`` and the stored value moves on only when the turn ends, so no two processes ever hold
  the same nonce and a nonce that was never broadcast is never skipped (release rolls it back
  inside the turn; a process dying mid-turn rolls back the whole transaction). The node's pending
  count keeps the counter up with transactions sent with the key elsewhere; the stored value
  covers RPC nodes whose pools have not seen another replica's transaction yet;
- outside a turn, :meth:`reserve` is one atomic ``UPDATE ... RETURNING`` (distinct nonces, no
  ordering with the broadcast).

A stored value ahead of the node's pending count with no reservation for :data:`STALE_SECONDS`
(a transaction dropped from every pool) restarts from the node's count, filling the gap.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
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
        self._turn = threading.local()

    def _pending(self, address: str) -> int:
        return int(self.w3.eth.get_transaction_count(address, "pending"))  # type: ignore[arg-type]

    def _ensure(self, conn: Connection, address: str, pending: int) -> None:
        conn.execute(text("INSERT INTO relayer_nonces (chain_id, address, next_nonce, updated_at) "
                          "VALUES (:c, :a, :n, :t) ON CONFLICT (chain_id, address) DO NOTHING"),
                     {"c": self.chain_id, "a": address, "n": pending, "t": time.time()})

    @contextmanager
    def turn(self, address: str) -> Iterator[None]:
        """Hold the key's nonce row (all processes) while one transaction is signed and sent."""
        address = Web3.to_checksum_address(address)
        with self.engine.begin() as conn:
            self._ensure(conn, address, self._pending(address))
        with self._lock_for(address), self.engine.begin() as conn:
            lock = " FOR UPDATE" if self.engine.dialect.name == "postgresql" else ""
            if not lock:  # SQLite: take the write lock now (a no-op write)
                conn.execute(text("UPDATE relayer_nonces SET updated_at = updated_at WHERE chain_id = :c AND "
                                  "address = :a"), {"c": self.chain_id, "a": address})
            conn.execute(text(f"SELECT next_nonce FROM relayer_nonces WHERE chain_id = :c AND address = :a{lock}"),
                         {"c": self.chain_id, "a": address})
            self._turn.conn = conn
            try:
                yield
            finally:
                self._turn.conn = None

    def _turn_conn(self) -> Optional[Connection]:
        conn: Optional[Connection] = getattr(self._turn, "conn", None)
        return conn

    def reserve(self, address: str) -> int:
        address = Web3.to_checksum_address(address)
        pending = self._pending(address)
        now = time.time()
        held = self._turn_conn()
        if held is not None:
            return self._take(held, address, pending, now)
        with self._lock_for(address), self.engine.begin() as conn:
            self._ensure(conn, address, pending)
            return self._take(conn, address, pending, now)

    def _take(self, conn: Connection, address: str, pending: int, now: float) -> int:
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
        held = self._turn_conn()
        if held is not None:
            self._release(held, address, nonce)
            return
        with self.engine.begin() as conn:
            self._release(conn, address, nonce)

    def _release(self, conn: Connection, address: str, nonce: int) -> None:
        done = conn.execute(text("UPDATE relayer_nonces SET next_nonce = :n WHERE chain_id = :c AND "
                                 "address = :a AND next_nonce = :n + 1"),
                            {"n": nonce, "c": self.chain_id, "a": address}).rowcount
        if done != 1:
            conn.execute(text("UPDATE relayer_nonces SET next_nonce = 0 WHERE chain_id = :c AND address = :a"),
                         {"c": self.chain_id, "a": address})

    def resync(self, address: str) -> int:
        address = Web3.to_checksum_address(address)
        pending = self._pending(address)
        held = self._turn_conn()
        if held is not None:
            return self._resync(held, address, pending)
        with self.engine.begin() as conn:
            self._ensure(conn, address, pending)
            return self._resync(conn, address, pending)

    def _resync(self, conn: Connection, address: str, pending: int) -> int:
        value = conn.execute(text(f"UPDATE relayer_nonces SET next_nonce = {self._max}(next_nonce, :p) "
                                  f"WHERE chain_id = :c AND address = :a RETURNING next_nonce"),
                             {"p": pending, "c": self.chain_id, "a": address}).scalar()
        return int(value if value is not None else pending)

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
