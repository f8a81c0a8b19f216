// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Context} from "@openzeppelin/contracts/utils/Context.sol";
import {IAssetRegistry} from "./interfaces/IAssetRegistry.sol";
import {IDataCustoms} from "./interfaces/IDataCustoms.sol";
import {IParticipantRegistry, ParticipantRoles} from "./interfaces/IParticipantRegistry.sol";

/// @title DataCustoms — cross-border review of data rights (数据海关)
/// @notice An active participant requests a clearance to move rights over an asset into a
/// destination jurisdiction (to one recipient, or to anyone there when the recipient is
/// address(0)). A CUSTOMS participant approves it with an expiry and a conditions CID, or
/// rejects it with a reason; customs or a REGULATOR may revoke an approved clearance.
///
/// State machine: Requested -> Approved | Rejected; Approved -> Revoked. Any other transition
/// reverts with {InvalidClearanceState}(clearanceId, currentState).
///
/// A clearance is bounded by its expiry and is NOT consumed: while unexpired and unrevoked it
/// covers any number of transfers of the asset to the recipient (or anyone) in the destination.
/// @dev For a cheap {isCleared}, approval and revocation maintain a cover mapping
/// (assetId, destination, recipient) -> (expiry, clearanceId). At most one live (unexpired,
/// unrevoked) approved clearance exists per key: approving a second one reverts with
/// {ClearanceActive}; to change the window, revoke the live clearance and approve a new one.
contract DataCustoms is Context, IDataCustoms {
    enum ClearanceState {
        None,
        Requested,
        Approved,
        Rejected,
        Revoked
    }

    /// @notice A clearance.
    struct Clearance {
        uint256 assetId;
        address requester;
        bytes2 destination;
        ClearanceState state;
        uint64 requestedAt;
        address recipient; // address(0) = anyone in the destination
        uint64 expiry; // set on approval
        address decidedBy; // customs officer who approved/rejected (or revoker after revocation)
        uint64 decidedAt;
        bytes purposeCid;
        bytes conditionsCid;
    }

    /// @notice The live clearance for an (asset, destination, recipient) key; one slot.
    struct Cover {
        uint64 expiry;
        uint192 clearanceId;
    }

    IParticipantRegistry public immutable participants;
    IAssetRegistry public immutable assets;

    uint256 private _clearanceCount;
    mapping(uint256 clearanceId => Clearance) private _clearances;
    mapping(uint256 assetId => mapping(bytes2 destination => mapping(address recipient => Cover))) private _covers;

    // ---------------------------------------------------------------- events

    /// @notice Clearance `clearanceId` was opened by `requester`.
    event ClearanceRequested(
        uint256 indexed clearanceId,
        uint256 indexed assetId,
        address indexed requester,
        bytes2 destination,
        address recipient,
        bytes purposeCid
    );
    /// @notice Clearance `clearanceId` was approved by `officer`, valid until `expiry`.
    event ClearanceApproved(
        uint256 indexed clearanceId,
        uint256 indexed assetId,
        address indexed officer,
        bytes2 destination,
        address recipient,
        uint64 expiry,
        bytes conditionsCid
    );
    /// @notice Clearance `clearanceId` was rejected by `officer`.
    event ClearanceRejected(uint256 indexed clearanceId, uint256 indexed assetId, address indexed officer, string reason);
    /// @notice Approved clearance `clearanceId` was revoked by `revoker` (customs or regulator).
    event ClearanceRevoked(
        uint256 indexed clearanceId,
        uint256 indexed assetId,
        address indexed revoker,
        bytes2 destination,
        address recipient,
        string reason
    );

    // ---------------------------------------------------------------- errors

    /// @notice A constructor argument is the zero address.
    error ZeroAddress();
    /// @notice `account` is not an active participant.
    error NotActive(address account);
    /// @notice `account` lacks the required `roles` (any of them, for a mask of several).
    error NotAuthorised(address account, uint16 roles);
    /// @notice No asset with `assetId`.
    error UnknownAsset(uint256 assetId);
    /// @notice The asset is not Active.
    error InvalidAssetStatus(uint256 assetId, IAssetRegistry.AssetStatus status);
    /// @notice `destination` is not two upper-clearance ASCII letters.
    error InvalidJurisdiction(bytes2 destination);
    /// @notice The named `recipient` is located in `actual`, not in `destination`.
    error RecipientNotInDestination(address recipient, bytes2 destination, bytes2 actual);
    /// @notice The purpose CID is empty.
    error EmptyPurpose();
    /// @notice No clearance with `clearanceId`.
    error UnknownClearance(uint256 clearanceId);
    /// @notice The transition is not allowed from `state`.
    error InvalidClearanceState(uint256 clearanceId, ClearanceState state);
    /// @notice `expiry` is not after the current block time `nowTs`.
    error InvalidExpiry(uint64 expiry, uint256 nowTs);
    /// @notice Another approved clearance `activeClearanceId` is still live for the same key until `expiry`.
    error ClearanceActive(uint256 clearanceId, uint256 activeClearanceId, uint64 expiry);
    /// @notice Customs officer `account` tried to decide its own request `clearanceId`.
    error SelfDecision(uint256 clearanceId, address account);
    /// @notice The reason string is empty.
    error EmptyReason();

    constructor(IParticipantRegistry participants_, IAssetRegistry assets_) {
        if (address(participants_) == address(0) || address(assets_) == address(0)) revert ZeroAddress();
        participants = participants_;
        assets = assets_;
    }

    // ---------------------------------------------------------------- requester

    /// @notice Opens a clearance to move rights over `assetId` into `destination`.
    /// @param recipient the recipient there, or address(0) for anyone in `destination`.
    /// @param purposeCid IPFS CID of the purpose statement.
    /// @return clearanceId sequential from 1.
    /// @dev Requirements:
    /// - caller is an active participant; asset exists and is Active;
    /// - `destination` two upper-clearance letters; a named `recipient` is registered in `destination`;
    /// - `purposeCid` non-empty.
    /// Emits {ClearanceRequested}.
    function requestClearance(uint256 assetId, bytes2 destination, address recipient, bytes calldata purposeCid)
        external
        returns (uint256 clearanceId)
    {
        address caller = _msgSender();
        if (!participants.isActive(caller)) revert NotActive(caller);
        _checkAssetActive(assetId);
        uint8 a = uint8(destination[0]);
        uint8 b = uint8(destination[1]);
        if (a < 0x41 || a > 0x5A || b < 0x41 || b > 0x5A) revert InvalidJurisdiction(destination);
        if (recipient != address(0)) {
            bytes2 actual = participants.jurisdictionOf(recipient);
            if (actual != destination) revert RecipientNotInDestination(recipient, destination, actual);
        }
        if (purposeCid.length == 0) revert EmptyPurpose();
        clearanceId = ++_clearanceCount;
        Clearance storage c = _clearances[clearanceId];
        c.assetId = assetId;
        c.requester = caller;
        c.destination = destination;
        c.state = ClearanceState.Requested;
        c.requestedAt = uint64(block.timestamp);
        c.recipient = recipient;
        c.purposeCid = purposeCid;
        emit ClearanceRequested(clearanceId, assetId, caller, destination, recipient, purposeCid);
    }

    // ---------------------------------------------------------------- customs

    /// @notice Approves clearance `clearanceId` until `expiry`.
    /// @dev Requirements:
    /// - caller holds CUSTOMS and did not request the clearance;
    /// - clearance exists and is Requested; `expiry` > block.timestamp; the asset is still Active;
    /// - no other live approved clearance for the same (asset, destination, recipient).
    /// Emits {ClearanceApproved}.
    function approveClearance(uint256 clearanceId, uint64 expiry, bytes calldata conditionsCid) external {
        Clearance storage c = _decidable(clearanceId);
        if (expiry <= block.timestamp) revert InvalidExpiry(expiry, block.timestamp);
        _checkAssetActive(c.assetId);
        Cover storage cover = _covers[c.assetId][c.destination][c.recipient];
        if (cover.expiry > block.timestamp) revert ClearanceActive(clearanceId, cover.clearanceId, cover.expiry);
        c.state = ClearanceState.Approved;
        c.expiry = expiry;
        c.decidedBy = _msgSender();
        c.decidedAt = uint64(block.timestamp);
        c.conditionsCid = conditionsCid;
        cover.expiry = expiry;
        cover.clearanceId = uint192(clearanceId);
        emit ClearanceApproved(clearanceId, c.assetId, _msgSender(), c.destination, c.recipient, expiry, conditionsCid);
    }

    /// @notice Rejects clearance `clearanceId` with `reason`.
    /// @dev Requirements: caller holds CUSTOMS and did not request the clearance; clearance exists and is
    /// Requested; `reason` non-empty.
    /// Emits {ClearanceRejected}.
    function rejectClearance(uint256 clearanceId, string calldata reason) external {
        Clearance storage c = _decidable(clearanceId);
        if (bytes(reason).length == 0) revert EmptyReason();
        c.state = ClearanceState.Rejected;
        c.decidedBy = _msgSender();
        c.decidedAt = uint64(block.timestamp);
        emit ClearanceRejected(clearanceId, c.assetId, _msgSender(), reason);
    }

    /// @notice Revokes approved clearance `clearanceId` with `reason`; the clearance stops covering at once.
    /// @dev Requirements: caller holds CUSTOMS or REGULATOR; clearance exists and is Approved (expired or
    /// not); `reason` non-empty.
    /// Emits {ClearanceRevoked}.
    function revokeClearance(uint256 clearanceId, string calldata reason) external {
        address caller = _msgSender();
        if (
            !participants.hasRoles(caller, ParticipantRoles.CUSTOMS)
                && !participants.hasRoles(caller, ParticipantRoles.REGULATOR)
        ) revert NotAuthorised(caller, ParticipantRoles.CUSTOMS | ParticipantRoles.REGULATOR);
        Clearance storage c = _knownClearance(clearanceId);
        if (c.state != ClearanceState.Approved) revert InvalidClearanceState(clearanceId, c.state);
        if (bytes(reason).length == 0) revert EmptyReason();
        c.state = ClearanceState.Revoked;
        c.decidedBy = caller;
        c.decidedAt = uint64(block.timestamp);
        Cover storage cover = _covers[c.assetId][c.destination][c.recipient];
        if (cover.clearanceId == clearanceId) delete _covers[c.assetId][c.destination][c.recipient];
        emit ClearanceRevoked(clearanceId, c.assetId, caller, c.destination, c.recipient, reason);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IDataCustoms
    /// @dev Bounded by expiry, not consumed: true while an approved clearance for (assetId,
    /// destination, recipient) or (assetId, destination, address(0)) has expiry > block.timestamp
    /// and was not revoked. Two SLOADs at most. Does not look at the asset's status.
    function isCleared(uint256 assetId, bytes2 destination, address recipient) external view returns (bool) {
        mapping(address => Cover) storage byRecipient = _covers[assetId][destination];
        return byRecipient[recipient].expiry > block.timestamp || byRecipient[address(0)].expiry > block.timestamp;
    }

    /// @notice The live-or-last cover for a key: expiry and the approving clearance (zeros when none
    /// or revoked). Expired covers are returned as stored; compare expiry with the block time.
    function coverOf(uint256 assetId, bytes2 destination, address recipient)
        external
        view
        returns (uint64 expiry, uint256 clearanceId)
    {
        Cover memory cover = _covers[assetId][destination][recipient];
        return (cover.expiry, cover.clearanceId);
    }

    /// @notice Clearance `clearanceId` (state None when unknown).
    function clearance(uint256 clearanceId) external view returns (Clearance memory) {
        return _clearances[clearanceId];
    }

    /// @notice Number of clearances opened (ids are 1..clearanceCount).
    function clearanceCount() external view returns (uint256) {
        return _clearanceCount;
    }

    // ---------------------------------------------------------------- internals

    function _checkAssetActive(uint256 assetId) private view {
        IAssetRegistry.AssetStatus status = assets.assetCore(assetId).status;
        if (status == IAssetRegistry.AssetStatus.None) revert UnknownAsset(assetId);
        if (status != IAssetRegistry.AssetStatus.Active) revert InvalidAssetStatus(assetId, status);
    }

    function _knownClearance(uint256 clearanceId) private view returns (Clearance storage c) {
        c = _clearances[clearanceId];
        if (c.state == ClearanceState.None) revert UnknownClearance(clearanceId);
    }

    function _decidable(uint256 clearanceId) private view returns (Clearance storage c) {
        address caller = _msgSender();
        if (!participants.hasRoles(caller, ParticipantRoles.CUSTOMS)) {
            revert NotAuthorised(caller, ParticipantRoles.CUSTOMS);
        }
        c = _knownClearance(clearanceId);
        if (c.state != ClearanceState.Requested) revert InvalidClearanceState(clearanceId, c.state);
        if (c.requester == caller) revert SelfDecision(clearanceId, caller);
    }
}
