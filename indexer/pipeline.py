"""Index a folder: discover, decode in isolation, embed, store one transaction per video."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from vidseek.indexer.decode import (
    AudioTrack,
    ContentHash,
    DecodeError,
    DecodeOptions,
    FrameWindow,
    IsolatedDecoder,
)
from vidseek.indexer.discover import Entry, discover, examine, is_gone, recorded_path
from vidseek.indexer.sampling import SamplingOptions, frame_spans
from vidseek.search.records import AudioFeatures, MediaInfo, Segment
from vidseek.search.store import Store
from vidseek.settings import Settings

SAVE_EVERY_S = 60.0  # persist FAISS files at least this often during a long run


class AudioStage(Protocol):
    """Turns a video's audio track into segments (speech chunks, audio windows)."""

    def segments(self, audio: np.ndarray, info: MediaInfo) -> list[Segment]: ...


@runtime_checkable
class AudioFeatureStage(Protocol):
    """Turns a video's audio track into raw window features, which the store keeps so that a
    projection learned later can be applied without decoding again, and into the segments
    the current projection makes of them (none before one is trained)."""

    def window_features(self, audio: np.ndarray) -> AudioFeatures: ...
    def segments_from(self, features: AudioFeatures) -> list[Segment]: ...


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
    """Decodes and embeds videos; everything a file yields is stored in one transaction."""

    def __init__(self, settings: Settings, store: Store, encoder,
                 audio_stages: tuple[AudioStage, ...] = ()):
        self.settings = settings
        self.store = store
        self.encoder = encoder
        self.audio_stages = audio_stages
        self.decoder = IsolatedDecoder(timeout=settings.decode_timeout)
        self.options = DecodeOptions(
            sampling=SamplingOptions(settings.frame_rate, settings.scene_threshold,
                                     settings.max_static_gap),
            audio=bool(audio_stages),
            window=settings.batch_size,
        )

    def analyze(self, path: Path) -> tuple[MediaInfo, list[Segment]]:
        """Decode and embed one file without storing it (also used for query clips)."""
        info, segments, _ = self._analyze(self.decoder.decode(path, self.options))
        return info, segments

    def _analyze(self, stream: Iterator[ContentHash | FrameWindow | MediaInfo | AudioTrack]
                 ) -> tuple[MediaInfo, list[Segment], AudioFeatures | None]:
        info: MediaInfo | None = None
        audio: AudioFeatures | None = None
        times: list[float] = []
        vectors: list[np.ndarray] = []
        jpegs: list[bytes] = []
        segments: list[Segment] = []
        for item in stream:
            if isinstance(item, MediaInfo):
                info = item
            elif isinstance(item, FrameWindow):
                times.extend(item.times)
                vectors.extend(self.encoder.embed_images(item.frames))
                jpegs.extend(item.jpegs)
            elif isinstance(item, AudioTrack) and len(item.samples):
                for stage in self.audio_stages:
                    if isinstance(stage, AudioFeatureStage):
                        audio = stage.window_features(item.samples)
                        segments.extend(stage.segments_from(audio))
                    else:
                        segments.extend(stage.segments(item.samples, info))
        if info is None or not times:
            raise DecodeError("no decodable frames")
        frames = [Segment("frame", t0, t1, v, thumbnail=j)
                  for (t0, t1), v, j in zip(frame_spans(times, info.duration), vectors, jpegs)]
        return info, frames + segments, audio

    def index(self, root: Path, on_progress: Callable[[Progress], None] | None = None,
              retry_failed: bool = False) -> IndexReport:
        """Index every video under `root`; unchanged files cost a stat, failures a row, and a
        bad entry (not a regular file, unreadable) is recorded failed while the run goes on."""
        root = recorded_path(root)
        entries = discover(root)
        listed = {str(e.path) for e in entries}
        # Drop only what is surely gone: a path a permission error hides keeps its video. A
        # folder's row (it could not be listed) goes once the folder lists again.
        removed = self.store.remove_videos(
            v.path for v in self.store.videos()
            if Path(v.path).is_relative_to(root) and v.path not in listed
            and (is_gone(v.path) or os.path.isdir(v.path)))
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
            # then) is tried as soon as it is one.
            settled = known is not None and (known.status == "indexed" or (
                failed_before and known.content_hash is not None))
            if settled and (known.size, known.mtime_ns) == (fp.size, fp.mtime_ns):
                report.unchanged += 1
            else:
                todo.append((entry.path, fp))
        if todo:
            self.store.bind_model("clip_model", self.encoder.spec, self.encoder.dim)
            self.store.mark_pending((str(p), fp) for p, fp in todo)
        last_save = time.monotonic()
        try:
            for done, (path, fp) in enumerate(todo, start=1):
                outcome = self._index_file(path, fp, report)
                if on_progress:
                    on_progress(Progress(done, len(todo), str(path), outcome))
                if time.monotonic() - last_save > SAVE_EVERY_S:
                    self.store.save_indexes()
                    last_save = time.monotonic()
        finally:
            # Runs on Ctrl-C too: what was committed is also in the saved indexes.
            self.store.save_indexes()
            report.wall_seconds = time.monotonic() - started
        return report

    def _index_file(self, path: Path, fp, report: IndexReport) -> str:
        known = self.store.video_by_path(str(path))
        # The child hashes the file first (under the decode timeout); a mere touch stops it there.
        stream = self.decoder.decode(path, self.options)
        try:
            fp = replace(fp, content_hash=next(stream).hexdigest)
            if known and known.status == "indexed" and known.content_hash == fp.content_hash:
                self.store.touch(str(path), fp)  # touched, not changed
                report.unchanged += 1
                return "unchanged"
            info, segments, audio = self._analyze(stream)
        except DecodeError as e:
            self.store.save_failure(str(path), fp, str(e))
            report.failed.append((str(path), str(e)))
            return "failed"
        finally:
            stream.close()
        self.store.save_video(str(path), fp, info, segments, audio)
        report.indexed.append(str(path))
        report.video_seconds += info.duration
        return "indexed"
