"""Issue 11 (audit), contract items of ParticipantRegistry and DataVoucher: each attack, now refused.

* High #2  re-homing an account around data customs (remove + add by two officers, and every way around);
* Medium #4 a foreign user redeems without a clearance (authoriseUser and redeem apply the cross-border rule);
* Low      redeem ignores an expired licence; an officer drops/adds a licensed role without the registrar;
* Low      one regulator key recovers any voucher alone (now proposed by one regulator, executed by another).

Every test runs against anvil through the ``trading`` market; each refusal is checked by its custom error
and values.
"""

from __future__ import annotations

from ledger.vocabulary import Restriction
from tests.contracts.helpers import ANY, Roles, event, expect_revert, jur, org_id, send
from tests.contracts.trading import DAY, USE, ZERO, Trading, trading

PURPOSE = b"\x22" * 32
CLEARANCE_REQUIRED = int(Restriction.CLEARANCE_REQUIRED)
SENDER_LICENCE_EXPIRED = int(Restriction.SENDER_LICENCE_EXPIRED)
RECIPIENT_LICENCE_EXPIRED = int(Restriction.RECIPIENT_LICENCE_EXPIRED)
RECIPIENT_NOT_ACTIVE = int(Restriction.RECIPIENT_NOT_ACTIVE)
SG_ORG2 = org_id("SG-UEN-202400099Z")


def level4_voucher(t: Trading, to: str | None = None) -> tuple[int, int]:
    """A level-4 CN asset of holder_cn and a use voucher over it issued to ``to`` (default bank_cn)."""
    m = t.m
    return t.issue(m.holder_cn, to=to or m.bank_cn, level=4, max_uses=5)


def add_to_own_org(t: Trading, of: str, account: str, roles: int = Roles.HOLDER) -> None:
    t.add_account(of, account, roles)


def second_regulator(t: Trading) -> str:
    """A second REGULATOR account in the regulator's organisation (its officer is the regulator)."""
    m = t.m
    reg2 = m.spare[5]
    send(m.participants.functions.addAccount(m.orgs["regulator"], reg2, Roles.REGULATOR), m.officers["regulator"])
    return reg2


# ============================================================ High #2: re-homing around data customs


def test_rehoming_a_voucher_holder_by_two_officers_is_refused(trading: Trading) -> None:
    """The audit's proof of concept: CN officer removes the holder of a level-4 CN voucher, an SG officer adds it."""
    t, m = trading, trading.m
    vid, _ = level4_voucher(t)
    reg = m.participants
    bank_org = m.orgs["bank_cn"]
    expect_revert(reg.functions.removeAccount(bank_org, m.bank_cn), "AccountHasHoldings", m.bank_cn, 1,
                  sender=m.officers["bank_cn"])
    # still CN, still active, still the holder
    assert reg.functions.jurisdictionOf(m.bank_cn).call() == b"CN"
    assert reg.functions.isActive(m.bank_cn).call()
    # the SG officer cannot take it over while it is registered
    expect_revert(reg.functions.addAccount(m.orgs["holder_sg"], m.bank_cn, Roles.HOLDER), "AccountExists",
                  m.bank_cn, bank_org, sender=m.officers["holder_sg"])
    # the holding moves only through the customs-checked transfer path
    expect_revert(m.voucher.functions.transferFrom(m.bank_cn, m.holder_sg, vid), "TransferRestricted",
                  CLEARANCE_REQUIRED, m.bank_cn, m.holder_sg, vid, sender=m.bank_cn)


def test_rehoming_an_asset_holder_is_refused(trading: Trading) -> None:
    m = trading.m
    m.register_asset(m.holder_cn, level=4)
    m.register_asset(m.holder_cn, level=1)
    expect_revert(m.participants.functions.removeAccount(m.orgs["holder_cn"], m.holder_cn), "AccountHasHoldings",
                  m.holder_cn, 2, sender=m.officer_cn)


