"""Labels for a library: the vocabulary, the user's own labels and the ones learned from
examples, applied to every moment from the stored vectors (nothing is decoded again), with
chapters cut on the way. The pure parts are in labels.py and chapters.py; SQL in
label_store.py; this module decides what is stale and recomputes it."""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vidseek.core.errors import LabelError, UnknownLabel
from vidseek.search.labels.chapters import ChapterOptions, chapters_vtt, cut_chapters
from vidseek.search.labels.label_store import (
    ChapterRow,
    LabelCounts,
    LabelledMoments,
    LabelRecord,
    LabelStore,
    VideoSegments,
)
from vidseek.search.labels.scoring import (
    Classifiers,
    LearnedReport,
    LearningOptions,
    Moments,
    assign_labels,
    classifier_version,
    frame_moments,
    learn_label,
    prompts,
    shot_starts,
    video_totals,
    zero_shot_classifier,
)
from vidseek.search.queries.ranking import Moment
from vidseek.search.storage.store import Store

SHIPPED_VOCABULARY = Path(__file__).resolve().parent / "vocabulary.toml"
STATE_KEY = "label_vocabulary"  # index_state: the digest of the vocabulary the labels follow
TEXT_KINDS = ("vocabulary", "user")  # labels described by words (zero-shot)
MAX_NAME = 200
# What a label name may hold, in one pattern that Python and an OpenAPI (ECMA-262) validator
# read alike, so the API's document states exactly what is accepted (web/openapi.py): no '/'
# (a name is a path segment of the API) and no control character, and one character at least
# that is neither a space (any that str.split splits on) nor ASCII punctuation: a letter or a
# digit of any script, not a name like ".." that a client would take for a path step.
_NAME_CHAR = r"[^/\x00-\x1f\x7f-\x9f]"
_NAME_SPACES = r"\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NAME_PATTERN = (rf"^{_NAME_CHAR}*[^\x00-\x2f\x3a-\x40\x5b-\x60\x7b-\xa0{_NAME_SPACES}]"
                rf"{_NAME_CHAR}*$")
_NAME = re.compile(NAME_PATTERN)


@dataclass(frozen=True)
class Vocabulary:
    """Label names, the prompt templates that describe each, and prompts that describe nothing."""

    version: int
    templates: tuple[str, ...]
    nothing: tuple[str, ...]
    names: tuple[str, ...]

    @classmethod
    def load(cls, path: Path | None = None) -> Vocabulary:
        """The shipped vocabulary, or a TOML file of the same shape."""
        path = Path(path) if path else SHIPPED_VOCABULARY
        with open(path, "rb") as f:
            data = tomllib.load(f)
        names = [n for group in data.get("labels", {}).values() for n in group]
        return cls(int(data.get("version", 1)), tuple(data["templates"]), tuple(data["nothing"]),
                   tuple(dict.fromkeys(clean_name(n) for n in names)))

    def digest(self, model: str, margin: float) -> str:
        """Changes with anything that changes a zero-shot classifier or the set of labels."""
        text = json.dumps([self.version, self.templates, self.nothing, self.names, model, margin])
        return hashlib.sha1(text.encode()).hexdigest()[:16]


def clean_name(name: str) -> str:
    """A label name as stored: trimmed, inner whitespace collapsed; refused unless it is
    NAME_PATTERN, at most MAX_NAME characters long as given."""
    name = str(name)
    if not name.split():
        raise LabelError("a label name cannot be empty")
    if len(name) > MAX_NAME:
        raise LabelError(f"a label name is at most {MAX_NAME} characters")
    if "/" in name:
        raise LabelError(f"a label name cannot contain '/' (got {name!r})")
    if not _NAME.fullmatch(name):
        raise LabelError(f"a label name needs a letter or a digit, and no control character "
                         f"(got {name!r})")
    return " ".join(name.split())


def names_from_toml(path: Path) -> list[str]:
    """Label names from a TOML file: `labels = ["grandma's garden", ...]`."""
    with open(path, "rb") as f:
        data = tomllib.load(f)
    names = data.get("labels")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise LabelError(f'{path} must hold a list of names: labels = ["beach hut", "our dog"]')
    return names


@dataclass(frozen=True)
class LabelingOptions:
    shot_similarity: float  # consecutive frames less similar than this start a new shot
    min_margin: float  # cosine by which a moment must be closer to a label than to nothing
    max_per_moment: int
    chapters: ChapterOptions
    chunk_segments: int = 65536  # segments read and scored at a time
    learning: LearningOptions = LearningOptions()


