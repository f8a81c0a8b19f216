"""Config validation of the Besu QBFT production profile (deploy/besu/, docs/deploy.md).

Besu cannot run here; these checks parse what an operator would install and hold it to the
rules Besu applies (read in hyperledger/besu at commit 3fd224e2e49ddd68aa61755525593a0a60c65507:
config/.../JsonGenesisConfigOptions.java for the genesis keys ``zerobasefee``, ``londonblock``,
``shanghaitime``, ``cancuntime``; JsonBftConfigOptions.java for the ``qbft`` keys;
ethereum/permissioning/.../PermissioningConfigurationBuilder.java for ``nodes-allowlist`` /
``accounts-allowlist``; the CLI option classes under app/src/main/java/.../cli/ for every node
TOML key in BESU_OPTIONS below).
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from eth_utils.crypto import keccak

from gateway.verify import qbft

ROOT = Path(__file__).resolve().parents[1]
PROFILE = ROOT / "deploy" / "besu"
DOC = ROOT / "docs" / "deploy.md"

#: every key a node TOML may use: Besu CLI options (``--<key>``), each found in Besu's sources
BESU_OPTIONS = frozenset({
    "data-path", "genesis-file", "node-private-key-file", "p2p-host", "p2p-port", "bootnodes",
    "sync-mode", "data-storage-format", "min-gas-price", "tx-pool-min-gas-price",
    "permissions-nodes-config-file-enabled", "permissions-nodes-config-file",
    "permissions-accounts-config-file-enabled", "permissions-accounts-config-file",
    "rpc-http-enabled", "rpc-http-port", "rpc-http-host", "rpc-http-api", "host-allowlist",
    "metrics-enabled", "metrics-host", "rpc-max-logs-range", "rpc-http-max-batch-size",
})
ENODE = re.compile(r"^enode://([0-9a-f]{128})@([0-9.]+):(\d+)$")


def load_profile(directory: Path) -> dict[str, Any]:
    nodes = {p.stem: tomllib.loads(p.read_text()) for p in sorted((directory / "nodes").glob("*.toml"))}
    return {
        "genesis": json.loads((directory / "genesis.json").read_text()),
        "identities": json.loads((directory / "validators.json").read_text()),
        "permissions": tomllib.loads((directory / "permissions_config.toml").read_text()),
        "nodes": nodes,
    }


def address_of(public_key_hex: str) -> str:
    return "0x" + keccak(bytes.fromhex(public_key_hex))[12:].hex()


def check_profile(p: dict[str, Any]) -> None:
    """Every rule of the profile; raises AssertionError naming the first broken one."""
    g, ids, perms, nodes = p["genesis"], p["identities"], p["permissions"], p["nodes"]
    config = g["config"]
    # chain id and QBFT parameters
    assert config["chainId"] == ids["chain_id"] and isinstance(config["chainId"], int)
    bft = config["qbft"]
    assert set(bft) == {"blockperiodseconds", "epochlength", "requesttimeoutseconds"}
    assert bft["blockperiodseconds"] >= 1 and bft["epochlength"] >= 1
    assert bft["requesttimeoutseconds"] >= 2 * bft["blockperiodseconds"], "round timeout below 2 block periods"
    assert "validatorcontractaddress" not in bft and "transitions" not in config
    assert g["mixHash"] == qbft.MIX_HASH and g["difficulty"] == "0x1" and g["nonce"] == "0x0"
    # forks through Cancun at genesis (the contracts are compiled for cancun)
    compiler = json.loads((ROOT / "contracts" / "compiler.json").read_text())
    assert compiler["settings"]["evmVersion"] == "cancun"
    for key in ("berlinBlock", "londonBlock", "shanghaiTime", "cancunTime"):
        assert config.get(key) == 0, f"{key} must be 0 (active at genesis)"
    for key in ("homesteadBlock", "eip150Block", "eip155Block", "eip158Block", "byzantiumBlock",
                "constantinopleBlock", "petersburgBlock", "istanbulBlock"):
        assert config.get(key, 0) == 0, key
    # zero gas price
    assert config.get("zeroBaseFee") is True
    for name, toml in nodes.items():
        assert toml.get("min-gas-price") == 0 and toml.get("tx-pool-min-gas-price") == 0, name
    # the validators: exactly the 4 documented ones, in extraData as Besu encodes them
    validators = [n for n in ids["nodes"] if n["validator"]]
    assert len(validators) == 4
    for n in ids["nodes"] + ids["accounts"]:
        assert n["address"] == n["address"].lower() and len(n["address"]) == 42
    for n in ids["nodes"]:
        assert address_of(n["public_key"]) == n["address"], f"{n['name']}: address is not keccak(public key)"
    extra = qbft.decode_extra_data(g["extraData"])
    assert extra.validators == tuple(sorted(v["address"] for v in validators))
    assert extra.vanity == bytes(32) and extra.vote is None and extra.round == 0 and extra.seals == ()
    assert qbft.validators_from_genesis(g) == (extra.validators, bft["epochlength"])
    assert g["extraData"] == qbft.genesis_extra_data(extra.validators)
    # permissioning: nodes allowlist = every node's enode; accounts allowlist = the documented accounts
    assert set(perms) == {"nodes-allowlist", "accounts-allowlist"}
    enodes = {}
    for url in perms["nodes-allowlist"]:
        m = ENODE.match(url)
        assert m, url
        enodes[m.group(1)] = (m.group(2), int(m.group(3)))
    assert enodes == {n["public_key"]: (n["host"], n["p2p_port"]) for n in ids["nodes"]}
    assert perms["accounts-allowlist"] == [a["address"] for a in ids["accounts"]]
    # node configs
    assert set(nodes) == {n["name"] for n in ids["nodes"]}
    for n in ids["nodes"]:
        toml = nodes[n["name"]]
        assert set(toml) <= BESU_OPTIONS, f"{n['name']}: unknown options {set(toml) - BESU_OPTIONS}"
        assert toml["p2p-host"] == n["host"] and toml["p2p-port"] == n["p2p_port"]
        assert toml["node-private-key-file"].endswith(f"/{n['name']}/key")
        assert toml["genesis-file"].endswith("/genesis.json")
        for kind in ("nodes", "accounts"):
            assert toml[f"permissions-{kind}-config-file-enabled"] is True
            assert toml[f"permissions-{kind}-config-file"].endswith("/permissions_config.toml")
        assert set(toml["bootnodes"]) <= set(perms["nodes-allowlist"])
        assert not any(n["public_key"] in b for b in toml["bootnodes"]), "a node is its own bootnode"
        assert toml["rpc-http-enabled"] is True and toml["rpc-http-port"] == n["rpc_port"]
        if n["validator"]:
            assert toml["rpc-http-host"] == "127.0.0.1", "validators answer RPC on loopback only"
            assert "PERM" in toml["rpc-http-api"] and "QBFT" in toml["rpc-http-api"]
        else:
            assert toml["data-storage-format"] == "FOREST", "RPC nodes keep all state (eth_getProof)"
            assert toml["rpc-max-logs-range"] == 0
            assert {"ETH", "NET", "DEBUG"} <= set(toml["rpc-http-api"]) and "ADMIN" not in toml["rpc-http-api"]
            assert "PERM" not in toml["rpc-http-api"]


@pytest.fixture(scope="module")
def profile_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("besu_profile", PROFILE / "profile.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_committed_profile_is_valid() -> None:
    check_profile(load_profile(PROFILE))


def test_docs_name_the_validators_and_accounts() -> None:
    ids = json.loads((PROFILE / "validators.json").read_text())
    doc = DOC.read_text()
    rows = dict(re.findall(r"^\| ([a-z0-9-]+) \| `(0x[0-9a-f]{40})` \|$", doc, re.M))
    validators = {n["name"]: n["address"] for n in ids["nodes"] if n["validator"]}
    accounts = {a["name"]: a["address"] for a in ids["accounts"]}
    assert rows == {**validators, **accounts}
    assert f"chain id {ids['chain_id']}" in doc
    for topic in ("PostgreSQL", "standby", "replica", "Kubo", "Backups", "Key rotation", "Sizing",
                  "cancunTime", "zeroBaseFee", "min-gas-price", "accounts-allowlist", "nodes-allowlist",
                  "dataledger --account deployer deploy", "RPC_URL", "--validators"):
        assert topic in doc, topic


def test_genesis_of_the_profile_anchors_the_verifier(tmp_path: Path) -> None:
    # the verifier's --validators accepts the profile's genesis as it is
    assert qbft.load_validators(PROFILE / "genesis.json") == qbft.decode_extra_data(
        json.loads((PROFILE / "genesis.json").read_text())["extraData"]).validators


def test_generator_rebuilds_the_committed_files_from_public_identities(profile_module: ModuleType,
                                                                       tmp_path: Path) -> None:
    out = tmp_path / "profile"
    out.mkdir()
    shutil.copy(PROFILE / "validators.json", out / "validators.json")
    assert profile_module.main(["--out", str(out), "--keys", str(tmp_path / "no-keys")]) == 0
    for rel in ["genesis.json", "validators.json", "permissions_config.toml"] + [
            f"nodes/{p.name}" for p in (PROFILE / "nodes").glob("*.toml")]:
        assert (out / rel).read_text() == (PROFILE / rel).read_text(), rel


def test_generator_new_network_is_consistent(profile_module: ModuleType, tmp_path: Path) -> None:
    out, key_dir = tmp_path / "net", tmp_path / "keys"
    assert profile_module.main(["--out", str(out), "--keys", str(key_dir), "--new-keys", "--chain-id", "4242"]) == 0
    p = load_profile(out)
    check_profile(p)
    assert p["genesis"]["config"]["chainId"] == 4242
    # the key files are the identities: key -> address, key.pub -> enode
    from eth_keys.datatypes import PrivateKey

    for n in p["identities"]["nodes"]:
        key = PrivateKey(bytes.fromhex((key_dir / n["name"] / "key").read_text()[2:]))
        assert key.public_key.to_bytes().hex() == n["public_key"] == (key_dir / n["name"] / "key.pub").read_text()[2:]
        assert (key_dir / n["name"] / "key").stat().st_mode & 0o077 == 0
    for a in p["identities"]["accounts"]:
        key = PrivateKey(bytes.fromhex((key_dir / a["name"] / "key").read_text()[2:]))
        assert key.public_key.to_checksum_address().lower() == a["address"]
    # no private key ends up in the profile files
    secrets = {(key_dir / d.name / "key").read_text()[2:] for d in key_dir.iterdir()}
    for f in out.rglob("*"):
        if f.is_file():
            assert not any(s in f.read_text() for s in secrets), f
    # a second --new-keys refuses to overwrite a network's keys
    with pytest.raises(SystemExit):
        profile_module.main(["--out", str(out), "--keys", str(key_dir), "--new-keys"])


@pytest.mark.parametrize("breakage", [
    "chain id", "validator count", "extraData address", "gas price", "cancun", "allowlist", "toml typo",
    "validator rpc exposed", "contract validators",
])
def test_broken_profiles_are_caught(breakage: str) -> None:
    p = load_profile(PROFILE)
    g, ids, nodes = p["genesis"], p["identities"], p["nodes"]
    if breakage == "chain id":
        g["config"]["chainId"] += 1
    elif breakage == "validator count":
        three = sorted(n["address"] for n in ids["nodes"] if n["validator"])[:3]
        g["extraData"] = qbft.genesis_extra_data(three)
    elif breakage == "extraData address":
        addrs = sorted(n["address"] for n in ids["nodes"] if n["validator"])
        g["extraData"] = qbft.genesis_extra_data(addrs[:3] + ["0x" + "12" * 20])
    elif breakage == "gas price":
        nodes["rpc-2"]["min-gas-price"] = 1000
    elif breakage == "cancun":
        del g["config"]["cancunTime"]
    elif breakage == "allowlist":
        p["permissions"]["nodes-allowlist"] = p["permissions"]["nodes-allowlist"][:-1]
    elif breakage == "toml typo":
        nodes["validator-2"]["min-gas-prise"] = 0
    elif breakage == "validator rpc exposed":
        nodes["validator-3"]["rpc-http-host"] = "0.0.0.0"
    else:
        g["config"]["qbft"]["validatorcontractaddress"] = "0x" + "00" * 19 + "07"
    with pytest.raises((AssertionError, qbft.QbftError)):
        check_profile(p)
