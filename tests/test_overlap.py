"""The sound stages run in a thread of their own while the frames are embedded: a file whose
sound or frames fail still gives one failed-file record, and nothing of it is stored."""

from __future__ import annotations

import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tests.media import RED, Scene, _write_audio, tone, write_video
from vidseek.core.records import Heard, Segment
from vidseek.indexer.analysis import Stages
from vidseek.indexer.decode import AUDIO_RATE
from vidseek.indexer.pipeline import Indexer


def write_without_pictures(path: Path, seconds: int) -> Path:
    """An MP4 with a sound track and a video stream whose every packet is zeros: the sound
    decodes, no frame does."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=10)
        video.width, video.height, video.pix_fmt = 160, 96, "yuv420p"
        sound = out.add_stream("aac", rate=AUDIO_RATE)
        sound.layout = "mono"
        black = np.zeros((96, 160, 3), np.uint8)
        frames = [av.VideoFrame.from_ndarray(black, format="rgb24") for _ in range(seconds * 10)]
        for pts, frame in enumerate(frames):
            frame.pts, frame.time_base = pts, Fraction(1, 10)
        for packet in [p for f in [*frames, None] for p in video.encode(f)]:
            zeros = av.Packet(bytes(packet.size))
            zeros.pts, zeros.dts, zeros.time_base = packet.pts, packet.dts, packet.time_base
            zeros.stream = video
            out.mux(zeros)
        _write_audio(out, sound, tone(440, seconds))
    return path


class BrokenEar:
    """An audio stage whose model fails on this track (as CTranslate2 can, out of memory)."""

    modality = "speech"

    def hear(self, audio: np.ndarray) -> Heard:
        raise RuntimeError("out of memory")

    def project(self, features):
        return []


class SlowEar:
    """An audio stage that hears one second of speech, slowly, and notes when it is done."""

    modality = "speech"

    def __init__(self, dim: int):
        self.dim = dim
        self.done = threading.Event()

    def hear(self, audio: np.ndarray) -> Heard:
        time.sleep(0.5)  # longer than the frame path takes to fail
        self.done.set()
        vector = np.ones(self.dim, np.float32) / np.sqrt(self.dim)
        return Heard([Segment("speech", 0.0, 1.0, vector, text="hello", language="en")])

    def project(self, features):
        return []


def test_a_file_whose_sound_stage_fails_is_one_failed_record_and_the_run_goes_on(
        library, tiny_encoder, tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    loud = write_video(folder / "loud.mp4", [Scene(3, RED)], audio=tone(440, 3))
    silent = write_video(folder / "silent.mp4", [Scene(3, RED)])  # no audio track: not heard
    indexer = Indexer(library.settings, library.store, tiny_encoder, Stages(audio=(BrokenEar(),)))
    report = indexer.index(folder)
    assert report.failed == [(str(loud), "the speech stage failed: RuntimeError: out of memory")]
    assert report.indexed == [str(silent)]
    [failed] = library.store.videos("failed")
    assert failed.path == str(loud) and failed.error == report.failed[0][1]
    [indexed] = library.store.videos("indexed")
    # Only the silent file's frames are stored: none of the failed file's frames or sound.
    assert library.store.segment_count() == len(library.store.video_segments(indexed.id))
    assert library.store.segment_count("frame") == 1
    assert library.store.segment_count("speech") == 0


def test_a_file_whose_frames_fail_is_one_failed_record_once_its_sound_is_heard(
        library, tiny_encoder, tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    # The sound is sent, and heard, before the frames turn out not to decode.
    write_without_pictures(folder / "no-picture.mp4", 3)
    ear = SlowEar(tiny_encoder.dim)
    indexer = Indexer(library.settings, library.store, tiny_encoder, Stages(audio=(ear,)))
    report = indexer.index(folder)
    [(path, reason)] = report.failed
    assert path.endswith("no-picture.mp4") and "no decodable frames" in reason
    assert ear.done.is_set()  # the failure was recorded after the sound stage had finished
    assert [v.error for v in library.store.videos("failed")] == [reason]
    assert library.store.video_count("indexed") == 0
    assert library.store.segment_count() == 0 and library.store.audio_feature_count() == 0
