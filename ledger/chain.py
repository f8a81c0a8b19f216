"""One entry point to a dataledger market on any JSON-RPC endpoint.

    from ledger.chain import Ledger

    ledger = Ledger.connect("http://127.0.0.1:8545", account=key_or_local_account)
    ledger.vouchers.transfer(to, voucher_id)

``connect`` checks the chain id (``chain_id=`` or the deployment record's), adds web3's
``ExtraDataToPOAMiddleware`` when the genesis extraData is longer than 32 bytes (proof of
authority, e.g. Besu QBFT/IBFT/Clique), sends legacy ``gasPrice 0`` transactions on zero-gas-price
networks, and loads the contracts from ``deployment=``: a :class:`~ledger.deployment.Deployment`,
a record file, a record dict, or (unset) the record of the node's chain in ``state_dir``
(:meth:`Deployment.path_for <ledger.deployment.Deployment.path_for>`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional, TypeVar, Union, cast

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.middleware import ExtraDataToPOAMiddleware
from web3.providers import BaseProvider

from ledger.artifacts import load_artifact
from ledger.contracts import (
    AssetsClient,
    ContractClient,
    CustomsClient,
    ForwarderClient,
    ParticipantsClient,
    PaymentTokenClient,
    SettlementClient,
    VouchersClient,
)
from ledger.deployment import Deployment, DeploymentSource
from ledger.errors import ChainIdMismatch, ConnectionFailed, DeploymentMissing, InvalidInput, NoAccount
from ledger.settings import DEFAULT_RPC_URL, DEFAULT_STATE_DIR
from ledger.tx import FeePolicy, NonceManager, SentTx, TxSender

DEFAULT_RPC = DEFAULT_RPC_URL
POA_EXTRA_DATA_LIMIT = 32

AccountLike = Union[LocalAccount, str, bytes, None]
DeploymentLike = Optional[DeploymentSource]
C = TypeVar("C", bound=ContractClient)


def is_poa_extra_data(extra_data: Any) -> bool:
    """True when a block's extraData is longer than the 32 bytes Ethereum mainnet allows."""
    if extra_data is None:
        return False
    if isinstance(extra_data, str):
        text = extra_data[2:] if extra_data.startswith("0x") else extra_data
        return len(text) // 2 > POA_EXTRA_DATA_LIMIT
    return len(bytes(extra_data)) > POA_EXTRA_DATA_LIMIT


def needs_poa_middleware(w3: Web3) -> bool:
    """Read the genesis and head blocks RAW (before web3's formatters, which reject long
    extraData) and tell whether their extraData is PoA-sized."""
    for tag in ("0x0", "latest"):
        reply = w3.provider.make_request("eth_getBlockByNumber", [tag, False])  # type: ignore[arg-type]
        block = reply.get("result") if isinstance(reply, dict) else None
        if isinstance(block, dict) and is_poa_extra_data(block.get("extraData")):
            return True
    return False


def apply_poa_middleware(w3: Web3) -> bool:
    """Inject ExtraDataToPOAMiddleware (layer 0) when the chain needs it; returns whether it did."""
    if not needs_poa_middleware(w3):
        return False
    try:
        w3.middleware_onion.inject(ExtraDataToPOAMiddleware, name="poa", layer=0)
    except ValueError:  # already there
        pass
    return True


def load_account(account: AccountLike) -> Optional[LocalAccount]:
    """A LocalAccount from a LocalAccount, a hex private key, or None."""
    if account is None or isinstance(account, LocalAccount):
        return account
    try:
        acct: LocalAccount = Account.from_key(account)
    except Exception:  # never echo key material
        raise InvalidInput("the account is neither a LocalAccount nor a valid private key") from None
    return acct


