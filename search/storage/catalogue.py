"""The video catalogue: one row per file the library knows, with its fingerprint, what a
decoder learned of it, and its status (pending, indexed or failed), and the lookups over them.

The row functions below (`video_row`, `record_indexed`, ...) work inside a transaction that
the store opens, so a video's row changes together with its segments."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from vidseek.core.records import Fingerprint, MediaInfo
from vidseek.search.storage.schema import Video


@dataclass(frozen=True)
class VideoRecord:
    id: int
    path: str
    status: str
    size: int
    mtime_ns: int
    content_hash: str | None
    duration: float | None
    fps: float | None
    width: int | None
    height: int | None
    has_audio: bool | None
    error: str | None
    indexed_at: datetime | None
    subtitle_stamp: str | None
    warning: str | None
    analysis_pending: str | None

    @classmethod
    def of(cls, v: Video) -> VideoRecord:
        return cls(*(getattr(v, f.name) for f in fields(cls)))


def video_row(s: Session, path: str) -> Video | None:
    """The row of `path`, if the catalogue knows it."""
    return s.scalar(select(Video).where(Video.path == path))


def record_indexed(v: Video, fp: Fingerprint, info: MediaInfo, warning: str | None) -> None:
    """The row now describes this version of the file, indexed (with what was ignored)."""
    v.size, v.mtime_ns, v.content_hash = fp.size, fp.mtime_ns, fp.content_hash
    v.subtitle_stamp, v.warning = fp.subtitle_stamp, warning
    v.duration, v.fps, v.width, v.height = info.duration, info.fps, info.width, info.height
    v.has_audio, v.status, v.error = info.has_audio, "indexed", None
    v.indexed_at = datetime.now(UTC).replace(tzinfo=None)


def record_failed(v: Video, fp: Fingerprint, reason: str) -> None:
    """The row now describes this version of the file, which could not be indexed."""
    v.size, v.mtime_ns, v.content_hash = fp.size, fp.mtime_ns, fp.content_hash
    v.subtitle_stamp = fp.subtitle_stamp
    v.status, v.error, v.indexed_at = "failed", reason, None
    v.analysis_pending = None


def mark_all_pending(s: Session) -> list[str]:
    """Every indexed video becomes pending; returns the paths of all pending ones."""
    s.execute(update(Video).where(Video.status == "indexed").values(status="pending"))
    return list(s.scalars(select(Video.path).where(Video.status == "pending")))


class Catalogue:
    """The videos table of one library."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def video(self, video_id: int) -> VideoRecord | None:
        """The video with this id, if any."""
        with Session(self.engine) as s:
            v = s.get(Video, video_id)
            return VideoRecord.of(v) if v else None

    def video_by_path(self, path: str) -> VideoRecord | None:
        """The video of this file, if any."""
        with Session(self.engine) as s:
            v = video_row(s, path)
            return VideoRecord.of(v) if v else None

    def video_ids_with_hash(self, content_hash: str) -> list[int]:
        """Indexed videos whose bytes are exactly these (a query clip already in the library)."""
        with Session(self.engine) as s:
            return list(s.scalars(select(Video.id).where(Video.content_hash == content_hash,
                                                         Video.status == "indexed")))

    def videos(self, status: str | None = None, offset: int = 0,
               limit: int | None = None) -> list[VideoRecord]:
        """Videos by path, optionally only those with one status, optionally one slice."""
        q = select(Video).order_by(Video.path).offset(offset).limit(limit)
        if status:
            q = q.where(Video.status == status)
        with Session(self.engine) as s:
            return [VideoRecord.of(v) for v in s.scalars(q)]

    def awaiting_analysis(self) -> list[VideoRecord]:
        """Indexed videos stored frames first whose later signals are still to come, oldest
        first."""
        q = (select(Video).where(Video.status == "indexed", Video.analysis_pending.is_not(None))
             .order_by(Video.indexed_at, Video.id))
        with Session(self.engine) as s:
            return [VideoRecord.of(v) for v in s.scalars(q)]

    def analysis_pending(self, video_ids: Iterable[int]) -> dict[int, list[str]]:
        """The signals still to analyse of those of these videos stored frames first."""
        q = select(Video.id, Video.analysis_pending).where(
            Video.id.in_(list(video_ids)), Video.analysis_pending.is_not(None))
        with self.engine.connect() as c:
            return {video_id: pending.split(",") for video_id, pending in c.execute(q)}

    def warned_videos(self) -> list[VideoRecord]:
        """Indexed videos with something ignored while indexing them (a bad subtitle file)."""
        q = select(Video).where(Video.warning.is_not(None)).order_by(Video.path)
        with Session(self.engine) as s:
            return [VideoRecord.of(v) for v in s.scalars(q)]

    def video_count(self, status: str | None = None) -> int:
        """How many videos (with this status)."""
        counts = self.status_counts()
        return counts.get(status, 0) if status else sum(counts.values())

    def status_counts(self) -> dict[str, int]:
        """How many videos have each status."""
        with Session(self.engine) as s:
            return dict(s.execute(select(Video.status, func.count()).group_by(Video.status)).all())

    def paths(self) -> dict[int, str]:
        """Every video's file, by id."""
        with self.engine.connect() as c:
            return dict(c.execute(select(Video.id, Video.path)).all())

    def mark_pending(self, items: Iterable[tuple[str, Fingerprint]]) -> None:
        """Register files that this run will index, so `status` shows them as pending."""
        with Session(self.engine) as s, s.begin():
            for path, fp in items:
                v = video_row(s, path)
                if v is None:
                    s.add(Video(path=path, size=fp.size, mtime_ns=fp.mtime_ns, status="pending"))
                elif v.status != "indexed":
                    v.status, v.size, v.mtime_ns = "pending", fp.size, fp.mtime_ns

    def touch(self, path: str, fp: Fingerprint) -> None:
        """The file's bytes are unchanged; only remember its new size/mtime."""
        with Session(self.engine) as s, s.begin():
            s.execute(update(Video).where(Video.path == path)
                      .values(size=fp.size, mtime_ns=fp.mtime_ns))

    def mark_changed(self, video_id: int) -> None:
        """The file of an indexed video is no longer what was indexed: pending, so the next
        index run looks at it again (its segments stay searchable until then)."""
        with Session(self.engine) as s, s.begin():
            s.execute(update(Video).where(Video.id == video_id, Video.status == "indexed")
                      .values(status="pending"))