def test_rehoming_counts_vouchers_and_assets_together(trading: Trading) -> None:
    t, m = trading, trading.m
    vid, _ = level4_voucher(t, to=m.holder_cn)  # holder_cn: 1 asset + 1 voucher
    expect_revert(m.participants.functions.removeAccount(m.orgs["holder_cn"], m.holder_cn), "AccountHasHoldings",
                  m.holder_cn, 2, sender=m.officer_cn)
    assert vid > 0


def test_re_adding_to_the_same_org_with_other_roles_is_refused_while_holding(trading: Trading) -> None:
    t, m = trading, trading.m
    acc = m.spare[0]
    add_to_own_org(t, "holder_cn", acc)
    level4_voucher(t, to=acc)
    expect_revert(m.participants.functions.removeAccount(m.orgs["holder_cn"], acc), "AccountHasHoldings", acc, 1,
                  sender=m.officer_cn)


def test_suspend_and_reinstate_do_not_open_a_rehoming_path(trading: Trading) -> None:
    t, m = trading, trading.m
    level4_voucher(t)
    reg = m.participants
    send(reg.functions.suspendAccount(m.bank_cn, "audit"), m.admin)
    expect_revert(reg.functions.removeAccount(m.orgs["bank_cn"], m.bank_cn), "AccountStatusInvalid", m.bank_cn, 2,
                  sender=m.officers["bank_cn"])
    send(reg.functions.reinstateAccount(m.bank_cn, "ok"), m.admin)
    expect_revert(reg.functions.removeAccount(m.orgs["bank_cn"], m.bank_cn), "AccountHasHoldings", m.bank_cn, 1,
                  sender=m.officers["bank_cn"])
    # suspending and reinstating the whole organisation changes nothing either
    send(reg.functions.suspendOrganisation(m.orgs["bank_cn"], "audit"), m.admin)
    send(reg.functions.reinstateOrganisation(m.orgs["bank_cn"], "ok"), m.admin)
    expect_revert(reg.functions.removeAccount(m.orgs["bank_cn"], m.bank_cn), "AccountHasHoldings", m.bank_cn, 1,
                  sender=m.officers["bank_cn"])


def test_registrar_paths_do_not_rehome_a_holder(trading: Trading) -> None:
    """The registrar cannot remove accounts itself; replacing the officer does not lift the rule."""
    t, m = trading, trading.m
    level4_voucher(t)
    reg = m.participants
    expect_revert(reg.functions.removeAccount(m.orgs["bank_cn"], m.bank_cn), "NotOfficer", m.admin,
                  m.orgs["bank_cn"], sender=m.admin)
    send(reg.functions.setOfficer(m.orgs["bank_cn"], m.holder_sg), m.admin)  # a foreign officer now
    expect_revert(reg.functions.removeAccount(m.orgs["bank_cn"], m.bank_cn), "AccountHasHoldings", m.bank_cn, 1,
                  sender=m.holder_sg)


def test_holdings_sources_are_bound_once_by_the_admin(trading: Trading) -> None:
    m = trading.m
    reg = m.participants
    sources = reg.functions.holdingsSources().call()
    assert [s.lower() for s in sources] == [m.assets.address.lower(), m.voucher.address.lower()]
    expect_revert(reg.functions.bindHoldings([m.voucher.address]), "HoldingsAlreadyBound", sender=m.admin)
    expect_revert(reg.functions.bindHoldings([m.voucher.address]), "AccessControlUnauthorizedAccount",
                  m.holder_cn, ANY, sender=m.holder_cn)
    assert m.voucher.functions.holdingsOf(m.holder_cn).call() == 0


def test_an_account_that_gave_its_holdings_away_may_leave(trading: Trading) -> None:
    """Control: the rule is about holdings; once the voucher moved (customs-checked), removal works."""
    t, m = trading, trading.m
    vid, _ = level4_voucher(t)
    send(m.voucher.functions.transferFrom(m.bank_cn, m.holder_cn, vid), m.bank_cn)
    receipt = send(m.participants.functions.removeAccount(m.orgs["bank_cn"], m.bank_cn), m.officers["bank_cn"])
    assert event(m.participants, receipt, "AccountRemoved")["account"] == m.bank_cn


