"""PaymentToken: permissioned ERC-20 (+ERC20Permit) settlement currency stand-in."""

from __future__ import annotations

from eth_account import Account
from eth_account.messages import encode_typed_data

from tests.contracts.helpers import Roles, event, expect_revert, send
from tests.contracts.trading import Trading, trading  # noqa: F401


def test_metadata(trading: Trading) -> None:
    m = trading.m
    assert m.token.functions.decimals().call() == 2
    assert m.token.functions.symbol().call() == "dCNY"
    assert m.token.functions.admin().call() == m.admin
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
    t, m = trading, trading.m
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
