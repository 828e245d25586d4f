"""What storyboards cost at index time, beside the frame path they ride on: the shot cutter
(a signature of every sampled frame) and the sprite (the shots' thumbnails decoded, scaled and
encoded once), timed inside the same indexing runs as the frame path's wall time.

    python -m bench.storyboard [--minutes 2] [--runs 3] [--model open_clip:ViT-B-32/random]

ViT-B-32 with random weights costs what the pretrained model costs (same graph). The library
is bench/index_speed.py's: 1280x720 H.264 clips of static, panning and moving shots.
Target: the storyboard <= 5% of indexing time."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from contextlib import contextmanager

from bench.index_speed import FPS, make_library
from vidseek.core.settings import Settings
from vidseek.indexer import analysis
from vidseek.library import Library


@contextmanager
def timed_storyboards(spent: list[float]):
    """Adds to `spent` the seconds the indexer spends in the storyboard's two steps."""
    cutter_add, make = analysis.ShotCutter.add, analysis.make_storyboard

    def add(self, frames):
        started = time.perf_counter()
        cutter_add(self, frames)
        spent.append(time.perf_counter() - started)

    def make_timed(*args):
        started = time.perf_counter()
        board = make(*args)
        spent.append(time.perf_counter() - started)
        return board

    analysis.ShotCutter.add, analysis.make_storyboard = add, make_timed
    try:
        yield
    finally:
        analysis.ShotCutter.add, analysis.make_storyboard = cutter_add, make


def index_run(root, model: str) -> dict[str, float]:
    """One fresh library indexing `root`: wall seconds, storyboard seconds, tiles, sprite bytes."""
    spent: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        lib = Library(Settings.load(env={}, data_dir=tmp, clip_model=model, transcribe=False,
                                    index_audio=False, index_ocr=False, allow_download=False,
                                    label_after_index=False))
        lib.encoder  # noqa: B018 - load the model outside the timed region
        with timed_storyboards(spent):
            report = lib.indexer.index(root)
        boards = [lib.storyboard(v.id) for v in lib.videos()]
        lib.close()
    return {"video": report.video_seconds, "wall": report.wall_seconds, "storyboard": sum(spent),
            "tiles": sum(len(b.tiles.times) for b in boards),
            "bytes": sum(len(b.jpeg) for b in boards), "videos": len(boards)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model", default="open_clip:ViT-B-32/random")
    args = parser.parse_args()
    root = make_library(args.minutes)
    print(f"library: {root} ({args.minutes:g} min of 1280x720 H.264 at {FPS} fps)")
    runs = []
    for n in range(args.runs):
        r = index_run(root, args.model)
        runs.append(r)
        print(f"run {n + 1}: indexing {r['wall']:.1f} s ({r['video'] / r['wall']:.1f}x real "
              f"time), storyboards {r['storyboard'] * 1000:.0f} ms = "
              f"{100 * r['storyboard'] / r['wall']:.2f}% of it")
    share = statistics.median(r["storyboard"] / r["wall"] for r in runs)
    per_minute = statistics.median(r["storyboard"] / (r["video"] / 60) for r in runs)
    last = runs[-1]
    print(f"median: storyboards {100 * share:.2f}% of indexing time [target <= 5%], "
          f"{per_minute * 1000:.0f} ms per minute of video; {last['tiles']} tiles over "
          f"{last['videos']} videos, {last['bytes'] / last['videos'] / 1024:.0f} KB of sprite "
          f"a video")


if __name__ == "__main__":
    main()