def test_rehomed_authorised_user_cannot_redeem(trading: Trading) -> None:
    """A user authorised on a level-4 CN voucher (holding nothing) is re-homed to SG: its use is refused."""
    t, m = trading, trading.m
    user = m.spare[0]
    add_to_own_org(t, "bank_cn", user)
    vid, _ = level4_voucher(t)
    send(m.voucher.functions.authoriseUser(vid, user, True), m.bank_cn)
    send(m.voucher.functions.redeem(vid, PURPOSE), user)  # fine while in CN
    reg = m.participants
    send(reg.functions.removeAccount(m.orgs["bank_cn"], user), m.officers["bank_cn"])  # holds nothing: allowed
    send(reg.functions.registerOrganisation(SG_ORG2, jur("SG"), Roles.HOLDER, m.spare[1]), m.admin)
    send(reg.functions.addAccount(SG_ORG2, user, Roles.HOLDER), m.spare[1])
    assert reg.functions.jurisdictionOf(user).call() == b"SG"
    assert m.voucher.functions.detectUseRestriction(user, vid).call() == CLEARANCE_REQUIRED
    expect_revert(m.voucher.functions.redeem(vid, PURPOSE), "UseRestricted", CLEARANCE_REQUIRED, m.bank_cn, user,
                  vid, sender=user)


# ============================================================ Medium #4: foreign user without a clearance


def test_authorising_a_foreign_user_needs_a_clearance(trading: Trading) -> None:
    """The audit's proof of concept: a CN holder authorises an SG user on a level-4 CN voucher."""
    t, m = trading, trading.m
    vid, aid = level4_voucher(t)
    v = m.voucher.functions
    assert v.detectTransferRestriction(m.bank_cn, m.holder_sg, vid).call() == CLEARANCE_REQUIRED
    assert v.detectUseRestriction(m.holder_sg, vid).call() == CLEARANCE_REQUIRED
    expect_revert(v.authoriseUser(vid, m.holder_sg, True), "UseRestricted", CLEARANCE_REQUIRED, m.bank_cn,
                  m.holder_sg, vid, sender=m.bank_cn)
    expect_revert(v.redeem(vid, PURPOSE), "NotAuthorisedUser", vid, m.holder_sg, m.bank_cn, sender=m.holder_sg)
    # the same message as for a transfer
    assert "clearance" in v.messageForTransferRestriction(CLEARANCE_REQUIRED).call()
    # withdrawing an authorisation is always allowed
    send(v.authoriseUser(vid, m.holder_sg, False), m.bank_cn)


def test_foreign_user_with_clearance_redeems_until_the_clearance_ends(trading: Trading) -> None:
    t, m = trading, trading.m
    vid, aid = level4_voucher(t)
    v = m.voucher.functions
    case = m.clear(aid, "SG", m.holder_sg)
    send(v.authoriseUser(vid, m.holder_sg, True), m.bank_cn)
    send(v.redeem(vid, PURPOSE), m.holder_sg)
    # revoked clearance: the next use is refused with the transfer code
    send(m.datacustoms.functions.revokeClearance(case, "conditions breached"), m.customs)
    expect_revert(v.redeem(vid, PURPOSE), "UseRestricted", CLEARANCE_REQUIRED, m.bank_cn, m.holder_sg, vid,
                  sender=m.holder_sg)
    # a new clearance that then expires
    m.clear(aid, "SG", m.holder_sg, expiry=t.now() + 3600)
    send(v.redeem(vid, PURPOSE), m.holder_sg)
    m.chain.time_travel(3700)
    expect_revert(v.redeem(vid, PURPOSE), "UseRestricted", CLEARANCE_REQUIRED, m.bank_cn, m.holder_sg, vid,
                  sender=m.holder_sg)


