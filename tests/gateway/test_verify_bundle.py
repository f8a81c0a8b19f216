"""Proof bundles: an untouched bundle verifies offline (no RPC), any one changed byte fails; and the
consensus encodings (header hash, receipts / transactions roots) agree with anvil."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from gateway.verify import build_bundle, dumps, main, verify_bundle
from gateway.verify import receipts as rc
from ledger.rpc import RpcClient
from tests.gateway.verify_market import Market, market


@pytest.fixture(scope="module")
def bundle(market: Market) -> dict[str, Any]:
    return build_bundle(market.rpc_url, "voucher", 4, market.contracts, state_dir=market.state_dir)


@pytest.fixture(scope="module")
def asset_bundle(market: Market) -> dict[str, Any]:
    return build_bundle(market.rpc_url, "asset", 2, market.contracts, state_dir=market.state_dir)


def test_untouched_bundles_verify_offline(bundle: dict[str, Any], asset_bundle: dict[str, Any]) -> None:
    for b in (bundle, asset_bundle):
        result = verify_bundle(dumps(b), b["head"]["hash"])  # bytes + a hash: nothing to call
        assert result["ok"], result["problems"]
        assert result["events"] and all(e["status"] == "ok" for e in result["events"])
        assert [m["status"] for m in result["manifests"]] == ["ok"]
    assert len(bundle["events"]) == 5 and bundle["manifests"]


def test_wrong_trusted_head_fails(bundle: dict[str, Any]) -> None:
    result = verify_bundle(dumps(bundle), "0x" + "12" * 32)
    assert not result["ok"] and "trusted head" in result["summary"]


def _flip(data: bytes, i: int) -> bytes:
    b = data[i]
    # a different printable byte (keeps most edits valid JSON, so the checks behind the parse run)
    repl = {ord("0"): ord("1"), ord("a"): ord("b"), ord("f"): ord("e")}.get(b, b ^ 0x01)
    return data[:i] + bytes([repl]) + data[i + 1:]


def test_one_changed_byte_fails(bundle: dict[str, Any]) -> None:
    data = dumps(bundle)
    text = data.decode()
    head = bundle["head"]["hash"]
    targets = {
        "header field": text.index('"stateRoot":"0x') + 20,
        "header hash": text.index('"hash":"0x') + 12,
        "event arg": text.index('"price":"') + 9,
        "event tx hash": text.index('"tx_hash":"0x') + 14,
        "receipt log data": text.index('"data":"0x') + 12,
        "raw transaction": text.index('"transactions":["0x') + 30,
        "manifest bytes": text.index('"data":"', text.index('"manifests"')) + 20,
        "contract address": text.index('"contracts":{') + 30,
        "deployment index": text.index('"tx_index":', text.index('"deployments"')) + 11,
        "chain id": text.index('"chain_id":') + 13,
        "json syntax": 0,
    }
    rng = random.Random(20260)
    positions = dict(targets)
    positions.update({f"random {i}": rng.randrange(len(data)) for i in range(25)})
    for what, i in positions.items():
        result = verify_bundle(_flip(data, i), head)
        assert not result["ok"], f"{what} (byte {i}) changed and the bundle still verified"
        assert result["problems"], what
    # whitespace, an uppercase hex digit, a trailing garbage byte
    assert not verify_bundle(data.replace(b'{"blocks"', b'{ "blocks"', 1), head)["ok"]
    i = text.index('"hash":"0x') + 12
    while not text[i].isalpha():
        i += 1
    assert not verify_bundle(data[:i] + data[i:i + 1].upper() + data[i + 1:], head)["ok"]
    assert "not a JSON bundle" in verify_bundle(data + b"x", head)["summary"]


def test_cli_export_and_offline_check(market: Market, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "proof.json"
    base = ["--rpc", market.rpc_url, "--state-dir", str(market.state_dir)]
    assert main(base + ["asset", "2", "--export", str(out), "--json"]) == 0
    exported = json.loads(capsys.readouterr().out)
    head = exported["bundle"]["head"]["hash"]
    # offline: a dead RPC URL proves nothing is called
    offline = ["--rpc", "http://127.0.0.1:9", "--state-dir", str(market.state_dir)]
    assert main(offline + ["--bundle", str(out), "--trusted-head", head]) == 0
    assert "VERIFIED" in capsys.readouterr().out
    data = out.read_bytes()
    i = data.index(b'"assetId":"') + 11
    out.write_bytes(data[:i] + b"9" + data[i + 1:])
    assert main(offline + ["--bundle", str(out), "--trusted-head", head, "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["ok"] is False


def test_encodings_match_the_node(market: Market) -> None:
    rpc = RpcClient(market.rpc_url)
    try:
        head = int(rpc.call("eth_blockNumber"), 16)
        for n in range(max(0, head - 40), head + 1):
            header = rpc.header(n)
            assert header is not None
            assert rc.header_hash(header) == header["hash"]
            receipts = rpc.call("eth_getBlockReceipts", [hex(n)])
            assert rc.receipts_root(receipts) == header["receiptsRoot"]
            raws = rpc.batch([("eth_getRawTransactionByBlockNumberAndIndex", [hex(n), hex(i)])
                              for i in range(len(receipts))])
            assert rc.transactions_root(raws) == header["transactionsRoot"]
    finally:
        rpc.close()


def test_receipt_encoding_per_type() -> None:
    base = {"status": "0x1", "cumulativeGasUsed": "0x5208", "logsBloom": "0x" + "00" * 256,
            "logs": [{"address": "0x" + "11" * 20, "topics": ["0x" + "22" * 32], "data": "0x01"}],
            "transactionIndex": "0x0"}
    legacy = rc.encode_receipt({**base, "type": "0x0"})
    assert legacy[0] >= 0xC0  # a bare RLP list
    for t in (1, 2, 3, 4):
        typed = rc.encode_receipt({**base, "type": hex(t)})
        assert typed[0] == t and typed[1:] == legacy
    with pytest.raises(rc.EncodingError):
        rc.encode_receipt({**base, "type": "0x7e"})
    assert rc.encode_receipt({**base, "status": "0x0"})[:4] != legacy[:4]
    assert rc.ordered_trie_root([]) == rc.EMPTY_TRIE_ROOT
    # one-entry trie of the yellow paper's shape: leaf [hp(key), value]
    assert rc.trie_root([(b"\x01", b"x" * 40)]).startswith("0x") and len(rc.trie_root([(b"\x01", b"y")])) == 66


def test_receipt_encoding_is_the_rlp_package_s() -> None:
    """The receipt's consensus bytes decode with the rlp package back to its fields, and a field
    that is not bytes is an EncodingError (a clear verifier problem, not a crash)."""
    import rlp

    receipt = {"status": "0x1", "cumulativeGasUsed": "0x5208", "logsBloom": "0x" + "ab" * 256, "type": "0x2",
               "logs": [{"address": "0x" + "11" * 20, "topics": ["0x" + "22" * 32, "0x" + "33" * 32],
                         "data": "0x" + "44" * 70}], "transactionIndex": "0x0"}
    encoded = rc.encode_receipt(receipt)
    status, gas, bloom, logs = rlp.decode(encoded[1:])
    assert (status, gas, bloom) == (b"\x01", (0x5208).to_bytes(2, "big"), b"\xab" * 256)
    assert logs == [[b"\x11" * 20, [b"\x22" * 32, b"\x33" * 32], b"\x44" * 70]]
    with pytest.raises(rc.EncodingError):
        rc.rlp_encode([b"ok", 1.5])  # type: ignore[list-item]


def test_bundle_proves_the_voucher_state_offline(market: Market, bundle: dict[str, Any],
                                                 asset_bundle: dict[str, Any]) -> None:
    """holder, status, uses at the head, from eth_getProof account + storage proofs; the slots come
    from the storageLayout in the artifacts (the bundle's own slot list is checked against it)."""
    from gateway.verify.proofs import record_slots

    result = verify_bundle(dumps(bundle), bundle["head"]["hash"])
    proven = result["state"]
    w3 = market.w3
    voucher = w3.eth.contract(address=market.record["contracts"]["DataVoucher"]["address"],
                              abi=__import__("ledger.artifacts", fromlist=["x"]).load_artifact("DataVoucher")["abi"])
    block = bundle["head"]["number"]
    assert proven["block"] == block
    assert proven["holder"] == voucher.functions.ownerOf(4).call(block_identifier=block).lower()
    core = voucher.functions.voucherCore(4).call(block_identifier=block)
    assert (proven["asset_id"], proven["max_uses"], proven["uses"]) == (core[0], core[6], core[7])
    assert proven["status"] == "active"
    assert f"holder {proven['holder']}, status active, uses {proven['uses']}" in result["summary"]
    slots = [int(s["slot"], 16) for s in bundle["state"]["accounts"]["DataVoucher"]["storage"]]
    assert slots == [*record_slots("DataVoucher", "_owners", 4).slots, *record_slots("DataVoucher", "_cores", 4).slots,
                     *record_slots("DataVoucher", "_metas", 4).slots]
    asset = verify_bundle(dumps(asset_bundle), asset_bundle["head"]["hash"])
    assert asset["ok"] and asset["state"]["status"] == "active" and asset["state"]["manifest_version"] == 0


def test_one_changed_byte_of_the_state_proofs_fails(bundle: dict[str, Any]) -> None:
    data = dumps(bundle)
    text = data.decode()
    head = bundle["head"]["hash"]
    start = text.index('"state":{')
    section = text[start:]
    rng = random.Random(1010)
    positions = [start + section.index('"value":"0x') + 11, start + section.index('"slot":"0x') + 10,
                 start + section.index('"proof":["0x') + 14, start + section.index('"address":"0x') + 13,
                 start + section.index('"block":') + 8]
    # every hex digit of the first storage proof node, plus random bytes of the whole section
    node = start + section.index('"proof":["0x', section.index('"storage"')) + 12
    positions += list(range(node, node + 80))
    positions += [start + rng.randrange(len(section)) for _ in range(60)]
    for i in positions:
        result = verify_bundle(_flip(data, i), head)
        assert not result["ok"], f"byte {i} ({text[i - 10:i + 10]!r}) changed and the bundle still verified"
    # a forged value together with a consistent-looking claim still fails: the proof decides
    forged = json.loads(data)
    entry = forged["state"]["accounts"]["DataVoucher"]["storage"][0]
    entry["value"] = "0xdead"
    assert "not the proven" in " ".join(verify_bundle(dumps(forged), head)["problems"])
    # a proof for another slot (voucher 3's owner) in place of voucher 4's
    other = json.loads(data)
    entry = other["state"]["accounts"]["DataVoucher"]["storage"][0]
    entry["slot"] = hex(__import__("gateway.verify.proofs", fromlist=["x"]).record_slots("DataVoucher", "_owners", 3).slots[0])
    assert not verify_bundle(dumps(other), head)["ok"]


def test_merkle_patricia_proofs(market: Market) -> None:
    """mpt_get against anvil's eth_getProof: present, absent, wrong root, extra node."""
    from eth_utils.crypto import keccak

    from gateway.verify import proofs as pf

    rpc = RpcClient(market.rpc_url)
    try:
        head = rpc.header(int(rpc.call("eth_blockNumber"), 16))
        assert head is not None
        root = bytes.fromhex(head["stateRoot"][2:])
        address = market.record["contracts"]["DataVoucher"]["address"]
        reply = rpc.call("eth_getProof", [address, ["0x" + "00" * 32, "0x" + "ff" * 32], head["number"]])
        nodes = [bytes.fromhex(x[2:]) for x in reply["accountProof"]]
        account = pf.account_state(root, bytes.fromhex(address[2:]), nodes)
        assert account is not None and account.storage_root.hex() == reply["storageHash"][2:].lower()
        for entry in reply["storageProof"]:
            value = pf.storage_value(account.storage_root, int(entry["key"], 16),
                                     [bytes.fromhex(x[2:]) for x in entry["proof"]])
            assert value == int(entry["value"], 16)
        with pytest.raises(pf.ProofError):
            pf.account_state(keccak(b"other root"), bytes.fromhex(address[2:]), nodes)
        with pytest.raises(pf.ProofError):
            pf.account_state(root, bytes.fromhex(address[2:]), nodes + [nodes[-1]])
        # an address with no account: proven absent by the same kind of proof
        nobody = "0x" + "ab" * 20
        absent = rpc.call("eth_getProof", [nobody, [], head["number"]])
        assert pf.account_state(root, bytes.fromhex(nobody[2:]), [bytes.fromhex(x[2:]) for x in absent["accountProof"]]) is None
    finally:
        rpc.close()
