"""The one generic contract client: calls, transactions and events with decoded reverts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional, Protocol

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError, Web3RPCError
from web3.logs import DISCARD

from ledger.errors import InvalidInput, LedgerError, as_revert
from ledger.tx import SentTx, TxSender

if TYPE_CHECKING:
    from ledger.contracts.vouchers import ForwarderClient, VouchersClient

ZERO_ADDRESS = "0x" + "00" * 20


@dataclass
class TxResult:
    """A mined transaction: hash, block, gas and the decoded events of THIS contract."""

    tx_hash: str
    block_number: int
    gas_used: int
    events: list[dict[str, Any]] = field(default_factory=list)
    receipt: Any = None
    value: Any = None  # what the call created/returned (asset id, voucher id, clearance id, trade id...)

    def event(self, name: str) -> dict[str, Any]:
        for ev in self.events:
            if ev["event"] == name:
                return dict(ev["args"])
        raise LedgerError(f"transaction {self.tx_hash} emitted no {name} event")

    def to_dict(self) -> dict[str, Any]:
        return {
            "txHash": self.tx_hash,
            "blockNumber": self.block_number,
            "gasUsed": self.gas_used,
            "value": jsonable(self.value),
            "events": [{"event": e["event"], "args": jsonable(e["args"])} for e in self.events],
        }


def jsonable(value: Any) -> Any:
    """bytes -> 0x hex, tuples -> lists, mappings recursively; for --json output."""
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, dict) or hasattr(value, "items"):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def checksum(address: str, what: str = "address") -> str:
    if not isinstance(address, str) or not Web3.is_address(address):
        raise InvalidInput(f"invalid {what}: {address!r}")
    return Web3.to_checksum_address(address)


class Connection(Protocol):
    """What a client needs of its connection to the market (:class:`ledger.chain.Ledger` is one):
    the clients depend on this, not on ``ledger.chain``, so ``chain`` imports ``contracts`` one way."""

    w3: Web3
    chain_id: int
    account: Optional[LocalAccount]

    @property
    def address(self) -> str: ...

    @property
    def sender(self) -> TxSender: ...

    @property
    def forwarder(self) -> ForwarderClient: ...

    @property
    def vouchers(self) -> VouchersClient: ...

    def contract(self, name: str, address: Optional[str] = None) -> Contract: ...

    def address_of(self, name: str) -> str: ...

    def deploy_block(self, name: str) -> int: ...

    def require_account(self) -> LocalAccount: ...

    def send(self, tx: dict[str, Any], contract: Optional[str] = None) -> SentTx: ...

    def now(self) -> int: ...


class ContractClient:
    """Base of every typed client: ``call`` (views), ``transact`` (estimate first, decoded
    reverts, receipt awaited), ``events`` (logs over a block range)."""

    NAME: str = ""

    def __init__(self, ledger: Connection, address: Optional[str] = None) -> None:
        self.ledger = ledger
        self.contract: Contract = ledger.contract(self.NAME, address)

    @property
    def address(self) -> str:
        return str(self.contract.address)

    @property
    def w3(self) -> Web3:
        return self.ledger.w3

    def call(self, fn: str, *args: Any, block: Any = "latest", sender: Optional[str] = None) -> Any:
        """Call a view; a revert raises the decoded ContractRevert."""
        tx: dict[str, Any] = {}
        if sender is not None:
            tx["from"] = sender
        elif self.ledger.account is not None:
            tx["from"] = self.ledger.account.address
        try:
            return getattr(self.contract.functions, fn)(*args).call(tx, block_identifier=block)
        except (ContractLogicError, Web3RPCError) as exc:
            revert = as_revert(exc, self.NAME)
            if revert is not None:
                raise revert from None
            raise

    def build(self, fn: str, *args: Any, value: int = 0) -> dict[str, Any]:
        """The unsigned call data of ``fn(*args)`` as a tx dict (to, data, value)."""
        data = self.contract.encode_abi(fn, args=list(args))
        return {"to": self.address, "data": data, "value": value}

    def transact(self, fn: str, *args: Any, value: int = 0, gas: Optional[int] = None) -> TxResult:
        """Send ``fn(*args)`` from the ledger's account. Gas is estimated first, so a revert is
        raised (decoded) before anything is signed or sent."""
        tx = self.build(fn, *args, value=value)
        if gas is not None:
            # still simulate: never spend gas on a tx that would revert
            self.ledger.sender.estimate(tx, self.NAME)
            tx["gas"] = gas
        sent = self.ledger.send(tx, self.NAME)
        return self._result(sent)

    def _result(self, sent: SentTx) -> TxResult:
        return TxResult(sent.tx_hash, sent.block_number, sent.gas_used, self.decode_events(sent.receipt),
                        sent.receipt)

    def decode_events(self, receipt: Any) -> list[dict[str, Any]]:
        """Every event of this contract in ``receipt``, in log order."""
        found: list[dict[str, Any]] = []
        mine = [log for log in receipt["logs"] if log["address"] == self.address]
        if not mine:
            return found
        for entry in self.contract.abi:
            if entry.get("type") != "event":
                continue
            name = str(entry.get("name"))
            for log in self.contract.events[name]().process_receipt(receipt, errors=DISCARD):
                found.append({"event": log["event"], "args": dict(log["args"]), "logIndex": log["logIndex"]})
        found.sort(key=lambda e: e["logIndex"])
        return found

    def events(self, name: str, from_block: Optional[int] = None, to_block: Any = "latest",
               filters: Optional[dict[str, Any]] = None) -> list[dict[str, Any]]:
        """Logs of event ``name`` (from the deploy block by default), decoded, with provenance."""
        start = self.ledger.deploy_block(self.NAME) if from_block is None else from_block
        logs = self.contract.events[name]().get_logs(from_block=start, to_block=to_block,
                                                     argument_filters=filters)
        return [
            {
                "event": log["event"],
                "args": dict(log["args"]),
                "blockNumber": log["blockNumber"],
                "blockHash": "0x" + bytes(log["blockHash"]).hex(),
                "txHash": "0x" + bytes(log["transactionHash"]).hex(),
                "logIndex": log["logIndex"],
            }
            for log in logs
        ]