@dataclass(frozen=True)
class LabelSummary:
    name: str
    kind: str
    counts: LabelCounts
    report: LearnedReport | None

    def payload(self) -> dict:
        return {"name": self.name, "kind": self.kind, "moments": self.counts.moments,
                "videos": self.counts.videos, "examples": self.counts.examples,
                "training": self.report.__dict__ if self.report else None}


@dataclass(frozen=True)
class UpdateReport:
    videos: int  # videos whose moments and chapters were computed
    labels: int  # labels applied to the rest of the library
    moments: int  # labelled moments written


@dataclass(frozen=True)
class ChapterInfo:
    t0: float
    t1: float
    segment_id: int | None
    label: str | None


@dataclass
class LabelSpans:
    """Where one label is in the library, to keep only the search moments that overlap it."""

    spans: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    @classmethod
    def of(cls, rows: list[tuple[int, float, float]]) -> LabelSpans:
        by_video: dict[int, list[tuple[float, float]]] = {}
        for v, t0, t1 in rows:
            by_video.setdefault(v, []).append((t0, t1))
        out = {}
        for v, spans in by_video.items():
            spans.sort()
            t0 = np.array([a for a, _ in spans])
            # Running maximum of ends: the latest end among spans starting before a point.
            out[v] = (t0, np.maximum.accumulate(np.array([b for _, b in spans])))
        return cls(out)

    def overlaps(self, video_id: int, t0: float, t1: float) -> bool:
        found = self.spans.get(video_id)
        if found is None:
            return False
        starts, ends = found
        i = np.searchsorted(starts, t1, side="left") - 1  # last span starting before t1
        return bool(i >= 0 and ends[i] > t0)

    def keep(self, moments: list[Moment]) -> list[Moment]:
        return [m for m in moments if self.overlaps(m.video_id, m.t0, m.t1)]


