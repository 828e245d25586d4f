"""Index a folder: discover, decode in isolation, embed, store one transaction per video."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from vidseek.indexer.decode import (
    SHORT_SIDE,
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

    modality: str

    def segments(self, audio: np.ndarray, info: MediaInfo) -> list[Segment]: ...


class FrameReader(Protocol):
    def add(self, frames: np.ndarray) -> None: ...


class FrameStage(Protocol):
    """Reads a video's sampled frames as they arrive, window by window (a reader per video),
    then turns what it read into segments of its own modality (on-screen text). Frames are
    decoded with at least its `short_side`, and a local change above its `local_change`
    (text appearing) keeps a frame the scene filter would have thinned."""

    short_side: int
    local_change: float

    def reader(self) -> FrameReader: ...
    def segments(self, reader: FrameReader, spans: list[tuple[float, float]]) -> list[Segment]: ...


class SubtitleStage(Protocol):
    """Reads the timed text a video file already carries; returns segments and what it had to
    leave out, and why. Where it finds some, the audio stage of modality `replaces` can be
    skipped."""

    replaces: str

    def read(self, path: Path) -> tuple[list[Segment], list[str]]: ...


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
                 audio_stages: tuple[AudioStage, ...] = (),
                 frame_stages: tuple[FrameStage, ...] = (),
                 subtitle_stage: SubtitleStage | None = None):
        self.settings = settings
        self.store = store
        self.encoder = encoder
        self.audio_stages = audio_stages
        self.frame_stages = frame_stages
        self.subtitle_stage = subtitle_stage
        self.decoder = IsolatedDecoder(timeout=settings.decode_timeout)
        self.options = DecodeOptions(
            sampling=SamplingOptions(settings.frame_rate, settings.scene_threshold,
                                     settings.max_static_gap,
                                     min([1.0, *(s.local_change for s in frame_stages)])),
            audio=bool(audio_stages),
            window=settings.batch_size,
            short_side=max([SHORT_SIDE, *(s.short_side for s in frame_stages)]),
        )

    def analyze(self, path: Path) -> tuple[MediaInfo, list[Segment]]:
        """Decode and embed one file without storing it (also used for query clips)."""
        info, segments, _, _ = self._analyze(path)
        return info, segments

    def _analyze(self, path: Path) -> tuple[MediaInfo, list[Segment], AudioFeatures | None,
                                            list[str]]:
        """What one file yields: its facts, segments, raw audio features, and what was left
        out and why (a malformed subtitle file)."""
        info: MediaInfo | None = None
        audio: AudioFeatures | None = None
        times: list[float] = []
        vectors: list[np.ndarray] = []
        jpegs: list[bytes] = []
        segments, problems = self.subtitle_stage.read(path) if self.subtitle_stage else ([], [])
        audio_stages = self.audio_stages
        if segments and not self.settings.transcribe_subtitled:
            audio_stages = tuple(s for s in audio_stages
                                 if s.modality != self.subtitle_stage.replaces)
        readers = [stage.reader() for stage in self.frame_stages]
        options = replace(self.options, audio=bool(audio_stages))
        for item in self.decoder.decode(path, options):
            if isinstance(item, MediaInfo):
                info = item
            elif isinstance(item, FrameWindow):
                times.extend(item.times)
                vectors.extend(self.encoder.embed_images(item.frames))
                jpegs.extend(item.jpegs)
                for reader in readers:
                    reader.add(item.frames)
            elif isinstance(item, AudioTrack) and len(item.samples):
                for stage in audio_stages:
                    if isinstance(stage, AudioFeatureStage):
                        audio = stage.window_features(item.samples)
                        segments.extend(stage.segments_from(audio))
                    else:
                        segments.extend(stage.segments(item.samples, info))
        if info is None or not times:
            raise DecodeError("no decodable frames")
        if info.duration <= 0:
            info = replace(info, duration=times[-1] + 1.0 / self.settings.frame_rate)
        spans = frame_spans(times, info.duration)
        frames = [Segment("frame", t0, t1, v, thumbnail=j)
                  for (t0, t1), v, j in zip(spans, vectors, jpegs)]
        for stage, reader in zip(self.frame_stages, readers, strict=True):
            segments.extend(stage.segments(reader, spans))
        return info, frames + segments, audio, problems

    def index(self, root: Path, on_progress: Callable[[Progress], None] | None = None,
              retry_failed: bool = False) -> IndexReport:
        """Index every video under `root`; unchanged files cost a stat, failures a row."""
        root = Path(root).expanduser().resolve()
        paths = discover_videos(root)
        removed = self.store.remove_videos(
            v.path for v in self.store.videos()
            if Path(v.path).is_relative_to(root) and not Path(v.path).exists())
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
            if not settled or (known.size, known.mtime_ns) != (fp.size, fp.mtime_ns):
                todo.append((path, fp))
            elif (known.status == "indexed" and self.subtitle_stage
                  and known.subtitle_stamp != fp.subtitle_stamp):
                self._reread_subtitles(path, fp)
                report.indexed.append(str(path))
            else:
                report.unchanged += 1
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

    def _reread_subtitles(self, path: Path, fp) -> None:
        """A subtitle file beside an indexed video was added, edited or removed: read its
        subtitles again, and nothing else (no decoding)."""
        self.store.bind_model("clip_model", self.encoder.spec, self.encoder.dim)
        segments, problems = self.subtitle_stage.read(path)
        self.store.replace_video_segments(str(path), "subtitles", segments, fp,
                                          "; ".join(problems) or None)

    def _index_file(self, path: Path, fp, report: IndexReport) -> str:
        fp = replace(fp, content_hash=content_hash(path))
        known = self.store.video_by_path(str(path))
        if known and known.status == "indexed" and known.content_hash == fp.content_hash:
            if self.subtitle_stage and known.subtitle_stamp != fp.subtitle_stamp:
                self._reread_subtitles(path, fp)  # touched, and its subtitles changed
                report.indexed.append(str(path))
                return "indexed"
            self.store.touch(str(path), fp)  # touched, not changed
            report.unchanged += 1
            return "unchanged"
        try:
            info, segments, audio, problems = self._analyze(path)
        except DecodeError as e:
            self.store.save_failure(str(path), fp, str(e))
            report.failed.append((str(path), str(e)))
            return "failed"
        self.store.save_video(str(path), fp, info, segments, audio, "; ".join(problems) or None)
        report.indexed.append(str(path))
        report.video_seconds += info.duration
        return "indexed"
