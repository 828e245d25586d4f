"""How fast a synthetic library is written: the bulk fill (bench/synthetic.py: many videos a
transaction, segments by executemany, no index kept in memory) against the same videos saved
one by one through Store.save_video, runs alternating, in fresh SQLite libraries.

    python -m bench.fill_speed --segments 100000 --runs 2
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench.synthetic import SYNTHETIC_FINGERPRINT, fill_store, synthetic_path, synthetic_video
from vidseek.core.records import MediaInfo
from vidseek.core.settings import Settings
from vidseek.search.storage.store import Store

DIM = 512
PER_VIDEO = 1000
SPEECH_SHARE = 0.1


def bulk(store: Store, segments: int) -> None:
    fill_store(store, segments, DIM, "synthetic", per_video=PER_VIDEO, speech_share=SPEECH_SHARE)


def one_by_one(store: Store, segments: int) -> None:
    store.bind_model("clip_model", "synthetic", DIM)
    info = MediaInfo(float(PER_VIDEO), 30.0, 1280, 720, has_audio=False)
    for number in range(segments // PER_VIDEO):
        fp = replace(SYNTHETIC_FINGERPRINT, content_hash=f"{number * PER_VIDEO:040x}")
        store.save_video(synthetic_path(number), fp, info,
                         synthetic_video(number, PER_VIDEO, DIM, SPEECH_SHARE))
    store.save_indexes()


def timed(write, segments: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        budget = Settings.load(env={}).index_budget
        store = Store(f"sqlite:///{Path(tmp) / 'lib.db'}", Path(tmp) / "faiss", budget)
        started = time.monotonic()
        write(store, segments)
        seconds = time.monotonic() - started
        store.engine.dispose()
    return seconds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--segments", type=int, default=100_000)
    p.add_argument("--runs", type=int, default=2)
    args = p.parse_args(argv)
    times: dict[str, list[float]] = {"bulk fill": [], "save_video, one by one": []}
    for _ in range(args.runs):
        times["bulk fill"].append(timed(bulk, args.segments))
        times["save_video, one by one"].append(timed(one_by_one, args.segments))
    print(f"{args.segments} segments ({SPEECH_SHARE:.0%} transcript chunks), {args.runs} runs "
          f"alternating, load average {os.getloadavg()[0]:.1f} at the end")
    for name, runs in times.items():
        median = float(np.median(runs))
        print(f"  {name:<24} median {median:6.1f} s ({args.segments / median:,.0f} segments/s); "
              f"runs {', '.join(f'{r:.1f}' for r in runs)}")
    ratio = np.median(times["save_video, one by one"]) / np.median(times["bulk fill"])
    print(f"  bulk fill is {ratio:.1f}x faster")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
