"""Indexing through a Ray cluster against indexing locally, on the same library in one run.

A local Ray cluster is started on this machine (nodes of 1 CPU each, token authentication on,
loopback only; see tests/ray_cluster.py). Figures, each the median of --runs runs:
  - x real time locally (1 torch thread) and through Ray with 1 worker of 1 CPU: the overhead
    of distribution (target <= 15%);
  - throughput with 2 workers (two nodes of 1 CPU) against 1 (target >= 1.7x);
  - what the one store writer (the driver) spends per file, against what a file's analysis
    costs a worker: how many workers one writer keeps up with.
Frames are embedded with ViT-B-32 (random init: the same compute as real weights); every
picture changes each second, so every sampled frame is embedded. Model loading is left out
(a warm-up run first; Ray's workers stay up between runs, as they do through a long archive).

Run from the repository root:  python -m bench.ray_speed --clips 8 --seconds 20 --runs 3"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench.synthetic import changing_frames
from tests.media import write_frames
from tests.ray_cluster import ray_cluster
from vidseek.core.records import Fingerprint
from vidseek.core.settings import Settings
from vidseek.indexer.analysis import Analyzer, Job
from vidseek.library import Library
from vidseek.search.storage.store import Store

CLIP = "open_clip:ViT-B-32/random"
FPS = 10
NODE = ("--num-cpus", "1")


def make_library(folder: Path, clips: int, seconds: float, size: tuple[int, int]) -> Path:
    folder.mkdir(parents=True)
    frame = changing_frames(size, FPS)
    for i in range(clips):
        # Each clip its own pictures (offset frame numbers): no two files hash the same.
        write_frames(folder / f"clip{i:03d}.mp4",
                     (frame(n + i * 1000) for n in range(int(seconds * FPS))), FPS, size)
    return folder


def speed(settings: Settings, videos: Path, warm_up: Path) -> float:
    """x real time of one run into a new library, models already loaded."""
    lib = Library(settings)
    try:
        lib.indexer.index(warm_up)
        report = lib.indexer.index(videos)
    finally:
        lib.close()
    if report.failed or not report.indexed:
        raise SystemExit(f"indexing failed: {report.failed}")
    return report.video_seconds / report.wall_seconds


def settings_for(root: Path, **overrides) -> Settings:
    return Settings.load(env={}, data_dir=tempfile.mkdtemp(dir=root), clip_model=CLIP,
                         transcribe=False, index_audio=False, threads=1, **overrides)


def writer_cost(root: Path, video: Path, repeats: int = 20) -> tuple[float, float]:
    """(seconds the store writer spends on one file's result, seconds its analysis took)."""
    settings = Settings.load(env={}, data_dir=root / "writer", clip_model=CLIP, transcribe=False,
                             index_audio=False, threads=1)
    analyzer = Analyzer.from_settings(settings)
    analyzer.analyze(Job(video))  # warm
    started = time.perf_counter()
    result = analyzer.analyze(Job(video))
    analysis = time.perf_counter() - started
    store = Store(settings.sql_url, settings.index_dir, settings.index_budget)
    store.bind_model("clip_model", analyzer.encoder.spec, analyzer.encoder.dim)
    times = []
    for i in range(repeats):
        fp = Fingerprint(size=i, mtime_ns=i, content_hash=f"{i:040x}")
        started = time.perf_counter()
        store.save_video(f"{video}.{i}", fp, result.info, result.segments, result.audio)
        times.append(time.perf_counter() - started)
    store.close()
    return statistics.median(times), analysis


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clips", type=int, default=8, help="files in the library (default 8)")
    p.add_argument("--seconds", type=float, default=20.0, help="length of each (default 20)")
    p.add_argument("--size", default="320x180", help="frame size WxH (default 320x180)")
    p.add_argument("--runs", type=int, default=3, help="runs per figure; the median is shown")
    args = p.parse_args(argv)
    size = tuple(int(x) for x in args.size.split("x"))
    with tempfile.TemporaryDirectory(prefix="vidseek-bench-") as tmp:
        root = Path(tmp)
        videos = make_library(root / "videos", args.clips, args.seconds, size)
        warm_up = make_library(root / "warm-up", 2, 3, size)
        print(f"library: {args.clips} clips of {args.seconds:.0f} s, {size[0]}x{size[1]}, "
              f"{CLIP}, every frame a new picture; {args.runs} run(s) each, median shown "
              f"(machine: {os.cpu_count()} cores, shared)")
        with ray_cluster(NODE) as cluster:
            # The driver keeps one connection, so the workers (and their models) stay up.
            os.environ.update(cluster.env)
            import ray

            ray.init(address=cluster.address, logging_level="WARNING", log_to_driver=False)
            on_ray = dict(ray_address=cluster.address)
            # Local and Ray runs alternate, so the load of a shared machine falls on both.
            local, one = [], []
            for _ in range(args.runs):
                local.append(speed(settings_for(root), videos, warm_up))
                one.append(speed(settings_for(root, **on_ray), videos, warm_up))
            local, one = statistics.median(local), statistics.median(one)
            print(f"local, 1 thread:                 {local:5.1f}x real time")
            print(f"Ray, 1 worker of 1 CPU:          {one:5.1f}x real time "
                  f"(overhead {local / one - 1:+.0%} against local; target <= 15%)")
            cluster.add_node(*NODE)
            two = statistics.median([speed(settings_for(root, **on_ray), videos, warm_up)
                                     for _ in range(args.runs)])
            print(f"Ray, 2 workers (2 nodes, 1 CPU): {two:5.1f}x real time "
                  f"({two / one:.2f}x the throughput of 1 worker; target >= 1.7x)")
            ray.shutdown()
        write, analysis = writer_cost(root, next(videos.iterdir()))
        print(f"store writer (driver): {write * 1000:.1f} ms per file against {analysis:.2f} s "
              f"of analysis on a worker: one writer keeps up with ~{analysis / write:.0f} workers "
              "(SQLite; more segments per file cost the writer and the worker alike)")


if __name__ == "__main__":
    main()
