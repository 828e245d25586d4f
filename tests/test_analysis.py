"""One file's analysis: frames kept only for the frame stages are read by them, not embedded."""

from __future__ import annotations

import numpy as np

from tests.media import write_frames
from tests.palette_encoder import PaletteEncoder
from vidseek.indexer.analysis import Analyzer, Job, Stages

SIZE = (160, 96)


class FrameCounter:
    """A frame stage that keeps what it is given: frames kept on a cell's change (0.1, as the
    OCR and face stages ask), and the spans it is told they stand for."""

    short_side = 224
    local_change = 0.1

    def __init__(self):
        self.frames = 0
        self.spans: list[tuple[float, float]] = []

    def reader(self):
        return self

    def add(self, frames: np.ndarray) -> None:
        self.frames += len(frames)

    def segments(self, reader, spans):
        self.spans = spans
        return []


def captioned_clip(path):
    """Red for 4 s with a small caption from 2 s (a cell changes, the mean barely), then blue."""
    red = np.empty((SIZE[1], SIZE[0], 3), np.uint8)
    red[:] = (220, 30, 30)
    captioned = red.copy()
    captioned[72:80, 40:80] = 250
    blue = np.empty_like(red)
    blue[:] = (30, 60, 220)
    return write_frames(path, [red] * 20 + [captioned] * 20 + [blue] * 20, fps=10, size=SIZE)


def test_frames_kept_for_a_stage_alone_are_read_but_not_embedded(tmp_path, settings):
    clip = captioned_clip(tmp_path / "captioned.mp4")
    plain_encoder, staged_encoder, stage = PaletteEncoder(), PaletteEncoder(), FrameCounter()
    plain = Analyzer(settings, plain_encoder).analyze(Job(clip))
    staged = Analyzer(settings, staged_encoder, Stages(frames=(stage,))).analyze(Job(clip))

    def frame_spans(result):
        return [(s.t0, s.t1) for s in result.segments if s.modality == "frame"]

    # The frame path is what it is without the stage: the caption is no new frame of its own.
    assert frame_spans(staged) == frame_spans(plain) == [(0.0, 4.0), (4.0, 6.0)]
    assert staged_encoder.images_embedded == plain_encoder.images_embedded == 2
    assert staged.storyboard.tiles == plain.storyboard.tiles
    # The stage still reads the caption's frame, and its own spans say so.
    assert stage.frames == 3
    assert stage.spans == [(0.0, 2.0), (2.0, 4.0), (4.0, 6.0)]