class Labeler:
    """Labels of one library, for vectors of `model`; the text encoder is loaded only when a
    label described by words needs its classifier (a new label, another model)."""

    def __init__(self, store: Store, model: str, load_encoder: Callable[[], object],
                 vocabulary: Vocabulary, options: LabelingOptions):
        self.store = store
        self.model = model
        self._load_encoder = load_encoder
        self.vocabulary = vocabulary
        self.options = options

    @property
    def db(self) -> LabelStore:
        return LabelStore(self.store.engine, lambda: self.store.dim)

    # --- the labels ----------------------------------------------------------------------
    def summaries(self) -> list[LabelSummary]:
        """Every label with its counts (and a learned one's training record), by name."""
        counts = self.db.counts()
        return [LabelSummary(r.name, r.kind, counts.get(r.id, LabelCounts(0, 0, 0)),
                             LearnedReport.from_json(r.report) if r.report else None)
                for r in self.db.labels()]

    def get(self, name: str) -> LabelRecord:
        record = self.db.label(clean_name(name))
        if record is None:
            raise UnknownLabel(f"there is no label called {name!r}; `vidseek labels` (or GET "
                               "/api/labels) lists them, `vidseek labels add` adds one")
        return record

    def add(self, names: list[str]) -> list[str]:
        """Add the user's own zero-shot labels (names already there are left as they are);
        returns the names added. They reach the moments at the next `update`."""
        added = []
        for name in dict.fromkeys(clean_name(n) for n in names):
            if self.db.label(name) is None:
                self.db.add_label(name, "user")
                added.append(name)
        self._describe([r for r in self.db.labels() if r.name in added])
        return added

    def remove(self, name: str) -> None:
        """Drop a label, its examples and every moment and video it was on."""
        self.db.remove_labels([self.get(name).id])

    def add_example(self, name: str, video_id: int, t0: float, t1: float) -> LearnedReport:
        """Mark seconds t0..t1 of an indexed video as an example of `name` (a new label is a
        learned one; a zero-shot label becomes learned) and train it again on all its examples."""
        video = self.store.video(video_id)
        if video is None or video.status != "indexed":
            raise UnknownLabel(f"there is no indexed video with id {video_id}")
        if not t1 > t0:
            raise LabelError(f"an example must end after it starts (got {t0:g}..{t1:g})")
        if not self.db.frames_in([(video_id, t0, t1)])[2].size:
            raise LabelError(f"video {video_id} has no frames between {t0:g} and {t1:g} s")
        name = clean_name(name)
        record = self.db.label(name)
        label_id = record.id if record else self.db.add_label(name, "learned")
        self.db.add_example(label_id, video_id, t0, t1)
        return self._train(label_id)

    def _train(self, label_id: int) -> LearnedReport:
        examples = self.db.examples(label_id)
        positives, example_of, ids = self.db.frames_in(examples)
        if not len(positives):
            raise LabelError("the examples of this label hold no frames any more (their videos "
                             "were indexed again or removed); mark new examples")
        learning = self.options.learning
        negatives = self.db.sample_frames(learning.negatives, learning.seed, ids)
        if not len(negatives):
            raise LabelError("the library holds no other frames to tell the examples from; "
                             "index more videos first")
        w, b, report = learn_label(positives, example_of, negatives, learning)
        self.db.set_classifier(label_id, self.model, w, b, classifier_version(self.model, w, b),
                               kind="learned", report=report.to_json())
        return report

    def _describe(self, records: list[LabelRecord]) -> None:
        """Zero-shot classifiers of these labels from the text encoder: every template of every
        name embedded in one batch, averaged per name."""
        if not records:
            return
        encoder = self._load_encoder()
        templates = list(self.vocabulary.templates)
        texts = [p for r in records for p in prompts(r.name, templates)]
        embedded = np.concatenate([encoder.embed_texts(texts[i:i + 256])
                                   for i in range(0, len(texts), 256)])
        nothing = encoder.embed_texts(list(self.vocabulary.nothing))
        for i, r in enumerate(records):
            w, b = zero_shot_classifier(embedded[i * len(templates):(i + 1) * len(templates)],
                                        nothing, self.options.min_margin)
            self.db.set_classifier(r.id, self.model, w, b, classifier_version(self.model, w, b))

    def sync(self) -> None:
        """Bring the labels in line with the vocabulary file, the model and the calibration:
        add and drop vocabulary labels, describe again what changed, retrain learned labels
        made for another model."""
        digest = self.vocabulary.digest(self.model, self.options.min_margin)
        stored = self.store.state().get(STATE_KEY)
        records = self.db.labels()
        if stored != digest:
            wanted = set(self.vocabulary.names)
            gone = [r.id for r in records if r.kind == "vocabulary" and r.name not in wanted]
            self.db.remove_labels(gone)
            have = {r.name for r in records}
            for name in self.vocabulary.names:
                if name not in have:
                    self.db.add_label(name, "vocabulary")
            records = self.db.labels()
        self._describe([r for r in records if r.kind in TEXT_KINDS
                        and (stored != digest or r.model != self.model)])
        for r in records:
            if r.kind == "learned" and r.model != self.model:
                try:
                    self._train(r.id)
                except LabelError:
                    pass  # its examples are gone: it waits for new ones (shown with 0 moments)
        self.store.set_state(**{STATE_KEY: digest})

    # --- applying them -------------------------------------------------------------------
    def update(self, on_progress: Callable[[int, int], None] | None = None) -> UpdateReport:
        """Recompute what is stale, from the stored vectors: moments, labels and chapters of
        videos indexed since, then labels whose classifier changed on every other video."""
        if self.store.dim is None:
            return UpdateReport(0, 0, 0)
        self.sync()
        db = self.db
        db.forget_unindexed()
        every = db.classifiers(self.model, TEXT_KINDS + ("learned",))
        spoken = db.classifiers(self.model, TEXT_KINDS)
        versions = {r.id: (r.version, r.applied_version) for r in db.labels()}
        changed = np.array([versions[i][0] != versions[i][1] for i in every.label_ids.tolist()],
                           bool)
        stale = db.stale_videos()
        fresh = db.labeled_videos() if changed.any() else []
        total, done, written = len(stale) + len(fresh), 0, 0
        for video_ids, with_chapters, label_mask in ((stale, True, None), (fresh, False, changed)):
            frame_labels = every if label_mask is None else every.subset(label_mask)
            speech_labels = (spoken if label_mask is None else
                             spoken.subset(np.isin(spoken.label_ids, frame_labels.label_ids)))
            # Chunks sized by segments: a stale video's are all read; a fresh one's moments
            # (fewer) are.
            for chunk in db.video_chunks(video_ids, self.options.chunk_segments):
                written += self._label_chunk(db, chunk, frame_labels, speech_labels,
                                             with_chapters)
                done += len(chunk)
                if on_progress:
                    on_progress(done, total)
        db.mark_applied(every.label_ids.tolist())
        return UpdateReport(len(stale), int(changed.sum()), written)

    def _label_chunk(self, db: LabelStore, video_ids: list[int], frame_labels: Classifiers,
                     speech_labels: Classifiers, with_chapters: bool) -> int:
        """Label the moments of some videos: computed from their segments (and chaptered)
        when the videos are stale, else read as stored."""
        if with_chapters:
            frames = db.segments(video_ids, "frame")
            shots = frame_moments(frames.video_ids, frames.t0, frames.t1, frames.ids,
                                  frames.vectors, self.options.shot_similarity)
            speech = db.segments(video_ids, "speech").moments()
        else:
            shots, speech = db.moments(video_ids, "frame"), db.moments(video_ids, "speech")
        found = LabelledMoments.concat([self._labelled(shots, "frame", frame_labels),
                                        self._labelled(speech, "speech", speech_labels)])
        totals = video_totals(found.video_ids, found.t1 - found.t0, found.label_ids, found.score)
        if with_chapters:
            db.replace(video_ids, None, found, totals, self._chapters(frames, shots, speech),
                       {"frame": shots, "speech": speech})
        else:
            db.replace(video_ids, frame_labels.label_ids.tolist(), found, totals)
        return len(found)

    def _labelled(self, moments: Moments, modality: str, classifiers: Classifiers
                  ) -> LabelledMoments:
        found = assign_labels(moments.vectors, classifiers, self.options.max_per_moment)
        at = found.moments
        return LabelledMoments(
            classifiers.label_ids[found.labels], moments.video_ids[at],
            np.full(len(at), modality), moments.t0[at], moments.t1[at], found.confidence,
            moments.segment_ids[at] if modality == "frame" else np.full(len(at), -1))

    def _chapters(self, frames: VideoSegments, shots: Moments, speech: Moments
                  ) -> list[ChapterRow]:
        """Chapters of every video in a chunk, from its shots and transcript (both sorted by
        video, so each video is one slice of them)."""
        starts = np.flatnonzero(shot_starts(frames.video_ids, frames.vectors,
                                            self.options.shot_similarity))
        frames_per_shot = np.diff(np.r_[starts, len(frames.video_ids)])
        rows = []
        for v in np.unique(shots.video_ids).tolist():
            a, b = np.searchsorted(shots.video_ids, [v, v + 1])
            c, d = np.searchsorted(speech.video_ids, [v, v + 1])
            rows += [ChapterRow(v, ch.t0, ch.t1, ch.segment_id) for ch in cut_chapters(
                shots.slice(a, b), frames_per_shot[a:b], speech.slice(c, d),
                self.options.chapters)]
        return rows

    # --- reading them --------------------------------------------------------------------
    def spans(self, name: str) -> LabelSpans:
        """Where a label is in the library."""
        return LabelSpans.of(self.db.label_spans(self.get(name).id))

    def video_labels(self, video_id: int) -> list[tuple[str, float, float]]:
        return self.db.video_labels(video_id)

    def moment_labels(self, moments: list[tuple[int, float, float]]) -> list[list[str]]:
        """For each (video id, t0, t1), the labels of the labelled moments it overlaps, the
        most confident first."""
        rows = self.db.moment_labels(v for v, _, _ in moments)
        by_video: dict[int, list[tuple[float, float, str, float]]] = {}
        for v, t0, t1, name, score in rows:
            by_video.setdefault(v, []).append((t0, t1, name, score))
        out = []
        for v, t0, t1 in moments:
            best: dict[str, float] = {}
            for a, b, name, score in by_video.get(v, []):
                if b > t0 and a < t1:
                    best[name] = max(best.get(name, 0.0), score)
            out.append(sorted(best, key=lambda n: (-best[n], n)))
        return out

    def chapters(self, video_id: int) -> list[ChapterInfo]:
        """A video's chapters, each with its top label: the one on screen (or said) longest
        in it, weighted by confidence."""
        chapters = self.db.chapters(video_id)
        labelled = self.db.moment_labels([video_id])
        out = []
        for c in chapters:
            weight: dict[str, float] = {}
            for _, a, b, name, score in labelled:
                overlap = min(b, c.t1) - max(a, c.t0)
                if overlap > 0:
                    weight[name] = weight.get(name, 0.0) + overlap * score
            top = max(sorted(weight), key=weight.__getitem__) if weight else None
            out.append(ChapterInfo(c.t0, c.t1, c.segment_id, top))
        return out

    def chapters_vtt(self, video_id: int) -> str:
        """A video's chapters as WebVTT (titled by their top label)."""
        return chapters_vtt([(c.t0, c.t1, c.label or f"Chapter {n}")
                             for n, c in enumerate(self.chapters(video_id), start=1)])

    def videos_with_label(self, name: str, offset: int = 0, limit: int | None = None
                          ) -> tuple[list[int], int]:
        return self.db.videos_with_label(self.get(name).id, offset, limit)
