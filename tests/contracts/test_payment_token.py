"""PaymentToken: permissioned ERC-20 (+ERC20Permit) settlement currency stand-in."""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data

from tests.contracts.helpers import Roles, event, events, expect_revert, send
from tests.contracts.trading import MAX_UINT, ZERO, Trading, trading


def test_metadata(trading: Trading) -> None:
    m = trading.m
    assert m.token.functions.decimals().call() == 2
    assert m.token.functions.symbol().call() == "dCNY"
    assert m.token.functions.defaultAdmin().call() == m.admin
    assert m.token.functions.defaultAdminDelay().call() == 2 * 24 * 3600
    assert m.token.functions.participants().call() == m.participants.address


def test_mint_by_admin_and_authority(trading: Trading) -> None:
    t, m = trading, trading.m
    receipt = send(m.token.functions.mint(m.holder_hk, 500), m.admin)
    assert event(m.token, receipt, "Minted") == {"minter": m.admin, "to": m.holder_hk, "amount": 500}
    # a second AUTHORITY account of the data authority may mint too
    minter = m.spare[0]
    t.add_account("authority", minter, Roles.AUTHORITY)
    before = t.balance(m.bank_cn)
    send(m.token.functions.mint(m.bank_cn, 700), minter)
    assert t.balance(m.bank_cn) == before + 700
    send(m.participants.functions.suspendAccount(minter, "rotated"), m.admin)
    expect_revert(m.token.functions.mint(m.bank_cn, 1), "NotMinter", minter, sender=minter)
    expect_revert(m.token.functions.mint(m.bank_cn, 1), "NotMinter", m.holder_cn, sender=m.holder_cn)
    expect_revert(m.token.functions.mint(m.outsider, 1), "InactiveParticipant", m.outsider, sender=m.admin)


def test_transfers_only_between_active_participants(trading: Trading) -> None:
    t, m = trading, trading.m
    send(m.token.functions.transfer(m.holder_hk, 1_00), m.holder_cn)
    assert t.balance(m.holder_hk) == 100_000_000 + 100
    expect_revert(m.token.functions.transfer(m.outsider, 1), "InactiveParticipant", m.outsider, sender=m.holder_cn)
    send(m.participants.functions.suspendAccount(m.holder_cn, "audit"), m.admin)
    expect_revert(m.token.functions.transfer(m.bank_cn, 1), "InactiveParticipant", m.holder_cn, sender=m.holder_cn)
    expect_revert(m.token.functions.transfer(m.holder_cn, 1), "InactiveParticipant", m.holder_cn, sender=m.bank_cn)
    send(m.token.functions.approve(m.bank_cn, 10), m.holder_hk)
    expect_revert(m.token.functions.transferFrom(m.holder_hk, m.holder_cn, 10), "InactiveParticipant", m.holder_cn,
                  sender=m.bank_cn)
    expect_revert(m.token.functions.transfer(m.bank_cn, 10**12), "ERC20InsufficientBalance", m.holder_hk,
                  100_000_100, 10**12, sender=m.holder_hk)


def test_burn(trading: Trading) -> None:
    m = trading.m
    supply = m.token.functions.totalSupply().call()
    send(m.token.functions.burn(250), m.bank_cn)
    assert m.token.functions.totalSupply().call() == supply - 250
    send(m.participants.functions.suspendAccount(m.bank_cn, "audit"), m.admin)
    expect_revert(m.token.functions.burn(1), "InactiveParticipant", m.bank_cn, sender=m.bank_cn)


