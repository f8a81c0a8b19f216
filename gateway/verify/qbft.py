"""Besu QBFT blocks: the ``extraData`` codec, Besu's block hashing, commit seals, the validator set.

The rules follow Hyperledger Besu (read from its sources: ``QbftExtraDataCodec``,
``BftExtraDataCodec``, ``BftBlockHashing``, ``BftBlockInterface``, ``BftCommitSealsValidationRule``,
``BftValidatorsValidationRule``, ``BftCoinbaseValidationRule``, ``BftHelpers``, ``VoteTally``,
``VoteTallyUpdater``, ``EpochManager``, ``SECPSignature``); no Besu code is used here.

- ``extraData`` = ``rlp([vanity (32 bytes), [validator, ...], vote, round, [seal, ...]])``:
  ``vote`` is ``[]`` (none) or ``[recipient, 0xff]`` (add) / ``[recipient, ""]`` (drop); ``round``
  an RLP scalar (no leading zero byte); each seal 65 bytes ``r || s || recId`` (recId 0 or 1,
  1 <= r, s < n; high s is accepted, as Besu does).
- block hash (what ``eth_getBlockByNumber`` returns as ``hash`` and children link to):
  keccak(rlp(header)) with ``extraData`` re-encoded as ``[vanity, validators, vote, 0, []]``
  (round zeroed, seals emptied); the genesis block hashes its raw ``extraData``.
- commit-seal digest (what each validator signs): the same with the block's round kept:
  ``[vanity, validators, vote, round, []]``.
- a sealed block is valid for a validator set V (the set after its parent) when: the validators
  listed in its ``extraData`` are V in ascending order; its coinbase (the proposer) is in V; the
  seals recover to distinct members of V, at least ``ceil(2|V|/3)`` of them.
- validator set changes (block-header mode): the genesis ``extraData`` lists the first set; a
  non-epoch block's vote (proposer = coinbase) is tallied and a candidate is added / removed once
  ``|V| // 2 + 1`` validators voted for it; epoch blocks (number % epochlength == 0) discard the
  outstanding votes, add and drop alike (as Besu does since 26.2.0, PR 9870; older releases kept
  drop votes across an epoch). :class:`ValidatorTracker` follows a header chain from an epoch block.

Not supported (rejected with a reason, never guessed): validator selection by contract
(``validatorcontractaddress`` / ``validatorselectionmode`` transitions), ``transitions`` that
override the validator set, and the legacy IBFT 1.0 / IBFT 2.0 extraData formats.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import rlp
from eth_keys.datatypes import Signature
from eth_keys.exceptions import BadSignature
from eth_utils.crypto import keccak
from eth_utils.exceptions import ValidationError

from gateway.verify import receipts as rc

VANITY_LENGTH = 32
SEAL_LENGTH = 65
ADD = b"\xff"
DROP = b""
#: Besu's constant BFT mixHash ("Istanbul byzantine fault tolerance")
MIX_HASH = "0x63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365"
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
MAX_ROUND = 2**31 - 1  # Besu reads the round as a Java int

#: every reason a check below can fail with
REASONS = (
    "malformed_extra_data", "hash_mismatch", "genesis_not_sealed", "validators_mismatch",
    "proposer_not_validator", "unrecoverable_seal", "unknown_signer", "duplicate_signer",
    "insufficient_seals", "chain_break", "unsupported_genesis",
)


class QbftError(ValueError):
    """A QBFT structure that cannot be read, with the reason code (one of :data:`REASONS`)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason
        self.message = message


# ---------------------------------------------------------------- extraData codec


@dataclass(frozen=True)
class Vote:
    recipient: str  # 0x-lowercase address
    add: bool


@dataclass(frozen=True)
class ExtraData:
    vanity: bytes
    validators: tuple[str, ...]  # 0x-lowercase addresses, in the order the block lists them
    vote: Optional[Vote]
    round: int
    seals: tuple[bytes, ...]

    def encode(self, *, seals: bool = True, round: bool = True) -> bytes:
        """The RLP Besu writes: everything; without seals (``seals=False``: an empty list, round
        kept — the commit-seal form); or without seals and round (``round=False``: round 0 — the
        on-chain hash form)."""
        vote: list[Any] = []
        if self.vote is not None:
            vote = [bytes.fromhex(self.vote.recipient[2:]), ADD if self.vote.add else DROP]
        return bytes(rlp.encode([
            self.vanity,
            [bytes.fromhex(v[2:]) for v in self.validators],
            vote,
            rc.int_bytes(self.round if round else 0),
            list(self.seals) if (seals and round) else [],
        ]))


