"""ParticipantRegistry: organisations, accounts, licences, suspension, views — against anvil."""

from __future__ import annotations

import pytest

from tests.contracts.helpers import (
    DEFAULT_ADMIN_ROLE,
    REGISTRAR_ROLE,
    ZERO_ADDRESS,
    Roles,
    Status,
    event,
    expect_deploy_revert,
    expect_revert,
    jur,
    mapping_slot,
    org_id,
    send,
)

NEW_ORG = org_id("91440300MA5NEW0001")


@pytest.fixture
def reg(market):
    return market.participants


def _register_new_org(market, reg, jurisdiction="CN", allowed=Roles.HOLDER | Roles.BROKER, officer=None):
    officer = officer or market.spare[0]
    send(reg.functions.registerOrganisation(NEW_ORG, jur(jurisdiction), allowed, officer), market.admin)
    return officer


# ------------------------------------------------------------------ construction


def test_constructor_grants_admin_and_registrar(market, reg):
    assert reg.functions.hasRole(DEFAULT_ADMIN_ROLE, market.admin).call()
    assert reg.functions.hasRole(REGISTRAR_ROLE, market.admin).call()
    assert reg.functions.REGISTRAR_ROLE().call() == REGISTRAR_ROLE
    assert reg.functions.ALL_ROLES().call() == Roles.ALL
    assert reg.functions.organisationCount().call() == 12


def test_constructor_rejects_zero_admin(market):
    expect_deploy_revert(market.w3, "ParticipantRegistry", (ZERO_ADDRESS,), "ZeroAddress", sender=market.admin)


# ------------------------------------------------------------------ organisations


def test_register_organisation(market, reg):
    officer = market.spare[0]
    receipt = send(reg.functions.registerOrganisation(NEW_ORG, jur("HK"), Roles.HOLDER, officer), market.admin)
    ev = event(reg, receipt, "OrganisationRegistered")
    assert ev == {
        "orgId": NEW_ORG,
        "jurisdiction": b"HK",
        "allowedRoles": Roles.HOLDER,
        "officer": officer,
        "registrar": market.admin,
    }
    status, allowed, j, off, count, oid = reg.functions.organisation(NEW_ORG).call()
    assert (status, allowed, j, off, count, oid) == (Status.ACTIVE, Roles.HOLDER, b"HK", officer, 0, NEW_ORG)
    assert reg.functions.organisationCount().call() == 13


def test_register_organisation_requires_registrar(market, reg):
    fn = reg.functions.registerOrganisation(NEW_ORG, jur("CN"), Roles.HOLDER, market.spare[0])
    expect_revert(fn, "AccessControlUnauthorizedAccount", market.holder_cn, REGISTRAR_ROLE, sender=market.holder_cn)


@pytest.mark.parametrize(
    "oid, j, roles, officer_zero, error, values",
    [
        (b"\0" * 32, b"CN", Roles.HOLDER, False, "InvalidOrgId", (b"\0" * 32,)),
        (NEW_ORG, b"cn", Roles.HOLDER, False, "InvalidJurisdiction", (b"cn",)),
        (NEW_ORG, b"C1", Roles.HOLDER, False, "InvalidJurisdiction", (b"C1",)),
        (NEW_ORG, b"\0\0", Roles.HOLDER, False, "InvalidJurisdiction", (b"\0\0",)),
        (NEW_ORG, b"CN", 0, False, "InvalidRoles", (0,)),
        (NEW_ORG, b"CN", 0x0100, False, "InvalidRoles", (0x0100,)),
        (NEW_ORG, b"CN", Roles.HOLDER, True, "ZeroAddress", ()),
    ],
)
def test_register_organisation_rejects(market, reg, oid, j, roles, officer_zero, error, values):
    officer = ZERO_ADDRESS if officer_zero else market.spare[0]
    expect_revert(reg.functions.registerOrganisation(oid, j, roles, officer), error, *values, sender=market.admin)


def test_register_organisation_twice(market, reg):
    oid = market.orgs["holder_hk"]
    fn = reg.functions.registerOrganisation(oid, jur("HK"), Roles.HOLDER, market.spare[0])
    expect_revert(fn, "OrganisationExists", oid, sender=market.admin)


