"""What picture uploads cost `vidseek serve`: the growth of the server's memory while 10
clients upload at once to each endpoint that decodes pictures (an image query, a clip query:
a still posted as a clip is decoded as a one-frame video), and the statuses they get.

Each scenario runs in a fresh `vidseek serve` process (waitress, the tiny model, a synthetic
library); after one image and one clip query have loaded the models and started the decoding
children's fork server, memory is sampled every 10 ms while the uploads run, and the peak over
that warm baseline is reported (median of --runs): the server's RSS, and the PSS of the server
with every child (the fork server, the decoding child of each clip: where a clip's pixels are
decoded). Target: under +300 MB for 10 concurrent uploads of a bomb.

    python -m bench.upload_memory            # 12000x12000 and 16000x16000 PNGs, and under the cap
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zlib
from collections import Counter
from pathlib import Path

from bench.synthetic import fill_store
from tests.conftest import TINY_MODEL, make_settings
from tests.media import Scene, write_video
from vidseek.library import Library

CLIENTS = 10
ENDPOINTS = {"image": "/api/search/image", "clip": "/api/search/video"}  # field: path


def png(width: int, height: int) -> bytes:
    """A black RGB PNG of any size, written row by row (tiny on disk, width*height pixels:
    16000x16000 is the 747 KB of issue 27)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    row = b"\x00" * (1 + 3 * width)
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat)
            + chunk(b"IEND", b""))


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        line = next(x for x in f if x.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


def process_tree(pid: int) -> list[int]:
    """`pid` and every process below it (those that exit meanwhile are left out)."""
    tree, stack = [], [pid]
    while stack:
        parent = stack.pop()
        tree.append(parent)
        try:
            for task in os.listdir(f"/proc/{parent}/task"):
                with open(f"/proc/{parent}/task/{task}/children") as f:
                    stack += [int(child) for child in f.read().split()]
        except FileNotFoundError:
            continue
    return tree


def tree_pss_mb(pids: list[int]) -> float:
    """The proportional set size of these processes together: pages they share (a forked
    child's) count once, split among them."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                total += next(int(x.split()[1]) for x in f if x.startswith("Pss:"))
        except (FileNotFoundError, ProcessLookupError, StopIteration):
            continue
    return total / 1024


def upload(port: int, field: str, content: bytes, filename: str = "a.png") -> int:
    boundary = "vidseekbench"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; "
            f"filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n"
            ).encode() + content + f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}{ENDPOINTS[field]}", data=body,
                                     headers={"Content-Type":
                                              f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(request, timeout=300) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scenario(data_dir: Path, field: str, content: bytes, clip: bytes
             ) -> tuple[float, float, Counter]:
    """Peak growth (MB) of a fresh server's RSS, and of its PSS with its children, while
    CLIENTS upload `content` at once as `field`."""
    port = free_port()
    env = {**os.environ, "VIDSEEK_DATA_DIR": str(data_dir), "VIDSEEK_CLIP_MODEL": TINY_MODEL,
           "VIDSEEK_ALLOW_DOWNLOAD": "false"}
    with open(data_dir / "serve.log", "ab") as log:
        server = subprocess.Popen([sys.executable, "-m", "vidseek", "serve", "--port", str(port)],
                                  env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                assert upload(port, "image", png(64, 64)) == 200  # the model is loaded now
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "no server"
                time.sleep(0.2)
        assert upload(port, "clip", clip, "clip.mp4") == 200  # the fork server runs now
        time.sleep(1)  # the clip's decoding child has exited
        base_rss, base_pss = rss_mb(server.pid), tree_pss_mb(process_tree(server.pid))
        peak_rss, peak_pss, statuses, done = base_rss, base_pss, Counter(), threading.Event()

        def sample():
            nonlocal peak_rss, peak_pss
            while not done.is_set():
                peak_rss = max(peak_rss, rss_mb(server.pid))
                peak_pss = max(peak_pss, tree_pss_mb(process_tree(server.pid)))
                time.sleep(0.01)

        sampler = threading.Thread(target=sample)
        sampler.start()
        clients = [threading.Thread(target=lambda: statuses.update([upload(port, field, content)]))
                   for _ in range(CLIENTS)]
        for c in clients:
            c.start()
        for c in clients:
            c.join()
        done.set()
        sampler.join()
        return peak_rss - base_rss, peak_pss - base_pss, statuses
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vidseek-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        library = Library(make_settings(data_dir))
        fill_store(library.store, 2000, library.encoder.dim, TINY_MODEL)
        library.store.save_indexes()
        library.close()
        clip = write_video(Path(tmp) / "clip.mp4", [Scene(2, (200, 40, 40))]).read_bytes()
        images = {"12000x12000 PNG (144 MP, past the 16 MP cap)": png(12000, 12000),
                  "16000x16000 PNG (256 MP, past the cap)": png(16000, 16000),
                  "3900x3900 PNG (15 MP, under the cap: decoded, 2 at a time)": png(3900, 3900)}
        for field in ENDPOINTS:
            for name, image in images.items():
                rss, pss, statuses = [], [], Counter()
                for _ in range(args.runs):
                    grew_rss, grew_pss, got = scenario(data_dir, field, image, clip)
                    rss.append(grew_rss)
                    pss.append(grew_pss)
                    statuses.update(got)
                print(f"{CLIENTS} concurrent {ENDPOINTS[field]} uploads ({field}) of a "
                      f"{len(image) // 1024} KB {name}: server RSS "
                      f"+{statistics.median(rss):.0f} MB, with its children PSS "
                      f"+{statistics.median(pss):.0f} MB (median of {args.runs}; runs "
                      f"{', '.join(f'{g:.0f}' for g in pss)} MB); statuses {dict(statuses)}",
                      flush=True)


if __name__ == "__main__":
    main()
