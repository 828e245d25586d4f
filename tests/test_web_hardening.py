"""The server serves only what was indexed and cannot be made to fall over: media checked
against the record, uploads bounded before they are decoded, Host / origin / token checks,
ids past 64 bits, library pages past 1,000 videos, the production server, dates with a zone.
Real libraries indexed with the tiny model, the Flask test client, real files and links."""

from __future__ import annotations

import dataclasses
import io
import os
import struct
import subprocess
import sys
import threading
import tomllib
import zlib
from datetime import datetime
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from tests.conftest import make_settings
from tests.media import Scene, write_video
from vidseek.core.records import Fingerprint
from vidseek.indexer.decode import read_image
from vidseek.library import Library
from vidseek.web.app import create_app
from vidseek.web.context import warm_up
from vidseek.web.guard import host_name, is_loopback

ROOT = Path(__file__).resolve().parent.parent
COLOURS = [(220, 30, 30), (30, 200, 60), (30, 60, 220), (240, 220, 40), (200, 40, 200)]
NAMES = ["swapped", "grown", "moved", "piped", "intact"]


@pytest.fixture(scope="module")
def lib(tmp_path_factory, tiny_encoder):
    """Five one-second videos in their own folders, indexed; each media test spoils one."""
    tmp = tmp_path_factory.mktemp("hardening")
    for name, colour in zip(NAMES, COLOURS):
        (tmp / "videos" / name).mkdir(parents=True)
        write_video(tmp / "videos" / name / f"{name}.mp4", [Scene(1, colour)])
    library = Library(make_settings(tmp / "data"), tiny_encoder)
    report = library.indexer.index(tmp / "videos")
    assert len(report.indexed) == len(NAMES)
    yield library
    library.close()


@pytest.fixture(scope="module")
def client(lib):
    return create_app(library=lib).test_client()


def video_of(lib: Library, name: str):
    return next(v for v in lib.store.videos() if Path(v.path).stem == name)


