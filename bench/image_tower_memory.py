"""What releasing the image tower gives back: a process's resident memory with the CLIP encoder
loaded (text tower on torch, as `vidseek serve` runs it where the CPU has bfloat16 or
clip_runtime is torch), after `release_image_tower()` (what the server's warm-up does), and
after the next image query, which loads the tower again (with how long that query took).

    python -m bench.image_tower_memory [--model open_clip:ViT-B-32/random] [--runs 3]

Each run is a fresh process (one encoder load, one text and one image query to warm it up,
then the release). ViT-B-32 with random weights has the real model's shapes, so the same
bytes. Figures are medians of --runs."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

STEPS = ("loaded", "released", "image query again")


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        return int(next(x for x in f if x.startswith("VmRSS:")).split()[1]) / 1024


def one_run(model: str) -> dict[str, float]:
    """The resident memory after each step, in this process, and the reloading query's time."""
    from vidseek.core.settings import Settings
    from vidseek.models.encoders import load_image_text_encoder

    frame = np.random.default_rng(0).integers(0, 256, (1, 360, 640, 3), dtype=np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        encoder = load_image_text_encoder(Settings.load(
            env={}, data_dir=tmp, clip_model=model, allow_download=False, clip_runtime="torch",
            threads=1))
        encoder.embed_texts(["warm up"])
        encoder.embed_images(frame)
        figures = {"loaded": rss_mb()}
        encoder.release_image_tower()
        figures["released"] = rss_mb()
        started = time.perf_counter()
        encoder.embed_images(frame)
        figures["reload seconds"] = time.perf_counter() - started
        figures["image query again"] = rss_mb()
    return figures


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="open_clip:ViT-B-32/random")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a run's own process
    args = p.parse_args(argv)
    if args.one:
        print(json.dumps(one_run(args.model)))
        return 0
    runs = []
    for _ in range(args.runs):
        out = subprocess.run([sys.executable, "-m", "bench.image_tower_memory", "--one",
                              "--model", args.model], capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout.splitlines()[-1]))
    print(f"image tower release, {args.model}, text tower on torch, medians of {args.runs} "
          "fresh processes:")
    for step in STEPS:
        values = [r[step] for r in runs]
        print(f"  RSS {step:<18} {statistics.median(values):7.0f} MB  "
              f"(runs: {', '.join(f'{v:.0f}' for v in values)})")
    freed = [r["loaded"] - r["released"] for r in runs]
    print(f"  given back by the release: {statistics.median(freed):.0f} MB; the image query "
          f"that loads it again: {statistics.median(r['reload seconds'] for r in runs):.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
