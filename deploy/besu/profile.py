"""Generate the Besu QBFT production profile of dataledger (docs/deploy.md).

    .venv/bin/python deploy/besu/profile.py --new-keys          # a new network: new keys, new genesis
    .venv/bin/python deploy/besu/profile.py                      # rewrite the files from the keys in --keys

Writes into ``--out`` (default: this directory):

- ``genesis.json``: QBFT (blockperiodseconds, epochlength, requesttimeoutseconds), every fork up
  to Cancun at genesis (``londonBlock`` 0, ``shanghaiTime`` 0, ``cancunTime`` 0: the contracts are
  compiled for evmVersion cancun), ``zeroBaseFee`` (no gas price), the validators in ``extraData``
  (Besu's layout: ``rlp([32 zero bytes, validators, [], 0, []])``);
- ``validators.json``: the node identities (address, public key, host, ports) and the accounts
  allowed to send transactions;
- ``permissions_config.toml``: ``nodes-allowlist`` (every validator and RPC node, as enode URLs)
  and ``accounts-allowlist`` (the deployer / market admin and the gateways' relayers);
- ``nodes/<name>.toml``: one Besu configuration per node (validators: RPC on loopback only;
  RPC nodes: the indexer's and gateways' endpoint, FOREST storage for historical state proofs).

Private keys go to ``--keys`` (default ``deploy/besu/keys/``, ignored by git), one directory per
node (``key``, ``key.pub`` in Besu's format) and per account (``key``, to import with
``dataledger wallet import``). They are never written into the profile files.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_keys.datatypes import PrivateKey

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))

from gateway.verify.qbft import MIX_HASH, genesis_extra_data  # noqa: E402

CHAIN_ID = 7212
BLOCK_PERIOD_SECONDS = 2
EPOCH_LENGTH = 30000
REQUEST_TIMEOUT_SECONDS = 4
P2P_PORT = 30303
RPC_PORT = 8545
#: validators and RPC (non-validator) nodes, with their private-network addresses
NODES: tuple[tuple[str, str, bool], ...] = (
    ("validator-1", "10.10.0.11", True),
    ("validator-2", "10.10.0.12", True),
    ("validator-3", "10.10.0.13", True),
    ("validator-4", "10.10.0.14", True),
    ("rpc-1", "10.10.0.21", False),
    ("rpc-2", "10.10.0.22", False),
)
#: accounts allowed to send transactions (Besu local account permissioning)
ACCOUNTS = ("deployer", "relayer-1", "relayer-2")


@dataclass
class Identity:
    name: str
    address: str      # 0x-lowercase
    public_key: str   # 64 bytes, hex without 0x (as in an enode URL)


def _identity(name: str, key: PrivateKey) -> Identity:
    return Identity(name, key.public_key.to_checksum_address().lower(), key.public_key.to_bytes().hex())


def _load(keys_dir: Path, name: str, create: bool, known: dict[str, Identity]) -> Identity:
    """A node's or account's identity: a new key (``create``), its key file, else the public
    identity already in validators.json (so the profile can be rewritten without private keys)."""
    path = keys_dir / name / "key"
    if create:
        if path.exists():
            raise SystemExit(f"{path} exists: remove the keys directory to create a new network")
        path.parent.mkdir(parents=True, exist_ok=True)
        key = PrivateKey(secrets.token_bytes(32))
        path.write_text("0x" + key.to_bytes().hex())
        path.chmod(0o600)
        (path.parent / "key.pub").write_text("0x" + key.public_key.to_bytes().hex())
        return _identity(name, key)
    if path.exists():
        return _identity(name, PrivateKey(bytes.fromhex(path.read_text().strip().removeprefix("0x"))))
    if name in known:
        return known[name]
    raise SystemExit(f"{path} is missing and {name} is not in validators.json: run with --new-keys")


def _known(out: Path) -> dict[str, Identity]:
    path = out / "validators.json"
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return {e["name"]: Identity(e["name"], e["address"], e.get("public_key", ""))
            for e in data["nodes"] + data["accounts"]}


def enode(node: Identity, host: str) -> str:
    return f"enode://{node.public_key}@{host}:{P2P_PORT}"


def genesis(validators: list[Identity], chain_id: int) -> dict[str, Any]:
    return {
        "config": {
            "chainId": chain_id,
            "homesteadBlock": 0, "eip150Block": 0, "eip155Block": 0, "eip158Block": 0,
            "byzantiumBlock": 0, "constantinopleBlock": 0, "petersburgBlock": 0, "istanbulBlock": 0,
            "berlinBlock": 0, "londonBlock": 0, "shanghaiTime": 0, "cancunTime": 0,
            "zeroBaseFee": True,
            "qbft": {
                "blockperiodseconds": BLOCK_PERIOD_SECONDS,
                "epochlength": EPOCH_LENGTH,
                "requesttimeoutseconds": REQUEST_TIMEOUT_SECONDS,
            },
        },
        "nonce": "0x0",
        "timestamp": "0x0",
        "gasLimit": "0x1fffffffffffff",
        "difficulty": "0x1",
        "mixHash": MIX_HASH,
        "coinbase": "0x0000000000000000000000000000000000000000",
        "alloc": {},
        "extraData": genesis_extra_data(sorted(v.address for v in validators)),
    }


def _toml_list(values: list[str]) -> str:
    return "[\n" + "".join(f'  "{v}",\n' for v in values) + "]"


def permissions(nodes: list[tuple[Identity, str]], accounts: list[Identity]) -> str:
    return (
        "# Besu local permissioning (generated by deploy/besu/profile.py; edit through the PERM JSON-RPC\n"
        "# API, perm_addNodesToAllowlist / perm_addAccountsToAllowlist, which rewrites this file on the\n"
        "# node that receives the call: apply every change on every node).\n"
        f"nodes-allowlist={_toml_list([enode(n, host) for n, host in nodes])}\n"
        f"# {', '.join(a.name for a in accounts)}: market participants act through the gateway's\n"
        "# ERC-2771 relay, so only the relayers and the deployer/admin send transactions.\n"
        f"accounts-allowlist={_toml_list([a.address for a in accounts])}\n"
    )


def node_toml(node: Identity, host: str, validator: bool, peers: list[tuple[Identity, str]]) -> str:
    lines = [
        f"# Besu {'validator' if validator else 'RPC (non-validator) node'} {node.name} of the dataledger QBFT network",
        "# (generated by deploy/besu/profile.py; paths as installed by docs/deploy.md)",
        f'data-path="/var/lib/besu/{node.name}"',
        'genesis-file="/etc/besu/genesis.json"',
        f'node-private-key-file="/etc/besu/keys/{node.name}/key"',
        f'p2p-host="{host}"',
        f"p2p-port={P2P_PORT}",
        f"bootnodes={_toml_list([enode(p, h) for p, h in peers if p.name.startswith('validator') and p is not node])}",
        'sync-mode="FULL"',
        # validators keep recent state only; RPC nodes keep all state (eth_getProof at any block)
        f'data-storage-format="{"BONSAI" if validator else "FOREST"}"',
        "# zero gas price (with zeroBaseFee in the genesis)",
        "min-gas-price=0",
        "tx-pool-min-gas-price=0",
        "permissions-nodes-config-file-enabled=true",
        'permissions-nodes-config-file="/etc/besu/permissions_config.toml"',
        "permissions-accounts-config-file-enabled=true",
        'permissions-accounts-config-file="/etc/besu/permissions_config.toml"',
        "rpc-http-enabled=true",
        f"rpc-http-port={RPC_PORT}",
        "metrics-enabled=true",
        f"metrics-host=\"{host}\"",
    ]
    if validator:
        lines += [
            '# validators answer JSON-RPC on loopback only (operators, qbft_* votes)',
            'rpc-http-host="127.0.0.1"',
            'rpc-http-api=["ETH","NET","WEB3","QBFT","ADMIN","PERM"]',
            'host-allowlist=["localhost","127.0.0.1"]',
        ]
    else:
        lines += [
            "# the indexer, the gateways and the verifier connect here (private network only)",
            f'rpc-http-host="{host}"',
            "# DEBUG: debug_getRawTransaction, how proof bundles read raw transactions from Besu",
            'rpc-http-api=["ETH","NET","WEB3","QBFT","TXPOOL","DEBUG"]',
            'host-allowlist=["*"]',
            "# no block-range cap on eth_getLogs (the indexer and the verifier page their own ranges)",
            "rpc-max-logs-range=0",
            "rpc-http-max-batch-size=1024",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Generate the Besu QBFT profile of dataledger (docs/deploy.md).")
    p.add_argument("--out", type=Path, default=HERE)
    p.add_argument("--keys", type=Path, default=HERE / "keys")
    p.add_argument("--new-keys", action="store_true", help="create new node and account keys")
    p.add_argument("--chain-id", type=int, default=CHAIN_ID)
    args = p.parse_args(argv)
    known = {} if args.new_keys else _known(args.out)
    nodes = [(_load(args.keys, name, args.new_keys, known), host, v) for name, host, v in NODES]
    accounts = [_load(args.keys, name, args.new_keys, known) for name in ACCOUNTS]
    validators = [n for n, _, v in nodes if v]
    peers = [(n, h) for n, h, _ in nodes]
    out: Path = args.out
    (out / "nodes").mkdir(parents=True, exist_ok=True)
    (out / "genesis.json").write_text(json.dumps(genesis(validators, args.chain_id), indent=2) + "\n")
    (out / "permissions_config.toml").write_text(permissions(peers, accounts))
    for n, host, v in nodes:
        (out / "nodes" / f"{n.name}.toml").write_text(node_toml(n, host, v, peers))
    identities = {
        "chain_id": args.chain_id,
        "nodes": [{"name": n.name, "validator": v, "address": n.address, "public_key": n.public_key,
                   "host": host, "p2p_port": P2P_PORT, "rpc_port": RPC_PORT} for n, host, v in nodes],
        "accounts": [{"name": a.name, "address": a.address} for a in accounts],
    }
    (out / "validators.json").write_text(json.dumps(identities, indent=2) + "\n")
    print(f"profile written to {out} ({len(validators)} validators, chain id {args.chain_id}); keys in {args.keys}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
