"""The CLIP towers on each runtime, side by side: torch (traced) fp32, ONNX Runtime fp32 and
ONNX Runtime dynamic int8, per image at several batch sizes (all cores, as when indexing) and
per text query (1 thread, as under `vidseek serve`), with each one's agreement (cosine) with
torch fp32. torch fp16 on the CPU stands in for the CUDA path's numerics (agreement only).

Run from the repository root:  python -m bench.encoder_runtime
(ViT-B-32 with random weights: the same compute as real weights; exports are cached in
--data-dir, so a second run skips them). Figures are medians of --passes calls."""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

RUNTIMES = {"torch fp32": dict(clip_runtime="torch"),
            "onnx fp32": dict(clip_runtime="onnx"),
            "onnx int8": dict(clip_runtime="onnx", clip_precision="int8")}


def interleaved(fns: dict, arg, passes: int) -> dict[str, float]:
    """Median milliseconds of each function over `passes` rounds that call each in turn, so
    a busy machine slows every candidate alike (this one is shared)."""
    seconds: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        fn(arg)  # warm-up
    for _ in range(passes):
        for name, fn in fns.items():
            started = time.perf_counter()
            fn(arg)
            seconds[name].append(time.perf_counter() - started)
    return {name: 1000 * statistics.median(s) for name, s in seconds.items()}


def min_cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float((a * b).sum(axis=1).min())


def fp16_agreement(encoder, fresh_model, frames: np.ndarray,
                   texts: list[str]) -> tuple[float, float]:
    """Cosine of torch fp16 on this CPU (open_clip's own code on a fresh copy of the model) to
    `encoder`'s fp32 vectors, images and texts."""
    import torch

    from vidseek.core.records import unit

    half = fresh_model.half()
    with torch.inference_mode():
        images = unit(half.encode_image(encoder._pixels(frames).half()).float().numpy())
        words = unit(half.encode_text(encoder.tokenizer(texts)).float().numpy())
    return (min_cosine(images, encoder.embed_images(frames)),
            min_cosine(words, encoder.embed_texts(texts)))


def main(argv: list[str] | None = None) -> int:
    import torch

    from bench.query_encoder import open_clip_model, queries
    from vidseek.core.settings import Settings
    from vidseek.models.clip_tokenizer import cut_at_eot
    from vidseek.models.encoders import load_image_text_encoder
    from vidseek.models.onnx_export import export_folder
    from vidseek.models.onnx_session import OnnxTower

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="open_clip:ViT-B-32/random")
    p.add_argument("--batches", default="1,8,32", help="image batch sizes")
    p.add_argument("--passes", type=int, default=5, help="timed calls per figure")
    p.add_argument("--threads", type=int, default=0, help="image threads (0: all cores)")
    p.add_argument("--data-dir", default="", help="keep the exports here (default: a temp dir)")
    args = p.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",")]
    data_dir = Path(args.data_dir or tempfile.mkdtemp(prefix="vidseek-bench-"))
    frames = np.random.default_rng(0).integers(0, 255, (max(batches), 360, 640, 3), np.uint8)
    texts = queries(64)

    def load(threads: int, **overrides):
        return load_image_text_encoder(Settings.load(
            env={}, data_dir=data_dir, clip_model=args.model, allow_download=False,
            threads=threads, **overrides))

    print(f"encoder runtimes, {args.model}, images 640x360 on {args.threads or 'all'} "
          f"thread(s), text queries on 1 thread, median of {args.passes}, interleaved; load "
          f"average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    encoders = {}
    for name, overrides in RUNTIMES.items():
        started = time.perf_counter()
        encoders[name] = load(args.threads, **overrides)
        print(f"  {name}: loaded in {time.perf_counter() - started:.1f} s "
              f"({encoders[name].runtime.describe()})", flush=True)
    torch.set_num_threads(args.threads or os.cpu_count() or 1)
    image_ms = {name: [] for name in encoders}
    for b in batches:
        per_call = interleaved({name: e.embed_images for name, e in encoders.items()},
                               frames[:b], args.passes)
        for name, ms in per_call.items():
            image_ms[name].append(ms / b)
    image_vectors = {name: e.embed_images(frames) for name, e in encoders.items()}
    reference = encoders["torch fp32"]
    fp16 = fp16_agreement(reference, open_clip_model(args.model, Settings.load(
        env={}, data_dir=data_dir, clip_model=args.model, allow_download=False)),
        frames[:8], texts)
    del encoders
    base = image_ms["torch fp32"]
    print("\nper image (ms), by batch size, and the speed-up over torch; agreement with torch "
          f"fp32 (min cosine, {len(frames)} frames)")
    print(f"{'':<12}" + "".join(f"{'batch ' + str(b):>13}" for b in batches) + f"{'cosine':>10}")
    for name, row in image_ms.items():
        cells = "".join(f"{ms:>8.1f} {base[i] / ms:3.1f}x" for i, ms in enumerate(row))
        print(f"{name:<12}{cells}"
              f"{min_cosine(image_vectors[name], image_vectors['torch fp32']):>10.5f}")
    print(f"torch fp16 (CPU) vs torch fp32 (text_precision auto): images {fp16[0]:.6f}, "
          f"texts {fp16[1]:.6f}")

    # Text queries on 1 thread: the encoders as `vidseek serve` builds them, plus ONNX Runtime
    # fp32 (its export is the int8 one's source) to show why fp32 queries stay on torch.
    torch.set_num_threads(1)
    serving = {name: load(1, **overrides) for name, overrides in RUNTIMES.items()}
    fp32_text = next(export_folder(data_dir / "models", args.model).glob("text-fp32-*.onnx"))
    ort_text = OnnxTower(fp32_text, 1)
    tokenizer = serving["torch fp32"].tokenizer
    candidates = {"torch traced (text_precision auto)": serving["torch fp32"].embed_texts,
                  "onnx fp32": lambda batch: ort_text(*cut_at_eot(tokenizer(batch))),
                  "onnx int8": serving["onnx int8"].embed_texts}
    reference = serving["torch fp32"].embed_texts(texts)
    print("\ntext queries, 1 thread (ms)       1 query  8 queries  cosine to torch")
    one = interleaved(candidates, texts[:1], 4 * args.passes)
    eight = interleaved(candidates, texts[:8], 2 * args.passes)
    for name, encode in candidates.items():
        vectors = np.asarray(encode(texts), np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        print(f"{name:<34}{one[name]:>7.1f}{eight[name]:>11.1f}"
              f"{min_cosine(vectors, reference):>14.5f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