def png(width: int, height: int, palette: bool = False) -> bytes:
    """A valid black 1-bit PNG of any size, small on disk however many pixels it decodes to
    (written chunk by chunk: Pillow would need the whole image in memory to save it); with a
    two-colour `palette`, FFmpeg decodes it at a byte a pixel (grey: a bit)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte, then the packed bits
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 3 if palette else 0, 0, 0, 0)
    colours = chunk(b"PLTE", b"\x00\x00\x00\xff\xff\xff") if palette else b""
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + colours + chunk(b"IDAT", idat)
            + chunk(b"IEND", b""))


def jpeg(size: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("L", size, 128).save(buf, format="JPEG")
    return buf.getvalue()


def assert_json_error(response, status: int) -> str:
    assert response.status_code == status, response.data[:300]
    assert response.mimetype == "application/json"
    assert response.get_json()["error"]["code"] == status
    return response.get_json()["error"]["message"]


# --- 5. media: only the file that was indexed ----------------------------------------------

def test_a_symlink_swapped_in_for_an_indexed_file_is_not_served(client, lib, tmp_path):
    video = video_of(lib, "swapped")
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    os.remove(video.path)
    os.symlink(secret, video.path)
    for headers in ({}, {"Range": "bytes=0-9"}):
        r = client.get(f"/media/{video.id}", headers=headers)
        assert_json_error(r, 404)
        assert b"root:" not in r.data
    # Marked changed: the next index run looks at it again.
    assert lib.store.video(video.id).status == "pending"


def test_a_file_changed_since_indexing_is_not_served(client, lib):
    video = video_of(lib, "grown")
    with open(video.path, "ab") as f:
        f.write(b"appended")
    message = assert_json_error(client.get(f"/media/{video.id}"), 404)
    assert "changed since it was indexed" in message
    assert lib.store.video(video.id).status == "pending"


def test_a_folder_swapped_for_a_link_is_not_served(client, lib, tmp_path):
    video = video_of(lib, "moved")
    folder = Path(video.path).parent
    elsewhere = tmp_path / "elsewhere"
    folder.rename(elsewhere)  # the same file, size and mtime, now outside the library
    os.symlink(elsewhere, folder)
    message = assert_json_error(client.get(f"/media/{video.id}"), 404)
    assert "symbolic link" in message


def test_a_fifo_in_place_of_a_video_answers_404_without_hanging(client, lib):
    video = video_of(lib, "piped")
    os.remove(video.path)
    os.mkfifo(video.path)
    assert "regular file" in assert_json_error(client.get(f"/media/{video.id}"), 404)
    assert lib.store.video(video.id).status == "pending"


def test_an_intact_file_is_served_with_ranges(client, lib):
    video = video_of(lib, "intact")
    data = Path(video.path).read_bytes()
    whole = client.get(f"/media/{video.id}")
    assert whole.status_code == 200 and whole.data == data and whole.mimetype == "video/mp4"
    part = client.get(f"/media/{video.id}", headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.data == data[10:20]
    assert part.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    again = client.get(f"/media/{video.id}", headers={"If-None-Match": whole.headers["ETag"]})
    assert again.status_code == 304
    outside = client.get(f"/media/{video.id}", headers={"Range": f"bytes={len(data) + 5}-"})
    assert_json_error(outside, 416)
    assert lib.store.video(video.id).status == "indexed"


# --- 6. image uploads: bounded before decoding ---------------------------------------------

def test_an_image_past_the_pixel_cap_is_refused_before_decoding(client):
    big = png(12000, 12000)  # about 140 KB that decodes to 144 megapixels
    assert len(big) < 300_000
    r = client.post("/api/search/image", data={"image": (io.BytesIO(big), "big.png")})
    assert "12000x12000" in assert_json_error(r, 413)


def test_an_image_past_pillows_own_bomb_limit_is_413_not_500(client):
    r = client.post("/api/search/image", data={"image": (io.BytesIO(png(20000, 20000)), "b.png")})
    assert_json_error(r, 413)


def test_a_big_jpeg_counts_at_the_size_it_decodes_at(client):
    # 36 megapixels on paper (past the 16 MP default) but decoded at 1/4 scale: accepted.
    r = client.post("/api/search/image",
                    data={"image": (io.BytesIO(jpeg((6000, 6000))), "big.jpg"), "k": "1"})
    assert r.status_code == 200, r.data[:300]


def test_a_small_png_is_accepted_and_junk_is_415(client):
    ok = client.post("/api/search/image", data={"image": (io.BytesIO(png(640, 480)), "a.png")})
    assert ok.status_code == 200
    junk = client.post("/api/search/image", data={"image": (io.BytesIO(b"GIF89a junk"), "a.gif")})
    assert_json_error(junk, 415)


def test_an_accepted_image_is_shrunk_before_anything_else_sees_it():
    pixels = read_image(io.BytesIO(png(3000, 2000)), max_pixels=16_000_000)
    assert pixels.shape == (683, 1024, 3) and pixels.dtype == np.uint8


def test_the_pixel_cap_is_a_setting_and_documented(lib):
    tight = create_app(dataclasses.replace(lib.settings, max_image_megapixels=0.1),
                       lib).test_client()
    r = tight.post("/api/search/image", data={"image": (io.BytesIO(png(640, 480)), "a.png")})
    assert "0.1 megapixels" in assert_json_error(r, 413)
    doc = tight.get("/api/openapi.json").get_json()
    image = doc["paths"]["/api/search/image"]["post"]["requestBody"]["content"][
        "multipart/form-data"]["schema"]["properties"]["image"]
    assert "0.1 megapixels" in image["description"]


def test_uploads_are_decoded_on_their_own_threads_slots_at_a_time(lib):
    """As documented (README, Uploads): with one slot, uploads that arrive together are all
    answered, decoded one at a time on one thread of their own, not on the request threads."""
    app = create_app(dataclasses.replace(lib.settings, upload_decode_slots=1), lib)
    image = png(2000, 2000)  # 4 MP: decoding takes a while, so the uploads overlap
    answers = []

    def upload():
        r = app.test_client().post("/api/search/image", data={"image": (io.BytesIO(image), "a.png")})
        answers.append(r.status_code)

    before = set(threading.enumerate())
    uploads = [threading.Thread(target=upload) for _ in range(4)]
    for thread in uploads:
        thread.start()
    for thread in uploads:
        thread.join(timeout=60)
    assert answers == [200] * 4  # none refused: each waited its turn
    decoders = set(threading.enumerate()) - before - set(uploads)
    assert len(decoders) == 1, decoders


# --- 6b. clip uploads: the same pixel cap, and a cap on frames ----------------------------

def post_clip(client, data: bytes, name: str):
    return client.post("/api/search/video", data={"clip": (io.BytesIO(data), name), "k": "1"})


def peak_growth_mb(action) -> float:
    """How far this process's resident memory peaked above where it was while `action` ran
    (Linux: the peak is reset first)."""
    def status_kb(key: str) -> int:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith(key + ":"))

    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = status_kb("VmRSS")
    action()
    return (status_kb("VmHWM") - before) / 1024


@pytest.mark.parametrize("name", ["bomb.png", "bomb.mp4"])  # the name is the sender's word
def test_a_still_past_the_pixel_cap_posted_as_a_clip_is_refused_before_decoding(client, name):
    big = png(12000, 12000, palette=True)  # 144 MP: decoded as a one-frame video
    assert "12000x12000" in assert_json_error(post_clip(client, big, name), 413)
    bomb = png(16000, 16000, palette=True)  # 256 MP, past Pillow's own limit; 31 KB sent
    assert len(bomb) < 1_000_000
    # The server's side (here: this process) opens the upload too, for its subtitle streams.
    growth = peak_growth_mb(lambda: assert_json_error(post_clip(client, bomb, name), 413))
    assert growth < 100, f"+{growth:.0f} MB"  # decoded, 256 MB at least


def test_a_still_bomb_is_refused_by_its_header_without_a_big_allocation(tmp_path):
    """What the clip's decoding child runs, in a process of its own so that its peak memory
    is the decoding's: decoded as a one-frame video, this PNG peaks at ~420 MB."""
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png(16000, 16000, palette=True))
    script = (
        "import sys\n"
        "from vidseek.core.errors import ImageTooLarge\n"
        "from vidseek.indexer.decode import DecodeOptions, decode\n"
        "from vidseek.indexer.limits import DecodeLimits\n"
        "from vidseek.indexer.sampling import SamplingOptions\n"
        "options = DecodeOptions(SamplingOptions(1.0, 0.1, 10.0), 8,\n"
        "                        limits=DecodeLimits(16_000_000, 100))\n"
        "try:\n"
        "    list(decode(sys.argv[1], options))\n"
        "    print('decoded')\n"
        "except ImageTooLarge:\n"
        "    print('refused')\n"
        # VmHWM: this process's peak (ru_maxrss would count the forking parent's too)
        "print(next(int(line.split()[1]) // 1024 for line in open('/proc/self/status')\n"
        "           if line.startswith('VmHWM:')))\n")
    out = subprocess.run([sys.executable, "-c", script, str(bomb)], capture_output=True,
                         text=True, timeout=120, check=True).stdout.split()
    assert out[0] == "refused"
    assert int(out[1]) < 200, f"peak RSS {out[1]} MB"  # the interpreter and its imports: ~65


