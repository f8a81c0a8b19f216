// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {IParticipantRegistry, ParticipantRoles} from "./interfaces/IParticipantRegistry.sol";

/// @title Permissioned settlement currency (a stand-in for digital CNY), 2 decimals
/// @notice Balances move only between active registered participants. Minted by the admin or by
/// active AUTHORITY participants. Supports EIP-2612 permits so holders need no gas to approve.
contract PaymentToken is ERC20, ERC20Permit {
    IParticipantRegistry public immutable participants;
    address public immutable admin;

    /// @notice `minter` created `amount` for `to`.
    event Minted(address indexed minter, address indexed to, uint256 amount);

    error InactiveParticipant(address account);
    error NotMinter(address caller);

    /// @param participants_ participant registry deciding who may hold the token
    /// @param admin_ account allowed to mint besides AUTHORITY participants
    constructor(IParticipantRegistry participants_, address admin_)
        ERC20("Data Settlement CNY", "dCNY")
        ERC20Permit("Data Settlement CNY")
    {
        participants = participants_;
        admin = admin_;
    }

    /// @inheritdoc ERC20
    function decimals() public pure override returns (uint8) {
        return 2;
    }

    /// @notice Create `amount` tokens for `to`.
    /// @dev Requirements: caller is the admin or an active AUTHORITY participant; `to` is active.
    /// Emits {Minted} and {Transfer}.
    function mint(address to, uint256 amount) external {
        address caller = _msgSender();
        if (caller != admin && !participants.hasRoles(caller, ParticipantRoles.AUTHORITY)) revert NotMinter(caller);
        _mint(to, amount);
        emit Minted(caller, to, amount);
    }

    /// @notice Destroy `amount` of the caller's tokens (redemption into the off-chain currency).
    /// @dev Requirements: the caller is active and holds `amount`. Emits {Transfer}.
    function burn(uint256 amount) external {
        _burn(_msgSender(), amount);
    }

    /// @dev The ONE override point: every party to a balance move must be an active participant
    /// (fails closed for unknown accounts). Reverts `InactiveParticipant(account)`.
    function _update(address from, address to, uint256 value) internal override {
        if (from != address(0) && !participants.isActive(from)) revert InactiveParticipant(from);
        if (to != address(0) && !participants.isActive(to)) revert InactiveParticipant(to);
        super._update(from, to, value);
    }
}
