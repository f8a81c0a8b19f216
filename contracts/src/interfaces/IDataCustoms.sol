// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title Data customs (数据海关) — read side used by the voucher compliance check
/// @notice A clearance is bounded by its expiry (not consumed): while unexpired and not
/// revoked it allows any number of transfers of the asset into the destination jurisdiction
/// (to the named recipient, or to anyone there when the recipient is address(0)).
interface IDataCustoms {
    /// @notice True when an approved, unexpired, unrevoked clearance covers moving a right over
    /// `assetId` to `recipient` located in `destination`.
    function isCleared(uint256 assetId, bytes2 destination, address recipient) external view returns (bool);
}
