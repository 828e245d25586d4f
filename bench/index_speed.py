"""Frame-path indexing speed (x real time) on a generated 720p H.264 library, and text query
latency at 10k and 100k segments.

    python -m bench.index_speed [--minutes 10] [--model open_clip:ViT-B-32/random]

ViT-B-32 with random weights costs exactly what the pretrained model costs (same graph), so
the figures hold for real weights. Targets (2 cores): frame path >= 12x real time;
text query p50 <= 40 ms at 100k segments."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.synthetic import fill_store, queries
from tests.media import write_frames
from vidseek.core.settings import Settings
from vidseek.indexer.decode import DecodeOptions, FrameWindow, IsolatedDecoder
from vidseek.indexer.sampling import SamplingOptions
from vidseek.library import Library

CACHE = Path(__file__).resolve().parent / ".cache"
W, H, FPS = 1280, 720, 30


def shot_frames(rng: np.random.Generator, seconds: float, kind: str):
    """Frames of one shot: `static` (a still), `pan` (camera moves), `object` (a thing moves
    over a still background). Smooth random textures stand in for real imagery."""
    small = rng.integers(0, 255, (9, 16, 3)).astype(np.float32)
    texture = np.kron(small, np.ones((90, 90, 1)))[:H + 90, :W + 90]
    texture = np.pad(texture, ((0, max(0, H + 90 - texture.shape[0])),
                               (0, max(0, W + 90 - texture.shape[1])), (0, 0)), mode="wrap")
    texture = texture.astype(np.uint8)
    n = int(seconds * FPS)
    for i in range(n):
        if kind == "pan":
            dx = int(90 * i / n)
            yield texture[:H, dx:dx + W]
        else:
            frame = texture[:H, :W].copy()
            if kind == "object":
                x = int((W - 200) * i / n)
                frame[260:460, x:x + 200] = (250, 250, 250)
            yield frame


def make_library(minutes: float, clip_seconds: int = 60) -> Path:
    """A folder of 720p H.264 clips, `minutes` long in all; reused between runs."""
    root = CACHE / f"library-{minutes:g}min"
    if root.exists() and any(root.iterdir()):
        return root
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for c in range(int(np.ceil(minutes * 60 / clip_seconds))):
        shots, total = [], 0.0
        while total < clip_seconds:
            seconds = float(min(rng.integers(3, 11), clip_seconds - total))
            shots.append((seconds, rng.choice(["static", "pan", "object"])))
            total += seconds
        frames = (f for seconds, kind in shots for f in shot_frames(rng, seconds, kind))
        write_frames(root / f"clip{c:03d}.mp4", frames, fps=FPS, size=(W, H), gop=250)
    return root


def decode_only(root: Path, settings: Settings) -> tuple[float, int]:
    """Seconds to decode + sample every clip (no embedding) and the frames kept."""
    decoder, kept = IsolatedDecoder(settings.decode_timeout), 0
    options = DecodeOptions(SamplingOptions.from_settings(settings), settings.batch_size)
    start = time.perf_counter()
    for path in sorted(root.glob("*.mp4")):
        kept += sum(len(w.times) for w in decoder.decode(path, options)
                    if isinstance(w, FrameWindow))
    return time.perf_counter() - start, kept


def index_run(root: Path, model: str, scene_threshold: float) -> tuple[float, float, int]:
    """(video seconds, wall seconds, frame segments) for indexing `root` into a fresh store."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings.load(env={}, data_dir=tmp, clip_model=model, transcribe=False,
                                 index_ocr=False, allow_download=False,
                                 scene_threshold=scene_threshold)
        lib = Library(settings)
        lib.encoder  # noqa: B018 - load the model outside the timed region
        report = lib.indexer.index(root)
        segments = lib.store.segment_count("frame")
        lib.close()
    return report.video_seconds, report.wall_seconds, segments


def query_latency(model: str, n_segments: int, n_queries: int) -> dict[str, float]:
    """p50/p99 of full text searches (encode + FAISS + SQL + moments) over a synthetic store."""
    with tempfile.TemporaryDirectory() as tmp:
        lib = Library(Settings.load(env={}, data_dir=tmp, clip_model=model, allow_download=False))
        fill_store(lib.store, n_segments, lib.encoder.dim, model)
        lib.store.save_indexes()
        options = lib.search_options()
        for q in queries(5, seed=99):
            lib.engine.search_text(q, options)  # warm up
        totals, encodes = [], []
        for q in queries(n_queries):
            t0 = time.perf_counter()
            lib.encoder.embed_texts([q])
            t1 = time.perf_counter()
            lib.engine.search_text(q, options)
            t2 = time.perf_counter()
            encodes.append(t1 - t0)
            totals.append(t2 - t1)
        recall = index_recall(lib, queries(n_queries), k=10)
        kind = lib.store.index("frame").kind
        lib.close()
    ms = np.array(totals) * 1000
    return {"p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99)),
            "encode_p50": statistics.median(encodes) * 1000, "recall": recall, "kind": kind}


def index_recall(lib: Library, texts: list[str], k: int) -> float:
    """Share of the exact top-k (brute force over the stored vectors) the FAISS index returns."""
    index = lib.store.index("frame")
    ids = np.sort(index.ids())
    matrix = lib.store.vectors(ids)
    q = lib.encoder.embed_texts(texts)
    exact = ids[np.argsort(-(q @ matrix.T), axis=1)[:, :k]]
    _, found = index.search(q, k)
    return float(np.mean([len(set(e) & set(f)) / k for e, f in zip(exact, found)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--model", default="open_clip:ViT-B-32/random")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--skip-index", action="store_true")
    args = parser.parse_args()

    if not args.skip_index:
        t = time.perf_counter()
        root = make_library(args.minutes)
        print(f"library: {root} ({args.minutes:g} min of 1280x720 H.264 at {FPS} fps, "
              f"{time.perf_counter() - t:.0f} s to generate or reuse)")
        video_s = args.minutes * 60
        dec_s, sampled = decode_only(root, Settings.load(env={}, scene_threshold=-1.0))
        print(f"decode + sample 1 fps, all frames:   {video_s / dec_s:6.1f}x real time "
              f"({sampled} frames)")
        base_v, base_w, base_n = index_run(root, args.model, scene_threshold=-1.0)
        print(f"index, every sampled frame embedded: {base_v / base_w:6.1f}x real time "
              f"({base_n} frames embedded)  [baseline]")
        v, w, n = index_run(root, args.model, scene_threshold=Settings.scene_threshold)
        print(f"index, scene-aware sampling:         {v / w:6.1f}x real time "
              f"({n} frames embedded)  = {base_w / w:.2f}x the baseline   [target >= 12x]")

    for size in (int(s) for s in args.sizes.split(",")):
        r = query_latency(args.model, size, args.queries)
        print(f"text query at {size:>7} segments ({r['kind']}, recall@10 vs exact "
              f"{r['recall']:.3f}): p50 {r['p50']:6.1f} ms  p99 {r['p99']:6.1f} ms  "
              f"(text encoder alone p50 {r['encode_p50']:.1f} ms)   [target p50 <= 40 ms at 100k]")


if __name__ == "__main__":
    main()
