"""SQL schema of the gateway (SQLModel), written by the indexer and read by the API.

Conventions (they make the index byte-comparable across SQLite and PostgreSQL):

- addresses, hashes, bytesN and bytes values are lowercase ``0x`` hex strings;
- jurisdictions (bytes2) and currencies (bytes3) are their ASCII text ("CN", "CNY");
- uint256 *amounts* (balances, prices, fees, valuations) are exact decimal strings (SQLite has
  no 256-bit numeric); counters and ids (asset, voucher, clearance ids) are BIGINT;
- every row that comes from an event carries the block number (and tx hash / log index where
  one event makes the row), so the API can hand a regulator the provenance to re-check.

Families (``XBase`` fields, ``X`` table, ``XPublic`` API shape) exist where the API reads a
table. Rows are only ever written by the indexer (gateway.indexer), never by the API, so there
are no ``XCreate`` models for projections.

Tables in the canonical dump (gateway.indexer.store.dump): everything except ``indexer_state``
(progress counters, timestamps) and ``indexer_undo`` (reorg bookkeeping whose extent depends
on how close to the head a block was indexed).
"""

from __future__ import annotations

from typing import Any, Optional

from sqlalchemy import BigInteger, Index, Text
from sqlmodel import Field, SQLModel

# ---------------------------------------------------------------- indexer bookkeeping


class IndexerState(SQLModel, table=True):
    """One row (id=1): where the index stands. Committed in the same transaction as the rows."""

    __tablename__ = "indexer_state"

    id: int = Field(default=1, primary_key=True)
    chain_id: int = Field(sa_type=BigInteger)
    #: last block fully indexed (every event at or below it is in ``events``), -1 before the first
    last_block: int = Field(sa_type=BigInteger)
    last_block_hash: str
    #: node head seen at the last commit (lag = head_block - last_block)
    head_block: int = Field(default=0, sa_type=BigInteger)
    reorgs: int = Field(default=0)
    #: canonical JSON {name: address} of the followed contracts (a different set needs a fresh index)
    contracts: str = Field(default="{}", sa_type=Text)
    events_total: int = Field(default=0, sa_type=BigInteger)
    #: undo pre-images are complete for every block >= undo_from (NULL: none recorded yet)
    undo_from: Optional[int] = Field(default=None, sa_type=BigInteger)
    updated_at: float = Field(default=0.0)


class IndexerUndo(SQLModel, table=True):
    """Pre-images of state-table rows for blocks within the reorg window: one row per (block,
    table) with the keys first changed in that block and their rows before it (null: absent)."""

    __tablename__ = "indexer_undo"
    __table_args__ = (Index("ix_indexer_undo_block", "block_number"),)

    id: Optional[int] = Field(default=None, primary_key=True)
    block_number: int = Field(sa_type=BigInteger)
    table_name: str
    key: str = Field(sa_type=Text)  # canonical JSON list of primary keys (each a list of values)
    row: str = Field(sa_type=Text)  # canonical JSON list of pre-images (objects, or null = absent)


# ---------------------------------------------------------------- chain data


class BlockBase(SQLModel):
    number: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})
    hash: str = Field(unique=True)
    parent_hash: str
    timestamp: int = Field(sa_type=BigInteger)


class Block(BlockBase, table=True):
    """A block holding at least one event of the followed contracts."""

    __tablename__ = "blocks"


class BlockPublic(BlockBase):
    pass


class EventBase(SQLModel):
    block_number: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})
    log_index: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    block_hash: str
    tx_hash: str = Field(index=True)
    tx_index: int
    address: str
    contract: str
    #: event name from the ABI; "" when the log matched no event of the contract's ABI
    event: str
    #: canonical JSON of the decoded arguments (see gateway.indexer.decode)
    args: str = Field(sa_type=Text)


class Event(EventBase, table=True):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_contract_event", "contract", "event"),
    )