def test_a_clip_whose_frames_are_past_the_pixel_cap_is_refused(lib, tmp_path):
    tight = create_app(dataclasses.replace(lib.settings, max_image_megapixels=0.1),
                       lib).test_client()
    clip = write_video(tmp_path / "vga.mp4", [Scene(1, (200, 30, 30))], size=(640, 480))
    message = assert_json_error(post_clip(tight, clip.read_bytes(), "vga.mp4"), 413)
    assert "640x480" in message and "max_image_megapixels" in message
    small = write_video(tmp_path / "small.mp4", [Scene(1, (200, 30, 30))], size=(160, 96))
    assert post_clip(tight, small.read_bytes(), "small.mp4").status_code == 200


def raw_h264(size: tuple[int, int], frames: int) -> bytes:
    """An H.264 elementary stream (no container) of grey frames."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="h264") as out:
        stream = out.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for _ in range(frames):
            image = np.full((size[1], size[0], 3), 128, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def test_a_frame_size_that_grows_mid_stream_is_refused_while_decoding(lib):
    """The header names the first frames' size; the larger ones after it are refused by the
    decoder itself (FFmpeg's max_pixels), not allocated and then checked."""
    tight = create_app(dataclasses.replace(lib.settings, max_image_megapixels=0.1),
                       lib).test_client()
    clip = raw_h264((160, 96), 8) + raw_h264((640, 480), 8)
    message = assert_json_error(post_clip(tight, clip, "switch.h264"), 413)
    assert "640x480" in message


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])  # the frame count in the header, or not
def test_a_clip_past_the_frame_cap_is_refused(lib, tmp_path, suffix):
    capped = create_app(dataclasses.replace(lib.settings, max_clip_frames=15),
                        lib).test_client()
    clip = write_video(tmp_path / f"long{suffix}", [Scene(2, (200, 30, 30))])  # 20 frames
    message = assert_json_error(post_clip(capped, clip.read_bytes(), clip.name), 413)
    assert "15 frames" in message and "max_clip_frames" in message
    short = write_video(tmp_path / f"short{suffix}", [Scene(1, (200, 30, 30))])  # 10 frames
    assert post_clip(capped, short.read_bytes(), short.name).status_code == 200


