"""Clips, reels and playlists made from real media: an exported clip decodes, lasts its span,
shows at its first frame what the source shows at T0 and sounds as the source does there; a
reel holds its moments in order, each its length; a playlist names the right spans; a bad
span or a vanished file is a clear error that leaves no file; the API streams and refuses."""

from __future__ import annotations

import dataclasses
import io
import json
import re
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from tests.conftest import TINY_MODEL, make_settings
from tests.media import Scene, place, tone, write_video
from tests.search_library import SOURCE_COLOURS, SPOKEN
from vidseek.cli import main as cli_main
from vidseek.core.errors import BadSpan, DecodeError, ExportBusy, NotEnoughDisk, QueryError
from vidseek.export.clips import check_span, cut_clip
from vidseek.export.playlists import m3u, mpv_edl, playlist_format
from vidseek.export.reels import ReelOptions, ReelPart, plan_reel, render_reel
from vidseek.export.slots import ExportSlots
from vidseek.library import Library
from vidseek.web.app import create_app

FPS = 10
COLOURS = [(220, 30, 30), (30, 200, 60), (30, 60, 220), (240, 220, 40), (40, 200, 200),
           (120, 60, 20), (250, 250, 250), (200, 40, 200)]  # one a second
BEEP_AT = 4.6  # seconds into the source


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """8 s of one-second colour scenes at 10 fps, a keyframe every 2.5 s (so most spans
    start inside a GOP), silent but for a beep at BEEP_AT."""
    path = tmp_path_factory.mktemp("export") / "source.mp4"
    return write_video(path, [Scene(1.0, c) for c in COLOURS], fps=FPS, gop=25,
                       audio=place(8.0, [(BEEP_AT, tone(880, 0.4))]))


def frames_of(path: Path) -> list[tuple[float, np.ndarray]]:
    """(time, RGB) of every frame a player shows, in order."""
    with av.open(str(path)) as c:
        return [(float(f.time), f.to_ndarray(format="rgb24")) for f in c.decode(video=0)]


