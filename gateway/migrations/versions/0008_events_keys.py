"""events: drop the unique key (block_hash, log_index), which the primary key implies; on SQLite,
a rowid table again

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 14:10:00

``events`` is keyed by (block_number, log_index), and every event of a block number carries that
block's one hash (the writer stores a block's events with the block, in one transaction, and a
reorg deletes them above the common ancestor before the new branch is written). So no two rows can
share (block_hash, log_index) unless they share (block_number, log_index): the unique key is
implied by the primary key, and no query reads events by block hash. Maintaining it cost a random
insert into a b-tree of 66-character keys per event: on the indexer benchmark's 201,025 events,
0.3-0.4 s of the PostgreSQL server's CPU (the events COPY alone: 0.85-1.03 s without it, 1.26-1.30 s
with it).

SQLite cannot drop a constraint, so the table is copied; the copy is an ordinary (rowid) table
with its primary key as an index. ``WITHOUT ROWID`` (migration 0001) keeps whole rows in the
b-tree's interior pages too, and an event row (~420 bytes, mostly its JSON arguments) is more than
SQLite's advice for it (a twentieth of a page): inserting the benchmark's events took 0.66 s of CPU
that way on the 8 KiB pages the migrations give a new database, 0.46 s as a rowid table (median of
5 alternating runs; on 4 KiB pages the two were equal within the noise, 0.78 and 0.86 s).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Union

from alembic import op

revision: str = '0008'
down_revision: Union[str, None] = '0007'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('events', table_kwargs={"sqlite_with_rowid": True}) as batch:
        batch.drop_constraint('uq_events_block_hash_log_index', type_='unique')


def downgrade() -> None:
    with op.batch_alter_table('events', table_kwargs={"sqlite_with_rowid": False}) as batch:
        batch.create_unique_constraint('uq_events_block_hash_log_index', ['block_hash', 'log_index'])
