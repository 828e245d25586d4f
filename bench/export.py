"""What exporting costs on a long 1080p file: a 10-s clip copied (no re-encoding) and the same
clip re-encoded, and a reel of 10 moments, against the span's own length.

The hour of 1080p H.264 (+ AAC) is written once into bench/.cache: a 10-s unit (one keyframe,
a square moving over a textured background, a low bitrate) is encoded, and its packets are
repeated with shifted times for the rest of the hour, so the file costs seconds to make, not
the hour's encoding. Each run cuts at a new random second of the hour (mid-GOP), so each copy
starts at the keyframe up to 10 s before its t0, as a real long-GOP file makes it.

    python -m bench.export [--runs 5] [--minutes 60]
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from tests.media import tone
from vidseek.export.clips import cut_clip
from vidseek.export.reels import ReelPart, render_reel
from vidseek.indexer.decode import AUDIO_RATE

CACHE = Path(__file__).resolve().parent / ".cache"
W, H, FPS, UNIT_S = 1920, 1080, 25, 10
CLIP_S = 10.0


def unit_frames():
    """10 s of 1080p: a textured background, a square crossing it."""
    rng = np.random.default_rng(0)
    background = np.kron(rng.integers(40, 200, (9, 16, 3)), np.ones((120, 120, 1))).astype(np.uint8)
    for i in range(UNIT_S * FPS):
        frame = background.copy()
        x = int((W - 200) * i / (UNIT_S * FPS))
        frame[440:640, x:x + 200] = 255
        yield frame


def long_file(minutes: float) -> Path:
    """The cached long file: the unit's packets repeated to `minutes`."""
    path = CACHE / f"export-1080p-{minutes:g}min.mp4"
    if path.exists():
        return path
    CACHE.mkdir(exist_ok=True)
    unit = CACHE / "export-unit.mp4"
    with av.open(str(unit), "w") as out:
        video = out.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = W, H, "yuv420p"
        video.options = {"preset": "ultrafast", "crf": "35", "keyint": str(UNIT_S * FPS)}
        audio = out.add_stream("aac", rate=AUDIO_RATE)
        audio.layout = "mono"
        for n, picture in enumerate(unit_frames()):
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts, frame.time_base = n, Fraction(1, FPS)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        sound = tone(440, UNIT_S, 0.1).reshape(1, -1)
        for start in range(0, sound.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(sound[:, start:start + 1024]),
                                               format="flt", layout="mono")
            frame.sample_rate, frame.pts = AUDIO_RATE, start
            out.mux(audio.encode(frame))
        out.mux(audio.encode(None))
    temporary = path.with_suffix(".tmp.mp4")
    with av.open(str(unit)) as src, av.open(str(temporary), "w") as out:
        streams = list(src.streams.video) + list(src.streams.audio)
        outs = {s.index: out.add_stream_from_template(s) for s in streams}
        # Only what lies inside the unit (not the AAC encoder's priming and tail), so the
        # repeats follow each other without overlapping.
        packets = [p for p in src.demux(*streams) if p.dts is not None and p.dts >= 0
                   and (p.pts + p.duration) * p.time_base <= UNIT_S]
        for repeat in range(int(minutes * 60 / UNIT_S)):
            for p in packets:
                shift = round(Fraction(repeat * UNIT_S) / p.time_base)
                copy = av.Packet(bytes(p))
                copy.pts, copy.dts, copy.duration = p.pts + shift, p.dts + shift, p.duration
                copy.time_base, copy.is_keyframe = p.time_base, p.is_keyframe
                copy.stream = outs[p.stream.index]
                out.mux(copy)
    temporary.rename(path)
    unit.unlink()
    return path


def timed(function, *args, **kwargs) -> float:
    start = time.perf_counter()
    function(*args, **kwargs)
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=5, help="runs per figure; the median is shown")
    p.add_argument("--minutes", type=float, default=60.0, help="length of the long file")
    args = p.parse_args()
    made = time.perf_counter()
    source = long_file(args.minutes)
    print(f"source: {source.name}, {source.stat().st_size / 2**20:.0f} MB "
          f"(ready in {time.perf_counter() - made:.1f} s)")
    rng = random.Random(0)
    hour = args.minutes * 60
    figures: dict[str, list[float]] = {"copy": [], "reencode": [], "reel": []}
    with tempfile.TemporaryDirectory(prefix="vidseek-bench-export-") as tmp:
        for run in range(args.runs):
            t0 = rng.uniform(60, hour - 60) // 0.04 * 0.04 + 0.02  # between two frames
            for mode in ("copy", "reencode"):  # alternating, so a load change hits both
                out = Path(tmp) / f"{mode}.mp4"
                figures[mode].append(timed(cut_clip, source, t0, t0 + CLIP_S, out, mode=mode))
            starts = sorted(rng.uniform(0, hour - 5) for _ in range(10))
            parts = [ReelPart(1, str(source), s, s + rng.uniform(2, 5), f"moment {i}")
                     for i, s in enumerate(starts)]
            seconds = sum(x.seconds for x in parts)
            figures["reel"].append(timed(render_reel, parts, Path(tmp) / "reel.mp4",
                                         titles=True) / seconds)
            print(f"run {run + 1}: t0 {t0:.2f} s, copy {figures['copy'][-1]:.3f} s, reencode "
                  f"{figures['reencode'][-1]:.2f} s, reel {figures['reel'][-1]:.2f} s per "
                  f"second of reel ({seconds:.1f} s)", flush=True)
        # What was timed is a clip of the span: as many frames, from t0 on, in both modes.
        for mode in ("copy", "reencode"):
            with av.open(str(Path(tmp) / f"{mode}.mp4")) as clip:
                times = [float(f.time) for f in clip.decode(video=0)]
            print(f"last {mode}: {len(times)} frames from {times[0]:.3f} s "
                  f"(the span holds {CLIP_S * FPS:.0f})")
    copy, again = statistics.median(figures["copy"]), statistics.median(figures["reencode"])
    print(f"a {CLIP_S:g}-s clip of {args.minutes:g} min of {W}x{H}, median of {args.runs}: "
          f"copied {copy * 1000:.0f} ms, re-encoded {again:.2f} s ({again / copy:.0f}x the copy)")
    print(f"a 10-moment reel (titled, re-encoded at {W}x{H}): "
          f"{statistics.median(figures['reel']):.2f} s per second of reel")


if __name__ == "__main__":
    main()
