"""The provenance shape (consumed by `dataledger verify`)."""

from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel


class ProvenanceLinks(BaseModel):
    asset_id: Optional[int] = None
    voucher_id: Optional[int] = None
    trade_id: Optional[str] = None
    case_id: Optional[int] = None


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


class ProvenancePublic(BaseModel):
    subject: dict[str, Any]
    events: list[ProvenanceEvent]
