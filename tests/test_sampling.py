"""Pure sampling logic: the fixed-rate plan, scene-change thinning and frame spans."""

from dataclasses import replace

import numpy as np
import pytest

from vidseek.indexer.sampling import SamplingOptions, SceneFilter, frame_spans, sample_times


def solid(rgb, h=24, w=40):
    img = np.empty((h, w, 3), np.uint8)
    img[:] = rgb
    return img


def test_sample_times_cover_the_video_at_the_rate():
    assert list(sample_times(3.0, 1.0)) == [0.0, 1.0, 2.0]
    assert list(sample_times(1.0, 2.0)) == [0.0, 0.5]
    assert list(sample_times(0.2, 1.0)) == [0.0]  # a short clip still gets one frame
    with pytest.raises(ValueError):
        sample_times(3.0, 0)


def test_static_footage_costs_one_frame_per_gap():
    f = SceneFilter(SamplingOptions(rate=1, scene_threshold=0.02, max_static_gap=10))
    kept = [t for t in range(30) if f.keep(float(t), solid((10, 10, 10)))]
    assert kept == [0, 10, 20]


def test_a_cut_is_kept_and_noise_is_not():
    f = SceneFilter(SamplingOptions(rate=1, scene_threshold=0.02, max_static_gap=100))
    frames = [solid((200, 0, 0)), solid((201, 1, 0)), solid((0, 0, 200)), solid((0, 0, 199))]
    assert [f.keep(float(t), fr) for t, fr in enumerate(frames)] == [True, False, True, False]


def test_each_kept_frame_spans_until_the_next():
    assert frame_spans([0.0, 3.0, 4.0], 6.0) == [(0.0, 3.0), (3.0, 4.0), (4.0, 6.0)]
    assert frame_spans([], 5.0) == []


def test_a_caption_appearing_is_kept_only_when_local_change_counts(settings):
    picture = np.full((90, 160, 3), 120, np.uint8)
    captioned = picture.copy()
    captioned[72:76, 40:80] = 250  # a small bright caption: the mean barely moves
    for local_threshold, kept in ((1.0, [True, False]), (0.1, [True, True])):
        scene = SceneFilter(replace(SamplingOptions.from_settings(settings),
                                    local_threshold=local_threshold))
        assert [scene.keep(0.0, picture), scene.keep(1.0, captioned)] == kept