def centre(rgb: np.ndarray) -> np.ndarray:
    return rgb[rgb.shape[0] // 2, rgb.shape[1] // 2].astype(int)


def onset(path: Path) -> float:
    """When the sound first gets loud: seconds from the start of what is played."""
    with av.open(str(path)) as c:
        rate = c.streams.audio[0].codec_context.sample_rate
        first = None
        chunks = []
        for f in c.decode(audio=0):
            first = float(f.time) if first is None else first
            chunks.append(f.to_ndarray()[0])
    samples = np.abs(np.concatenate(chunks))
    return first + int(np.argmax(samples > 0.1)) / rate


def text_track(path: Path) -> list[tuple[float, str]]:
    """(start, text) of the cues in an MP4's text track."""
    with av.open(str(path)) as c:
        stream = c.streams.subtitles[0]
        return [(float(p.pts * p.time_base), bytes(p)[2:].decode())
                for p in c.demux(stream) if p.size > 2]


@pytest.mark.parametrize("mode", ["copy", "reencode"])
@pytest.mark.parametrize("t0, t1", [(3.3, 5.7), (2.55, 6.05), (0.0, 8.0)])
def test_a_clip_starts_at_t0_lasts_its_span_and_sounds_as_the_source(source, tmp_path, mode,
                                                                      t0, t1):
    clip = cut_clip(source, t0, t1, tmp_path / "clip.mp4", mode=mode)
    assert clip.mode == mode and clip.path.stat().st_size == clip.size
    frames = frames_of(clip.path)
    assert frames[0][0] == pytest.approx(0.0, abs=1e-6)
    assert len(frames) == pytest.approx((t1 - t0) * FPS, abs=1)  # within one frame
    with av.open(str(clip.path)) as c:
        assert c.duration / 1e6 == pytest.approx(t1 - t0, abs=1 / FPS)
    # What the source shows at t0 (scenes are a second each) is the clip's first picture.
    assert np.abs(centre(frames[0][1]) - COLOURS[int(t0)]).max() < 12
    # And each later second of the clip shows the source's scene of that moment.
    for t, rgb in frames[::5]:
        assert np.abs(centre(rgb) - COLOURS[int(t0 + t + 1e-6)]).max() < 12, t
    if t0 < BEEP_AT < t1:
        assert onset(clip.path) + t0 == pytest.approx(onset(source), abs=0.005)


def test_a_reencoded_clip_keeps_a_sound_at_its_very_start_in_time(tmp_path):
    # FFmpeg 8 decodes an AAC track sought to 0 from its second frame: the priming is read too.
    source = write_video(tmp_path / "source.mp4", [Scene(1.0, c) for c in COLOURS[:2]], fps=FPS,
                         gop=25, audio=place(2.0, [(0.01, tone(440, 0.05))]))
    clip = cut_clip(source, 0.0, 2.0, tmp_path / "clip.mp4", mode="reencode")
    assert onset(clip.path) == pytest.approx(onset(source), abs=0.005)


@pytest.mark.parametrize("suffix", ["ts", "mkv", "mov"])
@pytest.mark.parametrize("mode", ["copy", "reencode"])
def test_other_containers_are_cut_alike(tmp_path, suffix, mode):
    """MPEG-TS seeks to any packet near a time, not to a keyframe, and its clock starts past
    zero: the cut still starts at the keyframe before t0, and its sound stays in sync."""
    path = write_video(tmp_path / f"source.{suffix}", [Scene(1.0, c) for c in COLOURS[:5]],
                       fps=FPS, gop=15, audio=place(5.0, [(2.6, tone(880, 0.3))]))
    clip = cut_clip(path, 2.3, 4.0, tmp_path / "clip.mp4", mode=mode)
    frames = frames_of(clip.path)
    assert len(frames) == pytest.approx(17, abs=1)
    assert np.abs(centre(frames[0][1]) - COLOURS[2]).max() < 12
    assert onset(clip.path) + 2.3 == pytest.approx(onset(path), abs=0.01)


def test_a_copy_of_a_source_with_b_frames_ends_at_t1(tmp_path):
    """B-frames are decoded after the frame they look ahead to: the frames from t1 on that the
    copy reads for them are left out where no frame before t1 needs them, so the copy lasts
    its span within one frame (the one the last B-frames before t1 look ahead to)."""
    path = tmp_path / "b-frames.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 160, 96, "yuv420p"
        stream.options = {"preset": "medium", "bf": "3", "keyint": "25"}
        for n, colour in enumerate(c for c in COLOURS for _ in range(FPS)):
            frame = av.VideoFrame.from_ndarray(np.full((96, 160, 3), colour, np.uint8),
                                               format="rgb24")
            frame.pts, frame.time_base = n, Fraction(1, FPS)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    with av.open(str(path)) as c:
        assert c.streams.video[0].codec_context.has_b_frames
    for t0, t1 in [(3.3, 5.7), (2.55, 6.05)]:
        frames = frames_of(cut_clip(path, t0, t1, tmp_path / "clip.mp4").path)
        assert len(frames) == pytest.approx((t1 - t0) * FPS, abs=1)
        assert np.abs(centre(frames[0][1]) - COLOURS[int(t0)]).max() < 12


def test_a_copied_clip_copies_the_packets_from_the_keyframe_before_t0(source, tmp_path):
    """The copy keeps the source's frames as they were coded: its packets are the source's,
    from the keyframe before t0 (2.5 s), byte for byte."""
    clip = cut_clip(source, 3.3, 5.7, tmp_path / "clip.mp4")
    with av.open(str(source)) as c:
        wanted = [bytes(p) for p in c.demux(video=0)
                  if p.size and 25 <= p.pts * p.time_base * FPS < 57]
    with av.open(str(clip.path)) as c:
        copied = [bytes(p) for p in c.demux(video=0) if p.size]
    assert copied == wanted


def test_what_is_said_goes_along_as_a_text_track(source, tmp_path):
    from vidseek.core.subtitles import Cue
    from vidseek.export.clips import spoken_in

    said = [Cue(1.0, 2.0, "before"), Cue(3.0, 4.5, "during"), Cue(5.5, 9.0, "after")]
    for mode in ("copy", "reencode"):
        clip = cut_clip(source, 3.3, 5.7, tmp_path / f"{mode}.mp4", spoken_in(said, 3.3, 5.7),
                        mode)
        assert clip.cues == 2
        assert text_track(clip.path) == [(0.0, "during"), (pytest.approx(2.2), "after")]


def test_a_codec_an_mp4_cannot_carry_is_reencoded(tmp_path):
    webm = write_video(tmp_path / "v.webm", [Scene(1.0, c) for c in COLOURS[:3]], fps=FPS,
                       codec="libvpx")
    clip = cut_clip(webm, 1.0, 2.5, tmp_path / "clip.mp4")
    assert clip.mode == "reencode"
    frames = frames_of(clip.path)
    assert len(frames) == 15 and np.abs(centre(frames[0][1]) - COLOURS[1]).max() < 12


@pytest.mark.parametrize("t0, t1, says", [
    (5.0, 3.0, "t1 must be after t0"), (4.0, 4.0, "t1 must be after t0"),
    (-1.0, 2.0, "t0 must be 0 or more"), (6.0, 9.0, "past the video's end"),
    (0.0, 7.5, "longer than the 7 s"), (float("nan"), 2.0, "must be numbers"),
    (1.0, 1.0 + 1e-12, "at least")])
def test_a_bad_span_is_refused_saying_why(t0, t1, says):
    with pytest.raises(BadSpan, match=says):
        check_span(t0, t1, duration=8.0, max_seconds=7.0)


@pytest.mark.parametrize("mode", ["copy", "reencode"])
def test_a_span_that_shows_no_frame_is_refused_and_leaves_no_file(source, tmp_path, mode):
    """Past the last frame but within the sound's end: no picture to cut."""
    with pytest.raises(BadSpan, match="shows no frame"):
        cut_clip(source, 8.0, 8.1, tmp_path / "clip.mp4", mode=mode)
    assert list(tmp_path.iterdir()) == []


# --- through the library: its videos, their words, its limits --------------------------

@pytest.fixture(scope="module")
def lib(search_library):
    return search_library


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_a_library_clip_carries_what_is_said_in_its_span(lib, tmp_path):
    other = lib.library.store.video_by_path(str(lib.other))  # SPOKEN at 3.2..5.6
    clip = lib.library.export_clip(other, 3.0, 5.0, tmp_path / "said.mp4")
    assert text_track(clip.path) == [(pytest.approx(0.2), SPOKEN)]
    assert len(frames_of(clip.path)) == 20


@pytest.mark.parametrize("t0, t1", [(9.0, 3.0), (2.0, 2.0), (10.0, 99.0)])
def test_a_bad_span_or_name_leaves_no_file(lib, tmp_path, t0, t1):
    video = lib.library.store.video_by_path(str(lib.source))
    with pytest.raises(BadSpan):
        lib.library.export_clip(video, t0, t1, tmp_path / "clip.mp4")
    with pytest.raises(QueryError, match="name it .mp4"):
        lib.library.export_clip(video, 1.0, 2.0, tmp_path / "clip.mkv")
    assert leftovers(tmp_path) == []


def test_a_vanished_or_unreadable_source_is_a_clear_error_and_leaves_no_file(lib, tmp_path):
    video = lib.library.store.video_by_path(str(lib.source))
    gone = dataclasses.replace(video, path=str(tmp_path / "gone.mp4"))
    with pytest.raises(FileNotFoundError, match="is no longer there"):
        lib.library.export_clip(gone, 1.0, 2.0, tmp_path / "clip.mp4")
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"not a video at all " * 100)
    with pytest.raises(DecodeError, match="cannot cut"):
        lib.library.export_clip(dataclasses.replace(video, path=str(garbage)), 1.0, 2.0,
                                tmp_path / "clip.mp4")
    assert leftovers(tmp_path) == ["garbage.mp4"]


