"""What is said: Whisper segments merged into transcript chunks, embedded with the CLIP text
encoder into the joint space and stored as `speech` segments."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from vidseek.core.records import AudioFeatures, Heard, Segment
from vidseek.core.settings import Settings
from vidseek.indexer.speech_filter import SpeechFilter
from vidseek.models.transcribe import TRANSCRIBERS, Transcriber, TranscriptSegment


@dataclass(frozen=True)
class ChunkOptions:
    min_seconds: float = 5.0  # a chunk ends at the first segment end past this length
    max_seconds: float = 15.0
    max_tokens: int = 75  # CLIP's context of 77 less its start and end tokens
    max_pause: float = 2.0  # a silence this long always ends a chunk: a new moment begins


@dataclass(frozen=True)
class TranscriptChunk:
    t0: float
    t1: float
    text: str
    language: str | None


@dataclass(frozen=True)
class _Unit:
    """A word (or a piece of a segment without word timings) on its way into a chunk."""

    t0: float
    t1: float
    text: str
    language: str | None
    ends_segment: bool


@lru_cache(maxsize=1)
def _clip_bpe():
    from open_clip.tokenizer import SimpleTokenizer

    return SimpleTokenizer()


def clip_token_count(text: str) -> int:
    """Tokens CLIP's BPE tokenizer makes of `text`, start and end tokens not counted."""
    return len(_clip_bpe().encode(text))


class TranscriptChunker:
    """Merges Whisper segments into windows of about 5-15 s that fit the CLIP text encoder.

    Pure: the same segments always give the same chunks. Token counts come from
    `count_tokens` (CLIP's own BPE by default), summed word by word, which is exact for a
    tokenizer that splits on whitespace first, as CLIP's does."""

    def __init__(self, options: ChunkOptions = ChunkOptions(),
                 count_tokens: Callable[[str], int] = clip_token_count):
        self.options = options
        self.count_tokens = count_tokens

    def chunk(self, segments: Sequence[TranscriptSegment]) -> list[TranscriptChunk]:
        """Chunks in time order; each holds whole words of one language."""
        chunks: list[TranscriptChunk] = []
        current: list[_Unit] = []
        tokens = 0
        for unit in _units(segments):
            unit_tokens = self.count_tokens(unit.text)
            if current and self._must_end(current, tokens + unit_tokens, unit):
                chunks.append(_join(current))
                current, tokens = [], 0
            current.append(unit)
            tokens += unit_tokens
            if unit.ends_segment and unit.t1 - current[0].t0 >= self.options.min_seconds:
                chunks.append(_join(current))
                current, tokens = [], 0
        if current:
            chunks.append(_join(current))
        return chunks

    def _must_end(self, current: list[_Unit], tokens_with_unit: int, unit: _Unit) -> bool:
        o = self.options
        return (tokens_with_unit > o.max_tokens
                or unit.t1 - current[0].t0 > o.max_seconds
                or unit.t0 - current[-1].t1 > o.max_pause
                or unit.language != current[0].language)


def _units(segments: Sequence[TranscriptSegment]) -> list[_Unit]:
    units = []
    for seg in sorted(segments, key=lambda s: s.t0):
        if seg.words:
            pieces = [(w.t0, w.t1, w.text) for w in seg.words if w.text.strip()]
        else:
            pieces = _spread_words(seg)
        for i, (t0, t1, text) in enumerate(pieces):
            units.append(_Unit(t0, max(t0, t1), text, seg.language, i == len(pieces) - 1))
    return units


def _spread_words(seg: TranscriptSegment) -> list[tuple[float, float, str]]:
    """A segment without word timings: its words share its span in proportion to length."""
    words = [" " + w for w in seg.text.split()]
    if not words:
        return []
    edges = np.concatenate([[0], np.cumsum([len(w) for w in words])]) / sum(len(w) for w in words)
    times = seg.t0 + edges * (seg.t1 - seg.t0)
    return [(float(times[i]), float(times[i + 1]), w) for i, w in enumerate(words)]


def _join(units: list[_Unit]) -> TranscriptChunk:
    # Whisper's words carry their own leading space (none in Chinese or Japanese).
    text = "".join(u.text for u in units).strip()
    return TranscriptChunk(units[0].t0, max(u.t1 for u in units), text, units[0].language)


class SpeechStage:
    """The audio stage for speech: transcribe, drop what is likely not speech, chunk, embed
    each chunk's text."""

    modality = "speech"

    def __init__(self, transcriber: Transcriber, encoder,
                 chunker: TranscriptChunker | None = None,
                 speech_filter: SpeechFilter | None = None):
        self.transcriber = transcriber
        self.encoder = encoder
        self.chunker = chunker or TranscriptChunker()
        self.speech_filter = speech_filter or SpeechFilter()

    @classmethod
    def from_settings(cls, settings: Settings, encoder) -> SpeechStage:
        return cls(TRANSCRIBERS.load(settings), encoder)

    def hear(self, audio: np.ndarray) -> Heard:
        """`speech` segments for one audio track (none when nothing is said)."""
        said = self.speech_filter.keep(self.transcriber.transcribe(audio))
        chunks = self.chunker.chunk(said)
        if not chunks:
            return Heard()
        vectors = self.encoder.embed_texts([c.text for c in chunks])
        return Heard([Segment("speech", c.t0, c.t1, v, text=c.text, language=c.language)
                      for c, v in zip(chunks, vectors, strict=True)])

    def project(self, features: AudioFeatures) -> list[Segment]:
        """None: speech is stored as heard, and keeps no features to project later."""
        return []
