"""Keystores (create / import / list / unlock) and EIP-712 signatures checked by the contracts."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from eth_account import Account

from ledger.errors import InvalidInput, WalletError, WrongPassword
from ledger.wallet import Keystore, order_digest, sign_forward_request, sign_order
from tests.ledger.conftest import SdkMarket

FAST = 1024  # scrypt n for tests


def snapshot(directory: Path) -> dict[str, bytes]:
    if not directory.exists():
        return {}
    return {p.name: p.read_bytes() for p in directory.iterdir()}


def test_create_list_unlock(tmp_path: Path) -> None:
    ks = Keystore(tmp_path / "ks", scrypt_n=FAST)
    entry = ks.create("alice", "correct horse")
    assert entry.file.exists() and entry.file.parent == tmp_path / "ks"
    assert stat.S_IMODE(entry.file.stat().st_mode) == 0o600
    assert [e.name for e in ks.list()] == ["alice"]
    assert ks.find(entry.address.lower()) == entry
    account = ks.unlock("alice", "correct horse")
    assert account.address == entry.address


def test_wrong_password_writes_nothing(tmp_path: Path) -> None:
    ks = Keystore(tmp_path / "ks", scrypt_n=FAST)
    ks.create("alice", "right")
    before = snapshot(ks.directory)
    with pytest.raises(WrongPassword, match="wrong password"):
        ks.unlock("alice", "wrong")
    assert snapshot(ks.directory) == before


def test_password_from_env_and_prompt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ks = Keystore(tmp_path / "ks", scrypt_n=FAST)
    entry = ks.create("bob", "pw")
    monkeypatch.setenv("DATALEDGER_PASSWORD", "pw")
    assert ks.unlock("bob").address == entry.address
    monkeypatch.delenv("DATALEDGER_PASSWORD")
    prompts: list[str] = []
    account = ks.unlock("bob", prompt=lambda text: prompts.append(text) or "pw")  # type: ignore[func-returns-value]
    assert account.address == entry.address and "bob" in prompts[0]


def test_import_and_refusals(tmp_path: Path) -> None:
    ks = Keystore(tmp_path / "ks", scrypt_n=FAST)
    key = Account.create()
    entry = ks.import_key("ops", key.key.hex(), "pw")
    assert entry.address == key.address
    before = snapshot(ks.directory)
    with pytest.raises(WalletError, match="already"):
        ks.import_key("ops2", key.key.hex(), "pw")
    with pytest.raises(WalletError, match="already exists"):
        ks.create("ops", "pw")
    with pytest.raises(InvalidInput, match="not a valid private key"):
        ks.import_key("bad", "0x1234", "pw")
    with pytest.raises(InvalidInput, match="invalid wallet name"):
        ks.create("../evil", "pw")
    with pytest.raises(InvalidInput, match="empty password"):
        ks.create("nopw", "")
    assert snapshot(ks.directory) == before
    with pytest.raises(WalletError, match="no keystore"):
        ks.unlock("nobody", "pw")


def test_keystore_dir_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATALEDGER_KEYSTORE_DIR", str(tmp_path / "env-ks"))
    assert Keystore().directory == tmp_path / "env-ks"
    monkeypatch.delenv("DATALEDGER_KEYSTORE_DIR")
    assert Keystore().directory == Path.home() / ".dataledger" / "keystores"


def test_standard_v3_file_decrypts_with_eth_account(tmp_path: Path) -> None:
    import json

    ks = Keystore(tmp_path / "ks", scrypt_n=FAST)
    entry = ks.create("carol", "pw")
    data = json.loads(entry.file.read_text())
    assert data["version"] == 3 and data["name"] == "carol"
    assert Account.from_key(Account.decrypt(data, "pw")).address == entry.address


def test_order_signature_matches_contract(sdk_market: SdkMarket) -> None:
    seller = sdk_market.key("holder_cn")
    settlement = sdk_market.base.settlement
    order = {"maker": seller.address, "side": 0, "voucherId": 5, "price": 100,
             "paymentToken": sdk_market.base.address_of("PaymentToken"), "exchange": sdk_market.addr["exchange"],
             "broker": "0x" + "00" * 20, "commission": 0, "maxFeeBps": 100, "minUsesLeft": 3,
             "minValidUntil": 2**35, "nonce": 1, "deadline": 2**40}
    digest = order_digest(order, sdk_market.base.chain_id, settlement.address)
    onchain = settlement.call("orderDigest", tuple(order.values()))
    assert digest == bytes(onchain)
    signature = sign_order(seller, order, sdk_market.base.chain_id, settlement.address)
    assert Account._recover_hash(digest, signature=signature) == seller.address
    # the domain binds the chain id: a signature for another chain recovers someone else
    other = sign_order(seller, order, 1, settlement.address)
    assert Account._recover_hash(digest, signature=other) != seller.address
    with pytest.raises(InvalidInput, match="maker"):
        sign_order(sdk_market.key("bank_cn"), order, sdk_market.base.chain_id, settlement.address)


def test_forward_request_verified_by_forwarder(sdk_market: SdkMarket) -> None:
    holder = sdk_market.key("holder_cn")
    forwarder = sdk_market.base.forwarder
    request = {"from": holder.address, "to": sdk_market.base.address_of("DataVoucher"), "value": 0,
               "gas": 100_000, "nonce": forwarder.nonce(holder.address), "deadline": 2**40, "data": b"\x12\x34"}
    signature = sign_forward_request(holder, request, sdk_market.base.chain_id, forwarder.address)
    data = (request["from"], request["to"], 0, 100_000, 2**40, b"\x12\x34", signature)
    assert forwarder.call("verify", data) is True
    wrong_chain = sign_forward_request(holder, request, 5, forwarder.address)
    assert forwarder.call("verify", data[:6] + (wrong_chain,)) is False


def test_env_not_leaked(tmp_path: Path) -> None:
    # nothing is written outside the keystore directory
    ks = Keystore(tmp_path / "ks", scrypt_n=FAST)
    ks.create("dave", "pw")
    assert sorted(os.listdir(tmp_path)) == ["ks"]
    assert not any(n.startswith(".tmp-") for n in os.listdir(ks.directory))
