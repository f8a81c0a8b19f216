"""The provenance shape (consumed by `dataledger verify`)."""

from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel

from gateway.services.story import Story


class ProvenanceLinks(BaseModel):
    asset_id: Optional[int] = None
    voucher_id: Optional[int] = None
    trade_id: Optional[str] = None
    clearance_id: Optional[int] = None


class ProvenanceEvent(BaseModel):
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int
    contract: str
    address: str
    event: str
    args: dict[str, Any]
    links: ProvenanceLinks
    #: argument paths hidden from this caller (their values are null): gateway.services.redaction
    redacted: list[str] = []
    #: the block's time: unix seconds and ISO 8601 in +08:00
    timestamp: Optional[int] = None
    time: Optional[str] = None
    #: the event as one sentence with names and ¥ amounts (gateway.services.story); args stay raw
    story: Optional[Story] = None


class StateVerification(BaseModel):
    """What this response is: the gateway's word, not checked against the chain in this response."""

    status: str = "unverified"
    check: str  # the route that checks every event and served field against the chain


class ProvenanceVerification(StateVerification):
    offline: str  # the proof bundle to check offline


class ProvenancePublic(BaseModel):
    subject: dict[str, Any]
    events: list[ProvenanceEvent]
    verification: Optional[ProvenanceVerification] = None


def provenance_verification(plural: str, subject_id: int) -> ProvenanceVerification:
    return ProvenanceVerification(check=f"/v1/{plural}/{subject_id}/verification",
                                  offline=f"/v1/{plural}/{subject_id}/bundle")


def participant_verification(account: str) -> StateVerification:
    """A participant's standing is the gateway's word until checked (no offline bundle for participants)."""
    return StateVerification(check=f"/v1/participants/{account}/verification")
