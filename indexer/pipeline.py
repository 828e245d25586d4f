"""Index a folder: discover, decode in isolation, embed, store one transaction per video."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from vidseek.indexer.decode import (
    AudioTrack,
    DecodeError,
    DecodeOptions,
    FrameWindow,
    IsolatedDecoder,
)
from vidseek.indexer.discover import content_hash, discover_videos, quick_fingerprint
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
        info, segments, _ = self._analyze(path)
        return info, segments

    def _analyze(self, path: Path) -> tuple[MediaInfo, list[Segment], AudioFeatures | None]:
        info: MediaInfo | None = None
        audio: AudioFeatures | None = None
        times: list[float] = []
        vectors: list[np.ndarray] = []
        jpegs: list[bytes] = []
        segments: list[Segment] = []
        for item in self.decoder.decode(path, self.options):
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
        if info.duration <= 0:
            info = replace(info, duration=times[-1] + 1.0 / self.settings.frame_rate)
        frames = [Segment("frame", t0, t1, v, thumbnail=j)
                  for (t0, t1), v, j in zip(frame_spans(times, info.duration), vectors, jpegs)]
        return info, frames + segments, audio

    def index(self, root: Path, on_progress: Callable[[Progress], None] | None = None,
              retry_failed: bool = False) -> IndexReport:
        """Index every video under `root`; unchanged files cost a stat, failures a row."""
        root = Path(root).expanduser().resolve()
        paths = discover_videos(root)
        removed = self.store.remove_videos(
            v.path for v in self.store.videos()
            if Path(v.path).is_relative_to(root) and not Path(v.path).exists())
        if removed:
            # Now, not at the end of a long run: a running server re-reads the saved indexes
            # and stops returning the removed videos.
            self.store.save_indexes()
        report = self.index_files(paths, on_progress, retry_failed)
        report.removed = removed
        return report

    def index_files(self, paths: list[Path], on_progress: Callable[[Progress], None] | None = None,
                    retry_failed: bool = False) -> IndexReport:
        """Index these files, skipping the ones whose bytes the library already holds."""
        started = time.monotonic()
        report = IndexReport()
        todo = []
        for path in paths:
            fp = quick_fingerprint(path)
            known = self.store.video_by_path(str(path))
            settled = known is not None and (known.status == "indexed" or (
                known.status == "failed" and not retry_failed))
            if settled and (known.size, known.mtime_ns) == (fp.size, fp.mtime_ns):
                report.unchanged += 1
            else:
                todo.append((path, fp))
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
        fp = replace(fp, content_hash=content_hash(path))
        known = self.store.video_by_path(str(path))
        if known and known.status == "indexed" and known.content_hash == fp.content_hash:
            self.store.touch(str(path), fp)  # touched, not changed
            report.unchanged += 1
            return "unchanged"
        try:
            info, segments, audio = self._analyze(path)
        except DecodeError as e:
            self.store.save_failure(str(path), fp, str(e))
            report.failed.append((str(path), str(e)))
            return "failed"
        self.store.save_video(str(path), fp, info, segments, audio)
        report.indexed.append(str(path))
        report.video_seconds += info.duration
        return "indexed"
