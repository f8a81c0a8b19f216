"""Exceptions of the dataledger SDK, and revert data decoded into them.

Every failure the SDK raises is a :class:`LedgerError` with a one-line ``str``. A contract revert
becomes a :class:`ContractRevert` carrying the custom error's name and decoded values, looked up
by selector in a table built from EVERY shipped artifact (an error bubbled up from another
contract decodes too)::

    try:
        ledger.vouchers.transfer(to, 7)
    except ContractRevert as exc:
        exc.name   # "TransferRestricted"
        exc.args_  # {"code": 11, "from": "0x..", "to": "0x..", "voucherId": 7}

``Error(string)`` decodes to ``name="Error", args={"message": ...}`` and ``Panic(uint256)`` to
``name="Panic", args={"code": 0x11}`` with the panic's meaning in the message.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Optional

from ledger.artifacts import available, load_artifact
from ledger.vocabulary import RESTRICTION_MESSAGES as RESTRICTION_MESSAGES

# ------------------------------------------------------------------ exception classes


class LedgerError(Exception):
    """Base class of every error the SDK raises; ``str(exc)`` is one readable line."""


class ConnectionFailed(LedgerError):
    """The JSON-RPC endpoint does not answer."""


class ChainIdMismatch(LedgerError):
    """The node's chain id differs from the one expected (configuration or deployment record)."""

    def __init__(self, expected: int, actual: int, where: str = "") -> None:
        self.expected = expected
        self.actual = actual
        source = f" ({where})" if where else ""
        super().__init__(f"chain id mismatch: expected {expected}{source}, the node reports {actual}")


class DeploymentMissing(LedgerError):
    """No deployment record, or it lacks the contract asked for."""


class NoAccount(LedgerError):
    """A transaction or signature needs an account and none was given."""


class WalletError(LedgerError):
    """Keystore problem (unknown account, unreadable file, existing name)."""


class WrongPassword(WalletError):
    """The keystore password is wrong."""


class NotFound(LedgerError):
    """The record asked for does not exist on chain."""


class UnknownVoucher(NotFound):
    def __init__(self, voucher_id: int) -> None:
        self.voucher_id = voucher_id
        super().__init__(f"voucher {voucher_id} does not exist")


class UnknownAsset(NotFound):
    def __init__(self, asset_id: int) -> None:
        self.asset_id = asset_id
        super().__init__(f"asset {asset_id} does not exist")


class UnknownClearance(NotFound):
    def __init__(self, clearance_id: int) -> None:
        self.clearance_id = clearance_id
        super().__init__(f"clearance {clearance_id} does not exist")


class InvalidInput(LedgerError, ValueError):
    """An argument is malformed (address, jurisdiction, manifest, order file...)."""


class TxError(LedgerError):
    """A transaction could not be sent or confirmed."""

    def __init__(self, message: str, tx_hash: Optional[str] = None) -> None:
        self.tx_hash = tx_hash
        super().__init__(message)


class TxTimeout(TxError):
    """No receipt within the timeout. The transaction may still be mined: look up ``tx_hash``."""


class NonceConflict(TxError):
    """The nonce was taken by another transaction; nothing of ours was mined with it."""


PANIC_CODES: dict[int, str] = {
    0x00: "generic compiler panic",
    0x01: "assertion failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division or modulo by zero",
    0x21: "invalid enum value",
    0x22: "corrupt storage byte array",
    0x31: "pop on an empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to an uninitialised function",
}


def _fmt(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        raw = bytes(value)
        text = raw.rstrip(b"\0")
        if text and all(32 <= b < 127 for b in text) and len(raw) <= 32:
            return repr(text.decode("ascii"))
        return "0x" + raw.hex()
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_fmt(v) for v in value) + ")"
    return str(value)


# RESTRICTION_MESSAGES: DataVoucher restriction codes (ERC-1404 style) -> the contract's
# messageForTransferRestriction, generated from its source (ledger.vocabulary). A use (UseRestricted)
# has the same codes: the holder is the sender, the user the recipient.


