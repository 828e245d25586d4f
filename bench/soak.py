"""Soak test of `vidseek serve`: does its memory settle under a long mixed load, or grow with
the number of requests? Target: the server's RSS after 20,000 requests within 10% of its RSS
after 2,000.

One `vidseek serve` on loopback (the tiny model, a synthetic library with transcript chunks),
`--clients` keep-alive clients sending a fixed, seeded mix: text searches (some filtered),
library pages, small and large image uploads, clip uploads, span queries, and bad requests of
every kind the API refuses (400, 404, 405, 413, 415). Every `--every` requests it prints the
server's RSS, the PSS of the server with its children (the fork server and decoding
children: what the machine really gives the service), and the statuses so far.

    python -m bench.soak                          # 20,000 requests
    python -m bench.soak --requests 4000 --every 500
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import random
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import numpy as np
from PIL import Image

from bench.load_test import free_port, start_server, wait_until_up
from bench.synthetic import fill_store, queries
from bench.upload_memory import png, process_tree, rss_mb, tree_pss_mb
from tests.conftest import TINY_MODEL, make_settings
from tests.media import Scene, write_video
from vidseek.library import Library

TARGET_GROWTH = 0.10  # RSS at the end within 10% of RSS at the first report after warm-up


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes = b""
    content_type: str = ""


def multipart(field: str, filename: str, content: bytes, **fields: str) -> Request:
    """The body of a form upload (what a browser sends), with extra text fields."""
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
             .encode() for name, value in fields.items()]
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
                 f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'
                 .encode() + content + b"\r\n")
    return Request("POST", "", b"".join(parts) + f"--{boundary}--\r\n".encode(),
                   f"multipart/form-data; boundary={boundary}")


def noise_png(width: int, height: int, seed: int) -> bytes:
    """A PNG of random pixels: it decodes to what it says and compresses to nothing less."""
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


class Mix:
    """The seeded request mix: each draw is one request, with the share of each kind fixed."""

    def __init__(self, clip: bytes, video_ids: list[int]):
        self.phrases = queries(500)
        self.video_ids = video_ids
        self.small = [noise_png(640, 480, seed) for seed in range(4)]
        self.large = noise_png(3900, 3900, 99)  # 15.2 MP: under the 16 MP cap, decoded
        self.bomb = png(12000, 12000)  # 144 MP: refused by its header
        self.clip = clip
        self.kinds = [  # (weight, kind)
            (50, self.search), (6, self.filtered_search), (8, self.library_page),
            (7, self.small_image), (2, self.large_image), (3, self.clip_upload),
            (3, self.span), (6, self.bad_parameter), (4, self.unknown_id),
            (2, self.too_large), (2, self.not_media), (1, self.wrong_method)]
        self.weights = [w for w, _ in self.kinds]

    def draw(self, rng: random.Random) -> tuple[str, Request]:
        kind = rng.choices(self.kinds, self.weights)[0][1]
        return kind.__name__, kind(rng)

    def search(self, rng: random.Random) -> Request:
        return Request("GET", "/api/search?" + urlencode(
            {"q": rng.choice(self.phrases), "k": rng.choice((10, 20, 50)),
             "page": rng.choice((1, 1, 1, 2, 5))}))

    def filtered_search(self, rng: random.Random) -> Request:
        return Request("GET", "/api/search?" + urlencode(
            {"q": rng.choice(self.phrases), "modality": rng.choice(("frame", "speech")),
             "min_score": rng.choice(("-1", "0.1")), "video": rng.choice(self.video_ids)}))

    def library_page(self, rng: random.Random) -> Request:
        return Request("GET", rng.choice((
            f"/api/videos?page={rng.randint(1, 3)}", f"/api/videos/{rng.choice(self.video_ids)}",
            "/api/stats", "/api/labels", "/api/health", "/api/openapi.json")))

    def small_image(self, rng: random.Random) -> Request:
        r = multipart("image", "a.png", rng.choice(self.small), k="10")
        return Request("POST", "/api/search/image", r.body, r.content_type)

    def large_image(self, rng: random.Random) -> Request:
        r = multipart("image", "large.png", self.large, k="10")
        return Request("POST", "/api/search/image", r.body, r.content_type)

    def clip_upload(self, rng: random.Random) -> Request:
        r = multipart("clip", "clip.mp4", self.clip, k="5")
        return Request("POST", "/api/search/video", r.body, r.content_type)

    def span(self, rng: random.Random) -> Request:
        t0 = rng.randint(0, 500)
        body = json.dumps({"video_id": rng.choice(self.video_ids), "t0": t0, "t1": t0 + 30})
        return Request("POST", "/api/search/video", body.encode(), "application/json")

    def bad_parameter(self, rng: random.Random) -> Request:
        return rng.choice((
            Request("GET", "/api/search?q=dog&k=abc"), Request("GET", "/api/search?q=dog&k="),
            Request("GET", "/api/search?q=dog&min_score=2"), Request("GET", "/api/search?q="),
            Request("GET", "/api/search?q=dog&label=0%2F0"),
            Request("GET", "/api/search?q=dog&modality=smell"),
            Request("POST", "/api/labels", b'{"names": ["dog"], "": 1}', "application/json"),
            Request("POST", "/api/search/video", b"[1, 2", "application/json")))

    def unknown_id(self, rng: random.Random) -> Request:
        return rng.choice((Request("GET", f"/api/videos/{rng.randint(10**6, 10**9)}"),
                           Request("GET", f"/thumbs/{rng.randint(10**9, 10**12)}"),
                           Request("GET", "/api/search?q=dog&label=no+such+label")))

    def too_large(self, rng: random.Random) -> Request:
        field, path = rng.choice((("image", "/api/search/image"), ("clip", "/api/search/video")))
        r = multipart(field, "bomb.png", self.bomb)
        return Request("POST", path, r.body, r.content_type)

    def not_media(self, rng: random.Random) -> Request:
        field, path = rng.choice((("image", "/api/search/image"), ("clip", "/api/search/video")))
        r = multipart(field, "junk.bin", rng.randbytes(2000))
        return Request("POST", path, r.body, r.content_type)

    def wrong_method(self, rng: random.Random) -> Request:
        return Request("DELETE", "/api/stats")


def soak(port: int, server_pid: int, mix: Mix, requests: int, clients: int, every: int,
         seed: int) -> list[dict]:
    """Send `requests` drawn from `mix`, printing and returning a report every `every`."""
    lock = threading.Lock()
    sent = [0]
    statuses: Counter = Counter()
    reports: list[dict] = []
    started = time.monotonic()

    def report(done: int) -> None:
        tree = process_tree(server_pid)
        row = {"requests": done, "seconds": round(time.monotonic() - started, 1),
               "server_rss_mb": round(rss_mb(server_pid)), "tree_pss_mb": round(
                   tree_pss_mb(tree)), "processes": len(tree), "statuses": dict(statuses)}
        reports.append(row)
        print(f"  {done:>6} requests  {row['seconds']:>7.1f} s  server RSS "
              f"{row['server_rss_mb']:>5} MB  with children PSS {row['tree_pss_mb']:>5} MB "
              f"({row['processes']} processes)  statuses {dict(sorted(statuses.items()))}",
              flush=True)

    def client(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        while True:
            with lock:
                if sent[0] >= requests:
                    return
                sent[0] += 1
            _, request = mix.draw(rng)
            headers = {"Content-Type": request.content_type} if request.content_type else {}
            try:
                conn.request(request.method, request.path, body=request.body or None,
                             headers=headers)
                response = conn.getresponse()
                response.read()
                status = response.status
            except (OSError, http.client.HTTPException) as e:
                status = type(e).__name__
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
            with lock:
                statuses[status] += 1
                done = sum(statuses.values())
                if done % every == 0:
                    report(done)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return reports


def build_library(data_dir: Path, segments: int) -> tuple[bytes, list[int]]:
    """A synthetic library (video-like vectors, 10% transcript chunks) of the tiny model, and
    a real clip to upload; returns the clip's bytes and the videos' ids."""
    library = Library(make_settings(data_dir))
    fill_store(library.store, segments, library.encoder.dim, TINY_MODEL, per_video=1000,
               speech_share=0.1)
    library.store.save_indexes()
    ids = [v.id for v in library.store.videos("indexed")]
    library.close()
    clip = write_video(data_dir / "clip.mp4", [Scene(2, (200, 40, 40), moving_square=True),
                                               Scene(2, (40, 40, 200))])
    return clip.read_bytes(), ids


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--requests", type=int, default=20_000)
    p.add_argument("--every", type=int, default=1000, help="report RSS every N requests")
    p.add_argument("--baseline-at", type=int, default=2000,
                   help="the report the end is compared with (default: after 2,000)")
    p.add_argument("--clients", type=int, default=4)
    p.add_argument("--segments", type=int, default=20_000)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vidseek-soak-") as tmp:
        data_dir = Path(tmp) / "data"
        clip, ids = build_library(data_dir, args.segments)
        port, log = free_port(), Path(tmp) / "serve.log"
        server = start_server(data_dir, port, TINY_MODEL, log)
        try:
            wait_until_up(server, port, log, timeout=120)
            print(f"vidseek soak: {args.requests} requests, {args.clients} clients, "
                  f"{args.segments} synthetic segments, tiny model; server pid {server.pid}, "
                  f"RSS {rss_mb(server.pid):.0f} MB when ready", flush=True)
            reports = soak(port, server.pid, Mix(clip, ids), args.requests, args.clients,
                           args.every, args.seed)
        finally:
            server.terminate()
            server.wait(timeout=30)
    base = next(r for r in reports if r["requests"] >= args.baseline_at)
    end = reports[-1]
    growth = end["server_rss_mb"] / base["server_rss_mb"] - 1
    tree_growth = end["tree_pss_mb"] / base["tree_pss_mb"] - 1
    verdict = "MET" if growth <= TARGET_GROWTH else "MISSED"
    print(f"server RSS {base['server_rss_mb']} MB after {base['requests']} requests, "
          f"{end['server_rss_mb']} MB after {end['requests']}: {growth:+.1%} "
          f"(with children PSS {tree_growth:+.1%}); target within {TARGET_GROWTH:.0%}: "
          f"{verdict}")
    print(json.dumps({"requests": end["requests"], "clients": args.clients,
                      "baseline_requests": base["requests"],
                      "rss_mb": [r["server_rss_mb"] for r in reports],
                      "tree_pss_mb": [r["tree_pss_mb"] for r in reports],
                      "growth": round(growth, 4), "statuses": end["statuses"]}))
    return 0 if verdict == "MET" else 1


if __name__ == "__main__":
    raise SystemExit(main())
