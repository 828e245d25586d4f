"""videos.size and videos.mtime_ns as 64-bit integers

Revision ID: 0004
Revises: 0003

A file over 2 GiB, and any modification time in nanoseconds, do not fit a 32-bit INTEGER, which
is what PostgreSQL made of these columns. SQLite's INTEGER already holds 64 bits: nothing to do
there.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

COLUMNS = ("size", "mtime_ns")


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        for name in COLUMNS:
            op.alter_column("videos", name, type_=sa.BigInteger(), existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        for name in COLUMNS:
            op.alter_column("videos", name, type_=sa.Integer(), existing_nullable=False)