def test_foreign_user_on_a_lower_level_asset_crosses_the_border_too(trading: Trading) -> None:
    """A level-2 CN asset: a HK user is cross-border (destination differs from the asset's home)."""
    t, m = trading, trading.m
    vid, aid = t.issue(m.holder_cn, to=m.bank_cn, level=2)
    v = m.voucher.functions
    assert v.detectUseRestriction(m.holder_hk, vid).call() == v.detectTransferRestriction(
        m.bank_cn, m.holder_hk, vid).call() == CLEARANCE_REQUIRED
    expect_revert(v.authoriseUser(vid, m.holder_hk, True), "UseRestricted", CLEARANCE_REQUIRED, m.bank_cn,
                  m.holder_hk, vid, sender=m.bank_cn)
    # a domestic user is fine; an unregistered one is not
    send(v.authoriseUser(vid, m.holder_cn, True), m.bank_cn)
    expect_revert(v.authoriseUser(vid, m.outsider, True), "UseRestricted", RECIPIENT_NOT_ACTIVE, m.bank_cn,
                  m.outsider, vid, sender=m.bank_cn)


def test_foreign_holder_redeems_only_under_a_live_clearance(trading: Trading) -> None:
    """The holder is a redeemer too: an SG holder whose clearance was revoked cannot use the voucher."""
    t, m = trading, trading.m
    aid = m.register_asset(m.holder_cn, level=4)
    case = m.clear(aid, "SG", m.holder_sg)
    vid, _ = t.issue(m.holder_cn, to=m.holder_sg, asset_id=aid)
    send(m.voucher.functions.redeem(vid, PURPOSE), m.holder_sg)
    send(m.datacustoms.functions.revokeClearance(case, "revoked"), m.regulator)
    expect_revert(m.voucher.functions.redeem(vid, PURPOSE), "UseRestricted", CLEARANCE_REQUIRED, m.holder_sg,
                  m.holder_sg, vid, sender=m.holder_sg)


# ============================================================ Low: licence standing and licensed roles


def test_redeem_is_refused_with_an_expired_licence(trading: Trading) -> None:
    t, m = trading, trading.m
    reg = m.participants
    vid, _ = t.issue(m.operator, to=m.operator)
    send(m.voucher.functions.authoriseUser(vid, m.broker, True), m.operator)
    send(reg.functions.setLicenceExpiry(m.operator, t.now() + 100), m.admin)
    m.chain.time_travel(200)
    expect_revert(m.voucher.functions.redeem(vid, PURPOSE), "UseRestricted", SENDER_LICENCE_EXPIRED, m.operator,
                  m.operator, vid, sender=m.operator)
    # the holder's expired licence blocks its authorised user too
    expect_revert(m.voucher.functions.redeem(vid, PURPOSE), "UseRestricted", SENDER_LICENCE_EXPIRED, m.operator,
                  m.broker, vid, sender=m.broker)
    send(reg.functions.setLicenceExpiry(m.operator, t.now() + DAY), m.admin)
    # an authorised user with an expired licence
    send(reg.functions.setLicenceExpiry(m.broker, t.now() + 100), m.admin)
    m.chain.time_travel(200)
    expect_revert(m.voucher.functions.redeem(vid, PURPOSE), "UseRestricted", RECIPIENT_LICENCE_EXPIRED, m.operator,
                  m.broker, vid, sender=m.broker)
    send(m.voucher.functions.redeem(vid, PURPOSE), m.operator)


def test_officer_cannot_drop_a_licensed_role(trading: Trading) -> None:
    """The broker's licence expired; its officer drops the BROKER role to lift 'licence expired'."""
    t, m = trading, trading.m
    reg = m.participants
    broker_org, officer = m.orgs["broker"], m.officers["broker"]
    send(reg.functions.setLicenceExpiry(m.broker, t.now() + 100), m.admin)
    m.chain.time_travel(200)
    assert not reg.functions.licenceValid(m.broker).call()
    expect_revert(reg.functions.setAccountRoles(broker_org, m.broker, Roles.HOLDER), "LicensedRolesNeedRegistrar",
                  m.broker, Roles.BROKER, 0, sender=officer)
    # nor by removing the account and adding it again without the role
    expect_revert(reg.functions.removeAccount(broker_org, m.broker), "LicensedRolesNeedRegistrar", m.broker,
                  Roles.BROKER, 0, sender=officer)
    assert not reg.functions.licenceValid(m.broker).call()


