"""How fast speech is indexed, in multiples of real time.

1. Transcription alone: Whisper (settings.whisper_model, base by default, int8 on CPU) on
   MINUTES of continuous espeak-ng speech, with the configured beam (5) and greedy (1).
   Target: >= 10x real time.
2. The whole indexing pipeline on a video of the same length and speech, frames embedded with
   ViT-B-32 (random init: same compute as real weights), against the same pipeline with
   transcription off, measured in the same run. Target: >= 6x real time on 2 cores.

Run from the repository root:  python -m bench.transcribe_speed --minutes 5 --runs 3
Model loading is left out of every figure (it happens once per process)."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from tests.media import AUDIO_RATE, place, speech, write_frames
from vidseek.indexer.transcribe import TranscribeOptions, load_transcriber
from vidseek.indexer.whisper_model import resolve_whisper_model
from vidseek.library import Library
from vidseek.settings import Settings

SENTENCES = [
    "Good morning everyone, and thank you for joining the quarterly planning meeting.",
    "We must finish the budget before the deadline on Friday afternoon.",
    "The marketing team has prepared three proposals for the spring campaign.",
    "Sales in the northern region grew by twelve percent compared to last year.",
    "Please send your questions to the project office before the end of the week.",
    "The children are playing football in the park behind the old library.",
    "Our new warehouse will open in September if the permits arrive on time.",
    "My grandmother keeps an old saxophone under her bed.",
    "Let us take a short break and continue with the engineering update.",
    "The test results look promising, but we need more data from the field.",
]
PIPELINES = {  # name: settings that differ from the defaults
    "frames only": dict(transcribe=False, index_audio=False),
    "frames + speech": dict(transcribe=True, index_audio=False),
    "frames + speech + audio": dict(transcribe=True, index_audio=True),
}
CLIP = "open_clip:ViT-B-32/random"
FPS = 25


def speech_track(seconds: float, seed: int = 0) -> np.ndarray:
    """Sentences one after another with short natural pauses, `seconds` long."""
    rng = np.random.default_rng(seed)
    spoken = [speech(s) for s in SENTENCES]
    clips, t, i = [], 0.0, 0
    while t < seconds:
        clips.append((t, spoken[i % len(spoken)]))
        t += len(spoken[i % len(spoken)]) / AUDIO_RATE + rng.uniform(0.3, 1.2)
        i += 1
    return place(seconds, clips)


def changing_frames(size: tuple[int, int], fps: int):
    """A new picture every second, so the scene filter keeps every sampled frame (the most
    embedding work a video can ask for at 1 frame per second)."""
    w, h = size
    ramp = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]

    def frame(i: int) -> np.ndarray:
        color = np.random.default_rng(i // fps).integers(0, 256, 3).astype(np.float32)
        return np.broadcast_to(color * ramp, (h, w, 3)).astype(np.uint8)

    return frame


def time_transcription(options: TranscribeOptions, audio: np.ndarray, runs: int) -> list[float]:
    transcriber = load_transcriber(options)
    transcriber.transcribe(audio[: 5 * AUDIO_RATE])  # loads the model
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        transcriber.transcribe(audio)
        seconds.append(time.perf_counter() - started)
    return seconds


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
    p.add_argument("--minutes", type=float, default=5.0, help="length of speech (default 5)")
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
        options = replace(TranscribeOptions.from_settings(defaults), model=model)
        print(f"speech: {seconds:.0f} s of espeak-ng speech, whisper {defaults.whisper_model} "
              f"{options.compute_type} on {options.device}, {args.runs} run(s), median shown")
        audio = speech_track(seconds)
        greedy = statistics.median(time_transcription(replace(options, beam_size=1), audio,
                                                      args.runs))
        t = statistics.median(time_transcription(options, audio, args.runs))
        print(f"  transcription, beam {options.beam_size}     {t:7.1f} s  {seconds / t:6.1f}x real "
              f"time  {t / greedy:4.2f}x the time of greedy (target >= 10x)")
        print(f"  transcription, greedy     {greedy:7.1f} s  {seconds / greedy:6.1f}x real time")

        frame = changing_frames(size, FPS)
        video = write_frames(root / "talk.mp4", map(frame, range(int(seconds * FPS))), FPS,
                             size, audio)
        warm_up = write_frames(root / "warm-up.mp4", map(frame, range(3 * FPS)), FPS, size,
                               audio[: 3 * AUDIO_RATE])
        libraries = root / "libraries"
        libraries.mkdir()
        print(f"pipeline: {size[0]}x{size[1]} video, {CLIP}, 1 frame/s")
        baseline = None
        for name, overrides in PIPELINES.items():
            t = statistics.median(time_pipeline(video, warm_up, libraries, overrides, args.runs,
                                                model, args.threads))
            baseline = baseline or t
            print(f"  {name:<25} {t:7.1f} s  {seconds / t:6.1f}x real time  "
                  f"{t / baseline:4.2f}x the time of frames only")
        print("target: frames + speech >= 6x real time on 2 cores")


if __name__ == "__main__":
    main()
