// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

/// @title What an account holds in one contract of the market (vouchers, registered assets)
/// @notice The participant registry asks its bound sources before an account leaves its organisation:
/// an account that holds anything cannot be re-homed (a new organisation could sit in another
/// jurisdiction, and a holding must not cross a border without the customs rule).
interface IHoldings {
    /// @notice The number of records `account` holds in this contract.
    function holdingsOf(address account) external view returns (uint256);
}