def test_officer_cannot_add_a_licensed_role_to_an_account(trading: Trading) -> None:
    t, m = trading, trading.m
    reg = m.participants
    acc = m.spare[0]
    add_to_own_org(t, "operator", acc, Roles.HOLDER)
    expect_revert(reg.functions.setAccountRoles(m.orgs["operator"], acc, Roles.HOLDER | Roles.OPERATOR),
                  "LicensedRolesNeedRegistrar", acc, 0, Roles.OPERATOR, sender=m.officers["operator"])
    # non-licensed roles still change at the officer's word
    send(reg.functions.setAccountRoles(m.orgs["broker"], m.broker, Roles.BROKER | Roles.HOLDER), m.officers["broker"])


def test_registrar_changes_licensed_roles(trading: Trading) -> None:
    t, m = trading, trading.m
    reg = m.participants
    acc = m.spare[0]
    add_to_own_org(t, "operator", acc, Roles.HOLDER)
    expiry = t.now() + DAY
    expect_revert(reg.functions.setLicensedRoles(acc, Roles.OPERATOR, expiry), "AccessControlUnauthorizedAccount",
                  m.operator, ANY, sender=m.operator)
    expect_revert(reg.functions.setLicensedRoles(acc, Roles.HOLDER, expiry), "InvalidRoles", Roles.HOLDER,
                  sender=m.admin)
    expect_revert(reg.functions.setLicensedRoles(acc, Roles.BROKER, expiry), "RolesNotAllowed", m.orgs["operator"],
                  Roles.HOLDER | Roles.BROKER, Roles.OPERATOR | Roles.HOLDER, sender=m.admin)
    receipt = send(reg.functions.setLicensedRoles(acc, Roles.OPERATOR, expiry), m.admin)
    assert event(reg, receipt, "AccountRolesChanged") == {
        "account": acc, "orgId": m.orgs["operator"], "previousRoles": Roles.HOLDER,
        "roles": Roles.HOLDER | Roles.OPERATOR, "officer": m.admin}
    assert event(reg, receipt, "LicenceExpirySet")["expiry"] == expiry
    assert reg.functions.hasRoles(acc, Roles.OPERATOR).call()
    # the registrar drops the licensed role (and the licence); then the officer may remove the account
    receipt = send(reg.functions.setLicensedRoles(m.broker, 0, 0), m.admin)
    assert event(reg, receipt, "AccountRolesChanged")["roles"] == 0
    send(reg.functions.removeAccount(m.orgs["broker"], m.broker), m.officers["broker"])


# ============================================================ Low: two-person recovery


def test_one_regulator_cannot_recover_alone(trading: Trading) -> None:
    t, m = trading, trading.m
    vid, aid = t.issue(transferable=False)
    v = m.voucher.functions
    assert not any(e.get("name") == "recover" for e in m.voucher.abi)  # the one-key path is gone
    send(v.freeze(vid, "holder reports lost key"), m.regulator)
    receipt = send(v.proposeRecovery(vid, m.bank_cn, "lost key; court ruling 7"), m.regulator)
    ev = event(m.voucher, receipt, "RecoveryProposed")
    assert (ev["voucherId"], ev["assetId"], ev["regulator"], ev["from"], ev["to"], ev["reason"]) == (
        vid, aid, m.regulator, m.holder_cn, m.bank_cn, "lost key; court ruling 7")
    assert ev["expiresAt"] == t.now() + int(v.RECOVERY_WINDOW().call())
    expect_revert(v.executeRecovery(vid, "confirmed"), "RecoveryNeedsSecondRegulator", vid, m.regulator,
                  sender=m.regulator)
    assert v.ownerOf(vid).call() == m.holder_cn