def test_set_officer(market, reg):
    oid = market.orgs["holder_cn"]
    new_officer = market.spare[1]
    receipt = send(reg.functions.setOfficer(oid, new_officer), market.admin)
    assert event(reg, receipt, "OfficerChanged") == {
        "orgId": oid,
        "previousOfficer": market.officer_cn,
        "newOfficer": new_officer,
    }
    assert reg.functions.organisation(oid).call()[3] == new_officer
    # the old officer lost control, the new one has it
    expect_revert(
        reg.functions.addAccount(oid, market.spare[2], Roles.HOLDER),
        "NotOfficer",
        market.officer_cn,
        oid,
        sender=market.officer_cn,
    )
    send(reg.functions.addAccount(oid, market.spare[2], Roles.HOLDER), new_officer)
    assert reg.functions.isActive(market.spare[2]).call()


def test_set_officer_rejects(market, reg):
    oid = market.orgs["holder_cn"]
    expect_revert(
        reg.functions.setOfficer(oid, market.spare[1]),
        "AccessControlUnauthorizedAccount",
        market.officer_cn,
        REGISTRAR_ROLE,
        sender=market.officer_cn,
    )
    expect_revert(reg.functions.setOfficer(NEW_ORG, market.spare[1]), "UnknownOrganisation", NEW_ORG, sender=market.admin)
    expect_revert(reg.functions.setOfficer(oid, ZERO_ADDRESS), "ZeroAddress", sender=market.admin)


def test_suspend_and_reinstate_organisation(market, reg):
    oid = market.orgs["operator"]
    op = market.operator
    assert reg.functions.isActive(op).call() and reg.functions.hasRoles(op, Roles.OPERATOR).call()
    receipt = send(reg.functions.suspendOrganisation(oid, "licence audit"), market.admin)
    assert event(reg, receipt, "OrganisationSuspended") == {
        "orgId": oid,
        "registrar": market.admin,
        "reason": "licence audit",
    }
    assert reg.functions.organisation(oid).call()[0] == Status.SUSPENDED
    # the account itself is still Active, but fails closed through its organisation
    assert reg.functions.participant(op).call()[3] == Status.ACTIVE
    assert not reg.functions.isActive(op).call()
    assert not reg.functions.hasRoles(op, Roles.OPERATOR).call()
    assert not reg.functions.hasRoles(op, 0).call()
    assert not reg.functions.licenceValid(op).call()
    # the officer cannot administer a suspended organisation
    expect_revert(
        reg.functions.addAccount(oid, market.spare[0], Roles.HOLDER),
        "OrganisationStatusInvalid",
        oid,
        Status.SUSPENDED,
        sender=market.officers["operator"],
    )
    expect_revert(
        reg.functions.suspendOrganisation(oid, "again"),
        "OrganisationStatusInvalid",
        oid,
        Status.SUSPENDED,
        sender=market.admin,
    )
    receipt = send(reg.functions.reinstateOrganisation(oid, "audit passed"), market.admin)
    assert event(reg, receipt, "OrganisationReinstated") == {
        "orgId": oid,
        "registrar": market.admin,
        "reason": "audit passed",
    }
    assert reg.functions.isActive(op).call() and reg.functions.hasRoles(op, Roles.OPERATOR).call()
    expect_revert(
        reg.functions.reinstateOrganisation(oid, "again"),
        "OrganisationStatusInvalid",
        oid,
        Status.ACTIVE,
        sender=market.admin,
    )


def test_suspend_organisation_rejects(market, reg):
    oid = market.orgs["operator"]
    for fn in (reg.functions.suspendOrganisation(oid, "x"), reg.functions.reinstateOrganisation(oid, "x")):
        expect_revert(fn, "AccessControlUnauthorizedAccount", market.regulator, REGISTRAR_ROLE, sender=market.regulator)
    expect_revert(reg.functions.suspendOrganisation(NEW_ORG, "x"), "UnknownOrganisation", NEW_ORG, sender=market.admin)
    expect_revert(reg.functions.reinstateOrganisation(NEW_ORG, "x"), "UnknownOrganisation", NEW_ORG, sender=market.admin)


# ------------------------------------------------------------------ accounts (officer)


