"""Keyframe-first decoding against today's decoder (indexer/decode.py), in one run.

To sample 1 frame per second, today's decoder (decord, PyAV as the fallback) decodes every
frame. Decoding only keyframes (PyAV `skip_frame="NONKEY"`) is far cheaper, but keyframes
are seconds apart. The candidate measured here: decode the keyframes; where two consecutive
keyframes look alike (mean pixel change <= the scene threshold), every sample time between
them takes the earlier keyframe's picture; where they differ, decode that stretch fully and
sample it as today. Each method's pictures are compared with today's at the same sample
times: a sample whose picture differs by more than the scene threshold is one whose time is
no longer honest (it shows what was on screen at another moment).

    python -m bench.keyframe_decode [--minutes 2] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

from bench.index_speed import make_library
from bench.synthetic import changing_frames
from tests.media import write_frames
from vidseek.core.settings import Settings

# The decoder's own steps, private to it: measured here exactly as indexing runs them.
from vidseek.indexer.decode import _Extent, _frames, _target_size, probe
from vidseek.indexer.sampling import frame_signature, sample_times

THRESHOLD = Settings.scene_threshold


def today(path: Path) -> dict[float, np.ndarray]:
    info = probe(str(path))
    return {float(t): f for t, f in _frames(str(path), 1.0, _target_size(info, 224), 32,
                                             _Extent())}


def _open(path: Path, keyframes_only: bool):
    import av

    container = av.open(str(path))
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    if keyframes_only:
        stream.codec_context.skip_frame = "NONKEY"
    return container, stream


def keyframes(path: Path, size: tuple[int, int]) -> list[tuple[float, np.ndarray]]:
    container, stream = _open(path, keyframes_only=True)
    with container:
        return [(float(f.time), f.to_ndarray(format="rgb24", width=size[0], height=size[1]))
                for f in container.decode(stream) if f.time is not None]


def stretch(path: Path, t0: float, times: list[float],
            size: tuple[int, int]) -> dict[float, np.ndarray]:
    """Every frame from the keyframe at `t0` on, sampled at `times` as today's PyAV path does."""
    container, stream = _open(path, keyframes_only=False)
    out: dict[float, np.ndarray] = {}
    with container:
        container.seek(int(t0 / stream.time_base), stream=stream, backward=True)
        i = 0
        for frame in container.decode(stream):
            if frame.time is None:
                continue
            while i < len(times) and frame.time + 1e-3 >= times[i]:
                out[times[i]] = frame.to_ndarray(format="rgb24", width=size[0], height=size[1])
                i += 1
            if i == len(times):
                break
    return out


def header_duration(path: Path) -> float:
    """Seconds the container says the video lasts (`probe` leaves it to decoding to measure;
    the videos made here are whole, so their headers are right)."""
    import av

    with av.open(str(path)) as container:
        return container.duration / av.time_base


def keyframes_only(path: Path) -> dict[float, np.ndarray]:
    """Each sample time takes the last keyframe at or before it."""
    info = probe(str(path))
    keys = keyframes(path, _target_size(info, 224))
    starts = np.array([t for t, _ in keys])
    return {float(t): keys[max(0, int(np.searchsorted(starts, t + 1e-3)) - 1)][1]
            for t in sample_times(header_duration(path), 1.0)}


def keyframes_first(path: Path) -> tuple[dict[float, np.ndarray], float]:
    """The candidate, and the share of the video it decoded fully."""
    size = _target_size(probe(str(path)), 224)
    duration = header_duration(path)
    keys = keyframes(path, size)
    times = sample_times(duration, 1.0)
    out: dict[float, np.ndarray] = {}
    decoded = 0.0
    for i, (t0, picture) in enumerate(keys):
        t1 = keys[i + 1][0] if i + 1 < len(keys) else duration + 1
        inside = [float(t) for t in times if t0 - 1e-3 <= t < t1 - 1e-3 or (i == 0 and t < t0)]
        if not inside:
            continue
        alike = i + 1 < len(keys) and change(picture, keys[i + 1][1]) <= THRESHOLD
        if alike:
            out.update((t, picture) for t in inside)
        else:
            out.update(stretch(path, t0, inside, size))
            decoded += min(t1, duration) - t0
    return out, decoded / duration


def change(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(frame_signature(a) - frame_signature(b)).mean())


def dishonest(pictures: dict[float, np.ndarray], truth: dict[float, np.ndarray]) -> str:
    changes = [change(pictures[t], truth[t]) if t in pictures else 1.0 for t in truth]
    wrong = sum(c > THRESHOLD for c in changes)
    return f"{wrong}/{len(changes)} samples off (worst change {max(changes):.3f})"


def timed(methods: dict, path: Path, runs: int) -> dict[str, tuple[float, object]]:
    """Each method's median seconds over `runs` rounds that call each in turn (a busy machine
    slows all alike), and its last result."""
    seconds: dict[str, list[float]] = {name: [] for name in methods}
    results: dict[str, object] = {}
    for _ in range(runs):
        for name, fn in methods.items():
            started = time.perf_counter()
            results[name] = fn(path)
            seconds[name].append(time.perf_counter() - started)
    return {name: (statistics.median(seconds[name]), results[name]) for name in methods}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=2.0, help="length of each test video")
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args(argv)
    seconds = args.minutes * 60
    library = make_library(args.minutes)
    changing = library.parent / f"changing-{args.minutes:g}min.mp4"
    if not changing.exists():
        write_frames(changing, map(changing_frames((640, 360), 25), range(int(seconds * 25))),
                     25, (640, 360))
    videos = {"720p static/pan/object shots (GOP 250)": sorted(library.glob("*.mp4"))[0],
              "640x360, a new picture every second": changing}
    print(f"decoding for 1 frame/s, median of {args.runs}, runs alternating")
    for what, path in videos.items():
        measured = timed({"today": today, "only": keyframes_only, "first": keyframes_first},
                         path, args.runs)
        (base, truth), (only, picked) = measured["today"], measured["only"]
        first, (mixed, share) = measured["first"]
        duration = header_duration(path)
        print(f"\n{what}: {path.name}, {duration:.0f} s")
        print(f"  today (decord)   {duration / base:7.1f}x real time  [baseline]")
        print(f"  keyframes only   {duration / only:7.1f}x real time  {base / only:5.2f}x  "
              f"{dishonest(picked, truth)}")
        print(f"  keyframes first  {duration / first:7.1f}x real time  {base / first:5.2f}x  "
              f"{dishonest(mixed, truth)}; {share:.0%} of the video decoded fully")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
