// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IERC721Receiver} from "@openzeppelin/contracts/token/ERC721/IERC721Receiver.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC721} from "@openzeppelin/contracts/token/ERC721/IERC721.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @title Test helper: an ERC-1271 smart-contract wallet with selectable (mis)behaviour
/// @notice Modes: 0 = honest (magic value iff `owner` signed), 1 = wrong 4-byte value,
/// 2 = short return data (4 bytes only), 3 = revert, 4 = always magic (accepts anything).
contract MockERC1271Wallet is IERC721Receiver {
    bytes4 internal constant MAGIC = 0x1626ba7e;
    address public immutable owner;
    uint8 public mode;

    constructor(address owner_) {
        owner = owner_;
    }

    function setMode(uint8 mode_) external {
        mode = mode_;
    }

    function approveToken(IERC20 token, address spender, uint256 amount) external {
        token.approve(spender, amount);
    }

    function approveVouchers(IERC721 vouchers, address operator) external {
        vouchers.setApprovalForAll(operator, true);
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        uint8 m = mode;
        if (m == 1) return 0xdeadbeef;
        if (m == 2) {
            assembly ("memory-safe") {
                mstore(0, MAGIC)
                return(0, 4)
            }
        }
        if (m == 3) revert("wallet refuses");
        if (m == 4) return MAGIC;
        (address rec, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(hash, signature);
        return err == ECDSA.RecoverError.NoError && rec == owner ? MAGIC : bytes4(0);
    }

    function onERC721Received(address, address, uint256, bytes calldata) external pure returns (bytes4) {
        return IERC721Receiver.onERC721Received.selector;
    }
}
