// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {ERC2771Context} from "@openzeppelin/contracts/metatx/ERC2771Context.sol";
import {Context} from "@openzeppelin/contracts/utils/Context.sol";
import {IParticipantRegistry, ParticipantRoles} from "./interfaces/IParticipantRegistry.sol";
import {DataVoucher} from "./DataVoucher.sol";
import {PaymentToken} from "./PaymentToken.sol";

/// @notice Side of an order.
enum Side {
    Sell,
    Buy
}

/// @notice An order signed (EIP-712) by its maker; matched off-chain, settled by an exchange.
/// @dev `broker` acts for the maker (address(0) = none) and is paid `commission` (payment token
/// units) by the maker: out of the proceeds for a seller, on top of the price for a buyer.
/// The order also commits to what it trades (issue 11, #9): the exchange fee at settlement must not
/// exceed `maxFeeBps`, and the voucher must still have at least `minUsesLeft` uses left and be
/// valid until at least `minValidUntil` when it moves. A buyer sets the terms it was shown; a
/// seller usually leaves them 0 (they are checked for both orders alike).
struct Order {
    address maker;
    Side side;
    uint256 voucherId;
    uint256 price;
    address paymentToken;
    address exchange;
    address broker;
    uint256 commission;
    uint256 maxFeeBps; // highest exchange fee (basis points of the price) the maker accepts
    uint256 minUsesLeft; // the voucher must have at least this many uses left
    uint256 minValidUntil; // unix seconds; the voucher's validUntil must be at least this
    uint256 nonce;
    uint256 deadline; // unix seconds, last second the order may settle
}

/// @notice One matched trade: the sell and the buy order with their signatures.
struct Trade {
    Order sell;
    bytes sellSignature;
    Order buy;
    bytes buySignature;
}

/// @dev EIP-712 type hash of {Order}.
bytes32 constant ORDER_TYPEHASH = keccak256(
    "Order(address maker,uint8 side,uint256 voucherId,uint256 price,address paymentToken,address exchange,address broker,uint256 commission,uint256 maxFeeBps,uint256 minUsesLeft,uint256 minValidUntil,uint256 nonce,uint256 deadline)"
);

/// @dev Unordered per-maker nonces in a bitmap (256 nonces per storage word), shared with the baseline.
abstract contract OrderNonces {
    /// @notice Bit `nonce % 256` of word `nonce / 256` is set once the maker's nonce is used or cancelled.
    mapping(address maker => mapping(uint256 word => uint256 bits)) public nonceBitmap;

    error NonceAlreadyUsed(address maker, uint256 nonce);

    /// @notice True when `maker`'s `nonce` was used by a settlement or cancelled.
    function isNonceUsed(address maker, uint256 nonce) public view returns (bool) {
        return nonceBitmap[maker][nonce >> 8] & (1 << (nonce & 0xff)) != 0;
    }

    function _useNonce(address maker, uint256 nonce) internal {
        uint256 bit = 1 << (nonce & 0xff);
        uint256 word = nonce >> 8;
        uint256 bits = nonceBitmap[maker][word];
        if (bits & bit != 0) revert NonceAlreadyUsed(maker, nonce);
        nonceBitmap[maker][word] = bits | bit;
    }
}

