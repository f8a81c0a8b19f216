"""gateway: revoked sessions (logout) and relay budgets

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 20:40:00

The API's own state, shared by every gateway process over the database: session ids revoked by
logout, and relay spending (requests and gas per signer / client IP per period).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0003'
down_revision: Union[str, None] = '0002'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table('revoked_sessions',
    sa.Column('sid', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('address', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('expires_at', sa.BigInteger(), nullable=False),
    sa.Column('revoked_at', sa.Float(), nullable=False),
    sa.PrimaryKeyConstraint('sid')
    )
    op.create_table('relay_budgets',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('period', sa.BigInteger(), nullable=False),
    sa.Column('requests', sa.BigInteger(), nullable=False),
    sa.Column('gas', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )


def downgrade() -> None:
    op.drop_table('relay_budgets')
    op.drop_table('revoked_sessions')