def test_the_clip_limits_are_documented(lib):
    doc = create_app(dataclasses.replace(lib.settings, max_clip_frames=15),
                     lib).test_client().get("/api/openapi.json").get_json()
    clip = doc["paths"]["/api/search/video"]["post"]["requestBody"]["content"][
        "multipart/form-data"]["schema"]["properties"]["clip"]
    assert "16 megapixels" in clip["description"] and "15 frames" in clip["description"]


# --- 7. Host, origin, token ------------------------------------------------------------------

def test_host_names_parse_and_loopback_is_known():
    assert host_name("LocalHost:8765") == "localhost"
    assert host_name("[::1]:8765") == "::1"
    assert host_name("nas.local.") == "nas.local"
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")


def test_an_unknown_host_name_is_refused(client, lib):
    message = assert_json_error(client.get("/api/videos", headers={"Host": "evil.example"}), 400)
    assert "allowed_hosts" in message
    for host in ("localhost:8765", "127.0.0.1:8765", "[::1]:8765"):
        assert client.get("/api/videos", headers={"Host": host}).status_code == 200
    lan = create_app(dataclasses.replace(lib.settings, allowed_hosts="nas.local"), lib)
    assert lan.test_client().get("/api/stats", headers={"Host": "nas.local:8765"}).status_code == 200
    bound = create_app(dataclasses.replace(lib.settings, host="192.168.1.5"), lib)
    assert bound.test_client().get("/", headers={"Host": "192.168.1.5:8765"}).status_code == 200
    anyone = create_app(dataclasses.replace(lib.settings, allowed_hosts="*"), lib)
    assert anyone.test_client().get("/api/stats", headers={"Host": "x.example"}).status_code == 200


