"""What image uploads cost `vidseek serve`: the growth of the server's resident memory while
10 clients upload at once, and the statuses they get.

Each scenario runs in a fresh `vidseek serve` process (waitress, the tiny model, a synthetic
library); after one warm-up query has loaded the model, RSS is sampled every 5 ms while the
uploads run, and the peak over the warm baseline is reported (median of --runs).

    python -m bench.upload_memory            # 12000x12000 PNGs (refused) and PNGs under the cap
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
from vidseek.library import Library

CLIENTS = 10


def png(width: int, height: int) -> bytes:
    """A black RGB PNG of any size, written row by row (tiny on disk, width*height pixels)."""
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


def upload(port: int, image: bytes) -> int:
    boundary = "vidseekbench"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; "
            f"filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n").encode() + image + \
        f"\r\n--{boundary}--\r\n".encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/search/image", data=body,
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


def scenario(data_dir: Path, image: bytes) -> tuple[float, Counter]:
    """Peak RSS growth (MB) of a fresh server while CLIENTS upload `image` at once."""
    port = free_port()
    env = {**os.environ, "VIDSEEK_DATA_DIR": str(data_dir), "VIDSEEK_CLIP_MODEL": TINY_MODEL,
           "VIDSEEK_ALLOW_DOWNLOAD": "false"}
    with open(data_dir / "serve.log", "ab") as log:
        server = subprocess.Popen([sys.executable, "-m", "vidseek", "serve", "--port", str(port)],
                                  env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                assert upload(port, png(64, 64)) == 200  # the model is loaded now
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "no server"
                time.sleep(0.2)
        base = rss_mb(server.pid)
        peak, statuses, done = base, Counter(), threading.Event()

        def sample():
            nonlocal peak
            while not done.is_set():
                peak = max(peak, rss_mb(server.pid))
                time.sleep(0.005)

        sampler = threading.Thread(target=sample)
        sampler.start()
        clients = [threading.Thread(target=lambda: statuses.update([upload(port, image)]))
                   for _ in range(CLIENTS)]
        for c in clients:
            c.start()
        for c in clients:
            c.join()
        done.set()
        sampler.join()
        return peak - base, statuses
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
        cases = {"12000x12000 PNG (144 MP, past the 16 MP cap)": png(12000, 12000),
                 "3900x3900 PNG (15 MP, under the cap: decoded, 2 at a time)": png(3900, 3900)}
        for name, image in cases.items():
            growths, statuses = [], Counter()
            for _ in range(args.runs):
                growth, got = scenario(data_dir, image)
                growths.append(growth)
                statuses.update(got)
            print(f"{CLIENTS} concurrent uploads of a {len(image) // 1024} KB {name}: server RSS "
                  f"+{statistics.median(growths):.0f} MB (median of {args.runs}; runs "
                  f"{', '.join(f'{g:.0f}' for g in growths)} MB); statuses {dict(statuses)}",
                  flush=True)


if __name__ == "__main__":
    main()
