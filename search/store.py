"""The library on disk: SQL metadata (the source of truth) plus one FAISS index per modality.

Every change to a modality's segments bumps that modality's generation in the same transaction
(`_bump`); an index holds the generation it reflects, and saves it in the same file as its
delta (search/vectors.py states the whole model). After a commit, the indexes this process
holds open follow the change in memory. Saving (at least every minute of a run, after removals,
and at its end) brings every index file whose generation differs from SQL's back in line, so
after any run each saved index agrees with SQL, and another process (a server) re-opens a
file when it changes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import bindparam, create_engine, delete, event, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from vidseek.errors import ModelMismatch
from vidseek.search.places import LayeredPlaces, Places
from vidseek.search.records import MODALITIES, AudioFeatures, Fingerprint, MediaInfo, Segment
from vidseek.search.schema import (
    AudioFeatureRow,
    IndexState,
    SegmentGeneration,
    SegmentRow,
    Thumbnail,
    Video,
)
from vidseek.search.vectors import IndexBudget, VectorIndex, describe_saved, saved_generation

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


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

    @classmethod
    def of(cls, v: Video) -> VideoRecord:
        return cls(*(getattr(v, f.name) for f in fields(cls)))


@dataclass(frozen=True)
class SegmentRecord:
    id: int
    video_id: int
    modality: str
    t0: float
    t1: float
    text: str | None


_SEGMENT_COLUMNS = (SegmentRow.id, SegmentRow.video_id, SegmentRow.modality, SegmentRow.t0,
                   SegmentRow.t1, SegmentRow.text)
_TEXTS_BY_ID = select(SegmentRow.id, SegmentRow.text).where(
    SegmentRow.id.in_(bindparam("ids", expanding=True)))


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision, all of it or nothing."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        # Up to date (every open but the first): no write lock taken.
        head = ScriptDirectory.from_config(cfg).get_current_head()
        if MigrationContext.configure(connection).get_current_revision() == head:
            return
        connection.commit()
        if sqlite:
            # SQLite's way to change a table (https://sqlite.org/lang_altertable.html): foreign
            # keys off, or dropping the old copy of a table cascades into the rows that
            # reference it. The pragma only takes effect outside a transaction.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        with connection.begin():
            if sqlite:
                # The driver would leave DDL outside any transaction; a kill mid-migration
                # must leave the old schema, and a second process waits, then finds it done.
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
            if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first():
                raise RuntimeError("the migration broke a foreign key; nothing was changed")
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    sqlite = url.startswith("sqlite")
    # A pool as large as the web server's thread count: a thread never waits for, or opens, a
    # connection (each SQLite connect also runs the pragmas below).
    engine = create_engine(url, pool_size=16, max_overflow=16) if sqlite else create_engine(url)
    if sqlite:
        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cur = dbapi_connection.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")  # the server reads while the indexer writes
            cur.execute("PRAGMA busy_timeout=10000")
            cur.close()
    return engine


def _bump(s: Session, modalities: Iterable[str]) -> dict[str, int]:
    """Count one more change to each of these modalities' segments, inside the transaction
    that makes it; returns their new generations."""
    for modality in sorted(set(modalities)):
        bumped = s.execute(update(SegmentGeneration).where(SegmentGeneration.modality == modality)
                           .values(generation=SegmentGeneration.generation + 1))
        if not bumped.rowcount:
            s.add(SegmentGeneration(modality=modality, generation=1))
            s.flush()
    return dict(s.execute(select(SegmentGeneration.modality, SegmentGeneration.generation)
                          .where(SegmentGeneration.modality.in_(set(modalities)))).all())


def _segment_ids_by_modality(s: Session, video_id: int) -> dict[str, list[int]]:
    ids: dict[str, list[int]] = {}
    for segment_id, modality in s.execute(select(SegmentRow.id, SegmentRow.modality)
                                          .where(SegmentRow.video_id == video_id)):
        ids.setdefault(modality, []).append(segment_id)
    return ids


def vector_to_blob(v: np.ndarray) -> bytes:
    return np.asarray(v, dtype="<f2").tobytes()


def blob_to_vector(b: bytes) -> np.ndarray:
    return np.frombuffer(b, dtype="<f2").astype(np.float32)


class Store:
    """SQL + FAISS for one library. The SQL database decides what exists."""

    def __init__(self, url: str, index_dir: Path, budget: IndexBudget | None = None):
        self.engine = make_engine(url)
        migrate(self.engine)
        self.index_dir = Path(index_dir)
        self.budget = budget or IndexBudget()  # what each index may cost, and must find
        self._indexes: dict[str, VectorIndex] = {}
        # The files of the videos those places are in, read with them: a query names the
        # videos of its moments without reading SQL (see search/places.py for why).
        self._video_paths: dict[int, str] = {}

    # --- what produced the vectors -------------------------------------------------------
    def state(self) -> dict[str, str]:
        with Session(self.engine) as s:
            return {row.key: row.value for row in s.scalars(select(IndexState))}

    def set_state(self, **values: str) -> None:
        with Session(self.engine) as s, s.begin():
            for key, value in values.items():
                s.merge(IndexState(key=key, value=str(value)))

    def generations(self) -> dict[str, int]:
        """How many times each modality's segments have changed (0 if never): what an index
        reflecting SQL exactly records as its generation."""
        with self.engine.connect() as c:
            return dict(c.execute(select(SegmentGeneration.modality,
                                         SegmentGeneration.generation)).all())

    def _advance(self, generations: dict[str, int]) -> None:
        """After a commit that brought these modalities to these generations (and its change
        was applied to the open indexes): an index that reflected the generation just before
        now reflects the new one. One that missed another writer's change keeps its older
        generation, so it is reconciled before it is saved."""
        for modality, generation in generations.items():
            vi = self._indexes.get(modality)
            if vi is not None and vi.generation == generation - 1:
                vi.generation = generation

    def check_model(self, key: str, spec: str, in_use: bool) -> None:
        """Refuse to mix: raise ModelMismatch when the vectors recorded under `key` exist
        (`in_use`) and were made by another model than `spec`."""
        stored = self.state().get(key)
        if in_use and stored not in (None, spec):
            raise ModelMismatch(
                f"this library's {key.replace('_', ' ')} was {stored} but the settings ask for "
                f"{spec}; run `vidseek reindex --reembed` to redo it with {spec}, "
                f"or set the model back to {stored}")

    def bind_model(self, key: str, spec: str, dim: int) -> None:
        """Record the model behind `key`'s vectors, refusing to mix it with another one."""
        self.check_model(key, spec, self.segment_count() > 0)
        self.set_state(**{key: spec, "dim": str(dim)})

    @property
    def dim(self) -> int | None:
        value = self.state().get("dim")
        return int(value) if value else None

    # --- videos ------------------------------------------------------------------------
    def video_by_path(self, path: str) -> VideoRecord | None:
        with Session(self.engine) as s:
            v = s.scalar(select(Video).where(Video.path == path))
            return VideoRecord.of(v) if v else None

    def video_ids_with_hash(self, content_hash: str) -> list[int]:
        """Indexed videos whose bytes are exactly these (a query clip already in the library)."""
        with Session(self.engine) as s:
            return list(s.scalars(select(Video.id).where(Video.content_hash == content_hash,
                                                         Video.status == "indexed")))

    def video(self, video_id: int) -> VideoRecord | None:
        with Session(self.engine) as s:
            v = s.get(Video, video_id)
            return VideoRecord.of(v) if v else None

    def video_path(self, video_id: int) -> str | None:
        """The file of a video that the open indexes hold segments of, from memory."""
        return self._video_paths.get(video_id)

    def videos(self, status: str | None = None, offset: int = 0,
               limit: int | None = None) -> list[VideoRecord]:
        """Videos by path, optionally only those with one status, optionally one slice."""
        q = select(Video).order_by(Video.path).offset(offset).limit(limit)
        if status:
            q = q.where(Video.status == status)
        with Session(self.engine) as s:
            return [VideoRecord.of(v) for v in s.scalars(q)]

    def warned_videos(self) -> list[VideoRecord]:
        """Indexed videos with something ignored while indexing them (a bad subtitle file)."""
        q = select(Video).where(Video.warning.is_not(None)).order_by(Video.path)
        with Session(self.engine) as s:
            return [VideoRecord.of(v) for v in s.scalars(q)]

    def video_count(self, status: str | None = None) -> int:
        q = select(func.count(Video.id))
        if status:
            q = q.where(Video.status == status)
        with Session(self.engine) as s:
            return s.scalar(q) or 0

    def mark_pending(self, items: Iterable[tuple[str, Fingerprint]]) -> None:
        """Register files that this run will index, so `status` shows them as pending."""
        with Session(self.engine) as s, s.begin():
            for path, fp in items:
                v = s.scalar(select(Video).where(Video.path == path))
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

    def save_video(self, path: str, fp: Fingerprint, info: MediaInfo,
                   segments: list[Segment], audio: AudioFeatures | None = None,
                   warning: str | None = None) -> int:
        """Replace everything known about `path` with these segments (and raw audio window
        features, and what was ignored while indexing it), in one transaction."""
        # Open (and reconcile) the indexes first, so the new ids are added exactly once.
        indexes = {m: self.index(m) for m in {g.modality for g in segments}}
        with Session(self.engine) as s, s.begin():
            v, dropped = self._emptied_video(s, path)
            v.size, v.mtime_ns, v.content_hash = fp.size, fp.mtime_ns, fp.content_hash
            v.subtitle_stamp, v.warning = fp.subtitle_stamp, warning
            v.duration, v.fps, v.width, v.height = info.duration, info.fps, info.width, info.height
            v.has_audio, v.status, v.error = info.has_audio, "indexed", None
            v.indexed_at = datetime.now(timezone.utc).replace(tzinfo=None)
            s.flush()
            added = self._add_segments(s, v.id, segments)
            if audio is not None:
                s.add_all(AudioFeatureRow(video_id=v.id, t0=float(a), t1=float(b),
                                          feature=vector_to_blob(f))
                          for a, b, f in zip(audio.t0, audio.t1, audio.features, strict=True))
            video_id = v.id
            generations = _bump(s, set(dropped) | set(indexes))
        self._video_paths[video_id] = path
        # Only after the commit: the in-memory indexes never hold uncommitted changes.
        self._forget(dropped)
        self._index_added(video_id, added, indexes)
        self._advance(generations)
        return video_id

    def replace_video_segments(self, path: str, modality: str, segments: list[Segment],
                               fp: Fingerprint, warning: str | None) -> None:
        """Swap one modality's segments of an indexed video for these (its subtitles, after a
        subtitle file changed), with its new fingerprint and warning, in one transaction."""
        indexes = {modality: self.index(modality)} if segments else {}
        with Session(self.engine) as s, s.begin():
            v = s.scalar(select(Video).where(Video.path == path))
            old = s.scalars(select(SegmentRow.id).where(SegmentRow.video_id == v.id,
                                                        SegmentRow.modality == modality)).all()
            s.execute(delete(SegmentRow).where(SegmentRow.id.in_(old)))
            v.size, v.mtime_ns, v.subtitle_stamp, v.warning = (fp.size, fp.mtime_ns,
                                                               fp.subtitle_stamp, warning)
            added = self._add_segments(s, v.id, segments)
            video_id = v.id
            generations = _bump(s, {modality} if old or segments else set())
        self._forget({modality: list(old)})
        self._index_added(video_id, added, indexes)
        self._advance(generations)

    def _add_segments(self, s: Session, video_id: int,
                      segments: list[Segment]) -> list[tuple[int, Segment]]:
        rows = [SegmentRow(video_id=video_id, modality=g.modality, t0=g.t0, t1=g.t1, text=g.text,
                           language=g.language, vector=vector_to_blob(g.vector))
                for g in segments]
        s.add_all(rows)
        s.flush()
        s.add_all(Thumbnail(segment_id=r.id, jpeg=g.thumbnail)
                  for r, g in zip(rows, segments) if g.thumbnail)
        return [(r.id, g) for r, g in zip(rows, segments)]

    def _index_added(self, video_id: int, added: list[tuple[int, Segment]],
                     indexes: dict[str, VectorIndex]) -> None:
        # Only after the commit: the in-memory indexes never hold uncommitted ids.
        for modality, vi in indexes.items():
            mine = [(i, g) for i, g in added if g.modality == modality]
            ids = np.array([i for i, _ in mine])
            # Through float16 like the durable copy, so a rebuilt index is bit-identical.
            vi.add(ids, np.stack([blob_to_vector(vector_to_blob(g.vector)) for _, g in mine]),
                   Places.of(ids, np.full(len(ids), video_id), [g.t0 for _, g in mine],
                             [g.t1 for _, g in mine]))

    def save_failure(self, path: str, fp: Fingerprint, reason: str) -> None:
        """Record that `path` could not be indexed and why; earlier segments are dropped."""
        with Session(self.engine) as s, s.begin():
            v, dropped = self._emptied_video(s, path)
            v.size, v.mtime_ns, v.content_hash = fp.size, fp.mtime_ns, fp.content_hash
            v.subtitle_stamp = fp.subtitle_stamp
            v.status, v.error, v.indexed_at = "failed", reason, None
            generations = _bump(s, dropped)
        self._forget(dropped)
        self._advance(generations)

    def _emptied_video(self, s: Session, path: str) -> tuple[Video, dict[str, list[int]]]:
        """The row of `path` (new if unknown) with its segments and audio features dropped,
        and the ids of the dropped segments by modality."""
        v = s.scalar(select(Video).where(Video.path == path))
        if v is None:
            v = Video(path=path)
            s.add(v)
            return v, {}
        dropped = _segment_ids_by_modality(s, v.id)
        s.execute(delete(SegmentRow).where(SegmentRow.video_id == v.id))
        s.execute(delete(AudioFeatureRow).where(AudioFeatureRow.video_id == v.id))
        return v, dropped

    def remove_videos(self, paths: Iterable[str]) -> int:
        """Drop videos whose files are gone; returns how many were removed."""
        removed: list[int] = []
        dropped: dict[str, list[int]] = {}
        with Session(self.engine) as s, s.begin():
            for path in paths:
                v = s.scalar(select(Video).where(Video.path == path))
                if v is not None:
                    for modality, ids in _segment_ids_by_modality(s, v.id).items():
                        dropped.setdefault(modality, []).extend(ids)
                    s.execute(delete(SegmentRow).where(SegmentRow.video_id == v.id))
                    s.execute(delete(AudioFeatureRow).where(AudioFeatureRow.video_id == v.id))
                    s.delete(v)
                    removed.append(v.id)
            generations = _bump(s, dropped)
        for video_id in removed:
            self._video_paths.pop(video_id, None)
        self._forget(dropped)
        self._advance(generations)
        return len(removed)

    def clear_segments(self) -> list[str]:
        """Drop every vector (before re-embedding with another model); videos become pending.
        Returns the paths to index again."""
        with Session(self.engine) as s, s.begin():
            s.execute(delete(Thumbnail))
            s.execute(delete(SegmentRow))
            s.execute(delete(IndexState))
            s.execute(update(SegmentGeneration)
                      .values(generation=SegmentGeneration.generation + 1))
            s.execute(update(Video).where(Video.status == "indexed").values(status="pending"))
            paths = s.scalars(select(Video.path).where(Video.status == "pending")).all()
        self._indexes.clear()
        self._drop_index_files()
        return list(paths)

    def _drop_index_files(self) -> None:
        for modality in MODALITIES:
            for f in self.index_dir.glob(f"{modality}.*"):
                f.unlink(missing_ok=True)

    def _forget(self, dropped: dict[str, list[int]]) -> None:
        """Drop committed deletions from the open indexes (and the places beside them)."""
        for modality, ids in dropped.items():
            if modality in self._indexes:
                self._indexes[modality].remove(ids)

    # --- raw audio features: what a learned audio projection is (re)applied to ----------
    def audio_feature_count(self) -> int:
        """Windows of sound stored for indexed videos."""
        with Session(self.engine) as s:
            return s.scalar(select(func.count(AudioFeatureRow.id))
                            .join(Video, Video.id == AudioFeatureRow.video_id)
                            .where(Video.status == "indexed")) or 0

    def audio_features(self) -> Iterator[tuple[int, AudioFeatures]]:
        """(video id, its windows' raw features) for every indexed video with sound."""
        with Session(self.engine) as s:
            video_ids = s.scalars(select(AudioFeatureRow.video_id).distinct()
                                  .join(Video, Video.id == AudioFeatureRow.video_id)
                                  .where(Video.status == "indexed")
                                  .order_by(AudioFeatureRow.video_id)).all()
            for video_id in video_ids:
                rows = s.execute(select(AudioFeatureRow.t0, AudioFeatureRow.t1,
                                        AudioFeatureRow.feature)
                                 .where(AudioFeatureRow.video_id == video_id)
                                 .order_by(AudioFeatureRow.t0)).all()
                yield video_id, AudioFeatures(np.array([r.t0 for r in rows]),
                                              np.array([r.t1 for r in rows]),
                                              np.stack([blob_to_vector(r.feature) for r in rows]))

    def replace_audio_segments(self, segments: dict[int, list[Segment]], **state: str) -> int:
        """Swap every `audio` segment for these (by video id) and record `state`, in one
        transaction; the audio index then follows. Returns how many segments were written."""
        index = self.index("audio")
        with Session(self.engine) as s, s.begin():
            old = s.scalars(select(SegmentRow.id).where(SegmentRow.modality == "audio")).all()
            # New rows first, old ones after: the new ids all lie above the old ones, so no id
            # a running server still holds in its index comes back meaning another segment.
            s.add_all(SegmentRow(video_id=video_id, modality="audio", t0=g.t0, t1=g.t1,
                                 text=g.text, language=g.language, vector=vector_to_blob(g.vector))
                      for video_id, video_segments in segments.items() for g in video_segments)
            s.flush()
            if old:
                s.execute(delete(SegmentRow).where(SegmentRow.modality == "audio",
                                                   SegmentRow.id <= max(old)))
            for key, value in state.items():
                s.merge(IndexState(key=key, value=str(value)))
            _bump(s, ["audio"])
        self._reconcile("audio", index)  # behind by this commit: reconciled (old out, new in)
        self._save(index)
        return self.segment_count("audio")

    # --- segments ----------------------------------------------------------------------
    def segment_count(self, modality: str | None = None) -> int:
        with Session(self.engine) as s:
            q = select(func.count(SegmentRow.id))
            if modality:
                q = q.where(SegmentRow.modality == modality)
            return s.scalar(q) or 0

    def segment_texts(self, ids: Iterable[int]) -> dict[int, str]:
        """The words of these segments (speech, ocr, subtitles), by id; segments without text
        are left out."""
        ids = [int(i) for i in ids]
        with self.engine.connect() as c:
            return {row.id: row.text
                    for start in range(0, len(ids), 500)
                    for row in c.execute(_TEXTS_BY_ID, {"ids": ids[start:start + 500]})
                    if row.text is not None}

    def video_segments(self, video_id: int, modality: str | None = None) -> list[SegmentRecord]:
        q = (select(*_SEGMENT_COLUMNS).where(SegmentRow.video_id == video_id)
             .order_by(SegmentRow.t0, SegmentRow.id))
        if modality:
            q = q.where(SegmentRow.modality == modality)
        with self.engine.connect() as c:
            return [SegmentRecord(*row) for row in c.execute(q)]

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        """Stored vectors for these segment ids, in the same order."""
        ids = [int(i) for i in ids]
        found: dict[int, bytes] = {}
        with Session(self.engine) as s:
            for start in range(0, len(ids), 500):
                q = select(SegmentRow.id, SegmentRow.vector).where(
                    SegmentRow.id.in_(ids[start:start + 500]))
                found.update(s.execute(q).all())
        if not ids:
            return np.zeros((0, self.dim or 0), np.float32)
        return np.stack([blob_to_vector(found[i]) for i in ids])

    def thumbnail(self, segment_id: int) -> bytes | None:
        with Session(self.engine) as s:
            return s.scalar(select(Thumbnail.jpeg).where(Thumbnail.segment_id == segment_id))

    def best_thumbnail_near(self, video_id: int, t: float) -> int | None:
        """The frame segment of `video_id` on screen at second `t` (each frame segment has its
        thumbnail), read from the frame places in memory: those of the search just run, or of
        the frame index opened now if that search did not need it."""
        if "frame" not in self._indexes and not self.vector_count("frame"):
            return None
        return self.places("frame").at(video_id, t)

    def status_counts(self) -> dict[str, int]:
        with Session(self.engine) as s:
            return dict(s.execute(select(Video.status, func.count()).group_by(Video.status)).all())

    def modality_counts(self) -> dict[str, int]:
        with Session(self.engine) as s:
            return dict(s.execute(select(SegmentRow.modality, func.count())
                                  .group_by(SegmentRow.modality)).all())

    # --- vector indexes ------------------------------------------------------------------
    def index(self, modality: str) -> VectorIndex:
        """The vector index of one modality. Opened from its files, and reconciled with SQL only
        when they are behind it (a crash, another writer); read again, delta only, when another
        process (a running `vidseek index`) has saved since."""
        vi = self._indexes.get(modality)
        if vi is None:
            dim = self.dim
            if dim is None:
                raise RuntimeError("the library holds no vectors yet: run `vidseek index FOLDER`")
            vi = VectorIndex.open(self.index_dir, modality, dim)
            self._video_paths = self._all_video_paths()
            if vi.generation != self.generations().get(modality, 0):
                self._reconcile(modality, vi)
                self._save(vi)  # repaired on disk too, so this process follows later saves again
            self._indexes[modality] = vi
        elif vi.changed_on_disk():
            vi.refresh()
            self._video_paths = self._all_video_paths()
        return vi

    def places(self, modality: str) -> LayeredPlaces:
        """Where the vectors of the index last opened by `index(modality)` are."""
        vi = self._indexes.get(modality)
        return vi.places if vi else LayeredPlaces(Places.empty(), Places.empty(),
                                                  np.zeros(0, np.int64))

    def vector_count(self, modality: str) -> int:
        """How many vectors a query of this modality searches (0 in an empty library)."""
        if modality not in self._indexes and self.dim is None:
            return 0
        return len(self.index(modality))

    def describe_index(self, modality: str) -> str | None:
        """The saved index's kind, measured recall and bytes per vector (`vidseek status`)."""
        return describe_saved(self.index_dir, modality)

    def segment_ids(self, modality: str) -> np.ndarray:
        """The ids of one modality's segments as SQL holds them, ascending."""
        with self.engine.connect() as c:
            ids = c.scalars(select(SegmentRow.id).where(SegmentRow.modality == modality)
                            .order_by(SegmentRow.id)).all()
        return np.array(ids, dtype=np.int64)

    def _sql_places(self, modality: str) -> Places:
        with self.engine.connect() as c:
            rows = c.execute(select(SegmentRow.id, SegmentRow.video_id, SegmentRow.t0,
                                    SegmentRow.t1).where(SegmentRow.modality == modality)).all()
        return Places.of(*(zip(*rows) if rows else ([], [], [], [])))

    def _all_video_paths(self) -> dict[int, str]:
        with self.engine.connect() as c:
            return dict(c.execute(select(Video.id, Video.path)).all())

    def _rows(self, ids: np.ndarray) -> tuple[np.ndarray, Places]:
        """The stored vectors and places of these segment ids, in the same order."""
        ids = [int(i) for i in ids]
        found: dict[int, tuple] = {}
        with self.engine.connect() as c:
            for start in range(0, len(ids), 500):
                q = select(SegmentRow.id, SegmentRow.vector, SegmentRow.video_id, SegmentRow.t0,
                           SegmentRow.t1).where(SegmentRow.id.in_(ids[start:start + 500]))
                found.update((row[0], row[1:]) for row in c.execute(q))
        rows = [found[i] for i in ids]
        vectors = (np.stack([blob_to_vector(r[0]) for r in rows]) if rows
                   else np.zeros((0, self.dim or 0), np.float32))
        return vectors, Places.of(ids, [r[1] for r in rows], [r[2] for r in rows],
                                  [r[3] for r in rows])

    def _reconcile(self, modality: str, vi: VectorIndex) -> None:
        """Bring `vi` in line with SQL: the segment ids are read (not the rows); the vectors and
        places of those missing are fetched. Many missing (no usable files): built again."""
        # The generation is read before the ids: a commit in between makes the index look
        # behind (reconciled again later), never current while it misses a change.
        generation = self.generations().get(modality, 0)
        sql_ids = self.segment_ids(modality)
        missing = len(sql_ids) - len(np.intersect1d(sql_ids, vi.ids(), assume_unique=True))
        if vi.generation > generation:
            # Claims a generation SQL never reached (another library's file, a database put
            # back from a backup): rebuilt from SQL, not trusted id by id. (No readable file at
            # all opens empty, at generation -1.)
            vi.clear()
            missing = len(sql_ids)
        if missing > max(len(vi), 1) and missing >= 10_000:
            vi.rebuild(self._sql_places(modality), self._rows, self.budget)
        else:
            vi.reconcile(sql_ids, self._rows)
        vi.generation, vi.dirty = generation, True

    def _save(self, vi: VectorIndex) -> None:
        """Save the index, folding its delta into the base first when that is due."""
        if vi.merge_due(self.budget):
            vi.merge(self.budget, self._rows)
        vi.save()

    def save_indexes(self) -> None:
        """Persist every index that changed (a small delta file; the base only when the delta
        is folded into it). An index behind SQL (a Ctrl-C between a commit and its index
        update) is reconciled first, so a saved index always agrees with SQL."""
        if self.dim is None:
            return  # no vectors were ever stored
        generations = self.generations()
        for modality in sorted(set(MODALITIES) | set(generations) | set(self._indexes)):
            vi = self._indexes.get(modality)
            if vi is None:
                saved = saved_generation(self.index_dir, modality)
                if saved is None or saved == generations.get(modality, 0):
                    continue  # nothing saved, or saved as SQL is: opened from SQL when needed
                vi = self.index(modality)  # a change (a removal) left its file behind
            elif vi.generation != generations.get(modality, 0):
                self._reconcile(modality, vi)
            self._save(vi)

    def rebuild_indexes(self) -> dict[str, int]:
        """Throw the index files away and build them again from the stored vectors, each of
        the kind its size calls for, trained and tuned (the delta folded in)."""
        self._indexes.clear()
        self._drop_index_files()
        counts = {}
        for modality in MODALITIES:
            if self.segment_count(modality):
                vi = VectorIndex(self.index_dir, modality, self.dim)
                generation = self.generations().get(modality, 0)
                vi.rebuild(self._sql_places(modality), self._rows, self.budget)
                vi.generation = generation
                vi.dirty = True
                vi.save()
                self._indexes[modality] = vi
                counts[modality] = len(vi)
        self._video_paths = self._all_video_paths()
        return counts

    def close(self) -> None:
        self.save_indexes()
        self.engine.dispose()
