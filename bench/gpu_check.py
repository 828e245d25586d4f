"""The device check: index speed, pipeline speed and query latency on a CUDA GPU, one table.

    python -m bench.gpu_check [--minutes 10] [--batch-size 256]

Every figure runs the same code as on a CPU, with `device=auto` (so CUDA, fp16 CLIP towers,
faster-whisper float16 on CUDA); the table says what ran where. Targets on an H100/H200-class
GPU with 16 cores: frame path >= 500x real time, frames + speech + audio >= 150x.
On a machine where torch sees no CUDA device it measures nothing and says so."""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from bench.index_speed import make_library, query_latency
from bench.pipeline_speed import PIPELINES, talk_videos, time_pipeline
from bench.workspace import workspace
from vidseek.core.settings import Settings
from vidseek.library import Library
from vidseek.models.runtimes import resolve_runtime, resolve_whisper

MODEL = "open_clip:ViT-B-32/random"


def frame_path(root: Path, batch_size: int, scene_threshold: float) -> tuple[float, int]:
    """(x real time, frames embedded) for indexing the 720p library, frames only."""
    with tempfile.TemporaryDirectory() as tmp:
        lib = Library(Settings.load(env={}, data_dir=tmp, clip_model=MODEL, transcribe=False,
                                    index_audio=False, allow_download=False,
                                    batch_size=batch_size, scene_threshold=scene_threshold))
        lib.encoder  # noqa: B018 - load the model outside the timed region
        report = lib.indexer.index(root)
        frames = lib.store.segment_count("frame")
        lib.close()
    return report.video_seconds / report.wall_seconds, frames


def pipeline(minutes: float, runs: int) -> dict[str, float]:
    """x real time of frames only and of frames + speech + audio (bench.pipeline_speed's
    video: a new picture every second, continuous sound)."""
    seconds = minutes * 60
    with workspace() as ws:
        video, warm_up, libraries = talk_videos(ws.root, seconds, (640, 360))
        return {name: seconds / statistics.median(time_pipeline(
                    video, warm_up, libraries, PIPELINES[name], runs, ws.whisper_model, 0))
                for name in ("frames only", "frames + speech + audio")}


def main(argv: list[str] | None = None) -> int:
    import torch

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=10.0, help="720p library length")
    p.add_argument("--pipeline-minutes", type=float, default=5.0)
    p.add_argument("--runs", type=int, default=3, help="pipeline runs; the median is shown")
    p.add_argument("--batch-size", type=int, default=256, help="frames per encoder batch")
    args = p.parse_args(argv)
    if not torch.cuda.is_available():
        print("no CUDA device visible to torch: nothing measured. The CPU figures come from "
              "bench.index_speed, bench.pipeline_speed and bench.encoder_runtime.")
        return 2
    settings = Settings.load(env={}, clip_model=MODEL)
    plan, whisper = resolve_runtime(settings), resolve_whisper(settings)
    print(f"{torch.cuda.get_device_name(plan.device)}: CLIP {plan.describe()}, "
          f"Whisper {whisper[1]} on {whisper[0]}, {MODEL}")
    root = make_library(args.minutes)
    every, n_every = frame_path(root, args.batch_size, scene_threshold=-1.0)
    scene, n_scene = frame_path(root, args.batch_size, Settings.scene_threshold)
    speeds = pipeline(args.pipeline_minutes, args.runs)
    query = query_latency(MODEL, 100_000, 200)
    rows = [
        (f"frame path, {args.minutes:g} min 720p, every sampled frame ({n_every})",
         f"{every:.1f}x real time", ""),
        (f"frame path, scene-aware sampling ({n_scene} frames)", f"{scene:.1f}x real time",
         ">= 500x"),
        ("pipeline: frames only", f"{speeds['frames only']:.1f}x real time", ""),
        ("pipeline: frames + speech + audio", f"{speeds['frames + speech + audio']:.1f}x real time",
         ">= 150x"),
        ("text query, 100k segments", f"p50 {query['p50']:.1f} ms, p99 {query['p99']:.1f} ms "
         f"(encoder {query['encode_p50']:.1f} ms)", ""),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"\n{'what':<{width}}  {'figure':<40}  target")
    for what, figure, target in rows:
        print(f"{what:<{width}}  {figure:<40}  {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
