"""What is said: real espeak-ng speech in real videos, transcribed by the real Whisper base
model, found again by hybrid (keyword + vector) search.

The CLIP model is the tiny random one, so speech vectors carry no meaning here; what is asserted
is what Whisper heard and when, and what the fused search (which includes keyword hits) finds."""

from __future__ import annotations

import importlib.util
import json

import pytest

from tests.conftest import make_settings, video_id
from tests.media import BLUE, GREEN, RED, Scene, place, silence, speech, write_video
from vidseek.cli import main
from vidseek.core.errors import ModelUnavailable
from vidseek.indexer.models_report import model_status
from vidseek.library import Library
from vidseek.models.transcribe import TRANSCRIBERS
from vidseek.search.queries.keyword import Fts5KeywordIndex, keyword_index_for

pytestmark = pytest.mark.slow

# (video, second it starts, what is said). Sentences espeak-ng says and Whisper base hears
# word for word.
SAID = [
    ("meeting.mp4", 3.0, "We must finish the budget before the deadline."),
    ("meeting.mp4", 20.0, "The children are playing football in the park."),
    ("story.mp4", 12.0, "My grandmother keeps an old saxophone under her bed."),
]
TOLERANCE = 1.5  # seconds


@pytest.fixture(scope="module")
def speech_library(tmp_path_factory, tiny_encoder):
    """Four videos indexed once with transcription on: two with speech, one with a silent
    audio track, one with no audio track at all."""
    root = tmp_path_factory.mktemp("speech")
    videos = root / "videos"
    videos.mkdir()
    clips = {name: [] for name, _, _ in SAID}
    for name, offset, sentence in SAID:
        clips[name].append((offset, speech(sentence)))
    write_video(videos / "meeting.mp4", [Scene(15, RED), Scene(15, GREEN)],
                audio=place(30, clips["meeting.mp4"]))
    write_video(videos / "story.mp4", [Scene(20, BLUE)], audio=place(20, clips["story.mp4"]))
    write_video(videos / "quiet.mp4", [Scene(8, GREEN)], audio=silence(8))
    write_video(videos / "mute.mp4", [Scene(6, RED)])
    lib = Library(make_settings(root / "data", transcribe=True), tiny_encoder)
    report = lib.indexer.index(videos)
    assert report.failed == []
    yield lib
    lib.close()


def test_the_transcript_says_what_was_said_and_when(speech_library):
    lib = speech_library
    for name, offset, sentence in SAID:
        chunks = lib.store.video_segments(video_id(lib, name), "speech")
        said = [c for c in chunks if c.text.rstrip(".").lower() == sentence.rstrip(".").lower()]
        assert len(said) == 1, [c.text for c in chunks]
        assert abs(said[0].t0 - offset) <= TOLERANCE
        assert said[0].t1 > said[0].t0


def test_a_spoken_phrase_finds_the_video_and_the_second(speech_library):
    lib = speech_library
    meeting = video_id(lib, "meeting.mp4")
    for query, offset in [("when does she mention the budget deadline", 3.0),
                          ("kids playing football", 20.0)]:
        best = lib.engine.search_text(query, lib.search_options())[0]
        assert best.video_id == meeting
        spoken = [h for h in best.hits if "keyword" in h.matched_by]
        assert spoken and abs(spoken[0].t0 - offset) <= TOLERANCE
        assert best.t0 <= spoken[0].t0 and best.t1 >= spoken[0].t1
        # Searching speech alone, the moment is the spoken chunk itself.
        only_speech = lib.engine.search_text(query, lib.search_options(modalities=("speech",)))
        assert only_speech[0].video_id == meeting
        assert abs(only_speech[0].t0 - offset) <= TOLERANCE
        assert {"speech", "keyword"} <= set(only_speech[0].matched_by)