def test_permit_gasless_approval(trading: Trading) -> None:
    t, m = trading, trading.m
    owner = t.account(m.holder_mo)
    spender = m.exchange
    deadline = t.now() + 3600
    nonce = m.token.functions.nonces(owner.address).call()
    msg = encode_typed_data(
        domain_data={"name": "Data Settlement CNY", "version": "1", "chainId": t.chain_id,
                     "verifyingContract": m.token.address},
        message_types={"Permit": [
            {"name": "owner", "type": "address"}, {"name": "spender", "type": "address"},
            {"name": "value", "type": "uint256"}, {"name": "nonce", "type": "uint256"},
            {"name": "deadline", "type": "uint256"}]},
        message_data={"owner": owner.address, "spender": spender, "value": 1234, "nonce": nonce,
                      "deadline": deadline},
    )
    sig = Account.sign_message(msg, owner.key)
    send(m.token.functions.permit(owner.address, spender, 1234, deadline, sig.v, sig.r.to_bytes(32, "big"),
                                  sig.s.to_bytes(32, "big")), m.accounts[16].address)
    assert m.token.functions.allowance(owner.address, spender).call() == 1234
    send(m.token.functions.transferFrom(owner.address, m.bank_cn, 1234), spender)
    # replay fails
    expect_revert(m.token.functions.permit(owner.address, spender, 1234, deadline, sig.v,
                                           sig.r.to_bytes(32, "big"), sig.s.to_bytes(32, "big")),
                  "ERC2612InvalidSigner", sender=m.accounts[16].address)


# ------------------------------------------------------------------ transferFromMany


def _token_transfers(m: Any, receipt: Any) -> list[dict[str, Any]]:
    return events(m.token, receipt, "Transfer")


def test_transfer_from_many_moves_every_leg_and_spends_allowance_once(trading: Trading) -> None:
    t, m = trading, trading.m
    payer, spender = m.holder_hk, m.exchange
    send(m.token.functions.approve(spender, 1_000), payer)
    parties = (payer, m.holder_cn, m.bank_cn, m.broker)
    before = {w: t.balance(w) for w in parties}
    receipt = send(m.token.functions.transferFromMany(payer, [m.holder_cn, m.bank_cn, m.broker], [300, 0, 200]),
                   spender)
    delta = {w: t.balance(w) - before[w] for w in parties}
    assert delta == {payer: -500, m.holder_cn: 300, m.bank_cn: 0, m.broker: 200}
    # one Transfer per non-zero leg (the zero leg is skipped), no Approval event for the allowance spend
    assert _token_transfers(m, receipt) == [{"from": payer, "to": m.holder_cn, "value": 300},
                                            {"from": payer, "to": m.broker, "value": 200}]
    assert events(m.token, receipt, "Approval") == []
    assert m.token.functions.allowance(payer, spender).call() == 500  # the total, spent once
    # the same recipient twice: two legs, the allowance covers their sum
    send(m.token.functions.transferFromMany(payer, [m.bank_cn, m.bank_cn], [100, 150]), spender)
    assert t.balance(m.bank_cn) == before[m.bank_cn] + 250
    assert m.token.functions.allowance(payer, spender).call() == 250
    # the total exceeds what is left of the allowance
    expect_revert(m.token.functions.transferFromMany(payer, [m.holder_cn, m.bank_cn], [200, 51]),
                  "ERC20InsufficientAllowance", spender, 250, 251, sender=spender)
    # nothing to move: nothing spent, no event
    receipt = send(m.token.functions.transferFromMany(payer, [], []), spender)
    assert _token_transfers(m, receipt) == []
    assert m.token.functions.allowance(payer, spender).call() == 250
    # an infinite allowance is not decreased (the spender itself need not be a participant)
    other = m.spare[2]
    send(m.token.functions.approve(other, MAX_UINT), payer)
    send(m.token.functions.transferFromMany(payer, [m.holder_cn], [5]), other)
    assert m.token.functions.allowance(payer, other).call() == MAX_UINT


