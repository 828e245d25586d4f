"""audio_features: raw per-window audio features, the input of the learned audio projection

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audio_features",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("video_id", sa.Integer(), sa.ForeignKey("videos.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("t0", sa.Float(), nullable=False),
        sa.Column("t1", sa.Float(), nullable=False),
        sa.Column("feature", sa.LargeBinary(), nullable=False),
    )
    op.create_index("ix_audio_features_video_id", "audio_features", ["video_id"])


def downgrade() -> None:
    op.drop_index("ix_audio_features_video_id", table_name="audio_features")
    op.drop_table("audio_features")
