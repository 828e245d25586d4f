"""The SQL side of labels: label rows with their classifiers, examples, labelled moments and
videos, chapters, and the stored vectors they are computed from, read in chunks."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from vidseek.search.labels.scoring import Classifiers, Moments
from vidseek.search.storage.schema import (
    Chapter,
    Label,
    LabeledVideo,
    LabelExample,
    MomentLabel,
    MomentRow,
    SegmentRow,
    Video,
    VideoLabel,
)

IN_CLAUSE = 500  # ids per IN (...) list


@dataclass(frozen=True)
class LabelRecord:
    id: int
    name: str
    kind: str  # vocabulary | user | learned
    model: str | None
    version: str | None
    applied_version: str | None
    report: str | None
    created_at: datetime


@dataclass(frozen=True)
class LabelCounts:
    moments: int
    videos: int
    examples: int


@dataclass(frozen=True)
class LabelledMoments:
    """Labels given to moments, as columns (one row per moment and label)."""

    label_ids: np.ndarray
    video_ids: np.ndarray
    modality: np.ndarray  # of str
    t0: np.ndarray
    t1: np.ndarray
    score: np.ndarray
    segment_ids: np.ndarray  # -1: none (a transcript chunk)

    def __len__(self) -> int:
        return len(self.label_ids)

    @classmethod
    def concat(cls, parts: list[LabelledMoments]) -> LabelledMoments:
        return cls(*(np.concatenate([getattr(p, f) for p in parts])
                     for f in ("label_ids", "video_ids", "modality", "t0", "t1", "score",
                               "segment_ids")))

    def rows(self) -> list[dict]:
        """Rows to insert into moment_labels."""
        return [{"label_id": label, "video_id": v, "modality": m, "t0": a, "t1": b,
                 "score": score, "segment_id": None if s < 0 else s}
                for label, v, m, a, b, score, s in zip(
                    self.label_ids.tolist(), self.video_ids.tolist(), self.modality.tolist(),
                    self.t0.tolist(), self.t1.tolist(), self.score.tolist(),
                    self.segment_ids.tolist())]


@dataclass(frozen=True)
class ChapterRow:
    video_id: int
    t0: float
    t1: float
    segment_id: int | None


@dataclass(frozen=True)
class VideoSegments:
    """One modality's segments of some whole videos, sorted by (video, time)."""

    video_ids: np.ndarray
    t0: np.ndarray
    t1: np.ndarray
    ids: np.ndarray
    vectors: np.ndarray  # float32

    def moments(self) -> Moments:
        """Each segment as its own moment (transcript chunks are labelled one by one)."""
        return Moments(self.video_ids, self.t0, self.t1, self.ids, self.vectors)


