"""lists: an index for the voucher list filtered by status

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 03:10:00

``ix_vouchers_status_voucher_id`` (status, voucher_id): GET /v1/vouchers?status=... and the
/vouchers page filter on status and order by voucher id; without it a status that few vouchers
have (frozen, revoked) is found by walking the primary key over every voucher. The holder and
asset filters already have their indexes (``ix_vouchers_holder``, ``ix_vouchers_asset_id``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

from alembic import op

revision: str = '0007'
down_revision: Union[str, None] = '0006'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_index('ix_vouchers_status_voucher_id', 'vouchers', ['status', 'voucher_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_vouchers_status_voucher_id', table_name='vouchers')
