"""What a verification finds: the verdict of a history (:class:`Verdict`), of each event
(:class:`EventVerdict`), block (:class:`BlockCheck`) and manifest (:class:`ManifestCheck`), and the
chain's side of a history with the blocks that prove it (:class:`ChainHistory`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Optional

FAIL_STATUSES = frozenset({"missing", "extra", "altered", "reordered", "non_canonical", "unproven"})

#: verdict -> process exit code of ``dataledger verify`` (2: could not run / bad arguments)
EXIT_CODES = {"verified": 0, "mismatch": 1, "unknown": 3, "behind": 4}


class VerifyError(RuntimeError):
    """The verification could not run (node unreachable, no deployment record, bad input)."""


@dataclass
class EventVerdict:
    status: str  # ok | missing | extra | altered | reordered | non_canonical | unproven | not_indexed
    block_number: int
    log_index: int
    tx_hash: str = ""
    contract: str = ""
    event: str = ""
    position: Optional[int] = None  # index in the served list (None: not served)
    chain_position: Optional[int] = None  # index in the chain history (None: not on chain)
    fields: list[str] = field(default_factory=list)
    detail: str = ""
    proof: str = ""  # chain-side proof of the log: ok / what failed
    manifest: str = ""  # ok / what failed, for manifest events
    redacted: list[str] = field(default_factory=list)  # fields the gateway withholds: not checked

    @property
    def failed(self) -> bool:
        return self.status in FAIL_STATUSES or (self.manifest not in ("", "ok"))


@dataclass
class BlockCheck:
    number: int
    hash: str
    header_hash_ok: bool
    receipts_root_ok: bool
    receipts: int
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.header_hash_ok and self.receipts_root_ok


@dataclass
class ManifestCheck:
    asset_id: int
    version: int
    cid: str
    content_hash: str
    status: str  # ok | mismatch | unavailable
    detail: str = ""
    block_number: int = 0
    log_index: int = 0


@dataclass
class Verdict:
    kind: str
    id: int | str  # a voucher / asset id, or a participant's address
    chain_id: int
    ok: bool
    summary: str
    head: dict[str, Any]
    compared_to_block: int
    source: Optional[str]
    counts: dict[str, int]
    events: list[EventVerdict]
    blocks: list[BlockCheck]
    manifests: list[ManifestCheck]
    problems: list[str]
    timings: dict[str, float] = field(default_factory=dict)
    rpc_calls: int = 0
    rpc_requests: int = 0
    #: verified | mismatch | behind | unknown  (exit codes 0 | 1 | 4 | 3, see EXIT_CODES)
    verdict: str = "verified"
    #: the block the verifier chose (node head or --block): the chain side is read up to it
    block: int = 0
    #: the gateway's claimed indexed height (None: not said / no gateway)
    gateway_block: Optional[int] = None
    behind_by: int = 0
    #: one check per served field (gateway.verify.state.FieldCheck)
    state: list[Any] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.verdict]

    def mismatches(self) -> list[str]:
        """Every named difference: state fields first, then events."""
        out = [c.describe() for c in self.state if c.failed]
        out += [f"{self.kind} {self.id} event {v.contract}.{v.event} at block {v.block_number} log {v.log_index}: "
                f"{v.status}" + (f" ({', '.join(v.fields)})" if v.fields else "") + (f": {v.detail}" if v.detail else "")
                for v in self.events if v.failed]
        return out

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["exit_code"] = self.exit_code
        out["mismatches"] = self.mismatches()
        counts: dict[str, int] = {}
        for c in self.state:
            counts[c.status] = counts.get(c.status, 0) + 1
        out["state_counts"] = counts
        return out


@dataclass
class ChainHistory:
    """The chain's view of one history, with the blocks that prove it."""

    kind: str
    subject_id: int
    chain_id: int
    contracts: dict[str, dict[str, Any]]
    from_block: int
    head: dict[str, Any]  # {"number", "hash"} pinned at the start
    events: list[dict[str, Any]]
    logs: dict[tuple[int, int], dict[str, Any]]  # raw logs by (block, log index)
    manifest_events: list[dict[str, Any]]
    headers: dict[int, dict[str, Any]] = field(default_factory=dict)
    receipts: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    blocks: list[BlockCheck] = field(default_factory=list)
    proofs: dict[tuple[int, int], str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
