// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title Participant registry of the data element market (read side used by other contracts)
/// @notice Role flags are bits of a uint16. A role in LICENSED_ROLES needs an unexpired licence.
interface IParticipantRegistry {
    enum Status {
        None, // never registered
        Active,
        Suspended
    }

    /// @dev Packed in one storage slot so a compliance check costs one SLOAD per party.
    struct Participant {
        bytes2 jurisdiction; // "CN", "HK", "MO", or an ISO-3166 alpha-2 code abroad
        uint16 roles; // bit flags, see ROLE_* in ParticipantRoles
        uint64 licenceExpiry; // unix seconds; 0 = no licence
        Status status;
        bytes32 orgId; // keccak/sha of the unified social credit code (second slot)
    }

    /// @notice Whole record of `account` (status None if unknown).
    function participant(address account) external view returns (Participant memory);

    /// @notice Registered and Active, and its organisation is Active.
    function isActive(address account) external view returns (bool);

    /// @notice Active and holds every bit of `roles`; licensed roles also need an unexpired licence.
    function hasRoles(address account, uint16 roles) external view returns (bool);

    /// @notice False when the account holds a licensed role whose licence expired (or it is not active).
    function licenceValid(address account) external view returns (bool);

    function jurisdictionOf(address account) external view returns (bytes2);

    /// @notice The first of `account` and `others` (in that order) that is not an active participant,
    /// or address(0) when all are active (one call for every party of a multi-leg payment).
    function firstInactive(address account, address[] calldata others) external view returns (address);

    /// @notice Both parties of a move in one call (the voucher and token transfer checks use it).
    /// A standing is one of the STANDING_* constants of ParticipantRoles: 0 = active with every needed
    /// licence valid, 1 = not an active participant (unknown, suspended, or organisation suspended),
    /// 2 = active but a licensed role's licence expired.
    function transferStanding(address from, address to)
        external
        view
        returns (uint8 fromStanding, bytes2 fromJurisdiction, uint8 toStanding, bytes2 toJurisdiction);
}

library ParticipantRoles {
    uint16 internal constant AUTHORITY = 1 << 0; // data authority: primary market, public-data vouchers, registrar
    uint16 internal constant OPERATOR = 1 << 1; // licensed public-data operator (授权运营)
    uint16 internal constant EXCHANGE = 1 << 2; // licensed exchange (数据交易场所)
    uint16 internal constant BROKER = 1 << 3; // licensed data broker (数据经纪人)
    uint16 internal constant APPRAISER = 1 << 4; // licensed appraiser (资产评估)
    uint16 internal constant CUSTOMS = 1 << 5; // data customs (数据海关)
    uint16 internal constant REGULATOR = 1 << 6; // supervision
    uint16 internal constant HOLDER = 1 << 7; // enterprise / holder
    uint16 internal constant LICENSED_ROLES = OPERATOR | EXCHANGE | BROKER | APPRAISER;

    uint8 internal constant STANDING_OK = 0;
    uint8 internal constant STANDING_NOT_ACTIVE = 1;
    uint8 internal constant STANDING_LICENCE_EXPIRED = 2;
}
