"""One library wired from settings: the store, the lazily loaded models, indexer and engine.
The CLI and the web app both go through this, so each thing is built one way: a search (by
text, image or clip, with a label filter), an index run with what follows it, the status,
what is made from what is found (clips, reels).
Imports vidseek.core, vidseek.models, vidseek.search, vidseek.indexer and vidseek.export."""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from vidseek.core.records import MODALITIES, TEXT_MODALITIES, Storyboard, StoryboardTiles
from vidseek.core.settings import Settings
from vidseek.core.subtitles import Cue
from vidseek.core.writer_lock import writer_lock
from vidseek.export.slots import ExportSlots
from vidseek.search.labels.chapters import ChapterOptions
from vidseek.search.labels.labeling import (
    ChapterInfo,
    Labeler,
    LabelingOptions,
    LabelSummary,
    UpdateReport,
    Vocabulary,
)
from vidseek.search.labels.scoring import LearnedReport
from vidseek.search.moments import describe_alignments, describe_moments
from vidseek.search.people.directory import ClusterReport, FaceTrackInfo, People, PersonInfo
from vidseek.search.people.finding import face_moments, person_moments, query_face
from vidseek.search.queries.alignment import Alignment
from vidseek.search.queries.engine import SearchEngine, SearchOptions
from vidseek.search.queries.ranking import FusionOptions, Moment
from vidseek.search.queries.similar import ClipQuery, search_similar, span_query
from vidseek.search.storage.segment_table import SegmentRecord
from vidseek.search.storage.store import Store, VideoRecord
from vidseek.search.summary import PASSAGES, Summary, summarize

if TYPE_CHECKING:
    from vidseek.export.clips import ClipResult
    from vidseek.export.reels import ReelOptions, ReelPart, ReelResult
    from vidseek.indexer.audio_projection import (
        ProjectionRecord,
        TrainingOptions,
        TrainingProgress,
    )
    from vidseek.indexer.limits import DecodeLimits
    from vidseek.indexer.passes import FramesFirst
    from vidseek.indexer.pipeline import Indexer, IndexReport, Progress
    from vidseek.library.folders import Removal
    from vidseek.library.status import LibraryStatus
    from vidseek.models.encoders import ImageTextEncoder

MAX_SEARCH_DEPTH = 1000  # SearchOptions' limit on k


def ranking_depth(page: int, per_page: int) -> int:
    """How many moments a search must rank to hold 1-based page `page` of `per_page`; a
    ranking stops MAX_SEARCH_DEPTH deep, so the pages past it are empty."""
    return min(page * per_page, MAX_SEARCH_DEPTH)


def query_clip_suffix(filename: str) -> str:
    """The suffix to store an uploaded query clip under: its own when it is one the library
    indexes (a decoder may go by it), else .mp4."""
    from vidseek.indexer.discover import VIDEO_EXTENSIONS

    suffix = Path(filename).suffix.lower()
    return suffix if suffix in VIDEO_EXTENSIONS else ".mp4"


@dataclass(frozen=True)
class TimedText:
    """One line of what a video says or shows in words: a transcript chunk (speech), a text
    read on screen (ocr) or a subtitle cue (subtitles)."""

    t0: float
    t1: float
    modality: str
    text: str


@dataclass(frozen=True)
class Watchers:
    """Callbacks that watch the long steps of a run, each optional: files indexed, epochs of
    audio training, videos labelled (done, total)."""

    files: Callable[[Progress], None] | None = None
    training: Callable[[TrainingProgress], None] | None = None
    labeling: Callable[[int, int], None] | None = None


@dataclass(frozen=True)
class AudioTraining:
    """One training of the audio projection: what it learned from, or why it could not yet."""

    windows: int  # audio windows the library held when it began
    record: ProjectionRecord | None = None
    segments: int = 0  # audio segments written with the new projection
    saved_to: Path | None = None
    not_trained: str | None = None  # why there is no record


@dataclass(frozen=True)
class IndexOutcome:
    """An index run and what followed it: the audio projection trained once enough sound is
    stored (None when not due), the labels brought up to date (None when label_after_index is
    off); the remembered folders it left alone, each with its warning (not there, not listable
    or empty while the library holds videos from it: a drive may be unmounted; kept)."""

    report: IndexReport
    audio: AudioTraining | None
    labels: UpdateReport | None
    skipped_folders: dict[str, str] = field(default_factory=dict)
    people: ClusterReport | None = None  # new face tracks grouped into people (None: faces off)


