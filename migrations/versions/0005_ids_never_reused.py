"""segment and video ids are never reused; segment_generations tells a stale index from SQL

Revision ID: 0005
Revises: 0004

A segment id is also its FAISS id. SQLite without AUTOINCREMENT hands out max(rowid) + 1, so
deleting the newest segments and inserting others gave the new ones the old ids, and a FAISS
index saved before the change held the old vectors under them. On SQLite `segments` and
`videos` are recreated with AUTOINCREMENT (batch mode copies the rows and their ids; the
triggers the table had, those of the transcript index, are recreated as they were). On
PostgreSQL nothing changes: a SERIAL column's sequence never hands out a value twice.

`segment_generations` counts the changes to each modality's segments (see search/storage/index_set.py).
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TABLES = ("videos", "segments")


def _recreate(autoincrement: bool) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    for table in TABLES:
        # Dropping the old table drops its triggers; the new one gets the same ones.
        triggers = bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?",
            (table,)).scalars().all()
        with op.batch_alter_table(table, recreate="always",
                                  table_kwargs={"sqlite_autoincrement": autoincrement}):
            pass
        for sql in triggers:
            op.execute(sql)


def upgrade() -> None:
    _recreate(autoincrement=True)
    op.create_table(
        "segment_generations",
        sa.Column("modality", sa.String(length=16), primary_key=True),
        sa.Column("generation", sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                  nullable=False),
    )


def downgrade() -> None:
    op.drop_table("segment_generations")
    _recreate(autoincrement=False)
