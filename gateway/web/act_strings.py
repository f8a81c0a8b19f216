"""Strings of the wallet pages' JavaScript: refusal reasons by error name (with ``{value}``
placeholders filled from the error's values) and the UI texts. English msgids marked with ``N_``;
the page receives them translated (``strings()``), as one JSON dictionary."""

from __future__ import annotations

from gateway.web.i18n import N_, _

#: error name (contract custom error or gateway refusal) -> readable message
ERRORS: dict[str, str] = {
    # wallet and page
    "WalletRejected": N_("You rejected the request in your wallet. Nothing was sent."),
    "WrongChain": N_("Your wallet is on chain {actual}, this market is chain {expected}. Switch the network in "
                     "your wallet. Nothing was sent."),
    "NoWallet": N_("No browser wallet found. Install or enable an Ethereum wallet (EIP-1193) and reload."),
    "WrongAccount": N_("Your wallet's account {actual} is not the signed-in account {expected}: sign in again."),
    "NotSignedIn": N_("Sign in with your wallet first."),
    # gateway refusals
    "TransferRestricted": N_("The transfer is refused (code {code}): {reason}"),
    "StaleNonce": N_("Your request was signed with relay nonce {nonce}, but your next nonce is {expected}: "
                     "another request of yours went first. Nothing was sent; try again."),
    "RequestExpired": N_("The signed request expired before it was relayed. Nothing was sent; try again."),
    "InvalidSignature": N_("The signature does not match the signer. Nothing was sent."),
    "NotYourRequest": N_("The request was not signed by the signed-in account. Nothing was sent."),
    "AlreadyInFlight": N_("A request of yours is already on its way: wait for it to be confirmed."),
    "NotAParticipant": N_("Your account is not an active registered participant."),
    "Unauthorized": N_("Sign in with your wallet first."),
    "InvalidSession": N_("Your session expired: sign in again."),
    "SessionRevoked": N_("You signed out: sign in again."),
    "FunctionNotRelayed": N_("The relay does not forward this call."),
    "TooManyRequests": N_("Relay budget exhausted for now: try again later."),
    "RelayBudgetExceeded": N_("Relay budget exhausted for now: try again later."),
    "NotAnExchange": N_("Only a licensed exchange settles trades."),
    "WrongExchange": N_("The order names another exchange ({orderExchange})."),
    "OrderExpired": N_("The order of {maker} expired."),
    "NonceAlreadyUsed": N_("Order nonce {nonce} of {maker} is already used or cancelled."),
    "NodeUnavailable": N_("The chain node does not answer: try again later."),
    "ValidationError": N_("Some input is not valid: {reason}"),
    "InvalidParameter": N_("Some input is not valid: {reason}"),
    "InvalidAddress": N_("Not an address: {reason}"),
    "InvalidOrder": N_("The order is not a valid signed order. Nothing was sent."),
    "InvalidRequest": N_("The signed request is not valid. Nothing was sent."),
    "InvalidCallData": N_("The call data cannot be decoded. Nothing was sent."),
    "CallDataTooLarge": N_("The call data is too large for the relay. Nothing was sent."),
    "GasTooHigh": N_("The request asks for more gas than the relay allows. Nothing was sent."),
    "ValueNotRelayed": N_("The relay does not forward Ether with a call. Nothing was sent."),
    "UntrustedTarget": N_("The relay does not forward calls to this contract. Nothing was sent."),
    "UseSettlementRelay": N_("A settlement goes through the settlement relay (the exchange's console)."),
    "RequestDataMismatch": N_("The signed request does not carry this settlement. Nothing was sent."),
    "RequestInFlight": N_("A request of yours is already on its way: wait for it to be confirmed."),
    "WrongDomain": N_("The request was signed for another chain or contract. Nothing was sent."),
    "WouldRevert": N_("The call would fail on chain. Nothing was sent."),
    "UnknownAction": N_("This page does not offer that action."),
    "UnknownVoucher": N_("No such voucher."),
    "IpfsUnavailable": N_("The document store does not answer: try again later. Nothing was sent."),
    "NoDeployment": N_("This gateway has no deployment of the contracts."),
    "RelayerNotConfigured": N_("This gateway relays nothing: it has no relayer account."),
    "GatewayMisconfigured": N_("The gateway is misconfigured: tell its operator. Nothing was sent."),
    # contract custom errors
    "TransferRestrictedOnChain": N_("The transfer is refused (code {code})."),
    "NotAuthorisedIssuer": N_("{caller} may not issue vouchers over asset {assetId}."),
    "UseRestricted": N_("The use is refused by the cross-border rule (code {code}) for user {user}."),
    "NotVoucherHolder": N_("You do not hold voucher {voucherId} (the holder is {holder})."),
    "NotAuthorisedUser": N_("{user} is not authorised by the holder to use voucher {voucherId}."),
    "UsesExhausted": N_("Voucher {voucherId} has no uses left (maximum {maxUses})."),
    "VoucherExpired": N_("Voucher {voucherId} has expired."),
    "VoucherNotYetValid": N_("Voucher {voucherId} is not valid yet."),
    "VoucherNotActive": N_("Voucher {voucherId} is not active (frozen or revoked)."),
    "VoucherNotFrozen": N_("Voucher {voucherId} is not frozen."),
    "VoucherAlreadyRevoked": N_("Voucher {voucherId} is already revoked."),
    "NotRegulator": N_("Only a regulator may do this."),
    "EmptyReason": N_("Give a reason."),
    "EmptyPurpose": N_("Give a purpose."),
    "RecoveryNeedsSecondRegulator": N_("You proposed this recovery: another regulator must execute it."),
    "RecoveryPending": N_("A recovery of voucher {voucherId} is already proposed by {proposer}."),
    "NoRecoveryProposal": N_("No recovery is proposed for voucher {voucherId}."),
    "RecoveryProposalExpired": N_("The recovery proposal for voucher {voucherId} expired."),
    "RecoveryProposalStale": N_("The voucher moved since the recovery was proposed: propose again."),
    "InvalidRecipient": N_("Not a valid recipient: {to}."),
    "NotAuthorised": N_("Account {account} lacks the role this needs."),
    "NotActive": N_("Account {account} is not active."),
    "InvalidClearanceState": N_("Clearance {clearanceId} cannot be decided in its state ({state})."),
    "UnknownClearance": N_("No clearance {clearanceId}."),
    "SelfDecision": N_("Customs cannot decide its own request (clearance {clearanceId})."),
    "InvalidExpiry": N_("The expiry must be in the future."),
    "InvalidJurisdiction": N_("Not a jurisdiction code: {destination}."),
    "RecipientNotInDestination": N_("The recipient is in {actual}, not in {destination}."),
    "ClearanceActive": N_("A clearance is already active (clearance {activeClearanceId})."),
    "AccessControlUnauthorizedAccount": N_("Only the registrar may do this (account {account} lacks the role)."),
    "NotOfficer": N_("Only your organisation's data officer may do this."),
    "AccountExists": N_("Account {account} is already registered."),
    "AccountHasHoldings": N_("Account {account} holds {count} vouchers or assets: it cannot leave its organisation."),
    "AccountNotInOrganisation": N_("Account {account} is not in your organisation."),
    "AccountStatusInvalid": N_("Account {account} is not in a state that allows this (status {status})."),
    "LicensedRolesNeedRegistrar": N_("Licensed roles change only through the registrar."),
    "RolesNotAllowed": N_("Your organisation may not hold roles {roles} (allowed: {allowedRoles})."),
    "InvalidRoles": N_("Not valid roles: {roles}."),
    "UnknownAccount": N_("Account {account} is not registered."),
    "ERC721InsufficientApproval": N_("Not approved to move voucher {voucherId}."),
    "Reverted": N_("The transaction reverted."),
}