def test_add_account_inherits_jurisdiction(market, reg):
    officer = _register_new_org(market, reg, jurisdiction="SG")
    account = market.spare[1]
    receipt = send(reg.functions.addAccount(NEW_ORG, account, Roles.BROKER), officer)
    assert event(reg, receipt, "AccountAdded") == {
        "account": account,
        "orgId": NEW_ORG,
        "jurisdiction": b"SG",
        "roles": Roles.BROKER,
        "officer": officer,
    }
    assert tuple(reg.functions.participant(account).call()) == (b"SG", Roles.BROKER, 0, Status.ACTIVE, NEW_ORG)
    assert reg.functions.jurisdictionOf(account).call() == b"SG"
    assert reg.functions.orgOf(account).call() == NEW_ORG
    assert reg.functions.organisation(NEW_ORG).call()[4] == 1
    assert reg.functions.isActive(account).call()
    # licensed role without a licence: active, but the role is unusable and the licence invalid
    assert not reg.functions.hasRoles(account, Roles.BROKER).call()
    assert reg.functions.hasRoles(account, 0).call()
    assert not reg.functions.licenceValid(account).call()


def test_add_account_rejects(market, reg):
    officer = _register_new_org(market, reg)
    acc = market.spare[1]
    expect_revert(
        reg.functions.addAccount(NEW_ORG, acc, Roles.HOLDER), "NotOfficer", market.admin, NEW_ORG, sender=market.admin
    )
    unknown = org_id("nope")
    expect_revert(reg.functions.addAccount(unknown, acc, Roles.HOLDER), "UnknownOrganisation", unknown, sender=officer)
    expect_revert(reg.functions.addAccount(NEW_ORG, ZERO_ADDRESS, Roles.HOLDER), "ZeroAddress", sender=officer)
    expect_revert(
        reg.functions.addAccount(NEW_ORG, market.holder_hk, Roles.HOLDER),
        "AccountExists",
        market.holder_hk,
        market.orgs["holder_hk"],
        sender=officer,
    )
    expect_revert(reg.functions.addAccount(NEW_ORG, acc, 0), "InvalidRoles", 0, sender=officer)
    expect_revert(reg.functions.addAccount(NEW_ORG, acc, 0x0200), "InvalidRoles", 0x0200, sender=officer)
    expect_revert(
        reg.functions.addAccount(NEW_ORG, acc, Roles.HOLDER | Roles.CUSTOMS),
        "RolesNotAllowed",
        NEW_ORG,
        Roles.HOLDER | Roles.CUSTOMS,
        Roles.HOLDER | Roles.BROKER,
        sender=officer,
    )


def test_set_account_roles(market, reg):
    officer = _register_new_org(market, reg)
    acc = market.spare[1]
    send(reg.functions.addAccount(NEW_ORG, acc, Roles.BROKER), officer)
    receipt = send(reg.functions.setAccountRoles(NEW_ORG, acc, Roles.HOLDER | Roles.BROKER), officer)
    assert event(reg, receipt, "AccountRolesChanged") == {
        "account": acc,
        "orgId": NEW_ORG,
        "previousRoles": Roles.BROKER,
        "roles": Roles.HOLDER | Roles.BROKER,
        "officer": officer,
    }
    assert reg.functions.participant(acc).call()[1] == Roles.HOLDER | Roles.BROKER
    # the licensed bits change only through the registrar (setLicensedRoles), in either direction
    expect_revert(reg.functions.setAccountRoles(NEW_ORG, acc, Roles.HOLDER), "LicensedRolesNeedRegistrar", acc,
                  Roles.BROKER, 0, sender=officer)
    expect_revert(
        reg.functions.setAccountRoles(NEW_ORG, acc, Roles.REGULATOR),
        "RolesNotAllowed",
        NEW_ORG,
        Roles.REGULATOR,
        Roles.HOLDER | Roles.BROKER,
        sender=officer,
    )
    expect_revert(reg.functions.setAccountRoles(NEW_ORG, acc, 0), "InvalidRoles", 0, sender=officer)
    expect_revert(
        reg.functions.setAccountRoles(NEW_ORG, market.holder_hk, Roles.HOLDER),
        "AccountNotInOrganisation",
        market.holder_hk,
        NEW_ORG,
        sender=officer,
    )
    expect_revert(
        reg.functions.setAccountRoles(NEW_ORG, market.spare[2], Roles.HOLDER),
        "UnknownAccount",
        market.spare[2],
        sender=officer,
    )
    expect_revert(
        reg.functions.setAccountRoles(NEW_ORG, acc, Roles.HOLDER), "NotOfficer", acc, NEW_ORG, sender=acc
    )
    send(reg.functions.suspendAccount(acc, "kyc"), market.admin)
    expect_revert(
        reg.functions.setAccountRoles(NEW_ORG, acc, Roles.HOLDER),
        "AccountStatusInvalid",
        acc,
        Status.SUSPENDED,
        sender=officer,
    )


