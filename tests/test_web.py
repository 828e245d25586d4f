"""The search service through Flask's test client, on a real library indexed with the tiny
model: text, image and clip queries, the library listing, media with ranges, every error."""

from __future__ import annotations

import dataclasses
import gc
import io
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
from PIL import Image

from tests.conftest import TINY_MODEL, make_settings
from tests.search_library import SOURCE_COLOURS, SPOKEN
from vidseek.cli import main as cli_main
from vidseek.core.records import Fingerprint
from vidseek.library import Library
from vidseek.web.app import create_app


@pytest.fixture(scope="module")
def lib(search_library):
    return search_library


@pytest.fixture(scope="module")
def client(lib):
    return create_app(library=lib.library).test_client()


def png(rgb, size=(160, 96)) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((size[1], size[0], 3), rgb, np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def only(results, video_id):
    return [r for r in results if r["video_id"] == video_id]


# --- text search --------------------------------------------------------------------------

def test_text_search_returns_playable_moments_with_thumbnails(client, lib):
    r = client.get("/api/search?q=a+red+screen&k=5")
    assert r.status_code == 200
    body = r.get_json()
    assert body["query"] == "a red screen" and body["page"] == 1 and body["k"] == 5
    assert 0 < len(body["results"]) <= 5
    known = {lib.video_id(p) for p in (lib.source, lib.excerpt, lib.other)}
    for m in body["results"]:
        assert m["video_id"] in known and m["title"].endswith(".mp4")
        assert m["t0"] < m["t1"] and m["matched_by"]
        assert m["playback_url"] == f"/media/{m['video_id']}#t={m['t0']:.2f},{m['t1']:.2f}"
        thumb = client.get(m["thumbnail_url"])
        assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
        assert thumb.data[:3] == b"\xff\xd8\xff"
    scores = [m["score"] for m in body["results"]]
    assert scores == sorted(scores, reverse=True)


def test_transcript_match_has_highlighted_snippet(client, lib):
    body = client.get("/api/search", query_string={"q": "quick brown fox", "k": 3}).get_json()
    top = body["results"][0]
    assert top["video_id"] == lib.video_id(lib.other)
    assert "speech" in top["matched_by"]
    assert top["t0"] <= 3.2 and top["t1"] >= 5.6
    text = top["snippet"]["text"]
    assert text == SPOKEN
    assert [text[a:b] for a, b in top["snippet"]["highlights"]] == ["quick", "brown", "fox"]


def walked_by_the_collector(objects) -> list:
    """Those of `objects` a full garbage collection goes through (gc.get_objects lists them)."""
    walked = {id(o) for o in gc.get_objects()}
    return [o for o in objects if id(o) in walked]


def test_after_the_first_query_a_full_collection_skips_the_loaded_models(lib):
    # A collection that walks the models' objects holds the GIL long enough to stall every
    # request (web/context.py); after the first query has loaded them, none is walked.
    gc.unfreeze()  # what an earlier app set aside is walked again
    encoder = lib.library.encoder
    model = [encoder, *(o for o in vars(encoder).values() if gc.is_tracked(o))]
    assert walked_by_the_collector(model) == model
    client = create_app(library=lib.library).test_client()
    assert client.get("/api/search?q=a+red+square").status_code == 200
    assert walked_by_the_collector(model) == []


def test_speech_only_moment_shows_the_frame_on_screen_when_it_starts(client, lib):
    top = client.get("/api/search?q=quick+brown+fox&modality=speech").get_json()["results"][0]
    assert set(top["matched_by"]) <= {"speech", "keyword"}
    frames = lib.library.store.video_segments(lib.video_id(lib.other), "frame")
    on_screen = max((f for f in frames if f.t0 <= 3.2), key=lambda f: f.t0)
    assert top["thumbnail_url"] == f"/thumbs/{on_screen.id}"


def test_modality_and_video_filters(client, lib):
    speech = client.get("/api/search?q=fox&modality=speech").get_json()["results"]
    assert speech and all(set(m["matched_by"]) <= {"speech", "keyword"} for m in speech)
    source = lib.video_id(lib.source)
    inside = client.get(f"/api/search?q=colour&video={source}&k=20").get_json()["results"]
    assert inside and {m["video_id"] for m in inside} == {source}


def test_pages_continue_the_ranking_without_overlap(client):
    everything = client.get("/api/search?q=scene&k=6").get_json()["results"]
    first = client.get("/api/search?q=scene&k=3&page=1").get_json()
    second = client.get("/api/search?q=scene&k=3&page=2").get_json()
    assert first["has_more"] is True
    key = [(m["video_id"], m["t0"]) for m in everything]
    assert [(m["video_id"], m["t0"]) for m in first["results"] + second["results"]] == key


# --- image and video-to-video search ------------------------------------------------------

def test_image_search_finds_the_scene_of_that_colour(client, lib):
    colour = SOURCE_COLOURS[3]  # source seconds 6..8, excerpt seconds 0..2
    # Frames only: under reciprocal-rank fusion the library's one transcript chunk ranks first
    # in its own list whatever its similarity, and would tie with the matching frame.
    r = client.post("/api/search/image", data={"image": (io.BytesIO(png(colour)), "yellow.png"),
                                               "k": "3", "modality": "frame"})
    assert r.status_code == 200
    top = r.get_json()["results"][0]
    where = {lib.video_id(lib.source): (6, 8), lib.video_id(lib.excerpt): (0, 2)}
    assert top["video_id"] in where
    assert (top["t0"], top["t1"]) == pytest.approx(where[top["video_id"]], abs=0.2)
    assert top["matched_by"] == ["frame"]


def test_uploaded_clip_finds_its_source_at_the_right_offset(client, lib):
    with open(lib.clip, "rb") as f:
        r = client.post("/api/search/video", data={"clip": (f, "clip.mp4")})
    assert r.status_code == 200
    results = r.get_json()["results"]
    top = results[0]
    assert top["video_id"] == lib.video_id(lib.source)
    assert top["offset"] == pytest.approx(5, abs=1)  # the clip is source seconds 5..13
    assert (top["t0"], top["t1"]) == (pytest.approx(5, abs=1), pytest.approx(13, abs=1))
    # The excerpt holds clip seconds 1..9 at its own 0..8: clip time + (-1).
    (excerpt,) = only(results, lib.video_id(lib.excerpt))
    assert excerpt["offset"] == pytest.approx(-1, abs=1)
    assert excerpt["score"] < top["score"]


def test_indexed_span_finds_the_other_copy_and_never_itself(client, lib):
    source = lib.video_id(lib.source)
    r = client.post("/api/search/video", json={"video_id": source, "t0": 6, "t1": 14})
    assert r.status_code == 200
    results = r.get_json()["results"]
    assert not only(results, source)
    top = results[0]
    assert top["video_id"] == lib.video_id(lib.excerpt)
    assert top["offset"] == pytest.approx(-6, abs=1)
    assert (top["t0"], top["t1"]) == (pytest.approx(0, abs=1), pytest.approx(8, abs=1))


def test_upload_of_an_indexed_file_leaves_that_video_out(client, lib):
    with open(lib.excerpt, "rb") as f:
        results = client.post("/api/search/video",
                              data={"clip": (f, "renamed.mp4")}).get_json()["results"]
    assert not only(results, lib.video_id(lib.excerpt))
    assert results[0]["video_id"] == lib.video_id(lib.source)
    assert results[0]["offset"] == pytest.approx(6, abs=1)


def test_cli_search_like_prints_the_aligned_source(lib, capsys):
    settings = lib.library.settings
    code = cli_main(["--data-dir", str(settings.data_dir), "--model", TINY_MODEL,
                     "search", "--like", str(lib.clip), "-k", "2", "--json"])
    assert code == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["path"] == str(lib.source)
    assert rows[0]["t0"] == pytest.approx(5, abs=1)


def test_cli_search_json_is_the_api_moment_without_its_links(client, lib, capsys, monkeypatch):
    data = ["--data-dir", str(lib.library.settings.data_dir), "--model", TINY_MODEL]
    monkeypatch.setenv("VIDSEEK_EVIDENCE_Z", "0")  # every hit counted, as in the API's library
    with open(lib.clip, "rb") as f:
        aligned = client.post("/api/search/video", data={"clip": (f, "clip.mp4"), "k": 2})
    searches = [
        (client.get("/api/search", query_string={"q": "quick brown fox", "k": 3}),
         ["quick brown fox", "-k", "3"]),
        (aligned, ["--like", str(lib.clip), "-k", "2"]),
    ]
    for answer, args in searches:
        sent = answer.get_json()["results"]
        assert sent and all(m["thumbnail_url"] and m["playback_url"] for m in sent), args
        assert cli_main([*data, "search", *args, "--json"]) == 0
        printed = json.loads(capsys.readouterr().out)
        assert printed == [{k: v for k, v in m.items() if not k.endswith("_url")}
                           for m in sent], args


# --- library, stats, media ----------------------------------------------------------------

def test_video_listing_shows_status_and_failure_reason(client, lib):
    listing = client.get("/api/videos").get_json()
    assert listing["total"] == 4
    by_title = {v["title"]: v for v in listing["videos"]}
    assert by_title["source.mp4"]["status"] == "indexed"
    assert by_title["source.mp4"]["duration"] == pytest.approx(16, abs=0.2)
    assert by_title["broken.mp4"]["status"] == "failed" and by_title["broken.mp4"]["error"]
    assert by_title["broken.mp4"]["media_url"] is None
    failed = client.get("/api/videos?status=failed").get_json()["videos"]
    assert [v["title"] for v in failed] == ["broken.mp4"]
    page1 = client.get("/api/videos?per_page=3&page=1").get_json()
    page2 = client.get("/api/videos?per_page=3&page=2").get_json()
    assert len(page2["videos"]) == 1 and page2["total"] == 4
    # The pages are slices of one order (by path), read from SQL a page at a time.
    assert [v["title"] for v in page1["videos"] + page2["videos"]] == [
        v["title"] for v in listing["videos"]]


def test_video_detail_has_the_transcript(client, lib):
    detail = client.get(f"/api/videos/{lib.video_id(lib.other)}").get_json()
    assert detail["transcript"] == [{"t0": 3.2, "t1": 5.6, "text": SPOKEN}]
    assert detail["segments"]["speech"] == 1 and detail["segments"]["frame"] >= 2
    assert detail["has_audio"] is False


def test_stats_and_health(client):
    stats = client.get("/api/stats").get_json()
    assert stats["videos"] == {"indexed": 3, "failed": 1}
    assert stats["segments"]["speech"] == 1
    assert stats["index_state"]["clip_model"] == TINY_MODEL
    assert client.get("/api/health").get_json() == {"status": "ok"}


def test_media_is_served_with_range_requests(client, lib):
    url = f"/media/{lib.video_id(lib.source)}"
    data = lib.source.read_bytes()
    whole = client.get(url)
    assert whole.status_code == 200 and whole.mimetype == "video/mp4"
    assert whole.headers["Accept-Ranges"] == "bytes" and whole.data == data
    part = client.get(url, headers={"Range": "bytes=100-1099"})
    assert part.status_code == 206
    assert part.headers["Content-Range"] == f"bytes 100-1099/{len(data)}"
    assert part.data == data[100:1100]
    tail = client.get(url, headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.data == data[-10:]


def test_openapi_document_describes_exactly_the_routes(client):
    doc = client.get("/api/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    app = client.application
    served = {(re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method)
              for rule in app.url_map.iter_rules()
              if rule.rule.startswith(("/api/", "/media/", "/thumbs/"))
              for method in rule.methods - {"HEAD", "OPTIONS"}}
    assert documented == served


def test_pages_render(client, lib):
    page = client.get("/?q=red")
    assert page.status_code == 200 and b'id="q"' in page.data and b'value="red"' in page.data
    library = client.get("/library").data.decode()
    assert "broken.mp4" in library and "source.mp4" in library
    failed = client.get("/library?status=failed").data.decode()
    assert "broken.mp4" in failed and "source.mp4" not in failed
    assert lib.library.store.video_by_path(str(lib.broken)).error in failed
    for asset in ("search.js", "style.css", "favicon.svg"):
        assert client.get(f"/static/{asset}").status_code == 200


# --- errors -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def error_clients(lib, tmp_path_factory) -> dict:
    """The apps the error paths are asked of: the library's, one with a tiny upload limit, one
    whose model is not installed, one whose settings name another model than the library's."""
    missing = make_settings(tmp_path_factory.mktemp("no-model") / "data",
                            clip_model="open_clip:ViT-B-32/not_installed")
    return {
        "client": create_app(library=lib.library).test_client(),
        "tiny_upload": create_app(dataclasses.replace(lib.library.settings, max_upload_mb=0.001),
                                  lib.library).test_client(),
        "no_model": create_app(missing).test_client(),
        "mismatch": create_app(dataclasses.replace(
            lib.library.settings, clip_model="open_clip:ViT-B-32/not_installed")).test_client(),
    }


JUNK = b"\x00\x01 definitely not media " * 50


def upload(field: str, content, name: str):
    """A multipart body with one file: `content(lib)` gives its bytes, made anew per request."""
    return lambda lib: {"data": {field: (io.BytesIO(content(lib)), name)}}


def json_body(make):
    return lambda lib: {"json": make(lib)}


def source_id(lib) -> int:
    return lib.video_id(lib.source)


def failed_id(lib) -> int:
    return lib.video_id(lib.broken)


# (app, method, url with {source} / {failed} ids, request body from the library, status)
ERRORS = [
    pytest.param("client", "get", "/api/search", None, 400, id="search-without-query"),
    pytest.param("client", "get", "/api/search?q=" + "x" * 1001, None, 400, id="search-query-too-long"),
    pytest.param("client", "get", "/api/search?q=dog&k=0", None, 400, id="search-k-zero"),
    pytest.param("client", "get", "/api/search?q=dog&k=many", None, 400, id="search-k-not-a-number"),
    pytest.param("client", "get", "/api/search?q=dog&page=0", None, 400, id="search-page-zero"),
    pytest.param("client", "get", "/api/search?q=dog&modality=smell", None, 400,
                 id="search-unknown-modality"),
    pytest.param("client", "get", "/api/search?q=dog&min_score=2", None, 400,
                 id="search-min-score-past-one"),
    pytest.param("client", "get", "/api/search?q=dog&video=99999", None, 404,
                 id="search-in-unknown-video"),
    pytest.param("client", "post", "/api/search", None, 405, id="search-by-post"),
    pytest.param("client", "post", "/api/search/image", None, 400, id="image-without-file"),
    pytest.param("client", "post", "/api/search/image", upload("image", lambda _: JUNK, "a.png"),
                 415, id="image-not-an-image"),
    pytest.param("tiny_upload", "post", "/api/search/image",
                 upload("image", lambda _: png((1, 2, 3), (800, 800)), "big.png"), 413,
                 id="image-past-upload-limit"),
    pytest.param("client", "post", "/api/search/video", None, 400, id="clip-without-file"),
    pytest.param("client", "post", "/api/search/video", upload("clip", lambda _: JUNK, "a.mp4"),
                 415, id="clip-not-a-video"),
    pytest.param("client", "post", "/api/search/video", upload("clip", lambda _: b"", "a.mp4"),
                 400, id="clip-empty"),
    pytest.param("tiny_upload", "post", "/api/search/video",
                 upload("clip", lambda lib: lib.source.read_bytes(), "s.mp4"), 413,
                 id="clip-past-upload-limit"),
    pytest.param("client", "post", "/api/search/video", json_body(lambda _: [1, 2]), 400,
                 id="span-not-an-object"),
    pytest.param("client", "post", "/api/search/video", json_body(lambda _: {"video_id": "one"}),
                 400, id="span-id-not-a-number"),
    pytest.param("client", "post", "/api/search/video", json_body(lambda _: {"video_id": 99999}),
                 404, id="span-of-unknown-video"),
    pytest.param("client", "post", "/api/search/video",
                 json_body(lambda lib: {"video_id": failed_id(lib)}), 404,
                 id="span-of-failed-video"),
    pytest.param("client", "post", "/api/search/video",
                 json_body(lambda lib: {"video_id": source_id(lib), "t0": 8, "t1": 4}), 400,
                 id="span-ends-before-it-starts"),
    pytest.param("client", "post", "/api/search/video",
                 json_body(lambda lib: {"video_id": source_id(lib), "t0": 0, "t1": 500}), 400,
                 id="span-past-the-video"),
    pytest.param("client", "get", "/api/videos?status=lost", None, 400, id="videos-unknown-status"),
    pytest.param("client", "get", "/api/videos?per_page=1000", None, 400,
                 id="videos-page-too-long"),
    pytest.param("client", "get", "/api/videos/99999", None, 404, id="unknown-video"),
    pytest.param("client", "get", "/api/nothing-here", None, 404, id="unknown-endpoint"),
    pytest.param("client", "get", "/media/99999", None, 404, id="media-of-unknown-video"),
    pytest.param("client", "get", "/media/{failed}", None, 404, id="media-of-failed-video"),
    pytest.param("client", "get", "/media/../../etc/passwd", None, 404, id="media-path-traversal"),
    pytest.param("client", "get", "/thumbs/99999", None, 404, id="unknown-thumbnail"),
    pytest.param("no_model", "get", "/api/search?q=dog", None, 503, id="search-without-model"),
    pytest.param("mismatch", "get", "/api/search?q=dog", None, 503, id="search-with-other-model"),
    pytest.param("mismatch", "post", "/api/search/video",
                 json_body(lambda lib: {"video_id": source_id(lib)}), 503,
                 id="span-with-other-model"),
]


@pytest.mark.parametrize(("app", "method", "url", "body", "status"), ERRORS)
def test_every_error_path_answers_the_same_json_shape(error_clients, lib, app, method, url, body,
                                                      status):
    url = url.format(source=source_id(lib), failed=failed_id(lib))
    r = getattr(error_clients[app], method)(url, **(body(lib) if body else {}))
    assert r.status_code == status, (url, r.status_code, r.data[:300])
    assert r.mimetype == "application/json", url
    answer = r.get_json()
    assert list(answer) == ["error"] and list(answer["error"]) == ["code", "message"], url
    assert answer["error"]["code"] == status
    message = answer["error"]["message"]
    assert isinstance(message, str) and message and "Traceback" not in message, url


def test_missing_model_message_says_how_to_fix_it(error_clients):
    no_model = error_clients["no_model"]
    message = no_model.get("/api/search?q=dog").get_json()["error"]["message"]
    assert "vidseek models --download" in message and "VIDSEEK_CLIP_CHECKPOINT" in message
    # Nothing else needs a model: the service starts and lists its library without one.
    assert no_model.get("/api/health").status_code == 200
    assert no_model.get("/library").status_code == 200


# --- the process ---------------------------------------------------------------------------

def test_importing_the_app_loads_no_model():
    code = ("import sys, vidseek.web.app; "
            "print(sorted(m for m in ('torch', 'open_clip', 'faster_whisper') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post_image(url: str, image: bytes) -> dict:
    """An image search through a real HTTP server (a multipart upload, as a browser sends)."""
    boundary = "vidseek-test"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; "
            f"filename=\"q.png\"\r\nContent-Type: image/png\r\n\r\n").encode()
    body += image + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(url, body, method="POST", headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=60) as r:
        return json.load(r)


def without_similarity(result: dict) -> dict:
    return {k: v for k, v in result.items() if k != "similarity"}


@pytest.mark.slow  # a real `vidseek serve` process
def test_serve_command_answers_over_http(client, lib):
    port = free_port()
    env = {**os.environ, "VIDSEEK_DATA_DIR": str(lib.library.settings.data_dir),
           "VIDSEEK_CLIP_MODEL": TINY_MODEL, "VIDSEEK_ALLOW_DOWNLOAD": "false",
           "VIDSEEK_EVIDENCE_Z": str(lib.library.settings.evidence_z)}  # as the library here
    server = subprocess.Popen([sys.executable, "-m", "vidseek", "serve", "--port", str(port)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/stats", timeout=2) as r:
                    assert json.load(r)["videos"]["indexed"] == 3
                    break
            except OSError:
                assert server.poll() is None, server.stdout.read().decode()
                assert time.monotonic() < deadline, "vidseek serve did not answer in 30 s"
                time.sleep(0.2)
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2)
                break
            except urllib.error.HTTPError as e:  # 503 until the warm-up is done
                assert e.code == 503 and time.monotonic() < deadline, "not ready in 30 s"
                time.sleep(0.2)
        # Ready: an image query loads the image tower (the server's runs on ONNX Runtime, without
        # torch) and finds what the in-process app (torch) finds, fp32 similarities agreeing.
        served = post_image(f"http://127.0.0.1:{port}/api/search/image", png(SOURCE_COLOURS[3]))
        here = client.post("/api/search/image",
                           data={"image": (io.BytesIO(png(SOURCE_COLOURS[3])), "q.png")})
        served, here = served["results"], here.get_json()["results"]
        assert served and [without_similarity(r) for r in served] == [
            without_similarity(r) for r in here]
        np.testing.assert_allclose([r["similarity"] for r in served],
                                   [r["similarity"] for r in here], atol=1e-4)
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_each_app_serves_the_library_its_settings_name(lib, tmp_path, tiny_encoder):
    elsewhere = make_settings(tmp_path / "data")
    other = Library(elsewhere, tiny_encoder)
    other.store.mark_pending([("/videos/elsewhere.mp4", Fingerprint(1, 1))])
    other.close()

    def paths(app) -> set[str]:
        return {v["path"] for v in app.test_client().get("/api/videos").get_json()["videos"]}

    here = {str(p) for p in (lib.source, lib.excerpt, lib.other, lib.broken)}
    assert paths(create_app(library=lib.library)) == here
    assert paths(create_app(lib.library.settings)) == here
    assert paths(create_app(elsewhere)) == {"/videos/elsewhere.mp4"}
