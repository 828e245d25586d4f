"""What Whisper says about sound that is not speech, next to what it says about speech: the
confidence figures the speech filter (indexer/speech_filter.py) decides on, per segment.

    python -m bench.speech_filter

Real Whisper base (int8, the default transcriber) on generated clips: music-like notes, white
noise and rain-like noise (each alone and at several volumes), and espeak-ng sentences (alone
and over the same sounds). Each segment is printed with what the filter decides."""

from __future__ import annotations

import argparse

import numpy as np

from tests.media import music, noise, place, rain, speech, tone
from vidseek.core.settings import Settings
from vidseek.indexer.speech_filter import SpeechFilter, repeated_phrase
from vidseek.models.transcribe import TRANSCRIBERS

SENTENCES = [
    "We must finish the budget before the deadline.",
    "The children are playing football in the park.",
    "My grandmother keeps an old saxophone under her bed.",
    "Turn left at the second traffic light.",
]


def clips(seconds: float) -> list[tuple[str, bool, np.ndarray]]:
    """(name, is speech, 16 kHz audio)."""
    sounds = {"music": music, "noise": noise, "rain": rain}
    out = []
    for name, make in sounds.items():
        for volume, seed in ((0.05, 1), (0.2, 2), (0.5, 3), (0.9, 4)):
            out.append((f"{name}@{volume}", False, make(seconds, volume=volume, seed=seed)))
    out.append(("tones", False, np.concatenate([tone(f, seconds / 4) for f in (440, 660, 330, 550)])))
    for i, sentence in enumerate(SENTENCES):
        said = place(seconds, [(2.0, speech(sentence))])
        out.append((f"speech{i}", True, said))
        background = list(sounds.values())[i % 3](seconds, volume=0.05, seed=10 + i)
        out.append((f"speech{i}+{list(sounds)[i % 3]}", True, said + background))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=12.0)
    args = parser.parse_args()
    transcriber = TRANSCRIBERS.load(Settings.load(env={}))
    keep = SpeechFilter()
    print(f"{'clip':16} {'speech?':7} {'no_speech':>9} {'logprob':>8} {'compr':>6} "
          f"{'word p':>6} {'rep':>3}  kept  text")
    for name, is_speech, audio in clips(args.seconds):
        segments = transcriber.transcribe(audio)
        if not segments:
            print(f"{name:16} {str(is_speech):7} (no segment: VAD found no speech)")
        for s in segments:
            word_p = np.mean([w.probability for w in s.words]) if s.words else float("nan")
            print(f"{name:16} {str(is_speech):7} {s.no_speech_prob:9.3f} {s.avg_logprob:8.3f} "
                  f"{s.compression_ratio:6.2f} {word_p:6.3f} {int(repeated_phrase(s.text)):3d}  "
                  f"{'yes ' if keep.is_speech(s) else 'no  '}  {s.text[:60]!r}")


if __name__ == "__main__":
    main()