def test_transfer_from_many_rejections(trading: Trading) -> None:
    t, m = trading, trading.m
    payer, spender = m.holder_hk, m.exchange
    send(m.token.functions.approve(spender, 10**12), payer)
    f = m.token.functions.transferFromMany
    expect_revert(f(payer, [m.holder_cn, m.bank_cn], [1]), "LengthMismatch", 2, 1, sender=spender)
    expect_revert(f(payer, [m.holder_cn], [1, 2]), "LengthMismatch", 1, 2, sender=spender)
    # an inactive recipient, even for a zero leg (all parties are checked in one registry call)
    expect_revert(f(payer, [m.holder_cn, m.outsider], [1, 1]), "InactiveParticipant", m.outsider, sender=spender)
    expect_revert(f(payer, [m.holder_cn, m.outsider], [1, 0]), "InactiveParticipant", m.outsider, sender=spender)
    # address(0) is not a party (no burn, no mint through this path)
    expect_revert(f(payer, [m.holder_cn, ZERO], [1, 1]), "ERC20InvalidReceiver", ZERO, sender=spender)
    # from address(0) would mint, but nobody holds an allowance from it
    expect_revert(f(ZERO, [m.holder_cn], [1]), "ERC20InsufficientAllowance", spender, 0, 1, sender=spender)
    expect_revert(f(payer, [m.holder_cn], [10**12]), "ERC20InsufficientBalance", payer, 100_000_000, 10**12,
                  sender=spender)
    # a recipient whose licence expired is still an active participant: it may be paid
    send(m.participants.functions.setLicenceExpiry(m.broker, t.now() + 5), m.admin)
    m.chain.time_travel(10)
    send(f(payer, [m.broker], [7]), spender)
    # a suspended recipient's organisation, then a suspended payer
    send(m.participants.functions.suspendOrganisation(m.orgs["bank_cn"], "audit"), m.admin)
    expect_revert(f(payer, [m.holder_cn, m.bank_cn], [1, 1]), "InactiveParticipant", m.bank_cn, sender=spender)
    send(m.participants.functions.suspendAccount(payer, "audit"), m.admin)
    expect_revert(f(payer, [m.holder_cn, m.bank_cn], [1, 1]), "InactiveParticipant", payer, sender=spender)


# ------------------------------------------------------------------ admin concentration (issue 11, low)


def test_attack_admin_without_registry_standing_cannot_mint(trading: Trading) -> None:
    """Audit: the token's admin could mint with no standing in the registry (nobody could suspend it).
    A token whose admin is an unregistered key: its mint is refused; so is a suspended admin's."""
    t, m = trading, trading.m
    stranger = m.spare[1]  # unregistered
    token = t.deploy("PaymentToken", m.participants.address, stranger)
    expect_revert(token.functions.mint(m.bank_cn, 1_000), "NotMinter", stranger, sender=stranger)
    assert token.functions.totalSupply().call() == 0
    # the market's admin is also a participant; suspended in the registry, it cannot mint either
    send(m.participants.functions.suspendAccount(m.admin, "key compromised"), m.admin)
    expect_revert(m.token.functions.mint(m.bank_cn, 1), "NotMinter", m.admin, sender=m.admin)


def test_admin_role_moves_in_two_steps_after_the_delay(trading: Trading, chain: Any) -> None:
    """The admin is no longer fixed: it hands over with a delay; nobody else can start or take it."""
    t, m = trading, trading.m
    new_admin = m.addr["bank_cn"]  # an active participant (not AUTHORITY)
    expect_revert(m.token.functions.beginDefaultAdminTransfer(new_admin), "AccessControlUnauthorizedAccount",
                  m.holder_cn, bytes(32), sender=m.holder_cn)
    send(m.token.functions.beginDefaultAdminTransfer(new_admin), m.admin)
    pending, schedule = m.token.functions.pendingDefaultAdmin().call()
    assert pending == new_admin and schedule >= t.now() + 2 * 24 * 3600 - 60
    expect_revert(m.token.functions.acceptDefaultAdminTransfer(), "AccessControlEnforcedDefaultAdminDelay",
                  schedule, sender=new_admin)
    expect_revert(m.token.functions.acceptDefaultAdminTransfer(), "AccessControlInvalidDefaultAdmin",
                  m.holder_cn, sender=m.holder_cn)
    expect_revert(m.token.functions.mint(m.holder_cn, 1), "NotMinter", new_admin, sender=new_admin)
    chain.time_travel(2 * 24 * 3600 + 1)
    send(m.token.functions.acceptDefaultAdminTransfer(), new_admin)
    assert m.token.functions.defaultAdmin().call() == new_admin
    # the new admin mints while it has standing; the old one mints only through its AUTHORITY role
    send(m.token.functions.mint(m.holder_cn, 5), new_admin)
    send(m.participants.functions.suspendAccount(new_admin, "audit"), m.admin)
    expect_revert(m.token.functions.mint(m.holder_cn, 1), "NotMinter", new_admin, sender=new_admin)
    send(m.token.functions.mint(m.holder_cn, 5), m.admin)
