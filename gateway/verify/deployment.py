"""Which contracts a verification runs against, and how much of that was checked.

Three sources, in this order (:func:`resolve_contracts`):

1. ``--deployment FILE``: a deployment record the verifier holds (``{"chainId", "contracts": {name:
   {"address", "deployBlock"}}}``, as ``dataledger deploy`` writes it, or the JSON of a gateway's
   ``GET /v1/contracts``); used as given (the user vouches for it), only its chain id is checked;
2. ``<state-dir>/deployments/<chainId>.json`` when it exists (the operator's own record);
3. ``--gateway URL``: the gateway's ``GET /v1/contracts``, NOT trusted as served:
   :func:`check_against_chain` checks, at the verified block, for every contract of the suite
   (:data:`ledger.deploy.SUITE`, all must be listed):

   - code exists at the address and equals the shipped artifact's ``deployedBytecode`` byte for
     byte, except the ``immutableReferences`` ranges (constructor-set values, masked on both sides);
   - the contracts are wired to each other: every zero-argument address view that names another
     suite contract (``participants()``, ``assets()``, ``customs()``, ``vouchers()``,
     ``paymentToken()``, ``trustedForwarder()``) answers, by ``eth_call``, the address listed for it;
   - the deploy block is exact: code at ``deployBlock`` and none at ``deployBlock - 1`` (a later
     block would hide early events). A node without that history (pruned) cannot answer: the
     verifier then scans from block 0 and says so in a note.

   What this does not prove: that the suite is THE market you mean. Anyone can deploy the same
   code, wired the same way; a gateway serving such a copy passes these checks. The verdict lists
   the addresses it used (``deployment``); pin them with ``--deployment FILE`` where it matters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from ledger.deployment import Deployment
from ledger.errors import LedgerError

#: zero-argument address views -> the suite contract they must name
WIRING_VIEWS = {
    "participants": "ParticipantRegistry",
    "assets": "AssetRegistry",
    "customs": "DataCustoms",
    "vouchers": "DataVoucher",
    "paymentToken": "PaymentToken",
    "trustedForwarder": "LedgerForwarder",
}


class DeploymentRejected(Exception):
    """The gateway's deployment does not match the chain (verdict: mismatch, exit code 1)."""


class DeploymentUnavailable(Exception):
    """No deployment to verify against (exit code 2)."""


@dataclass
class Resolved:
    """The contracts to verify against: ``{name: {"address", "deployBlock"}}`` and where they came from."""

    contracts: dict[str, dict[str, Any]]
    source: str  # "file" | "state-dir" | "gateway"
    where: str
    checks: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "where": self.where, "checked": self.checks,
                "contracts": {n: dict(c) for n, c in sorted(self.contracts.items())}}


def _load(load: Callable[[], Deployment]) -> Deployment:
    """Run a :class:`ledger.deployment.Deployment` loader; its errors mean: nothing to verify against."""
    try:
        return load()
    except LedgerError as exc:
        raise DeploymentUnavailable(str(exc)) from None


def served_deployment(gateway: str, chain_id: int) -> tuple[str, dict[str, dict[str, Any]]]:
    """(url, contracts) of ``gateway``'s ``/v1/contracts``, for the node's ``chain_id`` (not yet checked)."""
    url = gateway.rstrip("/") + "/v1/contracts"
    served = _load(lambda: Deployment.from_gateway(gateway))
    if served.chain_id != chain_id:
        raise DeploymentRejected(f"{url} describes chain {served.chain_id}; the node is chain {chain_id}")
    return url, served.entries()


def _masked(code: bytes, immutables: Mapping[str, Any]) -> bytes:
    out = bytearray(code)
    for refs in immutables.values():
        for ref in refs:
            start, length = int(ref["start"]), int(ref["length"])
            out[start:start + length] = bytes(min(length, max(0, len(out) - start)))
    return bytes(out)


def _code(node: Any, address: str, block: int) -> bytes:
    value = str(node.call("eth_getCode", [address, hex(block)], phase="rpc_deployment"))
    return bytes.fromhex(value[2:] if value.startswith("0x") else value)