#: A sentence for custom errors whose name alone does not say what the caller agreed to.
ERROR_MESSAGES: dict[str, str] = {
    "UsesLeftBelowTerms": "the voucher has fewer uses left than the order committed to",
    "ValidityBelowTerms": "the voucher's validity ends earlier than the order committed to",
    "FeeAboveOrderMaximum": "the exchange fee is above the maximum the order signed",
    "ContentReservedFor": "the registrar released this content hash for another registrant",
}


class ContractRevert(LedgerError):
    """A call or transaction reverted; ``name`` and ``args`` are the decoded custom error.

    ``args`` maps parameter names to values (addresses checksummed, bytesN as bytes). ``raw`` is
    the revert data; ``tx_hash`` is set when a mined transaction reverted.
    """

    def __init__(
        self,
        name: str,
        args: Optional[Mapping[str, Any]] = None,
        raw: bytes = b"",
        contract: Optional[str] = None,
        tx_hash: Optional[str] = None,
        message: Optional[str] = None,
    ) -> None:
        self.name = name
        self.args_ = dict(args or {})
        self.raw = raw
        self.contract = contract
        self.tx_hash = tx_hash
        self.message = message
        super().__init__(self._render())

    # `args` is BaseException's tuple; expose the decoded mapping under a clear name too
    @property
    def values(self) -> dict[str, Any]:
        return self.args_

    @property
    def selector(self) -> str:
        return "0x" + self.raw[:4].hex() if len(self.raw) >= 4 else ""

    def _render(self) -> str:
        where = f"{self.contract}: " if self.contract else ""
        if self.name == "Error":
            return f"{where}reverted: {self.args_.get('message', '')}"
        if self.name == "Panic":
            code = int(self.args_.get("code", 0))
            return f"{where}panic 0x{code:02x} ({PANIC_CODES.get(code, 'unknown panic')})"
        inner = ", ".join(f"{k}={_fmt(v)}" for k, v in self.args_.items())
        text = f"{where}reverted with {self.name}({inner})"
        if self.message:
            text += f": {self.message}"
        return text

    def __str__(self) -> str:
        return self._render()

    def to_dict(self) -> dict[str, Any]:
        return {
            "error": self.name,
            "args": {k: _jsonable(v) for k, v in self.args_.items()},
            "message": str(self),
            "txHash": self.tx_hash,
        }


