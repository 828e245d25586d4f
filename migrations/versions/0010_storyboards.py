"""storyboards: a sprite of thumbnails at each video's shots, and the times of its tiles

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "storyboards",
        sa.Column("video_id", sa.Integer(), sa.ForeignKey("videos.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("jpeg", sa.LargeBinary(), nullable=False),
        sa.Column("tile_width", sa.Integer(), nullable=False),
        sa.Column("tile_height", sa.Integer(), nullable=False),
        sa.Column("columns", sa.Integer(), nullable=False),
        sa.Column("times", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("storyboards")
