"""Whisper's hallucinations on sound that is not speech ("you.", "Hmm.") never become speech
segments; real speech still does (tests/test_speech.py holds its words and timing).

Real Whisper base on real videos with generated music, noise and rain-like noise; the filter's
thresholds come from bench/speech_filter.py."""

from __future__ import annotations

import pytest

from tests.conftest import make_settings
from tests.media import BLUE, Scene, music, noise, rain, write_video
from vidseek.indexer.decode import read_audio
from vidseek.indexer.speech_filter import SpeechFilter, repeated_phrase
from vidseek.library import Library
from vidseek.models.transcribe import TRANSCRIBERS, TranscriptSegment, Word

# Loud enough that Whisper base writes something for some of them (bench/speech_filter.py).
SOUNDS = {"music.mp4": music(12, volume=0.5, seed=3), "noise.mp4": noise(12, volume=0.5, seed=3),
          "rain.mp4": rain(12, volume=0.5, seed=3)}


@pytest.mark.slow
def test_music_noise_and_rain_yield_no_speech_segments(tmp_path, tiny_encoder, whisper_base):
    videos = tmp_path / "videos"
    videos.mkdir()
    for name, sound in SOUNDS.items():
        write_video(videos / name, [Scene(12, BLUE)], audio=sound)
    settings = make_settings(tmp_path / "data", transcribe=True, whisper_model=whisper_base)
    # What Whisper writes for these videos' sound before the filter: the test means something
    # only if it hallucinates on at least one of them.
    whisper = TRANSCRIBERS.load(settings)
    heard = {name: whisper.transcribe(read_audio(str(videos / name))) for name in SOUNDS}
    assert any(heard.values()), heard
    assert not any(SpeechFilter().keep(segments) for segments in heard.values())

    lib = Library(settings, tiny_encoder)
    report = lib.indexer.index(videos)
    assert report.failed == [] and len(report.indexed) == 3
    assert lib.store.segment_count("speech") == 0
    lib.close()


def segment(text="We must finish the budget.", no_speech=0.02, logprob=-0.2, ratio=0.9,
            word_p=0.9) -> TranscriptSegment:
    words = tuple(Word(i, i + 0.5, " " + w, word_p) for i, w in enumerate(text.split()))
    return TranscriptSegment(0.0, 3.0, text, "en", words, no_speech, logprob, ratio)


@pytest.mark.parametrize(("kept", "s"), [
    (True, segment()),
    # Figures measured on Whisper base (bench/speech_filter.py): speech over noise ...
    (True, segment(no_speech=0.084, logprob=-0.645, word_p=0.65)),
    # ... and its hallucinations on music and noise.
    (False, segment("you.", no_speech=0.798, logprob=-2.046, ratio=0.38, word_p=0.031)),
    (False, segment("you", no_speech=0.799, logprob=-1.768, ratio=0.33, word_p=0.017)),
    # Each sign alone is enough.
    (False, segment(no_speech=0.9)),
    (False, segment(logprob=-1.5)),
    (False, segment(ratio=2.8)),
    (False, segment(word_p=0.1)),
    (False, segment("Thank you. Thank you. Thank you. Thank you.")),
])
def test_the_filter_keeps_speech_and_drops_what_is_likely_not(kept, s):
    assert SpeechFilter().is_speech(s) is kept


def test_repeated_phrases_are_a_loop():
    assert repeated_phrase("la la la")
    assert repeated_phrase("I'm sorry. I'm sorry. I'm sorry.")
    assert not repeated_phrase("the cat sat on the mat, the end")
    assert not repeated_phrase("very very good")  # twice is how people talk
