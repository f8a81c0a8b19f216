// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {ERC2771Forwarder} from "@openzeppelin/contracts/metatx/ERC2771Forwarder.sol";

/// @title Trusted ERC-2771 forwarder of the ledger (meta-transactions: holders need no gas)
/// @notice EIP-712 domain ("dataledger", "1"). A relayer submits `execute(request)`; the target
/// (DataVoucher, TradeSettlement) sees the signer as `_msgSender()`.
contract LedgerForwarder is ERC2771Forwarder {
    constructor() ERC2771Forwarder("dataledger") {}
}
