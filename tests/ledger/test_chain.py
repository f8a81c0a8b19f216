"""Ledger.connect: chain id checks, deployment records, PoA extraData, zero gas price networks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3
from web3.exceptions import ExtraDataLengthError
from web3.providers import BaseProvider

from dataledger.dev.anvil import AnvilNode
from ledger.chain import Ledger, apply_poa_middleware, is_poa_extra_data
from ledger.deploy import write_deployment
from ledger.errors import ChainIdMismatch, ConnectionFailed, DeploymentMissing, NoAccount
from tests.ledger.conftest import SdkMarket


def test_connect_with_record_dict_path_and_state_dir(sdk_market: SdkMarket, tmp_path: Path) -> None:
    led = Ledger.connect(sdk_market.rpc_url, chain_id=31337, deployment=sdk_market.record)
    assert led.chain_id == 31337 and not led.poa
    assert led.participants.participant(sdk_market.addr["holder_hk"]).jurisdiction == "HK"
    path = write_deployment(tmp_path, sdk_market.record)
    by_path = Ledger.connect(sdk_market.rpc_url, deployment=path)
    assert by_path.address_of("DataVoucher") == led.address_of("DataVoucher")
    by_dir = Ledger.connect(sdk_market.rpc_url, state_dir=tmp_path)
    assert by_dir.deploy_block("DataVoucher") == sdk_market.record["contracts"]["DataVoucher"]["deployBlock"]


def test_chain_id_mismatch(sdk_market: SdkMarket, tmp_path: Path) -> None:
    with pytest.raises(ChainIdMismatch, match="expected 1 .*reports 31337"):
        Ledger.connect(sdk_market.rpc_url, chain_id=1)
    record = dict(sdk_market.record, chainId=1337)
    with pytest.raises(ChainIdMismatch, match="deployment record"):
        Ledger.connect(sdk_market.rpc_url, deployment=record)


def test_missing_or_bad_deployment(sdk_market: SdkMarket, tmp_path: Path) -> None:
    led = Ledger.connect(sdk_market.rpc_url, state_dir=tmp_path)
    assert not led.has_deployment()
    with pytest.raises(DeploymentMissing, match="no deployment record for chain 31337"):
        led.vouchers
    with pytest.raises(DeploymentMissing, match="does not exist"):
        Ledger.connect(sdk_market.rpc_url, deployment=tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"chainId": 31337}))
    with pytest.raises(DeploymentMissing, match="not a deployment record"):
        Ledger.connect(sdk_market.rpc_url, deployment=bad)
    with pytest.raises(NoAccount):
        Ledger.connect(sdk_market.rpc_url, deployment=sdk_market.record).vouchers.freeze(1, "x")


def test_unreachable_endpoint() -> None:
    with pytest.raises(ConnectionFailed, match="no JSON-RPC answer"):
        Ledger.connect("http://127.0.0.1:9")


def test_account_from_private_key(sdk_market: SdkMarket) -> None:
    key = sdk_market.key("holder_cn").key.hex()
    led = Ledger.connect(sdk_market.rpc_url, deployment=sdk_market.record, account=key)
    assert led.address == sdk_market.addr["holder_cn"]


# ------------------------------------------------------------------ proof of authority


EXTRA_97 = "0x" + "00" * 32 + "ab" * 65  # vanity + a 65-byte seal: Clique/QBFT-sized


class FakePoaProvider(BaseProvider):
    """Answers like a PoA node whose blocks carry 97 bytes of extraData."""

    def __init__(self, chain_id: int = 1337, extra: str = EXTRA_97) -> None:
        super().__init__()
        self.chain_id = chain_id
        self.extra = extra

    def _block(self) -> dict[str, Any]:
        return {
            "number": "0x5", "hash": "0x" + "11" * 32, "parentHash": "0x" + "22" * 32,
            "nonce": "0x0000000000000000", "sha3Uncles": "0x" + "33" * 32, "logsBloom": "0x" + "00" * 256,
            "transactionsRoot": "0x" + "44" * 32, "stateRoot": "0x" + "55" * 32,
            "receiptsRoot": "0x" + "66" * 32, "miner": "0x" + "00" * 20, "difficulty": "0x1",
            "totalDifficulty": "0x1", "extraData": self.extra, "size": "0x200", "gasLimit": "0x1c9c380",
            "gasUsed": "0x0", "timestamp": "0x6553f100", "transactions": [], "uncles": [],
            "mixHash": "0x" + "00" * 32,
        }

    def make_request(self, method: Any, params: Any) -> Any:
        if method == "eth_chainId":
            return {"jsonrpc": "2.0", "id": 1, "result": hex(self.chain_id)}
        if method == "eth_getBlockByNumber":
            return {"jsonrpc": "2.0", "id": 1, "result": self._block()}
        if method == "eth_gasPrice":
            return {"jsonrpc": "2.0", "id": 1, "result": "0x0"}
        return {"jsonrpc": "2.0", "id": 1, "error": {"code": -32601, "message": f"{method} not faked"}}

    def is_connected(self, show_traceback: bool = False) -> bool:
        return True


def test_poa_extra_data_detection() -> None:
    assert is_poa_extra_data(EXTRA_97)
    assert not is_poa_extra_data("0x" + "00" * 32)
    assert not is_poa_extra_data(None)
    assert is_poa_extra_data(bytes(97))


def test_poa_middleware_injected_for_long_extra_data() -> None:
    plain = Web3(FakePoaProvider())
    with pytest.raises(ExtraDataLengthError):
        plain.eth.get_block("latest")
    led = Ledger.connect(FakePoaProvider(), chain_id=1337)
    assert led.poa is True
    block = led.w3.eth.get_block("latest")
    assert len(block["proofOfAuthorityData"]) == 97
    assert apply_poa_middleware(led.w3) is True  # idempotent


def test_no_poa_middleware_for_short_extra_data() -> None:
    led = Ledger.connect(FakePoaProvider(extra="0x" + "00" * 32), chain_id=1337)
    assert led.poa is False


def test_zero_gas_price_network_sends_legacy_price_zero(accounts: list[Any]) -> None:
    """A Besu-style free-gas network: anvil with base fee 0 and gas price 0."""
    with AnvilNode(accounts=2, extra_args=("--gas-price", "0", "--base-fee", "0", "--no-priority-fee")) as node:
        led = Ledger.connect(node.rpc_url, account=accounts[0])
        assert int(led.w3.eth.gas_price) == 0
        sent = led.send({"to": accounts[1].address, "value": 1})
        tx = led.w3.eth.get_transaction(sent.tx_hash)
        assert tx["gasPrice"] == 0 and tx["type"] == 0
        assert led.fees.fields(led.w3) == {"gasPrice": 0}
