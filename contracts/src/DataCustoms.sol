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
/// reverts with {InvalidCaseState}(caseId, currentState).
///
/// A clearance is bounded by its expiry and is NOT consumed: while unexpired and unrevoked it
/// covers any number of transfers of the asset to the recipient (or anyone) in the destination.
/// @dev For a cheap {isCleared}, approval and revocation maintain a cover mapping
/// (assetId, destination, recipient) -> (expiry, caseId). At most one live (unexpired,
/// unrevoked) approved case exists per key: approving a second one reverts with
/// {ClearanceActive}; to change the window, revoke the live case and approve a new one.
contract DataCustoms is Context, IDataCustoms {
    enum CaseState {
        None,
        Requested,
        Approved,
        Rejected,
        Revoked
    }

    /// @notice A clearance case.
    struct ClearanceCase {
        uint256 assetId;
        address requester;
        bytes2 destination;
        CaseState state;
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
        uint192 caseId;
    }

    IParticipantRegistry public immutable participants;
    IAssetRegistry public immutable assets;

    uint256 private _caseCount;
    mapping(uint256 caseId => ClearanceCase) private _cases;
    mapping(uint256 assetId => mapping(bytes2 destination => mapping(address recipient => Cover))) private _covers;

    // ---------------------------------------------------------------- events

    /// @notice Case `caseId` was opened by `requester`.
    event ClearanceRequested(
        uint256 indexed caseId,
        uint256 indexed assetId,
        address indexed requester,
        bytes2 destination,
        address recipient,
        bytes purposeCid
    );
    /// @notice Case `caseId` was approved by `officer`, valid until `expiry`.
    event ClearanceApproved(
        uint256 indexed caseId,
        uint256 indexed assetId,
        address indexed officer,
        bytes2 destination,
        address recipient,
        uint64 expiry,
        bytes conditionsCid
    );
    /// @notice Case `caseId` was rejected by `officer`.
    event ClearanceRejected(uint256 indexed caseId, uint256 indexed assetId, address indexed officer, string reason);
    /// @notice Approved case `caseId` was revoked by `revoker` (customs or regulator).
    event ClearanceRevoked(
        uint256 indexed caseId,
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
    /// @notice `destination` is not two upper-case ASCII letters.
    error InvalidJurisdiction(bytes2 destination);
    /// @notice The named `recipient` is located in `actual`, not in `destination`.
    error RecipientNotInDestination(address recipient, bytes2 destination, bytes2 actual);
    /// @notice The purpose CID is empty.
    error EmptyPurpose();
    /// @notice No case with `caseId`.
    error UnknownCase(uint256 caseId);
    /// @notice The transition is not allowed from `state`.
    error InvalidCaseState(uint256 caseId, CaseState state);
    /// @notice `expiry` is not after the current block time `nowTs`.
    error InvalidExpiry(uint64 expiry, uint256 nowTs);
    /// @notice Another approved case `activeCaseId` is still live for the same key until `expiry`.
    error ClearanceActive(uint256 caseId, uint256 activeCaseId, uint64 expiry);
    /// @notice Customs officer `account` tried to decide its own request `caseId`.
    error SelfDecision(uint256 caseId, address account);
    /// @notice The reason string is empty.
    error EmptyReason();

    constructor(IParticipantRegistry participants_, IAssetRegistry assets_) {
        if (address(participants_) == address(0) || address(assets_) == address(0)) revert ZeroAddress();
        participants = participants_;
        assets = assets_;
    }

    // ---------------------------------------------------------------- requester

    /// @notice Opens a clearance case to move rights over `assetId` into `destination`.
    /// @param recipient the recipient there, or address(0) for anyone in `destination`.
    /// @param purposeCid IPFS CID of the purpose statement.
    /// @return caseId sequential from 1.
    /// @dev Requirements:
    /// - caller is an active participant; asset exists and is Active;
    /// - `destination` two upper-case letters; a named `recipient` is registered in `destination`;
    /// - `purposeCid` non-empty.
    /// Emits {ClearanceRequested}.
    function requestClearance(uint256 assetId, bytes2 destination, address recipient, bytes calldata purposeCid)
        external
        returns (uint256 caseId)
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
        caseId = ++_caseCount;
        ClearanceCase storage c = _cases[caseId];
        c.assetId = assetId;
        c.requester = caller;
        c.destination = destination;
        c.state = CaseState.Requested;
        c.requestedAt = uint64(block.timestamp);
        c.recipient = recipient;
        c.purposeCid = purposeCid;
        emit ClearanceRequested(caseId, assetId, caller, destination, recipient, purposeCid);
    }

    // ---------------------------------------------------------------- customs

    /// @notice Approves case `caseId` until `expiry`.
    /// @dev Requirements:
    /// - caller holds CUSTOMS and did not request the case;
    /// - case exists and is Requested; `expiry` > block.timestamp; the asset is still Active;
    /// - no other live approved case for the same (asset, destination, recipient).
    /// Emits {ClearanceApproved}.
    function approveClearance(uint256 caseId, uint64 expiry, bytes calldata conditionsCid) external {
        ClearanceCase storage c = _decidable(caseId);
        if (expiry <= block.timestamp) revert InvalidExpiry(expiry, block.timestamp);
        _checkAssetActive(c.assetId);
        Cover storage cover = _covers[c.assetId][c.destination][c.recipient];
        if (cover.expiry > block.timestamp) revert ClearanceActive(caseId, cover.caseId, cover.expiry);
        c.state = CaseState.Approved;
        c.expiry = expiry;
        c.decidedBy = _msgSender();
        c.decidedAt = uint64(block.timestamp);
        c.conditionsCid = conditionsCid;
        cover.expiry = expiry;
        cover.caseId = uint192(caseId);
        emit ClearanceApproved(caseId, c.assetId, _msgSender(), c.destination, c.recipient, expiry, conditionsCid);
    }

    /// @notice Rejects case `caseId` with `reason`.
    /// @dev Requirements: caller holds CUSTOMS and did not request the case; case exists and is
    /// Requested; `reason` non-empty.
    /// Emits {ClearanceRejected}.
    function rejectClearance(uint256 caseId, string calldata reason) external {
        ClearanceCase storage c = _decidable(caseId);
        if (bytes(reason).length == 0) revert EmptyReason();
        c.state = CaseState.Rejected;
        c.decidedBy = _msgSender();
        c.decidedAt = uint64(block.timestamp);
        emit ClearanceRejected(caseId, c.assetId, _msgSender(), reason);
    }

    /// @notice Revokes approved case `caseId` with `reason`; the clearance stops covering at once.
    /// @dev Requirements: caller holds CUSTOMS or REGULATOR; case exists and is Approved (expired or
    /// not); `reason` non-empty.
    /// Emits {ClearanceRevoked}.
    function revokeClearance(uint256 caseId, string calldata reason) external {
        address caller = _msgSender();
        if (
            !participants.hasRoles(caller, ParticipantRoles.CUSTOMS)
                && !participants.hasRoles(caller, ParticipantRoles.REGULATOR)
        ) revert NotAuthorised(caller, ParticipantRoles.CUSTOMS | ParticipantRoles.REGULATOR);
        ClearanceCase storage c = _knownCase(caseId);
        if (c.state != CaseState.Approved) revert InvalidCaseState(caseId, c.state);
        if (bytes(reason).length == 0) revert EmptyReason();
        c.state = CaseState.Revoked;
        c.decidedBy = caller;
        c.decidedAt = uint64(block.timestamp);
        Cover storage cover = _covers[c.assetId][c.destination][c.recipient];
        if (cover.caseId == caseId) delete _covers[c.assetId][c.destination][c.recipient];
        emit ClearanceRevoked(caseId, c.assetId, caller, c.destination, c.recipient, reason);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IDataCustoms
    /// @dev Bounded by expiry, not consumed: true while an approved case for (assetId,
    /// destination, recipient) or (assetId, destination, address(0)) has expiry > block.timestamp
    /// and was not revoked. Two SLOADs at most. Does not look at the asset's status.
    function isCleared(uint256 assetId, bytes2 destination, address recipient) external view returns (bool) {
        mapping(address => Cover) storage byRecipient = _covers[assetId][destination];
        return byRecipient[recipient].expiry > block.timestamp || byRecipient[address(0)].expiry > block.timestamp;
    }

    /// @notice The live-or-last cover for a key: expiry and the approving case (zeros when none
    /// or revoked). Expired covers are returned as stored; compare expiry with the block time.
    function coverOf(uint256 assetId, bytes2 destination, address recipient)
        external
        view
        returns (uint64 expiry, uint256 caseId)
    {
        Cover memory cover = _covers[assetId][destination][recipient];
        return (cover.expiry, cover.caseId);
    }

    /// @notice Case `caseId` (state None when unknown).
    function clearanceCase(uint256 caseId) external view returns (ClearanceCase memory) {
        return _cases[caseId];
    }

    /// @notice Number of cases opened (ids are 1..caseCount).
    function caseCount() external view returns (uint256) {
        return _caseCount;
    }

    // ---------------------------------------------------------------- internals

    function _checkAssetActive(uint256 assetId) private view {
        IAssetRegistry.AssetStatus status = assets.assetCore(assetId).status;
        if (status == IAssetRegistry.AssetStatus.None) revert UnknownAsset(assetId);
        if (status != IAssetRegistry.AssetStatus.Active) revert InvalidAssetStatus(assetId, status);
    }

    function _knownCase(uint256 caseId) private view returns (ClearanceCase storage c) {
        c = _cases[caseId];
        if (c.state == CaseState.None) revert UnknownCase(caseId);
    }

    function _decidable(uint256 caseId) private view returns (ClearanceCase storage c) {
        address caller = _msgSender();
        if (!participants.hasRoles(caller, ParticipantRoles.CUSTOMS)) {
            revert NotAuthorised(caller, ParticipantRoles.CUSTOMS);
        }
        c = _knownCase(caseId);
        if (c.state != CaseState.Requested) revert InvalidCaseState(caseId, c.state);
        if (c.requester == caller) revert SelfDecision(caseId, caller);
    }
}
