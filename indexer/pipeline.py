"""Index a folder: the driver plans (discover, fingerprint, skip unchanged, remove deleted),
an executor runs each file's analysis (decode in isolation, embed: here or on a Ray cluster),
and the one store writer saves each result in one transaction per video."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from vidseek.core.errors import DecodeError
from vidseek.core.records import AudioFeatures, Fingerprint, Segment
from vidseek.core.settings import Settings
from vidseek.indexer.analysis import Analyzer, FileResult, Job, Stages
from vidseek.indexer.discover import Entry, discover, examine, is_gone, recorded_path
from vidseek.indexer.executors import Executor, LocalExecutor
from vidseek.indexer.faces import FaceStage
from vidseek.indexer.limits import DecodeLimits
from vidseek.search.storage.store import Store

SAVE_EVERY_S = 60.0  # persist FAISS files at least this often during a long run


@dataclass
class IndexReport:
    indexed: list[str] = field(default_factory=list)
    unchanged: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    removed: int = 0
    video_seconds: float = 0.0
    wall_seconds: float = 0.0


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    path: str
    outcome: str  # indexed | unchanged | failed


class Indexer:
    """Plans the work, has an executor analyse each file, and stores everything a file yields
    in one transaction."""

    def __init__(self, settings: Settings, store: Store, encoder, stages: Stages = Stages(),
                 executor: Executor | None = None, analysis_pending: str | None = None):
        """`analysis_pending`: the signals a later pass adds to each video this one stores
        (frames first, indexer/passes.py), recorded with it."""
        self.settings = settings
        self.analysis_pending = analysis_pending
        self.store = store
        self.encoder = encoder
        self.stages = stages
        self.analyzer = Analyzer(settings, encoder, stages)
        self.executor = executor or LocalExecutor(self.analyzer)

    def analyze(self, path: Path, limits: DecodeLimits | None = None) -> FileResult:
        """Decode and embed one file without storing it (also used for query clips, under
        their `limits`): its facts, every segment (sound projected too) and the hash of its
        bytes."""
        result = self.analyzer.analyze(Job(Path(path), limits=limits))
        if result.error is not None:
            raise DecodeError(result.error)
        return replace(result, segments=result.segments + self.audio_segments(result.audio))

    def bind_face_model(self) -> None:
        """Record the model the face stage describes faces with (a space of their own, bound
        apart from CLIP's), refusing to mix it with another one."""
        for stage in self.stages.frames:
            if isinstance(stage, FaceStage):
                self.store.bind_face_model(stage.engine.spec, stage.engine.dim)

    def audio_segments(self, audio: AudioFeatures | None) -> list[Segment]:
        """The audio segments of these raw window features, with the current projection."""
        # Projected here, beside the store that holds the current projection, so a result
        # from any machine gets the one trained meanwhile.
        if audio is None:
            return []
        return [s for stage in self.stages.audio for s in stage.project(audio)]

    def index(self, root: Path, on_progress: Callable[[Progress], None] | None = None,
              retry_failed: bool = False, entries: list[Entry] | None = None) -> IndexReport:
        """Index every video under `root`; unchanged files cost a stat, failures a row, and a
        bad entry (not a regular file, unreadable) is recorded failed while the run goes on.
        `entries`: what a caller already discovered under `root` (some left out on purpose)."""
        root = recorded_path(root)
        entries = discover(root) if entries is None else entries
        listed = {str(e.path) for e in entries}
        # Drop only what is surely gone: a path a permission error hides keeps its video. A
        # folder's row (it could not be listed) goes once the folder lists again.
        removed = self.store.remove_videos(
            v.path for v in self.store.videos()
            if Path(v.path).is_relative_to(root) and v.path not in listed
            and (is_gone(v.path) or os.path.isdir(v.path)))
        if removed:
            # Now, not at the end of a long run: a running server re-reads the saved indexes
            # and stops returning the removed videos.
            self.store.save_indexes()
        report = self._index_entries(entries, on_progress, retry_failed)
        report.removed = removed
        return report

    def index_files(self, paths: list[Path], on_progress: Callable[[Progress], None] | None = None,
                    retry_failed: bool = False) -> IndexReport:
        """Index these files, skipping the ones whose bytes the library already holds."""
        return self._index_entries([examine(Path(p)) for p in paths], on_progress, retry_failed)

    def _index_entries(self, entries: list[Entry], on_progress: Callable[[Progress], None] | None,
                       retry_failed: bool) -> IndexReport:
        started = time.monotonic()
        report = IndexReport()
        todo = []
        for entry in entries:
            path, fp = str(entry.path), entry.fingerprint
            known = self.store.video_by_path(path)
            failed_before = known is not None and known.status == "failed" and not retry_failed
            if entry.problem:  # known without opening it: record it, no decoding to wait for
                if failed_before and known.error == entry.problem:
                    report.unchanged += 1
                else:
                    self.store.save_failure(path, fp, entry.problem)
                    report.failed.append((path, entry.problem))
                continue
            # A failed file whose bytes were never read (no hash: it was not a readable file
            # then) is tried as soon as it is one. One stored frames first whose later pass
            # never ran (a server stopped) is indexed whole by a full pass.
            unfinished = known is not None and bool(known.analysis_pending) and \
                self.analysis_pending is None
            settled = known is not None and not unfinished and (known.status == "indexed" or (
                failed_before and known.content_hash is not None))
            if not settled or (known.size, known.mtime_ns) != (fp.size, fp.mtime_ns):
                indexed_hash = (known.content_hash if known and known.status == "indexed"
                                and not unfinished else None)
                todo.append((Job(entry.path, indexed_hash), fp))
            elif known.status == "indexed" and self._subtitles_changed(known, fp):
                self._reread_subtitles(entry.path, fp)
                report.indexed.append(path)
            else:
                report.unchanged += 1
        if todo:
            self.store.bind_model("clip_model", self.encoder.spec, self.encoder.dim)
            self.store.bind_model("clip_vectors", self.encoder.runtime.vectors, self.encoder.dim)
            self.store.set_state(clip_runtime=self.encoder.runtime.describe())
            self.bind_face_model()
            self.store.mark_pending((str(job.path), fp) for job, fp in todo)
        fingerprints = {str(job.path): fp for job, fp in todo}
        last_save = time.monotonic()
        try:
            for done, result in enumerate(self.executor.run(job for job, _ in todo), start=1):
                outcome = self._store(result, fingerprints.pop(result.path), report)
                if on_progress:
                    on_progress(Progress(done, len(todo), result.path, outcome))
                if time.monotonic() - last_save > SAVE_EVERY_S:
                    self.store.save_indexes()
                    last_save = time.monotonic()
        finally:
            # Runs on Ctrl-C too: what was committed is also in the saved indexes.
            self.store.save_indexes()
            report.wall_seconds = time.monotonic() - started
        return report

    def _store(self, result: FileResult, fp: Fingerprint, report: IndexReport) -> str:
        fp = replace(fp, content_hash=result.content_hash)
        if result.unchanged:
            if self._subtitles_changed(self.store.video_by_path(result.path), fp):
                self._reread_subtitles(Path(result.path), fp)  # touched, and its subtitles changed
                report.indexed.append(result.path)
                return "indexed"
            self.store.touch(result.path, fp)  # touched, not changed
            report.unchanged += 1
            return "unchanged"
        if result.error is not None:
            self.store.save_failure(result.path, fp, result.error)
            report.failed.append((result.path, result.error))
            return "failed"
        segments = result.segments + self.audio_segments(result.audio)
        self.store.save_video(result.path, fp, result.info, segments, result.audio, result.warning,
                              result.storyboard, analysis_pending=self.analysis_pending)
        report.indexed.append(result.path)
        report.video_seconds += result.info.duration
        return "indexed"

    def _subtitles_changed(self, known, fp: Fingerprint) -> bool:
        return self.stages.subtitles is not None and known.subtitle_stamp != fp.subtitle_stamp

    def _reread_subtitles(self, path: Path, fp: Fingerprint) -> None:
        """A subtitle file beside an indexed video was added, edited or removed: read its
        subtitles again, and nothing else (no decoding)."""
        self.store.bind_model("clip_model", self.encoder.spec, self.encoder.dim)
        segments, problems = self.stages.subtitles.read(path)
        self.store.replace_video_segments(str(path), "subtitles", segments, fp,
                                          "; ".join(problems) or None)
