// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title Asset (dataset registration, 确权登记) registry — read side used by other contracts
interface IAssetRegistry {
    enum SourceType {
        Public,
        Enterprise,
        PersonalDerived
    }
    enum AssetStatus {
        None,
        Active,
        Frozen,
        Revoked
    }

    /// @dev Hot fields packed in one slot: a voucher transfer reads only this.
    struct AssetCore {
        address holder;
        uint8 level; // classification 1 (public) .. 4 (core/sensitive)
        SourceType sourceType;
        AssetStatus status;
        bytes2 homeJurisdiction; // jurisdiction of the registering holder
        uint32 versionCount; // manifest versions recorded
    }

    function assetCore(uint256 assetId) external view returns (AssetCore memory);
}
