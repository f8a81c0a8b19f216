// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IParticipantRegistry, ParticipantRoles} from "./interfaces/IParticipantRegistry.sol";
import {IHoldings} from "./interfaces/IHoldings.sol";

/// @title ParticipantRegistry — who may act in the data element market
/// @notice Organisations are registered by the data authority (REGISTRAR_ROLE) with a
/// jurisdiction, the set of roles their accounts may hold and a chief data officer
/// (首席数据官). The officer adds and removes the organisation's accounts; accounts inherit
/// the organisation's jurisdiction. The registrar sets licence expiries, suspends and
/// reinstates accounts and organisations, replaces officers, and alone changes licensed roles.
///
/// An account that holds anything in the market (vouchers, registered assets — asked of the
/// {IHoldings} sources bound once by the admin) cannot leave its organisation, so it cannot be
/// re-homed into another organisation or jurisdiction around the data customs rule: its vouchers
/// move out only by customs-checked transfers first.
/// @dev Fails closed: an unknown account is not active, has no roles and no valid licence.
/// The hot record of an account (jurisdiction, roles, licence expiry, status, organisation
/// index) is packed in ONE storage slot and the organisation's status in one more, so
/// {isActive}/{hasRoles} cost two SLOADs.
contract ParticipantRegistry is AccessControl, IParticipantRegistry, IHoldings {
    /// @notice The data authority: registers organisations, sets licences, suspends.
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");

    /// @notice Every role bit defined in {ParticipantRoles}.
    uint16 public constant ALL_ROLES = 0x00FF;

    /// @dev One storage slot: 2 + 2 + 8 + 1 + 4 = 17 bytes.
    struct AccountRecord {
        bytes2 jurisdiction;
        uint16 roles;
        uint64 licenceExpiry;
        Status status;
        uint32 orgIndex; // 1-based index into _organisations; 0 = none
    }

    /// @notice An organisation (one slot: 1 + 2 + 2 + 20 + 4 = 29 bytes, plus its id).
    struct Organisation {
        Status status;
        uint16 allowedRoles;
        bytes2 jurisdiction;
        address officer;
        uint32 accountCount;
        bytes32 orgId;
    }

    mapping(address account => AccountRecord) private _accounts;
    mapping(uint32 orgIndex => Organisation) private _organisations;
    mapping(bytes32 orgId => uint32 orgIndex) private _orgIndexOf;
    uint32 private _organisationCount;
    /// @dev Contracts asked what an account holds before it joins or leaves an organisation.
    IHoldings[] private _holdingsSources;
    bool private _holdingsBound;
    /// @dev The IPFS CID (binary form) of the organisation's profile document (legal names, credit
    /// code, jurisdiction, licences), set by the registrar; empty until set.
    mapping(bytes32 orgId => bytes cid) private _profileCid;

    // ---------------------------------------------------------------- events

    /// @notice An organisation was registered by `registrar`.
    event OrganisationRegistered(
        bytes32 indexed orgId, bytes2 jurisdiction, uint16 allowedRoles, address indexed officer, address indexed registrar
    );
    /// @notice The organisation's chief data officer changed.
    event OfficerChanged(bytes32 indexed orgId, address indexed previousOfficer, address indexed newOfficer);
    /// @notice The organisation was suspended (all its accounts stop being active).
    event OrganisationSuspended(bytes32 indexed orgId, address indexed registrar, string reason);
    /// @notice The organisation was reinstated.
    event OrganisationReinstated(bytes32 indexed orgId, address indexed registrar, string reason);
    /// @notice `account` joined organisation `orgId` with `roles`, added by `officer`.
    event AccountAdded(
        address indexed account, bytes32 indexed orgId, bytes2 jurisdiction, uint16 roles, address indexed officer
    );
    /// @notice `account` left organisation `orgId`, removed by `officer`.
    event AccountRemoved(address indexed account, bytes32 indexed orgId, address indexed officer);
    /// @notice The roles of `account` changed from `previousRoles` to `roles`.
    event AccountRolesChanged(
        address indexed account, bytes32 indexed orgId, uint16 previousRoles, uint16 roles, address indexed officer
    );
    /// @notice The licence expiry of `account` was set (0 = no licence).
    event LicenceExpirySet(
        address indexed account, bytes32 indexed orgId, uint64 previousExpiry, uint64 expiry, address indexed registrar
    );
    /// @notice `account` was suspended.
    event AccountSuspended(address indexed account, bytes32 indexed orgId, address indexed registrar, string reason);
    /// @notice `account` was reinstated.
    event AccountReinstated(address indexed account, bytes32 indexed orgId, address indexed registrar, string reason);
    /// @notice The profile document of organisation `orgId` is the IPFS document `cid` (binary CID), set by `registrar`.
    event OrganisationProfileSet(bytes32 indexed orgId, bytes cid, address indexed registrar);
    /// @notice The contracts asked for an account's holdings were bound (once) by `admin`.
    event HoldingsBound(IHoldings[] sources, address indexed admin);

    // ---------------------------------------------------------------- errors

    /// @notice `account` is the zero address where an account is needed.
    error ZeroAddress();
    /// @notice The organisation id is zero.
    error InvalidOrgId(bytes32 orgId);
    /// @notice `jurisdiction` is not two upper-case ASCII letters.
    error InvalidJurisdiction(bytes2 jurisdiction);
    /// @notice `roles` is empty or contains undefined bits.
    error InvalidRoles(uint16 roles);
    /// @notice An organisation with `orgId` already exists.
    error OrganisationExists(bytes32 orgId);
    /// @notice No organisation with `orgId`.
    error UnknownOrganisation(bytes32 orgId);
    /// @notice The organisation is not in the status the operation needs.
    error OrganisationStatusInvalid(bytes32 orgId, Status status);
    /// @notice `caller` is not the chief data officer of `orgId`.
    error NotOfficer(address caller, bytes32 orgId);
    /// @notice `roles` are not a subset of the organisation's `allowedRoles`.
    error RolesNotAllowed(bytes32 orgId, uint16 roles, uint16 allowedRoles);
    /// @notice `account` is already registered (in `orgId`).
    error AccountExists(address account, bytes32 orgId);
    /// @notice `account` is not registered.
    error UnknownAccount(address account);
    /// @notice `account` does not belong to `orgId`.
    error AccountNotInOrganisation(address account, bytes32 orgId);
    /// @notice `account` is not in the status the operation needs.
    error AccountStatusInvalid(address account, Status status);
    /// @notice A licence expiry was set on an account with no licensed role.
    error NoLicensedRole(address account, uint16 roles);
    /// @notice `account` holds `count` vouchers and registered assets, so it cannot leave or join an
    /// organisation (no re-homing around the data customs rule).
    error AccountHasHoldings(address account, uint256 count);
    /// @notice The officer tried to change the licensed roles of `account` from `licensedRoles` to
    /// `requested` (by setting roles or removing the account): only the registrar changes them.
    error LicensedRolesNeedRegistrar(address account, uint16 licensedRoles, uint16 requested);
    /// @notice The profile CID of `orgId` is empty or longer than 128 bytes (`length`).
    error InvalidProfileCid(bytes32 orgId, uint256 length);
    /// @notice The holdings sources are already bound.
    error HoldingsAlreadyBound();
    /// @notice No holdings sources are bound yet: accounts cannot be added or removed (fails closed).
    error HoldingsNotBound();

    // ---------------------------------------------------------------- construction

    /// @param admin receives DEFAULT_ADMIN_ROLE and REGISTRAR_ROLE.
    constructor(address admin) {
        if (admin == address(0)) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _grantRole(REGISTRAR_ROLE, admin);
    }

    // ---------------------------------------------------------------- admin

    /// @notice Binds, once, the contracts asked what an account holds (the asset registry and the
    /// voucher contract of this market) before it joins or leaves an organisation.
    /// @dev Requirements: caller has DEFAULT_ADMIN_ROLE; not bound before; `sources` non-empty, none zero.
    /// Emits {HoldingsBound}.
    function bindHoldings(IHoldings[] calldata sources) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (_holdingsBound) revert HoldingsAlreadyBound();
        uint256 n = sources.length;
        if (n == 0) revert ZeroAddress();
        for (uint256 i; i < n; ++i) {
            if (address(sources[i]) == address(0)) revert ZeroAddress();
            _holdingsSources.push(sources[i]);
        }
        _holdingsBound = true;
        emit HoldingsBound(sources, _msgSender());
    }

    // ---------------------------------------------------------------- registrar

    /// @notice Registers an organisation.
    /// @param orgId hash of the unified social credit code (统一社会信用代码).
    /// @param jurisdiction "CN", "HK", "MO" or an ISO-3166 alpha-2 code.
    /// @param allowedRoles the role bits the organisation's accounts may hold.
    /// @param officer the chief data officer account that administers the organisation.
    /// @dev Requirements:
    /// - caller has REGISTRAR_ROLE;
    /// - `orgId` non-zero and not registered; `jurisdiction` two upper-case letters;
    /// - `allowedRoles` non-empty and only defined bits; `officer` non-zero.
    /// Emits {OrganisationRegistered}.
    function registerOrganisation(bytes32 orgId, bytes2 jurisdiction, uint16 allowedRoles, address officer)
        external
        onlyRole(REGISTRAR_ROLE)
    {
        if (orgId == bytes32(0)) revert InvalidOrgId(orgId);
        if (_orgIndexOf[orgId] != 0) revert OrganisationExists(orgId);
        _checkJurisdiction(jurisdiction);
        if (allowedRoles == 0 || allowedRoles & ~ALL_ROLES != 0) revert InvalidRoles(allowedRoles);
        if (officer == address(0)) revert ZeroAddress();
        uint32 index = ++_organisationCount;
        _orgIndexOf[orgId] = index;
        _organisations[index] = Organisation({
            status: Status.Active,
            allowedRoles: allowedRoles,
            jurisdiction: jurisdiction,
            officer: officer,
            accountCount: 0,
            orgId: orgId
        });
        emit OrganisationRegistered(orgId, jurisdiction, allowedRoles, officer, _msgSender());
    }

    /// @notice Records the IPFS CID of the profile document of `orgId` (a JSON document with the legal
    /// names in Chinese and English, the unified social credit code, the jurisdiction and licences).
    /// Setting it again replaces it (the previous one stays in the event history).
    /// @param cid the binary CID (as `cid.bytes`), 1..128 bytes.
    /// @dev Requirements:
    /// - caller has REGISTRAR_ROLE (an officer or any other role cannot name the organisation);
    /// - organisation `orgId` exists; `cid` non-empty and at most 128 bytes.
    /// Emits {OrganisationProfileSet}.
    function setOrganisationProfile(bytes32 orgId, bytes calldata cid) external onlyRole(REGISTRAR_ROLE) {
        _knownOrg(orgId);
        if (cid.length == 0 || cid.length > 128) revert InvalidProfileCid(orgId, cid.length);
        _profileCid[orgId] = cid;
        emit OrganisationProfileSet(orgId, cid, _msgSender());
    }

    /// @notice Replaces the chief data officer of `orgId`.
    /// @dev Requirements: caller has REGISTRAR_ROLE; organisation exists; `newOfficer` non-zero.
    /// Emits {OfficerChanged}.
    function setOfficer(bytes32 orgId, address newOfficer) external onlyRole(REGISTRAR_ROLE) {
        Organisation storage org = _organisations[_knownOrg(orgId)];
        if (newOfficer == address(0)) revert ZeroAddress();
        address previous = org.officer;
        org.officer = newOfficer;
        emit OfficerChanged(orgId, previous, newOfficer);
    }

    /// @notice Suspends organisation `orgId`: none of its accounts is active while suspended.
    /// @dev Requirements: caller has REGISTRAR_ROLE; organisation exists and is Active.
    /// Emits {OrganisationSuspended}.
    function suspendOrganisation(bytes32 orgId, string calldata reason) external onlyRole(REGISTRAR_ROLE) {
        Organisation storage org = _organisations[_knownOrg(orgId)];
        if (org.status != Status.Active) revert OrganisationStatusInvalid(orgId, org.status);
        org.status = Status.Suspended;
        emit OrganisationSuspended(orgId, _msgSender(), reason);
    }

    /// @notice Reinstates a suspended organisation.
    /// @dev Requirements: caller has REGISTRAR_ROLE; organisation exists and is Suspended.
    /// Emits {OrganisationReinstated}.
    function reinstateOrganisation(bytes32 orgId, string calldata reason) external onlyRole(REGISTRAR_ROLE) {
        Organisation storage org = _organisations[_knownOrg(orgId)];
        if (org.status != Status.Suspended) revert OrganisationStatusInvalid(orgId, org.status);
        org.status = Status.Active;
        emit OrganisationReinstated(orgId, _msgSender(), reason);
    }

    /// @notice Sets the licence expiry of `account` (unix seconds; 0 withdraws the licence).
    /// @dev Requirements: caller has REGISTRAR_ROLE; `account` registered and holds a licensed role.
    /// Emits {LicenceExpirySet}.
    function setLicenceExpiry(address account, uint64 expiry) external onlyRole(REGISTRAR_ROLE) {
        AccountRecord storage rec = _knownAccount(account);
        if (rec.roles & ParticipantRoles.LICENSED_ROLES == 0) revert NoLicensedRole(account, rec.roles);
        uint64 previous = rec.licenceExpiry;
        rec.licenceExpiry = expiry;
        emit LicenceExpirySet(account, _organisations[rec.orgIndex].orgId, previous, expiry, _msgSender());
    }

    /// @notice Sets the licensed roles of `account` to `licensedRoles` (its other roles stay) and its
    /// licence expiry to `expiry`: the only way licensed roles are granted or dropped after the account
    /// was added (an officer cannot lift "licence expired" by dropping the role).
    /// @dev Requirements:
    /// - caller has REGISTRAR_ROLE; `account` registered;
    /// - `licensedRoles` only licensed bits, and the resulting roles allowed for the organisation;
    /// - `expiry` is 0 when no licensed role remains.
    /// Emits {AccountRolesChanged} and {LicenceExpirySet}.
    function setLicensedRoles(address account, uint16 licensedRoles, uint64 expiry)
        external
        onlyRole(REGISTRAR_ROLE)
    {
        AccountRecord storage rec = _knownAccount(account);
        if (licensedRoles & ~ParticipantRoles.LICENSED_ROLES != 0) revert InvalidRoles(licensedRoles);
        Organisation storage org = _organisations[rec.orgIndex];
        uint16 previous = rec.roles;
        uint16 roles = (previous & ~ParticipantRoles.LICENSED_ROLES) | licensedRoles;
        if (roles & ~org.allowedRoles != 0) revert RolesNotAllowed(org.orgId, roles, org.allowedRoles);
        if (licensedRoles == 0 && expiry != 0) revert NoLicensedRole(account, roles);
        uint64 previousExpiry = rec.licenceExpiry;
        rec.roles = roles;
        rec.licenceExpiry = expiry;
        emit AccountRolesChanged(account, org.orgId, previous, roles, _msgSender());
        emit LicenceExpirySet(account, org.orgId, previousExpiry, expiry, _msgSender());
    }

    /// @notice Suspends `account`.
    /// @dev Requirements: caller has REGISTRAR_ROLE; `account` registered and Active.
    /// Emits {AccountSuspended}.
    function suspendAccount(address account, string calldata reason) external onlyRole(REGISTRAR_ROLE) {
        AccountRecord storage rec = _knownAccount(account);
        if (rec.status != Status.Active) revert AccountStatusInvalid(account, rec.status);
        rec.status = Status.Suspended;
        emit AccountSuspended(account, _organisations[rec.orgIndex].orgId, _msgSender(), reason);
    }

    /// @notice Reinstates a suspended `account`.
    /// @dev Requirements: caller has REGISTRAR_ROLE; `account` registered and Suspended.
    /// Emits {AccountReinstated}.
    function reinstateAccount(address account, string calldata reason) external onlyRole(REGISTRAR_ROLE) {
        AccountRecord storage rec = _knownAccount(account);
        if (rec.status != Status.Suspended) revert AccountStatusInvalid(account, rec.status);
        rec.status = Status.Active;
        emit AccountReinstated(account, _organisations[rec.orgIndex].orgId, _msgSender(), reason);
    }

    // ---------------------------------------------------------------- officer

    /// @notice Adds `account` to organisation `orgId` with `roles`; it inherits the
    /// organisation's jurisdiction. Licensed roles named here stay unusable until the registrar sets a
    /// licence (the licence expiry starts at 0).
    /// @dev Requirements:
    /// - caller is the organisation's officer and the organisation is Active;
    /// - `account` non-zero, not registered, and holds nothing (no vouchers, no assets);
    /// - `roles` non-empty and a subset of the organisation's allowed roles.
    /// Emits {AccountAdded}.
    function addAccount(bytes32 orgId, address account, uint16 roles) external {
        uint32 index = _officerOrg(orgId);
        if (account == address(0)) revert ZeroAddress();
        AccountRecord storage rec = _accounts[account];
        if (rec.status != Status.None) revert AccountExists(account, _organisations[rec.orgIndex].orgId);
        Organisation storage org = _organisations[index];
        _checkRoles(org, roles);
        _checkNoHoldings(account);
        _accounts[account] = AccountRecord({
            jurisdiction: org.jurisdiction,
            roles: roles,
            licenceExpiry: 0,
            status: Status.Active,
            orgIndex: index
        });
        unchecked {
            org.accountCount += 1;
        }
        emit AccountAdded(account, orgId, org.jurisdiction, roles, _msgSender());
    }

    /// @notice Changes the non-licensed roles of `account` in organisation `orgId`.
    /// @dev Requirements: caller is the organisation's officer and it is Active; `account` belongs to
    /// `orgId` and is Active; `roles` non-empty and a subset of the allowed roles; the licensed bits
    /// of `roles` equal the account's (only the registrar changes them: {setLicensedRoles}).
    /// Emits {AccountRolesChanged}.
    function setAccountRoles(bytes32 orgId, address account, uint16 roles) external {
        uint32 index = _officerOrg(orgId);
        AccountRecord storage rec = _memberAccount(account, orgId, index);
        if (rec.status != Status.Active) revert AccountStatusInvalid(account, rec.status);
        _checkRoles(_organisations[index], roles);
        uint16 previous = rec.roles;
        if ((previous ^ roles) & ParticipantRoles.LICENSED_ROLES != 0) {
            revert LicensedRolesNeedRegistrar(
                account, previous & ParticipantRoles.LICENSED_ROLES, roles & ParticipantRoles.LICENSED_ROLES
            );
        }
        rec.roles = roles;
        emit AccountRolesChanged(account, orgId, previous, roles, _msgSender());
    }

    /// @notice Removes `account` from organisation `orgId` (its record is deleted).
    /// @dev Requirements: caller is the organisation's officer and it is Active; `account` belongs to
    /// `orgId` and is Active (a suspended account cannot be removed, so suspension cannot be
    /// escaped by remove-and-re-add); it holds no licensed role (the registrar drops those first,
    /// so "licence expired" cannot be escaped either) and holds nothing (no vouchers, no registered
    /// assets: it cannot be re-homed into another organisation or jurisdiction with its holdings).
    /// Emits {AccountRemoved}.
    function removeAccount(bytes32 orgId, address account) external {
        uint32 index = _officerOrg(orgId);
        AccountRecord storage rec = _memberAccount(account, orgId, index);
        if (rec.status != Status.Active) revert AccountStatusInvalid(account, rec.status);
        uint16 licensed = rec.roles & ParticipantRoles.LICENSED_ROLES;
        if (licensed != 0) revert LicensedRolesNeedRegistrar(account, licensed, 0);
        _checkNoHoldings(account);
        delete _accounts[account];
        unchecked {
            _organisations[index].accountCount -= 1;
        }
        emit AccountRemoved(account, orgId, _msgSender());
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IParticipantRegistry
    function participant(address account) external view returns (Participant memory p) {
        AccountRecord memory rec = _accounts[account];
        p.jurisdiction = rec.jurisdiction;
        p.roles = rec.roles;
        p.licenceExpiry = rec.licenceExpiry;
        p.status = rec.status;
        p.orgId = _organisations[rec.orgIndex].orgId;
    }

    /// @inheritdoc IParticipantRegistry
    function isActive(address account) public view returns (bool) {
        AccountRecord memory rec = _accounts[account];
        return rec.status == Status.Active && _organisations[rec.orgIndex].status == Status.Active;
    }

    /// @inheritdoc IParticipantRegistry
    function hasRoles(address account, uint16 roles) external view returns (bool) {
        AccountRecord memory rec = _accounts[account];
        if (rec.status != Status.Active || _organisations[rec.orgIndex].status != Status.Active) return false;
        if (rec.roles & roles != roles) return false;
        if (roles & ParticipantRoles.LICENSED_ROLES != 0 && rec.licenceExpiry <= block.timestamp) return false;
        return true;
    }

    /// @inheritdoc IParticipantRegistry
    function licenceValid(address account) external view returns (bool) {
        AccountRecord memory rec = _accounts[account];
        if (rec.status != Status.Active || _organisations[rec.orgIndex].status != Status.Active) return false;
        return rec.roles & ParticipantRoles.LICENSED_ROLES == 0 || rec.licenceExpiry > block.timestamp;
    }

    /// @inheritdoc IParticipantRegistry
    function firstInactive(address account, address[] calldata others) external view returns (address) {
        if (_standing(_accounts[account]) == ParticipantRoles.STANDING_NOT_ACTIVE) return account;
        uint256 n = others.length;
        for (uint256 i; i < n; ++i) {
            address other = others[i];
            if (_standing(_accounts[other]) == ParticipantRoles.STANDING_NOT_ACTIVE) return other;
        }
        return address(0);
    }

    /// @inheritdoc IParticipantRegistry
    function transferStanding(address from, address to)
        external
        view
        returns (uint8 fromStanding, bytes2 fromJurisdiction, uint8 toStanding, bytes2 toJurisdiction)
    {
        AccountRecord memory rec = _accounts[from];
        fromStanding = _standing(rec);
        fromJurisdiction = rec.jurisdiction;
        rec = _accounts[to];
        toStanding = _standing(rec);
        toJurisdiction = rec.jurisdiction;
    }

    /// @inheritdoc IParticipantRegistry
    function jurisdictionOf(address account) external view returns (bytes2) {
        return _accounts[account].jurisdiction;
    }

    /// @notice The organisation record (status None when unknown).
    function organisation(bytes32 orgId) external view returns (Organisation memory) {
        return _organisations[_orgIndexOf[orgId]];
    }

    /// @notice The binary CID of the profile document of `orgId` (empty when none was set).
    function organisationProfile(bytes32 orgId) external view returns (bytes memory) {
        return _profileCid[orgId];
    }

    /// @notice The organisation id of `account` (zero when unknown).
    function orgOf(address account) external view returns (bytes32) {
        return _organisations[_accounts[account].orgIndex].orgId;
    }

    /// @notice The contracts asked for an account's holdings (empty until bound).
    function holdingsSources() external view returns (IHoldings[] memory) {
        return _holdingsSources;
    }

    /// @inheritdoc IHoldings
    /// @dev The sum over the bound sources (vouchers plus registered assets). Requirements: the sources
    /// are bound, else {HoldingsNotBound}.
    function holdingsOf(address account) public view returns (uint256 count) {
        if (!_holdingsBound) revert HoldingsNotBound();
        uint256 n = _holdingsSources.length;
        for (uint256 i; i < n; ++i) {
            count += _holdingsSources[i].holdingsOf(account);
        }
    }

    /// @notice Number of registered organisations.
    function organisationCount() external view returns (uint256) {
        return _organisationCount;
    }

    // ---------------------------------------------------------------- internals

    /// @dev STANDING_OK, STANDING_NOT_ACTIVE or STANDING_LICENCE_EXPIRED (see ParticipantRoles).
    function _standing(AccountRecord memory rec) private view returns (uint8) {
        if (rec.status != Status.Active || _organisations[rec.orgIndex].status != Status.Active) {
            return ParticipantRoles.STANDING_NOT_ACTIVE;
        }
        if (rec.roles & ParticipantRoles.LICENSED_ROLES != 0 && rec.licenceExpiry <= block.timestamp) {
            return ParticipantRoles.STANDING_LICENCE_EXPIRED;
        }
        return ParticipantRoles.STANDING_OK;
    }

    function _checkJurisdiction(bytes2 j) private pure {
        uint8 a = uint8(j[0]);
        uint8 b = uint8(j[1]);
        if (a < 0x41 || a > 0x5A || b < 0x41 || b > 0x5A) revert InvalidJurisdiction(j);
    }

    function _checkNoHoldings(address account) private view {
        uint256 count = holdingsOf(account);
        if (count != 0) revert AccountHasHoldings(account, count);
    }

    function _checkRoles(Organisation storage org, uint16 roles) private view {
        if (roles == 0 || roles & ~ALL_ROLES != 0) revert InvalidRoles(roles);
        if (roles & ~org.allowedRoles != 0) revert RolesNotAllowed(org.orgId, roles, org.allowedRoles);
    }

    function _knownOrg(bytes32 orgId) private view returns (uint32 index) {
        index = _orgIndexOf[orgId];
        if (index == 0) revert UnknownOrganisation(orgId);
    }

    function _officerOrg(bytes32 orgId) private view returns (uint32 index) {
        index = _knownOrg(orgId);
        Organisation storage org = _organisations[index];
        if (org.officer != _msgSender()) revert NotOfficer(_msgSender(), orgId);
        if (org.status != Status.Active) revert OrganisationStatusInvalid(orgId, org.status);
    }

    function _knownAccount(address account) private view returns (AccountRecord storage rec) {
        rec = _accounts[account];
        if (rec.status == Status.None) revert UnknownAccount(account);
    }

    function _memberAccount(address account, bytes32 orgId, uint32 index)
        private
        view
        returns (AccountRecord storage rec)
    {
        rec = _knownAccount(account);
        if (rec.orgIndex != index) revert AccountNotInOrganisation(account, orgId);
    }
}
