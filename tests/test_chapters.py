"""Chapters: cut at shot boundaries and changes of topic, from stored vectors; on a generated
clip with coloured scenes they start at its cuts."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import make_settings
from tests.media import BLUE, GREEN, RED, Scene, write_video
from tests.palette_encoder import SPEC, register
from tests.test_labels import write_vocabulary
from vidseek.core.records import unit
from vidseek.library import Library
from vidseek.search.labels.chapters import ChapterOptions, chapters_vtt, cut_chapters
from vidseek.search.labels.scoring import Moments


def axis(i, dim=8):
    v = np.zeros(dim, np.float32)
    v[i] = 1
    return v


def moments(spans, vectors):
    t0, t1 = (np.array(x, float) for x in zip(*spans)) if spans else (np.zeros(0), np.zeros(0))
    return Moments(np.ones(len(spans), np.int64), t0, t1, np.arange(100, 100 + len(spans)),
                   np.asarray(vectors, np.float32).reshape(len(spans), 8))


NO_SPEECH = moments([], np.zeros((0, 8)))


def spans(chapters):
    return [(c.t0, c.t1) for c in chapters]


def test_distinct_shots_are_chapters_and_similar_ones_merge():
    shots = moments([(0, 30), (30, 60), (60, 90), (90, 120)],
                    [axis(0), unit(axis(0) + 0.05 * axis(5)), axis(1), axis(2)])
    chapters = cut_chapters(shots, np.full(4, 10), NO_SPEECH, ChapterOptions(20, 0.9))
    assert spans(chapters) == [(0, 60), (60, 90), (90, 120)]
    assert chapters[1].segment_id == 102  # the thumbnail is a frame of the chapter


def test_a_short_chapter_joins_the_neighbour_it_is_more_like():
    shots = moments([(0, 40), (40, 45), (45, 90)],
                    [axis(0), unit(axis(1) + 0.6 * axis(2)), axis(2)])
    chapters = cut_chapters(shots, np.array([40, 5, 45]), NO_SPEECH, ChapterOptions(20, 0.9))
    assert spans(chapters) == [(0, 40), (40, 90)]


def test_speech_cuts_one_long_shot_where_the_topic_changes():
    shot = moments([(0, 120)], [axis(0)])
    topic_a, topic_b = axis(3), axis(4)
    said = moments([(0, 30), (30, 60), (60, 90), (90, 120)],
                   [topic_a, unit(topic_a + 0.1 * axis(6)), topic_b, topic_b])
    chapters = cut_chapters(shot, np.array([120]), said, ChapterOptions(20, 0.9))
    assert spans(chapters) == [(0, 60), (60, 120)]
    # One topic throughout: one chapter.
    same = moments([(0, 60), (60, 120)], [topic_a, topic_a])
    assert spans(cut_chapters(shot, np.array([120]), same, ChapterOptions(20, 0.9))) == [(0, 120)]


def test_chapters_vtt():
    assert chapters_vtt([(0, 61.5, "beach"), (61.5, 90, "a <b> & c")]) == (
        "WEBVTT\n\n00:00:00.000 --> 00:01:01.500\nbeach\n\n"
        "00:01:01.500 --> 00:01:30.000\na &lt;b&gt; &amp; c\n\n")


@pytest.fixture
def clip_library(tmp_path):
    register()
    root = tmp_path / "videos"
    root.mkdir()
    path = write_video(root / "scenes.mp4", [Scene(4, RED), Scene(4, GREEN), Scene(4, BLUE),
                                             Scene(4, RED)])
    vocabulary = write_vocabulary(tmp_path / "vocabulary.toml", "reds", "greens")
    lib = Library(make_settings(tmp_path / "data", clip_model=SPEC,
                                label_vocabulary=str(vocabulary), chapter_min_seconds=2.0))
    lib.indexer.index(root)
    yield lib, lib.store.video_by_path(str(path)).id
    lib.close()


def test_chapters_of_a_generated_clip_start_at_its_cuts(clip_library):
    lib, video_id = clip_library
    lib.labels.update()
    chapters = lib.labels.chapters(video_id)
    assert [round(c.t0, 1) for c in chapters] == [0, 4, 8, 12]
    assert round(chapters[-1].t1) == 16
    assert [c.label for c in chapters] == ["reds", "greens", None, "reds"]
    frames = {s.id: s for s in lib.store.video_segments(video_id, "frame")}
    for c in chapters:  # each thumbnail is a frame inside its chapter
        assert c.t0 <= frames[c.segment_id].t0 < c.t1
    vtt = lib.labels.chapters_vtt(video_id)
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:04.000\nreds\n\n")
    assert "\nChapter 3\n" in vtt