/// @title Trade settlement of the data element market (DvP: voucher against payment)
/// @notice A licensed exchange settles trades it matched off-chain. Both makers sign an EIP-712
/// {Order} (domain "dataledger-settlement", "1"). Settlement is atomic: the buyer pays the seller,
/// the exchange fee (basis points of the price, per exchange) and any broker commissions, and the
/// voucher moves under DataVoucher's compliance rules. Makers may cancel through the forwarder.
contract TradeSettlement is OrderNonces, EIP712, ReentrancyGuardTransient, Ownable2Step, ERC2771Context {
    using SafeERC20 for IERC20;

    uint16 public constant MAX_FEE_BPS = 2000;

    DataVoucher public immutable vouchers;
    IParticipantRegistry public immutable participants;
    /// @notice The market's settlement currency: its legs move in one call ({PaymentToken-transferFromMany}).
    /// Orders may name another ERC-20; its legs then move one `transferFrom` each.
    PaymentToken public immutable paymentToken;

    /// @notice Fee of each exchange in basis points of the price (paid out of the seller's proceeds).
    mapping(address exchange => uint16 bps) public exchangeFeeBps;

    /// @notice A trade settled. `tradeId = keccak256(abi.encode(sellOrderHash, buyOrderHash))`.
    /// The voucher links to its asset through DataVoucher's {VoucherIssued} (voucherId -> assetId).
    event TradeSettled(
        bytes32 indexed tradeId,
        uint256 indexed voucherId,
        address indexed seller,
        address buyer,
        address exchange,
        address paymentToken,
        uint256 price,
        uint256 fee
    );
    /// @notice The maker `client` paid its broker `amount` in trade `tradeId`.
    event BrokerPaid(bytes32 indexed tradeId, address indexed broker, address indexed client, uint256 amount);
    /// @notice `maker` cancelled its order nonce `nonce`.
    event OrderCancelled(address indexed maker, uint256 indexed nonce);
    /// @notice The admin set `exchange`'s fee.
    event ExchangeFeeSet(address indexed exchange, uint16 previousBps, uint16 bps);

    error ExchangeNotLicensed(address exchange);
    error WrongExchange(address maker, address orderExchange, address caller);
    error WrongSide(address maker, Side expected, Side actual);
    error OrderExpired(address maker, uint256 nonce, uint256 deadline, uint256 nowTs);
    error InvalidSignature(address maker, bytes32 orderHash);
    error BrokerNotLicensed(address broker);
    error CommissionWithoutBroker(address maker, uint256 commission);
    error SelfTrade(address maker);
    error VoucherMismatch(uint256 sellVoucherId, uint256 buyVoucherId);
    error PriceMismatch(uint256 sellPrice, uint256 buyPrice);
    error PaymentTokenMismatch(address sellToken, address buyToken);
    error FeesExceedPrice(uint256 price, uint256 fee, uint256 sellerCommission);
    error FeeTooHigh(uint16 bps, uint16 maxBps);
    error EmptyBatch();
    /// @notice The exchange fee `feeBps` exceeds the `maxFeeBps` that `maker` signed.
    error FeeAboveOrderMaximum(address maker, uint256 maxFeeBps, uint16 feeBps);

    /// @param vouchers_ the DataVoucher contract (its transfer rules apply to every settlement)
    /// @param participants_ participant registry (exchange and broker licences)
    /// @param paymentToken_ the market's settlement currency
    /// @param admin owner that sets exchange fees
    /// @param trustedForwarder the LedgerForwarder trusted for meta-transactions (e.g. cancelOrder)
    constructor(
        DataVoucher vouchers_,
        IParticipantRegistry participants_,
        PaymentToken paymentToken_,
        address admin,
        address trustedForwarder
    ) EIP712("dataledger-settlement", "1") Ownable(admin) ERC2771Context(trustedForwarder) {
        vouchers = vouchers_;
        participants = participants_;
        paymentToken = paymentToken_;
    }

    // ================================================================== admin

    /// @notice Set `exchange`'s fee in basis points.
    /// @dev Takes effect at once: every order caps the fee it pays ({Order-maxFeeBps}), so a raise
    /// after signing makes those orders fail to settle (`FeeAboveOrderMaximum`) instead of charging them.
    /// Requirements: caller is the owner (admin); `bps <= MAX_FEE_BPS`. Emits {ExchangeFeeSet}.
    function setExchangeFee(address exchange, uint16 bps) external onlyOwner {
        if (bps > MAX_FEE_BPS) revert FeeTooHigh(bps, MAX_FEE_BPS);
        uint16 previous = exchangeFeeBps[exchange];
        exchangeFeeBps[exchange] = bps;
        emit ExchangeFeeSet(exchange, previous, bps);
    }

    // ================================================================== makers

    /// @notice Cancel the caller's order nonce `nonce` (directly or as a meta-transaction).
    /// @dev Requirements: the nonce is unused. Emits {OrderCancelled}.
    function cancelOrder(uint256 nonce) external {
        address maker = _msgSender();
        _useNonce(maker, nonce);
        emit OrderCancelled(maker, nonce);
    }

    /// @notice EIP-712 digest a maker signs for `order`.
    function orderDigest(Order calldata order) external view returns (bytes32) {
        return _hashTypedDataV4(_hashOrder(order));
    }

    /// @notice EIP-712 struct hash of `order` (before the domain separator).
    function hashOrder(Order calldata order) external pure returns (bytes32) {
        return _hashOrder(order);
    }

    // ================================================================== settlement

    /// @notice Settle one matched trade: voucher from seller to buyer against payment.
    /// @dev Requirements:
    /// - caller is `exchange` of both orders and an active EXCHANGE participant with a valid licence;
    /// - `sell.side == Sell`, `buy.side == Buy`, distinct makers; same voucher, price, payment token;
    /// - each order unexpired (`now <= deadline`), nonce unused, signature valid (EOA or ERC-1271);
    /// - the exchange's fee is at most each order's `maxFeeBps` (else `FeeAboveOrderMaximum`);
    /// - the voucher meets each order's terms when it moves: at least `minUsesLeft` uses left (else
    ///   DataVoucher's `UsesLeftBelowTerms`), valid until at least `minValidUntil` (else `ValidityBelowTerms`);
    /// - each named broker is an active BROKER with a valid licence; no commission without broker;
    /// - exchange fee + seller commission <= price;
    /// - the seller approved this contract for the voucher, the buyer for price + its commission;
    /// - the voucher transfer passes DataVoucher's compliance check (else `TransferRestricted`).
    /// Emits {TradeSettled}, {BrokerPaid} per paid broker, and the token and voucher {Transfer}s.
    /// @return tradeId keccak256(abi.encode(sellOrderHash, buyOrderHash))
    function settle(Order calldata sell, bytes calldata sellSignature, Order calldata buy, bytes calldata buySignature)
        external
        nonReentrant
        returns (bytes32 tradeId)
    {
        address exchange = _checkExchange();
        return _settle(sell, sellSignature, buy, buySignature, exchange, exchangeFeeBps[exchange]);
    }

    /// @notice Settle many matched trades atomically (all or none), in order.
    /// @dev Requirements: as {settle} for every trade; at least one trade.
    /// Emits per trade as {settle}.
    function settleBatch(Trade[] calldata trades) external nonReentrant returns (bytes32[] memory tradeIds) {
        uint256 n = trades.length;
        if (n == 0) revert EmptyBatch();
        address exchange = _checkExchange();
        uint16 bps = exchangeFeeBps[exchange];
        tradeIds = new bytes32[](n);
        for (uint256 i; i < n; ++i) {
            Trade calldata t = trades[i];
            tradeIds[i] = _settle(t.sell, t.sellSignature, t.buy, t.buySignature, exchange, bps);
        }
    }

    // ================================================================== internals

    function _checkExchange() private view returns (address exchange) {
        exchange = _msgSender();
        if (!participants.hasRoles(exchange, ParticipantRoles.EXCHANGE)) revert ExchangeNotLicensed(exchange);
    }

    function _settle(
        Order calldata sell,
        bytes calldata sellSignature,
        Order calldata buy,
        bytes calldata buySignature,
        address exchange,
        uint16 bps
    ) private returns (bytes32 tradeId) {
        if (sell.maker == buy.maker) revert SelfTrade(sell.maker);
        if (sell.voucherId != buy.voucherId) revert VoucherMismatch(sell.voucherId, buy.voucherId);
        if (sell.price != buy.price) revert PriceMismatch(sell.price, buy.price);
        if (sell.paymentToken != buy.paymentToken) revert PaymentTokenMismatch(sell.paymentToken, buy.paymentToken);
        tradeId = keccak256(
            abi.encode(
                _verify(sell, sellSignature, Side.Sell, exchange, bps), _verify(buy, buySignature, Side.Buy, exchange, bps)
            )
        );
        uint256 fee = _pay(sell, buy, exchange, bps, tradeId);
        _deliver(sell, buy, exchange, fee, tradeId);
    }

    /// @dev Moves the voucher (compliance-checked by DataVoucher, which also checks the stricter of
    /// the two orders' voucher terms on the record it loads anyway; buyer callback last) and emits.
    function _deliver(Order calldata sell, Order calldata buy, address exchange, uint256 fee, bytes32 tradeId)
        private
    {
        uint256 voucherId = sell.voucherId;
        address buyer = buy.maker;
        uint256 minUsesLeft = buy.minUsesLeft;
        uint256 minValidUntil = buy.minValidUntil;
        if (sell.minUsesLeft > minUsesLeft) minUsesLeft = sell.minUsesLeft;
        if (sell.minValidUntil > minValidUntil) minValidUntil = sell.minValidUntil;
        vouchers.safeTransferFromWithTerms(sell.maker, buyer, voucherId, minUsesLeft, minValidUntil);
        emit TradeSettled(
            tradeId,
            voucherId,
            sell.maker,
            buyer,
            exchange,
            sell.paymentToken,
            sell.price,
            fee
        );
    }

    /// @dev EIP-712 struct hash of `o`. {Order} is a static struct of atomic fields only, so its 13
    /// ABI words in calldata are exactly its EIP-712 `encodeData`: they are hashed behind the type
    /// hash as they are (one copy, no re-encoding). Dirty high bits in a field cannot be abused: they
    /// change the hash, so the maker's signature (over clean values) no longer verifies, and every
    /// address/enum field is also read (and validated) by {_settle} / {_verify}.
    function _hashOrder(Order calldata o) private pure returns (bytes32 structHash) {
        bytes32 typeHash = ORDER_TYPEHASH;
        assembly ("memory-safe") {
            let ptr := mload(0x40)
            mstore(ptr, typeHash)
            calldatacopy(add(ptr, 0x20), o, 0x1a0) // 13 words
            structHash := keccak256(ptr, 0x1c0)
        }
    }

    /// @dev Checks one order and consumes its nonce; returns its struct hash.
    function _verify(Order calldata o, bytes calldata signature, Side side, address exchange, uint16 bps)
        private
        returns (bytes32 structHash)
    {
        if (o.side != side) revert WrongSide(o.maker, side, o.side);
        if (o.exchange != exchange) revert WrongExchange(o.maker, o.exchange, exchange);
        if (bps > o.maxFeeBps) revert FeeAboveOrderMaximum(o.maker, o.maxFeeBps, bps);
        if (block.timestamp > o.deadline) revert OrderExpired(o.maker, o.nonce, o.deadline, block.timestamp);
        if (o.broker == address(0)) {
            if (o.commission != 0) revert CommissionWithoutBroker(o.maker, o.commission);
        } else if (!participants.hasRoles(o.broker, ParticipantRoles.BROKER)) {
            revert BrokerNotLicensed(o.broker);
        }
        structHash = _hashOrder(o);
        _useNonce(o.maker, o.nonce);
        if (!SignatureChecker.isValidSignatureNowCalldata(o.maker, _hashTypedDataV4(structHash), signature)) {
            revert InvalidSignature(o.maker, structHash);
        }
    }

    /// @dev Moves the payment: buyer -> seller (price - fee - seller commission), exchange (fee),
    /// seller's broker (seller commission), buyer's broker (buyer commission). Returns the fee.
    function _pay(Order calldata sell, Order calldata buy, address exchange, uint16 bps, bytes32 tradeId)
        private
        returns (uint256 fee)
    {
        IERC20 token = IERC20(sell.paymentToken);
        address buyer = buy.maker;
        uint256 price = sell.price;
        fee = (price * bps) / 10_000;
        uint256 sellCommission = sell.commission;
        if (fee + sellCommission > price) revert FeesExceedPrice(price, fee, sellCommission);
        uint256 proceeds;
        unchecked {
            proceeds = price - fee - sellCommission; // checked just above
        }
        uint256 buyCommission = buy.commission;
        if (address(token) == address(paymentToken)) {
            // every non-zero leg in one call (a zero-price trade moves no payment at all)
            uint256 legs;
            unchecked {
                // at most 4
                legs = (proceeds != 0 ? 1 : 0) + (fee != 0 ? 1 : 0) + (sellCommission != 0 ? 1 : 0)
                    + (buyCommission != 0 ? 1 : 0);
            }
            if (legs != 0) {
                address[] memory recipients = new address[](legs);
                uint256[] memory amounts = new uint256[](legs);
                uint256 leg = 0;
                unchecked {
                    if (proceeds != 0) (recipients[leg], amounts[leg++]) = (sell.maker, proceeds);
                    if (fee != 0) (recipients[leg], amounts[leg++]) = (exchange, fee);
                    if (sellCommission != 0) (recipients[leg], amounts[leg++]) = (sell.broker, sellCommission);
                    if (buyCommission != 0) (recipients[leg], amounts[leg]) = (buy.broker, buyCommission);
                }
                paymentToken.transferFromMany(buyer, recipients, amounts);
            }
        } else {
            // `buyer` is buy.maker, whose EIP-712 signature, nonce, deadline and exchange `_verify`
            // checked; only that licensed exchange settles (docs/security.md, arbitrary-send-erc20).
            // slither-disable-start arbitrary-send-erc20
            if (proceeds != 0) token.safeTransferFrom(buyer, sell.maker, proceeds);
            if (fee != 0) token.safeTransferFrom(buyer, exchange, fee);
            if (sellCommission != 0) token.safeTransferFrom(buyer, sell.broker, sellCommission);
            if (buyCommission != 0) token.safeTransferFrom(buyer, buy.broker, buyCommission);
            // slither-disable-end arbitrary-send-erc20
        }
        if (sellCommission != 0) emit BrokerPaid(tradeId, sell.broker, sell.maker, sellCommission);
        if (buyCommission != 0) emit BrokerPaid(tradeId, buy.broker, buyer, buyCommission);
    }

    function _msgSender() internal view override(Context, ERC2771Context) returns (address) {
        return ERC2771Context._msgSender();
    }

    function _msgData() internal view override(Context, ERC2771Context) returns (bytes calldata) {
        return ERC2771Context._msgData();
    }

    function _contextSuffixLength() internal view override(Context, ERC2771Context) returns (uint256) {
        return ERC2771Context._contextSuffixLength();
    }
}
