"""The whole indexing pipeline's speed, in multiples of real time, on a video whose picture
changes every second (so every sampled frame is embedded: the most frame work a video can
ask for) and whose sound is continuous speech with tones, chirps and noise between sentences.
Frames are embedded with ViT-B-32 (random init: same compute as real weights). Each added
stage is measured against frames only, in the same run.
Targets on 2 cores: frames + speech >= 6x; frames + speech + audio >= 5x.

Run from the repository root:  python -m bench.pipeline_speed --minutes 5 --runs 3
Model loading is left out of every figure (it happens once per process)."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from bench.synthetic import changing_frames, sound_track
from tests.media import AUDIO_RATE, write_frames
from vidseek.indexer.whisper_model import resolve_whisper_model
from vidseek.library import Library
from vidseek.settings import Settings

CLIP = "open_clip:ViT-B-32/random"
FPS = 25
PIPELINES = {  # name: settings that differ from the defaults (OCR: bench/ocr_speed.py)
    "frames only": dict(transcribe=False, index_audio=False, index_ocr=False),
    "frames + speech": dict(transcribe=True, index_audio=False, index_ocr=False),
    "frames + audio": dict(transcribe=False, index_audio=True, index_ocr=False),
    "frames + speech + audio": dict(transcribe=True, index_audio=True, index_ocr=False),
}


def time_pipeline(video: Path, warm_up: Path, root: Path, overrides: dict, runs: int,
                  whisper_model: str, threads: int) -> list[float]:
    seconds = []
    for _ in range(runs):
        settings = Settings.load(env={}, data_dir=tempfile.mkdtemp(dir=root), clip_model=CLIP,
                                 whisper_model=whisper_model, threads=threads, **overrides)
        lib = Library(settings)
        lib.indexer.index_files([warm_up])  # loads every model before the clock starts
        started = time.perf_counter()
        report = lib.indexer.index_files([video])
        seconds.append(time.perf_counter() - started)
        if report.failed:
            raise SystemExit(f"indexing failed: {report.failed}")
        lib.close()
    return seconds



def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=5.0, help="length of the video (default 5)")
    p.add_argument("--runs", type=int, default=3, help="runs per figure; the median is shown")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: all cores)")
    p.add_argument("--size", default="640x360", help="video frame size WxH")
    args = p.parse_args(argv)
    seconds = args.minutes * 60
    size = tuple(int(x) for x in args.size.split("x"))
    with tempfile.TemporaryDirectory(prefix="vidseek-bench-") as tmp:
        root = Path(tmp)
        defaults = Settings.load(env={}, data_dir=root / "models-home", threads=args.threads)
        # Assembled once; every library below points at the same folder.
        model = resolve_whisper_model(defaults.whisper_model, defaults.model_dir)
        audio = sound_track(seconds)
        frame = changing_frames(size, FPS)
        video = write_frames(root / "talk.mp4", map(frame, range(int(seconds * FPS))), FPS,
                             size, audio)
        warm_up = write_frames(root / "warm-up.mp4", map(frame, range(3 * FPS)), FPS, size,
                               audio[: 3 * AUDIO_RATE])
        libraries = root / "libraries"
        libraries.mkdir()
        print(f"pipeline: {seconds:.0f} s of {size[0]}x{size[1]} video, {CLIP}, 1 frame/s, "
              f"whisper {defaults.whisper_model} beam {defaults.whisper_beam_size}, "
              f"{args.runs} run(s), median shown")
        baseline = None
        for name, overrides in PIPELINES.items():
            t = statistics.median(time_pipeline(video, warm_up, libraries, overrides, args.runs,
                                                model, args.threads))
            baseline = baseline or t
            print(f"  {name:<25} {t:7.1f} s  {seconds / t:6.1f}x real time  "
                  f"{t / baseline:4.2f}x the time of frames only")
        print("targets: frames + speech >= 6x, frames + speech + audio >= 5x real time")


if __name__ == "__main__":
    main()
