"""SQLAlchemy models. The schema only changes through Alembic (migrations/); a test checks
that these models and the migrated database never drift apart."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# File sizes and nanosecond times pass 2**31: 64-bit columns (SQLite's INTEGER already is one).
BIG_INTEGER = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class Video(Base):
    __tablename__ = "videos"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(String, unique=True)
    content_hash: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BIG_INTEGER)
    mtime_ns: Mapped[int] = mapped_column(BIG_INTEGER)
    duration: Mapped[float | None] = mapped_column(Float)
    fps: Mapped[float | None] = mapped_column(Float)
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    has_audio: Mapped[bool | None] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending | indexed | failed
    error: Mapped[str | None] = mapped_column(Text)
    indexed_at: Mapped[datetime | None] = mapped_column(DateTime)
    # The subtitle files beside the video (names, sizes, times), so editing one is noticed.
    subtitle_stamp: Mapped[str | None] = mapped_column(String(64))
    warning: Mapped[str | None] = mapped_column(Text)  # what was ignored (a bad subtitle file)


class SegmentRow(Base):
    __tablename__ = "segments"
    __table_args__ = (Index("ix_segments_video_modality", "video_id", "modality"),)

    # The segment id is also its FAISS id.
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"))
    modality: Mapped[str] = mapped_column(String(16), index=True)
    t0: Mapped[float] = mapped_column(Float)
    t1: Mapped[float] = mapped_column(Float)
    text: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(16))
    # float16 little-endian, unit length: the durable copy the FAISS indexes are rebuilt from.
    vector: Mapped[bytes] = mapped_column(LargeBinary)


class Thumbnail(Base):
    __tablename__ = "thumbnails"

    segment_id: Mapped[int] = mapped_column(
        ForeignKey("segments.id", ondelete="CASCADE"), primary_key=True
    )
    jpeg: Mapped[bytes] = mapped_column(LargeBinary)


class AudioFeatureRow(Base):
    """One window of a video's sound as the audio network saw it, before the learned
    projection into the joint space: what a (re)trained projection is applied to."""

    __tablename__ = "audio_features"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    t0: Mapped[float] = mapped_column(Float)
    t1: Mapped[float] = mapped_column(Float)
    # float16 little-endian, not normalised (the projection standardises it).
    feature: Mapped[bytes] = mapped_column(LargeBinary)


class IndexState(Base):
    """What produced the stored vectors (model specs, dimension), as key/value pairs."""

    __tablename__ = "index_state"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
