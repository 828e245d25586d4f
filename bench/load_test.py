"""Load test of `vidseek serve`: text-search requests/s and p50/p99 latency under concurrent
clients. Target: p99 <= 150 ms with 8 clients on a 100k-segment library, zero errors.

Bounded on purpose: a fixed request budget and a time limit per run, loopback only.

The library is synthetic. Embedding 100k segments of real video would take hours, so this
writes video-like unit vectors as the segments of fake video rows (bench/synthetic.py: the
rows Store.save_video writes, in bulk), in the dimension of the query model: frames, and
(`--speech-share`, 10% by default) transcript chunks of random words from the queries'
vocabulary, so every query also runs the speech index and a full-text search. The query model
is ViT-B-32 with random weights by default: the same text-encoder cost as the real weights, so
the figures measure the whole service (HTTP, query encoding, FAISS, SQL, fusion, JSON).
`--model open_clip:vidseek-tiny/random` measures the service without the encoder's cost.

    python -m bench.load_test --segments 100000 --clients 8 --requests 2000 --runs 3
    python -m bench.load_test --segments 2000 --requests 200 --runs 1    # a quick check
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import numpy as np

from bench.synthetic import fill_store, queries

DEFAULT_MODEL = "open_clip:ViT-B-32/random"
P99_TARGET_MS = 150.0


@dataclass(frozen=True)
class LoadOptions:
    clients: int = 8
    requests: int = 2000  # per run, across all clients
    max_seconds: float = 60.0  # per run
    k: int = 10


@dataclass(frozen=True)
class RunResult:
    requests: int
    errors: int
    seconds: float
    latencies_ms: list[float]

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        return float(np.percentile(self.latencies_ms, p)) if self.latencies_ms else float("nan")


def build_synthetic_library(data_dir: Path, segments: int, per_video: int, speech_share: float,
                            model: str, progress: bool = False) -> int:
    """Write `segments` video-like unit vectors as fake videos' frames and transcript chunks
    (bench/synthetic.py: in bulk, and only what a killed earlier fill left unwritten);
    returns the dimension."""
    from vidseek.core.settings import Settings
    from vidseek.models.encoders import load_image_text_encoder
    from vidseek.search.storage.store import Store

    settings = Settings.load(env={}, data_dir=data_dir, clip_model=model, allow_download=False)
    dim = load_image_text_encoder(settings).dim
    store = Store(settings.sql_url, settings.index_dir, settings.index_budget)
    started = time.monotonic()
    fill_store(store, segments, dim, model, per_video=per_video, speech_share=speech_share,
               progress=progress)
    store.close()
    print(f"  {segments} synthetic segments ({speech_share:.0%} transcript chunks) in "
          f"{-(-segments // per_video)} fake videos (dim {dim}), written in "
          f"{time.monotonic() - started:.0f} s", flush=True)
    return dim


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(data_dir: Path, port: int, model: str, log: Path) -> subprocess.Popen:
    """`vidseek serve` on loopback, as a user would start it. Its output goes to the file
    `log`: a pipe that nobody reads fills up with waitress's queue-depth warnings under load,
    and then the server blocks on its next write."""
    env = {**os.environ, "VIDSEEK_ALLOW_DOWNLOAD": "false"}
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "vidseek", "--data-dir", str(data_dir), "--model", model,
             "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT)


def wait_until_up(server: subprocess.Popen, port: int, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("vidseek serve exited: " + log.read_text(errors="replace")[-2000:])
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/health")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"vidseek serve did not answer on port {port} within {timeout:.0f} s")


def run_load(port: int, path_for: Callable[[random.Random], str], options: LoadOptions,
             seed: int) -> RunResult:
    """`options.clients` threads, each on one keep-alive connection, share the request budget."""
    budget = iter(range(options.requests))
    lock = threading.Lock()
    latencies: list[float] = []
    errors = [0]
    deadline = time.monotonic() + options.max_seconds

    def client(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.monotonic() < deadline:
            with lock:
                if next(budget, None) is None:
                    break
            started = time.perf_counter()
            try:
                conn.request("GET", path_for(rng))
                response = conn.getresponse()
                body = response.read()
                ok = response.status == 200 and body.startswith(b"{")
            except (OSError, http.client.HTTPException):
                ok = False
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            elapsed = (time.perf_counter() - started) * 1000
            with lock:
                latencies.append(elapsed)
                errors[0] += not ok
        conn.close()

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(options.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return RunResult(len(latencies), errors[0], time.monotonic() - started, latencies)


def search_path(k: int) -> Callable[[random.Random], str]:
    phrases = queries(500)  # drawn at random, so repeats occur; vidseek caches no query

    def path_for(rng: random.Random) -> str:
        return "/api/search?" + urlencode({"q": rng.choice(phrases), "k": k})
    return path_for


def describe(name: str, r: RunResult) -> str:
    return (f"{name:<14} {r.requests:>6} req  {r.per_second:>8.1f} req/s  "
            f"p50 {r.percentile(50):>7.1f} ms  p99 {r.percentile(99):>7.1f} ms  "
            f"max {max(r.latencies_ms, default=float('nan')):>7.1f} ms  errors {r.errors}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--segments", type=int, default=100_000, help="synthetic segments to write")
    p.add_argument("--per-video", type=int, default=1000, help="segments per fake video")
    p.add_argument("--speech-share", type=float, default=0.1,
                   help="share of the segments that are transcript chunks (vector + keyword search)")
    p.add_argument("--clients", type=int, default=8, help="concurrent clients")
    p.add_argument("--requests", type=int, default=2000, help="requests per run")
    p.add_argument("--max-seconds", type=float, default=60.0, help="time limit per run")
    p.add_argument("--runs", type=int, default=3, help="runs; the median run is reported")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"query model (default {DEFAULT_MODEL})")
    p.add_argument("--data-dir", type=Path,
                   help="reuse (or keep) the synthetic library here instead of a temp folder")
    args = p.parse_args(argv)
    options = LoadOptions(args.clients, args.requests, args.max_seconds)

    with tempfile.TemporaryDirectory(prefix="vidseek-load-") as tmp:
        data_dir = args.data_dir or Path(tmp) / "data"
        print(f"vidseek load test: {args.segments} segments, {options.clients} clients, "
              f"{options.requests} requests per run (max {options.max_seconds:g} s), "
              f"{args.runs} run(s), {os.cpu_count()} CPU(s)")
        print("  library: SYNTHETIC random unit vectors in fake video rows; queries encoded "
              f"by {args.model}; see this script's docstring")
        if not (data_dir / "vidseek.db").exists():
            build_synthetic_library(data_dir, args.segments, args.per_video, args.speech_share,
                                    args.model)
        port = free_port()
        log = Path(tmp) / "serve.log"
        server = start_server(data_dir, port, args.model, log)
        try:
            wait_until_up(server, port, log)
            # Warm up: the first query loads the model and opens the FAISS indexes.
            warm = run_load(port, search_path(options.k), LoadOptions(1, 5, 120), seed=99)
            if warm.errors:
                raise RuntimeError("warm-up queries failed: is the library readable?")
            health = run_load(port, lambda rng: "/api/health", options, seed=0)
            print(describe("baseline health", health))
            runs = []
            for i in range(args.runs):
                runs.append(run_load(port, search_path(options.k), options, seed=i + 1))
                print(describe(f"search run {i + 1}", runs[-1]))
        finally:
            server.terminate()
            server.wait(timeout=10)
    median = sorted(runs, key=lambda r: r.percentile(99))[len(runs) // 2]
    ratio = median.percentile(50) / health.percentile(50) if health.latencies_ms else float("nan")
    verdict = ("MET" if median.percentile(99) <= P99_TARGET_MS and not median.errors
               else "MISSED")
    print(describe("median run", median))
    print(f"search p50 is {ratio:.1f}x the health-check p50 (HTTP floor) in the same server")
    print(f"target p99 <= {P99_TARGET_MS:g} ms with zero errors: {verdict}")
    print(json.dumps({"segments": args.segments, "clients": options.clients,
                      "requests_per_s": round(median.per_second, 1),
                      "p50_ms": round(median.percentile(50), 1),
                      "p99_ms": round(median.percentile(99), 1),
                      "errors": median.errors, "runs_p99_ms": [round(r.percentile(99), 1)
                                                              for r in runs],
                      "speech_share": args.speech_share,
                      "model": args.model, "synthetic": True}))
    return 0 if verdict == "MET" else 1


if __name__ == "__main__":
    sys.exit(main())
