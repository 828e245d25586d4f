"""Pure ranking logic: fusion of sources and growing moments in time."""

from dataclasses import replace

import numpy as np
import pytest

from vidseek.search.queries.ranking import FusionOptions, Hit, Noise, fuse, merge_moments


def hit(seg, video, t0, t1, score, modality="frame", similarity=None):
    return Hit(seg, video, modality, t0, t1, score, None, (modality,),
               score if similarity is None else similarity)


def test_moment_stops_at_a_cut():
    # Red scene 0-3 s matches, blue scene 3-6 s does not: one moment, 0..3.
    hits = [hit(1, 1, 0, 1, 0.90), hit(2, 1, 1, 2, 0.89), hit(3, 1, 2, 3, 0.91),
            hit(4, 1, 3, 4, 0.60), hit(5, 1, 4, 5, 0.61), hit(6, 1, 5, 6, 0.60)]
    moments = merge_moments(hits, gap=1.0, margin=0.05)
    assert (moments[0].t0, moments[0].t1) == (0, 3)
    assert moments[0].best.segment_id == 3
    assert [(m.t0, m.t1) for m in moments[1:]] == [(4, 5), (3, 4), (5, 6)]


def test_hits_far_apart_stay_separate_and_videos_never_mix(settings):
    hits = [hit(1, 1, 0, 1, 0.9), hit(2, 1, 10, 11, 0.9), hit(3, 2, 1, 2, 0.9)]
    moments = merge_moments(hits, gap=1.0, margin=settings.merge_margin)
    assert len(moments) == 3
    assert {m.video_id for m in moments} == {1, 2}


def test_keyword_hit_joins_touching_moment(settings):
    hits = [hit(1, 1, 0, 2, 0.8), Hit(2, 1, "speech", 1.5, 6, 0.5, "hello", ("keyword",), None)]
    (m,) = merge_moments(hits, settings.merge_gap, settings.merge_margin)
    assert (m.t0, m.t1) == (0, 6)
    assert m.matched_by == ("frame", "keyword", "speech")  # the words were spoken


def test_a_keyword_match_names_where_the_words_were_read(settings):
    hits = [Hit(2, 1, "ocr", 3, 5, 0.5, "QUOKKA CROSSING", ("keyword",), None)]
    (m,) = merge_moments(hits, settings.merge_gap, settings.merge_margin)
    assert m.matched_by == ("keyword", "ocr")


def test_rrf_rewards_agreement_between_sources():
    a, b = hit(1, 1, 0, 1, 0.3, "speech"), hit(2, 2, 0, 1, 0.31, "speech")
    fused = fuse({"speech": [a, b], "keyword": [hit(1, 1, 0, 1, 7.0, "speech")]},
                 FusionOptions("rrf", weights=()))  # unnamed sources weigh 1
    assert fused[0].segment_id == 1
    assert fused[0].matched_by == ("speech", "keyword")
    assert fused[0].score == pytest.approx(1 / 62 + 1 / 61)


def test_weighted_fusion_uses_scores_and_weights():
    fused = fuse({"frame": [hit(1, 1, 0, 1, 0.5)], "audio": [hit(2, 1, 5, 6, 0.9, "audio")]},
                 FusionOptions(method="weighted", weights=(("frame", 1.0), ("audio", 0.5))))
    assert [(h.segment_id, round(h.score, 3)) for h in fused] == [(1, 0.5), (2, 0.45)]


def test_unknown_fusion_method_is_refused():
    with pytest.raises(ValueError, match="unknown fusion"):
        fuse({}, FusionOptions(method="magic", weights=()))


def test_a_limit_gives_the_same_best_moments_as_growing_them_all():
    import random

    rng = random.Random(0)
    for _ in range(50):
        hits = [hit(i, rng.randint(1, 4), t, t + 1, round(rng.random(), 2))
                for i, t in enumerate(rng.sample(range(40), 30))]
        everything = merge_moments(hits, gap=1.0, margin=0.1)
        for limit in (1, 3, 10):
            assert merge_moments(hits, gap=1.0, margin=0.1, limit=limit) == everything[:limit]


# --- evidence: what stands out from a source's noise, and moments made of it --------------

def test_noise_is_measured_robustly_and_a_match_stands_out_of_it():
    rng = np.random.default_rng(0)
    similarities = np.concatenate([rng.normal(0.10, 0.02, 90), np.full(10, 0.30)])
    noise = Noise.of(similarities)
    # The tenth of the sample that matches does not widen the noise it is measured on.
    assert noise.median == pytest.approx(0.10, abs=0.01)
    assert 0.015 < noise.spread < 0.03 and similarities.std() > 0.05
    assert noise.standing(0.30) > 7 and noise.standing(0.12) < 2


def test_a_sample_too_small_or_too_flat_lets_nothing_stand_out_by_a_hair():
    assert Noise.of(np.array([0.1, 0.9])).standing(0.9) == 0.0
    flat = Noise.of(np.full(50, 0.99))  # every text alike: a difference of 0.001 is no signal
    assert flat.spread == Noise.MIN_SPREAD and flat.standing(0.991) < 1


