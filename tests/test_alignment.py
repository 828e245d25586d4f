"""Temporal offset voting: which span of each video a query clip lines up with."""

from __future__ import annotations

import pytest

from vidseek.search.queries.alignment import AlignmentOptions, QuerySpan, align_clip
from vidseek.search.queries.ranking import Hit

_ids = iter(range(1, 10_000))


def hit(video_id: int, t0: float, t1: float, similarity: float) -> Hit:
    return Hit(next(_ids), video_id, "frame", t0, t1, similarity, None, ("frame",), similarity)


SPANS = [QuerySpan(0, 2), QuerySpan(2, 4), QuerySpan(4, 6)]


def test_a_copy_of_the_clip_is_found_at_its_offset():
    hits = [
        [hit(1, 10, 12, 0.95), hit(2, 3, 5, 0.9)],
        [hit(1, 12, 14, 0.94), hit(2, 40, 42, 0.9)],
        [hit(1, 14, 16, 0.96), hit(2, 20, 22, 0.9)],
    ]
    best, runner_up = align_clip(SPANS, hits, 0, 6)
    assert (best.moment.video_id, best.offset, best.matched) == (1, 10, 3)
    assert (best.moment.t0, best.moment.t1) == (10, 16)
    assert best.moment.score == pytest.approx((0.95 + 0.94 + 0.96) / 3)
    assert sorted(h.t0 for h in best.moment.hits) == [10, 12, 14]
    # Video 2's look-alikes vote for three different offsets: one segment supports any of them.
    assert runner_up.moment.video_id == 2 and runner_up.matched == 1


def test_consistent_order_beats_one_perfect_frame():
    hits = [
        [hit(1, 20, 22, 0.8), hit(2, 50, 52, 1.0)],
        [hit(1, 22, 24, 0.8)],
        [hit(1, 24, 26, 0.8)],
    ]
    assert [a.moment.video_id for a in align_clip(SPANS, hits, 0, 6)] == [1, 2]


def test_a_partial_first_scene_does_not_shift_the_offset():
    # The clip starts 1 s into a scene: that scene's segment in the target begins 1 s earlier.
    spans = [QuerySpan(0, 1), QuerySpan(1, 3), QuerySpan(3, 5), QuerySpan(5, 7)]
    hits = [[hit(1, 4, 6, 0.9)], [hit(1, 6, 8, 0.9)], [hit(1, 8, 10, 0.9)],
            [hit(1, 10, 12, 0.9)]]
    (a,) = align_clip(spans, hits, 0, 7)
    assert a.offset == 5 and a.matched == 4
    assert (a.moment.t0, a.moment.t1) == (5, 12)


def test_span_queries_keep_their_own_time_and_clip_at_zero():
    # A query taken from seconds 30..36 of another video, matching the start of video 1.
    spans = [QuerySpan(30, 32), QuerySpan(32, 34), QuerySpan(34, 36)]
    hits = [[hit(1, 0, 2, 0.9)], [hit(1, 2, 4, 0.9)], [hit(1, 4, 6, 0.9)]]
    (a,) = align_clip(spans, hits, 31, 36)
    assert a.offset == -30 and (a.moment.t0, a.moment.t1) == (1, 6)
    (early,) = align_clip(spans, hits, 29, 36)
    assert early.moment.t0 == 0  # a span never starts before the video does


def test_long_segments_weigh_more_and_k_limits_the_answer():
    spans = [QuerySpan(0, 9), QuerySpan(9, 10)]
    hits = [[hit(1, 0, 9, 0.9), hit(2, 9, 10, 0.2)], [hit(2, 10, 11, 0.9), hit(3, 0, 1, 0.5)]]
    ranked = align_clip(spans, hits, 0, 10)
    assert [a.moment.video_id for a in ranked] == [1, 2, 3]
    assert ranked[0].moment.score == pytest.approx(0.9 * 0.9)
    assert len(align_clip(spans, hits, 0, 10, AlignmentOptions(k=2))) == 2


def test_no_hits_no_alignments():
    assert align_clip(SPANS, [[], [], []], 0, 6) == []