class EventPublic(SQLModel):
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int
    address: str
    contract: str
    event: str
    args: dict[str, Any]


# ---------------------------------------------------------------- participants


class OrganisationBase(SQLModel):
    org_id: str = Field(primary_key=True)
    jurisdiction: str
    allowed_roles: int
    officer: str
    status: str  # active | suspended
    registrar: str
    registered_block: int = Field(sa_type=BigInteger)
    updated_block: int = Field(sa_type=BigInteger)
    #: binary CID (0x hex) of the profile document the registrar recorded (OrganisationProfileSet;
    #: migration 0005); null until set. The document itself is in ``documents``.
    profile_cid: Optional[str] = None


class Organisation(OrganisationBase, table=True):
    __tablename__ = "organisations"


class OrganisationPublic(OrganisationBase):
    pass


class ParticipantBase(SQLModel):
    account: str = Field(primary_key=True)
    org_id: str = Field(index=True)
    jurisdiction: str
    roles: int
    licence_expiry: int = Field(default=0, sa_type=BigInteger)
    status: str  # active | suspended | removed
    added_by: str
    added_block: int = Field(sa_type=BigInteger)
    updated_block: int = Field(sa_type=BigInteger)


class Participant(ParticipantBase, table=True):
    __tablename__ = "participants"


class ParticipantPublic(ParticipantBase):
    pass


# ---------------------------------------------------------------- assets


class AssetBase(SQLModel):
    asset_id: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})
    holder: str = Field(index=True)
    content_hash: str
    manifest_cid: str
    #: latest manifest version (0 = the registration)
    manifest_version: int
    level: int
    source_type: int
    home_jurisdiction: str
    status: str  # active | frozen | revoked
    valuation_count: int = 0
    registered_block: int = Field(sa_type=BigInteger)
    registered_tx: str
    registered_at: int = Field(sa_type=BigInteger)
    updated_block: int = Field(sa_type=BigInteger)


class Asset(AssetBase, table=True):
    __tablename__ = "assets"


class AssetPublic(AssetBase):
    pass


class AssetManifestBase(SQLModel):
    asset_id: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})
    version: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    manifest_cid: str
    content_hash: str
    holder: str
    block_number: int = Field(sa_type=BigInteger)
    tx_hash: str
    log_index: int


class AssetManifest(AssetManifestBase, table=True):
    __tablename__ = "asset_manifests"


class AssetManifestPublic(AssetManifestBase):
    pass


class ValuationBase(SQLModel):
    asset_id: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})
    index: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})
    appraiser: str
    amount: str  # decimal string
    currency: str
    method: str
    report_cid: str
    block_number: int = Field(sa_type=BigInteger)
    tx_hash: str
    log_index: int


class Valuation(ValuationBase, table=True):
    __tablename__ = "valuations"


#: amounts in API responses: the exact decimal string of fen and the two fields that say so
AMOUNT_DOC = ("exact decimal string in the currency's smallest unit (10^-decimals of currency): "
              "\"15000000\" with currency CNY and decimals 2 is ¥150,000.00")


class ValuationPublic(ValuationBase):
    amount: str = Field(description=AMOUNT_DOC)
    decimals: int = Field(default=2, description="decimals of amount (fen: 2)")


# ---------------------------------------------------------------- vouchers


class VoucherBase(SQLModel):
    voucher_id: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})
    asset_id: int = Field(sa_type=BigInteger)  # indexed with voucher_id (Voucher.__table_args__)
    issuer: str
    holder: str  # indexed with voucher_id (Voucher.__table_args__)
    right: int
    scope_hash: str
    valid_from: int = Field(sa_type=BigInteger)
    valid_until: int = Field(sa_type=BigInteger)
    max_uses: int = Field(sa_type=BigInteger)
    uses: int = Field(default=0, sa_type=BigInteger)
    transferable: bool
    status: str  # active | frozen | revoked   (expiry is a function of time: the API compares valid_until)
    issued_block: int = Field(sa_type=BigInteger)
    issued_tx: str
    issued_at: int = Field(sa_type=BigInteger)
    updated_block: int = Field(sa_type=BigInteger)