def test_only_hits_that_stand_out_of_their_noise_are_fused_and_named():
    noise = Noise(median=0.2, spread=0.02)
    caption = hit(1, 1, 0, 60, 0.23, "ocr")  # its index's top hit, but inside the noise
    spoken = hit(2, 1, 5, 8, 0.40, "speech")
    words = Hit(2, 1, "speech", 5, 8, 1.0, None, ("keyword",), None)
    options = FusionOptions("rrf", weights=(), evidence_z=3.0)
    fused = fuse({"ocr": [caption], "speech": [spoken], "keyword": [words]}, options,
                 {"ocr": noise, "speech": noise})
    assert [(h.segment_id, h.matched_by) for h in fused] == [(2, ("speech", "keyword"))]
    # Without the gate, the caption is evidence like any rank-1 hit (issue 29's bug).
    ungated = fuse({"ocr": [caption], "speech": [spoken]}, replace(options, evidence_z=0.0),
                   {"ocr": noise, "speech": noise})
    assert {h.segment_id for h in ungated} == {1, 2}


def test_tied_similarities_share_a_rank():
    hits = [hit(1, 1, 0, 1, 0.3), hit(2, 2, 0, 1, 0.3), hit(3, 3, 0, 1, 0.2)]
    fused = fuse({"frame": hits}, FusionOptions("rrf", weights=()))
    assert [round(h.score * 1e6) for h in fused] == [round(1e6 / 61)] * 2 + [round(1e6 / 63)]


def test_a_caption_shown_all_along_adds_to_each_spoken_moment_and_widens_none():
    # Issue 29: speech at 5, 25 and 45 s over a caption on screen for the whole minute.
    caption = Hit(9, 1, "ocr", 0, 60, 1 / 61, None, ("keyword",), None)
    said = [Hit(i, 1, "speech", t, t + 2.5, 1 / 61, None, ("keyword",), None)
            for i, t in enumerate((5, 25, 45))]
    moments = merge_moments(said + [caption], gap=1.0, margin=0.05)
    assert [(m.t0, m.t1) for m in sorted(moments, key=lambda m: m.t0)] == [
        (5, 7.5), (25, 27.5), (45, 47.5)]
    assert all(caption in m.hits and m.score == pytest.approx(2 / 61) for m in moments)
    assert all(m.matched_by == ("keyword", "ocr", "speech") for m in moments)


def test_a_long_segment_alone_is_its_own_moment():
    (m,) = merge_moments([Hit(9, 1, "ocr", 0, 60, 0.5, None, ("keyword",), None)], 1.0, 0.05)
    assert (m.t0, m.t1) == (0, 60)


def test_a_long_segment_joins_a_moment_a_third_its_length():
    frames = [hit(i, 1, i, i + 1, 0.5) for i in range(20)]  # a scene of 20 s
    slide = Hit(99, 1, "ocr", 0, 45, 0.4, None, ("keyword",), None)
    (m,) = merge_moments(frames + [slide], gap=1.0, margin=0.05)
    assert (m.t0, m.t1) == (0, 45) and m.score == pytest.approx(0.9)


def test_a_long_segment_does_not_bridge_two_moments():
    slide = Hit(99, 1, "ocr", 0, 60, 0.4, None, ("keyword",), None)
    moments = merge_moments([hit(1, 1, 10, 12, 0.5), hit(2, 1, 40, 42, 0.5), slide], 1.0, 0.05)
    assert sorted((m.t0, m.t1) for m in moments) == [(10, 12), (40, 42)]


def test_a_moment_said_and_shown_outranks_one_only_said():
    said_only = Hit(1, 1, "speech", 3, 6, 0.5, None, ("keyword",), None)
    said = Hit(2, 2, "speech", 3, 6, 0.5, None, ("keyword",), None)
    shown = hit(3, 2, 3, 6, 0.5)
    best = merge_moments([said_only, said, shown], gap=1.0, margin=0.05)[0]
    assert best.video_id == 2 and best.score == pytest.approx(1.0)
    assert best.matched_by == ("frame", "keyword", "speech")


def test_a_segment_too_long_for_one_moment_it_touches_widens_none():
    # A channel name on screen 0-30 s, read with a caption at 30-40 s, beside a sentence at
    # 20 s: the name is short enough for the caption's moment, not for the sentence's.
    said = Hit(1, 1, "speech", 20, 22.5, 0.5, None, ("keyword",), None)
    caption = Hit(2, 1, "ocr", 30, 40, 0.4, None, ("keyword",), None)
    name = Hit(3, 1, "ocr", 0, 30, 0.4, None, ("keyword",), None)
    moments = merge_moments([said, caption, name], gap=1.0, margin=0.05)
    assert sorted((m.t0, m.t1) for m in moments) == [(20, 22.5), (30, 40)]
    assert all(name in m.hits for m in moments)


def test_keyword_matches_rank_by_their_own_order_even_when_scores_tie():
    # The keyword search's order is its ranking (its tiers: every word first, some words
    # after), whatever the relative scores it gives them.
    all_words = Hit(1, 1, "speech", 0, 2, 1.0, None, ("keyword",), None)
    some_words = Hit(2, 2, "speech", 0, 2, 1.0, None, ("keyword",), None)
    fused = fuse({"keyword": [all_words, some_words]}, FusionOptions("rrf", weights=()))
    assert [(h.segment_id, h.score) for h in fused] == [(1, 1 / 61), (2, 1 / 62)]


def test_a_long_segment_that_is_the_better_evidence_is_a_moment_with_what_it_covers():
    # "channel seven news": the channel's name, on screen 0-30 s, matches every word; a
    # sentence inside it says "new" (one word, stemmed), and does not make the moment.
    name = Hit(1, 1, "ocr", 0, 30, 1 / 61, None, ("keyword",), None)
    said = Hit(2, 1, "speech", 20, 22.5, 1 / 64, None, ("keyword",), None)
    (m,) = merge_moments([said, name], gap=1.0, margin=0.05)
    assert (m.t0, m.t1) == (0, 30) and m.best == name
    assert m.score == pytest.approx(1 / 61 + 1 / 64)
