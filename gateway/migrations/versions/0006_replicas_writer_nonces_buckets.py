"""replicas: the active indexer writer, the relayer's shared nonces, shared rate-limit buckets

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 23:05:00

State shared by several processes over one database (issue 15 parts 3 and 4):

- ``indexer_writer``: one row (id 1) naming the indexer that holds the writer lock (host, pid,
  started_at, the PostgreSQL backend pid of its lock session), written under the lock;
- ``relayer_nonces``: the next transaction nonce of each relayer account per chain, handed out by
  one atomic UPDATE (every gateway replica relaying with the same key draws from it);
- ``rate_limit_buckets``: token buckets of the API rate limits (tokens left, last refill time).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0006'
down_revision: Union[str, None] = '0005'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('indexer_writer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('host', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.Float(), nullable=False),
    sa.Column('acquired_at', sa.Float(), nullable=False),
    sa.Column('heartbeat_at', sa.Float(), nullable=False),
    sa.Column('backend_pid', sa.Integer(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('relayer_nonces',
    sa.Column('chain_id', sa.BigInteger(), nullable=False),
    sa.Column('address', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('next_nonce', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('chain_id', 'address')
    )
    op.create_table('rate_limit_buckets',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('tokens', sa.Float(), nullable=False),
    sa.Column('updated_at', sa.Float(), nullable=False),
    sa.Column('allowed', sa.Boolean(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    op.create_index(op.f('ix_rate_limit_buckets_updated_at'), 'rate_limit_buckets', ['updated_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_rate_limit_buckets_updated_at'), table_name='rate_limit_buckets')
    op.drop_table('rate_limit_buckets')
    op.drop_table('relayer_nonces')
    op.drop_table('indexer_writer')
