"""Proof bundles anchored on a QBFT-sealed head (``verify_bundle(..., validators=...)``,
``dataledger verify --bundle FILE --validators FILE``): the head is accepted when its commit seals
satisfy the validator set, with no trusted head hash.

Besu cannot run here, so the bundle is built from the test market on anvil and then re-sealed as a
QBFT chain with this file's own validator keys (synthetic, in addition to the real QBFT vectors of
tests/gateway/test_qbft.py): every header gets QBFT extraData (4 validators, seals over Besu's
commit digest), its parentHash and hash become Besu's QBFT block hashes, and the events' block
hashes follow. Bodies (receipts, transactions) are untouched, so every other check still runs.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from eth_keys import keys
from eth_utils.crypto import keccak

from gateway.verify import build_bundle, dumps, main, qbft, verify_bundle
from tests.gateway.verify_market import Market, market

KEYS = [keys.PrivateKey(keccak(f"dataledger-bundle-validator-{i}".encode())) for i in range(6)]
ADDR = [k.public_key.to_checksum_address().lower() for k in KEYS]
BY_ADDR = dict(zip(ADDR, KEYS))
VALIDATORS = sorted(ADDR[:4])
OUTSIDER = ADDR[5]


def seal_header(h: dict[str, Any], validators: Sequence[str], signers: Sequence[str], round: int = 0) -> None:
    extra = qbft.ExtraData(bytes(32), tuple(sorted(validators)), None, round, ())
    h["extraData"] = "0x" + extra.encode().hex()
    digest = qbft.seal_digest(h)
    sigs = tuple(BY_ADDR[s].sign_msg_hash(digest).to_bytes() for s in signers)
    h["extraData"] = "0x" + qbft.ExtraData(extra.vanity, extra.validators, None, round, sigs).encode().hex()
    h["hash"] = qbft.block_hash(h)


def as_qbft(bundle: dict[str, Any], head_signers: Sequence[str] = tuple(VALIDATORS[:3]),
            listed: Sequence[str] = VALIDATORS) -> dict[str, Any]:
    b = copy.deepcopy(bundle)
    renamed: dict[str, str] = {}
    prev = None
    headers = b["headers"]
    for i, h in enumerate(headers):
        if prev is not None:
            h["parentHash"] = prev
        h["miner"] = listed[i % len(listed)]
        last = i == len(headers) - 1
        seal_header(h, listed, head_signers if last else listed[:3], round=1 if last else 0)
        renamed[bundle["headers"][i]["hash"]] = h["hash"]
        prev = h["hash"]
    b["head"] = {"number": b["head"]["number"], "hash": prev}
    for e in b["events"] + b["manifest_events"]:
        e["block_hash"] = renamed[e["block_hash"]]
    return b


@pytest.fixture(scope="module")
def anvil_bundle(market: Market) -> dict[str, Any]:
    return build_bundle(market.rpc_url, "voucher", 4, market.contracts, state_dir=market.state_dir)


@pytest.fixture(scope="module")
def sealed(anvil_bundle: dict[str, Any]) -> dict[str, Any]:
    return as_qbft(anvil_bundle)


def test_sealed_head_anchors_the_bundle(sealed: dict[str, Any]) -> None:
    result = verify_bundle(dumps(sealed), None, validators=VALIDATORS)
    assert result["ok"], result["problems"]
    assert result["seals"]["ok"] and result["seals"]["quorum"] == 3
    assert "sealed by 3 of 4 validators" in result["summary"]
    assert result["events"] and all(e["status"] == "ok" for e in result["events"])
    # the QBFT block hashes also serve the trusted-head mode (Besu's rule recognised per header)
    both = verify_bundle(dumps(sealed), sealed["head"]["hash"], validators=VALIDATORS)
    assert both["ok"], both["problems"]
    assert verify_bundle(dumps(sealed), sealed["head"]["hash"])["ok"]


def test_unsealed_anvil_head_is_not_a_qbft_anchor(anvil_bundle: dict[str, Any]) -> None:
    result = verify_bundle(dumps(anvil_bundle), None, validators=VALIDATORS)
    assert not result["ok"] and "malformed_extra_data" in result["summary"]
    assert verify_bundle(dumps(anvil_bundle), anvil_bundle["head"]["hash"])["ok"]  # unchanged


def test_no_anchor_is_refused(sealed: dict[str, Any]) -> None:
    result = verify_bundle(dumps(sealed), None)
    assert not result["ok"] and "no anchor" in result["summary"]


@pytest.mark.parametrize("case, reasons", [
    ("other validator set", {"validators_mismatch", "unknown_signer", "insufficient_seals"}),
    ("two seals of four", {"insufficient_seals"}),
    ("outsider seal", {"unknown_signer", "insufficient_seals"}),
    ("duplicated seal", {"duplicate_signer", "insufficient_seals"}),
])
def test_bad_seals_fail_with_their_reason(anvil_bundle: dict[str, Any], sealed: dict[str, Any],
                                          case: str, reasons: set[str]) -> None:
    validators: list[str] = list(VALIDATORS)
    b = sealed
    if case == "other validator set":
        validators = sorted(VALIDATORS[1:] + [OUTSIDER])  # VALIDATORS[0] sealed the head
    elif case == "two seals of four":
        b = as_qbft(anvil_bundle, head_signers=VALIDATORS[:2])
    elif case == "outsider seal":
        b = copy.deepcopy(sealed)
        seal_header_keep(b, VALIDATORS[:2] + [OUTSIDER])
    else:
        b = copy.deepcopy(sealed)
        seal_header_keep(b, VALIDATORS[:2] + [VALIDATORS[0]])
    result = verify_bundle(dumps(b), None, validators=validators)
    assert not result["ok"]
    got = {p["reason"] for p in result["seals"]["problems"]}
    assert reasons <= got, (case, got)
    assert any("head not sealed by the validator set" in p for p in result["problems"])


def seal_header_keep(b: dict[str, Any], signers: Sequence[str]) -> None:
    """Re-seal the head with other signers; the hash does not change (seals are not hashed)."""
    head = b["headers"][-1]
    before = head["hash"]
    seal_header(head, VALIDATORS, signers, round=1)
    assert head["hash"] == before


def test_changed_bytes_fail(sealed: dict[str, Any]) -> None:
    data = dumps(sealed)
    text = data.decode()
    head_extra = qbft.decode_extra_data(sealed["headers"][-1]["extraData"])
    targets = {"head seal r": text.index(head_extra.seals[0].hex()) + 10,
               "head seal s": text.index(head_extra.seals[1].hex()) + 80,
               "head seal recId": text.index(head_extra.seals[2].hex()) + 129,
               "head stateRoot": text.rindex('"stateRoot":"0x') + 20,
               "middle header": text.index('"stateRoot":"0x', len(text) // 3) + 20}
    for what, i in targets.items():
        b = data[i]
        edited = data[:i] + bytes([ord("1") if b == ord("0") else ord("0")]) + data[i + 1:]
        result = verify_bundle(edited, None, validators=VALIDATORS)
        assert not result["ok"], what
    # another round under the same seals: the block hash is unchanged (round is not hashed), the seals break
    b = copy.deepcopy(sealed)
    head = b["headers"][-1]
    e = qbft.decode_extra_data(head["extraData"])
    head["extraData"] = "0x" + qbft.ExtraData(e.vanity, e.validators, e.vote, 2, e.seals).encode().hex()
    assert qbft.block_hash(head) == head["hash"]
    result = verify_bundle(dumps(b), None, validators=VALIDATORS)
    assert not result["ok"] and "unknown_signer" in {p["reason"] for p in result["seals"]["problems"]}


def test_cli_validators_anchor(sealed: dict[str, Any], tmp_path: Path, market: Market,
                               capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "proof.json"
    out.write_bytes(dumps(sealed))
    genesis = {"config": {"chainId": 31337, "qbft": {"epochlength": 30000}},
               "extraData": qbft.genesis_extra_data(VALIDATORS)}
    (tmp_path / "genesis.json").write_text(json.dumps(genesis))
    (tmp_path / "wrong.txt").write_text("\n".join(VALIDATORS[:3] + [OUTSIDER]))
    (tmp_path / "broken.json").write_text("{\"validators\": 5}")
    offline = ["--rpc", "http://127.0.0.1:9", "--state-dir", str(market.state_dir), "--bundle", str(out)]
    assert main(offline + ["--validators", str(tmp_path / "genesis.json")]) == 0
    assert "VERIFIED" in capsys.readouterr().out
    assert main(offline + ["--validators", str(tmp_path / "wrong.txt"), "--json"]) == 1
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["ok"] is False and not verdict["seals"]["ok"]
    assert main(offline + ["--validators", str(tmp_path / "broken.json")]) == 2
    assert "cannot read the validator set" in capsys.readouterr().err
    assert main(offline + ["--validators", str(tmp_path / "missing.json")]) == 2
    capsys.readouterr()
    assert main(offline) == 2
    assert "--validators FILE" in capsys.readouterr().err


def test_both_anchors_must_hold(anvil_bundle: dict[str, Any]) -> None:
    weak = as_qbft(anvil_bundle, head_signers=VALIDATORS[:2])
    # the right head hash does not excuse missing seals, nor the seals a wrong head hash
    assert not verify_bundle(dumps(weak), weak["head"]["hash"], validators=VALIDATORS)["ok"]
    assert verify_bundle(dumps(weak), weak["head"]["hash"])["ok"]
    strong = as_qbft(anvil_bundle)
    result = verify_bundle(dumps(strong), "0x" + "44" * 32, validators=VALIDATORS)
    assert not result["ok"] and "trusted head" in result["summary"]
