"""The deployment of one market: chain id, and for each contract its address, deploy block and ABI.

The one reader and writer of the deployment record; everything else (SDK, CLI, indexer, gateway,
verifier, dev stack) goes through :class:`Deployment`.

Accepted shapes (:meth:`Deployment.from_dict`):

- the record ``dataledger deploy`` writes to ``<state_dir>/deployments/<chainId>.json``:
  ``{"chainId": 31337, "contracts": {name: {"address": "0x…", "deployBlock": n}}}``;
- the JSON of a gateway's ``GET /v1/contracts``: ``{"chain_id": …, "contracts": {name: {"address",
  "deploy_block", "abi"}}}`` (the ABI served is ignored: the SDK's shipped artifacts are used);
- a bare ``{name: "0x…"}`` entry form inside ``contracts`` (deploy block 0).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

from ledger.errors import ChainIdMismatch, DeploymentMissing

if TYPE_CHECKING:
    from web3 import Web3
    from web3.contract import Contract

DeploymentSource = Union["Deployment", str, "os.PathLike[str]", Mapping[str, Any]]


class DeploymentInvalid(DeploymentMissing):
    """A deployment record exists but is not one (unreadable, no contracts, a bad address or block)."""


@dataclass(frozen=True)
class ContractEntry:
    """One contract of a deployment."""

    name: str
    address: str  # EIP-55 checksummed
    deploy_block: int = 0

    @property
    def abi(self) -> list[dict[str, Any]]:
        """The ABI shipped with this SDK (ledger/artifacts)."""
        from ledger.artifacts import load_artifact

        return load_artifact(self.name)["abi"]


def _checksum(value: Any, where: str, name: str) -> str:
    text = str(value)
    if not (text.startswith(("0x", "0X")) and len(text) == 42):
        raise DeploymentInvalid(f"{where}: entry {name!r} is not an address and a block")
    try:
        int(text[2:], 16)
    except ValueError:
        raise DeploymentInvalid(f"{where}: entry {name!r} is not an address and a block") from None
    from eth_utils.address import to_checksum_address

    return str(to_checksum_address(text))


@dataclass(frozen=True)
class Deployment:
    """A market's contracts on one chain (immutable). ``chain_id`` may be None for a record that
    does not say (then any chain is accepted by :meth:`check_chain`)."""

    chain_id: Optional[int]
    contracts: Mapping[str, ContractEntry]
    where: str = field(default="deployment", compare=False)

    # ------------------------------------------------------------ locating records

    @staticmethod
    def path_for(state_dir: Union[str, os.PathLike[str]], chain_id: int) -> Path:
        """``<state_dir>/deployments/<chainId>.json``: where the record of ``chain_id`` lives."""
        return Path(state_dir) / "deployments" / f"{int(chain_id)}.json"

    # ------------------------------------------------------------ loading

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "deployment dict") -> Deployment:
        """A record or a ``/v1/contracts`` answer (see the module doc); raises DeploymentInvalid."""
        if not isinstance(data, Mapping):
            raise DeploymentInvalid(f"{where} is not a deployment record (not a JSON object)")
        entries = data.get("contracts")
        if not isinstance(entries, Mapping) or not entries:
            raise DeploymentInvalid(f"{where} is not a deployment record (no 'contracts' mapping)")
        contracts: dict[str, ContractEntry] = {}
        for name, entry in entries.items():
            if isinstance(entry, str):
                address, raw_block = entry, 0
            elif isinstance(entry, Mapping) and "address" in entry:
                address = entry["address"]
                raw_block = entry.get("deployBlock", entry.get("deploy_block", 0))
            else:
                raise DeploymentInvalid(f"{where}: entry {name!r} has no address / deploy block")
            try:
                block = int(raw_block)
            except (TypeError, ValueError):
                raise DeploymentInvalid(f"{where}: entry {name!r} has no address / deploy block") from None
            if block < 0 or isinstance(raw_block, bool):
                raise DeploymentInvalid(f"{where}: entry {name!r} is not an address and a block")
            contracts[str(name)] = ContractEntry(str(name), _checksum(address, where, str(name)), block)
        raw_chain = data.get("chainId", data.get("chain_id"))
        try:
            chain_id = None if raw_chain is None else int(raw_chain)
        except (TypeError, ValueError):
            raise DeploymentInvalid(f"{where}: chain id {raw_chain!r} is not an integer") from None
        return cls(chain_id, dict(sorted(contracts.items())), where)

    @classmethod
    def from_file(cls, path: Union[str, os.PathLike[str]]) -> Deployment:
        """A record file; DeploymentMissing when it does not exist, DeploymentInvalid when unusable."""
        path = Path(path)
        if not path.exists():
            raise DeploymentMissing(f"deployment record {path} does not exist")
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise DeploymentInvalid(f"cannot read deployment record {path}: {exc}") from None
        if not isinstance(data, dict):
            raise DeploymentInvalid(f"deployment record {path} is not a JSON object")
        return cls.from_dict(data, str(path))

    @classmethod
    def from_state_dir(cls, state_dir: Union[str, os.PathLike[str]], chain_id: int) -> Optional[Deployment]:
        """The record of ``chain_id`` in ``state_dir``, or None when there is none (checked chain id)."""
        path = cls.path_for(state_dir, chain_id)
        if not path.exists():
            return None
        return cls.from_file(path).check_chain(chain_id)

    @classmethod
    def require(cls, state_dir: Union[str, os.PathLike[str]], chain_id: int) -> Deployment:
        """Like :meth:`from_state_dir`, but DeploymentMissing when there is no record."""
        found = cls.from_state_dir(state_dir, chain_id)
        if found is None:
            raise DeploymentMissing(
                f"no deployment record for chain {chain_id} at {cls.path_for(state_dir, chain_id)}")
        return found

    @classmethod
    def load(cls, source: Optional[DeploymentSource], *, state_dir: Union[str, os.PathLike[str]] = ".dataledger",
             chain_id: Optional[int] = None) -> Optional[Deployment]:
        """From a Deployment, a mapping, or a file path; with ``source`` None the record of
        ``chain_id`` in ``state_dir`` (None when absent). The chain id is checked when given."""
        if source is None:
            if chain_id is None:
                raise DeploymentMissing("no deployment given and no chain id to look one up")
            return cls.from_state_dir(state_dir, chain_id)
        if isinstance(source, Deployment):
            found = source
        elif isinstance(source, Mapping):
            found = cls.from_dict(source)
        else:
            found = cls.from_file(source)
        return found.check_chain(chain_id) if chain_id is not None else found

    @classmethod
    def from_gateway(cls, gateway: str, timeout: float = 30.0) -> Deployment:
        """What ``GET {gateway}/v1/contracts`` says, NOT checked against any chain (see
        ``gateway.verify.deployment.check_against_chain``). DeploymentMissing when it cannot be had."""
        import httpx

        url = gateway.rstrip("/") + "/v1/contracts"
        try:
            response = httpx.get(url, timeout=timeout)
        except httpx.HTTPError as exc:
            raise DeploymentMissing(f"gateway {url} unreachable: {exc}") from None
        if response.status_code != 200:
            reason = response.text[:200].strip()
            raise DeploymentMissing(f"gateway {url} answered HTTP {response.status_code}: {reason}")
        try:
            data = response.json()
        except ValueError:
            raise DeploymentInvalid(f"gateway {url} did not answer JSON") from None
        if not isinstance(data, dict):
            raise DeploymentInvalid(f"gateway {url} did not answer a JSON object")
        return cls.from_dict(data, url)

    @classmethod
    def of_contracts(cls, chain_id: int, contracts: Mapping[str, Contract]) -> Deployment:
        """From freshly deployed web3 contracts (``ledger.deploy.deploy_all``: ``deploy_block`` set)."""
        return cls.from_dict({"chainId": int(chain_id), "contracts": {
            name: {"address": c.address, "deployBlock": int(getattr(c, "deploy_block", 0))}
            for name, c in contracts.items()}}, f"deployment on chain {chain_id}")

    # ------------------------------------------------------------ checks and views

    def check_chain(self, chain_id: int) -> Deployment:
        """Self when it is the deployment of ``chain_id`` (or does not say); ChainIdMismatch otherwise."""
        if self.chain_id is not None and int(self.chain_id) != int(chain_id):
            raise ChainIdMismatch(int(self.chain_id), int(chain_id), f"deployment record {self.where}")
        return self

    def __contains__(self, name: object) -> bool:
        return name in self.contracts

    def __iter__(self) -> Iterator[str]:
        return iter(self.contracts)

    def __len__(self) -> int:
        return len(self.contracts)

    def entry(self, name: str) -> ContractEntry:
        found = self.contracts.get(name)
        if found is None:
            chain = f"chain {self.chain_id}" if self.chain_id is not None else self.where
            raise DeploymentMissing(f"the deployment record of {chain} has no {name}")
        return found

    def address(self, name: str) -> str:
        """The checksummed address of ``name``."""
        return self.entry(name).address

    def deploy_block(self, name: str) -> int:
        found = self.contracts.get(name)
        return found.deploy_block if found is not None else 0

    def abi(self, name: str) -> list[dict[str, Any]]:
        return self.entry(name).abi

    def addresses(self) -> dict[str, str]:
        """{name: checksummed address}."""
        return {n: c.address for n, c in self.contracts.items()}

    @property
    def start_block(self) -> int:
        """The earliest deploy block (where a contract's history starts)."""
        return min((c.deploy_block for c in self.contracts.values()), default=0)

    def entries(self) -> dict[str, dict[str, Any]]:
        """``{name: {"address": lower-case hex, "deployBlock": n}}``: what the indexer and the
        verifier follow."""
        return {n: {"address": c.address.lower(), "deployBlock": c.deploy_block} for n, c in self.contracts.items()}

    def to_record(self) -> dict[str, Any]:
        """The record file's JSON: ``{"chainId", "contracts": {name: {"address", "deployBlock"}}}``."""
        return {"chainId": self.chain_id,
                "contracts": {n: {"address": c.address, "deployBlock": c.deploy_block}
                              for n, c in self.contracts.items()}}

    def to_api(self) -> dict[str, Any]:
        """The ``GET /v1/contracts`` JSON: chain id, and each contract's address, deploy block and ABI
        (an empty ABI for a contract this SDK ships no artifact of)."""
        from ledger.artifacts import UnknownArtifact

        out: dict[str, Any] = {}
        for n, c in self.contracts.items():
            try:
                abi = c.abi
            except UnknownArtifact:
                abi = []
            out[n] = {"address": c.address, "deploy_block": c.deploy_block, "abi": abi}
        return {"chain_id": self.chain_id, "contracts": out}

    def web3_contracts(self, w3: Web3) -> dict[str, Contract]:
        """Each contract bound to ``w3`` with its shipped ABI."""
        return {n: w3.eth.contract(address=c.address, abi=c.abi)  # type: ignore[call-overload]
                for n, c in self.contracts.items()}

    # ------------------------------------------------------------ writing

    def write(self, state_dir: Union[str, os.PathLike[str]]) -> Path:
        """Write the record to ``<state_dir>/deployments/<chainId>.json`` (atomically); returns the path."""
        if self.chain_id is None:
            raise DeploymentInvalid(f"{self.where}: a record without a chain id cannot be filed")
        path = self.path_for(state_dir, self.chain_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_record(), indent=2, sort_keys=True) + "\n")
        tmp.replace(path)
        return path
