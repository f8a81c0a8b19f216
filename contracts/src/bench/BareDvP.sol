// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC721} from "@openzeppelin/contracts/token/ERC721/IERC721.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Side, OrderNonces} from "../TradeSettlement.sol";

/// @notice The order of the baseline: TradeSettlement's order type as it was when the 1.5x goal was
/// set (before orders committed to fee and voucher terms). Kept as it was so the baseline is unchanged.
struct BareOrder {
    address maker;
    Side side;
    uint256 voucherId;
    uint256 price;
    address paymentToken;
    address exchange;
    address broker;
    uint256 commission;
    uint256 nonce;
    uint256 deadline;
}

bytes32 constant BARE_ORDER_TYPEHASH = keccak256(
    "Order(address maker,uint8 side,uint256 voucherId,uint256 price,address paymentToken,address exchange,address broker,uint256 commission,uint256 nonce,uint256 deadline)"
);

/// @title Benchmark baseline: EIP-712 order DvP of a plain ERC-721 against a plain ERC-20
/// @notice Same nonce bitmap as TradeSettlement and its original order type {BareOrder} (domain
/// "dataledger-bare-dvp", "1"), but no compliance, no exchange/broker checks, no fees and no order
/// terms: anyone may submit a matched pair.
contract BareDvP is OrderNonces, EIP712, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    IERC721 public immutable nft;

    event Settled(bytes32 indexed tradeId, uint256 indexed tokenId, address seller, address buyer, uint256 price);

    error OrderMismatch();
    error OrderExpired(address maker, uint256 deadline);
    error InvalidSignature(address maker);

    constructor(IERC721 nft_) EIP712("dataledger-bare-dvp", "1") {
        nft = nft_;
    }

    function orderDigest(BareOrder calldata order) external view returns (bytes32) {
        return _hashTypedDataV4(_hashOrder(order));
    }

    /// @notice Swap `sell.voucherId` for `sell.price` of `sell.paymentToken`.
    function settle(BareOrder calldata sell, bytes calldata sellSignature, BareOrder calldata buy, bytes calldata buySignature)
        external
        nonReentrant
        returns (bytes32 tradeId)
    {
        return _settle(sell, sellSignature, buy, buySignature);
    }

    struct Trade {
        BareOrder sell;
        bytes sellSignature;
        BareOrder buy;
        bytes buySignature;
    }

    function settleBatch(Trade[] calldata trades) external nonReentrant {
        for (uint256 i; i < trades.length; ++i) {
            Trade calldata t = trades[i];
            _settle(t.sell, t.sellSignature, t.buy, t.buySignature);
        }
    }

    function _settle(BareOrder calldata sell, bytes calldata sellSignature, BareOrder calldata buy, bytes calldata buySignature)
        private
        returns (bytes32 tradeId)
    {
        if (
            sell.side != Side.Sell || buy.side != Side.Buy || sell.voucherId != buy.voucherId
                || sell.price != buy.price || sell.paymentToken != buy.paymentToken
        ) revert OrderMismatch();
        tradeId = keccak256(abi.encode(_verify(sell, sellSignature), _verify(buy, buySignature)));
        IERC20(sell.paymentToken).safeTransferFrom(buy.maker, sell.maker, sell.price);
        nft.safeTransferFrom(sell.maker, buy.maker, sell.voucherId);
        emit Settled(tradeId, sell.voucherId, sell.maker, buy.maker, sell.price);
    }

    function _hashOrder(BareOrder calldata o) private pure returns (bytes32) {
        return keccak256(abi.encode(BARE_ORDER_TYPEHASH, o));
    }

    function _verify(BareOrder calldata o, bytes calldata signature) private returns (bytes32 structHash) {
        if (block.timestamp > o.deadline) revert OrderExpired(o.maker, o.deadline);
        structHash = _hashOrder(o);
        _useNonce(o.maker, o.nonce);
        if (!SignatureChecker.isValidSignatureNowCalldata(o.maker, _hashTypedDataV4(structHash), signature)) {
            revert InvalidSignature(o.maker);
        }
    }
}