def _address(item: Any, what: str) -> str:
    if not isinstance(item, bytes) or len(item) != 20:
        raise QbftError("malformed_extra_data", f"{what} is not a 20-byte address")
    return "0x" + item.hex()


def decode_extra_data(raw: bytes | str) -> ExtraData:
    """Decode QBFT ``extraData`` strictly (canonical RLP, exact sizes) or raise :class:`QbftError`."""
    data = rc.hex_bytes(raw) if isinstance(raw, str) else bytes(raw)
    if not data:
        raise QbftError("malformed_extra_data", "extraData is empty (a QBFT block needs its BFT data)")
    try:
        items = rlp.decode(data, strict=True)
    except rlp.exceptions.DecodingError as exc:
        raise QbftError("malformed_extra_data", f"not RLP: {exc}") from None
    if not isinstance(items, list) or len(items) != 5:
        raise QbftError("malformed_extra_data",
                        "extraData is not the list [vanity, validators, vote, round, seals]")
    vanity, validators, vote_item, round_item, seals = items
    if not isinstance(vanity, bytes) or len(vanity) != VANITY_LENGTH:
        raise QbftError("malformed_extra_data", f"vanity is not {VANITY_LENGTH} bytes")
    if not isinstance(validators, list):
        raise QbftError("malformed_extra_data", "validators is not a list")
    addrs = tuple(_address(v, f"validator {i}") for i, v in enumerate(validators))
    vote: Optional[Vote] = None
    if not isinstance(vote_item, list):
        raise QbftError("malformed_extra_data", "vote is not a list")
    if vote_item:
        if len(vote_item) != 2:
            raise QbftError("malformed_extra_data", "vote is not [recipient, type]")
        recipient = _address(vote_item[0], "vote recipient")
        if vote_item[1] == ADD:
            vote = Vote(recipient, True)
        elif vote_item[1] == DROP:
            vote = Vote(recipient, False)
        else:
            raise QbftError("malformed_extra_data", f"vote type {vote_item[1]!r} is neither add (0xff) nor drop (empty)")
    if not isinstance(round_item, bytes) or len(round_item) > 4 or round_item[:1] == b"\x00":
        raise QbftError("malformed_extra_data", "round is not a minimal RLP scalar of at most 4 bytes")
    round_number = int.from_bytes(round_item, "big")
    if round_number > MAX_ROUND:
        raise QbftError("malformed_extra_data", f"round {round_number} out of range")
    if not isinstance(seals, list):
        raise QbftError("malformed_extra_data", "commit seals is not a list")
    for i, s in enumerate(seals):
        if not isinstance(s, bytes) or len(s) != SEAL_LENGTH:
            raise QbftError("malformed_extra_data", f"commit seal {i} is not {SEAL_LENGTH} bytes")
    extra = ExtraData(vanity, addrs, vote, round_number, tuple(seals))
    if extra.encode() != data:
        raise QbftError("malformed_extra_data", "extraData is not canonically encoded")
    return extra


def genesis_extra_data(validators: Iterable[str], vanity: bytes = bytes(VANITY_LENGTH)) -> str:
    """The genesis ``extraData`` Besu's ``QbftExtraDataCodec.encodeFromAddresses`` writes."""
    addrs = tuple(normalise_address(v) for v in validators)
    return "0x" + ExtraData(vanity, addrs, None, 0, ()).encode().hex()


def normalise_address(value: str) -> str:
    text = value.lower()
    if not text.startswith("0x"):
        text = "0x" + text
    if len(text) != 42 or any(c not in "0123456789abcdef" for c in text[2:]):
        raise QbftError("malformed_extra_data", f"{value!r} is not an address")
    return text


# ---------------------------------------------------------------- hashing


def _number(header: Mapping[str, Any]) -> int:
    return rc.hex_int(header["number"])


def _hash_with_extra(header: Mapping[str, Any], extra: bytes) -> bytes:
    copy = dict(header)
    copy["extraData"] = "0x" + extra.hex()
    return keccak(rc.rlp_encode(rc.header_fields(copy)))