def _writes(method):
    """A Library method that writes: it holds the library's writer lock while it runs."""
    @functools.wraps(method)
    def locked(self, *args, **kwargs):
        with self.writing():
            return method(self, *args, **kwargs)
    return locked


class Library:
    """One library: its store, and the models, indexer, engine and labels built on it."""

    def __init__(self, settings: Settings, encoder: ImageTextEncoder | None = None,
                 serving: bool = False):
        """The library `settings` describe; `encoder`, when given, is used instead of loading
        the configured one (and is checked against the library's recorded model the same way).
        `serving`: a long-lived process, whose text queries keep torch out of it where they
        can (`query_encoder`); a command that answers one query loads the encoder at once."""
        if encoder is not None and encoder.spec != settings.clip_model:
            raise ValueError(f"the encoder given is {encoder.spec}, but the settings name "
                             f"{settings.clip_model}")
        self.settings = settings
        self.store = Store(settings.sql_url, settings.index_dir, settings.index_budget)
        self._given_encoder = encoder
        self._serving = serving

    def writing(self) -> AbstractContextManager[None]:
        """Hold the library's writer lock for a block (vidseek/core/writer_lock.py): WriterBusy
        at once, naming the holder, while another process or thread writes. Every writing
        method here takes it; a server's background job takes it around each job."""
        return writer_lock(self.settings.data_dir)

    def check_model(self) -> None:
        """Refuse to search vectors made by another model than the configured one."""
        self.store.check_model("clip_model", self.settings.clip_model,
                               self.store.has_segments())

    @cached_property
    def encoder(self) -> ImageTextEncoder:
        """The image+text encoder that indexes, loaded on first use; refused if it makes
        another kind of vectors than the library holds."""
        from vidseek.models.encoders import load_image_text_encoder

        return self._checked(self._given_encoder if self._given_encoder is not None
                             else load_image_text_encoder(self.settings))

    @cached_property
    def query_encoder(self) -> ImageTextEncoder:
        """What queries are encoded with: when serving, the text tower without torch in this
        process where it can run so (vidseek/models/query_towers.py: no torch in this process, for a
        child process's start), image queries through `encoder`; else `encoder` itself, as
        when it is given or already loaded."""
        from vidseek.models.query_towers import load_query_encoder

        if not self._serving or self._given_encoder is not None or "encoder" in self.__dict__:
            return self.encoder
        return self._checked(load_query_encoder(self.settings, lambda: self.encoder))

    def load_for_queries(self) -> None:
        """Load the query encoder and open every modality's vector index, side by side: the
        encoder's load is mostly a child process's start and the indexes' mostly reading
        files, so a server is ready after the longer of the two, not their sum."""
        with ThreadPoolExecutor(1, "vidseek-load-encoder") as pool:
            encoder = pool.submit(lambda: self.query_encoder)
            for modality in MODALITIES:
                self.engine.store.vector_count(modality)  # opens it (engine: model checked)
            encoder.result()

    def _checked(self, encoder: ImageTextEncoder) -> ImageTextEncoder:
        state = self.store.state()
        if "clip_model" in state and "clip_vectors" not in state:
            # made before the family was recorded, when everything ran on torch at fp32
            self.store.set_state(clip_vectors="float")
        # Checked on the encoder in hand, not the settings: int8 asked for where ONNX Runtime
        # cannot run gives fp32 vectors, which must not meet an int8 library; and one passed
        # in may be another model than the settings name.
        in_use = self.store.has_segments()
        self.store.check_model("clip_model", encoder.spec, in_use)
        self.store.check_model("clip_vectors", encoder.runtime.vectors, in_use)
        return encoder

    @cached_property
    def engine(self) -> SearchEngine:
        self.check_model()
        return SearchEngine(self.store, lambda: self.query_encoder)

    @cached_property
    def indexer(self) -> Indexer:
        from vidseek.indexer.analysis import stages_for
        from vidseek.indexer.executors import RayExecutor
        from vidseek.indexer.pipeline import Indexer

        executor = RayExecutor(self.settings) if self.settings.ray_address else None
        return Indexer(self.settings, self.store, self.encoder,
                       stages_for(self.settings, self.encoder, self.store), executor)

    @cached_property
    def frames_first(self) -> FramesFirst:
        """The indexer's two passes, frames then the other signals (a server's background
        jobs: vidseek/library/jobs.py)."""
        from vidseek.indexer.passes import FramesFirst

        return FramesFirst(self.indexer)

    @cached_property
    def labels(self) -> Labeler:
        """The library's labels and chapters, computed from its stored vectors."""
        self.check_model()
        s = self.settings
        return Labeler(self.store, s.clip_model, lambda: self.query_encoder,
                       Vocabulary.load(s.label_vocabulary or None), labeling_options(s))

    def search_text(self, query: str, options: SearchOptions,
                    label: str | None = None, person: str | None = None) -> list[Moment]:
        """Moments matching a sentence; with `label`, only moments that carry it; with
        `person`, only moments where that person is on screen."""
        return self._labelled(lambda o: self.engine.search_text(query, o), options, label,
                              person)

    def search_image(self, image: np.ndarray, options: SearchOptions,
                     label: str | None = None, person: str | None = None) -> list[Moment]:
        """Moments that look like an RGB image; with `label`, only moments that carry it;
        with `person`, only moments where that person is on screen."""
        return self._labelled(lambda o: self.engine.search_image(image, o), options, label,
                              person)

    def _labelled(self, search, options: SearchOptions, label: str | None,
                  person: str | None = None) -> list[Moment]:
        if not label and not person:
            return search(options)
        spans = ([self.labels.spans(label)] if label else []) + (
            [self.people.spans(person)] if person else [])
        # The moments that overlap every filter among the deepest ranking a search gives.
        moments = search(replace(options, k=MAX_SEARCH_DEPTH))
        for kept in spans:
            moments = kept.keep(moments)
        return moments[:options.k]

    def search_options(self, **overrides) -> SearchOptions:
        """Search options from settings (the one source of their defaults), with per-query
        overrides."""
        s = self.settings
        base = dict(
            k=s.top_k, min_score=s.min_score, merge_gap=s.merge_gap,
            merge_margin=s.merge_margin, modalities=MODALITIES,
            fusion=FusionOptions(method=s.fusion, weights=(
                ("frame", s.weight_frame), ("speech", s.weight_speech),
                ("keyword", s.weight_keyword), ("audio", s.weight_audio),
                ("ocr", s.weight_ocr), ("subtitles", s.weight_subtitles)),
                evidence_z=s.evidence_z),
        )
        base.update({k: v for k, v in overrides.items() if v is not None})
        return SearchOptions(**base)

    def read_query_image(self, source: bytes | BinaryIO, max_pixels: int | None = None
                         ) -> np.ndarray:
        """An image to search with, as uint8 RGB at query size; DecodeError when it is not an
        image, ImageTooLarge past `max_pixels` (known from its header, before decoding)."""
        from vidseek.indexer.decode import read_image

        return read_image(source, max_pixels)

    def similar_to_span(self, video_id: int, t0: float, t1: float, options: SearchOptions,
                        label: str | None = None) -> list[Alignment]:
        """Moments in other videos that match seconds t0..t1 of an indexed video, aligned;
        with `label`, only moments that carry it."""
        self.check_model()
        alignments = search_similar(self.store, span_query(self.store, video_id, t0, t1),
                                    options)
        return self._labelled_alignments(alignments, label)

    def similar_to_clip(self, path: Path, options: SearchOptions, label: str | None = None,
                        limits: DecodeLimits | None = None) -> list[Alignment]:
        """Moments that match a clip file, aligned; embedded exactly as indexing would (an
        upload within its `limits`), and the library's own copy of the same bytes (if any) left
        out; with `label`, only moments that carry it."""
        self.check_model()
        clip = self.indexer.analyze(Path(path), limits)  # hashed in the decoding child
        query = ClipQuery(tuple(clip.segments), 0.0, clip.info.duration,
                          tuple(self.store.video_ids_with_hash(clip.content_hash)))
        return self._labelled_alignments(search_similar(self.store, query, options), label)

    def _labelled_alignments(self, alignments: list[Alignment],
                             label: str | None) -> list[Alignment]:
        if not label:
            return alignments
        spans = self.labels.spans(label)
        return [a for a in alignments
                if spans.overlaps(a.moment.video_id, a.moment.t0, a.moment.t1)]

    def describe_moments(self, moments: list[Moment], query: str = "") -> list[dict[str, Any]]:
        """Ranked moments in their one JSON shape (search/moments.py), with their labels."""
        return describe_moments(self.store, self.labels, moments, query)

    def describe_alignments(self, alignments: list[Alignment]) -> list[dict[str, Any]]:
        """Aligned moments in their one JSON shape, with offsets and labels."""
        return describe_alignments(self.store, self.labels, alignments)

    def find_video(self, ref: str) -> VideoRecord:
        """A library video by id or by path (a relative path is taken from the current
        folder); FileNotFoundError that says how to list or add videos."""
        video = self.store.video(int(ref)) if ref.isdigit() else None
        video = video or self.store.video_by_path(str(Path(ref).expanduser().resolve()))
        if video is None:
            raise FileNotFoundError(f"{ref} is not in the library; `vidseek status` lists what "
                                    "is, `vidseek index FOLDER` adds videos")
        return video

    def transcript(self, video_id: int) -> list[Cue]:
        """What is said in a video, as timed cues (empty when nothing was transcribed)."""
        return [Cue(s.t0, s.t1, s.text)
                for s in self.store.video_segments(video_id, "speech") if s.text]

    def words_timeline(self, video_id: int) -> list[TimedText]:
        """Everything a video says and shows in words (transcript, on-screen text, subtitles),
        by time; at one time, in that order."""
        lines = [TimedText(s.t0, s.t1, s.modality, s.text) for modality in TEXT_MODALITIES
                 for s in self.store.video_segments(video_id, modality) if s.text]
        return sorted(lines, key=lambda line: (line.t0, TEXT_MODALITIES.index(line.modality)))

    @staticmethod
    def why_no_transcript(video: VideoRecord) -> str:
        """Why a video has no transcript, for the user: its status, no sound, or no speech."""
        if video.status != "indexed":
            return f"it is {video.status}" + (f": {video.error}" if video.error else "")
        if video.has_audio is False:
            return "it has no audio track"
        return ("no speech was recognised in it, or it was indexed without transcription "
                "(to transcribe it now: `vidseek reindex --reembed`)")

    def label_summaries(self) -> list[LabelSummary]:
        """Every label with its moment, video and example counts, by name."""
        return self.labels.summaries()

    @_writes
    def add_labels(self, names: list[str]) -> list[str]:
        """Add the user's own zero-shot labels; returns the names that were not there yet."""
        return self.labels.add(names)

    @_writes
    def remove_label(self, name: str) -> None:
        """Drop a label and every moment and video it was on."""
        self.labels.remove(name)

    @_writes
    def add_label_example(self, name: str, video_id: int, t0: float, t1: float
                          ) -> LearnedReport:
        """Mark seconds t0..t1 of a video as an example of `name` and learn it again."""
        return self.labels.add_example(name, video_id, t0, t1)

    @_writes
    def update_labels(self, on_progress: Callable[[int, int], None] | None = None
                      ) -> UpdateReport:
        """Label and chapter what is new or changed, from the stored vectors."""
        return self.labels.update(on_progress)

    def chapters(self, video_id: int) -> list[ChapterInfo]:
        """A video's chapters, each with its top label."""
        return self.labels.chapters(video_id)

    def chapters_vtt(self, video_id: int) -> str:
        """A video's chapters as WebVTT."""
        return self.labels.chapters_vtt(video_id)

    def summary(self, video_id: int, passages: int = PASSAGES) -> Summary:
        """A video at a glance, from what is stored: chapters, labels, the people on screen
        and its most central passages of words (search/summary.py)."""
        return summarize(self.store, self.labels, self.people, video_id, passages)

    # What the library holds, as the web and the CLI show it.
    def video(self, video_id: int) -> VideoRecord | None:
        """The video with this id, if any."""
        return self.store.video(video_id)

    def videos(self, status: str | None = None, offset: int = 0,
               limit: int | None = None) -> list[VideoRecord]:
        """The videos (with this index status), in the library's order."""
        return self.store.videos(status, offset=offset, limit=limit)

    def video_count(self, status: str | None = None) -> int:
        return self.store.video_count(status)

    def videos_by_status(self) -> dict[str, int]:
        """How many videos are indexed, failed or pending."""
        return self.store.status_counts()

    def segments_by_modality(self) -> dict[str, int]:
        return self.store.modality_counts()

    def model_state(self) -> dict[str, str]:
        """What produced the stored vectors (index_state)."""
        return self.store.state()

    def video_segments(self, video_id: int) -> list[SegmentRecord]:
        return self.store.video_segments(video_id)

    def thumbnail(self, segment_id: int) -> bytes | None:
        """The JPEG of a frame segment."""
        return self.store.thumbnail(segment_id)

    def thumbnail_near(self, video_id: int, t: float) -> int | None:
        """The frame segment to show for a moment of words or sound starting at `t`."""
        return self.store.best_thumbnail_near(video_id, t)

    def storyboard(self, video_id: int) -> Storyboard | None:
        """The video's storyboard (thumbnails at its shots), if it has one."""
        return self.store.storyboard(video_id)

    def storyboard_tiles(self, video_ids: list[int]) -> dict[int, StoryboardTiles]:
        """Where the tiles are in these videos' storyboards (those that have one), by id."""
        return self.store.storyboard_tiles(video_ids)

    # Not under the writer lock: a status flip that an index run tolerates, made while
    # serving a file, which must not fail because a run is writing.
    def mark_changed(self, video_id: int) -> None:
        """The video's file is no longer what was indexed: the next run indexes it again."""
        self.store.mark_changed(video_id)

    def video_labels(self, video_id: int) -> list[tuple[str, float, float]]:
        """A video's labels: name, score and seconds on screen, longest first."""
        return self.labels.video_labels(video_id)

    def videos_with_label(self, name: str, offset: int = 0,
                          limit: int | None = None) -> tuple[list[int], int]:
        """A page of the ids of the videos that carry a label, and how many there are."""
        return self.labels.videos_with_label(name, offset, limit)

    @_writes
    def rebuild_indexes(self) -> dict[str, int]:
        """Rebuild every FAISS index from the stored vectors: vectors per modality."""
        return self.store.rebuild_indexes()

    @_writes
    def index(self, root: Path, watch: Watchers = Watchers(),
              retry_failed: bool = False) -> IndexOutcome:
        """Index every video under `root` (resumable), then what follows a run; a folder is
        remembered (`index_folders` keeps it up to date) and scanned by its rule
        (`library/folders.py`); naming a path removed earlier takes it back in."""
        from vidseek.library.folders import index_folder, library_path

        path = library_path(root)
        self.store.folders.include(path)
        if not Path(path).is_dir():
            report = self.indexer.index(root, watch.files, retry_failed=retry_failed)
            return self._after_indexing(report, watch)
        self.store.remember_folder(path)
        report, skipped = index_folder(self.indexer, path, watch.files, retry_failed)
        return replace(self._after_indexing(report, watch), skipped_folders=skipped)

    @_writes
    def index_folders(self, watch: Watchers = Watchers(),
                      retry_failed: bool = False) -> IndexOutcome:
        """Bring every remembered folder up to date (one left alone by its scan's rule keeps
        its videos), then what follows a run; ValueError when none is remembered."""
        from vidseek.library.folders import index_folder, summed
        from vidseek.search.storage.folders import outermost

        folders = outermost(self.store.remembered_folders())  # a folder inside one: scanned with it
        if not folders:
            raise ValueError("the library remembers no folder yet: `vidseek index FOLDER` or "
                             "`vidseek folders add FOLDER` adds one")
        reports, skipped = [], {}
        for folder in folders:
            report, left_alone = index_folder(self.indexer, folder, watch.files, retry_failed)
            reports.append(report)
            skipped.update(left_alone)
        outcome = self._after_indexing(summed(reports), watch)
        return replace(outcome, skipped_folders=skipped)

    def folders(self) -> list[str]:
        """The remembered folders, by path."""
        return self.store.remembered_folders()

    def excluded_paths(self) -> list[str]:
        """The paths removed from inside remembered folders, which their scans leave out."""
        return self.store.folders.excluded()

    @_writes
    def add_folder(self, path: Path) -> tuple[str, bool]:
        """Remember a folder without indexing it yet: its path, and whether it is new."""
        from vidseek.library.folders import folder_to_remember

        folder = folder_to_remember(path)
        self.store.folders.include(folder)  # a folder removed from inside another comes back
        return folder, self.store.remember_folder(folder)

    @_writes
    def remove_folder(self, path: Path) -> Removal:
        """Forget a remembered folder and the videos no other remembered folder holds (their
        segments, vectors, thumbnails, labels, chapters; never the files)."""
        from vidseek.library.folders import forget_folder

        return forget_folder(self.store, path)

    @_writes
    def remove(self, path: Path) -> Removal:
        """Forget what the library holds at `path`: a remembered folder, one video, or every
        video under a folder (never the files)."""
        from vidseek.library.folders import remove_path

        return remove_path(self.store, path)

    @_writes
    def remove_video(self, video_id: int) -> Removal | None:
        """Forget one video by id (never its file; a remembered folder's scans leave it out);
        None when there is no such video."""
        from vidseek.library.folders import remove_by_user

        video = self.store.video(video_id)
        return remove_by_user(self.store, [video.path], video.path) if video else None

    @_writes
    def reembed(self, watch: Watchers = Watchers()) -> IndexOutcome:
        """Decode and embed every video again with the configured models, then what follows
        a run."""
        from vidseek.indexer.discover import is_gone

        paths = self.store.clear_segments()
        report = self.indexer.index_files([Path(p) for p in paths if not is_gone(p)],
                                          watch.files)
        return self._after_indexing(report, watch)

    @_writes
    def follow_up_indexing(self) -> IndexOutcome:
        """What follows indexing (the audio projection when due, labels), after a server's
        background jobs."""
        from vidseek.indexer.pipeline import IndexReport

        return self._after_indexing(IndexReport(), Watchers())

    def _after_indexing(self, report: IndexReport, watch: Watchers) -> IndexOutcome:
        from vidseek.indexer.audio_projection import TrainingOptions, training_due
        from vidseek.indexer.storyboard import fill_missing_storyboards

        audio = None
        s = self.settings
        if s.index_audio and training_due(self.store, s.audio_min_pairs):
            try:
                audio = self.train_audio(TrainingOptions(), watch.training)
            except ValueError as e:  # e.g. all that sound is in one video: the run succeeded
                audio = AudioTraining(self.store.audio_feature_count(), not_trained=str(e))
        fill_missing_storyboards(self.store)  # of videos indexed before storyboards were made
        labels = self.labels.update(watch.labeling) if s.label_after_index else None
        people = self.people.cluster() if s.index_faces else None
        return IndexOutcome(report, audio, labels, people=people)

    @_writes
    def train_audio(self, options: TrainingOptions,
                    on_progress: Callable[[TrainingProgress], None] | None = None
                    ) -> AudioTraining:
        """Learn (again) how the library's sounds map into the search space, from the frames
        they co-occur with; ValueError, saying why, when there is too little to learn from."""
        from vidseek.indexer.audio_projection import train_audio_projection

        windows = self.store.audio_feature_count()
        record = train_audio_projection(self.store, self.settings.model_dir, options, on_progress)
        return AudioTraining(windows, record, self.store.segment_count("audio"),
                             self.settings.model_dir / record.file)

    def status(self) -> LibraryStatus:
        """What the library holds, what failed and why, and the state of its derived parts."""
        from vidseek.library.status import library_status

        return library_status(self.settings, self.store, lambda: self.labels)

    # Making things from what was found (vidseek/export/): clips, reels, playlists.
    @cached_property
    def export_slots(self) -> ExportSlots:
        """How many exports run at once and the disk they leave free, shared by this
        library's callers (a server's requests)."""
        s = self.settings
        return ExportSlots(s.export_slots, int(s.export_min_free_mb * 2**20))

    def export_clip(self, video: VideoRecord, t0: float, t1: float, out: Path,
                    mode: str = "copy", source: BinaryIO | None = None) -> ClipResult:
        """Seconds t0..t1 of a library video as an MP4 at `out` (written whole), with what is
        said in them as a text track; `source`: its file, opened already (the web opens the
        very file it indexed)."""
        from vidseek.export.clips import export_clip

        lines = self.words_timeline(video.id)
        said = [Cue(x.t0, x.t1, x.text) for x in lines if x.modality == "subtitles"] or \
            [Cue(x.t0, x.t1, x.text) for x in lines if x.modality == "speech"]
        return export_clip(source or video.path, video.duration, video.size, t0, t1, out, said,
                           mode, self.export_slots, self.settings.max_clip_seconds)

    def reel_options(self, **overrides) -> ReelOptions:
        """How a reel is cut, from settings (their one source of defaults), with overrides."""
        from vidseek.export.reels import ReelOptions

        s = self.settings
        base = dict(count=s.reel_count, pad=s.reel_pad, max_seconds=s.reel_max_seconds)
        return ReelOptions(**{**base, **{k: v for k, v in overrides.items() if v is not None}})

    def plan_reel(self, moments: list[dict[str, Any]], options: ReelOptions) -> list[ReelPart]:
        """The parts of a reel of a search's moments, as `describe_moments` gives them."""
        from vidseek.export.reels import plan_reel

        durations = {m["video_id"]: self.store.video(m["video_id"]).duration or 0.0
                     for m in moments}
        return plan_reel(moments, durations, options)

    def export_reel(self, parts: list[ReelPart], out: Path, titles: bool = False) -> ReelResult:
        """The parts rendered one after another into the MP4 `out` (written whole), in one
        of the export slots."""
        from vidseek.export.reels import reel_size_estimate, render_reel

        needed = reel_size_estimate(parts, {p.video_id: self.store.video(p.video_id)
                                            for p in parts})
        with self.export_slots.taken(Path(out).parent, needed):
            return render_reel(parts, out, titles)

    # People: faces grouped by likeness (search/people/), named once by the user.
    @cached_property
    def people(self) -> People:
        return People(self.store, self.settings.face_similarity, self.settings.face_min_tracks)

    @cached_property
    def face_engine(self):
        """The face model that queries by photo are described with, loaded on first use;
        refused if the library's faces were made by another one."""
        from vidseek.models.faces import FACE_ENGINES

        engine = FACE_ENGINES.load(self.settings)
        self.store.check_model("face_model", engine.spec, self.store.segment_count("face") > 0)
        return engine

    def search_person(self, person: str, options: SearchOptions,
                      label: str | None = None) -> list[Moment]:
        """The moments a person (by name or id) is on screen; with `label`, only moments that
        carry it."""
        tracks = self.people.tracks(person)
        self.store.vector_count("face")  # opens the face index: the videos' paths come with it
        return self._labelled(lambda o: person_moments(tracks, o), options, label)

    def search_face(self, image: np.ndarray, options: SearchOptions, label: str | None = None,
                    person: str | None = None) -> list[Moment]:
        """The moments whose faces look like the largest face in an RGB image; with `label`,
        only moments that carry it; with `person`, only moments where that person is on
        screen."""
        vector = query_face(self.face_engine, image)
        return self._labelled(lambda o: face_moments(self.store, vector,
                                                     self.settings.face_similarity, o),
                              options, label, person)

    def list_people(self, hidden: bool = False) -> list[PersonInfo]:
        """The people found (hidden ones too with `hidden`), named first."""
        return self.people.all(hidden)

    def person(self, ref: str) -> PersonInfo:
        """A person by name or id (UnknownPerson when there is none)."""
        return self.people.find(ref)

    def person_tracks(self, ref: str) -> list[FaceTrackInfo]:
        """A person's face tracks, by video and time."""
        return self.people.tracks(ref)

    def person_video_ids(self, ref: str) -> list[int]:
        """The ids of the videos a person is in."""
        return self.people.video_ids(ref)

    def people_facet(self) -> list[dict]:
        """The people shown (not hidden) and how many videos each is in."""
        return self.people.facet()

    def video_faces(self, video_id: int) -> list[FaceTrackInfo]:
        """The face tracks of one video, by time."""
        return self.people.video_tracks(video_id)

    @_writes
    def name_person(self, ref: str, name: str) -> PersonInfo:
        return self.people.name(ref, name)

    @_writes
    def merge_people(self, into: str, others: list[str]) -> PersonInfo:
        return self.people.merge(into, others)

    @_writes
    def split_person(self, ref: str, segment_ids: list[int]) -> PersonInfo:
        return self.people.split(ref, segment_ids)

    @_writes
    def hide_person(self, ref: str, hidden: bool = True) -> PersonInfo:
        return self.people.hide(ref, hidden)

    @_writes
    def forget_person(self, ref: str) -> int:
        """Remove a person's face vectors, crops and tracks for good; how many tracks."""
        return self.people.forget(ref)

    def close(self) -> None:
        self.store.close()


def labeling_options(settings: Settings) -> LabelingOptions:
    """How labels and chapters are computed, from settings (the one source of their defaults)."""
    return LabelingOptions(
        shot_similarity=settings.shot_similarity, min_margin=settings.label_min_margin,
        max_per_moment=settings.label_max_per_moment,
        chapters=ChapterOptions(settings.chapter_min_seconds, settings.chapter_similarity))