def test_two_regulators_recover_a_voucher(trading: Trading) -> None:
    t, m = trading, trading.m
    reg2 = second_regulator(t)
    vid, aid = t.issue(transferable=False)
    v = m.voucher.functions
    send(v.freeze(vid, "lost key"), m.regulator)
    # the lost key's account may be suspended: the sender-side checks stay bypassed
    send(m.participants.functions.suspendAccount(m.holder_cn, "key lost"), m.admin)
    send(v.proposeRecovery(vid, m.bank_cn, "court ruling 7"), m.regulator)
    proposal = v.recoveryProposal(vid).call()
    assert (proposal[0], proposal[1], proposal[2]) == (m.holder_cn, m.bank_cn, m.regulator)
    expect_revert(v.executeRecovery(vid, "ok"), "NotRegulator", m.holder_cn, sender=m.holder_cn)
    expect_revert(v.executeRecovery(vid, ""), "EmptyReason", sender=reg2)
    receipt = send(v.executeRecovery(vid, "second signature"), reg2)
    assert event(m.voucher, receipt, "VoucherRecovered") == {
        "voucherId": vid, "assetId": aid, "regulator": reg2, "from": m.holder_cn, "to": m.bank_cn,
        "reason": "second signature"}
    assert event(m.voucher, receipt, "Transfer")["to"] == m.bank_cn
    assert v.ownerOf(vid).call() == m.bank_cn
    # the proposal is consumed
    expect_revert(v.executeRecovery(vid, "again"), "NoRecoveryProposal", vid, sender=reg2)


def test_recovery_proposal_binds_the_target_and_expires(trading: Trading) -> None:
    t, m = trading, trading.m
    reg2 = second_regulator(t)
    vid, _ = t.issue()
    v = m.voucher.functions
    expect_revert(v.proposeRecovery(vid, m.bank_cn, "x"), "NotRegulator", m.holder_cn, sender=m.holder_cn)
    expect_revert(v.proposeRecovery(vid, m.holder_cn, "x"), "InvalidRecipient", m.holder_cn, sender=m.regulator)
    expect_revert(v.proposeRecovery(vid, ZERO, "x"), "InvalidRecipient", ZERO, sender=m.regulator)
    expect_revert(v.proposeRecovery(vid, m.bank_cn, ""), "EmptyReason", sender=m.regulator)
    expect_revert(v.proposeRecovery(999, m.bank_cn, "x"), "ERC721NonexistentToken", 999, sender=m.regulator)
    # compliance applies already at the proposal (recipient standing, cross-border rule)
    expect_revert(v.proposeRecovery(vid, m.outsider, "x"), "TransferRestricted", RECIPIENT_NOT_ACTIVE, m.holder_cn,
                  m.outsider, vid, sender=m.regulator)
    expect_revert(v.proposeRecovery(vid, m.holder_hk, "x"), "TransferRestricted", CLEARANCE_REQUIRED, m.holder_cn,
                  m.holder_hk, vid, sender=m.regulator)
    send(v.proposeRecovery(vid, m.bank_cn, "lost key"), m.regulator)
    # a second proposal cannot replace a live one (cancel first)
    expect_revert(v.proposeRecovery(vid, m.holder_mo, "x"), "RecoveryPending", vid, m.regulator, ANY,
                  sender=reg2)
    window = int(v.RECOVERY_WINDOW().call())
    m.chain.time_travel(window + 1)
    expect_revert(v.executeRecovery(vid, "late"), "RecoveryProposalExpired", vid, ANY, ANY, sender=reg2)
    # an expired proposal may be replaced
    send(v.proposeRecovery(vid, m.bank_cn, "lost key, again"), reg2)
    expect_revert(v.executeRecovery(vid, "self"), "RecoveryNeedsSecondRegulator", vid, reg2, sender=reg2)
    send(v.executeRecovery(vid, "ok"), m.regulator)
    assert v.ownerOf(vid).call() == m.bank_cn


def test_recovery_proposal_is_invalidated_when_the_voucher_moves(trading: Trading) -> None:
    t, m = trading, trading.m
    reg2 = second_regulator(t)
    vid, _ = t.issue()
    v = m.voucher.functions
    send(v.proposeRecovery(vid, m.bank_cn, "lost key"), m.regulator)
    send(v.transferFrom(m.holder_cn, m.operator, vid), m.holder_cn)  # the holder still had its key
    expect_revert(v.executeRecovery(vid, "ok"), "RecoveryProposalStale", vid, m.holder_cn, m.operator, sender=reg2)
    assert v.ownerOf(vid).call() == m.operator


