"""Revert data -> ContractRevert: custom errors from every artifact, Error(string), Panic(uint256)."""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_utils import keccak

from ledger.errors import ContractRevert, decode_revert, error_table
from tests.ledger.conftest import SdkMarket


def selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def test_table_covers_every_contract_and_builtins() -> None:
    names = {e.name for e in error_table().values()}
    for expected in ("TransferRestricted", "ContentAlreadyRegistered", "InvalidClearanceState", "NonceAlreadyUsed",
                     "ERC2771ForwarderInvalidSigner", "InactiveParticipant", "Error", "Panic"):
        assert expected in names


def test_custom_error_with_values_and_message() -> None:
    to = "0x" + "ab" * 20
    data = selector("TransferRestricted(uint8,address,address,uint256)") + encode(
        ["uint8", "address", "address", "uint256"], [11, "0x" + "00" * 20, to, 7])
    exc = decode_revert("0x" + data.hex(), contract="DataVoucher")
    assert exc.name == "TransferRestricted"
    assert exc.values["code"] == 11 and exc.values["voucherId"] == 7
    assert exc.values["to"] == "0x" + "Ab" * 20 or exc.values["to"].lower() == to
    assert exc.selector == "0x" + data[:4].hex()
    text = str(exc)
    assert text.startswith("DataVoucher: reverted with TransferRestricted(code=11")
    assert "clearance" in text  # the restriction's sentence
    assert "\n" not in text


def test_bytes_values_are_readable() -> None:
    data = selector("InvalidJurisdiction(bytes2)") + encode(["bytes2"], [b"xx"])
    exc = decode_revert(data)
    assert exc.values == {"jurisdiction": b"xx"} and "'xx'" in str(exc)


def test_error_string_and_panic() -> None:
    data = selector("Error(string)") + encode(["string"], ["not allowed"])
    exc = decode_revert(data)
    assert exc.name == "Error" and exc.values == {"message": "not allowed"} and "not allowed" in str(exc)
    panic = decode_revert(selector("Panic(uint256)") + encode(["uint256"], [0x11]))
    assert panic.name == "Panic" and panic.values["code"] == 0x11
    assert "arithmetic overflow" in str(panic)


def test_unknown_and_empty_and_malformed() -> None:
    exc = decode_revert(b"\xde\xad\xbe\xef" + b"\x01" * 8)
    assert exc.name == "UnknownError" and exc.values["selector"] == "0xdeadbeef"
    assert decode_revert(b"").name == "EmptyRevert"
    truncated = decode_revert(selector("UnknownAsset(uint256)") + b"\x00")
    assert truncated.name == "UnknownAsset" and "undecodable" in str(truncated)


def test_to_dict_is_json_ready() -> None:
    import json

    data = selector("ContentAlreadyRegistered(bytes32,uint256)") + encode(["bytes32", "uint256"], [b"\x11" * 32, 3])
    d = decode_revert(data).to_dict()
    assert json.loads(json.dumps(d))["args"] == {"contentHash": "0x" + "11" * 32, "assetId": 3}


def test_live_revert_from_a_view(sdk_market: SdkMarket) -> None:
    with pytest.raises(ContractRevert) as info:
        sdk_market.base.vouchers.call("messageForTransferRestriction", 99)
    assert info.value.name == "UnknownRestrictionCode" and info.value.values == {"code": 99}
    assert info.value.contract == "DataVoucher"


def test_live_revert_bubbled_from_another_contract(sdk_market: SdkMarket) -> None:
    # an unregistered holder registering an asset: AssetRegistry's own error
    outsider = sdk_market.as_(19)
    with pytest.raises(ContractRevert) as info:
        outsider.assets.register("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", b"\x01" * 32, 1,
                                 "enterprise")
    assert info.value.name == "NotActive" and info.value.values == {"account": outsider.address}
