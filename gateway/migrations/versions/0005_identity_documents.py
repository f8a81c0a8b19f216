"""identity: organisation profile CIDs, fetched documents and their search index

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 23:00:00

- ``organisations.profile_cid``: the profile document CID the registrar recorded
  (ParticipantRegistry.OrganisationProfileSet);
- ``documents``: profiles, manifests, purpose and conditions texts fetched from IPFS and checked
  against their CIDs (gateway.services.documents), with the fields the API and search use;
- search over ``documents.search_text``: on SQLite an FTS5 table with the trigram tokenizer
  (``search_fts``, kept by the document fetcher; 1-2 character queries such as "佛山" use LIKE); on
  PostgreSQL the pg_trgm extension and a GIN trigram index (ILIKE). Neither is in the SQLModel
  metadata (gateway.models.UNMODELLED_OBJECTS).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0005'
down_revision: Union[str, None] = '0004'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('organisations') as batch:
        batch.add_column(sa.Column('profile_cid', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.create_table('documents',
    sa.Column('cid', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('chain_cid', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.Float(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('first_seen_block', sa.BigInteger(), nullable=False),
    sa.Column('fetched_at', sa.Float(), nullable=True),
    sa.Column('byte_size', sa.BigInteger(), nullable=True),
    sa.Column('sha256', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('name_zh', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('name_en', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('credit_code', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('jurisdiction', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('title', sa.Text(), nullable=True),
    sa.Column('title_zh', sa.Text(), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('description_zh', sa.Text(), nullable=True),
    sa.Column('publisher', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('publisher_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('keywords', sa.Text(), nullable=True),
    sa.Column('themes', sa.Text(), nullable=True),
    sa.Column('search_text', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('cid')
    )
    op.create_index('ix_documents_chain_cid', 'documents', ['chain_cid'], unique=False)
    op.create_index('ix_documents_status', 'documents', ['status'], unique=False)
    op.create_index(op.f('ix_documents_credit_code'), 'documents', ['credit_code'], unique=False)
    bind = op.get_bind()
    if bind.dialect.name == 'sqlite':
        op.execute("CREATE VIRTUAL TABLE search_fts USING fts5(cid UNINDEXED, body, tokenize='trigram')")
    elif bind.dialect.name == 'postgresql':
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute("CREATE INDEX ix_documents_search_trgm ON documents USING gin (search_text gin_trgm_ops)")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == 'sqlite':
        op.execute("DROP TABLE IF EXISTS search_fts")
    elif bind.dialect.name == 'postgresql':
        op.execute("DROP INDEX IF EXISTS ix_documents_search_trgm")
    op.drop_index(op.f('ix_documents_credit_code'), table_name='documents')
    op.drop_index('ix_documents_status', table_name='documents')
    op.drop_index('ix_documents_chain_cid', table_name='documents')
    op.drop_table('documents')
    with op.batch_alter_table('organisations') as batch:
        batch.drop_column('profile_cid')