def test_recovery_cancel_and_compliance_at_execution(trading: Trading) -> None:
    t, m = trading, trading.m
    reg2 = second_regulator(t)
    vid, aid = t.issue(m.holder_cn, level=4)
    v = m.voucher.functions
    case = m.clear(aid, "SG", m.holder_sg)
    send(v.proposeRecovery(vid, m.holder_sg, "move to the SG subsidiary"), m.regulator)
    expect_revert(v.cancelRecovery(vid, "x"), "NotRegulator", m.holder_cn, sender=m.holder_cn)
    expect_revert(v.cancelRecovery(vid, ""), "EmptyReason", sender=reg2)
    # the clearance is revoked before the second regulator executes: the customs rule still applies
    send(m.datacustoms.functions.revokeClearance(case, "revoked"), m.customs)
    expect_revert(v.executeRecovery(vid, "ok"), "TransferRestricted", CLEARANCE_REQUIRED, m.holder_cn, m.holder_sg,
                  vid, sender=reg2)
    receipt = send(v.cancelRecovery(vid, "clearance revoked"), reg2)
    assert event(m.voucher, receipt, "RecoveryCancelled") == {
        "voucherId": vid, "assetId": aid, "regulator": reg2, "reason": "clearance revoked"}
    expect_revert(v.executeRecovery(vid, "ok"), "NoRecoveryProposal", vid, sender=reg2)
    expect_revert(v.cancelRecovery(vid, "again"), "NoRecoveryProposal", vid, sender=reg2)


def test_holdings_binding_fails_closed(trading: Trading) -> None:
    """A registry whose holdings sources are not bound refuses to add or remove accounts."""
    t, m = trading, trading.m
    reg = t.deploy("ParticipantRegistry", m.admin)
    oid = org_id("UNBOUND-ORG")
    send(reg.functions.registerOrganisation(oid, jur("CN"), Roles.HOLDER, m.spare[0]), m.admin)
    expect_revert(reg.functions.addAccount(oid, m.spare[1], Roles.HOLDER), "HoldingsNotBound", sender=m.spare[0])
    expect_revert(reg.functions.holdingsOf(m.spare[1]), "HoldingsNotBound")
    assert reg.functions.holdingsSources().call() == []
    expect_revert(reg.functions.bindHoldings([]), "ZeroAddress", sender=m.admin)
    expect_revert(reg.functions.bindHoldings([m.voucher.address, ZERO]), "ZeroAddress", sender=m.admin)
    receipt = send(reg.functions.bindHoldings([m.assets.address, m.voucher.address]), m.admin)
    ev = event(reg, receipt, "HoldingsBound")
    assert [a.lower() for a in ev["sources"]] == [m.assets.address.lower(), m.voucher.address.lower()]
    assert ev["admin"] == m.admin
    send(reg.functions.addAccount(oid, m.spare[1], Roles.HOLDER), m.spare[0])
    # the sources are this market's: spare[1] holds nothing there
    assert reg.functions.holdingsOf(m.spare[1]).call() == 0


def test_views_of_holdings_use_and_recovery(trading: Trading) -> None:
    t, m = trading, trading.m
    v = m.voucher.functions
    assert v.holdingsOf(ZERO).call() == 0
    assert v.detectUseRestriction(m.holder_cn, 4242).call() == 12  # UNKNOWN_VOUCHER
    vid, _ = t.issue()
    assert v.holdingsOf(m.holder_cn).call() == 1
    assert m.assets.functions.holdingsOf(m.holder_cn).call() == 1
    assert m.participants.functions.holdingsOf(m.holder_cn).call() == 2
    assert tuple(v.recoveryProposal(vid).call()) == (ZERO, ZERO, ZERO, 0)
    # a licence expiry without a licensed role is refused on the registrar path too
    expect_revert(m.participants.functions.setLicensedRoles(m.holder_cn, 0, t.now() + DAY), "NoLicensedRole",
                  m.holder_cn, Roles.HOLDER, sender=m.admin)
    expect_revert(m.participants.functions.setLicensedRoles(m.outsider, Roles.BROKER, 1), "UnknownAccount",
                  m.outsider, sender=m.admin)
