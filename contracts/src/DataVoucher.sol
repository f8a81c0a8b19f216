// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";
import {ERC721Utils} from "@openzeppelin/contracts/token/ERC721/utils/ERC721Utils.sol";
import {ERC2771Context} from "@openzeppelin/contracts/metatx/ERC2771Context.sol";
import {Context} from "@openzeppelin/contracts/utils/Context.sol";
import {IParticipantRegistry, ParticipantRoles} from "./interfaces/IParticipantRegistry.sol";
import {IAssetRegistry} from "./interfaces/IAssetRegistry.sol";
import {IDataCustoms} from "./interfaces/IDataCustoms.sol";
import {IHoldings} from "./interfaces/IHoldings.sol";

/// @title Data asset voucher (数据资产凭证): one right over one registered asset, as an ERC-721
/// @notice Each voucher carries exactly one right (holding / use / operating) over one asset, with
/// a scope/purpose hash, a validity window, a use limit and a transferable flag. Every move of a
/// voucher (mint included) passes the compliance check of {detectTransferRestriction}; every use
/// (and every authorisation of a user) passes the same check from the holder to the user
/// ({detectUseRestriction}): a use is data reaching the user's jurisdiction. A regulator can
/// freeze and revoke vouchers; moving a voucher off a lost key takes two regulators (one
/// proposes, another executes). Holders may act through the trusted ERC-2771 forwarder.
/// @dev Vocabulary: our own functions, events and errors name the id `voucherId` and the account
/// holding it the `holder`; the ERC-721 standard's functions and events inherited from
/// OpenZeppelin (`ownerOf(tokenId)`, `transferFrom`, `Transfer(from, to, tokenId)`, `ERC721*`
/// errors) keep the standard's spelling.
contract DataVoucher is ERC721, ERC2771Context, IHoldings {
    /// @notice The three separated rights (三权分置).
    enum RightType {
        Holding, // 持有权
        Use, // 加工使用权
        Operating // 经营权
    }

    enum VoucherStatus {
        None,
        Active,
        Frozen,
        Revoked
    }

    /// @dev Hot fields of a voucher, packed in ONE storage slot (29 bytes): a transfer or a use
    /// reads a single slot.
    struct VoucherCore {
        uint64 assetId;
        RightType right;
        VoucherStatus status;
        bool transferable;
        uint40 validFrom; // unix seconds, first second a use is allowed
        uint40 validUntil; // unix seconds, last second the voucher is valid (inclusive)
        uint32 maxUses;
        uint32 uses;
    }

    /// @dev Cold fields (read by views and events only).
    struct VoucherMeta {
        address issuer;
        bytes32 scopeHash; // hash of the scope / purpose statement
    }

    /// @notice A pending recovery: move the voucher from `from` (a lost key) to `to`, proposed by
    /// `proposer`, executable by another regulator until `expiresAt` while `from` still holds it.
    struct RecoveryProposal {
        address from;
        address to;
        address proposer;
        uint64 expiresAt;
    }

    /// @notice Full view of a voucher.
    struct Voucher {
        VoucherCore core;
        address issuer;
        bytes32 scopeHash;
    }

    // ------------------------------------------------------------------ restriction codes
    uint8 public constant SUCCESS = 0;
    uint8 public constant SENDER_NOT_ACTIVE = 1;
    uint8 public constant RECIPIENT_NOT_ACTIVE = 2;
    uint8 public constant SENDER_LICENCE_EXPIRED = 3;
    uint8 public constant RECIPIENT_LICENCE_EXPIRED = 4;
    uint8 public constant VOUCHER_FROZEN = 5;
    uint8 public constant VOUCHER_REVOKED = 6;
    uint8 public constant VOUCHER_EXPIRED = 7;
    uint8 public constant VOUCHER_NOT_TRANSFERABLE = 8;
    uint8 public constant ASSET_FROZEN = 9;
    uint8 public constant ASSET_REVOKED = 10;
    uint8 public constant CLEARANCE_REQUIRED = 11;
    uint8 public constant UNKNOWN_VOUCHER = 12;

    /// @notice How long a recovery proposal can be executed (seconds).
    uint64 public constant RECOVERY_WINDOW = 7 days;

    IParticipantRegistry public immutable participants;
    IAssetRegistry public immutable assets;
    IDataCustoms public immutable customs;

    uint256 private _lastVoucherId;
    mapping(uint256 voucherId => VoucherCore) private _cores;
    mapping(uint256 voucherId => VoucherMeta) private _metas;
    /// @dev Authorisations are keyed by the holder that granted them, so they lapse on transfer.
    mapping(uint256 voucherId => mapping(address holder => mapping(address user => bool))) private _users;
    /// @dev Set only for the duration of a regulator recovery (skips the sender-side checks).
    bool private transient _recovering;
    mapping(uint256 voucherId => RecoveryProposal) private _recoveries;

    // ------------------------------------------------------------------ events
    /// @notice A voucher over `assetId` was issued to `holder`.
    event VoucherIssued(
        uint256 indexed voucherId,
        uint256 indexed assetId,
        address indexed issuer,
        address holder,
        RightType right,
        bytes32 scopeHash,
        uint40 validFrom,
        uint40 validUntil,
        uint32 maxUses,
        bool transferable
    );
    /// @notice `user` redeemed use number `useNumber` of voucher `voucherId` (held by `holder`).
    event VoucherUsed(
        uint256 indexed voucherId,
        uint256 indexed assetId,
        address indexed user,
        address holder,
        bytes32 purposeHash,
        uint32 useNumber
    );
    /// @notice `holder` granted (`allowed`) or withdrew the authorisation of `user` to redeem uses.
    event UserAuthorised(uint256 indexed voucherId, address indexed holder, address indexed user, bool allowed);
    event VoucherFrozen(uint256 indexed voucherId, uint256 indexed assetId, address indexed regulator, string reason);
    event VoucherUnfrozen(uint256 indexed voucherId, uint256 indexed assetId, address indexed regulator, string reason);
    event VoucherRevoked(uint256 indexed voucherId, uint256 indexed assetId, address indexed regulator, string reason);
    /// @notice Regulator `regulator` proposed to move voucher `voucherId` from a lost key `from` to
    /// `to`; another regulator may execute it until `expiresAt`.
    event RecoveryProposed(
        uint256 indexed voucherId,
        uint256 indexed assetId,
        address indexed regulator,
        address from,
        address to,
        uint64 expiresAt,
        string reason
    );
    /// @notice Regulator `regulator` cancelled the pending recovery of voucher `voucherId`.
    event RecoveryCancelled(uint256 indexed voucherId, uint256 indexed assetId, address indexed regulator, string reason);
    /// @notice A second regulator (`regulator`) executed the recovery of voucher `voucherId` from a lost
    /// key `from` to `to` (proposed in {RecoveryProposed}).
    event VoucherRecovered(
        uint256 indexed voucherId,
        uint256 indexed assetId,
        address indexed regulator,
        address from,
        address to,
        string reason
    );

    // ------------------------------------------------------------------ errors
    error TransferRestricted(uint8 code, address from, address to, uint256 voucherId);
    error AssetNotActive(uint256 assetId, IAssetRegistry.AssetStatus status);
    error AssetIdOutOfRange(uint256 assetId);
    error NotAuthorisedIssuer(address caller, uint256 assetId, IAssetRegistry.SourceType sourceType);
    error InvalidValidity(uint40 validFrom, uint40 validUntil);
    error NotVoucherHolder(uint256 voucherId, address caller, address holder);
    error NotAuthorisedUser(uint256 voucherId, address user, address holder);
    error VoucherNotActive(uint256 voucherId, VoucherStatus status);
    error VoucherNotFrozen(uint256 voucherId, VoucherStatus status);
    error VoucherAlreadyRevoked(uint256 voucherId);
    error VoucherNotYetValid(uint256 voucherId, uint40 validFrom, uint256 nowTs);
    error VoucherExpired(uint256 voucherId, uint40 validUntil, uint256 nowTs);
    error UsesExhausted(uint256 voucherId, uint32 maxUses);
    error NotRegulator(address caller);
    error InvalidRecipient(address to);
    error UnknownRestrictionCode(uint8 code);
    error EmptyReason();
    /// @notice The voucher has `usesLeft` uses left, fewer than the `minUsesLeft` an order committed to.
    error UsesLeftBelowTerms(uint256 voucherId, uint256 minUsesLeft, uint256 usesLeft);
    /// @notice The voucher is valid until `validUntil`, earlier than the `minValidUntil` an order committed to.
    error ValidityBelowTerms(uint256 voucherId, uint256 minValidUntil, uint40 validUntil);
    /// @notice A use of `voucherId` by `user` (the voucher held by `holder`) hits restriction `code` (the
    /// codes of {detectTransferRestriction}, from the holder to the user).
    error UseRestricted(uint8 code, address holder, address user, uint256 voucherId);
    /// @notice No recovery of `voucherId` is pending.
    error NoRecoveryProposal(uint256 voucherId);
    /// @notice A live recovery of `voucherId`, proposed by `proposer`, is pending until `expiresAt`.
    error RecoveryPending(uint256 voucherId, address proposer, uint64 expiresAt);
    /// @notice The recovery of `voucherId` expired at `expiresAt`.
    error RecoveryProposalExpired(uint256 voucherId, uint64 expiresAt, uint256 nowTs);
    /// @notice The voucher moved since the proposal (proposed from `from`, now held by `holder`).
    error RecoveryProposalStale(uint256 voucherId, address from, address holder);
    /// @notice `regulator` proposed the recovery of `voucherId` and cannot execute it too.
    error RecoveryNeedsSecondRegulator(uint256 voucherId, address regulator);

    /// @param participants_ participant registry (roles, status, licences, jurisdictions)
    /// @param assets_ asset registry (asset holder, level, source type, status, home jurisdiction)
    /// @param customs_ data customs (cross-border clearances)
    /// @param trustedForwarder the LedgerForwarder trusted for meta-transactions
    constructor(
        IParticipantRegistry participants_,
        IAssetRegistry assets_,
        IDataCustoms customs_,
        address trustedForwarder
    ) ERC721("DataVoucher", "DVCH") ERC2771Context(trustedForwarder) {
        participants = participants_;
        assets = assets_;
        customs = customs_;
    }

    /// @dev Caller holds REGULATOR (active) and gives a non-empty reason.
    modifier onlyRegulator(string calldata reason) {
        if (!participants.hasRoles(_msgSender(), ParticipantRoles.REGULATOR)) revert NotRegulator(_msgSender());
        if (bytes(reason).length == 0) revert EmptyReason();
        _;
    }

    // ================================================================== issuance

    /// @notice Issue a voucher granting `right` over `assetId` to `to`.
    /// @dev Requirements:
    /// - the asset is Active;
    /// - public-data assets: the caller is an active AUTHORITY participant (primary market);
    ///   enterprise / personal-derived assets: the caller is the asset's holder and active;
    /// - `validFrom < validUntil`;
    /// - the mint passes the compliance check (recipient active, licensed, cleared if cross-border,
    ///   voucher not already expired), else `TransferRestricted`.
    /// Emits {VoucherIssued} and {Transfer}.
    /// @return voucherId the new voucher id (sequential from 1)
    function issue(
        address to,
        uint256 assetId,
        RightType right,
        bytes32 scopeHash,
        uint40 validFrom,
        uint40 validUntil,
        uint32 maxUses,
        bool transferable
    ) external returns (uint256 voucherId) {
        if (assetId > type(uint64).max) revert AssetIdOutOfRange(assetId);
        IAssetRegistry.AssetCore memory a = assets.assetCore(assetId);
        if (a.status != IAssetRegistry.AssetStatus.Active) revert AssetNotActive(assetId, a.status);
        address issuer = _msgSender();
        bool allowed = a.sourceType == IAssetRegistry.SourceType.Public
            ? participants.hasRoles(issuer, ParticipantRoles.AUTHORITY)
            : (issuer == a.holder && participants.isActive(issuer));
        if (!allowed) revert NotAuthorisedIssuer(issuer, assetId, a.sourceType);
        if (validFrom >= validUntil) revert InvalidValidity(validFrom, validUntil);

        voucherId = ++_lastVoucherId;
        _cores[voucherId] = VoucherCore({
            assetId: uint64(assetId),
            right: right,
            status: VoucherStatus.Active,
            transferable: transferable,
            validFrom: validFrom,
            validUntil: validUntil,
            maxUses: maxUses,
            uses: 0
        });
        _metas[voucherId] = VoucherMeta({issuer: issuer, scopeHash: scopeHash});
        emit VoucherIssued(
            voucherId, assetId, issuer, to, right, scopeHash, validFrom, validUntil, maxUses, transferable
        );
        _mint(to, voucherId);
    }

    // ================================================================== use

    /// @notice Allow (or stop allowing) `user` to redeem uses of voucher `voucherId` (e.g. a bank
    /// deciding a loan on the holder's data). Authorisations are kept per holder: a new holder starts
    /// with none (and they apply again should the voucher return to the same holder).
    /// @dev Requirements: the caller holds `voucherId`; granting (`allowed`) needs the use by `user` to
    /// pass {detectUseRestriction} (user active and licensed, cleared by customs if cross-border),
    /// else `UseRestricted`. Withdrawing is always allowed.
    /// Emits {UserAuthorised}.
    function authoriseUser(uint256 voucherId, address user, bool allowed) external {
        address holder = _requireOwned(voucherId);
        address caller = _msgSender();
        if (caller != holder) revert NotVoucherHolder(voucherId, caller, holder);
        if (allowed) {
            uint8 code = _useRestriction(holder, user, _cores[voucherId]);
            if (code != SUCCESS) revert UseRestricted(code, holder, user, voucherId);
        }
        _users[voucherId][holder][user] = allowed;
        emit UserAuthorised(voucherId, holder, user, allowed);
    }

    /// @notice True when `user` may currently redeem uses of `voucherId` (the holder or authorised by it).
    function isAuthorisedUser(uint256 voucherId, address user) public view returns (bool) {
        address holder = _ownerOf(voucherId);
        return holder != address(0) && (user == holder || _users[voucherId][holder][user]);
    }

    /// @notice Record one use of voucher `voucherId` by the caller for `purposeHash`.
    /// @dev Requirements:
    /// - the caller is the holder or a user it authorised;
    /// - the voucher is Active (not frozen / revoked), `validFrom <= now <= validUntil`;
    /// - fewer than `maxUses` uses so far;
    /// - the use passes {detectUseRestriction}: holder and user active with valid licences, the asset
    ///   Active, and a live customs clearance when the user is across the border (the rule of a
    ///   transfer from the holder to the user), else `UseRestricted(code, holder, user, voucherId)`.
    /// Emits {VoucherUsed}.
    /// @return useNumber the 1-based number of this use
    function redeem(uint256 voucherId, bytes32 purposeHash) external returns (uint32 useNumber) {
        address holder = _requireOwned(voucherId);
        address user = _msgSender();
        if (user != holder && !_users[voucherId][holder][user]) revert NotAuthorisedUser(voucherId, user, holder);
        VoucherCore memory v = _cores[voucherId];
        if (v.status != VoucherStatus.Active) revert VoucherNotActive(voucherId, v.status);
        if (block.timestamp < v.validFrom) revert VoucherNotYetValid(voucherId, v.validFrom, block.timestamp);
        if (block.timestamp > v.validUntil) revert VoucherExpired(voucherId, v.validUntil, block.timestamp);
        if (v.uses >= v.maxUses) revert UsesExhausted(voucherId, v.maxUses);
        uint8 code = _useRestriction(holder, user, v);
        if (code != SUCCESS) revert UseRestricted(code, holder, user, voucherId);
        useNumber = v.uses + 1;
        _cores[voucherId].uses = useNumber;
        emit VoucherUsed(voucherId, v.assetId, user, holder, purposeHash, useNumber);
    }

    // ================================================================== settlement terms

    /// @notice {safeTransferFrom} of a voucher that must still meet an order's terms: at least
    /// `minUsesLeft` uses left and valid until at least `minValidUntil` (TradeSettlement passes the
    /// terms its orders signed; checked here on the record the transfer loads anyway).
    /// @dev Requirements: `maxUses - uses >= minUsesLeft` (else `UsesLeftBelowTerms`); `validUntil >=
    /// minValidUntil` (else `ValidityBelowTerms`); then as {safeTransferFrom} (caller owner or approved,
    /// compliance check, receiver callback). Emits {Transfer}.
    function safeTransferFromWithTerms(
        address from,
        address to,
        uint256 voucherId,
        uint256 minUsesLeft,
        uint256 minValidUntil
    ) external {
        VoucherCore storage v = _cores[voucherId]; // one slot: cold here, warm in {_update}
        (uint32 maxUses, uint32 uses, uint40 validUntil) = (v.maxUses, v.uses, v.validUntil);
        uint256 usesLeft = maxUses > uses ? maxUses - uses : 0;
        if (usesLeft < minUsesLeft) revert UsesLeftBelowTerms(voucherId, minUsesLeft, usesLeft);
        if (validUntil < minValidUntil) revert ValidityBelowTerms(voucherId, minValidUntil, validUntil);
        // as ERC721.safeTransferFrom(from, to, tokenId, ""), without its public-call detour
        if (to == address(0)) revert ERC721InvalidReceiver(address(0));
        address operator = _msgSender();
        address previousOwner = _update(to, voucherId, operator);
        if (previousOwner != from) revert ERC721IncorrectOwner(from, voucherId, previousOwner);
        ERC721Utils.checkOnERC721Received(operator, from, to, voucherId, "");
    }

    // ================================================================== supervision

    /// @notice Freeze voucher `voucherId`: no transfer and no use until unfrozen.
    /// @dev Requirements: caller has REGULATOR role; `reason` non-empty; voucher is Active.
    /// Emits {VoucherFrozen}.
    function freeze(uint256 voucherId, string calldata reason) external onlyRegulator(reason) {
        VoucherCore storage v = _cores[voucherId];
        if (v.status != VoucherStatus.Active) revert VoucherNotActive(voucherId, v.status);
        v.status = VoucherStatus.Frozen;
        emit VoucherFrozen(voucherId, v.assetId, _msgSender(), reason);
    }

    /// @notice Lift a freeze.
    /// @dev Requirements: caller has REGULATOR role; `reason` non-empty; voucher is Frozen.
    /// Emits {VoucherUnfrozen}.
    function unfreeze(uint256 voucherId, string calldata reason) external onlyRegulator(reason) {
        VoucherCore storage v = _cores[voucherId];
        if (v.status != VoucherStatus.Frozen) revert VoucherNotFrozen(voucherId, v.status);
        v.status = VoucherStatus.Active;
        emit VoucherUnfrozen(voucherId, v.assetId, _msgSender(), reason);
    }

    /// @notice Revoke voucher `voucherId` permanently (it stays with its holder as a record).
    /// @dev Requirements: caller has REGULATOR role; `reason` non-empty; voucher exists and is not already revoked.
    /// Emits {VoucherRevoked}.
    function revoke(uint256 voucherId, string calldata reason) external onlyRegulator(reason) {
        VoucherCore storage v = _cores[voucherId];
        if (v.status == VoucherStatus.None) revert ERC721NonexistentToken(voucherId);
        if (v.status == VoucherStatus.Revoked) revert VoucherAlreadyRevoked(voucherId);
        v.status = VoucherStatus.Revoked;
        emit VoucherRevoked(voucherId, v.assetId, _msgSender(), reason);
    }

    /// @notice Propose to move voucher `voucherId` from a lost key (its current holder) to `to`; another
    /// regulator executes it ({executeRecovery}) within {RECOVERY_WINDOW}.
    /// @dev The proposal binds the holder it moves from and the target. The compliance check a recovery
    /// applies is run now (early answer) and again at execution.
    /// Requirements: caller has REGULATOR role; `reason` non-empty; voucher exists; `to` is neither the
    /// current holder nor zero; no live proposal is pending for `voucherId` (cancel it first); the move
    /// passes the recovery check (see {executeRecovery}), else `TransferRestricted`.
    /// Emits {RecoveryProposed}.
    function proposeRecovery(uint256 voucherId, address to, string calldata reason) external onlyRegulator(reason) {
        address from = _requireOwned(voucherId);
        if (to == from || to == address(0)) revert InvalidRecipient(to);
        RecoveryProposal storage p = _recoveries[voucherId];
        if (p.proposer != address(0) && p.expiresAt >= block.timestamp && p.from == from) {
            revert RecoveryPending(voucherId, p.proposer, p.expiresAt);
        }
        VoucherCore memory v = _cores[voucherId];
        uint8 code = _restriction(from, to, v, true);
        if (code != SUCCESS) revert TransferRestricted(code, from, to, voucherId);
        uint64 expiresAt = uint64(block.timestamp) + RECOVERY_WINDOW;
        _recoveries[voucherId] = RecoveryProposal({from: from, to: to, proposer: _msgSender(), expiresAt: expiresAt});
        emit RecoveryProposed(voucherId, v.assetId, _msgSender(), from, to, expiresAt, reason);
    }

    /// @notice Execute the pending recovery of voucher `voucherId` (a second regulator's signature).
    /// @dev Recovery bypasses the sender-side checks only: the sender's status and licence, the
    /// transferable flag and a freeze (the regulator freezes first to stop a thief). The recipient
    /// checks, revocation, expiry, asset status and the cross-border rule still apply.
    /// Requirements: caller has REGULATOR role and is not the proposer; `reason` non-empty; a proposal
    /// is pending, unexpired, and the voucher is still held by the account it was proposed from.
    /// Emits {VoucherRecovered} and {Transfer}.
    function executeRecovery(uint256 voucherId, string calldata reason) external onlyRegulator(reason) {
        RecoveryProposal memory p = _recoveries[voucherId];
        if (p.proposer == address(0)) revert NoRecoveryProposal(voucherId);
        if (p.proposer == _msgSender()) revert RecoveryNeedsSecondRegulator(voucherId, p.proposer);
        if (block.timestamp > p.expiresAt) revert RecoveryProposalExpired(voucherId, p.expiresAt, block.timestamp);
        address holder = _ownerOf(voucherId);
        if (holder != p.from) revert RecoveryProposalStale(voucherId, p.from, holder);
        delete _recoveries[voucherId];
        _recovering = true;
        _update(p.to, voucherId, address(0));
        _recovering = false;
        emit VoucherRecovered(voucherId, _cores[voucherId].assetId, _msgSender(), p.from, p.to, reason);
    }

    /// @notice Cancel the pending (or expired) recovery proposal of voucher `voucherId`.
    /// @dev Requirements: caller has REGULATOR role (the proposer or another); `reason` non-empty; a
    /// proposal exists.
    /// Emits {RecoveryCancelled}.
    function cancelRecovery(uint256 voucherId, string calldata reason) external onlyRegulator(reason) {
        if (_recoveries[voucherId].proposer == address(0)) revert NoRecoveryProposal(voucherId);
        delete _recoveries[voucherId];
        emit RecoveryCancelled(voucherId, _cores[voucherId].assetId, _msgSender(), reason);
    }

    // ================================================================== views

    /// @notice ERC-1404 style: the restriction code a transfer of `voucherId` from `from` to `to`
    /// would hit now (0 = allowed). `from == address(0)` evaluates a mint.
    function detectTransferRestriction(address from, address to, uint256 voucherId) external view returns (uint8) {
        return _restriction(from, to, _cores[voucherId], false);
    }

    /// @notice The restriction code a use of `voucherId` by `user` would hit now (0 = allowed): the
    /// transfer rule from the current holder to `user`, without the transferable flag (a use is not a
    /// move). It does not look at the use window, the use count or the user's authorisation.
    function detectUseRestriction(address user, uint256 voucherId) external view returns (uint8) {
        address holder = _ownerOf(voucherId);
        if (holder == address(0)) return UNKNOWN_VOUCHER;
        return _useRestriction(holder, user, _cores[voucherId]);
    }

    /// @notice The pending recovery of `voucherId` (zeros when none; compare expiresAt with the time).
    function recoveryProposal(uint256 voucherId) external view returns (RecoveryProposal memory) {
        return _recoveries[voucherId];
    }

    /// @inheritdoc IHoldings
    /// @dev The number of vouchers `account` holds (revoked ones included: they stay as a record).
    function holdingsOf(address account) external view returns (uint256) {
        return account == address(0) ? 0 : balanceOf(account);
    }

    /// @notice Human-readable sentence for a restriction code.
    function messageForTransferRestriction(uint8 code) external pure returns (string memory) {
        if (code == SUCCESS) return "No restriction: the transfer is allowed.";
        if (code == SENDER_NOT_ACTIVE) return "The sender is not an active registered participant.";
        if (code == RECIPIENT_NOT_ACTIVE) return "The recipient is not an active registered participant.";
        if (code == SENDER_LICENCE_EXPIRED) return "The sender's licence has expired.";
        if (code == RECIPIENT_LICENCE_EXPIRED) return "The recipient's licence has expired.";
        if (code == VOUCHER_FROZEN) return "The voucher is frozen by a regulator.";
        if (code == VOUCHER_REVOKED) return "The voucher has been revoked.";
        if (code == VOUCHER_EXPIRED) return "The voucher has expired.";
        if (code == VOUCHER_NOT_TRANSFERABLE) return "The voucher is not transferable.";
        if (code == ASSET_FROZEN) return "The underlying data asset is frozen.";
        if (code == ASSET_REVOKED) return "The underlying data asset is revoked or unknown.";
        if (code == CLEARANCE_REQUIRED) return "A cross-border transfer needs an approved data customs clearance.";
        if (code == UNKNOWN_VOUCHER) return "The voucher does not exist.";
        revert UnknownRestrictionCode(code);
    }

    /// @notice Hot fields of voucher `voucherId` (status None if unknown).
    function voucherCore(uint256 voucherId) external view returns (VoucherCore memory) {
        return _cores[voucherId];
    }

    /// @notice Full record of voucher `voucherId`.
    function voucher(uint256 voucherId) external view returns (Voucher memory) {
        VoucherMeta memory m = _metas[voucherId];
        return Voucher({core: _cores[voucherId], issuer: m.issuer, scopeHash: m.scopeHash});
    }

    /// @notice The asset a voucher is a right over (0 if unknown).
    function assetOf(uint256 voucherId) external view returns (uint256) {
        return _cores[voucherId].assetId;
    }

    /// @notice Number of vouchers issued so far (ids are 1..count).
    function voucherCount() external view returns (uint256) {
        return _lastVoucherId;
    }

    // ================================================================== internals

    /// @dev The ONE compliance check, shared by {detectTransferRestriction} and {_update}.
    /// Fails closed: unknown vouchers, assets and participants are restricted. Cheap local checks
    /// first; then ONE registry call for both parties (standing and jurisdiction), one asset read,
    /// and customs only when a border is crossed.
    /// Mint: the sender side is the asset's home (no sender checks). Recovery: no sender checks.
    function _restriction(address from, address to, VoucherCore memory v, bool recovery)
        internal
        view
        returns (uint8)
    {
        if (v.status == VoucherStatus.None) return UNKNOWN_VOUCHER;
        if (v.status == VoucherStatus.Revoked) return VOUCHER_REVOKED;
        if (v.status == VoucherStatus.Frozen && !recovery) return VOUCHER_FROZEN;
        if (block.timestamp > v.validUntil) return VOUCHER_EXPIRED;
        bool mint = from == address(0);
        if (!v.transferable && !mint && !recovery) return VOUCHER_NOT_TRANSFERABLE;

        (uint8 fromStanding, bytes2 jurFrom, uint8 toStanding, bytes2 jurTo) = participants.transferStanding(from, to);
        if (!mint && !recovery && fromStanding != ParticipantRoles.STANDING_OK) {
            return fromStanding == ParticipantRoles.STANDING_NOT_ACTIVE ? SENDER_NOT_ACTIVE : SENDER_LICENCE_EXPIRED;
        }
        if (toStanding != ParticipantRoles.STANDING_OK) {
            return toStanding == ParticipantRoles.STANDING_NOT_ACTIVE ? RECIPIENT_NOT_ACTIVE : RECIPIENT_LICENCE_EXPIRED;
        }

        IAssetRegistry.AssetCore memory a = assets.assetCore(v.assetId);
        if (a.status == IAssetRegistry.AssetStatus.Frozen) return ASSET_FROZEN;
        if (a.status != IAssetRegistry.AssetStatus.Active) return ASSET_REVOKED;

        bool crossBorder = jurTo != a.homeJurisdiction;
        if (!crossBorder && a.level >= 3 && !mint) crossBorder = jurFrom != jurTo;
        if (crossBorder && !customs.isCleared(v.assetId, jurTo, to)) return CLEARANCE_REQUIRED;
        return SUCCESS;
    }

    /// @dev A use by `user` of a voucher held by `holder`: the transfer rule from the holder to the user,
    /// with the transferable flag set aside (a use does not move the voucher).
    function _useRestriction(address holder, address user, VoucherCore memory v) private view returns (uint8) {
        v.transferable = true;
        return _restriction(holder, user, v, false);
    }

    /// @dev The ONE override point for transfer rules (mint, transfer, recovery).
    /// Requirements: `auth` (when set) is the owner or approved; the move passes {_restriction},
    /// else `TransferRestricted(code, from, to, voucherId)`.
    function _update(address to, uint256 voucherId, address auth) internal override returns (address) {
        address from = _ownerOf(voucherId);
        if (auth != address(0)) _checkAuthorized(from, auth, voucherId);
        uint8 code = _restriction(from, to, _cores[voucherId], _recovering);
        if (code != SUCCESS) revert TransferRestricted(code, from, to, voucherId);
        return super._update(to, voucherId, address(0));
    }

    function _msgSender() internal view override(Context, ERC2771Context) returns (address) {
        return ERC2771Context._msgSender();
    }

    function _msgData() internal view override(Context, ERC2771Context) returns (bytes calldata) {
        return ERC2771Context._msgData();
    }

    function _contextSuffixLength() internal view override(Context, ERC2771Context) returns (uint256) {
        return ERC2771Context._contextSuffixLength();
    }
}
