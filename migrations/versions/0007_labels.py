"""labels, their examples, moments, labelled moments and videos, chapters

Revision ID: 0007
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _video_id(primary_key: bool = False) -> sa.Column:
    return sa.Column("video_id", sa.Integer(), sa.ForeignKey("videos.id", ondelete="CASCADE"),
                     nullable=False, primary_key=primary_key)


def _label_id(primary_key: bool = False) -> sa.Column:
    return sa.Column("label_id", sa.Integer(), sa.ForeignKey("labels.id", ondelete="CASCADE"),
                     nullable=False, primary_key=primary_key)


def upgrade() -> None:
    op.create_table(
        "labels",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("model", sa.String(200)),
        sa.Column("weights", sa.LargeBinary()),
        sa.Column("bias", sa.Float()),
        sa.Column("version", sa.String(40)),
        sa.Column("applied_version", sa.String(40)),
        sa.Column("report", sa.Text()),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )
    op.create_table(
        "label_examples",
        sa.Column("id", sa.Integer(), primary_key=True),
        _label_id(), _video_id(),
        sa.Column("t0", sa.Float(), nullable=False),
        sa.Column("t1", sa.Float(), nullable=False),
    )
    op.create_index("ix_label_examples_label_id", "label_examples", ["label_id"])
    op.create_index("ix_label_examples_video_id", "label_examples", ["video_id"])
    op.create_table(
        "moments",
        sa.Column("id", sa.Integer(), primary_key=True),
        _video_id(),
        sa.Column("modality", sa.String(16), nullable=False),
        sa.Column("t0", sa.Float(), nullable=False),
        sa.Column("t1", sa.Float(), nullable=False),
        sa.Column("segment_id", sa.Integer()),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
    )
    op.create_index("ix_moments_video_id", "moments", ["video_id"])
    op.create_table(
        "moment_labels",
        sa.Column("id", sa.Integer(), primary_key=True),
        _label_id(), _video_id(),
        sa.Column("modality", sa.String(16), nullable=False),
        sa.Column("t0", sa.Float(), nullable=False),
        sa.Column("t1", sa.Float(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("segment_id", sa.Integer()),
    )
    op.create_index("ix_moment_labels_label_id", "moment_labels", ["label_id"])
    op.create_index("ix_moment_labels_video_id", "moment_labels", ["video_id"])
    op.create_table(
        "video_labels",
        _video_id(primary_key=True), _label_id(primary_key=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("seconds", sa.Float(), nullable=False),
    )
    op.create_index("ix_video_labels_label_id", "video_labels", ["label_id"])
    op.create_table(
        "chapters",
        sa.Column("id", sa.Integer(), primary_key=True),
        _video_id(),
        sa.Column("t0", sa.Float(), nullable=False),
        sa.Column("t1", sa.Float(), nullable=False),
        sa.Column("segment_id", sa.Integer()),
    )
    op.create_index("ix_chapters_video_id", "chapters", ["video_id"])
    op.create_table(
        "labeled_videos",
        _video_id(primary_key=True),
        sa.Column("indexed_at", sa.DateTime()),
    )


def downgrade() -> None:
    op.drop_table("labeled_videos")
    op.drop_index("ix_chapters_video_id", table_name="chapters")
    op.drop_table("chapters")
    op.drop_index("ix_video_labels_label_id", table_name="video_labels")
    op.drop_table("video_labels")
    op.drop_index("ix_moment_labels_video_id", table_name="moment_labels")
    op.drop_index("ix_moment_labels_label_id", table_name="moment_labels")
    op.drop_table("moment_labels")
    op.drop_index("ix_moments_video_id", table_name="moments")
    op.drop_table("moments")
    op.drop_index("ix_label_examples_video_id", table_name="label_examples")
    op.drop_index("ix_label_examples_label_id", table_name="label_examples")
    op.drop_table("label_examples")
    op.drop_table("labels")
