"""Each file's analysis: decode it in isolation, run the stages (frames, sound, subtitles,
on-screen text) and embed, giving one FileResult. What an executor runs, here or on a
Ray worker; the pipeline plans the work and stores the results."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import numpy as np

from vidseek.core.errors import DecodeError, ModelUnavailable, StageFailed, TooLargeToDecode
from vidseek.core.records import AudioFeatures, Heard, MediaInfo, Segment, Storyboard
from vidseek.core.settings import Settings
from vidseek.indexer.decode import (
    SHORT_SIDE,
    AudioTrack,
    ContentHash,
    DecodeOptions,
    FrameWindow,
    IsolatedDecoder,
)
from vidseek.indexer.limits import DecodeLimits
from vidseek.indexer.sampling import SamplingOptions, frame_spans
from vidseek.indexer.storyboard import ShotCutter, make_storyboard
from vidseek.search.storage.store import Store


class AudioStage(Protocol):
    """Hears a video's audio track: segments ready to store (speech chunks) and raw features
    (audio windows), which the store keeps so that a projection learned later applies without
    decoding again; the writer projects them with the projection current when it stores."""

    modality: str

    def hear(self, audio: np.ndarray) -> Heard: ...
    def project(self, features: AudioFeatures) -> list[Segment]: ...


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

    def read(self, path: Path, limits: DecodeLimits | None = None
             ) -> tuple[list[Segment], list[str]]: ...


@dataclass(frozen=True)
class Job:
    """One file to analyse, with the hash of the bytes the library holds for it (if any), so
    a file that was only touched costs its hash, wherever it runs."""

    path: Path
    known_hash: str | None = None
    limits: DecodeLimits | None = None  # an upload's (query clip); past them it is refused


@dataclass(frozen=True)
class FileResult:
    """One file analysed: what it is and what it yields, or why it failed. Plain data, so it
    can come back from a child process or another machine to the one store writer."""

    path: str
    content_hash: str | None = None  # None: the bytes could not be read
    unchanged: bool = False  # the bytes are those the library holds: nothing else was done
    info: MediaInfo | None = None
    segments: list[Segment] = field(default_factory=list)
    audio: AudioFeatures | None = None  # raw window features; the writer projects them
    storyboard: Storyboard | None = None  # thumbnails at its shots, in one sprite
    error: str | None = None  # why the file could not be indexed
    warning: str | None = None  # what was left out and why (a malformed subtitle file)


@dataclass(frozen=True)
class Stages:
    """What reads a video besides the image encoder: its sound, its frames (on-screen text),
    and the subtitles it already carries."""

    audio: tuple[AudioStage, ...] = ()
    frames: tuple[FrameStage, ...] = ()
    subtitles: SubtitleStage | None = None


def stages_for(settings: Settings, encoder, store: Store | None = None) -> Stages:
    """The stages as configured. With the library's store (the writer's side) the audio stage
    records its encoder and projects features; without one (a Ray worker) it computes the
    features only."""
    audio: list[AudioStage] = []
    if settings.transcribe:
        from vidseek.indexer.speech import SpeechStage

        audio.append(SpeechStage.from_settings(settings, encoder))
    if settings.index_audio:
        from vidseek.indexer.audio import AudioWindowStage

        audio.append(AudioWindowStage.for_library(settings, store) if store is not None
                     else AudioWindowStage.features_only(settings))
    frames: list[FrameStage] = []
    if settings.index_ocr:
        from vidseek.indexer.ocr import OcrStage

        frames.append(OcrStage.from_settings(settings, encoder))
    if settings.index_faces:
        from vidseek.indexer.faces import FaceStage

        frames.append(FaceStage.from_settings(settings))
    subtitles = None
    if settings.index_subtitles:
        from vidseek.indexer.subtitles import SubtitleStage as SubtitleReader

        subtitles = SubtitleReader(encoder)
    return Stages(tuple(audio), tuple(frames), subtitles)


class Analyzer:
    """Decodes one file in an isolated child and runs every stage on it. It needs no store, so
    it runs wherever an executor puts it: in this process or on a Ray worker."""

    def __init__(self, settings: Settings, encoder, stages: Stages = Stages(),
                 embed_frames: bool = True):
        """`embed_frames` False: the frames are only read by the stages (the later pass of a
        video whose frames are stored already), and no frame segment is made."""
        self.settings = settings
        self.encoder = encoder
        self.stages = stages
        self.embed_frames = embed_frames
        self.decoder = IsolatedDecoder(timeout=settings.decode_timeout)
        sampling = SamplingOptions.from_settings(settings)
        stage_sampling = replace(sampling, local_threshold=min(
            [sampling.local_threshold, *(s.local_change for s in stages.frames)]))
        if not embed_frames:
            sampling = stage_sampling
        self.options = DecodeOptions(
            sampling=sampling,
            window=settings.batch_size,
            audio=bool(stages.audio),
            short_side=max([SHORT_SIDE, *(s.short_side for s in stages.frames)]),
            stage_sampling=stage_sampling if stage_sampling != sampling else None,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Analyzer:
        """Encoders and stages built from settings alone, as on a machine without the store."""
        from vidseek.models.encoders import load_image_text_encoder

        encoder = load_image_text_encoder(settings)
        return cls(settings, encoder, stages_for(settings, encoder))

    def analyze(self, job: Job) -> FileResult:
        """Hash, decode and embed one file; one that cannot be read or decoded gives a result
        with the reason, and one whose bytes are `job.known_hash` stops after the hash."""
        # The child hashes the file first (under the decode timeout); a mere touch stops it there,
        # before any subtitle is read or embedded.
        stream = self.decoder.decode(job.path, replace(self.options, limits=job.limits))
        digest = None
        try:
            digest = next(stream).hexdigest
            if digest == job.known_hash:
                return FileResult(str(job.path), digest, unchanged=True)
            # Read while the child decodes on; the stage they replace (Whisper) is then skipped.
            subtitles, problems = (self.stages.subtitles.read(job.path, job.limits)
                                   if self.stages.subtitles else ([], []))
            audio_stages = self.stages.audio
            if subtitles and not self.settings.transcribe_subtitled:
                audio_stages = tuple(s for s in audio_stages
                                     if s.modality != self.stages.subtitles.replaces)
            result = self._analyze(str(job.path), digest, stream, audio_stages)
        except TooLargeToDecode:
            raise  # an upload refused, not a file of the library that failed
        except (DecodeError, StageFailed) as e:
            return FileResult(str(job.path), digest, error=str(e))
        finally:
            stream.close()
        return replace(result, segments=result.segments + subtitles,
                       warning="; ".join(problems) or None)

    def _analyze(self, path: str, digest: str,
                 stream: Iterator[ContentHash | FrameWindow | MediaInfo | AudioTrack],
                 audio_stages: tuple[AudioStage, ...]) -> FileResult:
        info: MediaInfo | None = None
        times: list[float] = []  # of every frame the stages read
        embedded_times: list[float] = []  # of the frames the frame path keeps (embedded)
        vectors: list[np.ndarray] = []
        jpegs: list[bytes] = []
        hearing: Hearing | None = None
        shots = ShotCutter()
        readers = [stage.reader() for stage in self.stages.frames]
        try:
            for item in stream:
                if isinstance(item, MediaInfo):
                    info = item
                elif isinstance(item, FrameWindow):
                    times.extend(item.times)
                    if self.embed_frames and any(item.embed):  # else no vector, no frame segment
                        # Frames kept only for the stages (a cell changed) are not embedded.
                        kept = item.frames[np.asarray(item.embed)]
                        embedded_times.extend(t for t, e in zip(item.times, item.embed) if e)
                        vectors.extend(self.encoder.embed_images(kept))
                        shots.add(kept)
                    jpegs.extend(item.jpegs)
                    for reader in readers:
                        reader.add(item.frames)
                elif isinstance(item, AudioTrack) and len(item.samples) and audio_stages:
                    # The track comes before the frames: it is heard while they are embedded.
                    hearing = Hearing(audio_stages, item.samples)
            if info is None or not times:
                raise DecodeError("no decodable frames")
        except DecodeError:
            if hearing is not None:
                hearing.wait()  # the next file starts with the cores free
            raise
        segments, audio = hearing.result() if hearing is not None else ([], None)
        frames = [Segment("frame", t0, t1, v, thumbnail=j) for (t0, t1), v, j
                  in zip(frame_spans(embedded_times, info.duration), vectors, jpegs)]
        spans = frame_spans(times, info.duration)
        for stage, reader in zip(self.stages.frames, readers, strict=True):
            segments.extend(stage.segments(reader, spans))
        return FileResult(path, digest, info=info, segments=frames + segments, audio=audio,
                          storyboard=make_storyboard(jpegs, embedded_times, shots.starts)
                          if self.embed_frames else None)


class Hearing:
    """The audio stages on one track, in a thread of their own, while the caller embeds the
    frames. A daemon thread: a Ctrl-C does not wait for Whisper (nothing of the file is stored
    until its whole result is in, so a kill loses nothing)."""

    def __init__(self, stages: tuple[AudioStage, ...], samples: np.ndarray):
        self._segments: list[Segment] = []
        self._features: AudioFeatures | None = None
        self._error: Exception | None = None
        self._thread = threading.Thread(target=self._hear, args=(stages, samples), daemon=True,
                                        name="vidseek-hearing")
        self._thread.start()

    def _hear(self, stages: tuple[AudioStage, ...], samples: np.ndarray) -> None:
        for stage in stages:
            try:
                heard = stage.hear(samples)
            except ModelUnavailable as e:  # no file can be heard: the run stops, as before
                self._error = e
                return
            except Exception as e:  # this file's sound: its one failed-file record says why
                self._error = StageFailed(f"the {stage.modality} stage failed: "
                                          f"{type(e).__name__}: {e}")
                return
            self._segments.extend(heard.segments)
            if heard.features is not None:
                self._features = heard.features

    def wait(self) -> None:
        """Returns once every stage is done, whatever the outcome."""
        self._thread.join()

    def result(self) -> tuple[list[Segment], AudioFeatures | None]:
        """What the stages heard (segments, and raw window features); raises what stopped them."""
        self.wait()
        if self._error is not None:
            raise self._error
        return self._segments, self._features
