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
    # AUTOINCREMENT: a removed video's id never comes back meaning another file.
    __table_args__ = {"sqlite_autoincrement": True}

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
    # Frames first: the signals still to analyse after the frames were stored (comma-separated);
    # NULL once every configured signal is in.
    analysis_pending: Mapped[str | None] = mapped_column(String(64))


class SegmentRow(Base):
    __tablename__ = "segments"
    # AUTOINCREMENT: an id is never reused, so an id means one segment, one vector, forever
    # (PostgreSQL's SERIAL sequence never goes back either).
    __table_args__ = (Index("ix_segments_video_modality", "video_id", "modality"),
                      {"sqlite_autoincrement": True})

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


class StoryboardRow(Base):
    """A video's storyboard: one JPEG sprite of thumbnails at its shots, row by row, and the
    second each tile starts at (JSON list)."""

    __tablename__ = "storyboards"

    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"),
                                          primary_key=True)
    jpeg: Mapped[bytes] = mapped_column(LargeBinary)
    tile_width: Mapped[int] = mapped_column(Integer)
    tile_height: Mapped[int] = mapped_column(Integer)
    columns: Mapped[int] = mapped_column(Integer)
    times: Mapped[str] = mapped_column(Text)


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


class SegmentGeneration(Base):
    """How many times one modality's segments have changed: bumped in the same transaction
    as every insert or delete of its segments. A saved FAISS index records the generation it
    reflects, so a reader can tell an index that is behind SQL without scanning it."""

    __tablename__ = "segment_generations"

    modality: Mapped[str] = mapped_column(String(16), primary_key=True)
    generation: Mapped[int] = mapped_column(BIG_INTEGER)
class Label(Base):
    """A label moments and videos can carry, with the linear classifier that decides it on a
    stored vector: zero-shot ones from the text encoder, learned ones from the user's examples."""

    __tablename__ = "labels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # vocabulary | user | learned
    # The classifier: float32 little-endian weights and a bias, for vectors of `model`.
    model: Mapped[str | None] = mapped_column(String(200))
    weights: Mapped[bytes | None] = mapped_column(LargeBinary)
    bias: Mapped[float | None] = mapped_column(Float)
    # A hash of model + classifier; the library's labels were computed with `applied_version`.
    version: Mapped[str | None] = mapped_column(String(40))
    applied_version: Mapped[str | None] = mapped_column(String(40))
    report: Mapped[str | None] = mapped_column(Text)  # JSON: a learned label's training record
    created_at: Mapped[datetime] = mapped_column(DateTime)


class LabelExample(Base):
    """A span of a video the user marked as an example of a (learned) label."""

    __tablename__ = "label_examples"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label_id: Mapped[int] = mapped_column(ForeignKey("labels.id", ondelete="CASCADE"), index=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    t0: Mapped[float] = mapped_column(Float)
    t1: Mapped[float] = mapped_column(Float)


class MomentRow(Base):
    """A moment labels are given to: a shot (a span of similar frames, with their mean vector)
    or a transcript chunk. Kept so that a changed label is applied without reading every
    frame vector again."""

    __tablename__ = "moments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    modality: Mapped[str] = mapped_column(String(16))
    t0: Mapped[float] = mapped_column(Float)
    t1: Mapped[float] = mapped_column(Float)
    segment_id: Mapped[int | None] = mapped_column(Integer)  # the frame shown for a shot
    vector: Mapped[bytes] = mapped_column(LargeBinary)  # float16 little-endian, unit length


class MomentLabel(Base):
    """A label on a moment: a shot (a span of similar frames) or a transcript chunk."""

    __tablename__ = "moment_labels"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label_id: Mapped[int] = mapped_column(ForeignKey("labels.id", ondelete="CASCADE"), index=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    modality: Mapped[str] = mapped_column(String(16))
    t0: Mapped[float] = mapped_column(Float)
    t1: Mapped[float] = mapped_column(Float)
    score: Mapped[float] = mapped_column(Float)  # calibrated confidence, 0.5 and up
    segment_id: Mapped[int | None] = mapped_column(Integer)  # a frame to show for it


class VideoLabel(Base):
    """A label on a whole video, aggregated from its moments."""

    __tablename__ = "video_labels"

    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"),
                                          primary_key=True)
    label_id: Mapped[int] = mapped_column(ForeignKey("labels.id", ondelete="CASCADE"),
                                          primary_key=True, index=True)
    score: Mapped[float] = mapped_column(Float)  # best confidence among its moments
    seconds: Mapped[float] = mapped_column(Float)  # how long the label is on screen or spoken


class Chapter(Base):
    """A chapter of a video: cut at shot boundaries and changes of topic."""

    __tablename__ = "chapters"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    t0: Mapped[float] = mapped_column(Float)
    t1: Mapped[float] = mapped_column(Float)
    segment_id: Mapped[int | None] = mapped_column(Integer)  # its thumbnail's frame


class LabeledVideo(Base):
    """A video whose moments and chapters were computed, from the vectors it was indexed with."""

    __tablename__ = "labeled_videos"

    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"),
                                          primary_key=True)
    indexed_at: Mapped[datetime | None] = mapped_column(DateTime)


class Person(Base):
    """A person: face tracks grouped by likeness (search/people/), named and hidden by the
    user. Its centroid outlives its tracks, so a re-indexed video's faces find it again."""

    __tablename__ = "people"
    # AUTOINCREMENT: a forgotten person's id never comes back meaning someone else.
    __table_args__ = {"sqlite_autoincrement": True}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str | None] = mapped_column(String(200), unique=True)
    hidden: Mapped[bool] = mapped_column(Boolean)
    centroid: Mapped[bytes] = mapped_column(LargeBinary)  # float16 little-endian, unit length
    tracks: Mapped[int] = mapped_column(Integer)  # how many tracks the centroid is the mean of
    created_at: Mapped[datetime] = mapped_column(DateTime)


class FaceTrack(Base):
    """A face segment's box (0-1 of the frame, where it was largest) and its person (None
    until clustering finds one; clustering never moves a track that has one)."""

    __tablename__ = "face_tracks"

    segment_id: Mapped[int] = mapped_column(ForeignKey("segments.id", ondelete="CASCADE"),
                                            primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"), index=True)
    x0: Mapped[float] = mapped_column(Float)
    y0: Mapped[float] = mapped_column(Float)
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"),
                                                  index=True)


class Folder(Base):
    """A folder the library remembers: `vidseek index` with no argument (and a watching
    server) keeps every video under it up to date."""

    __tablename__ = "folders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(String, unique=True)
    added_at: Mapped[datetime] = mapped_column(DateTime)


class ExcludedPath(Base):
    """A video (or a folder of them) removed from inside a remembered folder: scans of that
    folder leave it out until it is indexed again by name."""

    __tablename__ = "excluded_paths"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    path: Mapped[str] = mapped_column(String, unique=True)
    excluded_at: Mapped[datetime] = mapped_column(DateTime)
