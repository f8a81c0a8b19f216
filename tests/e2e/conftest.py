"""The node fixture of the end-to-end suite: the SAME tests run on anvil and on geth.

``node`` is parametrised (``[anvil]`` / ``[geth]`` in the test ids). Each parameter starts its own
node for the module: anvil (automine, 20 funded default-mnemonic accounts) or ``geth --dev
--dev.period 1`` (tests/geth_fixture.py: a block every second, EIP-1559 base fee, geth's revert
and error shapes) with the same accounts funded from geth's dev account. geth also runs with
``--rpc.rangelimit`` so the indexer's and the verifier's adaptive ``eth_getLogs`` ranges are
exercised against a node that refuses large ranges.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account import Account

from dataledger.dev.anvil import DEFAULT_MNEMONIC, AnvilError, AnvilNode
from tests.geth_fixture import GethError, GethNode

Account.enable_unaudited_hdwallet_features()

NODE_KINDS = ["anvil", "geth"]
N_ACCOUNTS = 20
#: geth answers eth_getLogs over at most this many blocks (the market spans several times that)
GETH_RANGE_LIMIT = 8


@dataclass
class DevNode:
    """What the suite needs of a node: its kind, JSON-RPC URL and chain id."""

    kind: str
    rpc_url: str
    chain_id: int
    handle: Any

    @property
    def range_limit(self) -> int:
        return int(getattr(self.handle, "range_limit", 0) or 0)


def default_addresses(n: int = N_ACCOUNTS) -> list[str]:
    return [Account.from_mnemonic(DEFAULT_MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}").address
            for i in range(n)]


@pytest.fixture(scope="module", params=NODE_KINDS)
def node(request: pytest.FixtureRequest) -> Iterator[DevNode]:
    if request.param == "anvil":
        anvil = AnvilNode(accounts=N_ACCOUNTS)
        try:
            anvil.start()
        except AnvilError as exc:
            pytest.fail(f"anvil could not start: {exc}", pytrace=False)
        try:
            yield DevNode("anvil", anvil.rpc_url, anvil.chain_id, anvil)
        finally:
            anvil.stop()
        return
    geth = GethNode(period=1, range_limit=GETH_RANGE_LIMIT)
    try:
        geth.start()
        geth.fund(default_addresses())
    except GethError as exc:
        geth.stop()
        pytest.fail(f"geth could not start: {exc}", pytrace=False)
    try:
        yield DevNode("geth", geth.rpc_url, geth.chain_id, geth)
    finally:
        geth.stop()
    # a node that had to be killed raised above; a clean shutdown exits 0
    assert geth.returncode == 0, f"geth exited with {geth.returncode} on SIGTERM:\n{geth.log_tail()}"
