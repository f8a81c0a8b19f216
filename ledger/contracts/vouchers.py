"""Typed clients of DataVoucher and the LedgerForwarder (gasless requests)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

from eth_account.signers.local import LocalAccount
from web3.exceptions import ContractLogicError, Web3RPCError

from ledger.contracts.base import ZERO_ADDRESS, ContractClient, TxResult, checksum
from ledger.contracts.models import (
    RecoveryProposal,
    Restriction,
    RightType,
    Voucher,
    VoucherStatus,
    hash32,
    parse_enum,
)
from ledger.errors import (
    RESTRICTION_MESSAGES,
    ContractRevert,
    InvalidInput,
    LedgerError,
    TransferRefused,
    UnknownVoucher,
    as_revert,
)
from ledger.wallet import sign_forward_request

FORWARD_GAS_MARGIN = 1.3


@dataclass
class ForwardRequest:
    """A signed ERC-2771 request (OpenZeppelin 5 ForwardRequestData + the signed nonce)."""

    sender: str  # "from"
    to: str
    value: int
    gas: int
    nonce: int
    deadline: int
    data: bytes
    signature: bytes
    chain_id: int
    forwarder: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "from": self.sender, "to": self.to, "value": self.value, "gas": self.gas, "nonce": self.nonce,
            "deadline": self.deadline, "data": "0x" + self.data.hex(), "signature": "0x" + self.signature.hex(),
            "chainId": self.chain_id, "forwarder": self.forwarder,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ForwardRequest:
        try:
            return cls(
                sender=checksum(d["from"]), to=checksum(d["to"]), value=int(d.get("value", 0)),
                gas=int(d["gas"]), nonce=int(d["nonce"]), deadline=int(d["deadline"]),
                data=bytes.fromhex(str(d["data"]).removeprefix("0x")),
                signature=bytes.fromhex(str(d["signature"]).removeprefix("0x")),
                chain_id=int(d["chainId"]), forwarder=checksum(d["forwarder"]),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise InvalidInput(f"malformed forward request: {exc}") from None

    def data_tuple(self) -> tuple[Any, ...]:
        return (self.sender, self.to, self.value, self.gas, self.deadline, self.data, self.signature)


class ForwarderClient(ContractClient):
    """LedgerForwarder (OpenZeppelin ERC2771Forwarder, EIP-712 domain "dataledger"/"1")."""

    NAME = "LedgerForwarder"

    def nonce(self, account: str) -> int:
        return int(self.call("nonces", checksum(account)))

    def sign(self, signer: LocalAccount, target: str, data: bytes, deadline: int,
             gas: Optional[int] = None, value: int = 0) -> ForwardRequest:
        """Sign a request for ``target`` with call ``data``. Gas is estimated by simulating the
        forwarded call (target sees the signer as sender), so a request that would revert raises
        the decoded ContractRevert here, before anyone relays it."""
        target = checksum(target)
        if gas is None:
            gas = int(self._simulate(signer.address, target, data, value, estimate=True) * FORWARD_GAS_MARGIN) + 20_000
        nonce = self.nonce(signer.address)
        request: dict[str, Any] = {"from": signer.address, "to": target, "value": value, "gas": gas,
                                   "nonce": nonce, "deadline": int(deadline), "data": data}
        signature = sign_forward_request(signer, request, self.ledger.chain_id, self.address)
        return ForwardRequest(signer.address, target, value, gas, nonce, int(deadline), bytes(data),
                              signature, self.ledger.chain_id, self.address)

    def _simulate(self, sender: str, target: str, data: bytes, value: int, estimate: bool = False) -> int:
        tx = {"from": self.address, "to": target, "data": bytes(data) + bytes.fromhex(sender[2:]), "value": value}
        try:
            if estimate:
                return int(self.w3.eth.estimate_gas(tx))  # type: ignore[arg-type]
            self.w3.eth.call(tx)  # type: ignore[arg-type]
            return 0
        except (ContractLogicError, Web3RPCError) as exc:
            revert = as_revert(exc)
            if revert is not None:
                raise revert from None
            raise

    def verify(self, request: ForwardRequest) -> bool:
        return bool(self.call("verify", request.data_tuple()))

    def relay(self, request: ForwardRequest) -> TxResult:
        """Execute a signed request, paying its gas (the gateway's relay does this)."""
        if request.chain_id != self.ledger.chain_id or request.forwarder != self.address:
            raise InvalidInput(
                f"request is for chain {request.chain_id} forwarder {request.forwarder}, "
                f"not chain {self.ledger.chain_id} forwarder {self.address}"
            )
        if request.deadline < self.ledger.now():
            raise InvalidInput(f"forward request expired at {request.deadline}")
        current = self.nonce(request.sender)
        if request.nonce != current:
            raise InvalidInput(f"forward request nonce {request.nonce} is stale (signer's nonce is {current})")
        if not self.verify(request):
            raise InvalidInput("forward request signature does not match its signer")
        self._simulate(request.sender, request.to, request.data, request.value)
        return self.transact("execute", request.data_tuple(), value=request.value)


class VouchersClient(ContractClient):
    """DataVoucher: issue, transfer (compliance pre-checked), redeem, supervise."""

    NAME = "DataVoucher"

    # ------------------------------------------------------------ views
    def voucher(self, voucher_id: int) -> Voucher:
        (core, issuer, scope) = self.call("voucher", int(voucher_id))
        asset_id, right, status, transferable, valid_from, valid_until, max_uses, uses = core
        if VoucherStatus(status) == VoucherStatus.NONE:
            raise UnknownVoucher(int(voucher_id))
        return Voucher(
            voucher_id=int(voucher_id), holder=self.owner_of(voucher_id), asset_id=int(asset_id),
            right=RightType(right).name.lower(), status=VoucherStatus(status).name.lower(),
            transferable=bool(transferable), valid_from=int(valid_from), valid_until=int(valid_until),
            max_uses=int(max_uses), uses=int(uses), issuer=issuer, scope_hash="0x" + bytes(scope).hex(),
        )

    def owner_of(self, voucher_id: int) -> Optional[str]:
        try:
            return str(self.call("ownerOf", int(voucher_id)))
        except ContractRevert:
            return None

    def balance_of(self, account: str) -> int:
        return int(self.call("balanceOf", checksum(account)))

    def voucher_count(self) -> int:
        return int(self.call("voucherCount"))

    def restriction(self, sender: str, recipient: str, voucher_id: int) -> Restriction:
        code = int(self.call("detectTransferRestriction", checksum(sender), checksum(recipient), int(voucher_id)))
        return Restriction(code=code, message=self.message_for(code))

    def message_for(self, code: int) -> str:
        try:
            return str(self.call("messageForTransferRestriction", int(code)))
        except ContractRevert:
            return RESTRICTION_MESSAGES.get(int(code), f"unknown restriction code {code}")

    def why_not(self, voucher_id: int, recipient: str, sender: Optional[str] = None) -> Restriction:
        """Why a transfer of ``voucher_id`` to ``recipient`` would fail now (code 0: it would not)."""
        if sender is None:
            sender = self.owner_of(voucher_id) or ZERO_ADDRESS
            if sender == ZERO_ADDRESS and self.call("voucherCore", int(voucher_id))[2] == 0:
                return Restriction(code=12, message=self.message_for(12))
        return self.restriction(sender, recipient, voucher_id)

    def use_restriction(self, user: str, voucher_id: int) -> Restriction:
        """Why a use of ``voucher_id`` by ``user`` would be refused now (the transfer rule from the holder
        to the user: standing, licences, asset status, customs clearance); code 0: it would not."""
        code = int(self.call("detectUseRestriction", checksum(user), int(voucher_id)))
        return Restriction(code=code, message=self.message_for(code))

    def recovery_proposal(self, voucher_id: int) -> RecoveryProposal:
        frm, to, proposer, expires_at = self.call("recoveryProposal", int(voucher_id))
        return RecoveryProposal(voucher_id=int(voucher_id), from_=frm, to=to,
                                proposer=None if proposer == ZERO_ADDRESS else proposer, expires_at=int(expires_at))

    def is_authorised_user(self, voucher_id: int, user: str) -> bool:
        return bool(self.call("isAuthorisedUser", int(voucher_id), checksum(user)))

    # ------------------------------------------------------------ issuing & moving
    def issue(self, to: str, asset_id: int, right: Any, scope: str | bytes, valid_from: int, valid_until: int,
              max_uses: int, transferable: bool) -> TxResult:
        """Issue a voucher; ``result.value`` is its id. A refused mint raises ContractRevert
        TransferRestricted (decoded, with the restriction message) before sending."""
        if int(valid_from) >= int(valid_until):
            raise InvalidInput(f"valid-from {valid_from} must be before valid-until {valid_until}")
        result = self.transact("issue", checksum(to, "recipient"), int(asset_id), int(parse_enum(RightType, right)),
                               hash32(scope), int(valid_from), int(valid_until), int(max_uses), bool(transferable))
        result.value = int(result.event("VoucherIssued")["voucherId"])
        return result

    def check_transfer(self, voucher_id: int, recipient: str, sender: Optional[str] = None) -> None:
        """Raise TransferRefused(code, message) unless DataVoucher would allow the move now."""
        owner = self.owner_of(voucher_id)
        if owner is None:
            raise UnknownVoucher(int(voucher_id))
        sender = checksum(sender) if sender else owner
        r = self.restriction(sender, checksum(recipient, "recipient"), voucher_id)
        if r.code != 0:
            raise TransferRefused(r.code, r.message, int(voucher_id), sender, recipient)

    def transfer(self, recipient: str, voucher_id: int, sender: Optional[str] = None) -> TxResult:
        """safeTransferFrom(owner, recipient, id) by the ledger's account, after the restriction check."""
        owner = self.owner_of(voucher_id)
        if owner is None:
            raise UnknownVoucher(int(voucher_id))
        sender = checksum(sender) if sender else owner
        self.check_transfer(voucher_id, recipient, sender)
        return self.transact("safeTransferFrom", sender, checksum(recipient), int(voucher_id))

    def approve_operator(self, operator: str, approved: bool = True) -> TxResult:
        return self.transact("setApprovalForAll", checksum(operator), bool(approved))

    def authorise_user(self, voucher_id: int, user: str, allowed: bool = True) -> TxResult:
        return self.transact("authoriseUser", int(voucher_id), checksum(user), bool(allowed))

    def redeem(self, voucher_id: int, purpose: str | bytes) -> TxResult:
        """Record one use; ``result.value`` is the use number."""
        if self.owner_of(voucher_id) is None:
            raise UnknownVoucher(int(voucher_id))
        result = self.transact("redeem", int(voucher_id), hash32(purpose))
        result.value = int(result.event("VoucherUsed")["useNumber"])
        return result

    # ------------------------------------------------------------ supervision
    def freeze(self, voucher_id: int, reason: str) -> TxResult:
        return self.transact("freeze", int(voucher_id), reason)

    def unfreeze(self, voucher_id: int, reason: str) -> TxResult:
        return self.transact("unfreeze", int(voucher_id), reason)

    def revoke(self, voucher_id: int, reason: str) -> TxResult:
        return self.transact("revoke", int(voucher_id), reason)

    def propose_recovery(self, voucher_id: int, recipient: str, reason: str) -> TxResult:
        """First regulator: propose moving the voucher off a lost key to ``recipient``;
        ``result.value`` is the proposal's expiry (unix seconds). Another regulator executes it."""
        if self.owner_of(voucher_id) is None:
            raise UnknownVoucher(int(voucher_id))
        result = self.transact("proposeRecovery", int(voucher_id), checksum(recipient, "recipient"), reason)
        result.value = int(result.event("RecoveryProposed")["expiresAt"])
        return result

    def execute_recovery(self, voucher_id: int, reason: str) -> TxResult:
        """Second regulator: execute the pending recovery (not the proposer's own)."""
        if self.owner_of(voucher_id) is None:
            raise UnknownVoucher(int(voucher_id))
        return self.transact("executeRecovery", int(voucher_id), reason)

    def cancel_recovery(self, voucher_id: int, reason: str) -> TxResult:
        return self.transact("cancelRecovery", int(voucher_id), reason)

    # ------------------------------------------------------------ gasless (ERC-2771)
    def transfer_request(self, recipient: str, voucher_id: int, deadline: int) -> ForwardRequest:
        """A signed request moving the holder's voucher, for a relayer to submit (no gas for the holder)."""
        signer = self.ledger.require_account()
        self.check_transfer(voucher_id, recipient, signer.address)
        data = bytes.fromhex(self.build("safeTransferFrom", signer.address, checksum(recipient),
                                        int(voucher_id))["data"][2:])
        return self.ledger.forwarder.sign(signer, self.address, data, deadline)

    def redeem_request(self, voucher_id: int, purpose: str | bytes, deadline: int) -> ForwardRequest:
        signer = self.ledger.require_account()
        if self.owner_of(voucher_id) is None:
            raise UnknownVoucher(int(voucher_id))
        data = bytes.fromhex(self.build("redeem", int(voucher_id), hash32(purpose))["data"][2:])
        return self.ledger.forwarder.sign(signer, self.address, data, deadline)


__all__ = ["ForwardRequest", "ForwarderClient", "VouchersClient", "LedgerError"]


#: the largest purpose text stored as ONE raw IPFS block (ipfs add --cid-version=1 chunks at 256 KiB)
MAX_PURPOSE_BYTES = 256 * 1024


def purpose_document(store: Any, purpose: str) -> tuple[str, bytes]:
    """Store a use's purpose text on IPFS; return (CID, the bytes32 redeem records).

    The text is added as one raw block, so its CID is the raw-leaf CIDv1 ``bafkrei...`` whose
    sha-256 digest is what ``redeem`` puts on chain (equal to sha-256 of the text, so vouchers
    redeemed before purposes were stored keep their meaning). The gateway rebuilds the CID from the
    digest, fetches the text and serves it to the callers the redaction policy allows."""
    from ledger.ipfs import Cid

    data = purpose.encode("utf-8")
    if not data:
        raise InvalidInput("the purpose text is empty")
    if len(data) > MAX_PURPOSE_BYTES:
        raise InvalidInput(f"the purpose text is {len(data)} bytes; at most {MAX_PURPOSE_BYTES} are stored as one "
                           "document (store a longer text as a file and give its summary)")
    cid = str(store.add(data))
    parsed = Cid.decode(cid)
    if parsed.codec != 0x55 or parsed.mh_code != 0x12 or len(parsed.digest) != 32:
        raise InvalidInput(f"the store gave {cid} for the purpose text, not a raw sha-256 CIDv1")
    return cid, bytes(parsed.digest)
