"""videos, segments, thumbnails, index_state

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "videos",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("path", sa.String(), nullable=False, unique=True),
        sa.Column("content_hash", sa.String(length=64), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("mtime_ns", sa.Integer(), nullable=False),
        sa.Column("duration", sa.Float(), nullable=True),
        sa.Column("fps", sa.Float(), nullable=True),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("has_audio", sa.Boolean(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("indexed_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_videos_status", "videos", ["status"])
    op.create_table(
        "segments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("video_id", sa.Integer(), sa.ForeignKey("videos.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("modality", sa.String(length=16), nullable=False),
        sa.Column("t0", sa.Float(), nullable=False),
        sa.Column("t1", sa.Float(), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("language", sa.String(length=16), nullable=True),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
    )
    op.create_index("ix_segments_modality", "segments", ["modality"])
    op.create_index("ix_segments_video_modality", "segments", ["video_id", "modality"])
    op.create_table(
        "thumbnails",
        sa.Column("segment_id", sa.Integer(), sa.ForeignKey("segments.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("jpeg", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "index_state",
        sa.Column("key", sa.String(length=64), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("index_state")
    op.drop_table("thumbnails")
    op.drop_index("ix_segments_video_modality", table_name="segments")
    op.drop_index("ix_segments_modality", table_name="segments")
    op.drop_table("segments")
    op.drop_index("ix_videos_status", table_name="videos")
    op.drop_table("videos")
