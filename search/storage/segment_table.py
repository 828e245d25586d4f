"""The segment table: each indexed span of a video (modality, start, end, words), its
thumbnail, and the durable copy of its vector (float16, what the FAISS indexes are built
from); beside it, the raw audio features a learned projection is (re)applied to.

Reads go through `SegmentTable`; every write through a `SegmentChange`, which
`IndexSet.change` opens (search/storage/index_set.py), so the indexes follow."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from sqlalchemy import Select, bindparam, delete, func, select
from sqlalchemy.engine import Engine, Row
from sqlalchemy.orm import Session

from vidseek.core.records import AudioFeatures, Segment
from vidseek.search.storage.model_state import ModelState
from vidseek.search.storage.places import Places
from vidseek.search.storage.schema import (
    AudioFeatureRow,
    FaceTrack,
    SegmentGeneration,
    SegmentRow,
    Thumbnail,
    Video,
)


@dataclass(frozen=True)
class SegmentRecord:
    id: int
    video_id: int
    modality: str
    t0: float
    t1: float
    text: str | None


def vector_to_blob(v: np.ndarray) -> bytes:
    """The durable form of a vector: float16, little-endian."""
    return np.asarray(v, dtype="<f2").tobytes()


def blob_to_vector(b: bytes) -> np.ndarray:
    """A vector back from its durable form, as float32."""
    return np.frombuffer(b, dtype="<f2").astype(np.float32)


def _by_ids(*columns) -> Select:
    return select(SegmentRow.id, *columns).where(SegmentRow.id.in_(bindparam("ids", expanding=True)))


_SEGMENT_COLUMNS = (SegmentRow.id, SegmentRow.video_id, SegmentRow.modality, SegmentRow.t0,
                    SegmentRow.t1, SegmentRow.text)
_TEXTS = _by_ids(SegmentRow.text)
_VECTORS = _by_ids(SegmentRow.vector)
_VECTORS_AND_PLACES = _by_ids(SegmentRow.vector, SegmentRow.video_id, SegmentRow.t0,
                              SegmentRow.t1)


class SegmentChange:
    """The one way segments are written: what one transaction (`session`, also for the rows
    that change with them) drops and adds, recorded so that the open indexes can follow it
    once it commits (search/storage/index_set.py)."""

    def __init__(self, session: Session):
        self.session = session
        self.dropped: dict[str, list[int]] = {}
        self.added: list[tuple[int, int, Segment]] = []  # (segment id, video id, segment)
        self.video_paths: dict[int, str | None] = {}  # of the videos added to (None: removed)
        self.everything = False

    def drop(self, *where) -> None:
        """Delete the segments matching `where` (their thumbnails cascade)."""
        for segment_id, modality in self.session.execute(
                select(SegmentRow.id, SegmentRow.modality).where(*where)):
            self.dropped.setdefault(modality, []).append(segment_id)
        self.session.execute(delete(SegmentRow).where(*where))

    def drop_all(self) -> None:
        """Delete every segment (before re-embedding with another model)."""
        self.session.execute(delete(SegmentRow))
        self.everything = True

    def empty_video(self, video: Video) -> None:
        """Keep `video`'s row (added if new) without its segments and raw audio features."""
        known = video.id is not None  # a new row has nothing to drop
        self.session.add(video)
        self.session.flush()
        if known:
            self.drop(SegmentRow.video_id == video.id)
            self.session.execute(delete(AudioFeatureRow)
                                 .where(AudioFeatureRow.video_id == video.id))

    def remove_video(self, video: Video) -> None:
        """Delete a video: its row, segments and raw audio features."""
        self.empty_video(video)
        self.session.delete(video)
        self.video_paths[video.id] = None

    def add(self, video: Video, segments: list[Segment]) -> None:
        """Insert these segments of `video` (a row with its id), with their thumbnails (and a
        face's box, as a track no person holds yet)."""
        rows = [SegmentRow(video_id=video.id, modality=g.modality, t0=g.t0, t1=g.t1,
                           text=g.text, language=g.language, vector=vector_to_blob(g.vector))
                for g in segments]
        self.session.add_all(rows)
        self.session.flush()
        self.session.add_all(Thumbnail(segment_id=r.id, jpeg=g.thumbnail)
                             for r, g in zip(rows, segments) if g.thumbnail)
        self.session.add_all(FaceTrack(segment_id=r.id, video_id=video.id, x0=g.box[0],
                                       y0=g.box[1], x1=g.box[2], y1=g.box[3], person_id=None)
                             for r, g in zip(rows, segments) if g.box is not None)
        self.added.extend((r.id, video.id, g) for r, g in zip(rows, segments))
        self.video_paths[video.id] = video.path

    def add_audio_features(self, video_id: int, audio: AudioFeatures) -> None:
        """Keep a video's raw audio window features."""
        self.session.add_all(AudioFeatureRow(video_id=video_id, t0=float(a), t1=float(b),
                                             feature=vector_to_blob(f))
                             for a, b, f in zip(audio.t0, audio.t1, audio.features, strict=True))

    def modalities(self) -> set[str]:
        """The modalities whose segments this change drops or adds (when it drops them all:
        every modality that ever had any)."""
        if self.everything:
            return set(self.session.scalars(select(SegmentGeneration.modality)))
        return set(self.dropped) | {g.modality for _, _, g in self.added}

    def additions(self) -> dict[str, tuple[np.ndarray, np.ndarray, Places]]:
        """The ids, vectors and places of the segments added, by modality; the vectors go
        through float16 like the durable copy, so an index rebuilt from SQL is bit-identical."""
        out = {}
        for modality in {g.modality for _, _, g in self.added}:
            mine = [(i, v, g) for i, v, g in self.added if g.modality == modality]
            ids = np.array([i for i, _, _ in mine], dtype=np.int64)
            out[modality] = (
                ids, np.stack([blob_to_vector(vector_to_blob(g.vector)) for _, _, g in mine]),
                Places.of(ids, [v for _, v, _ in mine], [g.t0 for _, _, g in mine],
                          [g.t1 for _, _, g in mine]))
        return out