def block_hash(header: Mapping[str, Any]) -> str:
    """The block hash Besu gives a QBFT header (commit seals removed, round zeroed)."""
    if _number(header) == 0:
        return rc.header_hash(header)
    extra = decode_extra_data(header["extraData"])
    return "0x" + _hash_with_extra(header, extra.encode(seals=False, round=False)).hex()


def seal_digest(header: Mapping[str, Any]) -> bytes:
    """The 32 bytes each validator signs for its commit seal (seals removed, round kept)."""
    if _number(header) == 0:
        raise QbftError("genesis_not_sealed", "the genesis block carries no commit seals")
    extra = decode_extra_data(header["extraData"])
    return _hash_with_extra(header, extra.encode(seals=False))


def matching_hash(header: Mapping[str, Any]) -> str:
    """The header's hash under the rule it claims: the Ethereum rule (anvil, geth) or, failing
    that, Besu's QBFT rule. Returns the Ethereum-rule hash when neither matches ``header["hash"]``.
    Either rule binds every header field except the QBFT seals and round, so a header matching a
    trusted hash under one rule cannot carry other content."""
    eth = rc.header_hash(header)
    claimed = str(header.get("hash", "")).lower()
    if eth == claimed:
        return eth
    try:
        bft = block_hash(header)
    except QbftError:
        return eth
    return bft if bft == claimed else eth


def recover_seal(digest: bytes, seal: bytes) -> str:
    """The address whose key made ``seal`` over ``digest``; :class:`QbftError` when Besu would
    reject the signature (r or s outside [1, n), recId not 0/1) or nothing can be recovered."""
    if len(seal) != SEAL_LENGTH:
        raise QbftError("unrecoverable_seal", f"seal is {len(seal)} bytes, not {SEAL_LENGTH}")
    r, s, rec_id = int.from_bytes(seal[:32], "big"), int.from_bytes(seal[32:64], "big"), seal[64]
    if not (1 <= r < SECP256K1_N and 1 <= s < SECP256K1_N) or rec_id not in (0, 1):
        raise QbftError("unrecoverable_seal", "signature values out of range")
    try:
        pub = Signature(vrs=(rec_id, r, s)).recover_public_key_from_msg_hash(digest)
    except (BadSignature, ValidationError, ValueError) as exc:
        raise QbftError("unrecoverable_seal", f"no public key recovers: {exc}") from None
    return "0x" + pub.to_canonical_address().hex()


def quorum(validator_count: int) -> int:
    """Besu's BFT quorum: ceil(2n / 3) (``BftHelpers.calculateRequiredValidatorQuorum``)."""
    return -(-2 * validator_count // 3)


# ---------------------------------------------------------------- seal check


@dataclass
class SealCheck:
    """The verdict on one sealed header against a validator set."""

    number: int
    hash: Optional[str]                    # the QBFT block hash recomputed (None: unreadable)
    round: Optional[int]
    validators: tuple[str, ...]            # the set checked against (sorted)
    quorum: int
    signers: list[Optional[str]] = field(default_factory=list)  # per seal, None if unrecoverable
    problems: list[tuple[str, str]] = field(default_factory=list)  # (reason, message)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def reasons(self) -> list[str]:
        return [r for r, _ in self.problems]

    def summary(self) -> str:
        if self.ok:
            distinct = len({s for s in self.signers if s})
            return (f"block {self.number} {self.hash}: sealed by {distinct} of {len(self.validators)} "
                    f"validators (quorum {self.quorum})")
        return f"block {self.number}: " + "; ".join(f"{r}: {m}" for r, m in self.problems)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "number": self.number, "hash": self.hash, "round": self.round,
                "validators": list(self.validators), "quorum": self.quorum, "signers": self.signers,
                "problems": [{"reason": r, "detail": m} for r, m in self.problems], "summary": self.summary()}