def test_a_rare_word_is_found_through_full_text(speech_library):
    lib = speech_library
    story = video_id(lib, "story.mp4")
    keywords = keyword_index_for(lib.store.engine)
    assert isinstance(keywords, Fts5KeywordIndex)
    matches = keywords.search("saxophone", limit=10)
    assert len(matches) == 1
    segment_id = matches[0].segment_id
    assert lib.store.places("speech").find([segment_id]).video_ids.tolist() == [story]
    assert "saxophone" in lib.store.segment_texts([segment_id])[segment_id]
    best = lib.engine.search_text("saxophone", lib.search_options())[0]
    assert best.video_id == story and "keyword" in best.matched_by
    # Inside another video there is nothing to find.
    assert keywords.search("saxophone", 10, video_id=video_id(lib, "meeting.mp4")) == []


def test_silent_and_audio_less_videos_index_without_speech(speech_library):
    lib = speech_library
    for name, has_audio in [("quiet.mp4", True), ("mute.mp4", False)]:
        video = lib.store.video(video_id(lib, name))
        assert (video.status, video.has_audio) == ("indexed", has_audio)
        assert lib.store.video_segments(video.id, "speech") == []
        assert lib.store.video_segments(video.id, "frame")


def test_cli_prints_the_transcript_as_srt_and_vtt(speech_library, capsys):
    lib = speech_library
    data = ["--data-dir", str(lib.settings.data_dir), "--model", lib.settings.clip_model]
    meeting = lib.store.video(video_id(lib, "meeting.mp4"))
    assert main([*data, "transcript", meeting.path, "--format", "srt"]) == 0
    srt = capsys.readouterr().out
    blocks = srt.strip().split("\n\n")
    assert [b.splitlines()[0] for b in blocks] == ["1", "2"]
    assert blocks[0].splitlines()[1].startswith("00:00:0")  # said at 3 s
    assert blocks[1].splitlines()[1].startswith("00:00:")
    assert "football" in blocks[1]
    assert main([*data, "transcript", str(meeting.id), "--format", "vtt"]) == 0
    vtt = capsys.readouterr().out
    assert vtt.startswith("WEBVTT\n\n00:00:0") and " --> " in vtt and "budget" in vtt
    assert main([*data, "transcript", str(meeting.id)]) == 0
    assert capsys.readouterr().out.startswith("[0:0")


def test_cli_explains_a_missing_transcript(speech_library, capsys):
    lib = speech_library
    data = ["--data-dir", str(lib.settings.data_dir), "--model", lib.settings.clip_model]
    mute = lib.store.video(video_id(lib, "mute.mp4"))
    assert main([*data, "transcript", mute.path]) == 1
    assert "no audio track" in capsys.readouterr().err
    assert main([*data, "transcript", "/nowhere/nothing.mp4"]) == 2
    assert "not in the library" in capsys.readouterr().err


def test_cli_search_highlights_the_matching_words(speech_library, capsys):
    lib = speech_library
    data = ["--data-dir", str(lib.settings.data_dir), "--model", lib.settings.clip_model]
    assert main([*data, "search", "grandmother's saxophone", "--json", "-k", "3"]) == 0
    best = json.loads(capsys.readouterr().out)[0]
    assert best["path"].endswith("story.mp4") and "keyword" in best["matched_by"]
    text = best["snippet"]["text"]
    assert [text[a:b] for a, b in best["snippet"]["highlights"]] == ["grandmother", "saxophone"]


def test_the_models_report_shows_where_whisper_is(speech_library):
    row = model_status(TRANSCRIBERS, speech_library.settings)
    assert row.installed and row.role == "speech"
    assert str(speech_library.settings.model_dir) in row.detail


def test_openai_whisper_backend_says_how_to_install_it(tmp_path):
    if importlib.util.find_spec("whisper"):
        pytest.skip("openai-whisper is installed here")
    with pytest.raises(ModelUnavailable, match=r"pip install 'vidseek\[openai-whisper\]'"):
        TRANSCRIBERS.load(make_settings(tmp_path, whisper_backend="openai-whisper"))
