"""Telling Whisper's speech from its hallucinations: on music, noise or rain Whisper still
writes something ("you.", "Hmm.", "Thank you for watching!"), with tell-tale confidence
figures. Pure: decides from the figures faster-whisper reports for each segment.

Thresholds come from `python -m bench.speech_filter` (real Whisper base on generated music,
noise, rain and tones at four volumes, and espeak-ng sentences alone and over those sounds):
on each figure the hallucinations and the sentences fell far apart, and each threshold sits
in that gap (docs/benchmarks.md has where each fell); the compression ratio limit is
Whisper's own."""

from __future__ import annotations

import re
from dataclasses import dataclass

from vidseek.models.transcribe import TranscriptSegment


def repeated_phrase(text: str, times: int = 3) -> bool:
    """True when one word or short phrase (up to 4 words) repeats `times` times in a row, the
    loop Whisper falls into on sound it cannot read ("la la la la", "I'm sorry. I'm sorry.")."""
    words = re.findall(r"\w+", text.lower())
    for n in range(1, 5):
        for start in range(len(words) - n * times + 1):
            phrase = words[start:start + n]
            if all(words[start + k * n:start + (k + 1) * n] == phrase for k in range(1, times)):
                return True
    return False


@dataclass(frozen=True)
class SpeechFilter:
    """Keeps a segment unless its figures say it is likely not speech."""

    max_no_speech_prob: float = 0.5  # above: Whisper itself thinks the window holds no speech
    min_avg_logprob: float = -1.2  # below: the decoder was guessing
    max_compression_ratio: float = 2.4  # above: the text repeats itself (Whisper's own limit)
    min_word_probability: float = 0.3  # mean word probability below this: guessed words

    def is_speech(self, s: TranscriptSegment) -> bool:
        """Whether a segment is worth keeping as speech."""
        if s.no_speech_prob > self.max_no_speech_prob or s.avg_logprob < self.min_avg_logprob:
            return False
        if s.compression_ratio > self.max_compression_ratio or repeated_phrase(s.text):
            return False
        if s.words:
            mean = sum(w.probability for w in s.words) / len(s.words)
            if mean < self.min_word_probability:
                return False
        return True

    def keep(self, segments: list[TranscriptSegment]) -> list[TranscriptSegment]:
        """The segments that are likely speech."""
        return [s for s in segments if self.is_speech(s)]