class Ledger:
    """A connection to one market: web3, chain id, the deployment, and (optionally) an account.

    Typed clients: ``participants``, ``assets``, ``customs``, ``vouchers``, ``token``,
    ``settlement``, ``forwarder``. Transactions go through a :class:`~ledger.tx.TxSender`
    (nonce manager shared by every Ledger derived with :meth:`as_account`).
    """

    def __init__(
        self,
        w3: Web3,
        chain_id: int,
        deployment: Optional[Deployment] = None,
        account: Optional[LocalAccount] = None,
        state_dir: Path = DEFAULT_STATE_DIR,
        nonces: Optional[NonceManager] = None,
        fees: Optional[FeePolicy] = None,
        poa: bool = False,
        timeout: float = 120.0,
    ) -> None:
        self.w3 = w3
        self.chain_id = chain_id
        self.deployment = deployment
        self.account = account
        self.state_dir = Path(state_dir)
        self.nonces = nonces or NonceManager(w3)
        self.fees = fees or FeePolicy()
        self.poa = poa
        self.timeout = timeout
        self._sender: Optional[TxSender] = None
        self._clients: dict[str, ContractClient] = {}

    # ------------------------------------------------------------ construction

    @classmethod
    def connect(
        cls,
        rpc_url: Union[str, BaseProvider] = DEFAULT_RPC,
        chain_id: Optional[int] = None,
        deployment: DeploymentLike = None,
        account: AccountLike = None,
        state_dir: Union[str, os.PathLike[str]] = DEFAULT_STATE_DIR,
        fee_mode: str = "auto",
        timeout: float = 120.0,
    ) -> Ledger:
        """Connect to ``rpc_url`` (http(s)/ws URL or a web3 provider); see the module docstring."""
        if isinstance(rpc_url, BaseProvider):
            provider: BaseProvider = rpc_url
            where = type(rpc_url).__name__
        elif rpc_url.startswith(("ws://", "wss://")):
            raise InvalidInput("use an http(s) JSON-RPC URL (websocket providers are async-only in web3 8)")
        else:
            provider = Web3.HTTPProvider(rpc_url, request_kwargs={"timeout": 60})
            where = rpc_url
        w3 = Web3(provider)
        try:
            actual = int(w3.eth.chain_id)
        except Exception as exc:  # transport errors of every kind
            raise ConnectionFailed(f"no JSON-RPC answer from {where}: {type(exc).__name__}: {exc}") from None
        if chain_id is not None and int(chain_id) != actual:
            raise ChainIdMismatch(int(chain_id), actual, "--chain-id / CHAIN_ID")
        poa = apply_poa_middleware(w3)
        record = Deployment.load(deployment, state_dir=Path(state_dir), chain_id=actual)
        return cls(
            w3,
            actual,
            record,
            load_account(account),
            Path(state_dir),
            fees=FeePolicy(fee_mode),
            poa=poa,
            timeout=timeout,
        )

    def as_account(self, account: AccountLike) -> Ledger:
        """The same connection acting as another account (nonce manager shared)."""
        other = Ledger(self.w3, self.chain_id, self.deployment, load_account(account), self.state_dir,
                       self.nonces, self.fees, self.poa, self.timeout)
        return other

    # ------------------------------------------------------------ accounts & sending

    @property
    def address(self) -> str:
        return self.require_account().address

    def require_account(self) -> LocalAccount:
        if self.account is None:
            raise NoAccount("this needs an account: pass account= / --account (a keystore name or address)")
        return self.account

    @property
    def sender(self) -> TxSender:
        account = self.require_account()
        if self._sender is None or self._sender.account is not account:
            self._sender = TxSender(self.w3, account, self.nonces, self.chain_id, self.fees, self.timeout)
        return self._sender

    def send(self, tx: dict[str, Any], contract: Optional[str] = None) -> SentTx:
        return self.sender.send(tx, contract)

    # ------------------------------------------------------------ contracts

    def has_deployment(self) -> bool:
        return self.deployment is not None

    def address_of(self, name: str) -> str:
        if self.deployment is None:
            raise DeploymentMissing(
                f"no deployment record for chain {self.chain_id} "
                f"(expected {Deployment.path_for(self.state_dir, self.chain_id)}; run `dataledger deploy`)"
            )
        return self.deployment.address(name)

    def deploy_block(self, name: str) -> int:
        return self.deployment.deploy_block(name) if self.deployment is not None else 0

    def contract(self, name: str, address: Optional[str] = None) -> Contract:
        return self.w3.eth.contract(
            address=Web3.to_checksum_address(address or self.address_of(name)),
            abi=load_artifact(name)["abi"],
        )

    def _client(self, key: str, factory: type[C]) -> C:
        client = self._clients.get(key)
        if client is None:
            client = factory(self)
            self._clients[key] = client
        return cast(C, client)

    @property
    def participants(self) -> ParticipantsClient:
        return self._client("participants", ParticipantsClient)

    @property
    def assets(self) -> AssetsClient:
        return self._client("assets", AssetsClient)

    @property
    def customs(self) -> CustomsClient:
        return self._client("customs", CustomsClient)

    @property
    def vouchers(self) -> VouchersClient:
        return self._client("vouchers", VouchersClient)

    @property
    def token(self) -> PaymentTokenClient:
        return self._client("token", PaymentTokenClient)

    @property
    def settlement(self) -> SettlementClient:
        return self._client("settlement", SettlementClient)

    @property
    def forwarder(self) -> ForwarderClient:
        return self._client("forwarder", ForwarderClient)

    # ------------------------------------------------------------ misc

    def block_number(self) -> int:
        return int(self.w3.eth.block_number)

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def __repr__(self) -> str:
        who = self.account.address if self.account else "no account"
        return f"<Ledger chain={self.chain_id} {who} poa={self.poa}>"
