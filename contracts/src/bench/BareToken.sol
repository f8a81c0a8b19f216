// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title Benchmark baseline: a plain OpenZeppelin ERC-20 (no permissioning), open minting
contract BareToken is ERC20 {
    constructor() ERC20("BareToken", "BARE") {}

    function decimals() public pure override returns (uint8) {
        return 2;
    }

    /// @notice Mint `amount` to `to` (anyone; benchmark only).
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }
}
