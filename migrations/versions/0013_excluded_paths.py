"""excluded paths: a video removed from inside a remembered folder stays removed at later scans

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "excluded_paths",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("path", sa.String(), nullable=False, unique=True),
        sa.Column("excluded_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("excluded_paths")
