"""Pure ranking logic: fusion of sources and growing moments in time."""

import pytest

from vidseek.search.ranking import FusionOptions, Hit, fuse, merge_moments


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