_LABEL_COLUMNS = (Label.id, Label.name, Label.kind, Label.model, Label.version,
                  Label.applied_version, Label.report, Label.created_at)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class LabelStore:
    """Label tables of one library's database."""

    def __init__(self, engine: Engine, dim: Callable[[], int | None]):
        self.engine = engine
        # Read only where vectors are decoded: a search's label lookup needs no dimension,
        # and reading it costs a query of the model state.
        self._dim = dim

    @property
    def dim(self) -> int:
        """The dimension of the library's vectors (0 before any model was bound)."""
        return self._dim() or 0

    # --- labels ----------------------------------------------------------------------------
    def labels(self) -> list[LabelRecord]:
        """Every label, by name."""
        with self.engine.connect() as c:
            return [LabelRecord(*row) for row in c.execute(select(*_LABEL_COLUMNS)
                                                           .order_by(Label.name))]

    def label(self, name: str) -> LabelRecord | None:
        with self.engine.connect() as c:
            row = c.execute(select(*_LABEL_COLUMNS).where(Label.name == name)).first()
            return LabelRecord(*row) if row else None

    def add_label(self, name: str, kind: str) -> int:
        with Session(self.engine) as s, s.begin():
            row = Label(name=name, kind=kind, created_at=_now())
            s.add(row)
            s.flush()
            return row.id

    def remove_labels(self, label_ids: Iterable[int]) -> None:
        """Drop labels with their examples and every moment and video they were on."""
        ids = list(label_ids)
        with Session(self.engine) as s, s.begin():
            for table in (MomentLabel, VideoLabel, LabelExample):
                s.execute(delete(table).where(table.label_id.in_(ids)))
            s.execute(delete(Label).where(Label.id.in_(ids)))

    def set_classifier(self, label_id: int, model: str, weights: np.ndarray, bias: float,
                       version: str, kind: str | None = None, report: str | None = None) -> None:
        values = dict(model=model, weights=np.asarray(weights, "<f4").tobytes(), bias=bias,
                      version=version, report=report)
        if kind:
            values["kind"] = kind
        with Session(self.engine) as s, s.begin():
            s.execute(update(Label).where(Label.id == label_id).values(**values))

    def classifiers(self, model: str, kinds: tuple[str, ...]) -> Classifiers:
        """The classifiers of labels of these kinds made for vectors of `model`."""
        with self.engine.connect() as c:
            rows = c.execute(select(Label.id, Label.weights, Label.bias)
                             .where(Label.model == model, Label.weights.is_not(None),
                                    Label.kind.in_(kinds)).order_by(Label.id)).all()
        dim = self.dim
        return Classifiers(np.array([r.id for r in rows], np.int64),
                           np.array([np.frombuffer(r.weights, "<f4") for r in rows],
                                    np.float32).reshape(len(rows), dim),
                           np.array([r.bias for r in rows], np.float32))

    def mark_applied(self, label_ids: Iterable[int]) -> None:
        """These labels' current classifiers are the ones on the library's moments."""
        ids = list(label_ids)
        with Session(self.engine) as s, s.begin():
            for start in range(0, len(ids), IN_CLAUSE):
                s.execute(update(Label).where(Label.id.in_(ids[start:start + IN_CLAUSE]))
                          .values(applied_version=Label.version))

    def counts(self) -> dict[int, LabelCounts]:
        """Labelled moments, labelled videos and examples, by label id."""
        with self.engine.connect() as c:
            moments = dict(c.execute(select(MomentLabel.label_id, func.count())
                                     .group_by(MomentLabel.label_id)).all())
            videos = dict(c.execute(select(VideoLabel.label_id, func.count())
                                    .group_by(VideoLabel.label_id)).all())
            examples = dict(c.execute(select(LabelExample.label_id, func.count())
                                      .group_by(LabelExample.label_id)).all())
            ids = c.scalars(select(Label.id)).all()
        return {i: LabelCounts(moments.get(i, 0), videos.get(i, 0), examples.get(i, 0))
                for i in ids}

    # --- examples ------------------------------------------------------------------------
    def add_example(self, label_id: int, video_id: int, t0: float, t1: float) -> None:
        with Session(self.engine) as s, s.begin():
            s.add(LabelExample(label_id=label_id, video_id=video_id, t0=t0, t1=t1))

    def examples(self, label_id: int) -> list[tuple[int, float, float]]:
        """(video id, t0, t1) of every example of a label."""
        with self.engine.connect() as c:
            return [tuple(r) for r in c.execute(
                select(LabelExample.video_id, LabelExample.t0, LabelExample.t1)
                .where(LabelExample.label_id == label_id).order_by(LabelExample.id))]

    def frames_in(self, spans: list[tuple[int, float, float]]
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Frame segments on screen during each span: (vectors, which span each is in, ids)."""
        vectors, span_of, ids = [], [], []
        with self.engine.connect() as c:
            for i, (video_id, t0, t1) in enumerate(spans):
                rows = c.execute(select(SegmentRow.id, SegmentRow.vector).where(
                    SegmentRow.video_id == video_id, SegmentRow.modality == "frame",
                    SegmentRow.t1 > t0, SegmentRow.t0 < t1)).all()
                vectors += [r.vector for r in rows]
                ids += [r.id for r in rows]
                span_of += [i] * len(rows)
        return self._decode(vectors), np.array(span_of, np.int64), np.array(ids, np.int64)

    def sample_frames(self, n: int, seed: int, exclude: np.ndarray) -> np.ndarray:
        """Vectors of up to `n` frame segments drawn at random (fixed seed), not in `exclude`."""
        with self.engine.connect() as c:
            ids = np.array(c.scalars(select(SegmentRow.id).where(SegmentRow.modality == "frame")
                                     .order_by(SegmentRow.id)).all(), np.int64)
        ids = ids[~np.isin(ids, exclude)]
        if len(ids) > n:
            ids = np.sort(np.random.default_rng(seed).choice(ids, n, replace=False))
        blobs: dict[int, bytes] = {}
        with self.engine.connect() as c:
            for start in range(0, len(ids), IN_CLAUSE):
                chunk = ids[start:start + IN_CLAUSE].tolist()
                blobs.update(c.execute(select(SegmentRow.id, SegmentRow.vector)
                                       .where(SegmentRow.id.in_(chunk))).all())
        return self._decode([blobs[i] for i in ids.tolist()])

    # --- the vectors labels are computed from --------------------------------------------
    def stale_videos(self) -> list[int]:
        """Indexed videos whose moments and chapters were never computed, or were computed
        from vectors they have since been indexed again with."""
        with self.engine.connect() as c:
            return list(c.scalars(
                select(Video.id).outerjoin(LabeledVideo, LabeledVideo.video_id == Video.id)
                .where(Video.status == "indexed",
                       (LabeledVideo.video_id.is_(None))
                       | (LabeledVideo.indexed_at != Video.indexed_at))
                .order_by(Video.id)))

    def forget_unindexed(self) -> None:
        """Drop the labels and chapters of videos that are no longer indexed (a file that
        failed when it was indexed again keeps its row, not its moments)."""
        gone = select(Video.id).where(Video.status != "indexed").scalar_subquery()
        with Session(self.engine) as s, s.begin():
            for table in (MomentRow, MomentLabel, VideoLabel, Chapter, LabeledVideo):
                s.execute(delete(table).where(table.video_id.in_(gone)))

    def labeled_videos(self) -> list[int]:
        """Indexed videos whose moments are up to date with their vectors."""
        with self.engine.connect() as c:
            return list(c.scalars(
                select(Video.id).join(LabeledVideo, LabeledVideo.video_id == Video.id)
                .where(Video.status == "indexed", LabeledVideo.indexed_at == Video.indexed_at)
                .order_by(Video.id)))

    def video_chunks(self, video_ids: list[int], max_segments: int) -> Iterator[list[int]]:
        """The videos in groups holding about `max_segments` segments each (whole videos)."""
        counts: dict[int, int] = {}
        with self.engine.connect() as c:
            for start in range(0, len(video_ids), IN_CLAUSE):
                chunk = video_ids[start:start + IN_CLAUSE]
                counts.update(c.execute(select(SegmentRow.video_id, func.count())
                                        .where(SegmentRow.video_id.in_(chunk))
                                        .group_by(SegmentRow.video_id)).all())
        group, size = [], 0
        for v in video_ids:
            if group and (size + counts.get(v, 0) > max_segments or len(group) >= IN_CLAUSE):
                yield group
                group, size = [], 0
            group.append(v)
            size += counts.get(v, 0)
        if group:
            yield group

    def segments(self, video_ids: list[int], modality: str) -> VideoSegments:
        """One modality's segments of these videos with their stored vectors."""
        # Unordered, then sorted here: SQLite would sort the rows with their vector blobs.
        with self.engine.connect() as c:
            rows = c.execute(select(SegmentRow.video_id, SegmentRow.t0, SegmentRow.t1,
                                    SegmentRow.id, SegmentRow.vector)
                             .where(SegmentRow.video_id.in_(video_ids),
                                    SegmentRow.modality == modality)).all()
        columns = list(zip(*rows)) if rows else [[], [], [], [], []]
        video, t0, t1, ids = (np.array(columns[0], np.int64), np.array(columns[1], np.float64),
                              np.array(columns[2], np.float64), np.array(columns[3], np.int64))
        order = np.lexsort((ids, t0, video))
        vectors = self._decode(columns[4])
        if not (order == np.arange(len(order))).all():
            vectors = vectors[order]
        return VideoSegments(video[order], t0[order], t1[order], ids[order], vectors)

    def moments(self, video_ids: list[int], modality: str) -> Moments:
        """The stored moments of these videos, sorted by (video, time)."""
        with self.engine.connect() as c:
            rows = c.execute(select(MomentRow.video_id, MomentRow.t0, MomentRow.t1,
                                    MomentRow.segment_id, MomentRow.vector)
                             .where(MomentRow.video_id.in_(video_ids),
                                    MomentRow.modality == modality)
                             .order_by(MomentRow.video_id, MomentRow.t0, MomentRow.id)).all()
        columns = list(zip(*rows)) if rows else [[], [], [], [], []]
        return Moments(np.array(columns[0], np.int64), np.array(columns[1], np.float64),
                       np.array(columns[2], np.float64),
                       np.array([-1 if s is None else s for s in columns[3]], np.int64),
                       self._decode(columns[4]))

    def _decode(self, blobs) -> np.ndarray:
        """float16 blobs to one float32 matrix, in one conversion."""
        return np.frombuffer(b"".join(blobs), "<f2").astype(np.float32).reshape(
            len(blobs), self.dim)

    # --- results ---------------------------------------------------------------------------
    def replace(self, video_ids: list[int], label_ids: list[int] | None,
                moments: LabelledMoments, video_totals: list[tuple[int, int, float, float]],
                chapters: list[ChapterRow] | None = None,
                computed: dict[str, Moments] | None = None) -> None:
        """In one transaction, swap the labels of these videos (only `label_ids`, or all) for
        these; with `chapters` and the `computed` moments (by modality), swap those too and
        record the videos as up to date."""
        with Session(self.engine) as s, s.begin():
            for table in (MomentLabel, VideoLabel):
                q = delete(table).where(table.video_id.in_(video_ids))
                if label_ids is not None:
                    q = q.where(table.label_id.in_(label_ids))
                s.execute(q)
            # Core inserts (executemany): the ORM's bulk path costs more than SQLite's write.
            if len(moments):
                s.execute(insert(MomentLabel.__table__), moments.rows())
            if video_totals:
                s.execute(insert(VideoLabel.__table__), [
                    {"video_id": v, "label_id": label, "score": score, "seconds": seconds}
                    for v, label, score, seconds in video_totals])
            if computed is not None:
                s.execute(delete(MomentRow).where(MomentRow.video_id.in_(video_ids)))
                for modality, m in computed.items():
                    if len(m):
                        blobs = np.asarray(m.vectors, "<f2")
                        s.execute(insert(MomentRow.__table__), [
                            {"video_id": v, "modality": modality, "t0": a, "t1": b,
                             "segment_id": None if g < 0 else g, "vector": blobs[i].tobytes()}
                            for i, (v, a, b, g) in enumerate(zip(
                                m.video_ids.tolist(), m.t0.tolist(), m.t1.tolist(),
                                m.segment_ids.tolist()))])
            if chapters is not None:
                s.execute(delete(Chapter).where(Chapter.video_id.in_(video_ids)))
                if chapters:
                    s.execute(insert(Chapter.__table__), [c.__dict__ for c in chapters])
                indexed_at = dict(s.execute(select(Video.id, Video.indexed_at)
                                            .where(Video.id.in_(video_ids))).all())
                s.execute(delete(LabeledVideo).where(LabeledVideo.video_id.in_(video_ids)))
                s.execute(insert(LabeledVideo.__table__), [{"video_id": v, "indexed_at": indexed_at[v]}
                                                 for v in video_ids])

    # --- reading them ----------------------------------------------------------------------
    def video_labels(self, video_id: int) -> list[tuple[str, float, float]]:
        """(name, best confidence, seconds) of a video's labels, longest on screen first."""
        with self.engine.connect() as c:
            return [tuple(r) for r in c.execute(
                select(Label.name, VideoLabel.score, VideoLabel.seconds)
                .join(Label, Label.id == VideoLabel.label_id)
                .where(VideoLabel.video_id == video_id)
                .order_by(VideoLabel.seconds.desc(), VideoLabel.score.desc(), Label.name))]

    def moment_labels(self, video_ids: Iterable[int]) -> list[tuple[int, float, float, str, float]]:
        """(video id, t0, t1, label name, confidence) of every labelled moment of these videos."""
        ids = sorted(set(video_ids))
        out = []
        with self.engine.connect() as c:
            for start in range(0, len(ids), IN_CLAUSE):
                out += [tuple(r) for r in c.execute(
                    select(MomentLabel.video_id, MomentLabel.t0, MomentLabel.t1, Label.name,
                           MomentLabel.score)
                    .join(Label, Label.id == MomentLabel.label_id)
                    .where(MomentLabel.video_id.in_(ids[start:start + IN_CLAUSE])))]
        return out

    def label_spans(self, label_id: int) -> list[tuple[int, float, float]]:
        """(video id, t0, t1) of every moment carrying a label."""
        with self.engine.connect() as c:
            return [tuple(r) for r in c.execute(
                select(MomentLabel.video_id, MomentLabel.t0, MomentLabel.t1)
                .where(MomentLabel.label_id == label_id))]

    def chapters(self, video_id: int) -> list[ChapterRow]:
        with self.engine.connect() as c:
            return [ChapterRow(*r) for r in c.execute(
                select(Chapter.video_id, Chapter.t0, Chapter.t1, Chapter.segment_id)
                .where(Chapter.video_id == video_id).order_by(Chapter.t0))]

    def videos_with_label(self, label_id: int, offset: int = 0, limit: int | None = None
                          ) -> tuple[list[int], int]:
        """Ids of the videos carrying a label (by path), one slice, and how many there are."""
        q = (select(Video.id).join(VideoLabel, VideoLabel.video_id == Video.id)
             .where(VideoLabel.label_id == label_id))
        with self.engine.connect() as c:
            total = c.scalar(select(func.count()).select_from(q.subquery())) or 0
            ids = c.scalars(q.order_by(Video.path).offset(offset).limit(limit)).all()
        return list(ids), total