#: UI texts used by wallet.js
UI: dict[str, str] = {
    "connect": N_("Connect wallet"),
    "choose": N_("Choose a wallet"),
    "signIn": N_("Sign in"),
    "signOut": N_("Sign out"),
    "signingIn": N_("Signing in…"),
    "pending": N_("Pending"),
    "confirmed": N_("Confirmed"),
    "refused": N_("Refused"),
    "waitWallet": N_("Waiting for your wallet…"),
    "sent": N_("Sent, waiting for the block and the index…"),
    "indexed": N_("Confirmed and indexed."),
    "reverted": N_("The transaction reverted."),
    "switchChain": N_("Switch network"),
    "checking": N_("Checking…"),
    "allowed": N_("Allowed"),
    "restricted": N_("Restricted"),
    "whatToDo": N_("What to do"),
    "frozenReason": N_("Frozen by a regulator: {reason}"),
    "requestClearance": N_("Request this clearance"),
    "wrongChain": N_("Wrong network: your wallet is on chain {actual}, this market is chain {expected}."),
    "accountChanged": N_("Your wallet switched account: signed out."),
    "disconnected": N_("Your wallet disconnected."),
    "signedOrder": N_("Signed order (give it to the exchange):"),
    "copy": N_("Copy"),
    "cancel": N_("Cancel"),
    "tx": N_("Transaction"),
    "trade": N_("Trade"),
    "allChecksPass": N_("All checks pass."),
    "someChecksFail": N_("Some checks fail: not settling."),
}

#: the settlement console's checks, as gateway.api.routes.actions.settlement_check names them (the
#: English name is the msgid; the page shows it translated)
CHECKS: tuple[str, ...] = (
    N_("sell: domain"), N_("buy: domain"), N_("sell: signature"), N_("buy: signature"), N_("sell: side"),
    N_("buy: side"), N_("sell: exchange"), N_("buy: exchange"), N_("sell: nonce"), N_("buy: nonce"),
    N_("sell: deadline"), N_("buy: deadline"), N_("terms: voucher"), N_("terms: price"),
    N_("terms: payment token"), N_("terms: not a self-trade"), N_("seller holds the voucher"),
    N_("restriction verdict seller -> buyer"), N_("buyer's terms: uses left"), N_("buyer's terms: validity"),
    N_("voucher terms"), N_("fee within both orders' maximum"), N_("fees within the price"),
    N_("buyer's funds"), N_("seller approved the settlement contract"), N_("simulation of settle"),
)


def strings() -> dict[str, dict[str, str]]:
    """The dictionary of wallet.js in the current request's language: refusal messages by error
    name, UI texts, restriction advice and reasons by code (gateway.api.routes.actions.ADVICE,
    gateway.web.fmt.RESTRICTIONS), role and status names (the header's session line), the
    settlement console's check names."""
    from gateway.api.routes.actions import ADVICE
    from gateway.web.fmt import RESTRICTIONS, ROLES, STATUSES

    return {"errors": {k: _(v) for k, v in ERRORS.items()}, "ui": {k: _(v) for k, v in UI.items()},
            "advice": {str(k): _(v) for k, v in ADVICE.items()},
            "restrictions": {str(k): _(v) for k, v in RESTRICTIONS.items()},
            "roles": {k: _(v) for k, v in ROLES.items()}, "statuses": {k: _(v) for k, v in STATUSES.items()},
            "checks": {k: _(k) for k in CHECKS}}
