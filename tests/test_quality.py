"""Search quality against ground truth (issue 29): the bench's metrics, the issue's case on a
small real library, and bench/quality.py's small library held to the targets that hold on it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from bench.quality import (
    Answer,
    Found,
    Query,
    average_precision,
    best_answer,
    build,
    evaluate,
    iou,
    recall_at,
    score_query,
    start_error,
    summary,
)
from tests.conftest import make_settings, video_id
from tests.media import Scene, write_video
from tests.palette_encoder import SPEC, register
from vidseek.library import Library

# --- the metrics -------------------------------------------------------------------------------


def test_temporal_iou():
    assert iou((0, 10), (5, 15)) == pytest.approx(5 / 15)
    assert iou((2, 4), (0, 10)) == pytest.approx(0.2)
    assert iou((0, 1), (1, 2)) == 0.0 and iou((0, 1), (3, 4)) == 0.0
    assert iou((3, 6), (3, 6)) == 1.0


def test_a_moment_finds_the_answer_it_overlaps_most_in_its_own_video():
    answers = (Answer("a.mp4", 0, 10), Answer("a.mp4", 20, 22), Answer("b.mp4", 20, 22))
    assert best_answer("a.mp4", (9, 21), answers) == 1  # IoU 1/13 beats 1/21
    assert best_answer("b.mp4", (0, 10), answers) is None
    assert best_answer("c.mp4", (20, 22), answers) is None


def test_recall_at_k_and_average_precision():
    found = [None, 0, None, 0, 1]  # the 4th finds answer 0 again: no new credit
    assert recall_at(found, 1) == 0.0 and recall_at(found, 2) == 1.0
    assert average_precision(found, 2) == pytest.approx((1 / 2 + 2 / 5) / 2)
    assert average_precision(found, 4) == pytest.approx((1 / 2 + 2 / 5) / 4)  # 2 never found
    assert average_precision([], 1) == 0.0


def test_start_error_is_seconds_from_the_answers_start():
    assert start_error(5.25, Answer("a.mp4", 5.0, 8.0)) == pytest.approx(0.25)
    assert start_error(0.0, Answer("a.mp4", 45.0, 48.0)) == 45.0


def test_a_query_is_scored_over_random_orders_of_its_tied_moments():
    query = Query("reds", "text", "pictured", (Answer("a.mp4", 0, 4),))
    right, wrong = Found("a.mp4", 0, 4, 1.0), Found("b.mp4", 0, 4, 1.0)
    scores = score_query(query, [wrong, right], np.random.default_rng(0))
    assert 0.3 < scores.r1 < 0.7 and scores.r5 == 1.0  # first in about half of the orders
    assert score_query(query, [Found("b.mp4", 0, 4, 2.0), right],
                       np.random.default_rng(0)).r1 == 0.0
    long = score_query(query, [Found("a.mp4", 0, 13, 1.0)], np.random.default_rng(0))
    assert long.r1 == 1.0 and long.long == [True] and long.iou == pytest.approx(4 / 13)
    # The length is that of the moment that finds the answer first; a later look is not it.
    again = score_query(query, [right, Found("a.mp4", 0, 13, 0.5)], np.random.default_rng(0))
    assert again.long == [False]


def test_a_no_answer_query_is_right_when_it_returns_nothing():
    query = Query("penguins", "text", "no-answer", ())
    assert score_query(query, [], np.random.default_rng(0)).empty
    assert not score_query(query, [Found("a.mp4", 0, 4, 1.0)], np.random.default_rng(0)).empty


# --- the case, on a real library -------------------------------------------------------

CAPTION = "1024x768 25fps PhotoJPEG 75%"
SAID = [(5.0, 7.5, "We must finish the budget before the deadline."),
        (25.0, 27.5, "The children are playing football in the park."),
        (45.0, 48.0, "My grandmother keeps an old saxophone under her bed.")]
OTHER = ["The otter juggles pebbles.", "Glaciers carve valleys.", "I started in a garage.",
         "Our first customer was a dentist.", "The storm is coming.", "Meet me at the harbour.",
         "The lighthouse beam swept the bay.", "Photosynthesis makes sugar."]


def srt(cues) -> str:
    def clock(t):
        return f"00:00:{int(t):02d},{int(round(t % 1 * 1000)):03d}"
    return "\n".join(f"{i}\n{clock(a)} --> {clock(b)}\n{text}\n"
                     for i, (a, b, text) in enumerate(cues, start=1))


@pytest.fixture(scope="module")
def captioned(tmp_path_factory):
    """A minute of a grey test pattern with a caption subtitled for all of it and three
    sentences over it (subtitles stand in for the said here: no Whisper, same ranking), and a
    video of other cues with a green scene. The palette encoder: frames mean colours only."""
    root = tmp_path_factory.mktemp("captioned")
    videos = root / "videos"
    videos.mkdir()
    write_video(videos / "pattern.mp4", [Scene(60, (128, 128, 128))])
    (videos / "pattern.srt").write_text(srt([(0.0, 60.0, CAPTION), *SAID]))
    write_video(videos / "other.mp4", [Scene(2, (10, 10, 10)), Scene(4, (30, 200, 60)),
                                       Scene(34, (10, 10, 10))])
    (videos / "other.srt").write_text(srt([(4 * i + 1, 4 * i + 3, t) for i, t in enumerate(OTHER)]))
    lib = Library(make_settings(root / "data", clip_model=SPEC, label_after_index=False),
                  register())
    assert lib.index(videos).report.failed == []
    yield lib
    lib.close()


@pytest.mark.parametrize(("query", "said"), [("when is the budget deadline", SAID[0]),
                                             ("kids playing football", SAID[1]),
                                             ("grandmother saxophone", SAID[2])])
def test_a_caption_on_screen_all_along_neither_widens_nor_joins_a_said_moment(
        captioned, query, said):
    best = captioned.search_text(query, captioned.search_options())[0]
    assert best.video_id == video_id(captioned, "pattern.mp4")
    assert (best.t0, best.t1) == said[:2]  # before: 0:00-1:00, for all three
    assert best.matched_by == ("keyword", "subtitles")
    # The caption's text vector is its index's best hit for any sentence, but no more like
    # this one than the other cues are: it is not evidence.
    assert [h.text for h in best.hits] == [said[2]]


def test_a_query_with_no_answer_returns_nothing(captioned):
    for query in ("penguins skating on a frozen lake", "a helicopter landing on the roof"):
        assert captioned.search_text(query, captioned.search_options()) == []
    # With every hit counted (as before), the nearest vectors come back whatever they are.
    options = captioned.search_options()
    everything = replace(options, fusion=replace(options.fusion, evidence_z=0.0))
    assert captioned.search_text("penguins skating on a frozen lake", everything) != []


def test_a_colour_finds_its_scene_by_the_frames_alone(captioned):
    (best, *rest) = captioned.search_text("a scene full of greens", captioned.search_options())
    assert best.video_id == video_id(captioned, "other.mp4")
    assert (best.t0, best.t1) == (2.0, 6.0) and best.matched_by == ("frame",)
    assert rest == []


# --- the bench's small library -----------------------------------------------------------------

@pytest.mark.slow  # real Whisper, OCR and audio features: about a minute on 2 cores
def test_the_small_quality_library_meets_the_targets_that_hold_on_it(tmp_path_factory):
    root = tmp_path_factory.mktemp("quality")
    results = evaluate(root, build(root, small=True), small=True)
    configured = results[("fused", "as configured")]
    worded = [s for q, s in configured if q.group in ("said", "written", "subtitled")]
    assert np.mean([s.iou >= 0.5 for s in worded]) >= 0.95
    assert summary([r for r in configured if r[0].group in ("said", "written", "subtitled")]
                   )["start"] <= 1.0
    assert not any(x for _, s in configured for x in s.long)
    assert np.mean([s.empty for q, s in configured if q.group == "no-answer"]) >= 0.9
    two = [s.r1 for q, s in configured if q.group == "two-signal"]
    alone = max(np.mean([s.r1 for q, s in rows if q.group == "two-signal"])
                for way, rows in results.items() if way[0] == "alone")
    assert np.mean(two) >= alone + 0.10