def test_remove_account_and_re_add(market, reg):
    oid = market.orgs["holder_cn"]
    acc = market.holder_cn
    receipt = send(reg.functions.removeAccount(oid, acc), market.officer_cn)
    assert event(reg, receipt, "AccountRemoved") == {"account": acc, "orgId": oid, "officer": market.officer_cn}
    assert tuple(reg.functions.participant(acc).call()) == (b"\0\0", 0, 0, Status.NONE, b"\0" * 32)
    assert not reg.functions.isActive(acc).call()
    assert reg.functions.organisation(oid).call()[4] == 0
    # removed accounts may join again (here: another organisation)
    officer = _register_new_org(market, reg, jurisdiction="MO", allowed=Roles.HOLDER)
    send(reg.functions.addAccount(NEW_ORG, acc, Roles.HOLDER), officer)
    assert reg.functions.jurisdictionOf(acc).call() == b"MO"


def test_remove_account_rejects(market, reg):
    oid = market.orgs["holder_cn"]
    expect_revert(
        reg.functions.removeAccount(oid, market.holder_hk),
        "AccountNotInOrganisation",
        market.holder_hk,
        oid,
        sender=market.officer_cn,
    )
    expect_revert(
        reg.functions.removeAccount(oid, market.outsider), "UnknownAccount", market.outsider, sender=market.officer_cn
    )
    expect_revert(
        reg.functions.removeAccount(oid, market.holder_cn), "NotOfficer", market.holder_cn, oid, sender=market.holder_cn
    )
    # a suspended account cannot be removed (no escape from suspension by remove + re-add)
    send(reg.functions.suspendAccount(market.holder_cn, "fraud"), market.admin)
    expect_revert(
        reg.functions.removeAccount(oid, market.holder_cn),
        "AccountStatusInvalid",
        market.holder_cn,
        Status.SUSPENDED,
        sender=market.officer_cn,
    )


# ------------------------------------------------------------------ registrar on accounts


def test_set_licence_expiry(market, reg, chain):
    broker = market.broker
    expiry = chain.now() + 1000
    receipt = send(reg.functions.setLicenceExpiry(broker, expiry), market.admin)
    assert event(reg, receipt, "LicenceExpirySet") == {
        "account": broker,
        "orgId": market.orgs["broker"],
        "previousExpiry": market.licence_expiry,
        "expiry": expiry,
        "registrar": market.admin,
    }
    assert reg.functions.participant(broker).call()[2] == expiry
    chain.mine(expiry - 1)
    assert reg.functions.licenceValid(broker).call()
    assert reg.functions.hasRoles(broker, Roles.BROKER).call()
    chain.mine(expiry)  # expiry <= block.timestamp: expired
    assert not reg.functions.licenceValid(broker).call()
    assert not reg.functions.hasRoles(broker, Roles.BROKER).call()
    assert reg.functions.isActive(broker).call()
    assert reg.functions.hasRoles(broker, 0).call()
    # withdrawing the licence (0)
    send(reg.functions.setLicenceExpiry(market.exchange, 0), market.admin)
    assert not reg.functions.hasRoles(market.exchange, Roles.EXCHANGE).call()


def test_licence_expiry_in_time(market, reg, chain):
    chain.time_travel(366 * 24 * 3600)
    for name, role in (("operator", Roles.OPERATOR), ("exchange", Roles.EXCHANGE), ("appraiser", Roles.APPRAISER)):
        assert not reg.functions.licenceValid(market.addr[name]).call()
        assert not reg.functions.hasRoles(market.addr[name], role).call()
    # roles without licence are unaffected; an operator's HOLDER role still works
    assert reg.functions.hasRoles(market.operator, Roles.HOLDER).call()
    assert reg.functions.hasRoles(market.customs, Roles.CUSTOMS).call()
    assert reg.functions.licenceValid(market.holder_cn).call()


