"""Decoding in a child process: results, fallbacks, and a crash or hang costs one file."""

import multiprocessing as mp
import os
import signal
from dataclasses import replace

import numpy as np
import pytest

from tests.media import BLUE, RED, Scene, tone, write_frames, write_video
from vidseek.core.errors import DecodeError
from vidseek.core.records import MediaInfo
from vidseek.indexer.decode import (
    AudioPiece,
    AudioTrack,
    ContentHash,
    DecodeOptions,
    FrameWindow,
    IsolatedDecoder,
    _Extent,
    _pyav_frames,
    audio_pieces,
    decode,
    read_audio,
    read_image,
)
from vidseek.indexer.discover import content_hash
from vidseek.indexer.sampling import SamplingOptions, sample_times


@pytest.fixture
def options(settings) -> DecodeOptions:
    """Decoding as the indexer configures it when only frames are read."""
    return DecodeOptions(SamplingOptions.from_settings(settings), settings.batch_size)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("clips") / "rb.mp4"
    return write_video(path, [Scene(3, RED), Scene(3, BLUE)], audio=tone(440, 6))


def test_decode_yields_hash_audio_scene_thinned_frames_and_info(clip, options):
    items = list(decode(str(clip), replace(options, audio=True)))
    hashed, piece, *windows, info = items
    assert hashed == ContentHash(content_hash(clip))
    assert isinstance(piece, AudioPiece)  # 6 s: one piece
    audio = AudioTrack(piece.samples)
    assert isinstance(info, MediaInfo) and info.has_audio and info.fps == 10
    # The duration is what decoded: 6 s of frames, and the AAC track's few padding samples.
    assert info.duration == pytest.approx(len(piece.samples) / 16000) and 6.0 <= info.duration < 6.1
    frames = [w for w in windows if isinstance(w, FrameWindow)]
    assert [t for w in frames for t in w.times] == [0.0, 3.0]
    # 224 short side, aspect kept: 160x96 -> 374x224 (even sizes).
    assert frames[0].frames.shape == (2, 224, 374, 3)
    red, blue = frames[0].frames.reshape(2, -1, 3).mean(axis=1)
    assert red[0] > 180 and red[2] < 80 and blue[2] > 180 and blue[0] < 80
    assert isinstance(audio, AudioTrack)
    assert len(audio.samples) == pytest.approx(6 * 16000, rel=0.02)
    spectrum = np.abs(np.fft.rfft(audio.samples[16000:32000]))
    assert np.argmax(spectrum) == pytest.approx(440, abs=2)  # 1 s window: 1 Hz bins


def test_a_frame_kept_by_the_stages_filter_alone_comes_marked_not_to_embed(tmp_path, options):
    picture = np.full((96, 160, 3), 120, np.uint8)
    captioned = picture.copy()
    captioned[72:80, 40:80] = 250  # a caption: one cell changes, the mean barely
    clip = write_frames(tmp_path / "caption.mp4", [picture] * 20 + [captioned] * 20, fps=10,
                        size=(160, 96))
    stages = replace(options, stage_sampling=replace(options.sampling, local_threshold=0.1))
    for decoding, times, embed in ((options, [0.0], [True]), (stages, [0.0, 2.0], [True, False])):
        windows = [w for w in decode(str(clip), decoding) if isinstance(w, FrameWindow)]
        assert [t for w in windows for t in w.times] == times
        assert [e for w in windows for e in w.embed] == embed
        assert sum(len(w.jpegs) for w in windows) == 1  # a thumbnail for the embedded frame only


def test_pyav_fallback_reads_the_same_frames_as_decord(clip, options):
    times = sample_times(6.0, 1.0)
    extent = _Extent()
    pyav = dict(_pyav_frames(str(clip), 1.0, (374, 224), extent))
    assert extent.end == pytest.approx(6.0)  # the last frame starts at 5.9 and lasts 0.1 s
    every_frame = replace(options, sampling=replace(options.sampling, scene_threshold=-1.0))
    via_decord = {t: f for w in decode(str(clip), every_frame) if isinstance(w, FrameWindow)
        for t, f in zip(w.times, w.frames)}
    assert sorted(pyav) == sorted(via_decord) == list(times)
    for t in times:
        assert np.abs(pyav[t].astype(int) - via_decord[t].astype(int)).mean() < 4


def test_isolated_decoder_reports_a_killed_decoder_as_a_failure(clip, options):
    decoder = IsolatedDecoder(timeout=60)
    stream = decoder.decode(clip, replace(options, window=1, sampling=replace(
        options.sampling, scene_threshold=-1.0)))
    assert isinstance(next(stream), ContentHash)
    for child in mp.active_children():
        os.kill(child.pid, signal.SIGSEGV)  # what decord does on some corrupt streams
    with pytest.raises(DecodeError, match="decoder crashed"):
        list(stream)


def test_isolated_decoder_gives_up_after_the_timeout(clip, options):
    with pytest.raises(DecodeError, match="longer than"):
        list(IsolatedDecoder(timeout=0.0).decode(clip, options))


def test_read_image_refuses_non_images():
    with pytest.raises(DecodeError, match="not a readable image"):
        read_image(b"GIF89a but not really")


def test_audio_comes_in_pieces_that_join_into_the_whole_track(clip, options, settings):
    pieces = list(audio_pieces(str(clip), seconds=1.0))
    assert len(pieces) >= 5 and all(len(p) >= 16000 for p in pieces[:-1])
    np.testing.assert_array_equal(np.concatenate(pieces), read_audio(str(clip)))
    # Through the isolated child, the pieces arrive joined, as one track before the frames (the
    # sound stages start on it while frames still decode).
    items = list(IsolatedDecoder(settings.decode_timeout).decode(clip, replace(options, audio=True)))
    assert isinstance(items[0], ContentHash) and isinstance(items[1], AudioTrack)
    assert isinstance(items[2], FrameWindow) and isinstance(items[-1], MediaInfo)
    assert sum(isinstance(item, AudioTrack) for item in items) == 1
    np.testing.assert_array_equal(items[1].samples, read_audio(str(clip)))


def test_isolated_decoder_refuses_a_named_pipe_without_waiting_for_a_writer(tmp_path, options):
    # Discovery never hands a pipe to the decoder; this is the guard for one put in place of a
    # file since: opened without blocking, seen not to be a regular file, failed at once.
    fifo = tmp_path / "x.mp4"
    os.mkfifo(fifo)
    with pytest.raises(DecodeError, match="named pipe"):
        list(IsolatedDecoder(timeout=60).decode(fifo, options))
