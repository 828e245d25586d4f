"""What is heard: the sound track cut into overlapping windows, each described by Whisper's
encoder (a network trained on 680k hours of audio), and, once a projection has been learned
(indexer/audio_projection.py), mapped into the joint CLIP space as `audio` segments.

The raw per-window features are what the store keeps durably, so a new projection can be
applied to the whole library without decoding a single video again."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from vidseek.core.records import AudioFeatures, Heard, Segment
from vidseek.core.settings import Settings
from vidseek.indexer.decode import AUDIO_RATE
from vidseek.models.registry import Registry, Spec
from vidseek.models.whisper_model import faster_whisper_installed, load_faster_whisper
from vidseek.search.storage.store import Store

if TYPE_CHECKING:
    from vidseek.indexer.audio_projection import AudioProjection

CHUNK_SECONDS = 30  # Whisper's encoder always sees 30 s of log-mel (3000 frames)
ENCODER_FRAME_SECONDS = 0.02  # one encoder output frame per 20 ms (two mel hops, stride 2)
# About -60 dBFS: a window this quiet says nothing about what is heard, and indexing it would
# let every quiet moment match every query.
SILENCE_RMS = 1e-3


@dataclass(frozen=True)
class AudioWindowOptions:
    window: float  # seconds of sound per window: long enough for a bark, a note, a word
    hop: float  # windows overlap so an event is never cut in half by every window
    min_length: float = 0.5  # shorter tracks (or tails) are too short to describe

    def __post_init__(self) -> None:
        if not (self.window > 0 and 0 < self.hop <= self.window):
            raise ValueError(f"audio windows need window > 0 and 0 < hop <= window, "
                             f"got window={self.window}, hop={self.hop}")

    @classmethod
    def from_settings(cls, settings: Settings) -> AudioWindowOptions:
        return cls(window=settings.audio_window, hop=settings.audio_hop)


def audio_windows(duration: float, options: AudioWindowOptions) -> list[tuple[float, float]]:
    """(t0, t1) windows covering `duration` seconds, `hop` apart; the last one ends at the end.

    A track shorter than one window is one window; one shorter than `min_length` has none."""
    if duration < options.min_length:
        return []
    if duration <= options.window:
        return [(0.0, round(duration, 6))]
    count = math.floor((duration - options.window) / options.hop + 1e-9) + 1
    windows = [(round(i * options.hop, 6), round(i * options.hop + options.window, 6))
               for i in range(count)]
    if windows[-1][1] < duration - 1e-6:
        # A full-length window flush with the end, so the tail is heard like everything else.
        windows.append((round(duration - options.window, 6), round(duration, 6)))
    return windows


def window_rms(samples: np.ndarray, windows: list[tuple[float, float]],
               rate: int = AUDIO_RATE) -> np.ndarray:
    """Root-mean-square level of each window of `samples`."""
    squares = np.concatenate([[0.0], np.cumsum(np.asarray(samples, np.float64) ** 2)])
    out = np.zeros(len(windows))
    for i, (t0, t1) in enumerate(windows):
        a, b = min(len(samples), round(t0 * rate)), min(len(samples), round(t1 * rate))
        out[i] = math.sqrt((squares[b] - squares[a]) / (b - a)) if b > a else 0.0
    return out


def pool_windows(frames: np.ndarray, windows: list[tuple[float, float]],
                 frame_seconds: float = ENCODER_FRAME_SECONDS) -> np.ndarray:
    """Mean of the encoder frames (`frame_seconds` each, from t=0) inside each window."""
    frames = np.asarray(frames, np.float32)
    if not len(windows):
        return np.zeros((0, frames.shape[1]), np.float32)
    sums = np.concatenate([np.zeros((1, frames.shape[1])),
                           np.cumsum(frames, axis=0, dtype=np.float64)])
    n = len(frames)
    out = np.empty((len(windows), frames.shape[1]), np.float32)
    for i, (t0, t1) in enumerate(windows):
        a = min(n - 1, max(0, round(t0 / frame_seconds)))
        b = min(n, max(a + 1, round(t1 / frame_seconds)))
        out[i] = (sums[b] - sums[a]) / (b - a)
    return out


class AudioEncoder(Protocol):
    """Sound to features: one vector per ENCODER_FRAME_SECONDS of a 16 kHz mono track."""

    spec: str

    def frame_features(self, samples: np.ndarray) -> np.ndarray: ...


class WhisperAudioEncoder:
    """Whisper's encoder (CTranslate2 through faster-whisper) as an audio feature network:
    one `dim`-wide vector per 20 ms of sound. The model loads on first use, and is the one
    transcription uses when both are configured alike."""

    def __init__(self, model: str, model_dir: Path, device: str, compute_type: str,
                 threads: int):
        self.spec = str(Spec("whisper-encoder", model))
        self._args = (model, model_dir, device, compute_type, threads)

    @classmethod
    def load(cls, spec: Spec, settings: Settings) -> WhisperAudioEncoder:
        from vidseek.models.runtimes import resolve_whisper

        return cls(spec.name, settings.model_dir, *resolve_whisper(settings), settings.threads)

    @classmethod
    def installed(cls, spec: Spec, settings: Settings, download: bool) -> tuple[bool, str]:
        # Features always come from CTranslate2, whichever backend transcribes.
        return faster_whisper_installed(spec.name, settings.model_dir, download)

    @property
    def model(self):
        return load_faster_whisper(*self._args)

    def frame_features(self, samples: np.ndarray) -> np.ndarray:
        """Encoder output for 16 kHz mono `samples`: (ceil(seconds / 0.02), dim) float32.

        Each 30 s chunk is encoded once, padded like faster-whisper pads its last segment;
        windows then pool these frames instead of paying a 30 s encode each."""
        from faster_whisper.audio import pad_or_trim

        model = self.model
        extractor = model.feature_extractor
        chunk = CHUNK_SECONDS * AUDIO_RATE
        outputs = []
        for start in range(0, len(samples), chunk):
            piece = np.asarray(samples[start:start + chunk], np.float32)
            # Per-chunk log-mel (not the whole track at once) keeps memory flat on long files.
            mel = extractor(piece)[:, :-1]
            encoded = np.asarray(model.encode(pad_or_trim(mel, extractor.nb_max_frames)))[0]
            outputs.append(encoded[:math.ceil(len(piece) / AUDIO_RATE / ENCODER_FRAME_SECONDS)])
        if not outputs:
            return np.zeros((0, 0), np.float32)
        return np.concatenate(outputs)


# The sound is described by the encoder of the configured Whisper model.
AUDIO_ENCODERS: Registry[AudioEncoder] = Registry(
    "audio", "audio encoder", "whisper_model", lambda s: Spec("whisper-encoder", s.whisper_model),
    {"whisper-encoder": WhisperAudioEncoder})


class AudioWindowStage:
    """The audio stage for sound: raw window features for the store and, once a projection
    into the joint space is trained, `audio` segments made of them."""

    modality = "audio"

    def __init__(self, encoder: AudioEncoder, options: AudioWindowOptions,
                 current_projection: Callable[[], AudioProjection | None]):
        self.encoder = encoder
        self.options = options
        # Asked per video, so a projection trained meanwhile (by another process) is picked up.
        self.current_projection = current_projection

    @classmethod
    def for_library(cls, settings: Settings, store: Store) -> AudioWindowStage:
        """The stage for one library: its features' encoder is recorded (never mixed), and
        segments use the library's current projection."""
        from vidseek.indexer.audio_projection import CurrentProjection

        encoder = AUDIO_ENCODERS.load(settings)
        store.check_model("audio_encoder", encoder.spec, store.audio_feature_count() > 0)
        if store.state().get("audio_encoder") != encoder.spec:
            store.set_state(audio_encoder=encoder.spec)
        return cls(encoder, AudioWindowOptions.from_settings(settings),
                   CurrentProjection(store, settings.model_dir, encoder.spec))

    @classmethod
    def features_only(cls, settings: Settings) -> AudioWindowStage:
        """The stage on a machine without the library (a Ray worker): it computes window
        features only; the store's writer projects them."""
        return cls(AUDIO_ENCODERS.load(settings),
                   AudioWindowOptions.from_settings(settings), current_projection=lambda: None)

    def hear(self, samples: np.ndarray) -> Heard:
        """Features of every audible window of a 16 kHz mono track (no segments: the writer
        projects them)."""
        windows = audio_windows(len(samples) / AUDIO_RATE, self.options)
        windows = [w for w, level in zip(windows, window_rms(samples, windows), strict=True)
                   if level >= SILENCE_RMS]
        if not windows:
            return Heard(features=AudioFeatures.empty())
        pooled = pool_windows(self.encoder.frame_features(samples), windows)
        t0, t1 = (np.array(c, np.float64) for c in zip(*windows, strict=True))
        return Heard(features=AudioFeatures(t0, t1, pooled))

    def project(self, features: AudioFeatures) -> list[Segment]:
        """`audio` segments in the joint space; none until a projection has been trained."""
        projection = self.current_projection()
        if projection is None or not len(features):
            return []
        vectors = projection.project(features.features)
        return [Segment("audio", float(a), float(b), v)
                for a, b, v in zip(features.t0, features.t1, vectors, strict=True)]
