"""Wallets: eth-account V3 keystores, and EIP-712 signatures for orders and relayed requests.

Keystores live in ``DATALEDGER_KEYSTORE_DIR`` or ``~/.dataledger/keystores``, one file per account
``<name>--<address>.json`` (mode 0600, the standard V3 JSON plus a ``name`` field). Passwords come
from the caller, ``DATALEDGER_PASSWORD``, or an interactive prompt. A wrong password raises
:class:`~ledger.errors.WrongPassword` and writes nothing.

Signatures:

* :func:`sign_order` — a TradeSettlement ``Order`` (domain ``dataledger-settlement``/``1``, bound to
  the chain id and the settlement contract).
* :func:`sign_forward_request` — an OpenZeppelin 5 ``ForwardRequest`` for the LedgerForwarder
  (domain ``dataledger``/``1``), so a holder can transfer or redeem without gas by handing the
  signed request to the gateway's relay.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from ledger.errors import InvalidInput, WalletError, WrongPassword

PASSWORD_ENV = "DATALEDGER_PASSWORD"
KEYSTORE_ENV = "DATALEDGER_KEYSTORE_DIR"
SCRYPT_N_ENV = "DATALEDGER_SCRYPT_N"  # lower only for tests; the default is eth-account's 2**18
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

SETTLEMENT_DOMAIN_NAME = "dataledger-settlement"
SETTLEMENT_DOMAIN_VERSION = "1"
FORWARDER_DOMAIN_NAME = "dataledger"
FORWARDER_DOMAIN_VERSION = "1"


def default_keystore_dir() -> Path:
    """DATALEDGER_KEYSTORE_DIR, else ~/.dataledger/keystores."""
    from ledger.settings import Settings

    return Settings().keystore_dir()


@dataclass(frozen=True)
class WalletEntry:
    name: str
    address: str
    file: Path

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "address": self.address, "file": str(self.file)}


class Keystore:
    """A directory of V3 keystore files."""

    def __init__(self, directory: Optional[os.PathLike[str] | str] = None,
                 scrypt_n: Optional[int] = None) -> None:
        self.directory = Path(directory).expanduser() if directory else default_keystore_dir()
        from ledger.settings import Settings

        self.scrypt_n = scrypt_n or Settings().DATALEDGER_SCRYPT_N

    # ------------------------------------------------------------ listing

    def list(self) -> list[WalletEntry]:
        if not self.directory.is_dir():
            return []
        entries = []
        for path in sorted(self.directory.glob("*.json")):
            entry = self._entry(path)
            if entry is not None:
                entries.append(entry)
        return entries

    @staticmethod
    def _entry(path: Path) -> Optional[WalletEntry]:
        try:
            data = json.loads(path.read_text())
            address = to_checksum_address("0x" + str(data["address"]).removeprefix("0x"))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        name = str(data.get("name") or path.stem.split("--")[0])
        return WalletEntry(name, address, path)

    def find(self, name_or_address: str) -> WalletEntry:
        key = name_or_address.strip()
        is_address = key.lower().startswith("0x") and len(key) == 42
        for entry in self.list():
            if (is_address and entry.address.lower() == key.lower()) or entry.name == key:
                return entry
        raise WalletError(f"no keystore named or for address {key!r} in {self.directory}")

    # ------------------------------------------------------------ creating

    def create(self, name: str, password: str) -> WalletEntry:
        """A new random key, encrypted with ``password``."""
        account: LocalAccount = Account.create()
        return self._store(name, account, password)

    def import_key(self, name: str, private_key: str | bytes, password: str) -> WalletEntry:
        try:
            account: LocalAccount = Account.from_key(private_key)
        except Exception:  # never echo key material
            raise InvalidInput("not a valid private key (32 bytes, hex)") from None
        return self._store(name, account, password)

    def _store(self, name: str, account: LocalAccount, password: str) -> WalletEntry:
        if not _NAME.match(name):
            raise InvalidInput(f"invalid wallet name {name!r}: letters, digits, '.', '_', '-' (max 64)")
        if not password:
            raise InvalidInput("an empty password is not allowed")
        for entry in self.list():
            if entry.name == name:
                raise WalletError(f"a keystore named {name!r} already exists ({entry.file})")
            if entry.address == account.address:
                raise WalletError(f"address {account.address} already has a keystore ({entry.file})")
        kwargs: dict[str, Any] = {}
        if self.scrypt_n:
            kwargs = {"kdf": "scrypt", "iterations": self.scrypt_n}
        data = dict(Account.encrypt(account.key, password, **kwargs))
        data["name"] = name
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        path = self.directory / f"{name}--{account.address}.json"
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(data, handle)
            os.chmod(tmp, 0o600)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return WalletEntry(name, account.address, path)

    # ------------------------------------------------------------ unlocking

    def unlock(self, name_or_address: str, password: Optional[str] = None,
               prompt: Optional[Callable[[str], str]] = None) -> LocalAccount:
        """Decrypt a keystore: ``password``, else DATALEDGER_PASSWORD, else ``prompt`` (getpass)."""
        entry = self.find(name_or_address)
        if password is None:
            from ledger.settings import Settings

            password = Settings().password()
        if password is None:
            ask = prompt or getpass.getpass
            password = ask(f"password for {entry.name} ({entry.address}): ")
        return unlock_file(entry.file, password)


def unlock_file(path: Path, password: str) -> LocalAccount:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise WalletError(f"cannot read keystore {path}: {exc}") from None
    try:
        key = Account.decrypt({k: v for k, v in data.items() if k != "name"}, password)
    except ValueError as exc:
        if "MAC" in str(exc) or "password" in str(exc).lower():
            raise WrongPassword(f"wrong password for keystore {Path(path).name}") from None
        raise WalletError(f"cannot decrypt keystore {path}: {exc}") from None
    account: LocalAccount = Account.from_key(key)
    return account


# ------------------------------------------------------------------ EIP-712: trade orders

ORDER_FIELDS: tuple[tuple[str, str], ...] = (
    ("maker", "address"),
    ("side", "uint8"),
    ("voucherId", "uint256"),
    ("price", "uint256"),
    ("paymentToken", "address"),
    ("exchange", "address"),
    ("broker", "address"),
    ("commission", "uint256"),
    # the order commits to what it trades (issue 11, #9): the highest exchange fee the maker accepts,
    # and the voucher's least uses left and earliest validity end (0 = no term)
    ("maxFeeBps", "uint256"),
    ("minUsesLeft", "uint256"),
    ("minValidUntil", "uint256"),
    ("nonce", "uint256"),
    ("deadline", "uint256"),
)
ORDER_TYPES = {"Order": [{"name": n, "type": t} for n, t in ORDER_FIELDS]}

FORWARD_REQUEST_FIELDS: tuple[tuple[str, str], ...] = (
    ("from", "address"),
    ("to", "address"),
    ("value", "uint256"),
    ("gas", "uint256"),
    ("nonce", "uint256"),
    ("deadline", "uint48"),
    ("data", "bytes"),
)
FORWARD_REQUEST_TYPES = {"ForwardRequest": [{"name": n, "type": t} for n, t in FORWARD_REQUEST_FIELDS]}


def settlement_domain(chain_id: int, settlement: str) -> dict[str, Any]:
    return {
        "name": SETTLEMENT_DOMAIN_NAME,
        "version": SETTLEMENT_DOMAIN_VERSION,
        "chainId": int(chain_id),
        "verifyingContract": to_checksum_address(settlement),
    }


def forwarder_domain(chain_id: int, forwarder: str) -> dict[str, Any]:
    return {
        "name": FORWARDER_DOMAIN_NAME,
        "version": FORWARDER_DOMAIN_VERSION,
        "chainId": int(chain_id),
        "verifyingContract": to_checksum_address(forwarder),
    }


def _message(fields: tuple[tuple[str, str], ...], values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, typ in fields:
        if name not in values:
            raise InvalidInput(f"missing field {name!r}")
        value = values[name]
        if typ == "address":
            value = to_checksum_address(value)
        elif typ.startswith("uint"):
            value = int(value)
        elif typ == "bytes" and isinstance(value, str):
            value = bytes.fromhex(value.removeprefix("0x"))
        out[name] = value
    return out


def order_digest(order: dict[str, Any], chain_id: int, settlement: str) -> bytes:
    """The EIP-712 digest TradeSettlement.orderDigest returns for ``order``."""
    from eth_utils.crypto import keccak

    signable = encode_typed_data(settlement_domain(chain_id, settlement), ORDER_TYPES,
                                 _message(ORDER_FIELDS, order))
    return bytes(keccak(b"\x19" + signable.version + signable.header + signable.body))


def sign_order(account: LocalAccount, order: dict[str, Any], chain_id: int, settlement: str) -> bytes:
    """65-byte signature of ``order`` (its ``maker`` must be ``account``)."""
    message = _message(ORDER_FIELDS, order)
    if message["maker"] != account.address:
        raise InvalidInput(f"order maker {message['maker']} is not the signing account {account.address}")
    signable = encode_typed_data(settlement_domain(chain_id, settlement), ORDER_TYPES, message)
    return bytes(account.sign_message(signable).signature)


def sign_forward_request(account: LocalAccount, request: dict[str, Any], chain_id: int,
                         forwarder: str) -> bytes:
    """65-byte signature of an ERC-2771 ForwardRequest (``from`` must be ``account``)."""
    message = _message(FORWARD_REQUEST_FIELDS, request)
    if message["from"] != account.address:
        raise InvalidInput(f"request signer {message['from']} is not the signing account {account.address}")
    signable = encode_typed_data(forwarder_domain(chain_id, forwarder), FORWARD_REQUEST_TYPES, message)
    return bytes(account.sign_message(signable).signature)
