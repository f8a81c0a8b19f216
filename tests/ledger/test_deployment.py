"""ledger.deployment.Deployment: the one reader and writer of the deployment record (no chain needed;
the gateway's /v1/contracts shape is checked end to end in tests/gateway/test_cli_anywhere.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from eth_utils.address import to_checksum_address

from ledger.deployment import Deployment, DeploymentInvalid
from ledger.errors import ChainIdMismatch, DeploymentMissing

A = "0x" + "ab" * 20
B = "0x" + "cd" * 20
RECORD = {"chainId": 31337, "contracts": {"DataVoucher": {"address": A, "deployBlock": 7},
                                          "AssetRegistry": {"address": B, "deployBlock": 3}}}


def test_the_three_shapes_read_alike() -> None:
    record = Deployment.from_dict(RECORD)
    api = Deployment.from_dict({"chain_id": 31337, "contracts": {
        "DataVoucher": {"address": A.upper().replace("0X", "0x"), "deploy_block": 7, "abi": []},
        "AssetRegistry": {"address": B, "deploy_block": 3, "abi": []}}})
    assert record == api
    assert record.address("DataVoucher") == to_checksum_address(A)
    with pytest.raises(DeploymentMissing, match="has no TradeSettlement"):
        record.address("TradeSettlement")
    assert record.deploy_block("DataVoucher") == 7 and record.deploy_block("Nope") == 0
    assert record.start_block == 3
    assert record.entries() == {"AssetRegistry": {"address": B, "deployBlock": 3},
                                "DataVoucher": {"address": A, "deployBlock": 7}}
    bare = Deployment.from_dict({"contracts": {"DataVoucher": A}})
    assert bare.chain_id is None and bare.deploy_block("DataVoucher") == 0
    assert bare.check_chain(5) is bare  # a record that does not say accepts any chain


def test_record_round_trip_and_the_one_path(tmp_path: Path) -> None:
    written = Deployment.from_dict(RECORD).write(tmp_path)
    assert written == Deployment.path_for(tmp_path, 31337) == tmp_path / "deployments" / "31337.json"
    assert json.loads(written.read_text())["contracts"]["DataVoucher"]["deployBlock"] == 7
    again = Deployment.from_state_dir(tmp_path, 31337)
    assert again == Deployment.from_dict(RECORD)
    assert Deployment.from_state_dir(tmp_path, 1) is None
    with pytest.raises(DeploymentMissing, match="no deployment record for chain 1"):
        Deployment.require(tmp_path, 1)
    assert Deployment.load(str(written), chain_id=31337) == again
    with pytest.raises(ChainIdMismatch):
        Deployment.load(str(written), chain_id=1)
    api = again.to_api()
    assert api["chain_id"] == 31337 and api["contracts"]["DataVoucher"]["deploy_block"] == 7
    assert api["contracts"]["DataVoucher"]["abi"], "the shipped ABI"


@pytest.mark.parametrize("data, says", [
    ([], "not a JSON object"),
    ({}, "no 'contracts' mapping"),
    ({"contracts": {}}, "no 'contracts' mapping"),
    ({"contracts": {"X": {"deployBlock": 1}}}, "has no address"),
    ({"contracts": {"X": {"address": "0x12", "deployBlock": 1}}}, "not an address"),
    ({"contracts": {"X": {"address": "0x" + "zz" * 20}}}, "not an address"),
    ({"contracts": {"X": {"address": A, "deployBlock": -1}}}, "not an address and a block"),
    ({"contracts": {"X": {"address": A, "deployBlock": "soon"}}}, "has no address / deploy block"),
    ({"chainId": "x", "contracts": {"X": A}}, "is not an integer"),
])
def test_bad_records_are_refused_with_a_reason(data: Any, says: str) -> None:
    with pytest.raises(DeploymentInvalid, match=says):
        Deployment.from_dict(data, "test record")


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(DeploymentMissing, match="does not exist"):
        Deployment.from_file(tmp_path / "none.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(DeploymentInvalid, match="cannot read deployment record"):
        Deployment.from_file(broken)
    (tmp_path / "deployments").mkdir()
    Deployment.path_for(tmp_path, 9).write_text(json.dumps({**RECORD, "chainId": 8}))
    with pytest.raises(ChainIdMismatch):  # filed under 9 but says 8
        Deployment.from_state_dir(tmp_path, 9)


def test_a_record_without_a_chain_id_is_not_filed(tmp_path: Path) -> None:
    with pytest.raises(DeploymentInvalid, match="without a chain id"):
        Deployment.from_dict({"contracts": {"X": A}}).write(tmp_path)
    assert not (tmp_path / "deployments").exists()