class Voucher(VoucherBase, table=True):
    __tablename__ = "vouchers"
    #: the voucher lists filtered by holder, asset or status, in voucher id order (GET /v1/vouchers, /vouchers):
    #: each filter with the order column, so that a page is a range of one index (migration 0007)
    __table_args__ = (Index("ix_vouchers_holder_voucher_id", "holder", "voucher_id"),
                      Index("ix_vouchers_asset_id_voucher_id", "asset_id", "voucher_id"),
                      Index("ix_vouchers_status_voucher_id", "status", "voucher_id"))


class VoucherPublic(VoucherBase):
    pass


class VoucherTransferBase(SQLModel):
    """Every ownership change of a voucher (mint: from = 0x0; regulator recovery included)."""

    block_number: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})
    log_index: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    voucher_id: int = Field(index=True, sa_type=BigInteger)
    from_address: str
    to_address: str
    tx_hash: str


class VoucherTransfer(VoucherTransferBase, table=True):
    __tablename__ = "voucher_transfers"


class VoucherTransferPublic(VoucherTransferBase):
    pass


class VoucherUserBase(SQLModel):
    voucher_id: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})
    user: str = Field(primary_key=True)
    #: the holder that gave the authorisation: on chain it belongs to that holder, lapses when the
    #: voucher leaves it and applies again when the voucher returns (migration 0002)
    holder: str = Field(primary_key=True)
    allowed: bool
    updated_block: int = Field(sa_type=BigInteger)


class VoucherUser(VoucherUserBase, table=True):
    __tablename__ = "voucher_users"


class VoucherUserPublic(VoucherUserBase):
    pass


class VoucherUseBase(SQLModel):
    voucher_id: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})
    use_number: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})
    asset_id: int = Field(sa_type=BigInteger)
    user: str
    holder: str
    purpose_hash: str
    block_number: int = Field(sa_type=BigInteger)
    tx_hash: str
    log_index: int
    used_at: int = Field(sa_type=BigInteger)


class VoucherUse(VoucherUseBase, table=True):
    __tablename__ = "voucher_uses"


class VoucherUsePublic(VoucherUseBase):
    pass


# ---------------------------------------------------------------- customs, trades, payment


class ClearanceBase(SQLModel):
    clearance_id: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})
    asset_id: int = Field(index=True, sa_type=BigInteger)
    requester: str
    destination: str
    recipient: str
    purpose_cid: str
    status: str  # requested | approved | rejected | revoked
    officer: Optional[str] = None
    expiry: Optional[int] = Field(default=None, sa_type=BigInteger)
    conditions_cid: Optional[str] = None
    reason: Optional[str] = None
    requested_block: int = Field(sa_type=BigInteger)
    updated_block: int = Field(sa_type=BigInteger)


class Clearance(ClearanceBase, table=True):
    __tablename__ = "clearances"


class ClearancePublic(ClearanceBase):
    pass


class TradeBase(SQLModel):
    trade_id: str = Field(primary_key=True)
    voucher_id: int = Field(index=True, sa_type=BigInteger)
    asset_id: int = Field(sa_type=BigInteger)
    seller: str
    buyer: str
    exchange: str
    payment_token: str
    price: str  # decimal string
    fee: str  # decimal string
    block_number: int = Field(sa_type=BigInteger)
    tx_hash: str
    log_index: int
    settled_at: int = Field(sa_type=BigInteger)


class Trade(TradeBase, table=True):
    __tablename__ = "trades"