def test_exports_past_the_slots_or_the_disk_are_refused_before_writing(tmp_path):
    slots = ExportSlots(1, min_free_bytes=0)
    with slots.taken(tmp_path, 1000):
        with pytest.raises(ExportBusy, match="export_slots"):
            with slots.taken(tmp_path, 1000):
                pass
    with slots.taken(tmp_path, 1000):  # the slot is free again
        pass
    import shutil

    free = shutil.disk_usage(tmp_path).free
    with pytest.raises(NotEnoughDisk, match="export_min_free_mb"):
        with ExportSlots(2, min_free_bytes=free).taken(tmp_path, 10 * 2**20):
            pass
    # Two exports that fit one at a time but not together: the second is refused.
    both = ExportSlots(2, min_free_bytes=0)
    with both.taken(tmp_path, free * 2 // 3):
        with pytest.raises(NotEnoughDisk):
            with both.taken(tmp_path, free * 2 // 3):
                pass


# --- reels and playlists -----------------------------------------------------------------

def moment(video_id: int, path: str, t0: float, t1: float, text: str = "") -> dict:
    return {"video_id": video_id, "path": path, "t0": t0, "t1": t1, "matched_by": ["frame"],
            "snippet": {"text": text, "modality": "speech", "highlights": []} if text else None}


def test_a_reel_plan_pads_keeps_inside_the_video_fits_the_length_and_orders():
    found = [moment(1, "/v/a.mp4", 6.0, 8.0, "best"), moment(2, "/v/b.mp4", 0.5, 1.0),
             moment(1, "/v/a.mp4", 1.0, 2.0), moment(1, "/v/a.mp4", 8.5, 9.5),
             moment(2, "/v/b.mp4", 3.5, 3.5)]
    durations = {1: 10.0, 2: 4.0}
    parts = plan_reel(found, durations, ReelOptions(count=5, pad=1.0, max_seconds=60))
    assert [(p.video_id, p.t0, p.t1) for p in parts] == [
        (1, 5.0, 10.0),  # 6..8 padded, and 8.5..9.5 (padded to 7.5..10) joined to it
        (2, 0.0, 2.0),  # padded, kept inside the video
        (1, 0.0, 3.0),
        (2, 2.5, 4.0)]  # an instant, padded, cut at the video's end
    instant = plan_reel(found[4:], durations, ReelOptions(pad=0.0))
    assert [(p.t0, p.t1) for p in instant] == [(3.0, 4.0)]  # widened to a second
    assert parts[0].title == "best" and parts[1].title == "matched by frame"
    assert [p.t0 for p in plan_reel(found, durations, ReelOptions(count=2, pad=1.0))] == [5, 0]
    short = plan_reel(found, durations, ReelOptions(count=5, pad=1.0, max_seconds=7.5))
    assert [(p.video_id, p.t0) for p in short] == [(1, 5.0), (2, 0.0)]  # 5 + 2 s; 3 more won't
    by_time = plan_reel(found, durations, ReelOptions(count=5, pad=1.0, order="time"))
    assert [(p.video_id, p.t0) for p in by_time] == [(1, 0.0), (1, 5.0), (2, 0.0), (2, 2.5)]
    with pytest.raises(QueryError, match="order"):
        plan_reel(found, durations, ReelOptions(order="random"))


def test_a_reel_holds_its_parts_in_order_each_its_length(lib, tmp_path):
    source, excerpt = str(lib.source), str(lib.excerpt)
    parts = [ReelPart(1, source, 6.5, 8.0, "yellow"), ReelPart(1, source, 1.0, 3.0, "red"),
             ReelPart(2, excerpt, 4.0, 5.0, "brown")]
    reel = render_reel(parts, tmp_path / "reel.mp4")
    frames = frames_of(reel.path)
    assert len(frames) == 15 + 20 + 10 and reel.seconds == pytest.approx(4.5)
    starts = [0, 15, 35]
    expected = [SOURCE_COLOURS[3], SOURCE_COLOURS[0], SOURCE_COLOURS[5]]  # at each part's t0
    for start, colour in zip(starts, expected, strict=True):
        assert np.abs(centre(frames[start][1]) - colour).max() < 12
    # Within a part, the source goes on: 1.0..3.0 of the source turns green at its 2.0 s.
    assert np.abs(centre(frames[15 + 10][1]) - SOURCE_COLOURS[1]).max() < 12
    with av.open(str(reel.path)) as c:  # sound all along (silence here), as long as the video
        samples = sum(f.samples for f in c.decode(audio=0))
    assert samples / 48_000 == pytest.approx(4.5, abs=0.05)
    titled = render_reel(parts[:1], tmp_path / "titled.mp4", titles=True)
    band, plain = frames_of(titled.path)[0][1], frames[0][1]
    assert np.abs(band[-6:].astype(int) - plain[-6:]).max() > 60  # the title band
    assert np.abs(band[:40].astype(int) - plain[:40]).max() < 12  # the rest as it was


def test_playlists_name_the_right_spans():
    parts = [ReelPart(1, "/v/a, b.mp4", 5.0, 10.0, "first\nline"),
             ReelPart(2, "/v/ü.mp4", 0.0, 2.5, "second")]
    edl = mpv_edl(parts).splitlines()
    assert edl[0] == "# mpv EDL v0"
    entries = [re.fullmatch(r"%(\d+)%(.*),([\d.]+),([\d.]+)", line) for line in edl
               if not line.startswith("#")]
    assert [(e[2], float(e[3]), float(e[4])) for e in entries] == [
        ("/v/a, b.mp4", 5.0, 5.0), ("/v/ü.mp4", 0.0, 2.5)]
    assert [int(e[1]) for e in entries] == [len(b"/v/a, b.mp4"), len("/v/ü.mp4".encode())]
    listed = m3u(parts).splitlines()
    assert listed[0] == "#EXTM3U"
    assert listed[1:] == ["#EXTINF:5,first line", "#EXTVLCOPT:start-time=5.000",
                          "#EXTVLCOPT:stop-time=10.000", "/v/a, b.mp4",
                          "#EXTINF:2,second", "#EXTVLCOPT:start-time=0.000",
                          "#EXTVLCOPT:stop-time=2.500", "/v/ü.mp4"]
    assert playlist_format(Path("x.M3U8")) == "m3u"
    with pytest.raises(ValueError, match="a playlist is .edl"):
        playlist_format(Path("x.txt"))


# --- the API and the CLI -----------------------------------------------------------------

@pytest.fixture(scope="module")
def client(lib):
    return create_app(library=lib.library).test_client()


def test_the_clip_route_streams_an_mp4_attachment(client, lib, tmp_path):
    video_id = lib.video_id(lib.source)
    answer = client.get(f"/api/videos/{video_id}/clip?t0=2.5&t1=6.5")
    assert answer.status_code == 200
    assert answer.mimetype == "video/mp4"
    assert answer.headers["Content-Disposition"] == "attachment; filename=source_2.5-6.5.mp4"
    assert int(answer.headers["Content-Length"]) == len(answer.data)
    (tmp_path / "got.mp4").write_bytes(answer.data)
    frames = frames_of(tmp_path / "got.mp4")
    assert len(frames) == 40 and np.abs(centre(frames[0][1]) - SOURCE_COLOURS[1]).max() < 12
    folder = lib.library.settings.data_dir / "tmp"
    assert not any(p.name.startswith("export-") for p in folder.rglob("*"))


@pytest.mark.parametrize("query, code, says", [
    ("t0=3&t1=2", 400, "t1 must be after t0"), ("t0=3", 400, "t1 is required"),
    ("t0=3&t1=99", 400, "past the video's end"), ("t0=x&t1=3", 400, "t0 must be a number"),
    ("t0=1&t1=2&mode=fast", 400, "mode must be one of"), ("t0=1&t1=2&t1=3", 400, "send it once")])
def test_the_clip_route_refuses_a_bad_span(client, lib, query, code, says):
    answer = client.get(f"/api/videos/{lib.video_id(lib.source)}/clip?{query}")
    assert answer.status_code == code and says in answer.get_json()["error"]["message"]


def test_the_clip_route_404s_what_is_not_served_and_429s_when_busy(client, lib, tmp_path):
    assert client.get("/api/videos/999/clip?t0=1&t1=2").status_code == 404
    broken = lib.library.store.video_by_path(str(lib.broken)).id  # failed: never cut
    assert client.get(f"/api/videos/{broken}/clip?t0=0&t1=1").status_code == 404
    slots = lib.library.export_slots
    held = [slots.taken(tmp_path, 0) for _ in range(slots.slots)]
    for slot in held:
        slot.__enter__()
    try:
        answer = client.get(f"/api/videos/{lib.video_id(lib.source)}/clip?t0=1&t1=2")
        assert answer.status_code == 429 and answer.headers["Retry-After"]
    finally:
        for slot in held:
            slot.__exit__(None, None, None)


def planned_parts(lib, moments: list[dict], options: ReelOptions) -> list[ReelPart]:
    durations = {m["video_id"]: lib.library.video(m["video_id"]).duration for m in moments}
    return plan_reel(moments, durations, options)


def test_a_reel_from_the_api_holds_what_the_result_page_shows(client, lib):
    query = {"q": "quick brown fox", "count": 3, "pad": 0.5}
    shown = client.get("/api/search", query_string={"q": query["q"], "k": 3}).get_json()
    playlist = client.get("/api/reel", query_string={**query, "format": "m3u"})
    assert playlist.status_code == 200 and playlist.mimetype == "audio/x-mpegurl"
    lines = playlist.data.decode().splitlines()
    starts = [float(x.split("=")[1]) for x in lines if x.startswith("#EXTVLCOPT:start")]
    urls = [x for x in lines if x.startswith("http")]
    # The reel is planned from the very moments the result page shows.
    planned = planned_parts(lib, shown["results"], ReelOptions(count=3, pad=0.5))
    assert starts == [p.t0 for p in planned] and starts
    assert urls == [f"http://localhost/media/{p.video_id}" for p in planned]
    reel = client.get("/api/reel", query_string={**query, "count": 1})
    assert reel.status_code == 200 and reel.mimetype == "video/mp4"
    with av.open(io.BytesIO(reel.data)) as c:
        assert c.duration / 1e6 == pytest.approx(planned[0].seconds, abs=0.15)
    assert client.get("/api/reel?q=x&order=random").status_code == 400
    assert client.get("/api/reel?q=x&titles=maybe").status_code == 400


def test_the_cli_cuts_a_clip_and_writes_a_reel_playlist(lib, tmp_path, capsys, monkeypatch):
    data = ["--data-dir", str(lib.library.settings.data_dir), "--model", TINY_MODEL]
    assert cli_main([*data, "clip", str(lib.source), "4", "6", "-o",
                     str(tmp_path / "c.mp4")]) == 0
    assert "wrote" in capsys.readouterr().out
    frames = frames_of(tmp_path / "c.mp4")
    assert len(frames) == 20 and np.abs(centre(frames[0][1]) - SOURCE_COLOURS[2]).max() < 12
    assert cli_main([*data, "clip", str(lib.source), "4", "60", "-o",
                     str(tmp_path / "d.mp4")]) == 2
    assert "past the video's end" in capsys.readouterr().err
    assert not (tmp_path / "d.mp4").exists()
    monkeypatch.setenv("VIDSEEK_EVIDENCE_Z", "0")  # as the module's library was built
    assert cli_main([*data, "search", SPOKEN, "-k", "2", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert cli_main([*data, "reel", SPOKEN, "--count", "2", "--pad", "0",
                     "--playlist", str(tmp_path / "r.edl")]) == 0
    spans = [tuple(float(x) for x in line.rsplit(",", 2)[1:])
             for line in (tmp_path / "r.edl").read_text().splitlines()
             if not line.startswith("#")]
    planned = planned_parts(lib, shown, ReelOptions(count=2, pad=0.0))
    assert spans == [(p.t0, pytest.approx(p.seconds, abs=1e-3)) for p in planned] and spans


def test_the_library_settings_are_the_reel_defaults(tmp_path, tiny_encoder):
    settings = make_settings(tmp_path, reel_count=4, reel_pad=0.25, reel_max_seconds=30)
    with_overrides = Library(settings, tiny_encoder)
    try:
        assert with_overrides.reel_options() == ReelOptions(count=4, pad=0.25, max_seconds=30)
        assert with_overrides.reel_options(count=2, order="time").count == 2
    finally:
        with_overrides.close()


def test_the_video_page_offers_a_clip_and_the_search_page_a_reel(client, lib):
    video_id = lib.video_id(lib.source)
    page = client.get(f"/videos/{video_id}?t=4").data.decode()
    action = re.search(r'<form class="clip-form" method="get" action="([^"]+)"', page)[1]
    t0, t1 = (re.search(rf'name="{n}"[^>]*value="([\d.]+)"', page)[1] for n in ("t0", "t1"))
    assert (t0, t1) == ("4.0", "14.0")  # from where the page starts, ten seconds
    answer = client.get(action, query_string={"t0": t0, "t1": t1})
    assert answer.status_code == 200 and answer.mimetype == "video/mp4"
    search = client.get("/").data.decode()
    assert 'data-reel-url="/api/reel"' in search and 'class="clip-link"' in search


@pytest.mark.slow
def test_chromium_starts_a_copied_clip_at_t0(source, tmp_path):
    """The copy holds the frames from the keyframe at 2.5 s (blue until 3.0 s); a browser that
    reads the MP4's edit list starts at t0 = 3.3 (yellow) and plays 2.4 s, not 3.2."""
    import shutil

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.skip("needs chromium and chromedriver (make system-deps)")
    cut_clip(source, 3.3, 5.7, tmp_path / "clip.mp4")
    (tmp_path / "page.html").write_text(
        '<video src="clip.mp4" muted preload="auto"></video><canvas width="160" height="96">'
        "</canvas>")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
                 f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    browser = webdriver.Chrome(service=Service(driver), options=options)
    try:
        browser.get((tmp_path / "page.html").as_uri())
        browser.set_script_timeout(20)
        duration, pixel = browser.execute_async_script("""
            const done = arguments[arguments.length - 1];
            const video = document.querySelector("video");
            const canvas = document.querySelector("canvas").getContext("2d");
            video.addEventListener("seeked", () => {
              canvas.drawImage(video, 0, 0, 160, 96);
              done([video.duration, [...canvas.getImageData(80, 48, 1, 1).data.slice(0, 3)]]);
            }, { once: true });
            const seek = () => { video.currentTime = 0.05; };
            if (video.readyState >= 2) seek();  // loaded already
            else video.addEventListener("loadeddata", seek, { once: true });
            video.addEventListener("error", () => done([null, String(video.error.code)]));
        """)
    finally:
        browser.quit()
    assert duration == pytest.approx(2.4, abs=0.1)
    assert np.abs(np.array(pixel) - COLOURS[3]).max() < 16
