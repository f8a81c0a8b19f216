"""Deploy the dataledger contracts and write the deployment record.

The record (:class:`ledger.deployment.Deployment`, filed at ``<state>/deployments/<chainId>.json``)
maps each contract name to its address and the block it was deployed in; the gateway's indexer
follows the contracts it lists.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Union

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from ledger.artifacts import load_artifact
from ledger.deployment import Deployment

Sender = Union[str, LocalAccount]

#: Contracts of one market, in deployment order (constructor arguments are wired in deploy_all).
SUITE = (
    "ParticipantRegistry",
    "AssetRegistry",
    "DataCustoms",
    "LedgerForwarder",
    "DataVoucher",
    "PaymentToken",
    "TradeSettlement",
)


class DeploymentError(RuntimeError):
    """A deployment transaction failed or the record is unusable."""


def _address(sender: Sender) -> str:
    return sender if isinstance(sender, str) else sender.address


def send_transaction(w3: Web3, sender: Sender, tx: dict[str, Any], timeout: float = 120) -> Any:
    """Send ``tx`` from ``sender`` and wait for its receipt; raise when it reverted.

    A LocalAccount goes through :class:`ledger.tx.TxSender` (gas estimated first so a revert is
    decoded before anything is sent, signed once, retries never send twice). A plain address must be
    unlocked on the node (anvil's are).
    """
    if not isinstance(sender, str):
        from ledger.tx import TxSender

        return TxSender(w3, sender, timeout=timeout).send(tx).receipt
    tx = dict(tx)
    tx.setdefault("from", sender)
    tx_hash = w3.eth.send_transaction(tx)  # type: ignore[arg-type]
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout)
    if receipt["status"] != 1:
        raise DeploymentError(f"transaction {tx_hash.hex()} reverted")
    return receipt


def contract_at(w3: Web3, name: str, address: str) -> Contract:
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_artifact(name)["abi"])


def deploy_contract(w3: Web3, name: str, *args: Any, sender: Sender) -> Contract:
    """Deploy one contract from its shipped artifact; returns the bound web3 Contract.

    The deploy block is kept on the returned object as ``deploy_block``.
    """
    artifact = load_artifact(name)
    if artifact["bytecode"] in ("", "0x"):
        raise DeploymentError(f"{name} is abstract or an interface: no bytecode to deploy")
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    tx = factory.constructor(*args).build_transaction({"from": _address(sender)})
    receipt = send_transaction(w3, sender, tx)
    contract = contract_at(w3, name, receipt["contractAddress"])
    contract.deploy_block = receipt["blockNumber"]  # type: ignore[attr-defined]
    return contract


def constructor_args(name: str, deployed: dict[str, Contract], admin: str) -> tuple[Any, ...]:
    """Constructor arguments of ``name`` given the contracts deployed before it (SUITE order)."""
    def at(contract: str) -> str:
        return str(deployed[contract].address)

    wiring: dict[str, Callable[[], tuple[Any, ...]]] = {
        "ParticipantRegistry": lambda: (admin,),
        "AssetRegistry": lambda: (at("ParticipantRegistry"),),
        "DataCustoms": lambda: (at("ParticipantRegistry"), at("AssetRegistry")),
        "LedgerForwarder": lambda: (),
        "DataVoucher": lambda: (at("ParticipantRegistry"), at("AssetRegistry"), at("DataCustoms"),
                                at("LedgerForwarder")),
        "PaymentToken": lambda: (at("ParticipantRegistry"), admin),
        "TradeSettlement": lambda: (at("DataVoucher"), at("ParticipantRegistry"), at("PaymentToken"), admin,
                                    at("LedgerForwarder")),
    }
    if name not in wiring:
        raise DeploymentError(f"{name} is not part of the market suite {SUITE}")
    return wiring[name]()


def deploy_all(w3: Web3, deployer: Sender, progress: Callable[[str], None] | None = None) -> dict[str, Contract]:
    """Deploy one whole market in SUITE order; ``deployer`` becomes the registries' admin and registrar.

    ``progress`` (optional) is called with each contract's name once it is deployed.
    """
    admin = _address(deployer)
    deployed: dict[str, Contract] = {}
    for name in SUITE:
        deployed[name] = deploy_contract(w3, name, *constructor_args(name, deployed, admin), sender=deployer)
        if name == "DataVoucher":
            bind_holdings(w3, deployed, deployer)
        if progress is not None:
            progress(name)
    return deployed


def bind_holdings(w3: Web3, deployed: dict[str, Contract], admin: Sender) -> None:
    """Bind (once) the contracts the participant registry asks what an account holds before it joins
    or leaves an organisation: the asset registry and the voucher contract. Until bound, the registry
    refuses to add or remove accounts (it fails closed)."""
    registry = deployed["ParticipantRegistry"]
    sources = [deployed["AssetRegistry"].address, deployed["DataVoucher"].address]
    tx = dict(registry.functions.bindHoldings(sources).build_transaction({"from": _address(admin)}))
    send_transaction(w3, admin, tx)


def deployment_record(w3: Web3, contracts: dict[str, Contract]) -> dict[str, Any]:
    """The record's JSON of freshly deployed contracts (:meth:`Deployment.of_contracts`)."""
    return Deployment.of_contracts(int(w3.eth.chain_id), contracts).to_record()


def write_deployment(state_dir: Path, record: Union[Deployment, Mapping[str, Any]]) -> Path:
    """File a deployment (:meth:`Deployment.write`) in ``state_dir``; returns the path."""
    found = record if isinstance(record, Deployment) else Deployment.from_dict(record)
    return found.write(state_dir)


def load_contracts(w3: Web3, record: Union[Deployment, Mapping[str, Any]]) -> dict[str, Contract]:
    """Each contract of a deployment bound to ``w3`` (:meth:`Deployment.web3_contracts`)."""
    found = record if isinstance(record, Deployment) else Deployment.from_dict(record)
    return found.web3_contracts(w3)