def test_a_cross_origin_post_is_refused_before_it_is_processed(client):
    upload = {"image": (io.BytesIO(png(64, 64)), "a.png")}
    r = client.post("/api/search/image", data=upload, headers={"Origin": "http://evil.example"})
    assert_json_error(r, 403)
    r = client.post("/api/search/image", data={"image": (io.BytesIO(png(64, 64)), "a.png")},
                    headers={"Sec-Fetch-Site": "cross-site"})
    assert_json_error(r, 403)
    same = client.post("/api/search/image", data={"image": (io.BytesIO(png(64, 64)), "a.png")},
                       headers={"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 200
    # Reading is not refused: a cross-origin GET cannot read the answer anyway (no CORS).
    assert client.get("/api/stats", headers={"Origin": "http://evil.example"}).status_code == 200


def test_the_access_token_guards_ui_and_api(lib):
    app = create_app(dataclasses.replace(lib.settings, access_token="s3cret"), lib)
    anonymous = app.test_client()
    for url in ("/", "/library", "/api/stats", f"/media/{video_of(lib, 'intact').id}"):
        r = anonymous.get(url)
        assert_json_error(r, 401)
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert_json_error(anonymous.get("/api/stats", headers={"Authorization": "Bearer nope"}), 401)
    assert anonymous.get("/api/stats",
                         headers={"Authorization": "Bearer s3cret"}).status_code == 200
    browser = app.test_client()
    visit = browser.get("/library?token=s3cret&status=indexed")
    assert visit.status_code == 303 and visit.headers["Location"] == "/library?status=indexed"
    assert "HttpOnly" in visit.headers["Set-Cookie"]
    assert browser.get("/library?status=indexed").status_code == 200  # the cookie now
    assert browser.get("/api/videos").status_code == 200
    doc = browser.get("/api/openapi.json").get_json()
    assert doc["components"]["securitySchemes"]["token"]["scheme"] == "bearer"



def test_the_warm_up_query_passes_the_guard_like_a_users(lib):
    """`vidseek serve` warms up by answering one query through the search route itself; with
    an access token set, that query carries it (else the server would never become ready)."""
    app = create_app(dataclasses.replace(lib.settings, access_token="s3cret"), lib)
    warm_up(app).join(timeout=120)
    health = app.test_client().get("/api/health", headers={"Authorization": "Bearer s3cret"})
    assert health.status_code == 200, health.get_json()
    assert app.test_client().get("/api/search?q=warm+up").status_code == 401  # still guarded


# --- 8. ids past 64 bits ---------------------------------------------------------------------

@pytest.mark.parametrize("url", ["/media/{}", "/thumbs/{}", "/api/videos/{}"])
def test_ids_past_64_bits_are_404(client, url):
    for big in (2**63, 2**64 + 7, 10**30):
        assert_json_error(client.get(url.format(big)), 404)


def test_out_of_range_ids_in_parameters_are_refused(client):
    assert_json_error(client.get(f"/api/search?q=red&video={2**63}"), 400)
    assert_json_error(client.post("/api/search/video", json={"video_id": 2**63}), 404)


# --- 9. paging ------------------------------------------------------------------------------

def test_every_library_page_the_ui_links_to_works(tmp_path):
    library = Library(make_settings(tmp_path / "data"))
    try:
        library.store.mark_pending((f"/videos/{i:05d}.mp4", Fingerprint(1, i))
                                   for i in range(1130))
        client = create_app(library=library).test_client()
        last = client.get("/api/videos?page=23").get_json()  # 50 per page: 23 pages
        assert last["total"] == 1130 and len(last["videos"]) == 30
        assert last["videos"][-1]["path"] == "/videos/01129.mp4"
        assert client.get("/api/videos?page=24").get_json()["videos"] == []
        page = client.get("/library?page=21").data.decode()
        assert "page 21 of 23" in page and "page=22" in page
        assert "page 23 of 23" in client.get("/library?page=23").data.decode()
    finally:
        library.close()


def test_search_pages_past_the_ranking_depth_are_empty_not_errors(client):
    r = client.get("/api/search?q=red&k=100&page=11")
    assert r.status_code == 200
    assert r.get_json()["results"] == [] and r.get_json()["has_more"] is False


# --- 10. the production server ---------------------------------------------------------------

def test_waitress_is_a_dependency_not_a_test_extra():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert any(d.startswith("waitress") for d in project["dependencies"])


# --- 11. what the OpenAPI document promises -------------------------------------------------

def test_indexed_at_is_a_date_time_with_a_zone(client, lib):
    video = client.get(f"/api/videos/{video_of(lib, 'intact').id}").get_json()
    assert datetime.fromisoformat(video["indexed_at"]).utcoffset() is not None


def test_unsupported_methods_say_which_are_allowed(client):
    r = client.open("/api/stats", method="TRACE")
    assert_json_error(r, 405)
    assert set(r.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "HEAD"}