def test_set_licence_expiry_rejects(market, reg):
    expect_revert(
        reg.functions.setLicenceExpiry(market.broker, 1),
        "AccessControlUnauthorizedAccount",
        market.broker,
        REGISTRAR_ROLE,
        sender=market.broker,
    )
    expect_revert(
        reg.functions.setLicenceExpiry(market.outsider, 1), "UnknownAccount", market.outsider, sender=market.admin
    )
    expect_revert(
        reg.functions.setLicenceExpiry(market.holder_cn, 1),
        "NoLicensedRole",
        market.holder_cn,
        Roles.HOLDER,
        sender=market.admin,
    )


def test_suspend_and_reinstate_account(market, reg):
    acc = market.holder_sg
    oid = market.orgs["holder_sg"]
    receipt = send(reg.functions.suspendAccount(acc, "sanctions screening"), market.admin)
    assert event(reg, receipt, "AccountSuspended") == {
        "account": acc,
        "orgId": oid,
        "registrar": market.admin,
        "reason": "sanctions screening",
    }
    assert reg.functions.participant(acc).call()[3] == Status.SUSPENDED
    assert not reg.functions.isActive(acc).call()
    assert not reg.functions.hasRoles(acc, Roles.HOLDER).call()
    assert not reg.functions.licenceValid(acc).call()
    assert reg.functions.jurisdictionOf(acc).call() == b"SG"
    expect_revert(
        reg.functions.suspendAccount(acc, "again"), "AccountStatusInvalid", acc, Status.SUSPENDED, sender=market.admin
    )
    receipt = send(reg.functions.reinstateAccount(acc, "cleared"), market.admin)
    assert event(reg, receipt, "AccountReinstated") == {
        "account": acc,
        "orgId": oid,
        "registrar": market.admin,
        "reason": "cleared",
    }
    assert reg.functions.isActive(acc).call()
    expect_revert(
        reg.functions.reinstateAccount(acc, "again"), "AccountStatusInvalid", acc, Status.ACTIVE, sender=market.admin
    )


def test_suspend_account_rejects(market, reg):
    for fn in (reg.functions.suspendAccount(market.holder_cn, "x"), reg.functions.reinstateAccount(market.holder_cn, "x")):
        expect_revert(fn, "AccessControlUnauthorizedAccount", market.officer_cn, REGISTRAR_ROLE, sender=market.officer_cn)
    expect_revert(reg.functions.suspendAccount(market.outsider, "x"), "UnknownAccount", market.outsider, sender=market.admin)
    expect_revert(
        reg.functions.reinstateAccount(market.outsider, "x"), "UnknownAccount", market.outsider, sender=market.admin
    )


# ------------------------------------------------------------------ views


def test_views_of_unknown_account_fail_closed(market, reg):
    out = market.outsider
    assert tuple(reg.functions.participant(out).call()) == (b"\0\0", 0, 0, Status.NONE, b"\0" * 32)
    assert not reg.functions.isActive(out).call()
    assert not reg.functions.hasRoles(out, 0).call()
    assert not reg.functions.hasRoles(out, Roles.HOLDER).call()
    assert not reg.functions.licenceValid(out).call()
    assert reg.functions.jurisdictionOf(out).call() == b"\0\0"
    assert reg.functions.orgOf(out).call() == b"\0" * 32
    assert reg.functions.organisation(NEW_ORG).call()[0] == Status.NONE


