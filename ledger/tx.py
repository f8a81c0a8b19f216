"""Safe transaction sending: local nonces, gas estimation first, retries that never send twice.

* :class:`NonceManager` hands out nonces per account under a lock (thread-safe, several
  concurrent senders from one key get distinct nonces) and resyncs from the node's pending count
  after a "nonce too low".
* :class:`TxSender` estimates gas BEFORE a nonce is taken: a transaction that would revert is
  decoded into :class:`~ledger.errors.ContractRevert` and never sent (no gas spent, nonce
  untouched). It signs once, computes the tx hash from the signed raw bytes, and a retry after a
  network error rebroadcasts the SAME bytes and looks for the receipt of THAT hash. It re-signs
  with a fresh nonce only when the node proves the old nonce was consumed by another transaction
  (ours can then never be mined).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional

from eth_account.signers.local import LocalAccount
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3RPCError

from ledger.errors import (
    ContractRevert,
    NonceConflict,
    TxError,
    TxTimeout,
    as_revert,
)

GAS_MARGIN = 1.25  # estimated gas * margin (storage refunds, concurrent state changes)
_NONCE_TOO_LOW = ("nonce too low", "nonce is too low", "oldnonce", "old nonce", "nonce has already been used")
_ALREADY_KNOWN = ("already known", "known transaction", "already imported", "alreadyknown")


def _message(exc: BaseException) -> str:
    if isinstance(exc, Web3RPCError) and isinstance(exc.rpc_response, dict):
        err = exc.rpc_response.get("error")
        if isinstance(err, dict):
            return str(err.get("message", exc))
    return str(exc)


class NonceManager:
    """Per-account nonces reserved locally; one instance may be shared by many threads/ledgers."""

    def __init__(self, w3: Web3) -> None:
        self.w3 = w3
        self._lock = threading.Lock()
        self._account_locks: dict[str, threading.Lock] = {}
        self._next: dict[str, int] = {}

    def _lock_for(self, address: str) -> threading.Lock:
        with self._lock:
            return self._account_locks.setdefault(address, threading.Lock())

    def reserve(self, address: str) -> int:
        """The next nonce for ``address`` (first use: the node's pending transaction count)."""
        address = Web3.to_checksum_address(address)
        with self._lock_for(address):
            if address not in self._next:
                self._next[address] = self.w3.eth.get_transaction_count(address, "pending")
            nonce = self._next[address]
            self._next[address] = nonce + 1
            return nonce

    def release(self, address: str, nonce: int) -> None:
        """Give back a reserved nonce that was definitely NOT broadcast.

        Rolls back when it was the last one handed out; otherwise forgets the account so the next
        reserve resyncs from the node (a gap would block every later transaction).
        """
        address = Web3.to_checksum_address(address)
        with self._lock_for(address):
            if self._next.get(address) == nonce + 1:
                self._next[address] = nonce
            else:
                self._next.pop(address, None)

    def resync(self, address: str) -> int:
        """Forget the local counter and re-read the node's pending count."""
        address = Web3.to_checksum_address(address)
        with self._lock_for(address):
            node = self.w3.eth.get_transaction_count(address, "pending")
            # never go below what this process already handed out (other threads hold those)
            self._next[address] = max(node, self._next.get(address, 0))
            return self._next[address]

    def forget(self, address: Optional[str] = None) -> None:
        """Drop the local counter(s): the next reserve re-reads the node (e.g. after a chain revert)."""
        with self._lock:
            if address is None:
                self._next.clear()
            else:
                self._next.pop(Web3.to_checksum_address(address), None)

    def peek(self, address: str) -> Optional[int]:
        return self._next.get(Web3.to_checksum_address(address))


@dataclass
class FeePolicy:
    """How fees are set: ``auto`` picks gasPrice 0 on zero-price networks (Besu free gas),
    EIP-1559 when the head block has a base fee, legacy otherwise."""

    mode: str = "auto"  # auto | legacy | eip1559 | zero
    _resolved: Optional[str] = field(default=None, repr=False)

    def fields(self, w3: Web3) -> dict[str, int]:
        mode = self._resolved or self._resolve(w3)
        if mode == "zero":
            return {"gasPrice": 0}
        if mode == "legacy":
            return {"gasPrice": int(w3.eth.gas_price)}
        base = int(w3.eth.get_block("latest").get("baseFeePerGas") or 0)
        try:
            tip = int(w3.eth.max_priority_fee)
        except Exception:  # not every node has eth_maxPriorityFeePerGas
            tip = 10**9
        return {"maxFeePerGas": 2 * base + tip, "maxPriorityFeePerGas": tip}

    def _resolve(self, w3: Web3) -> str:
        mode = self.mode
        if mode == "auto":
            if int(w3.eth.gas_price) == 0:
                mode = "zero"
            else:
                block = w3.eth.get_block("latest")
                mode = "eip1559" if block.get("baseFeePerGas") is not None else "legacy"
        self._resolved = mode
        return mode


@dataclass
class SentTx:
    """A mined, successful transaction."""

    tx_hash: str
    receipt: Any
    nonce: int

    @property
    def block_number(self) -> int:
        return int(self.receipt["blockNumber"])

    @property
    def gas_used(self) -> int:
        return int(self.receipt["gasUsed"])


class TxSender:
    """Signs and sends transactions of ONE LocalAccount safely (see module docstring)."""

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount,
        nonces: Optional[NonceManager] = None,
        chain_id: Optional[int] = None,
        fees: Optional[FeePolicy] = None,
        timeout: float = 120.0,
        poll: float = 0.1,
        broadcast_attempts: int = 5,
        resign_attempts: int = 3,
        broadcast: Optional[Callable[[bytes], Any]] = None,
    ) -> None:
        self.w3 = w3
        self.account = account
        self.nonces = nonces or NonceManager(w3)
        self.chain_id = chain_id if chain_id is not None else int(w3.eth.chain_id)
        self.fees = fees or FeePolicy()
        self.timeout = timeout
        self.poll = poll
        self.broadcast_attempts = broadcast_attempts
        self.resign_attempts = resign_attempts
        # hook for tests: how raw bytes reach the node
        self._broadcast = broadcast or (lambda raw: self.w3.eth.send_raw_transaction(raw))

    @property
    def address(self) -> str:
        return str(self.account.address)

    # ------------------------------------------------------------ building

    def estimate(self, tx: dict[str, Any], contract: Optional[str] = None) -> int:
        """eth_estimateGas; a would-be revert raises the decoded ContractRevert (nothing is sent)."""
        probe = {k: v for k, v in tx.items() if k in ("from", "to", "data", "value")}
        probe.setdefault("from", self.address)
        try:
            return int(self.w3.eth.estimate_gas(probe))  # type: ignore[arg-type]
        except (ContractLogicError, Web3RPCError) as exc:
            revert = as_revert(exc, contract)
            if revert is not None:
                raise revert from None
            raise TxError(f"gas estimation failed: {_message(exc)}") from None

    def prepare(self, tx: dict[str, Any], contract: Optional[str] = None) -> dict[str, Any]:
        """Fill from/chainId/gas/fees (no nonce yet). Raises ContractRevert when it would revert."""
        tx = dict(tx)
        tx["from"] = self.address
        tx.setdefault("value", 0)
        tx["chainId"] = self.chain_id
        if "gas" not in tx:
            tx["gas"] = int(self.estimate(tx, contract) * GAS_MARGIN) + 10_000
        if "gasPrice" not in tx and "maxFeePerGas" not in tx:
            tx.update(self.fees.fields(self.w3))
        return tx

    # ------------------------------------------------------------ sending

    def send(self, tx: dict[str, Any], contract: Optional[str] = None, wait: bool = True) -> SentTx:
        """Estimate, reserve a nonce, sign once, broadcast (retrying the same bytes), await receipt."""
        prepared = self.prepare(tx, contract)
        for _ in range(self.resign_attempts):
            nonce = self.nonces.reserve(self.address)
            signed = self.account.sign_transaction({**prepared, "nonce": nonce})
            raw = bytes(signed.raw_transaction)
            tx_hash = "0x" + keccak(raw).hex()
            outcome = self._broadcast_raw(raw, tx_hash, nonce)
            if outcome == "resign":
                continue
            if not wait:
                return SentTx(tx_hash, None, nonce)
            receipt = self.wait(tx_hash)
            if int(receipt["status"]) != 1:
                raise self._explain_failure(prepared, receipt, tx_hash, contract)
            return SentTx(tx_hash, receipt, nonce)
        raise NonceConflict(
            f"nonce of {self.address} kept being taken by other transactions ({self.resign_attempts} tries)"
        )

    def _broadcast_raw(self, raw: bytes, tx_hash: str, nonce: int) -> str:
        """'sent' once the node has the tx (or it is mined); 'resign' when the nonce was provably
        taken by another tx. Raises TxError when it could not be delivered."""
        possibly_sent = False
        last_error: Optional[BaseException] = None
        for attempt in range(self.broadcast_attempts):
            try:
                self._broadcast(raw)
                return "sent"
            except Web3RPCError as exc:
                text = _message(exc).lower()
                if any(s in text for s in _ALREADY_KNOWN):
                    return "sent"
                if any(s in text for s in _NONCE_TOO_LOW):
                    if self._receipt_or_none(tx_hash) is not None:
                        return "sent"  # ours was mined by an earlier attempt
                    mined = self.w3.eth.get_transaction_count(self.account.address, "latest")
                    if mined > nonce and self._receipt_or_none(tx_hash) is None:
                        # The nonce is consumed on chain by a tx that is not ours: ours can never
                        # be mined, so re-signing with a fresh nonce cannot send twice.
                        self.nonces.resync(self.address)
                        return "resign"
                    # Taken only in the pool (maybe by our own earlier attempt): keep waiting.
                    if possibly_sent:
                        return "sent"
                    self.nonces.resync(self.address)
                    return "resign"
                revert = as_revert(exc)
                if revert is not None and not possibly_sent:
                    self.nonces.release(self.address, nonce)
                    raise revert from None
                if not possibly_sent:
                    # Definitive rejection by the node (fee, balance, ...): the nonce is unused.
                    self.nonces.release(self.address, nonce)
                    raise TxError(f"node rejected the transaction: {_message(exc)}") from None
                last_error = exc
            except Exception as exc:  # transport errors: the node may have it
                possibly_sent = True
                last_error = exc
            if self._receipt_or_none(tx_hash) is not None or self._known(tx_hash):
                return "sent"
            time.sleep(min(0.2 * 2**attempt, 2.0))
        raise TxError(
            f"could not deliver transaction {tx_hash} after {self.broadcast_attempts} attempts: "
            f"{last_error} (it may still be mined; nonce {nonce} is reserved)",
            tx_hash,
        )

    def _receipt_or_none(self, tx_hash: str) -> Any:
        try:
            return self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        except TransactionNotFound:
            return None
        except Exception:  # transport down: unknown
            return None

    def _known(self, tx_hash: str) -> bool:
        try:
            self.w3.eth.get_transaction(HexBytes(tx_hash))
            return True
        except Exception:
            return False

    def wait(self, tx_hash: str, timeout: Optional[float] = None) -> Any:
        """Poll for the receipt of ``tx_hash``; TxTimeout (carrying the hash) after ``timeout``."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            receipt = self._receipt_or_none(tx_hash)
            if receipt is not None:
                return receipt
            if time.monotonic() >= deadline:
                raise TxTimeout(f"no receipt for {tx_hash} within {timeout or self.timeout:.0f}s "
                                "(it may still be mined)", tx_hash)
            time.sleep(self.poll)

    def _explain_failure(self, tx: dict[str, Any], receipt: Any, tx_hash: str,
                         contract: Optional[str]) -> ContractRevert:
        """Replay a reverted tx as eth_call at its block to recover the revert data."""
        call = {k: tx[k] for k in ("from", "to", "data", "value") if k in tx}
        try:
            self.w3.eth.call(call, int(receipt["blockNumber"]) - 1)  # type: ignore[arg-type]
        except (ContractLogicError, Web3RPCError) as exc:
            revert = as_revert(exc, contract, tx_hash)
            if revert is not None:
                return revert
        return ContractRevert("Reverted", {}, b"", contract, tx_hash,
                              message=f"transaction {tx_hash} reverted (gas used {receipt['gasUsed']})")
