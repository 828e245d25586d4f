"""Summaries: chapters with their labels and the most central passages of words, picked in
the joint space; on a generated video whose words are known, the theme said most is quoted
once, with its seconds."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from tests.conftest import make_settings
from tests.face_clips import INTERVIEW, SECOND, on_screen, write_shots
from tests.media import BLUE, GREEN, RED, Scene, place, speech, write_video
from tests.palette_encoder import SPEC, register
from tests.test_labels import write_vocabulary
from vidseek.cli import main as cli_main
from vidseek.library import Library
from vidseek.search.summary import central_passages, centrality, words_key
from vidseek.web.app import create_app


def axis(i, dim=8, lean=None):
    v = np.zeros(dim, np.float32)
    v[i] = 1.0
    if lean is not None:
        v[lean] = 0.3
    return v / np.linalg.norm(v)


def test_the_passage_most_like_the_rest_is_picked_first_and_never_twice():
    # A theme said three times (axis 0), one passage near it (leans to 0), three others.
    vectors = np.stack([axis(0), axis(1), axis(0), axis(2, lean=0), axis(3), axis(0), axis(4)])
    keys = ["theme", "b", "theme", "near", "c", "theme", "d"]
    picks = central_passages(vectors, keys, count=4)
    assert picks[0] == (0, pytest.approx(centrality(vectors).max()))  # where it is first said
    assert len(picks) == len(set(keys[i] for i, _ in picks)) == 4


def sentence(*leans):
    """A sentence vector as CLIP text sits: mostly along an axis they all share."""
    v = np.zeros(8, np.float32)
    v[7] = 1.0
    for i, w in leans:
        v[i] += w
    return v / np.linalg.norm(v)


def test_variety_puts_another_theme_before_a_near_copy_of_a_pick():
    theme, near = sentence((0, 0.6)), sentence((0, 0.57), (5, 0.17))  # cosine 0.99
    vectors = np.stack([theme, theme, theme, near, near, sentence((1, 0.6)), sentence((2, 0.6))])
    keys = ["theme", "theme", "theme", "copy", "copy", "b", "c"]
    def rows(**options):
        return [row for row, _ in central_passages(vectors, keys, count=2, **options)]
    assert rows(diversity=0.0) == [0, 3]
    assert rows() in ([0, 5], [0, 6])


def test_the_same_words_are_one_passage():
    assert words_key("The Cat, sat!") == words_key("the cat sat") == "the cat sat"
    assert central_passages(np.zeros((0, 8)), [], count=3) == []


# Sentences naming a colour point along its axis (tests/palette_encoder.py), so likeness is
# known: the reds theme is said three times, the greens one twice, each other colour once.
REDS = "the reds win the harbour race again"
GREENS = "greens paint the old stone lighthouse"
CUES = [(1.0, 2.5, REDS), (3.0, 4.5, GREENS), (5.0, 6.5, "blues drift over the quiet pier"),
        (7.0, 8.5, "The reds win the harbour race again."), (9.0, 10.5, GREENS),
        (11.0, 12.5, "OK"), (12.6, 13.9, "yellows fill the market stalls at nine"),
        (14.0, 14.5, REDS), (14.6, 15.8, "whites of the waves in a storm")]


def srt(cues) -> str:
    def stamp(t):
        return f"00:00:{int(t):02d},{int(round((t % 1) * 1000)):03d}"
    return "".join(f"{n}\n{stamp(a)} --> {stamp(b)}\n{text}\n\n"
                   for n, (a, b, text) in enumerate(cues, start=1))


@pytest.fixture(scope="module")
def summarised(tmp_path_factory):
    register()
    tmp = tmp_path_factory.mktemp("summary")
    root = tmp / "videos"
    root.mkdir()
    path = write_video(root / "harbour.mp4", [Scene(4, RED), Scene(4, GREEN), Scene(4, BLUE),
                                              Scene(4, RED)])
    path.with_suffix(".srt").write_text(srt(CUES))
    vocabulary = write_vocabulary(tmp / "vocabulary.toml", "reds", "greens")
    options = {"clip_model": SPEC, "label_vocabulary": str(vocabulary),
               "chapter_min_seconds": 2.0}
    lib = Library(make_settings(tmp / "data", **options))
    lib.index(root)
    # The same settings as a file, for the command line.
    config = tmp / "vidseek.toml"
    config.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in {
        **options, "data_dir": str(tmp / "data"), "allow_download": False, "transcribe": False,
        "index_audio": False, "index_ocr": False}.items()))
    yield lib, lib.store.video_by_path(str(path)).id, config
    lib.close()


def test_a_generated_video_is_summed_up_by_its_chapters_and_its_theme(summarised):
    lib, video_id, _ = summarised
    summary = lib.summary(video_id, passages=3)
    assert [(round(c.t0), c.label) for c in summary.chapters] == [
        (0, "reds"), (4, "greens"), (8, None), (12, "reds")]
    assert [name for name, _, _ in summary.labels] == ["reds", "greens"]
    # The two themes said most, each quoted once, where it is first said, in time order.
    assert [(p.t0, p.t1, p.text, p.modality) for p in summary.passages[:2]] == [
        (1.0, 2.5, REDS, "subtitles"), (3.0, 4.5, GREENS, "subtitles")]
    reds, greens, other = sorted(summary.passages, key=lambda p: -p.centrality)
    assert (reds.text, greens.text) == (REDS, GREENS)
    assert other.text in {c[2] for c in CUES} - {REDS, GREENS, "OK"}
    assert "OK" not in [p.text for p in lib.summary(video_id, passages=20).passages]


def test_the_api_and_the_cli_give_the_same_summary(summarised, capsys):
    lib, video_id, config = summarised
    expected = lib.summary(video_id).payload()
    detail = create_app(library=lib).test_client().get(f"/api/videos/{video_id}").get_json()
    assert detail["summary"] == expected
    assert cli_main(["--config", str(config), "summary", str(video_id), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["passages"] == expected["passages"]
    assert cli_main(["--config", str(config), "summary", str(video_id)]) == 0
    text = capsys.readouterr().out
    assert REDS in text and "0:04.0–0:08.0  greens" in text


def test_the_video_page_quotes_the_passages_with_links_to_their_seconds(summarised):
    lib, video_id, _ = summarised
    page = create_app(library=lib).test_client().get(f"/videos/{video_id}").get_data(as_text=True)
    quoted = re.findall(r'<a class="passage" href="([^"]+)">.*?<span class="line-text">(.*?)</span>',
                        page, re.S)
    assert quoted == [(f"/videos/{video_id}?t={p.t0}", p.text)
                      for p in lib.summary(video_id).passages]


THEME = "We must finish the budget before the deadline."
# Far enough apart (a pause over 2 s) for each sentence to be a transcript chunk of its own.
SPOKEN = [(1.0, THEME), (8.0, "The children are playing football in the park."),
          (15.0, THEME), (22.0, "My grandmother keeps an old saxophone under her bed."),
          (29.0, THEME), (36.0, "The train leaves the station at nine.")]


@pytest.mark.slow
def test_the_theme_said_three_times_leads_a_spoken_summary(tmp_path, whisper_base, tiny_encoder):
    """Real speech (espeak-ng) heard by Whisper base: the sentence said three times is the
    most central passage, quoted once, at the first time it is said."""
    root = tmp_path / "videos"
    root.mkdir()
    audio = place(41, [(t, speech(text)) for t, text in SPOKEN])
    write_video(root / "meeting.mp4", [Scene(41, BLUE)], audio=audio)
    lib = Library(make_settings(tmp_path / "data", transcribe=True, whisper_model=whisper_base),
                  tiny_encoder)
    lib.index(root)
    video_id = lib.store.video_by_path(str(root / "meeting.mp4")).id
    passages = lib.summary(video_id, passages=3).passages
    said = [s.text for s in lib.store.video_segments(video_id, "speech")]
    lib.close()
    assert len(said) == len(SPOKEN), said
    theme = [p for p in passages if "budget" in p.text.lower()]
    assert len(theme) == 1 and abs(theme[0].t0 - 1.0) <= 1.5, [p.text for p in passages]
    assert theme[0].centrality == max(p.centrality for p in passages)
    assert len({words_key(p.text) for p in passages}) == 3
    assert all(p.modality == "speech" for p in passages)


@pytest.mark.slow
def test_the_people_on_screen_are_named_longest_first(tmp_path, tiny_encoder):
    """Real photos through the face stage (tests/face_clips.py): who is on screen, how long."""
    videos = tmp_path / "videos"
    videos.mkdir()
    write_shots(videos / "interview.mp4", INTERVIEW)
    write_shots(videos / "second.mp4", SECOND)  # a second sighting makes each one a person
    lib = Library(make_settings(tmp_path / "data", index_faces=True), tiny_encoder)
    lib.index(videos)
    interview = lib.store.video_by_path(str(videos / "interview.mp4")).id
    for person in lib.list_people():
        lib.name_person(str(person.id), "Barack Obama" if any(
            (t.t0, t.t1) == (3.0, 7.0) for t in lib.person_tracks(str(person.id))) else "Joe Biden")
    people = lib.summary(interview).people
    page = create_app(library=lib).test_client().get(f"/videos/{interview}").get_data(as_text=True)
    lib.close()
    shown = re.search(r'<p class="summary-people">On screen: (.*?)</p>', page, re.S)[1]
    assert re.findall(r"([A-Z][a-z]+ [A-Z][a-z]+) <span", shown) == [n for _, n, _ in people]
    expected = sorted(((name, float(sum(b - a for a, b in on_screen(INTERVIEW, who))))
                       for name, who in (("Barack Obama", "obama"), ("Joe Biden", "biden"))),
                      key=lambda person: -person[1])
    assert [(name, pytest.approx(seconds, abs=1.0)) for _, name, seconds in people] == expected
