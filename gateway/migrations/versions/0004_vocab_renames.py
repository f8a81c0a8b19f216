"""vocabulary: one spelling per noun in the index (issue 12)

Renames, data kept (SQLite: batch mode, i.e. copy into a new table; PostgreSQL: ALTER TABLE
... RENAME COLUMN in place):

- ``vouchers.token_id``, ``voucher_transfers.token_id``, ``voucher_users.token_id``,
  ``voucher_uses.token_id`` -> ``voucher_id`` (``trades.voucher_id`` already had it);
- ``vouchers.owner`` -> ``holder`` (the ``?holder=`` filter's column; assets already said holder);
- ``clearances.case_id`` -> ``clearance_id``;
- indexes ``ix_vouchers_owner`` -> ``ix_vouchers_holder`` and
  ``ix_voucher_transfers_token_id`` -> ``ix_voucher_transfers_voucher_id``.

The undo log is emptied and ``indexer_state.undo_from`` cleared (as 0002 did): its pre-images
are JSON rows under the old column names. A reorg below the next indexed batch is rolled back by
replay (exact); the undo log starts again with the next batch.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

from alembic import op

revision: str = "0004"
down_revision: Union[str, None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

#: table -> [(old column, new column)]
COLUMNS: dict[str, list[tuple[str, str]]] = {
    "vouchers": [("token_id", "voucher_id"), ("owner", "holder")],
    "voucher_transfers": [("token_id", "voucher_id")],
    "voucher_users": [("token_id", "voucher_id")],
    "voucher_uses": [("token_id", "voucher_id")],
    "clearances": [("case_id", "clearance_id")],
}
#: table -> [(old index, new index, old column, new column)]
INDEXES: dict[str, list[tuple[str, str, str, str]]] = {
    "vouchers": [("ix_vouchers_owner", "ix_vouchers_holder", "owner", "holder")],
    "voucher_transfers": [("ix_voucher_transfers_token_id", "ix_voucher_transfers_voucher_id", "token_id", "voucher_id")],
}


def _rename(forward: bool) -> None:
    for table, columns in COLUMNS.items():
        indexes = INDEXES.get(table, [])
        # the indexes go first and come back after the rename (a batch copy would carry them
        # over under their old names)
        for old_ix, new_ix, _old_col, _new_col in indexes:
            op.drop_index(old_ix if forward else new_ix, table_name=table)
        with op.batch_alter_table(table, schema=None) as batch_op:
            for old, new in columns:
                batch_op.alter_column(old if forward else new, new_column_name=new if forward else old)
        for old_ix, new_ix, old_col, new_col in indexes:
            op.create_index(new_ix if forward else old_ix, table, [new_col if forward else old_col], unique=False)
    op.execute("DELETE FROM indexer_undo")
    op.execute("UPDATE indexer_state SET undo_from = NULL")


def upgrade() -> None:
    _rename(forward=True)


def downgrade() -> None:
    _rename(forward=False)
