// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IERC721Receiver} from "@openzeppelin/contracts/token/ERC721/IERC721Receiver.sol";
import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @title Test helper: a buyer contract whose onERC721Received re-enters a target with stored calldata
/// @notice Signs orders via ERC-1271 (an ECDSA signature by `owner`). Modes: 0 = accept quietly,
/// 1 = re-enter and bubble the revert, 2 = re-enter, swallow the revert and record it.
contract HostileReceiver is IERC721Receiver, IERC1271 {
    address public immutable owner;
    address public target;
    bytes public payload;
    uint8 public mode;
    bool public reentered;
    bytes public lastError;

    constructor(address owner_) {
        owner = owner_;
    }

    function arm(address target_, bytes calldata payload_, uint8 mode_) external {
        target = target_;
        payload = payload_;
        mode = mode_;
    }

    function approveToken(IERC20 token, address spender, uint256 amount) external {
        token.approve(spender, amount);
    }

    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4) {
        (address rec, ECDSA.RecoverError err,) = ECDSA.tryRecoverCalldata(hash, signature);
        return err == ECDSA.RecoverError.NoError && rec == owner ? IERC1271.isValidSignature.selector : bytes4(0);
    }

    function onERC721Received(address, address, uint256, bytes calldata) external returns (bytes4) {
        if (mode != 0) {
            (bool ok, bytes memory ret) = target.call(payload);
            if (!ok) {
                if (mode == 1) {
                    assembly ("memory-safe") {
                        revert(add(ret, 0x20), mload(ret))
                    }
                }
                lastError = ret;
            } else {
                reentered = true;
            }
        }
        return IERC721Receiver.onERC721Received.selector;
    }
}
