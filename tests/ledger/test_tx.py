"""Safe sending: distinct nonces for concurrent senders, retries that never send twice,
resync after "nonce too low", reverts decoded before anything is sent, receipt timeouts."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak
from web3 import Web3

from ledger.errors import ContractRevert, TxError, TxTimeout
from ledger.tx import NonceManager, TxSender
from tests.ledger.conftest import SdkMarket


def test_concurrent_senders_distinct_nonces_all_land(sdk_market: SdkMarket) -> None:
    w3 = sdk_market.base.w3
    account = sdk_market.key(14)
    sender = TxSender(w3, account, NonceManager(w3))
    start = w3.eth.get_transaction_count(account.address)
    target = sdk_market.accounts[13].address
    results: list[Any] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            for _ in range(5):
                sent = sender.send({"to": target, "value": 1})
                with lock:
                    results.append(sent)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    nonces = sorted(r.nonce for r in results)
    assert nonces == list(range(start, start + 40))
    assert all(r.receipt["status"] == 1 for r in results)
    assert w3.eth.get_transaction_count(account.address) == start + 40


def test_concurrent_clients_share_the_ledger_nonce_manager(sdk_market: SdkMarket) -> None:
    holder = sdk_market.as_("holder_cn")
    start = holder.w3.eth.get_transaction_count(holder.address)
    ids: list[int] = []
    errors: list[BaseException] = []

    def register() -> None:
        try:
            from tests.ledger.conftest import fresh_content

            cid, digest = fresh_content("thread")
            ids.append(int(holder.assets.register(cid, digest, 1, "enterprise").value))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=register) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert len(set(ids)) == 6
    assert holder.w3.eth.get_transaction_count(holder.address) == start + 6


def test_revert_decoded_before_sending_keeps_nonce(sdk_market: SdkMarket) -> None:
    led = sdk_market.as_("holder_cn")
    led.nonces.reserve(led.address)  # prime the counter
    led.nonces.forget()
    block = led.block_number()
    count = led.w3.eth.get_transaction_count(led.address)
    with pytest.raises(ContractRevert) as info:
        led.vouchers.freeze(1, "not a regulator")
    assert info.value.name == "NotRegulator"
    assert led.nonces.peek(led.address) is None  # no nonce was even reserved
    assert led.block_number() == block and led.w3.eth.get_transaction_count(led.address) == count


class FlakyBroadcast:
    """Delivers the raw tx to the node, then pretends the connection dropped (the response was
    lost) ``failures`` times: the sender cannot know whether the node got it."""

    def __init__(self, w3: Web3, failures: int, deliver: bool = True) -> None:
        self.w3 = w3
        self.failures = failures
        self.deliver = deliver
        self.seen: list[bytes] = []

    def __call__(self, raw: bytes) -> Any:
        self.seen.append(raw)
        if self.failures > 0:
            self.failures -= 1
            if self.deliver:
                self.w3.eth.send_raw_transaction(raw)
            raise ConnectionError("connection reset by peer")
        return self.w3.eth.send_raw_transaction(raw)


def test_retry_rebroadcasts_same_bytes_and_never_sends_twice(sdk_market: SdkMarket) -> None:
    w3 = sdk_market.base.w3
    account = sdk_market.key(16)
    flaky = FlakyBroadcast(w3, failures=2)
    sender = TxSender(w3, account, NonceManager(w3), broadcast=flaky)
    start = w3.eth.get_transaction_count(account.address)
    sent = sender.send({"to": sdk_market.accounts[13].address, "value": 7})
    assert len(set(flaky.seen)) == 1  # only ever the same signed bytes
    assert sent.tx_hash == "0x" + keccak(flaky.seen[0]).hex()
    assert sent.receipt["status"] == 1 and sent.nonce == start
    assert w3.eth.get_transaction_count(account.address) == start + 1  # exactly one tx landed
    # the next send continues with the next nonce
    assert sender.send({"to": sdk_market.accounts[13].address, "value": 1}).nonce == start + 1


def test_retry_when_first_attempt_never_reached_the_node(sdk_market: SdkMarket) -> None:
    w3 = sdk_market.base.w3
    account = sdk_market.key(17)
    flaky = FlakyBroadcast(w3, failures=1, deliver=False)
    sender = TxSender(w3, account, NonceManager(w3), broadcast=flaky)
    start = w3.eth.get_transaction_count(account.address)
    sent = sender.send({"to": sdk_market.accounts[13].address, "value": 3})
    assert len(flaky.seen) == 2 and flaky.seen[0] == flaky.seen[1]
    assert sent.nonce == start and w3.eth.get_transaction_count(account.address) == start + 1


def test_gives_up_with_the_hash_when_the_node_stays_unreachable(sdk_market: SdkMarket) -> None:
    w3 = sdk_market.base.w3
    account = sdk_market.key(18)

    def dead(raw: bytes) -> Any:
        raise ConnectionError("node down")

    sender = TxSender(w3, account, NonceManager(w3), broadcast=dead, broadcast_attempts=2)
    with pytest.raises(TxError) as info:
        sender.send({"to": sdk_market.accounts[13].address, "value": 1})
    assert info.value.tx_hash and "may still be mined" in str(info.value)


def test_resync_after_nonce_too_low(sdk_market: SdkMarket) -> None:
    w3 = sdk_market.base.w3
    account = sdk_market.key(14)
    nonces = NonceManager(w3)
    sender = TxSender(w3, account, nonces)
    target = sdk_market.accounts[13].address
    first = sender.send({"to": target, "value": 1})
    # someone else uses the same key behind the manager's back (anvil's accounts are unlocked)
    for _ in range(2):
        w3.eth.wait_for_transaction_receipt(w3.eth.send_transaction({"from": account.address, "to": target,
                                                                     "value": 1}))
    assert nonces.peek(account.address) == first.nonce + 1  # stale
    sent = sender.send({"to": target, "value": 1})
    assert sent.nonce == first.nonce + 3 and sent.receipt["status"] == 1


def test_receipt_timeout_carries_the_hash(sdk_market: SdkMarket) -> None:
    sender = TxSender(sdk_market.base.w3, sdk_market.key(14), timeout=0.3)
    missing = "0x" + "ab" * 32
    with pytest.raises(TxTimeout) as info:
        sender.wait(missing)
    assert info.value.tx_hash == missing


def test_definitive_rejection_releases_the_nonce(sdk_market: SdkMarket) -> None:
    w3 = sdk_market.base.w3
    account = sdk_market.key(14)
    nonces = NonceManager(w3)

    def reject(raw: bytes) -> Any:
        from web3.exceptions import Web3RPCError

        raise Web3RPCError("insufficient funds", rpc_response={"error": {"code": -32003,
                                                                          "message": "insufficient funds"}})

    sender = TxSender(w3, account, nonces, broadcast=reject)
    start = w3.eth.get_transaction_count(account.address, "pending")
    with pytest.raises(TxError, match="insufficient funds"):
        sender.send({"to": sdk_market.accounts[13].address, "value": 1})
    assert nonces.peek(account.address) == start  # rolled back: no gap


def test_poor_account_fails_at_estimation(sdk_market: SdkMarket) -> None:
    poor = Account.create()
    sender = TxSender(sdk_market.base.w3, poor)
    with pytest.raises(TxError):
        sender.send({"to": sdk_market.accounts[13].address, "value": 10**18})
