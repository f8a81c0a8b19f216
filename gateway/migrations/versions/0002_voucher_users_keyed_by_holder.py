"""voucher_users keyed as the chain keys authorisations: (voucher, holder, user)

DataVoucher keeps ``_users[tokenId][holder][user]``: an authorisation belongs to the holder that
gave it, lapses when the voucher leaves that holder and applies again when it returns. Revision
0001 keyed the projection by (voucher, user), so a transfer made a lapsed authorisation look live
and the holder's own one look withdrawn. This revision:

- recreates ``voucher_users`` with the primary key (token_id, user, holder);
- rebuilds its rows from the stored ``UserAuthorized`` events, in chain order, exactly as the
  projection (gateway.indexer.projections.user_authorized) writes them;
- empties the undo log and clears ``indexer_state.undo_from``: the old pre-images are keyed the
  old way; a reorg below the next indexed batch is rolled back by replay (exact), and the undo
  log starts again with the next batch.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Union

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0002"
down_revision: Union[str, None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _table(pk: tuple[str, ...]) -> None:
    op.create_table(
        "voucher_users",
        sa.Column("token_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("holder", sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column("allowed", sa.Boolean(), nullable=False),
        sa.Column("updated_block", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(*pk),
    )


def _replay(by_holder: bool) -> list[dict[str, Any]]:
    from gateway.indexer.decode import loads

    conn = op.get_bind()
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    result = conn.execute(sa.text(
        "SELECT block_number, args FROM events WHERE contract = 'DataVoucher' AND event = 'UserAuthorized' "
        "ORDER BY block_number, log_index"))
    for block_number, args_json in result:
        a = loads(args_json) if args_json else {}
        token_id = int(a["tokenId"])
        key = (token_id, a["holder"], a["user"]) if by_holder else (token_id, a["user"])
        rows[key] = {"token_id": token_id, "user": a["user"], "holder": a["holder"], "allowed": bool(a["allowed"]),
                     "updated_block": int(block_number)}
    return list(rows.values())


def _rebuild(by_holder: bool) -> None:
    rows = _replay(by_holder)
    op.drop_table("voucher_users")
    _table(("token_id", "user", "holder") if by_holder else ("token_id", "user"))
    if rows:
        table = sa.table("voucher_users", sa.column("token_id", sa.BigInteger()), sa.column("user", sa.String()),
                         sa.column("holder", sa.String()), sa.column("allowed", sa.Boolean()),
                         sa.column("updated_block", sa.BigInteger()))
        op.bulk_insert(table, rows)
    # pre-images of the other tables stay valid, but a partial undo log would not restore
    # voucher_users: roll back by replay until the undo log starts again
    op.execute("DELETE FROM indexer_undo")
    op.execute("UPDATE indexer_state SET undo_from = NULL")


def upgrade() -> None:
    _rebuild(by_holder=True)


def downgrade() -> None:
    _rebuild(by_holder=False)
