"""Shared fixtures: real anvil, PostgreSQL and Kubo, started by the test run itself.

A fixture whose service cannot start FAILS the test (pytest.fail, with the reason); nothing skips.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from dataledger.dev.anvil import DEFAULT_MNEMONIC, AnvilError, AnvilNode
from tests.kubo_fixture import kubo, kubo2  # fixture re-export
from tests.postgres_fixture import postgres_url  # fixture re-export

Account.enable_unaudited_hdwallet_features()

N_ACCOUNTS = 20


#: Run the chain tests against this JSON-RPC node instead of starting anvil (the coverage run's
#: instrumented Hardhat node, scripts/coverage/run.js). It must serve anvil's default accounts.
TEST_RPC_URL_ENV = "DATALEDGER_TEST_RPC_URL"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "anvil_only: needs anvil itself (anvil_* RPC methods); deselected by the coverage run"
    )
    config.addinivalue_line("markers", "gas: asserts gas figures; deselected by the coverage run (instrumented code)")


@dataclass
class ExternalNode:
    """A node this test run did not start (see TEST_RPC_URL_ENV)."""

    rpc_url: str


@pytest.fixture(scope="session")
def anvil() -> Iterator[AnvilNode | ExternalNode]:
    external = os.environ.get(TEST_RPC_URL_ENV)
    if external:
        yield ExternalNode(external)
        return
    node = AnvilNode(accounts=N_ACCOUNTS)
    try:
        node.start()
    except AnvilError as exc:
        pytest.fail(f"anvil could not start: {exc}", pytrace=False)
    yield node
    node.stop()


@pytest.fixture(scope="session")
def w3(anvil: AnvilNode | ExternalNode) -> Web3:
    web3 = Web3(Web3.HTTPProvider(anvil.rpc_url, request_kwargs={"timeout": 60}))
    assert web3.is_connected(), f"node at {anvil.rpc_url} does not answer"
    return web3


@pytest.fixture(scope="session")
def accounts() -> list[LocalAccount]:
    """anvil's funded, unlocked default accounts (m/44'/60'/0'/0/i of the default mnemonic)."""
    return [
        Account.from_mnemonic(DEFAULT_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}")
        for i in range(N_ACCOUNTS)
    ]


@dataclass
class Chain:
    """Per-test handle on the chain: snapshot isolation and time control."""

    w3: Web3

    def rpc(self, method: str, *params: Any) -> Any:
        response = self.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
        if "error" in response:
            raise RuntimeError(f"{method}: {response['error']}")
        return response["result"]

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def mine(self, timestamp: int | None = None) -> None:
        if timestamp is not None:
            self.rpc("evm_mine", timestamp)
        else:
            self.rpc("evm_mine")

    def time_travel(self, seconds: int) -> int:
        """Move the clock forward and mine one block; returns the new head timestamp."""
        self.rpc("evm_increaseTime", seconds)
        self.rpc("evm_mine")
        return self.now()

    def snapshot(self) -> str:
        return str(self.rpc("evm_snapshot"))

    def revert(self, snapshot_id: str) -> None:
        assert self.rpc("evm_revert", snapshot_id), f"evm_revert({snapshot_id}) failed"


@pytest.fixture
def chain(w3: Web3) -> Iterator[Chain]:
    handle = Chain(w3)
    snapshot_id = handle.snapshot()
    yield handle
    handle.revert(snapshot_id)


def pytest_report_header(config: pytest.Config) -> str:
    return f"dataledger tests: DATABASE_URL={os.environ.get('DATABASE_URL', '(fixture-managed)')}"
