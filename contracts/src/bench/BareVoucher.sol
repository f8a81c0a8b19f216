// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ERC721} from "@openzeppelin/contracts/token/ERC721/ERC721.sol";

/// @title Benchmark baseline: a plain OpenZeppelin ERC-721 (no compliance), open minting
contract BareVoucher is ERC721 {
    constructor() ERC721("BareVoucher", "BARE") {}

    /// @notice Mint `tokenId` to `to` (anyone; benchmark only).
    function mint(address to, uint256 tokenId) external {
        _mint(to, tokenId);
    }
}
