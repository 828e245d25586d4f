"""A video lasts what decodes, not what its header says: a stream without a duration, and a
truncated file whose header still claims the whole, are measured while decoding."""

from __future__ import annotations

import av
import numpy as np
import pytest

from tests.media import BLUE, GREEN, RED, Scene, write_frames, write_video

FPS = 15


def decoded_end(path) -> tuple[int, float]:
    """(frames, end of the last frame in seconds) that PyAV decodes before the data runs out."""
    count, end = 0, 0.0
    with av.open(str(path)) as container:
        try:
            for frame in container.decode(video=0):
                count, end = count + 1, frame.time + float(frame.duration * frame.time_base)
        except av.error.FFmpegError:
            pass  # the cut
    return count, end


def header_seconds(path) -> float | None:
    with av.open(str(path)) as container:
        return container.duration / 1e6 if container.duration else None


def test_a_webm_without_a_duration_lasts_what_decodes(library, tmp_path):
    if "libvpx" not in av.codecs_available:
        pytest.skip("this FFmpeg build has no libvpx encoder to write WebM with")
    grey_ramp = (np.full((96, 160, 3), 3 * i, np.uint8) for i in range(74))  # changes each frame
    path = write_frames(tmp_path / "live.webm", grey_ramp, FPS, (160, 96), codec="libvpx",
                        container_options={"live": "1"})
    assert header_seconds(path) is None  # the muxer wrote no duration, as a live stream does
    frames, end = decoded_end(path)
    assert frames == 74 and end == pytest.approx(74 / FPS, abs=1e-3)

    assert library.indexer.index_files([path]).failed == []
    video = library.store.video_by_path(str(path))
    assert video.duration == pytest.approx(end, abs=1 / FPS)
    spans = [(s.t0, s.t1) for s in library.store.video_segments(video.id, "frame")]
    # One sample a second, each kept (the picture changes), the last one until the end.
    assert [t0 for t0, _ in spans] == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert spans[-1][1] == pytest.approx(video.duration)


@pytest.mark.parametrize("name, options", [
    ("clip.mkv", None),  # decord reads the part that is there
    ("clip.mp4", {"movflags": "faststart"}),  # the index promises 60 s; PyAV reads until the cut
])
def test_a_truncated_file_lasts_what_decodes(library, tmp_path, name, options):
    scenes = [Scene(4, c, moving_square=True) for c in [RED, GREEN, BLUE] * 5]
    whole = write_video(tmp_path / name, scenes, container_options=options)
    data = whole.read_bytes()
    cut = tmp_path / f"cut-{name}"
    cut.write_bytes(data[: len(data) // 5])
    assert header_seconds(cut) == pytest.approx(60.0, abs=0.5)  # the header still says 60 s
    frames, end = decoded_end(cut)
    assert 0 < frames < 600 and 2.0 < end < 30.0

    assert library.indexer.index_files([cut]).failed == []
    video = library.store.video_by_path(str(cut))
    assert video.duration == pytest.approx(end, abs=0.1)  # within a frame (10 fps)
    spans = [(s.t0, s.t1) for s in library.store.video_segments(video.id, "frame")]
    assert spans[-1][0] < end and spans[-1][1] == pytest.approx(video.duration)
    # A sample each second that decoded (the square moves: each one is kept), none beyond.
    assert [t0 for t0, _ in spans] == [float(i) for i in range(int(np.ceil(end)))]