def check_seals(header: Mapping[str, Any], validators: Iterable[str]) -> SealCheck:
    """Check a sealed QBFT header against the validator set that must have sealed it (the set
    after its parent). Every failure is named (:data:`REASONS`); nothing raises for bad input."""
    vset = tuple(sorted({normalise_address(v) for v in validators}))
    try:
        number = _number(header)
    except (KeyError, TypeError, ValueError):
        return SealCheck(-1, None, None, vset, quorum(len(vset)),
                         problems=[("malformed_extra_data", "header has no readable number")])
    check = SealCheck(number, None, None, vset, quorum(len(vset)))
    if not vset:
        check.problems.append(("validators_mismatch", "no validator set given"))
        return check
    if number == 0:
        check.problems.append(("genesis_not_sealed", "the genesis block carries no commit seals"))
        return check
    try:
        extra = decode_extra_data(header["extraData"])
        check.hash = block_hash(header)
        digest = seal_digest(header)
    except QbftError as exc:
        check.problems.append((exc.reason, exc.message))
        return check
    except (KeyError, TypeError, ValueError, rc.EncodingError) as exc:
        check.problems.append(("malformed_extra_data", f"header unreadable: {exc}"))
        return check
    check.round = extra.round
    claimed = header.get("hash")
    if claimed is not None and str(claimed).lower() != check.hash:
        check.problems.append(("hash_mismatch", f"header fields hash to {check.hash}, not {claimed}"))
    if extra.validators != vset:
        check.problems.append(("validators_mismatch",
                               f"the block lists validators {list(extra.validators)}, not the set {list(vset)}"))
    miner = str(header.get("miner", "")).lower()
    if miner not in vset:
        check.problems.append(("proposer_not_validator", f"proposer (coinbase) {miner} is not a validator"))
    seen: set[str] = set()
    for i, seal in enumerate(extra.seals):
        try:
            signer: Optional[str] = recover_seal(digest, seal)
        except QbftError as exc:
            check.problems.append((exc.reason, f"seal {i}: {exc.message}"))
            signer = None
        check.signers.append(signer)
        if signer is None:
            continue
        if signer not in vset:
            check.problems.append(("unknown_signer", f"seal {i} is signed by {signer}, not a validator"))
        elif signer in seen:
            check.problems.append(("duplicate_signer", f"seal {i} repeats validator {signer}"))
        seen.add(signer)
    valid = len(seen & set(vset))
    if valid < check.quorum:
        check.problems.append(("insufficient_seals",
                               f"{valid} distinct validator seals, quorum of {len(vset)} is {check.quorum}"))
    return check


# ---------------------------------------------------------------- validator set over time


@dataclass
class ValidatorTracker:
    """Besu's block-header validator selection, followed header by header from an epoch block
    (genesis included): the set in force, the outstanding votes, and each header's seal check."""

    validators: set[str]
    epoch_length: int
    number: int                      # the last block applied
    hash: str                        # its QBFT block hash
    add_votes: dict[str, set[str]] = field(default_factory=dict)
    drop_votes: dict[str, set[str]] = field(default_factory=dict)

    @classmethod
    def from_genesis(cls, genesis: Mapping[str, Any], block0: Mapping[str, Any]) -> ValidatorTracker:
        """Start at block 0: the validators and epoch length from the genesis file, the hash from
        block 0 as the node returns it (a genesis file alone lacks the state root)."""
        vset, epoch = validators_from_genesis(genesis)
        if rc.hex_int(block0["number"]) != 0 or str(block0["extraData"]).lower() != str(genesis["extraData"]).lower():
            raise QbftError("chain_break", "block 0 is not this genesis (number or extraData differ)")
        computed = rc.header_hash(block0)
        if computed != str(block0.get("hash", computed)).lower():
            raise QbftError("hash_mismatch", f"block 0 fields hash to {computed}, not {block0['hash']}")
        return cls(set(vset), epoch, 0, computed)

    def apply(self, header: Mapping[str, Any]) -> SealCheck:
        """Check the next header (number, parent link, seals against the current set) and, if it
        holds, apply its vote. A failed header changes nothing."""
        check = check_seals(header, self.validators)
        number = check.number
        if number != self.number + 1:
            check.problems.append(("chain_break", f"block {number} does not follow block {self.number}"))
        elif str(header.get("parentHash", "")).lower() != self.hash:
            check.problems.append(("chain_break", f"block {number} parentHash is not block {self.number}'s hash"))
        if not check.ok:
            return check
        assert check.hash is not None
        self.number, self.hash = number, check.hash
        if number % self.epoch_length == 0:
            self.add_votes.clear()
            self.drop_votes.clear()
            return check
        vote = decode_extra_data(header["extraData"]).vote
        if vote is not None:
            self._tally(str(header["miner"]).lower(), vote)
        return check

    def _tally(self, proposer: str, vote: Vote) -> None:
        adds = self.add_votes.setdefault(vote.recipient, set())
        drops = self.drop_votes.setdefault(vote.recipient, set())
        (adds if vote.add else drops).add(proposer)
        (drops if vote.add else adds).discard(proposer)
        limit = len(self.validators) // 2 + 1
        if len(adds) >= limit:
            self.validators.add(vote.recipient)
            self.add_votes.pop(vote.recipient, None)
            self.drop_votes.pop(vote.recipient, None)
        if len(drops) >= limit:
            self.validators.discard(vote.recipient)
            self.add_votes.pop(vote.recipient, None)
            self.drop_votes.pop(vote.recipient, None)
            for voters in list(self.add_votes.values()) + list(self.drop_votes.values()):
                voters.discard(vote.recipient)


