"""The video page's timeline of what was said and read: transcript chunks, text read on screen
(real PP-OCRv4 on rendered slides) and subtitle cues (a real sidecar file), each line a link to
its second, through the Flask test client."""

from __future__ import annotations

import re
from html import unescape

import pytest

from tests.conftest import make_settings
from tests.media import BLUE, GREEN, Slide, write_slides
from vidseek.core.records import Segment
from vidseek.indexer.discover import examine
from vidseek.library import Library
from vidseek.web.app import create_app

SLIDES = [Slide(3, color=BLUE), Slide(3, "QUOKKA CROSSING", GREEN), Slide(3, color=BLUE),
          Slide(3, "袋鼠过马路", GREEN), Slide(3, color=BLUE)]
SUBTITLES = """1
00:00:01,000 --> 00:00:02,500
Welcome to the quokka tour

2
00:00:10,000 --> 00:00:11,500
The kangaroo crosses the road
"""
SAID = (7.0, 8.5, "we must finish the budget before the deadline")
LINE = re.compile(r'<li class="(?P<modality>\w+)(?P<current> current)?">\s*'
                  r'<a class="line" href="(?P<href>[^"]+)"[^>]*>.*?'
                  r'<span class="line-text">(?P<text>.*?)</span>', re.S)


@pytest.fixture(scope="module")
def library(tmp_path_factory, tiny_encoder):
    root = tmp_path_factory.mktemp("video-page")
    videos = root / "videos"
    videos.mkdir()
    talk = write_slides(videos / "talk.mp4", SLIDES)
    (videos / "talk.srt").write_text(SUBTITLES, encoding="utf-8")
    write_slides(videos / "quiet.mp4", [Slide(4, color=GREEN)])
    lib = Library(make_settings(root / "data", index_ocr=True), tiny_encoder)
    assert lib.indexer.index(videos).failed == []
    # Speech as the speech stage stores it (the recogniser itself is tested in test_speech).
    analyzed = lib.indexer.analyze(talk)
    said = Segment("speech", *SAID[:2], lib.encoder.embed_texts([SAID[2]])[0], text=SAID[2],
                   language="en")
    lib.store.save_video(str(talk), examine(talk).fingerprint, analyzed.info,
                         analyzed.segments + [said])
    lib.store.save_indexes()
    yield lib
    lib.close()


@pytest.fixture(scope="module")
def client(library):
    return create_app(library=library).test_client()


def video_id(library: Library, name: str) -> int:
    return next(v.id for v in library.store.videos() if v.path.endswith(name))


def timeline(html: str) -> list[dict[str, str]]:
    """The timeline's lines as the page lists them."""
    return [{**m.groupdict(), "href": unescape(m["href"]), "text": unescape(m["text"]),
             "current": bool(m["current"])} for m in LINE.finditer(html)]


def test_the_page_lists_what_was_said_read_and_subtitled_in_time_order(library, client):
    talk = video_id(library, "talk.mp4")
    page = client.get(f"/videos/{talk}")
    assert page.status_code == 200
    lines = timeline(page.get_data(as_text=True))
    assert [(line["modality"], line["text"]) for line in lines] == [
        ("subtitles", "Welcome to the quokka tour"),
        ("ocr", "QUOKKA CROSSING"),
        ("speech", SAID[2]),
        ("ocr", "袋鼠过马路"),
        ("subtitles", "The kangaroo crosses the road")]
    # Each line links to the page at its own second, which the player starts from.
    starts = [line.t0 for line in library.words_timeline(talk)]
    assert starts[0] == 1.0 and starts[2] == SAID[0] and starts[4] == 10.0
    assert [line["href"] for line in lines] == [f"/videos/{talk}?t={t}" for t in starts]
    assert not any(line["current"] for line in lines)
    html = page.get_data(as_text=True)
    assert 'Said <b>1</b>' in html and 'On screen <b>2</b>' in html and 'Subtitles <b>2</b>' in html


def test_a_second_in_the_address_starts_the_player_there_and_marks_its_lines(library, client):
    talk = video_id(library, "talk.mp4")
    html = client.get(f"/videos/{talk}?t=10.5").get_data(as_text=True)
    assert f'src="/media/{talk}#t=10.5"' in html
    current = [line["text"] for line in timeline(html) if line["current"]]
    assert current == ["袋鼠过马路", "The kangaroo crosses the road"]
    # A link followed from a line marks that line.
    [said] = [line for line in timeline(html) if line["modality"] == "speech"]
    followed = timeline(client.get(said["href"]).get_data(as_text=True))
    assert [line["text"] for line in followed if line["current"]] == [SAID[2]]


@pytest.mark.parametrize("bad", ["soon", "-3", "nan", "inf"])
def test_a_time_that_is_not_a_second_of_the_video_is_a_clear_error(library, client, bad):
    response = client.get(f"/videos/{video_id(library, 'talk.mp4')}?t={bad}")
    assert response.status_code == 400
    assert "t must be a time in seconds" in response.get_json()["error"]["message"]


def test_a_video_without_words_says_so(library, client):
    html = client.get(f"/videos/{video_id(library, 'quiet.mp4')}").get_data(as_text=True)
    assert timeline(html) == [] and "Nothing was heard, read on screen or subtitled" in html