class TransferRefused(LedgerError):
    """A voucher move was refused by DataVoucher's compliance check before anything was sent."""

    def __init__(self, code: int, message: str, voucher_id: Optional[int] = None,
                 sender: Optional[str] = None, recipient: Optional[str] = None) -> None:
        self.code = code
        self.message = message
        self.voucher_id = voucher_id
        self.sender = sender
        self.recipient = recipient
        what = f"transfer of voucher {voucher_id}" if voucher_id is not None else "transfer"
        super().__init__(f"{what} refused (restriction {code}): {message}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


# ------------------------------------------------------------------ selector table


@dataclass(frozen=True)
class ErrorAbi:
    name: str
    names: tuple[str, ...]
    types: tuple[str, ...]
    contracts: tuple[str, ...]


def _abi_type(param: Mapping[str, Any]) -> str:
    typ = str(param["type"])
    if typ.startswith("tuple"):
        inner = ",".join(_abi_type(c) for c in param["components"])
        return f"({inner}){typ[5:]}"
    return typ


@lru_cache(maxsize=1)
def error_table() -> dict[bytes, ErrorAbi]:
    """selector -> ErrorAbi over every shipped artifact, plus Error(string) and Panic(uint256)."""
    from eth_utils.crypto import keccak  # here, not at import: the exception classes load fast

    table: dict[bytes, ErrorAbi] = {}
    for contract in available():
        for entry in load_artifact(contract)["abi"]:
            if entry.get("type") != "error":
                continue
            types = tuple(_abi_type(i) for i in entry["inputs"])
            names = tuple(str(i.get("name") or f"arg{n}") for n, i in enumerate(entry["inputs"]))
            selector = keccak(text=f"{entry['name']}({','.join(types)})")[:4]
            known = table.get(selector)
            owners = (known.contracts if known else ()) + (contract,)
            table[selector] = ErrorAbi(entry["name"], names, types, owners)
    table[keccak(text="Error(string)")[:4]] = ErrorAbi("Error", ("message",), ("string",), ())
    table[keccak(text="Panic(uint256)")[:4]] = ErrorAbi("Panic", ("code",), ("uint256",), ())
    return table


def _tidy(value: Any, typ: str) -> Any:
    if typ == "address" and isinstance(value, str):
        from eth_utils.address import to_checksum_address

        return to_checksum_address(value)
    if isinstance(value, tuple):
        return tuple(value)
    return value


def decode_revert(data: Any, contract: Optional[str] = None, tx_hash: Optional[str] = None) -> ContractRevert:
    """Revert data (hex str or bytes) -> ContractRevert. Unknown selectors keep the raw bytes."""
    raw = _as_bytes(data)
    if len(raw) < 4:
        return ContractRevert("EmptyRevert", {}, raw, contract, tx_hash,
                              message="reverted without a reason")
    entry = error_table().get(raw[:4])
    if entry is None:
        return ContractRevert("UnknownError", {"selector": "0x" + raw[:4].hex(), "data": raw[4:]}, raw,
                              contract, tx_hash)
    from eth_abi.abi import decode as abi_decode

    try:
        values = abi_decode(list(entry.types), raw[4:])
    except Exception:  # malformed data for a known selector
        return ContractRevert(entry.name, {"data": raw[4:]}, raw, contract, tx_hash,
                              message="undecodable arguments")
    args = {n: _tidy(v, t) for n, v, t in zip(entry.names, values, entry.types)}
    message = ERROR_MESSAGES.get(entry.name)
    if entry.name in ("TransferRestricted", "UseRestricted") and "code" in args:
        # a use is checked as a transfer from the holder (sender) to the user (recipient): same codes
        message = RESTRICTION_MESSAGES.get(int(args["code"]))
    return ContractRevert(entry.name, args, raw, contract, tx_hash, message=message)


def _as_bytes(data: Any) -> bytes:
    if data is None:
        return b""
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    if isinstance(data, str):
        text = data.strip()
        if text.startswith("0x") or all(c in "0123456789abcdefABCDEF" for c in text):
            from hexbytes import HexBytes

            try:
                return bytes(HexBytes(text))
            except ValueError:
                return b""
    return b""


def revert_data_of(exc: BaseException) -> Optional[bytes]:
    """The raw revert data carried by a web3 exception (None when the error is not a revert)."""
    from web3.exceptions import ContractLogicError, Web3RPCError

    data: Any = None
    if isinstance(exc, ContractLogicError):
        data = exc.data
        if isinstance(data, dict):
            data = data.get("data")
        if data is None and exc.message and "revert" in str(exc.message).lower():
            return b""
        if data is None:
            return b""
    elif isinstance(exc, Web3RPCError):
        rpc = exc.rpc_response or {}
        err = rpc.get("error") if isinstance(rpc, dict) else None
        if isinstance(err, dict):
            data = err.get("data")
            if isinstance(data, dict):
                data = data.get("data")
            message = str(err.get("message", "")).lower()
            if data is None and "revert" not in message:
                return None
        else:
            return None
    else:
        return None
    return _as_bytes(data)


def as_revert(exc: BaseException, contract: Optional[str] = None,
              tx_hash: Optional[str] = None) -> Optional[ContractRevert]:
    """A ContractRevert for a web3 revert exception, else None."""
    raw = revert_data_of(exc)
    if raw is None:
        return None
    if not raw:
        from web3.exceptions import ContractLogicError

        text = exc.message if isinstance(exc, ContractLogicError) else str(exc)
        text = str(text or "").removeprefix("execution reverted").strip(" :") or "reverted without a reason"
        return ContractRevert("Error", {"message": text}, b"", contract, tx_hash)
    return decode_revert(raw, contract, tx_hash)
