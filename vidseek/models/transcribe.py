"""Speech to timestamped text with Whisper.

Backends sit in a registry keyed by `settings.whisper_backend` (the spec
`faster-whisper:base`): faster-whisper (CTranslate2, int8 on CPU, the default) and
openai-whisper (PyTorch, for GPU hosts). A transcriber loads its model on first use (one per
process and configuration), never at import time."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol

import numpy as np

from vidseek.core.errors import ModelUnavailable, one_line
from vidseek.core.settings import Settings
from vidseek.models.registry import Registry, Spec
from vidseek.models.whisper_model import faster_whisper_installed, load_faster_whisper

OPENAI_WHISPER_FIX = "pip install 'vidseek[openai-whisper]'"


@dataclass(frozen=True)
class Word:
    t0: float
    t1: float
    text: str  # as Whisper spells it, leading space included (CJK words have none)
    probability: float = 1.0


@dataclass(frozen=True)
class TranscriptSegment:
    """One stretch of recognised speech, with word timings when the backend gives them."""

    t0: float
    t1: float
    text: str
    language: str | None
    words: tuple[Word, ...] = ()
    # The decoder's own confidence (faster-whisper's names), what tells speech from a
    # hallucination on music or noise (see indexer/speech_filter.py); neutral when unknown.
    no_speech_prob: float = 0.0
    avg_logprob: float = 0.0
    compression_ratio: float = 1.0


@dataclass(frozen=True)
class TranscribeOptions:
    model_dir: Path  # where the bundled model is assembled and downloads are kept
    backend: str
    model: str  # a Whisper size or a model folder
    device: str
    compute_type: str
    threads: int  # 0: every core
    beam_size: int

    @classmethod
    def from_settings(cls, settings: Settings) -> TranscribeOptions:
        from vidseek.models.runtimes import resolve_whisper

        device, compute_type = resolve_whisper(settings)
        return cls(backend=settings.whisper_backend, model=settings.whisper_model,
                   model_dir=settings.model_dir, device=device,
                   compute_type=compute_type, threads=settings.threads,
                   beam_size=settings.whisper_beam_size)

    @property
    def download_root(self) -> Path:
        """Where this backend keeps the models it downloads itself."""
        return self.model_dir / self.backend


class Transcriber(Protocol):
    def transcribe(self, audio: np.ndarray) -> list[TranscriptSegment]:
        """Timestamped segments of 16 kHz mono float32 audio; empty when nothing is said."""
        ...


BATCH_WINDOWS = 8  # 30 s speech windows decoded together


class FasterWhisperTranscriber:
    """Whisper through CTranslate2, with Silero VAD so silence costs (almost) nothing."""

    def __init__(self, options: TranscribeOptions):
        self.options = options

    @classmethod
    def load(cls, spec: Spec, settings: Settings) -> FasterWhisperTranscriber:
        return cls(TranscribeOptions.from_settings(settings))

    @classmethod
    def installed(cls, spec: Spec, settings: Settings, download: bool) -> tuple[bool, str]:
        return faster_whisper_installed(spec.name, settings.model_dir, download)

    @property
    def model(self):
        o = self.options
        return load_faster_whisper(o.model, o.model_dir, o.device, o.compute_type, o.threads)

    def transcribe(self, audio: np.ndarray) -> list[TranscriptSegment]:
        from faster_whisper import BatchedInferencePipeline

        # The batched pipeline cuts the speech (found by VAD) into ~30 s windows and decodes
        # several at once, which keeps the cores busier than one by one at the same beam. Each
        # window is decoded on its own, so a misheard phrase cannot start a repetition loop
        # that runs through the rest of a long video.
        segments, info = BatchedInferencePipeline(self.model).transcribe(
            np.asarray(audio, np.float32), beam_size=self.options.beam_size,
            batch_size=BATCH_WINDOWS, word_timestamps=True)
        return [TranscriptSegment(float(s.start), float(s.end), s.text.strip(), info.language,
                                  tuple(Word(float(w.start), float(w.end), w.word,
                                             float(w.probability)) for w in s.words or ()),
                                  float(s.no_speech_prob), float(s.avg_logprob),
                                  float(s.compression_ratio))
                for s in segments if s.text.strip()]


class OpenAIWhisperTranscriber:
    """The reference PyTorch Whisper, for hosts with a GPU. It has no VAD: silence is decoded."""

    def __init__(self, options: TranscribeOptions):
        self.options = options

    @classmethod
    def load(cls, spec: Spec, settings: Settings) -> OpenAIWhisperTranscriber:
        import_openai_whisper()  # fail now, before hours of indexing, not at the first video
        return cls(TranscribeOptions.from_settings(settings))

    @classmethod
    def installed(cls, spec: Spec, settings: Settings, download: bool) -> tuple[bool, str]:
        try:
            whisper = import_openai_whisper()
        except ModelUnavailable:
            return False, f"openai-whisper is not installed. Fix: {OPENAI_WHISPER_FIX}"
        download_root = TranscribeOptions.from_settings(settings).download_root
        checkpoint = Path(spec.name).expanduser()
        if not checkpoint.is_file():
            checkpoint = download_root / f"{spec.name}.pt"
        if not checkpoint.is_file() and download:
            whisper.load_model(spec.name, device="cpu", download_root=str(download_root))
        if checkpoint.is_file():
            return True, f"checkpoint {checkpoint}"
        return False, (
            f"no checkpoint at {checkpoint}. Fix: connect to the network once and run "
            "`vidseek models --download`, or set VIDSEEK_WHISPER_MODEL to a .pt checkpoint file")

    @property
    def model(self):
        o = self.options
        return load_openai_whisper(o.model, o.device, o.download_root)

    def transcribe(self, audio: np.ndarray) -> list[TranscriptSegment]:
        result = self.model.transcribe(
            np.asarray(audio, np.float32), beam_size=self.options.beam_size,
            word_timestamps=True,
            condition_on_previous_text=False, fp16=self.options.device != "cpu")
        language = result.get("language")
        return [TranscriptSegment(float(s["start"]), float(s["end"]), s["text"].strip(), language,
                                  tuple(Word(float(w["start"]), float(w["end"]), w["word"],
                                             float(w.get("probability", 1.0)))
                                        for w in s.get("words") or ()),
                                  float(s["no_speech_prob"]), float(s["avg_logprob"]),
                                  float(s["compression_ratio"]))
                for s in result["segments"] if s["text"].strip()]


def import_openai_whisper():
    """The `whisper` module, or ModelUnavailable saying how to install it."""
    try:
        import whisper
    except ImportError:
        raise ModelUnavailable(
            f"the openai-whisper backend is not installed. Fix: {OPENAI_WHISPER_FIX}, or set "
            "VIDSEEK_WHISPER_BACKEND=faster-whisper") from None
    return whisper


@lru_cache(maxsize=2)
def load_openai_whisper(name: str, device: str, download_root: Path):
    """One openai-whisper model per configuration and process."""
    whisper = import_openai_whisper()
    try:
        return whisper.load_model(name, device=device, download_root=str(download_root))
    except (OSError, RuntimeError) as e:
        raise ModelUnavailable(
            f"cannot load the openai-whisper model {name!r} ({one_line(e)}). "
            "Fix: connect to the network once so openai-whisper can download it, or set "
            "VIDSEEK_WHISPER_MODEL to a .pt checkpoint file") from None


TRANSCRIBERS: Registry[Transcriber] = Registry(
    "speech", "whisper backend", "whisper_backend",
    lambda s: Spec(s.whisper_backend, s.whisper_model),
    {"faster-whisper": FasterWhisperTranscriber, "openai-whisper": OpenAIWhisperTranscriber})