def test_market_participants(market, reg):
    expected = {
        "authority": (b"CN", Roles.AUTHORITY | Roles.HOLDER),
        "operator": (b"CN", Roles.OPERATOR | Roles.HOLDER),
        "customs": (b"CN", Roles.CUSTOMS),
        "regulator": (b"CN", Roles.REGULATOR),
        "holder_hk": (b"HK", Roles.HOLDER),
        "holder_mo": (b"MO", Roles.HOLDER),
        "holder_sg": (b"SG", Roles.HOLDER),
    }
    for name, (j, roles) in expected.items():
        acc = market.addr[name]
        p = reg.functions.participant(acc).call()
        assert (p[0], p[1], p[3], p[4]) == (j, roles, Status.ACTIVE, market.orgs[name])
        assert reg.functions.hasRoles(acc, roles).call()
        assert reg.functions.licenceValid(acc).call()
    # holds some but not all requested bits
    assert not reg.functions.hasRoles(market.holder_cn, Roles.HOLDER | Roles.BROKER).call()
    assert reg.functions.hasRoles(market.operator, Roles.OPERATOR | Roles.HOLDER).call()
    # the officer of enterprise A administers it without being a participant itself
    assert not reg.functions.isActive(market.officer_cn).call()


def test_account_hot_fields_share_one_slot(market, reg):
    """_accounts (slot 1 after AccessControl's _roles) packs jurisdiction, roles, licence
    expiry, status and the organisation index into ONE storage word."""
    acc = market.broker
    slot = mapping_slot(acc, 1)
    word = int.from_bytes(market.w3.eth.get_storage_at(reg.address, slot), "big")
    assert word.to_bytes(32, "big")[-2:] == b"CN"  # bytes2 jurisdiction, lowest-order bytes
    assert (word >> 16) & 0xFFFF == Roles.BROKER
    assert (word >> 32) & (2**64 - 1) == market.licence_expiry
    assert (word >> 96) & 0xFF == Status.ACTIVE
    assert (word >> 104) & 0xFFFFFFFF == 4  # 4th organisation registered
    assert market.w3.eth.get_storage_at(reg.address, slot + 1) == b"\0" * 32


# ------------------------------------------------------------------ the revert helper itself


def test_expect_revert_checks_error_and_values(market, reg):
    fn = reg.functions.setLicenceExpiry(market.outsider, 1)
    (got,) = expect_revert(fn, "UnknownAccount", market.outsider, sender=market.admin)
    assert got.lower() == market.outsider.lower()
    with pytest.raises(AssertionError, match="argument 0"):
        expect_revert(fn, "UnknownAccount", market.holder_cn, sender=market.admin)
    with pytest.raises(AssertionError, match="reverted with UnknownAccount"):
        expect_revert(fn, "NoLicensedRole", sender=market.admin)
    with pytest.raises(AssertionError, match="did not revert"):
        expect_revert(reg.functions.isActive(market.holder_cn), "UnknownAccount")
    with pytest.raises(AssertionError, match="expected 2 values"):
        expect_revert(fn, "UnknownAccount", market.outsider, 5, sender=market.admin)


def test_transfer_standing_and_first_inactive(market) -> None:
    """The one-call views behind the voucher and payment checks: 0 ok, 1 not active, 2 licence expired."""
    reg, m = market.participants, market
    ok, inactive, expired = 0, 1, 2

    def standing(a: str, b: str) -> list:
        return list(reg.functions.transferStanding(a, b).call())

    assert standing(m.holder_cn, m.broker) == [ok, jur("CN"), ok, jur("CN")]
    assert standing(m.holder_hk, m.outsider) == [ok, jur("HK"), inactive, b"\x00\x00"]
    assert standing(m.outsider, m.holder_mo) == [inactive, b"\x00\x00", ok, jur("MO")]
    # licence expired: still active (standing 2), jurisdiction kept; an unlicensed role never expires
    now = int(m.w3.eth.get_block("latest")["timestamp"])
    send(reg.functions.setLicenceExpiry(m.broker, now + 5), m.admin)
    m.chain.time_travel(10)
    assert standing(m.broker, m.holder_cn) == [expired, jur("CN"), ok, jur("CN")]
    assert standing(m.holder_cn, m.broker) == [ok, jur("CN"), expired, jur("CN")]
    assert reg.functions.firstInactive(m.broker, [m.holder_cn]).call() == ZERO_ADDRESS
    # organisation suspended: every account of it is not active (the jurisdiction is still reported)
    send(reg.functions.suspendOrganisation(m.orgs["holder_hk"], "audit"), m.admin)
    assert standing(m.holder_cn, m.holder_hk) == [ok, jur("CN"), inactive, jur("HK")]
    assert standing(m.holder_hk, m.holder_cn) == [inactive, jur("HK"), ok, jur("CN")]
    # account suspended
    send(reg.functions.suspendAccount(m.bank_cn, "audit"), m.admin)
    assert standing(m.bank_cn, m.bank_cn) == [inactive, jur("CN"), inactive, jur("CN")]
    # firstInactive: the account first, then the others in order; address(0) when all are active
    assert reg.functions.firstInactive(m.holder_cn, []).call() == ZERO_ADDRESS
    assert reg.functions.firstInactive(m.holder_cn, [m.holder_mo, m.broker]).call() == ZERO_ADDRESS
    assert reg.functions.firstInactive(m.holder_cn, [m.holder_mo, m.holder_hk, m.outsider]).call() == m.holder_hk
    assert reg.functions.firstInactive(m.holder_cn, [m.outsider, m.bank_cn]).call() == m.outsider
    assert reg.functions.firstInactive(m.bank_cn, [m.outsider]).call() == m.bank_cn
    assert reg.functions.firstInactive(m.outsider, []).call() == m.outsider
    # reinstated: active again
    send(reg.functions.reinstateOrganisation(m.orgs["holder_hk"], "ok"), m.admin)
    assert reg.functions.firstInactive(m.holder_hk, [m.holder_cn]).call() == ZERO_ADDRESS