def check_against_chain(node: Any, contracts: Mapping[str, Mapping[str, Any]], block: int) -> tuple[list[str], list[str]]:
    """Check the contracts against the chain at ``block`` (see the module doc); returns (checks done,
    notes). Raises :class:`DeploymentRejected` naming the first contract that fails."""
    from ledger.artifacts import UnknownArtifact, load_artifact
    from ledger.deploy import SUITE
    from ledger.rpc import RpcError

    missing = [n for n in SUITE if n not in contracts]
    if missing:
        raise DeploymentRejected(f"the deployment lists no {', '.join(missing)} (the suite is {', '.join(SUITE)})")
    notes: list[str] = []
    by_address = {str(c["address"]).lower(): n for n, c in contracts.items()}
    for name in sorted(contracts):
        entry = contracts[name]
        address = str(entry["address"]).lower()
        try:
            artifact = load_artifact(name)
        except UnknownArtifact:
            raise DeploymentRejected(f"{name} at {address} is not a contract of this SDK") from None
        code = _code(node, address, block)
        if not code:
            raise DeploymentRejected(f"{name}: no code at {address} at block {block}")
        shipped = bytes.fromhex(artifact["deployedBytecode"].removeprefix("0x"))
        immutables = artifact.get("immutableReferences") or {}
        if len(code) != len(shipped) or _masked(code, immutables) != _masked(shipped, immutables):
            raise DeploymentRejected(f"{name}: the code at {address} is not the shipped {name} "
                                     f"({len(code)} bytes on chain, {len(shipped)} shipped)")
        methods = artifact.get("methodIdentifiers") or {}
        for view, target in WIRING_VIEWS.items():
            selector = methods.get(f"{view}()")
            if selector is None or target not in contracts:
                continue
            answer = str(node.call("eth_call", [{"to": address, "data": "0x" + selector}, hex(block)],
                                   phase="rpc_deployment"))
            named = "0x" + answer[-40:].lower()
            if named != str(contracts[target]["address"]).lower():
                known = by_address.get(named, "not in the deployment")
                raise DeploymentRejected(f"{name}.{view}() at {address} is {named} ({known}), but the deployment "
                                         f"lists {target} at {contracts[target]['address']}")
        deploy_block = int(entry.get("deployBlock", 0))
        if deploy_block > block:
            raise DeploymentRejected(f"{name}: deploy block {deploy_block} is after the verified block {block}")
        try:
            if not _code(node, address, deploy_block):
                raise DeploymentRejected(f"{name}: no code at {address} at its deploy block {deploy_block}")
            if deploy_block > 0 and _code(node, address, deploy_block - 1):
                raise DeploymentRejected(f"{name}: code at {address} already at block {deploy_block - 1}, "
                                         f"before its stated deploy block {deploy_block} (earlier events hidden?)")
        except RpcError as exc:
            notes.append(f"{name}: the node cannot answer eth_getCode at block {deploy_block} ({exc}); "
                         "its history is searched from block 0")
    checks = ["code equals the shipped artifacts (immutables masked)", "contracts wired to each other",
              "deploy blocks exact (code at the block, none before)"]
    return checks, notes


def resolve_contracts(node: Any, chain_id: int, block: int, *, state_dir: Path | str,
                      deployment_file: Optional[str] = None, gateway: Optional[str] = None) -> Resolved:
    """The contracts to verify against (see the module doc for the order and the checks)."""
    if deployment_file:
        path = Path(deployment_file)
        given = _load(lambda: Deployment.from_file(path))
        if given.chain_id is not None and given.chain_id != chain_id:
            raise DeploymentUnavailable(f"{path} is the deployment of chain {given.chain_id}; the node is chain "
                                        f"{chain_id}")
        return Resolved(given.entries(), "file", str(path), ["chain id"])
    local = Deployment.path_for(state_dir, chain_id)
    if local.exists():
        return Resolved(_load(lambda: Deployment.from_file(local)).entries(), "state-dir", str(local), [])
    if not gateway:
        raise DeploymentUnavailable(
            f"no deployment record for chain {chain_id} at {local}: pass --gateway URL (its /v1/contracts is "
            "checked against the chain) or --deployment FILE (a record you hold)")
    url, contracts = served_deployment(gateway, chain_id)
    checks, notes = check_against_chain(node, contracts, block)
    for note in notes:  # a pruned node: the deploy block was not proven, search from 0
        name = note.split(":", 1)[0]
        contracts[name]["deployBlock"] = 0
    return Resolved(contracts, "gateway", url, checks, notes)


def checked_gateway_record(rpc_url: str, gateway: str) -> Deployment:
    """The deployment built from ``gateway``'s ``/v1/contracts``
    after :func:`check_against_chain` at the node's head: what ``dataledger --gateway URL`` uses
    when it holds no record of its own. Raises DeploymentUnavailable / DeploymentRejected."""
    from gateway.verify.node import Node
    from ledger.rpc import NodeUnavailable, RpcError

    node = Node(rpc_url)
    try:
        chain_id = int(node.call("eth_chainId", []), 16)
        head = int(node.call("eth_blockNumber", []), 16)
        url, contracts = served_deployment(gateway, chain_id)
        _, notes = check_against_chain(node, contracts, head)
        for note in notes:
            contracts[note.split(":", 1)[0]]["deployBlock"] = 0
    except (NodeUnavailable, RpcError) as exc:
        raise DeploymentUnavailable(f"node at {rpc_url}: {exc}") from None
    finally:
        node.close()
    return Deployment.from_dict({"chainId": chain_id, "contracts": contracts}, f"{url} (checked against the chain)")