class SegmentTable:
    """The segments (and raw audio features) of one library, read."""

    def __init__(self, engine: Engine, model: ModelState):
        self.engine, self.model = engine, model

    def count(self, modality: str | None = None) -> int:
        """How many segments (of this modality)."""
        q = select(func.count(SegmentRow.id))
        if modality:
            q = q.where(SegmentRow.modality == modality)
        with Session(self.engine) as s:
            return s.scalar(q) or 0

    def any(self) -> bool:
        """Whether the library holds any segment: one row read, not a count of them all (it is
        asked on every clip query, through the model check)."""
        with Session(self.engine) as s:
            return s.scalar(select(SegmentRow.id).limit(1)) is not None

    def modality_counts(self) -> dict[str, int]:
        """How many segments each modality has."""
        with Session(self.engine) as s:
            return dict(s.execute(select(SegmentRow.modality, func.count())
                                  .group_by(SegmentRow.modality)).all())

    def of_video(self, video_id: int, modality: str | None = None) -> list[SegmentRecord]:
        """A video's segments (of this modality), by start."""
        q = (select(*_SEGMENT_COLUMNS).where(SegmentRow.video_id == video_id)
             .order_by(SegmentRow.t0, SegmentRow.id))
        if modality:
            q = q.where(SegmentRow.modality == modality)
        with self.engine.connect() as c:
            return [SegmentRecord(*row) for row in c.execute(q)]

    def ids(self, modality: str) -> np.ndarray:
        """The ids of one modality's segments as SQL holds them, ascending."""
        with self.engine.connect() as c:
            ids = c.scalars(select(SegmentRow.id).where(SegmentRow.modality == modality)
                            .order_by(SegmentRow.id)).all()
        return np.array(ids, dtype=np.int64)

    def places(self, modality: str) -> Places:
        """Where every segment of one modality is."""
        with self.engine.connect() as c:
            rows = c.execute(select(SegmentRow.id, SegmentRow.video_id, SegmentRow.t0,
                                    SegmentRow.t1).where(SegmentRow.modality == modality)).all()
        return Places.of(*(zip(*rows) if rows else ([], [], [], [])))

    def texts(self, ids: Iterable[int]) -> dict[int, str]:
        """The words of these segments (speech, ocr, subtitles), by id; segments without text
        are left out."""
        return {i: row.text for i, row in self._fetch(_TEXTS, ids).items() if row.text is not None}

    def vectors(self, ids: Iterable[int]) -> np.ndarray:
        """Stored vectors for these segment ids, in the same order."""
        ids = [int(i) for i in ids]
        found = self._fetch(_VECTORS, ids)
        return self._stack([found[i].vector for i in ids])

    def vectors_and_places(self, ids: Iterable[int]) -> tuple[np.ndarray, Places]:
        """The stored vectors and places of these segment ids, in the same order (what an
        index fetches the segments it misses with)."""
        ids = [int(i) for i in ids]
        found = self._fetch(_VECTORS_AND_PLACES, ids)
        rows = [found[i] for i in ids]
        return self._stack([r.vector for r in rows]), Places.of(
            ids, [r.video_id for r in rows], [r.t0 for r in rows], [r.t1 for r in rows])

    def _stack(self, blobs: list[bytes]) -> np.ndarray:
        if not blobs:
            return np.zeros((0, self.model.dim or 0), np.float32)
        return np.stack([blob_to_vector(b) for b in blobs])

    def _fetch(self, query: Select, ids: Iterable[int]) -> dict[int, Row]:
        """The rows `query` (one of the `_by_ids` statements) gives for these ids, by id."""
        ids = [int(i) for i in ids]
        with self.engine.connect() as c:
            return {row.id: row for start in range(0, len(ids), 500)
                    for row in c.execute(query, {"ids": ids[start:start + 500]})}

    def thumbnail(self, segment_id: int) -> bytes | None:
        """The JPEG of a frame segment."""
        with Session(self.engine) as s:
            return s.scalar(select(Thumbnail.jpeg).where(Thumbnail.segment_id == segment_id))

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