# ------------------------------------------------------------------ profile documents

PROFILE_CID = bytes.fromhex("0155122011" + "ab" * 31)  # a CIDv1 (raw, sha2-256) in binary form


def test_set_organisation_profile(market, reg):
    oid = market.orgs["holder_cn"]
    assert reg.functions.organisationProfile(oid).call() == b""
    receipt = send(reg.functions.setOrganisationProfile(oid, PROFILE_CID), market.admin)
    assert event(reg, receipt, "OrganisationProfileSet") == {"orgId": oid, "cid": PROFILE_CID,
                                                             "registrar": market.admin}
    assert reg.functions.organisationProfile(oid).call() == PROFILE_CID
    replacement = PROFILE_CID[:-1] + b"\x01"
    send(reg.functions.setOrganisationProfile(oid, replacement), market.admin)
    assert reg.functions.organisationProfile(oid).call() == replacement
    # another organisation's profile is untouched
    assert reg.functions.organisationProfile(market.orgs["bank_cn"]).call() == b""


@pytest.mark.parametrize("who", ["officer_cn", "holder_cn", "regulator", "customs", "exchange", "outsider"])
def test_set_organisation_profile_requires_registrar(market, reg, who):
    """The attacker's side: the organisation's own chief data officer, its account, a regulator,
    data customs, an exchange and a stranger cannot name an organisation."""
    attacker = getattr(market, who)
    fn = reg.functions.setOrganisationProfile(market.orgs["holder_cn"], PROFILE_CID)
    expect_revert(fn, "AccessControlUnauthorizedAccount", attacker, REGISTRAR_ROLE, sender=attacker)
    assert reg.functions.organisationProfile(market.orgs["holder_cn"]).call() == b""


def test_set_organisation_profile_rejects(market, reg):
    oid = market.orgs["holder_cn"]
    expect_revert(reg.functions.setOrganisationProfile(NEW_ORG, PROFILE_CID), "UnknownOrganisation", NEW_ORG,
                  sender=market.admin)
    expect_revert(reg.functions.setOrganisationProfile(oid, b""), "InvalidProfileCid", oid, 0, sender=market.admin)
    expect_revert(reg.functions.setOrganisationProfile(oid, b"\x01" * 129), "InvalidProfileCid", oid, 129,
                  sender=market.admin)
    send(reg.functions.setOrganisationProfile(oid, b"\x01" * 128), market.admin)  # the bound itself is allowed


def test_set_organisation_profile_of_suspended_organisation(market, reg):
    """A suspended organisation keeps its name: the registrar may still record its profile."""
    oid = market.orgs["bank_cn"]
    send(reg.functions.suspendOrganisation(oid, "audit"), market.admin)
    send(reg.functions.setOrganisationProfile(oid, PROFILE_CID), market.admin)
    assert reg.functions.organisationProfile(oid).call() == PROFILE_CID
