"""Typed clients of every dataledger contract, over one generic :class:`ContractClient`.

Get them from a :class:`~ledger.chain.Ledger`: ``ledger.participants``, ``ledger.assets``,
``ledger.customs``, ``ledger.vouchers``, ``ledger.token``, ``ledger.settlement``,
``ledger.forwarder``. Reverts surface as :class:`~ledger.errors.ContractRevert` (decoded), and a
voucher move the contract would refuse as :class:`~ledger.errors.TransferRefused`.
"""

from ledger.contracts.base import ZERO_ADDRESS, ContractClient, TxResult, jsonable
from ledger.contracts.models import (
    Asset,
    AssetStatus,
    Clearance,
    ClearanceState,
    ManifestVersion,
    Organisation,
    Participant,
    RecoveryProposal,
    Restriction,
    RightType,
    Role,
    Side,
    SourceType,
    Status,
    Valuation,
    Voucher,
    VoucherStatus,
)
from ledger.contracts.registries import AssetsClient, CustomsClient, ParticipantsClient
from ledger.contracts.settlement import Order, PaymentTokenClient, SettlementClient, SignedOrder
from ledger.contracts.vouchers import ForwarderClient, ForwardRequest, VouchersClient

__all__ = [
    "Asset", "AssetStatus", "AssetsClient", "ClearanceState", "Clearance", "ContractClient", "CustomsClient",
    "ForwardRequest", "ForwarderClient", "ManifestVersion", "Order", "Organisation", "Participant",
    "ParticipantsClient", "PaymentTokenClient", "RecoveryProposal", "Restriction", "RightType", "Role", "SettlementClient",
    "Side", "SignedOrder", "SourceType", "Status", "TxResult", "Valuation", "Voucher", "VoucherStatus",
    "VouchersClient", "ZERO_ADDRESS", "jsonable",
]
