"""The subtitles a video already has: sidecar files and text streams inside the container, with
their language, searchable like transcripts; a malformed file is reported and ignored; editing
a sidecar re-reads that video's subtitles and nothing else."""

from __future__ import annotations

import os

import pytest

from tests.conftest import make_settings
from tests.media import BLUE, GREEN, RED, Scene, place, speech, write_subtitled, write_video
from vidseek.cli import main
from vidseek.core.errors import SubtitleError
from vidseek.indexer.subtitles import parse_subtitles, sidecar_language, subtitle_stamp
from vidseek.library import Library

SRT = """1
00:00:01,000 --> 00:00:03,500
<i>The otter</i> juggles
pebbles

2
00:00:05,000 --> 00:00:07,250
Lighthouse keeper&apos;s log
"""
VTT = """WEBVTT
Kind: captions

NOTE written by hand

intro
00:01.500 --> 00:04.000 align:start
Welcome to the <b>glacier</b> tour

00:00:06.000 --> 00:00:08.000
Crevasses ahead
"""
ASS = """[Script Info]
ScriptType: v4.00+

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
Dialogue: 0,0:00:02.00,0:00:04.50,Default,,0,0,0,,{\\an8}Volcano, with commas\\Nerupting
"""


def test_srt_vtt_and_ass_parse_to_clean_timed_text():
    assert [(c.t0, c.t1, c.text) for c in parse_subtitles(SRT, ".srt")] == [
        (1.0, 3.5, "The otter juggles pebbles"), (5.0, 7.25, "Lighthouse keeper's log")]
    assert [(c.t0, c.t1, c.text) for c in parse_subtitles(VTT, ".vtt")] == [
        (1.5, 4.0, "Welcome to the glacier tour"), (6.0, 8.0, "Crevasses ahead")]
    assert [(c.t0, c.t1, c.text) for c in parse_subtitles(ASS, ".ass")] == [
        (2.0, 4.5, "Volcano, with commas erupting")]


@pytest.mark.parametrize(("text", "extension", "why"), [
    ("1\n00:00:01,000 --> banana\nHello\n", ".srt", "malformed timing"),
    ("\x00\x01 not subtitles at all", ".srt", "no subtitle cues"),
    ("1\n00:00:05,000 --> 00:00:01,000\nbackwards\n", ".srt", "ends before it starts"),
    ("[Events]\nDialogue: 0,0:00:01.00,0:00:02.00,Default,,0,0,0,,x\n", ".ass", "before"),
])
def test_malformed_subtitles_are_a_clear_error(text, extension, why):
    with pytest.raises(SubtitleError, match=why):
        parse_subtitles(text, extension)


def test_a_sidecar_name_gives_its_language(tmp_path):
    video = tmp_path / "talk.mp4"
    assert sidecar_language(video, tmp_path / "talk.en.srt") == "en"
    assert sidecar_language(video, tmp_path / "talk.forced.pt-BR.vtt") == "pt-BR"
    assert sidecar_language(video, tmp_path / "talk.srt") is None


@pytest.fixture
def subtitled(tmp_path, tiny_encoder):
    """A folder with: an MP4 and its English SRT sidecar, an MKV with a French SubRip stream,
    an MP4 with a mov_text stream, and an MP4 whose sidecar is garbage."""
    videos = tmp_path / "videos"
    videos.mkdir()
    write_video(videos / "otters.mp4", [Scene(5, BLUE), Scene(5, GREEN)])
    (videos / "otters.en.srt").write_text(SRT)
    write_subtitled(videos / "film.mkv", [Scene(6, RED)],
                    [(0.5, 2.0, "Le phare est allumé"), (3.0, 5.0, "Bonne nuit")], "subrip", "fra")
    write_subtitled(videos / "phone.mp4", [Scene(4, GREEN)],
                    [(1.0, 3.0, "Recorded on a phone")], "mov_text", "eng")
    write_video(videos / "broken.mp4", [Scene(3, RED)])
    (videos / "broken.srt").write_bytes(b"1\n00:00:01,000 --> whenever\nHello\n")
    lib = Library(make_settings(tmp_path / "data"), tiny_encoder)
    report = lib.indexer.index(videos)
    assert report.failed == []
    yield lib, videos
    lib.close()


def cues(lib: Library, name: str) -> list[tuple[float, float, str, str | None]]:
    video = next(v for v in lib.store.videos() if v.path.endswith("/" + name))
    with lib.store.engine.connect() as c:
        from sqlalchemy import text

        return [tuple(r) for r in c.execute(text(
            "SELECT t0, t1, text, language FROM segments WHERE video_id = :v AND "
            "modality = 'subtitles' ORDER BY t0"), {"v": video.id})]