class TradePublic(TradeBase):
    price: str = Field(description=AMOUNT_DOC)
    fee: str = Field(description="the exchange's fee; " + AMOUNT_DOC)
    currency: str = Field(default="CNY", description="currency of price and fee (the payment token's)")
    decimals: int = Field(default=2, description="decimals of price and fee (fen: 2)")


class BrokerPaymentBase(SQLModel):
    block_number: int = Field(primary_key=True, sa_type=BigInteger, sa_column_kwargs={"autoincrement": False})
    log_index: int = Field(primary_key=True, sa_column_kwargs={"autoincrement": False})
    trade_id: str = Field(index=True)
    broker: str
    client: str
    amount: str


class BrokerPayment(BrokerPaymentBase, table=True):
    __tablename__ = "broker_payments"


class BrokerPaymentPublic(BrokerPaymentBase):
    amount: str = Field(description=AMOUNT_DOC)
    currency: str = Field(default="CNY", description="currency of amount")
    decimals: int = Field(default=2, description="decimals of amount (fen: 2)")


class PaymentBalanceBase(SQLModel):
    account: str = Field(primary_key=True)
    balance: str  # decimal string, token base units (2 decimals)
    updated_block: int = Field(sa_type=BigInteger)


class PaymentBalance(PaymentBalanceBase, table=True):
    __tablename__ = "payment_balances"


class PaymentBalancePublic(PaymentBalanceBase):
    balance: str = Field(description=AMOUNT_DOC)
    currency: str = Field(default="CNY", description="currency of balance")
    decimals: int = Field(default=2, description="decimals of balance (fen: 2)")


# ---------------------------------------------------------------- the API's own state (not chain data)


class RevokedSession(SQLModel, table=True):
    """Session ids signed out before they expire (POST /v1/auth/logout); checked on every
    authenticated request by every gateway process over the database. Rows past ``expires_at``
    are pruned (the token is dead by then anyway)."""

    __tablename__ = "revoked_sessions"

    sid: str = Field(primary_key=True)
    address: str
    expires_at: int = Field(sa_type=BigInteger)
    revoked_at: float


class RelayBudget(SQLModel, table=True):
    """Relay spending per key (``signer:<address>`` or ``ip:<address>``) in the current period
    (``period`` = unix time // RELAY_BUDGET_PERIOD): requests and summed gas limits. Shared by
    every gateway process over the database."""

    __tablename__ = "relay_budgets"

    key: str = Field(primary_key=True)
    period: int = Field(sa_type=BigInteger)
    requests: int = Field(sa_type=BigInteger)
    gas: int = Field(sa_type=BigInteger)


class IndexerWriter(SQLModel, table=True):
    """The indexer process holding the writer lock (one row, id 1), written by that process under
    the lock when it takes over and refreshed by its heartbeat (gateway.indexer.leader).
    ``backend_pid`` is the PostgreSQL backend of its lock session: /health checks in ``pg_locks``
    that this backend still holds the lock (a killed writer's row is then shown as not active)."""

    __tablename__ = "indexer_writer"

    id: int = Field(primary_key=True)
    host: str
    pid: int
    started_at: float
    acquired_at: float
    heartbeat_at: float
    backend_pid: Optional[int] = None


class RelayerNonce(SQLModel, table=True):
    """The next transaction nonce of a relayer account on a chain, shared by every gateway process
    relaying with that key (gateway.services.relaynonce): one atomic UPDATE hands out each nonce."""

    __tablename__ = "relayer_nonces"

    chain_id: int = Field(primary_key=True, sa_type=BigInteger)
    address: str = Field(primary_key=True)
    next_nonce: int = Field(sa_type=BigInteger)
    updated_at: float


class RateLimitBucket(SQLModel, table=True):
    """A token bucket of the API rate limits (gateway.core.ratelimit.DbTokenBuckets), shared by
    every gateway process over the database: tokens left at ``updated_at`` (unix seconds) and
    whether the last take was allowed. Idle (refilled) buckets are pruned."""

    __tablename__ = "rate_limit_buckets"

    key: str = Field(primary_key=True)
    tokens: float
    updated_at: float = Field(index=True)
    allowed: bool


