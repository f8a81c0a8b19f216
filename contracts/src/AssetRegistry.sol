// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {Context} from "@openzeppelin/contracts/utils/Context.sol";
import {IAccessControl} from "@openzeppelin/contracts/access/IAccessControl.sol";
import {IAssetRegistry} from "./interfaces/IAssetRegistry.sol";
import {IHoldings} from "./interfaces/IHoldings.sol";
import {IParticipantRegistry, ParticipantRoles} from "./interfaces/IParticipantRegistry.sol";

/// @title AssetRegistry — registration of rights over datasets (确权登记)
/// @notice A dataset is registered by its holder with a manifest CID, the sha-256 of its
/// content, a classification level (1 public .. 4 core/sensitive) and a source type. The
/// holder appends manifest versions (history kept), licensed appraisers append valuations,
/// regulators freeze, unfreeze and revoke with a reason.
/// @dev Asset ids are sequential from 1. {AssetCore} is one storage slot. A content hash can
/// be registered only once across all assets and versions (no double registration of rights),
/// until the registrar releases the hash of a revoked asset (squatting, issue 11) to a claimant.
contract AssetRegistry is Context, IAssetRegistry, IHoldings {
    /// @notice One manifest version of an asset.
    struct ManifestVersion {
        bytes32 contentHash; // sha-256 of the dataset content
        uint64 timestamp; // block time it was recorded
        bytes cid; // IPFS CID of the manifest (binary form)
    }

    /// @notice One valuation (资产评估) of an asset.
    struct Valuation {
        address appraiser;
        uint64 timestamp;
        bytes3 currency; // ISO-4217, e.g. "CNY"
        uint256 amount; // in the currency's minor units
        bytes32 method; // e.g. "income", "cost", "market"
        bytes reportCid; // IPFS CID of the appraisal report
    }

    /// @notice The ParticipantRegistry role whose holders (the data authority) release squatted hashes.
    bytes32 public constant REGISTRAR_ROLE = keccak256("REGISTRAR_ROLE");

    IParticipantRegistry public immutable participants;

    uint256 private _assetCount;
    mapping(uint256 assetId => AssetCore) private _cores;
    mapping(uint256 assetId => mapping(uint32 version => ManifestVersion)) private _versions;
    mapping(uint256 assetId => Valuation[]) private _valuations;
    mapping(bytes32 contentHash => uint256 assetId) private _assetOfContent;
    /// @dev A released hash may be registered next only by this claimant (address(0): anyone).
    mapping(bytes32 contentHash => address claimant) private _claimantOf;
    /// @dev Assets ever registered by a holder (the holder of an asset never changes).
    mapping(address holder => uint256 count) private _assetCountOf;

    // ---------------------------------------------------------------- events

    /// @notice Asset `assetId` was registered by `holder` (manifest version 0).
    event AssetRegistered(
        uint256 indexed assetId,
        address indexed holder,
        bytes32 indexed contentHash,
        bytes manifestCid,
        uint8 level,
        SourceType sourceType,
        bytes2 homeJurisdiction
    );
    /// @notice The holder appended manifest `version` to asset `assetId`.
    event ManifestUpdated(
        uint256 indexed assetId, uint32 indexed version, bytes32 indexed contentHash, bytes manifestCid, address holder
    );
    /// @notice A valuation was appended at `index` for asset `assetId`.
    event ValuationRecorded(
        uint256 indexed assetId,
        uint256 indexed index,
        address indexed appraiser,
        uint256 amount,
        bytes3 currency,
        bytes32 method,
        bytes reportCid
    );
    /// @notice A regulator froze asset `assetId`.
    event AssetFrozen(uint256 indexed assetId, address indexed regulator, string reason);
    /// @notice A regulator unfroze asset `assetId`.
    event AssetUnfrozen(uint256 indexed assetId, address indexed regulator, string reason);
    /// @notice A regulator revoked asset `assetId` (final).
    event AssetRevoked(uint256 indexed assetId, address indexed regulator, string reason);
    /// @notice The registrar freed `contentHash` of revoked asset `assetId` for `claimant` (address(0): anyone).
    event ContentReleased(
        uint256 indexed assetId, bytes32 indexed contentHash, address indexed claimant, address registrar, string reason
    );

    // ---------------------------------------------------------------- errors

    /// @notice The participants registry address is zero.
    error ZeroAddress();
    /// @notice `account` is not an active participant.
    error NotActive(address account);
    /// @notice `account` lacks (a valid licence for) the required `roles`.
    error NotAuthorised(address account, uint16 roles);
    /// @notice Classification `level` is not within 1..4.
    error InvalidLevel(uint8 level);
    /// @notice A manifest CID is empty.
    error EmptyManifest();
    /// @notice The content hash is zero.
    error InvalidContentHash(bytes32 contentHash);
    /// @notice `contentHash` is already registered to `assetId`.
    error ContentAlreadyRegistered(bytes32 contentHash, uint256 assetId);
    /// @notice No asset with `assetId`.
    error UnknownAsset(uint256 assetId);
    /// @notice `account` is not the holder of `assetId`.
    error NotHolder(uint256 assetId, address account, address holder);
    /// @notice The asset is in `status`, not the one the operation needs.
    error InvalidAssetStatus(uint256 assetId, AssetStatus status);
    /// @notice Manifest `version` does not exist (`versionCount` recorded).
    error UnknownVersion(uint256 assetId, uint32 version, uint32 versionCount);
    /// @notice Valuation `index` does not exist (`count` recorded).
    error UnknownValuation(uint256 assetId, uint256 index, uint256 count);
    /// @notice A valuation has zero amount.
    error InvalidAmount(uint256 amount);
    /// @notice The currency code is not three upper-case letters.
    error InvalidCurrency(bytes3 currency);
    /// @notice The appraisal report CID is empty.
    error EmptyReport();
    /// @notice The reason string is empty.
    error EmptyReason();
    /// @notice `account` does not hold the registry's REGISTRAR_ROLE.
    error NotRegistrar(address account);
    /// @notice `contentHash` is not registered to any asset.
    error UnknownContent(bytes32 contentHash);
    /// @notice `contentHash` was released for `claimant`; `account` may not register it.
    error ContentReservedFor(bytes32 contentHash, address claimant, address account);

    constructor(IParticipantRegistry participants_) {
        if (address(participants_) == address(0)) revert ZeroAddress();
        participants = participants_;
    }

    // ---------------------------------------------------------------- holder

    /// @notice Registers a dataset held by the caller; its home jurisdiction is the caller's.
    /// @param manifestCid IPFS CID of the manifest (version 0).
    /// @param contentHash sha-256 of the dataset content.
    /// @param level classification 1 (public) .. 4 (core/sensitive).
    /// @param sourceType public, enterprise or personal-derived.
    /// @return assetId the new id (sequential from 1).
    /// @dev Requirements:
    /// - caller is an active participant; a Public-source dataset needs AUTHORITY or (licensed) OPERATOR;
    /// - `level` in 1..4; `manifestCid` non-empty; `contentHash` non-zero and not registered (a
    ///   released hash: the caller is its claimant, if one was named).
    /// Emits {AssetRegistered}.
    function registerAsset(bytes calldata manifestCid, bytes32 contentHash, uint8 level, SourceType sourceType)
        external
        returns (uint256 assetId)
    {
        address holder = _msgSender();
        if (!participants.isActive(holder)) revert NotActive(holder);
        if (
            sourceType == SourceType.Public && !participants.hasRoles(holder, ParticipantRoles.AUTHORITY)
                && !participants.hasRoles(holder, ParticipantRoles.OPERATOR)
        ) revert NotAuthorised(holder, ParticipantRoles.AUTHORITY | ParticipantRoles.OPERATOR);
        if (level < 1 || level > 4) revert InvalidLevel(level);
        _checkManifest(manifestCid, contentHash, holder);

        assetId = ++_assetCount;
        bytes2 home = participants.jurisdictionOf(holder);
        _cores[assetId] = AssetCore({
            holder: holder,
            level: level,
            sourceType: sourceType,
            status: AssetStatus.Active,
            homeJurisdiction: home,
            versionCount: 1
        });
        _versions[assetId][0] =
            ManifestVersion({contentHash: contentHash, timestamp: uint64(block.timestamp), cid: manifestCid});
        _assetOfContent[contentHash] = assetId;
        unchecked {
            _assetCountOf[holder] += 1;
        }
        emit AssetRegistered(assetId, holder, contentHash, manifestCid, level, sourceType, home);
    }

    /// @notice Appends a manifest version to asset `assetId`.
    /// @return version the new version index (the first registration is version 0).
    /// @dev Requirements:
    /// - asset exists and is Active; caller is its holder and an active participant;
    /// - `manifestCid` non-empty; `contentHash` non-zero and not registered (a released hash: the
    ///   caller is its claimant, if one was named).
    /// Emits {ManifestUpdated}.
    function updateManifest(uint256 assetId, bytes calldata manifestCid, bytes32 contentHash)
        external
        returns (uint32 version)
    {
        AssetCore storage core = _knownAsset(assetId);
        address caller = _msgSender();
        if (core.holder != caller) revert NotHolder(assetId, caller, core.holder);
        if (!participants.isActive(caller)) revert NotActive(caller);
        if (core.status != AssetStatus.Active) revert InvalidAssetStatus(assetId, core.status);
        _checkManifest(manifestCid, contentHash, caller);
        version = core.versionCount;
        core.versionCount = version + 1;
        _versions[assetId][version] =
            ManifestVersion({contentHash: contentHash, timestamp: uint64(block.timestamp), cid: manifestCid});
        _assetOfContent[contentHash] = assetId;
        emit ManifestUpdated(assetId, version, contentHash, manifestCid, caller);
    }

    // ---------------------------------------------------------------- appraiser

    /// @notice Appends a valuation of asset `assetId`.
    /// @return index position of the valuation in the asset's list.
    /// @dev Requirements:
    /// - caller holds APPRAISER with an unexpired licence;
    /// - asset exists and is Active; `amount` > 0; `currency` three upper-case letters;
    /// - `reportCid` non-empty.
    /// Emits {ValuationRecorded}.
    function recordValuation(
        uint256 assetId,
        uint256 amount,
        bytes3 currency,
        bytes32 method,
        bytes calldata reportCid
    ) external returns (uint256 index) {
        address caller = _msgSender();
        if (!participants.hasRoles(caller, ParticipantRoles.APPRAISER)) {
            revert NotAuthorised(caller, ParticipantRoles.APPRAISER);
        }
        AssetCore storage core = _knownAsset(assetId);
        if (core.status != AssetStatus.Active) revert InvalidAssetStatus(assetId, core.status);
        if (amount == 0) revert InvalidAmount(amount);
        for (uint256 i; i < 3; ++i) {
            if (currency[i] < 0x41 || currency[i] > 0x5A) revert InvalidCurrency(currency);
        }
        if (reportCid.length == 0) revert EmptyReport();
        index = _valuations[assetId].length;
        _valuations[assetId].push(
            Valuation({
                appraiser: caller,
                timestamp: uint64(block.timestamp),
                currency: currency,
                amount: amount,
                method: method,
                reportCid: reportCid
            })
        );
        emit ValuationRecorded(assetId, index, caller, amount, currency, method, reportCid);
    }

    // ---------------------------------------------------------------- regulator

    /// @notice Freezes asset `assetId` (vouchers over it stop moving).
    /// @dev Requirements: caller holds REGULATOR; asset exists and is Active; `reason` non-empty.
    /// Emits {AssetFrozen}.
    function freeze(uint256 assetId, string calldata reason) external {
        AssetCore storage core = _regulated(assetId, reason);
        if (core.status != AssetStatus.Active) revert InvalidAssetStatus(assetId, core.status);
        core.status = AssetStatus.Frozen;
        emit AssetFrozen(assetId, _msgSender(), reason);
    }

    /// @notice Unfreezes asset `assetId`.
    /// @dev Requirements: caller holds REGULATOR; asset exists and is Frozen; `reason` non-empty.
    /// Emits {AssetUnfrozen}.
    function unfreeze(uint256 assetId, string calldata reason) external {
        AssetCore storage core = _regulated(assetId, reason);
        if (core.status != AssetStatus.Frozen) revert InvalidAssetStatus(assetId, core.status);
        core.status = AssetStatus.Active;
        emit AssetUnfrozen(assetId, _msgSender(), reason);
    }

    /// @notice Revokes asset `assetId`; final.
    /// @dev Requirements: caller holds REGULATOR; asset exists and is Active or Frozen; `reason` non-empty.
    /// Emits {AssetRevoked}.
    function revoke(uint256 assetId, string calldata reason) external {
        AssetCore storage core = _regulated(assetId, reason);
        if (core.status == AssetStatus.Revoked) revert InvalidAssetStatus(assetId, core.status);
        core.status = AssetStatus.Revoked;
        emit AssetRevoked(assetId, _msgSender(), reason);
    }

    // ---------------------------------------------------------------- registrar

    /// @notice Frees `contentHash`, registered to a revoked asset (e.g. squatted by someone who does
    /// not hold the dataset), so that `claimant` can register it; address(0) lets anyone. The revoked
    /// asset keeps its manifest history; only the hash's uniqueness claim ends.
    /// @dev Requirements: caller holds the ParticipantRegistry's REGISTRAR_ROLE; `contentHash` is
    /// registered; its asset is Revoked (a regulator revoked it first: two roles act); `reason` non-empty.
    /// Emits {ContentReleased}.
    function releaseContentHash(bytes32 contentHash, address claimant, string calldata reason) external {
        address caller = _msgSender();
        if (!IAccessControl(address(participants)).hasRole(REGISTRAR_ROLE, caller)) revert NotRegistrar(caller);
        uint256 assetId = _assetOfContent[contentHash];
        if (assetId == 0) revert UnknownContent(contentHash);
        AssetStatus status = _cores[assetId].status;
        if (status != AssetStatus.Revoked) revert InvalidAssetStatus(assetId, status);
        if (bytes(reason).length == 0) revert EmptyReason();
        delete _assetOfContent[contentHash];
        _claimantOf[contentHash] = claimant;
        emit ContentReleased(assetId, contentHash, claimant, caller, reason);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IAssetRegistry
    /// @dev Does not revert: an unknown asset reads as status None (callers fail closed on it).
    function assetCore(uint256 assetId) external view returns (AssetCore memory) {
        return _cores[assetId];
    }

    /// @inheritdoc IHoldings
    /// @dev The number of assets `account` registered (any status): the participant registry refuses
    /// to re-home an account that holds assets.
    function holdingsOf(address account) external view returns (uint256) {
        return _assetCountOf[account];
    }

    /// @notice Number of registered assets (ids are 1..assetCount).
    function assetCount() external view returns (uint256) {
        return _assetCount;
    }

    /// @notice Manifest `version` of asset `assetId`.
    /// @dev Requirements: asset exists; `version` < versionCount.
    function manifestVersion(uint256 assetId, uint32 version) external view returns (ManifestVersion memory) {
        AssetCore storage core = _knownAsset(assetId);
        if (version >= core.versionCount) revert UnknownVersion(assetId, version, core.versionCount);
        return _versions[assetId][version];
    }

    /// @notice The latest manifest version of asset `assetId` and its index.
    /// @dev Requirements: asset exists.
    function latestManifest(uint256 assetId) external view returns (uint32 version, ManifestVersion memory manifest) {
        AssetCore storage core = _knownAsset(assetId);
        version = core.versionCount - 1;
        manifest = _versions[assetId][version];
    }

    /// @notice The asset a content hash is registered to (0 when none).
    function assetOfContent(bytes32 contentHash) external view returns (uint256) {
        return _assetOfContent[contentHash];
    }

    /// @notice The only account that may register a released `contentHash` (address(0): anyone).
    function claimantOf(bytes32 contentHash) external view returns (address) {
        return _claimantOf[contentHash];
    }

    /// @notice Number of valuations of asset `assetId`.
    function valuationCount(uint256 assetId) external view returns (uint256) {
        return _valuations[assetId].length;
    }

    /// @notice Valuation `index` of asset `assetId`.
    /// @dev Requirements: `index` < valuationCount(assetId).
    function valuation(uint256 assetId, uint256 index) external view returns (Valuation memory) {
        Valuation[] storage list = _valuations[assetId];
        if (index >= list.length) revert UnknownValuation(assetId, index, list.length);
        return list[index];
    }

    // ---------------------------------------------------------------- internals

    function _knownAsset(uint256 assetId) private view returns (AssetCore storage core) {
        core = _cores[assetId];
        if (core.status == AssetStatus.None) revert UnknownAsset(assetId);
    }

    /// @dev Checks a manifest and takes a released hash's reservation (if any) for `registrant`.
    function _checkManifest(bytes calldata manifestCid, bytes32 contentHash, address registrant) private {
        if (manifestCid.length == 0) revert EmptyManifest();
        if (contentHash == bytes32(0)) revert InvalidContentHash(contentHash);
        uint256 existing = _assetOfContent[contentHash];
        if (existing != 0) revert ContentAlreadyRegistered(contentHash, existing);
        address claimant = _claimantOf[contentHash];
        if (claimant != address(0)) {
            if (claimant != registrant) revert ContentReservedFor(contentHash, claimant, registrant);
            delete _claimantOf[contentHash];
        }
    }

    function _regulated(uint256 assetId, string calldata reason) private view returns (AssetCore storage core) {
        address caller = _msgSender();
        if (!participants.hasRoles(caller, ParticipantRoles.REGULATOR)) {
            revert NotAuthorised(caller, ParticipantRoles.REGULATOR);
        }
        core = _knownAsset(assetId);
        if (bytes(reason).length == 0) revert EmptyReason();
    }
}