def test_sidecars_and_streams_are_indexed_with_their_language(subtitled):
    lib, _ = subtitled
    assert cues(lib, "otters.mp4") == [(1.0, 3.5, "The otter juggles pebbles", "en"),
                                       (5.0, 7.25, "Lighthouse keeper's log", "en")]
    assert cues(lib, "film.mkv") == [(0.5, 2.0, "Le phare est allumé", "fra"),
                                     (3.0, 5.0, "Bonne nuit", "fra")]
    assert cues(lib, "phone.mp4") == [(1.0, 3.0, "Recorded on a phone", "eng")]


def test_a_subtitle_is_found_like_a_transcript(subtitled):
    lib, _ = subtitled
    best = lib.engine.search_text("otter pebbles", lib.search_options())[0]
    assert lib.store.video_path(best.video_id).endswith("otters.mp4")
    worded = [h for h in best.hits if "keyword" in h.matched_by]
    assert worded[0].modality == "subtitles" and worded[0].t0 == 1.0
    only = lib.engine.search_text("phare", lib.search_options(modalities=("subtitles",)))
    assert lib.store.video_path(only[0].video_id).endswith("film.mkv")


def test_a_malformed_sidecar_is_reported_and_ignored(subtitled, capsys):
    lib, _ = subtitled
    broken = lib.store.video_by_path(next(v.path for v in lib.store.videos()
                                          if v.path.endswith("broken.mp4")))
    assert broken.status == "indexed"
    assert "broken.srt" in broken.warning and "malformed timing line" in broken.warning
    assert lib.store.video_segments(broken.id, "frame")
    assert cues(lib, "broken.mp4") == []
    assert main(["--data-dir", str(lib.settings.data_dir), "status"]) == 0
    assert f"warning: {broken.path}: subtitle file broken.srt ignored" in capsys.readouterr().out


def test_editing_a_sidecar_rereads_that_videos_subtitles_only(subtitled):
    lib, videos = subtitled
    otters = lib.store.video_by_path(str(videos / "otters.mp4"))
    frames_before = [s.id for s in lib.store.video_segments(otters.id, "frame")]
    others_before = {v.path: [s.id for s in lib.store.video_segments(v.id)]
                     for v in lib.store.videos() if v.id != otters.id}
    sidecar = videos / "otters.en.srt"
    sidecar.write_text(SRT.replace("juggles", "balances"))
    os.utime(sidecar, ns=(sidecar.stat().st_atime_ns, sidecar.stat().st_mtime_ns + 10**9))
    assert subtitle_stamp(videos / "otters.mp4") != otters.subtitle_stamp

    report = lib.indexer.index(videos)

    assert report.indexed == [str(videos / "otters.mp4")]
    assert [s.id for s in lib.store.video_segments(otters.id, "frame")] == frames_before
    assert others_before == {v.path: [s.id for s in lib.store.video_segments(v.id)]
                             for v in lib.store.videos() if v.id != otters.id}
    assert cues(lib, "otters.mp4")[0][2] == "The otter balances pebbles"
    best = lib.engine.search_text("balances", lib.search_options())[0]
    assert [h.text for h in best.hits if "keyword" in h.matched_by] == ["The otter balances pebbles"]
    assert not [h for m in lib.engine.search_text("juggles", lib.search_options())
                for h in m.hits if "keyword" in h.matched_by]

    (videos / "broken.srt").write_text(SRT)  # fixed: its warning goes, its cues come
    lib.indexer.index(videos)
    broken = lib.store.video_by_path(str(videos / "broken.mp4"))
    assert broken.warning is None and len(cues(lib, "broken.mp4")) == 2
    assert lib.indexer.index(videos).indexed == []  # nothing changed since


@pytest.mark.slow
def test_subtitles_stand_in_for_whisper_unless_asked(tmp_path, tiny_encoder, whisper_base):
    videos = tmp_path / "videos"
    videos.mkdir()
    said = place(8, [(1.0, speech("We must finish the budget before the deadline."))])
    write_video(videos / "meeting.mp4", [Scene(8, BLUE)], audio=said)
    (videos / "meeting.srt").write_text(
        "1\n00:00:01,000 --> 00:00:04,000\nWe must finish the budget before the deadline.\n")
    for transcribe_subtitled, speech_segments in ((False, 0), (True, 1)):
        lib = Library(make_settings(tmp_path / f"data-{transcribe_subtitled}", transcribe=True,
                                    whisper_model=whisper_base,
                                    transcribe_subtitled=transcribe_subtitled), tiny_encoder)
        lib.indexer.index(videos)
        assert lib.store.segment_count("subtitles") == 1
        assert lib.store.segment_count("speech") == speech_segments
        lib.close()
