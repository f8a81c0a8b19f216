"""The generated vocabulary (ledger/vocabulary.py, from the compiler output) against the deployed
contracts on anvil and against the ABIs: restriction sentences, codes, role bits, enums, errors."""

from __future__ import annotations

from typing import Any

import pytest
from eth_utils.abi import function_abi_to_4byte_selector
from web3.exceptions import ContractCustomError, ContractLogicError

from ledger import vocabulary as v
from ledger.artifacts import available, load_artifact
from ledger.errors import RESTRICTION_MESSAGES as SDK_MESSAGES
from ledger.errors import decode_revert


def test_every_restriction_message_is_the_contracts(market: Any) -> None:
    """For every code the generated table (and the SDK's, which is it) says what the deployed
    DataVoucher's messageForTransferRestriction(code) returns; the next code reverts."""
    voucher = market.voucher
    assert list(v.RESTRICTION_MESSAGES) == list(range(len(v.RESTRICTION_MESSAGES)))
    for code, sentence in v.RESTRICTION_MESSAGES.items():
        assert voucher.functions.messageForTransferRestriction(code).call() == sentence, code
        assert SDK_MESSAGES[code] == sentence
    beyond = len(v.RESTRICTION_MESSAGES)
    with pytest.raises((ContractCustomError, ContractLogicError)) as info:
        voucher.functions.messageForTransferRestriction(beyond).call()
    assert decode_revert(info.value.data, contract="DataVoucher").name == "UnknownRestrictionCode"


def test_restriction_codes_and_constants_are_the_contracts(market: Any) -> None:
    voucher = market.voucher
    for member in v.Restriction:
        assert getattr(voucher.functions, member.name)().call() == member.value, member
    assert voucher.functions.RECOVERY_WINDOW().call() == v.CONSTANTS["DataVoucher"]["RECOVERY_WINDOW"]
    registry = market.participants
    assert registry.functions.ALL_ROLES().call() == v.CONSTANTS["ParticipantRegistry"]["ALL_ROLES"]
    assert "0x" + registry.functions.REGISTRAR_ROLE().call().hex().removeprefix("0x") == \
        v.CONSTANTS["ParticipantRegistry"]["REGISTRAR_ROLE"]
    assert market.settlement.functions.MAX_FEE_BPS().call() == v.CONSTANTS["TradeSettlement"]["MAX_FEE_BPS"]


def test_role_bits_are_the_registrys(market: Any) -> None:
    """The bits are the registry's ALL_ROLES, one each; the names follow the bits; the chain's
    hasRoles agrees for accounts registered with them."""
    assert [r.value for r in v.Role] == [1 << i for i in range(len(v.Role))]
    assert sum(r.value for r in v.Role) == v.CONSTANTS["ParticipantRegistry"]["ALL_ROLES"]
    assert v.LICENSED_ROLES == v.Role.OPERATOR | v.Role.EXCHANGE | v.Role.BROKER | v.Role.APPRAISER
    assert list(v.RoleName.__args__) == [str(r.name).lower() for r in v.Role]  # type: ignore[attr-defined]
    # an account registered with one generated bit holds exactly that role on chain
    has = market.participants.functions.hasRoles
    for name, role in (("regulator", v.Role.REGULATOR), ("customs", v.Role.CUSTOMS)):
        assert [r for r in v.Role if has(market.addr[name], int(r)).call()] == [role], name


def test_enums_match_the_abi_and_the_chain(market: Any) -> None:
    """Every enum the ABIs use is generated (with as many members as the chain returns values for)."""
    abi_enums = set()
    for name in available():
        for entry in load_artifact(name)["abi"]:
            for param in _params(entry):
                internal = str(param.get("internalType", ""))
                if internal.startswith("enum "):
                    abi_enums.add(internal.removeprefix("enum ").split(".")[-1])
    generated = {n for n in dir(v) if isinstance(getattr(v, n), type) and issubclass(getattr(v, n), int)
                 and n not in ("Role", "Standing", "Restriction")}
    assert abi_enums <= generated, abi_enums - generated
    # values on chain: a fresh voucher is Active, an unknown clearance is None
    assert market.datacustoms.functions.clearance(10**6).call()[3] == v.ClearanceState.NONE


def _params(entry: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    stack = list(entry.get("inputs", [])) + list(entry.get("outputs", []))
    while stack:
        p = stack.pop()
        out.append(p)
        stack.extend(p.get("components", []))
    return out


def test_errors_are_every_abi_error_with_its_selector() -> None:
    """Every custom error of the shipped artifacts is in ERRORS under its selector (computed here
    independently from the ABI entry), with its argument names and types; nothing else is."""
    seen = set()
    for name in available():
        if name.startswith("Bare") or name in ("HostileReceiver", "MockERC1271Wallet"):
            continue  # benchmark baselines and test doubles are not the market's vocabulary
        for entry in load_artifact(name)["abi"]:
            if entry["type"] != "error":
                continue
            selector = "0x" + function_abi_to_4byte_selector(entry).hex()
            spec = v.ERRORS[selector]
            assert spec.name == entry["name"] and name in spec.contracts, (name, entry["name"])
            assert [n for n, _ in spec.inputs] == [i["name"] for i in entry["inputs"]]
            seen.add(selector)
    assert seen == set(v.ERRORS)
    assert all(v.ERRORS[s].name == n for n, sels in v.ERROR_SELECTORS.items() for s in sels)


def test_one_spelling_of_authorised_in_the_contracts_own_errors() -> None:
    """Our own errors say Authorised; only OpenZeppelin's keep Unauthorized (AccessControl...,
    Ownable...)."""
    american = [e.name for e in v.ERRORS.values() if "uthoriz" in e.name]
    assert american and all(n.startswith(("AccessControl", "Ownable")) for n in american), american
    assert {"NotAuthorised", "NotAuthorisedUser", "NotAuthorisedIssuer"} <= set(v.ERROR_SELECTORS)


def test_gateway_error_policy_names_only_existing_errors() -> None:
    """The gateway's 403 list names errors that exist (a renamed error must not fall out of it)."""
    from gateway.core.errors import _FORBIDDEN_ERRORS

    assert _FORBIDDEN_ERRORS <= set(v.ERROR_SELECTORS) | {"Error"}, _FORBIDDEN_ERRORS - set(v.ERROR_SELECTORS)