def follow_chain(genesis: Mapping[str, Any], block0: Mapping[str, Any],
                 headers: Sequence[Mapping[str, Any]]) -> tuple[list[SealCheck], set[str]]:
    """Check ``headers`` (blocks 1..n, ascending) from genesis, following validator votes; stops
    at the first failure. Returns the checks made and the validator set after the last good block."""
    tracker = ValidatorTracker.from_genesis(genesis, block0)
    checks = []
    for h in headers:
        c = tracker.apply(h)
        checks.append(c)
        if not c.ok:
            break
    return checks, set(tracker.validators)


# ---------------------------------------------------------------- genesis and validator files


def validators_from_genesis(genesis: Mapping[str, Any]) -> tuple[tuple[str, ...], int]:
    """(validators, epochlength) of a Besu QBFT genesis in block-header validator mode."""
    config = genesis.get("config")
    if not isinstance(config, Mapping):
        raise QbftError("unsupported_genesis", "genesis has no config")
    lowered = {str(k).lower(): v for k, v in config.items()}
    bft = lowered.get("qbft")
    if not isinstance(bft, Mapping):
        raise QbftError("unsupported_genesis", "genesis config has no qbft section")
    bft_keys = {str(k).lower(): v for k, v in bft.items()}
    if bft_keys.get("validatorcontractaddress"):
        raise QbftError("unsupported_genesis", "validator selection by contract is not supported")
    transitions = lowered.get("transitions")
    if transitions:
        raise QbftError("unsupported_genesis", "genesis transitions are not supported")
    epoch = int(bft_keys.get("epochlength", 30000))
    if epoch <= 0:
        raise QbftError("unsupported_genesis", f"epochlength {epoch} is not positive")
    if "extraData" not in genesis:
        raise QbftError("unsupported_genesis", "genesis has no extraData")
    extra = decode_extra_data(str(genesis["extraData"]))
    if not extra.validators:
        raise QbftError("unsupported_genesis", "genesis extraData lists no validators")
    return tuple(sorted(extra.validators)), epoch


def load_validators(path: str | Path) -> tuple[str, ...]:
    """A validator set from a file: a Besu QBFT genesis (its extraData), a JSON list of
    addresses, ``{"validators": [...]}``, or text with one address per line. Sorted, lowercase."""
    text = Path(path).read_text()
    try:
        data: Any = json.loads(text)
    except ValueError:
        data = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if isinstance(data, Mapping) and "extraData" in data:
        return validators_from_genesis(data)[0]
    if isinstance(data, Mapping):
        data = data.get("validators")
    if not isinstance(data, list) or not data or not all(isinstance(a, str) for a in data):
        raise QbftError("unsupported_genesis", f"{path}: not a genesis, a list of addresses, or {{'validators': [...]}}")
    addrs = [normalise_address(a) for a in data]
    if len(set(addrs)) != len(addrs):
        raise QbftError("unsupported_genesis", f"{path}: a validator is listed twice")
    return tuple(sorted(addrs))


def header_from_rlp(raw: bytes | str) -> dict[str, Any]:
    """The JSON-RPC shape of an RLP-encoded header (the fields :mod:`receipts` hashes)."""
    data = rc.hex_bytes(raw) if isinstance(raw, str) else bytes(raw)
    items = rlp.decode(data, strict=True)
    kinds = rc.HEADER_FIELDS + rc.HEADER_OPTIONAL
    if not isinstance(items, list) or not len(rc.HEADER_FIELDS) <= len(items) <= len(kinds):
        raise QbftError("malformed_extra_data", "not an RLP block header")
    out: dict[str, Any] = {}
    for (key, kind), value in zip(kinds, items):
        if not isinstance(value, bytes):
            raise QbftError("malformed_extra_data", f"header field {key} is a list")
        out[key] = hex(int.from_bytes(value, "big")) if kind == "i" else "0x" + value.hex()
    return out