# ---------------------------------------------------------------- documents (off chain, migration 0005)


class Document(SQLModel, table=True):
    """A document whose CID the chain records (organisation profile, dataset manifest, use purpose,
    clearance purpose / conditions), fetched from the gateway's IPFS store and checked against its CID
    by gateway.services.documents. Content-addressed, so reorgs never invalidate a row; which
    organisation / asset / use a document belongs to is read from the projections (the CID they hold).

    ``status``: pending (not fetched yet, or retried later: ``attempts``, ``next_attempt_at``,
    ``error``) | verified (bytes hash to the CID; for manifests also to the asset's contentHash) |
    mismatch (bytes do not hash to what the chain records: never used, ``error`` says what) |
    invalid (bytes verified but not a document of its kind: ``error``). Only verified rows feed names,
    fields and search."""

    __tablename__ = "documents"
    __table_args__ = (Index("ix_documents_chain_cid", "chain_cid"), Index("ix_documents_status", "status"))

    cid: str = Field(primary_key=True)  # CID text (base32 CIDv1 or Qm...)
    chain_cid: str  # binary CID as 0x hex (the form the contracts record)
    kind: str  # profile | manifest | purpose | conditions
    status: str = "pending"
    attempts: int = 0
    next_attempt_at: float = 0.0
    error: Optional[str] = Field(default=None, sa_type=Text)
    first_seen_block: int = Field(default=0, sa_type=BigInteger)
    fetched_at: Optional[float] = None
    byte_size: Optional[int] = Field(default=None, sa_type=BigInteger)
    sha256: Optional[str] = None
    #: the verified bytes as text (UTF-8 JSON or plain text); null unless verified
    body: Optional[str] = Field(default=None, sa_type=Text)
    name_zh: Optional[str] = None
    name_en: Optional[str] = None
    credit_code: Optional[str] = Field(default=None, index=True)
    jurisdiction: Optional[str] = None
    title: Optional[str] = Field(default=None, sa_type=Text)
    title_zh: Optional[str] = Field(default=None, sa_type=Text)
    description: Optional[str] = Field(default=None, sa_type=Text)
    description_zh: Optional[str] = Field(default=None, sa_type=Text)
    publisher: Optional[str] = None
    publisher_id: Optional[str] = None
    keywords: Optional[str] = Field(default=None, sa_type=Text)  # JSON list
    themes: Optional[str] = Field(default=None, sa_type=Text)  # JSON list
    #: what search matches (names, code, title, description, publisher, keywords, themes, the CID)
    search_text: Optional[str] = Field(default=None, sa_type=Text)


#: Tables left out of the canonical dump (volatile bookkeeping, see the module docstring; and the
#: API's own state, which is not derived from the chain).
VOLATILE_TABLES = frozenset({"indexer_state", "indexer_undo", "revoked_sessions", "relay_budgets",
                             "indexer_writer", "relayer_nonces", "rate_limit_buckets", "documents"})

#: Database objects kept by migration 0005 outside the SQLModel metadata (alembic's comparison skips
#: them): the SQLite FTS5 trigram index of ``documents.search_text`` (and its shadow tables) and the
#: PostgreSQL pg_trgm GIN index on the same column.
UNMODELLED_OBJECTS = ("search_fts", "ix_documents_search_trgm")


def modelled(name: str | None) -> bool:
    """False for the objects of UNMODELLED_OBJECTS."""
    return not any((name or "").startswith(prefix) for prefix in UNMODELLED_OBJECTS)


def include_name(name: str | None, _type: str, _parents: object) -> bool:
    """alembic's ``include_name`` hook: its comparisons (env.py, the schema tests) skip the objects
    of UNMODELLED_OBJECTS."""
    return modelled(name)
