"""On-screen text: real PP-OCRv4 (rapidocr) reading text rendered into real H.264 clips, in
English and in Chinese, found again by keyword search, through the API and the CLI.

The CLIP model is the tiny random one: what is asserted is what was read, when, and what
the keyword side of the fused search finds."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import TINY_MODEL, make_settings, video_id
from tests.media import BLUE, GREEN, RED, Slide, slide_frame, write_slides
from vidseek.indexer.ocr import (
    OCR_ENGINES,
    OcrOptions,
    TextLine,
    could_hold_text,
    text_spans,
)
from vidseek.library import Library
from vidseek.web.app import create_app

GREY, PURPLE = (90, 90, 90), (90, 40, 120)
# (second it appears, text); each slide lasts 3 s, between slides without text.
SLIDES = [
    Slide(3, color=BLUE),
    Slide(3, "QUOKKA CROSSING", GREEN),
    Slide(3, color=RED),
    Slide(3, "袋鼠过马路", PURPLE),
    Slide(3, color=GREY),
    Slide(3, "LIBRARY OPENS AT NINE", GREY, font_size=32),  # a caption on an unchanged picture
    Slide(3, color=BLUE),
]
SHOWN = [(3.0, 6.0, "QUOKKA CROSSING"), (9.0, 12.0, "袋鼠过马路"),
         (15.0, 18.0, "LIBRARY OPENS AT NINE")]
FRAME_STEP = 1.0  # settings.frame_rate = 1: a found moment may be one sampled frame off


@pytest.fixture(scope="module")
def ocr_library(tmp_path_factory, tiny_encoder):
    root = tmp_path_factory.mktemp("ocr")
    videos = root / "videos"
    videos.mkdir()
    write_slides(videos / "signs.mp4", SLIDES)
    write_slides(videos / "plain.mp4", [Slide(4, color=GREEN), Slide(4, color=RED)])
    settings = make_settings(root / "data", index_ocr=True)
    lib = Library(settings, tiny_encoder)
    report = lib.indexer.index(videos)
    assert report.failed == []
    yield lib
    lib.close()


def test_text_on_screen_becomes_one_segment_per_span(ocr_library):
    lib = ocr_library
    read = [(s.t0, s.t1, s.text) for s in lib.store.video_segments(video_id(lib, "signs.mp4"), "ocr")]
    assert [text for _, _, text in read] == [text for _, _, text in SHOWN]
    for (t0, t1, _), (shown0, shown1, _) in zip(read, SHOWN, strict=True):
        assert abs(t0 - shown0) <= FRAME_STEP and abs(t1 - shown1) <= FRAME_STEP


def test_frames_without_text_yield_no_ocr_segment(ocr_library):
    lib = ocr_library
    assert lib.store.video_segments(video_id(lib, "plain.mp4"), "ocr") == []
    blank = [(0, 3), (6, 9), (12, 15), (18, 21)]
    for s in lib.store.video_segments(video_id(lib, "signs.mp4"), "ocr"):
        assert not any(s.t0 < b1 - FRAME_STEP and s.t1 > b0 + FRAME_STEP for b0, b1 in blank)


@pytest.mark.parametrize(("query", "shown_at"), [("quokka", 3.0), ("袋鼠过马路", 9.0),
                                                 ("when does the library open", 15.0)])
def test_a_word_on_screen_finds_its_moment(ocr_library, query, shown_at):
    lib = ocr_library
    best = lib.engine.search_text(query, lib.search_options())[0]
    assert best.video_id == video_id(lib, "signs.mp4")
    read = [h for h in best.hits if "keyword" in h.matched_by]
    assert read and read[0].modality == "ocr"
    assert abs(read[0].t0 - shown_at) <= FRAME_STEP


def test_the_api_shows_the_text_read_as_a_highlighted_snippet(ocr_library):
    app = create_app(library=ocr_library)
    top = app.test_client().get("/api/search?q=quokka").get_json()["results"][0]
    assert abs(top["t0"] - 3.0) <= FRAME_STEP
    assert {"keyword", "ocr"} <= set(top["matched_by"])
    snippet = top["snippet"]
    assert snippet["modality"] == "ocr" and snippet["text"] == "QUOKKA CROSSING"
    assert [snippet["text"][a:b] for a, b in snippet["highlights"]] == ["QUOKKA"]
    modalities = app.test_client().get("/api/openapi.json").get_json()
    assert "ocr" in json.dumps(modalities) and "subtitles" in json.dumps(modalities)


@pytest.mark.slow  # real `vidseek` processes
def test_vidseek_search_on_a_fresh_index_finds_a_rendered_word(tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    write_slides(videos / "sign.mp4", [Slide(2, color=BLUE), Slide(3, "QUOKKA CROSSING", GREEN)])
    env = {**os.environ, "VIDSEEK_DATA_DIR": str(tmp_path / "data"),
           "VIDSEEK_CLIP_MODEL": TINY_MODEL, "VIDSEEK_ALLOW_DOWNLOAD": "false",
           "VIDSEEK_TRANSCRIBE": "false", "VIDSEEK_INDEX_AUDIO": "false", "VIDSEEK_THREADS": "1"}

    def vidseek(*args):
        done = subprocess.run([sys.executable, "-m", "vidseek", *args], env=env,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout

    vidseek("index", str(videos))
    rows = json.loads(vidseek("search", "quokka", "--json"))
    assert rows[0]["path"].endswith("sign.mp4") and abs(rows[0]["t0"] - 2.0) <= FRAME_STEP
    assert rows[0]["snippet"] == {"text": "QUOKKA CROSSING", "modality": "ocr",
                                  "highlights": [[0, 6]]}
    assert "on-screen text" in vidseek("models")


def test_the_engine_reads_english_and_chinese(tmp_path):
    engine = OCR_ENGINES.load(make_settings(tmp_path, ocr_model="rapidocr:ppocr-v4", threads=1))
    for text in ("QUOKKA CROSSING", "袋鼠过马路"):
        lines = engine.read(slide_frame(Slide(1, text, GREEN), (640, 360)))
        assert [line.text for line in lines] == [text]
        assert lines[0].score > 0.9
    assert engine.read(slide_frame(Slide(1, color=GREEN), (640, 360))) == []


def test_a_flat_frame_cannot_hold_text_and_a_written_one_can(settings):
    options = OcrOptions.from_settings(settings)
    assert not could_hold_text(slide_frame(Slide(1, color=RED), (398, 224)), options.min_edges)
    assert could_hold_text(slide_frame(Slide(1, "EXIT", RED, font_size=24), (398, 224)),
                           options.min_edges)


def test_consecutive_reads_of_the_same_text_are_one_span():
    a, a_jitter, b = [TextLine("QUOKKA CROSSING", 0.9)], [TextLine("QUOKKACROSSING", 0.95)], \
        [TextLine("EXIT", 0.99)]
    spans = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 6)]
    found = text_spans([a, a_jitter, [], a, b, b], spans)
    assert [(s.t0, s.t1, s.text) for s in found] == [
        (0, 2, "QUOKKACROSSING"), (3, 4, "QUOKKA CROSSING"), (4, 6, "EXIT")]


def test_an_unknown_ocr_engine_is_a_clear_error(tmp_path):
    from vidseek.core.errors import ModelUnavailable

    with pytest.raises(ModelUnavailable, match="unknown OCR engine 'tesseractx'.*rapidocr"):
        OCR_ENGINES.load(make_settings(tmp_path, ocr_model="tesseractx:eng"))
