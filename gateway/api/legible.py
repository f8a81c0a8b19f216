"""The readable fields the API adds beside the raw ones (gateway.services.legible.enrich fills
them): names of the organisations behind addresses (``<field>_name`` in English, else Chinese;
``<field>_name_zh`` in Chinese, else English; null when no verified profile), amounts as decimal
strings (``<field>_decimal``, scale ``decimals``, ``currency``), times as ISO 8601 in +08:00
(``<field>_iso``, beside the unix seconds), jurisdictions, rights, levels and source types by name."""

from __future__ import annotations

from typing import Optional

from pydantic import BaseModel

from gateway.services.legible import CURRENCY, DECIMALS, OrganisationName


class _Amounts(BaseModel):
    currency: str = CURRENCY
    decimals: int = DECIMALS


class AssetNames(BaseModel):
    holder_name: Optional[str] = None
    holder_name_zh: Optional[str] = None
    registered_at_iso: Optional[str] = None
    home_jurisdiction_name: Optional[str] = None
    level_name: Optional[str] = None
    source_type_name: Optional[str] = None
    #: from the verified manifest (null until fetched and checked against the CID and contentHash)
    title: Optional[str] = None
    title_zh: Optional[str] = None
    description: Optional[str] = None
    description_zh: Optional[str] = None
    publisher: Optional[str] = None
    keywords: list[str] = []
    themes: list[str] = []
    #: pending | missing | verified | mismatch | invalid (gateway.services.documents)
    manifest_status: Optional[str] = None


class VoucherNames(BaseModel):
    issuer_name: Optional[str] = None
    issuer_name_zh: Optional[str] = None
    holder_name: Optional[str] = None
    holder_name_zh: Optional[str] = None
    valid_from_iso: Optional[str] = None
    valid_until_iso: Optional[str] = None
    issued_at_iso: Optional[str] = None
    right_key: Optional[str] = None
    asset_title: Optional[str] = None
    asset_title_zh: Optional[str] = None


class TradeNames(_Amounts):
    seller_name: Optional[str] = None
    seller_name_zh: Optional[str] = None
    buyer_name: Optional[str] = None
    buyer_name_zh: Optional[str] = None
    exchange_name: Optional[str] = None
    exchange_name_zh: Optional[str] = None
    price_decimal: Optional[str] = None
    fee_decimal: Optional[str] = None
    settled_at_iso: Optional[str] = None
    asset_title: Optional[str] = None
    asset_title_zh: Optional[str] = None


class ValuationNames(_Amounts):
    appraiser_name: Optional[str] = None
    appraiser_name_zh: Optional[str] = None
    amount_decimal: Optional[str] = None


class BrokerPaymentNames(_Amounts):
    broker_name: Optional[str] = None
    broker_name_zh: Optional[str] = None
    client_name: Optional[str] = None
    client_name_zh: Optional[str] = None
    amount_decimal: Optional[str] = None


class TransferNames(BaseModel):
    from_address_name: Optional[str] = None
    from_address_name_zh: Optional[str] = None
    to_address_name: Optional[str] = None
    to_address_name_zh: Optional[str] = None


class UserNames(BaseModel):
    user_name: Optional[str] = None
    user_name_zh: Optional[str] = None
    holder_name: Optional[str] = None
    holder_name_zh: Optional[str] = None


class UseNames(UserNames):
    used_at_iso: Optional[str] = None
    #: the purpose document (CID rebuilt from purpose_hash); text only for callers the redaction policy allows
    purpose_cid: Optional[str] = None
    purpose_text: Optional[str] = None
    purpose_status: Optional[str] = None


class ClearanceNames(BaseModel):
    requester_name: Optional[str] = None
    requester_name_zh: Optional[str] = None
    recipient_name: Optional[str] = None
    recipient_name_zh: Optional[str] = None
    officer_name: Optional[str] = None
    officer_name_zh: Optional[str] = None
    destination_name: Optional[str] = None
    expiry_iso: Optional[str] = None
    purpose_text: Optional[str] = None
    conditions_text: Optional[str] = None
    purpose_status: Optional[str] = None
    conditions_status: Optional[str] = None


class ParticipantNames(BaseModel):
    organisation_names: Optional[OrganisationName] = None
    jurisdiction_name: Optional[str] = None
    licence_expiry_iso: Optional[str] = None
    added_by_name: Optional[str] = None
    added_by_name_zh: Optional[str] = None


class OrganisationNames(BaseModel):
    name_zh: Optional[str] = None
    name_en: Optional[str] = None
    credit_code: Optional[str] = None
    jurisdiction_name: Optional[str] = None
    profile_cid_text: Optional[str] = None
    profile_status: str = "none"
    officer_name: Optional[str] = None
    officer_name_zh: Optional[str] = None
