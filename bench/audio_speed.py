"""What the audio path costs, in multiples of real time.

The audio path alone on MINUTES of sound (speech with tones, chirps and noise between):
decoding the track to 16 kHz (PyAV), Whisper-encoder window features (each 30 s chunk
encoded once, windows mean-pooled), and the learned projection into the joint space.
The whole pipeline with audio on is bench/pipeline_speed.py (target there: frames + speech +
audio >= 5x real time on 2 cores).

Run from the repository root:  python -m bench.audio_speed --minutes 5 --runs 3
Model loading is left out of every figure (it happens once per process)."""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np

from bench.synthetic import sound_track
from bench.workspace import bench_arguments, workspace
from tests.media import write_frames
from vidseek.indexer.audio import AudioWindowOptions, AudioWindowStage, WhisperAudioEncoder
from vidseek.indexer.audio_projection import AudioProjection
from vidseek.indexer.decode import AUDIO_RATE, read_audio
from vidseek.models.runtimes import resolve_whisper


def time_audio_path(video: Path, stage: AudioWindowStage, projection: AudioProjection,
                    runs: int) -> dict[str, float]:
    """Median seconds of each step of the audio path on one video."""
    steps: dict[str, list[float]] = {"decode audio": [], "window features": [], "projection": []}
    for _ in range(runs):
        t0 = time.perf_counter()
        samples = read_audio(str(video))
        t1 = time.perf_counter()
        features = stage.hear(samples).features
        t2 = time.perf_counter()
        projection.project(features.features)
        t3 = time.perf_counter()
        for name, t in zip(steps, (t1 - t0, t2 - t1, t3 - t2), strict=True):
            steps[name].append(t)
    return {name: statistics.median(ts) for name, ts in steps.items()}


def main(argv: list[str] | None = None) -> None:
    args = bench_arguments(__doc__, 5.0, "sound").parse_args(argv)
    seconds = args.minutes * 60
    with workspace(args.threads) as ws:
        defaults = ws.defaults
        audio = sound_track(seconds)
        video = write_frames(ws.root / "sounds.mp4", (np.zeros((90, 160, 3), np.uint8)
                                                    for _ in range(int(seconds))), 1, (160, 90),
                             audio)

        device, compute_type = resolve_whisper(defaults)
        encoder = WhisperAudioEncoder(ws.whisper_model, defaults.model_dir, device, compute_type,
                                      args.threads)
        stage = AudioWindowStage(encoder, AudioWindowOptions.from_settings(defaults), lambda: None)
        dim = stage.hear(audio[: 3 * AUDIO_RATE]).features.features.shape[1]  # loads it
        projection = AudioProjection(dim, 512, 512)  # ViT-B-32's space; untrained costs the same
        print(f"audio path: {seconds:.0f} s of sound, {encoder.spec} "
              f"{compute_type} on {device}, windows "
              f"{defaults.audio_window:g} s every {defaults.audio_hop:g} s, {args.runs} run(s), "
              "median shown")
        steps = time_audio_path(video, stage, projection, args.runs)
        for name, t in steps.items():
            print(f"  {name:<25} {t:7.2f} s  {seconds / t:8.1f}x real time")
        total = sum(steps.values())
        print(f"  {'audio path in all':<25} {total:7.2f} s  {seconds / total:8.1f}x real time")


if __name__ == "__main__":
    main()
