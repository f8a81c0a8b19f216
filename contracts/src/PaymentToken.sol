// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {AccessControlDefaultAdminRules} from
    "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {IParticipantRegistry, ParticipantRoles} from "./interfaces/IParticipantRegistry.sol";

/// @title Permissioned settlement currency (a stand-in for digital CNY), 2 decimals
/// @notice Balances move only between active registered participants. Minted by active AUTHORITY
/// participants, or by the admin while it is itself an active participant: every minter has
/// registry standing, so the registrar can stop one by suspending it. The admin role
/// (OpenZeppelin {AccessControlDefaultAdminRules}) moves in two steps with a delay (initially
/// {INITIAL_ADMIN_DELAY}). Supports EIP-2612 permits so holders need no gas to approve.
contract PaymentToken is ERC20, ERC20Permit, AccessControlDefaultAdminRules {
    /// @notice Delay between the admin starting a transfer of its role and the new admin accepting it.
    uint48 public constant INITIAL_ADMIN_DELAY = 2 days;

    IParticipantRegistry public immutable participants;

    /// @notice `minter` created `amount` for `to`.
    event Minted(address indexed minter, address indexed to, uint256 amount);

    error InactiveParticipant(address account);
    error NotMinter(address caller);
    error LengthMismatch(uint256 recipients, uint256 amounts);

    /// @param participants_ participant registry deciding who may hold (and mint) the token
    /// @param admin_ initial default admin: may mint while it is an active participant; its role moves
    /// only by {beginDefaultAdminTransfer} + {acceptDefaultAdminTransfer} after the delay
    constructor(IParticipantRegistry participants_, address admin_)
        ERC20("Data Settlement CNY", "dCNY")
        ERC20Permit("Data Settlement CNY")
        AccessControlDefaultAdminRules(INITIAL_ADMIN_DELAY, admin_)
    {
        participants = participants_;
    }

    /// @inheritdoc ERC20
    function decimals() public pure override returns (uint8) {
        return 2;
    }

    /// @notice Create `amount` tokens for `to`.
    /// @dev Requirements: caller is an active AUTHORITY participant, or the default admin while it is
    /// an active participant (else `NotMinter`); `to` is active (else `InactiveParticipant`).
    /// Emits {Minted} and {Transfer}.
    function mint(address to, uint256 amount) external {
        address caller = _msgSender();
        bool allowed = participants.hasRoles(caller, ParticipantRoles.AUTHORITY)
            || (caller == defaultAdmin() && participants.isActive(caller));
        if (!allowed) revert NotMinter(caller);
        _mint(to, amount);
        emit Minted(caller, to, amount);
    }

    /// @notice Destroy `amount` of the caller's tokens (redemption into the off-chain currency).
    /// @dev Requirements: the caller is active and holds `amount`. Emits {Transfer}.
    function burn(uint256 amount) external {
        _burn(_msgSender(), amount);
    }

    /// @notice Move `amounts[i]` from `from` to `recipients[i]` for every i, spending the caller's
    /// allowance once for the total: one call for the legs of a settlement (seller, exchange, brokers).
    /// @dev Requirements: equal lengths; `from` and every recipient are active participants (one
    /// registry call for all); no recipient of a non-zero amount is address(0); the caller's
    /// allowance from `from` covers the total; `from` holds it.
    /// Emits one {Transfer} per non-zero leg.
    function transferFromMany(address from, address[] calldata recipients, uint256[] calldata amounts) external {
        uint256 n = recipients.length;
        if (n != amounts.length) revert LengthMismatch(n, amounts.length);
        address inactive = participants.firstInactive(from, recipients);
        if (inactive != address(0)) revert InactiveParticipant(inactive);
        // address(0) is also firstInactive's "none" answer, so it is rejected here: as a recipient it
        // would burn. As `from` it would mint, but then the allowance check below reverts (nobody
        // holds an allowance from address(0)) unless nothing moves.
        uint256 total = 0;
        for (uint256 i; i < n; ++i) {
            uint256 amount = amounts[i];
            if (amount == 0) continue;
            address to = recipients[i];
            if (to == address(0)) revert ERC20InvalidReceiver(address(0));
            super._update(from, to, amount); // parties checked above
            // cannot overflow: every leg was debited from `from`, so total <= its initial balance
            unchecked {
                total += amount;
            }
        }
        _spendAllowance(from, _msgSender(), total);
    }

    /// @dev The ONE override point: every party to a balance move must be an active participant
    /// (fails closed for unknown accounts). Reverts `InactiveParticipant(account)`.
    function _update(address from, address to, uint256 value) internal override {
        if (from == address(0) || to == address(0)) {
            address party = from == address(0) ? to : from; // mint or burn: one party
            if (!participants.isActive(party)) revert InactiveParticipant(party);
        } else {
            _checkParties(from, to);
        }
        super._update(from, to, value);
    }

    /// @dev Both parties of a move are active participants (one registry call).
    function _checkParties(address from, address to) private view {
        // jurisdictions are irrelevant to a payment: only the two standings are used
        // slither-disable-next-line unused-return
        (uint8 fromStanding,, uint8 toStanding,) = participants.transferStanding(from, to);
        if (fromStanding == ParticipantRoles.STANDING_NOT_ACTIVE) revert InactiveParticipant(from);
        if (toStanding == ParticipantRoles.STANDING_NOT_ACTIVE) revert InactiveParticipant(to);
    }
}
