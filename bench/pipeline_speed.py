"""The whole indexing pipeline's speed, in multiples of real time, on a video whose picture
changes every second (so every sampled frame is embedded: the most frame work a video can
ask for) and whose sound is continuous speech with tones, chirps and noise between sentences.
Frames are embedded with ViT-B-32 (random init: same compute as real weights). Each added
stage is measured against frames only, in the same run.
Targets on 2 cores: frames + speech >= 6x; frames + speech + audio >= 5x. With --runtimes,
each pipeline runs on each CLIP runtime, side by side with torch (today's path) in one run:
targets frame path >= 2x torch's x real time, frames + speech + audio >= 1.6x.

With --against CHECKOUT, each run alternates with a run of the same pipeline by another
checkout's code (its own .venv), on the same video: the ratio against a baseline measured by
turns, in the same run, as the load of a shared machine varies (load averages printed).

Run from the repository root:  python -m bench.pipeline_speed --minutes 5 --runs 3
    python -m bench.pipeline_speed --runtimes torch,onnx,int8 --pipelines 0,3
    python -m bench.pipeline_speed --minutes 1 --runs 5 --pipelines 3 --against ../base
Model loading (and the one-time ONNX export) is left out of every figure."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.synthetic import changing_frames, sound_track
from bench.workspace import bench_arguments, workspace
from tests.media import write_frames
from vidseek.core.settings import Settings
from vidseek.indexer.decode import AUDIO_RATE
from vidseek.library import Library

CLIP = "open_clip:ViT-B-32/random"
FPS = 25
PIPELINES = {  # name: settings that differ from the defaults (OCR: bench/ocr_speed.py)
    "frames only": dict(transcribe=False, index_audio=False, index_ocr=False),
    "frames + speech": dict(transcribe=True, index_audio=False, index_ocr=False),
    "frames + audio": dict(transcribe=False, index_audio=True, index_ocr=False),
    "frames + speech + audio": dict(transcribe=True, index_audio=True, index_ocr=False),
}
RUNTIMES = {  # name: CLIP runtime settings (bench/encoder_runtime.py compares the towers alone)
    "torch": dict(clip_runtime="torch"),
    "onnx": dict(clip_runtime="onnx"),
    "int8": dict(clip_runtime="onnx", clip_precision="int8"),
}


def time_pipeline(video: Path, warm_up: Path, root: Path, overrides: dict, runs: int,
                  whisper_model: str, threads: int) -> list[float]:
    seconds = []
    for _ in range(runs):
        data_dir = Path(tempfile.mkdtemp(dir=root))
        (data_dir / "models").symlink_to(root / "models")  # ONNX exports made once, shared
        settings = Settings.load(env={}, data_dir=data_dir, clip_model=CLIP,
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


# One run of `time_pipeline` in another checkout, printed as JSON on its last line.
RUN_IN_CHECKOUT = """
import json, sys
from pathlib import Path
from bench.pipeline_speed import time_pipeline
video, warm_up, root, overrides, whisper_model, threads = json.loads(sys.argv[1])
print(json.dumps(time_pipeline(Path(video), Path(warm_up), Path(root), overrides, 1,
                               whisper_model, threads)[0]))
"""


def time_in_checkout(python: Path, checkout: Path, video: Path, warm_up: Path, root: Path,
                     overrides: dict, whisper_model: str, threads: int) -> float:
    """Seconds of one run of the pipeline by `checkout`'s code, in a process of its own."""
    args = json.dumps([str(video), str(warm_up), str(root), overrides, whisper_model, threads])
    done = subprocess.run([str(python), "-c", RUN_IN_CHECKOUT, args],
                          cwd=checkout, env={**os.environ, "PYTHONPATH": str(checkout)},
                          capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"the run in {checkout} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare_with_checkout(checkout: Path, video: Path, warm_up: Path, root: Path,
                          pipelines: list[str], runtime: str, runs: int, seconds: float,
                          whisper_model: str, threads: int) -> None:
    """Each pipeline run by this code and by `checkout`'s by turns, each run in a fresh
    process; medians and their ratio."""
    here = Path(__file__).resolve().parents[1]
    for name in pipelines:
        overrides = {**PIPELINES[name], **RUNTIMES[runtime]}
        times: dict[str, list[float]] = {"this": [], "that": []}
        loads = []
        for _ in range(runs):
            for key, python, code in (("that", checkout / ".venv" / "bin" / "python", checkout),
                                      ("this", Path(sys.executable), here)):
                times[key].append(time_in_checkout(python, code, video, warm_up, root,
                                                   overrides, whisper_model, threads))
            loads.append(os.getloadavg()[0])
        this, that = (statistics.median(times[k]) for k in ("this", "that"))
        # Each pair ran back to back, under about the same load: their ratios vary less.
        pairs = statistics.median(b / a for a, b in zip(times["this"], times["that"]))
        print(f"  {name:<25} {runtime:<6} this {this:6.1f} s ({seconds / this:5.1f}x real time), "
              f"{checkout.name} {that:6.1f} s ({seconds / that:5.1f}x): {that / this:4.2f}x "
              f"the speed (median of the pairs' ratios {pairs:4.2f}x); runs this "
              f"{[round(t, 1) for t in times['this']]}, "
              f"{checkout.name} {[round(t, 1) for t in times['that']]}; load average "
              f"{min(loads):.1f}-{max(loads):.1f}", flush=True)



def talk_videos(root: Path, seconds: float, size: tuple[int, int]) -> tuple[Path, Path, Path]:
    """The measured video (a new picture every second, continuous sound), a 3 s warm-up clip
    made the same way, and the folder the libraries go in (ONNX exports shared there)."""
    audio = sound_track(seconds)
    frame = changing_frames(size, FPS)
    video = write_frames(root / "talk.mp4", map(frame, range(int(seconds * FPS))), FPS, size,
                         audio)
    warm_up = write_frames(root / "warm-up.mp4", map(frame, range(3 * FPS)), FPS, size,
                           audio[: 3 * AUDIO_RATE])
    libraries = root / "libraries"
    (libraries / "models").mkdir(parents=True)
    return video, warm_up, libraries


def main(argv: list[str] | None = None) -> None:
    p = bench_arguments(__doc__, 5.0, "video")
    p.add_argument("--size", default="640x360", help="video frame size WxH")
    p.add_argument("--runtimes", default="torch", help=f"CLIP runtimes: {','.join(RUNTIMES)}")
    p.add_argument("--pipelines", default="0,1,2,3",
                   help="which pipelines, by number: " + ", ".join(
                       f"{i} {name}" for i, name in enumerate(PIPELINES)))
    p.add_argument("--against", type=Path,
                   help="another checkout (with its .venv) to run by turns with this one, "
                        "on the first runtime")
    args = p.parse_args(argv)
    runtimes = args.runtimes.split(",")
    pipelines = [list(PIPELINES)[int(i)] for i in args.pipelines.split(",")]
    seconds = args.minutes * 60
    size = tuple(int(x) for x in args.size.split("x"))
    with workspace(args.threads) as ws:
        video, warm_up, libraries = talk_videos(ws.root, seconds, size)
        print(f"pipeline: {seconds:.0f} s of {size[0]}x{size[1]} video, {CLIP}, 1 frame/s, "
              f"whisper {ws.defaults.whisper_model} beam {ws.defaults.whisper_beam_size}, "
              f"{args.runs} run(s), median shown")
        if args.against:
            compare_with_checkout(args.against.resolve(), video, warm_up, libraries, pipelines,
                                  runtimes[0], args.runs, seconds, ws.whisper_model,
                                  args.threads)
            return
        base: dict[str, float] = {}  # each runtime's time for the first pipeline
        for name in pipelines:
            # Runs alternate between runtimes, so a busy machine slows each alike.
            runs: dict[str, list[float]] = {runtime: [] for runtime in runtimes}
            for _ in range(args.runs):
                for runtime in runtimes:
                    runs[runtime] += time_pipeline(video, warm_up, libraries,
                                                   {**PIPELINES[name], **RUNTIMES[runtime]}, 1,
                                                   ws.whisper_model, args.threads)
            first = statistics.median(runs[runtimes[0]])
            for runtime in runtimes:
                t = statistics.median(runs[runtime])
                base.setdefault(runtime, t)
                print(f"  {name:<25} {runtime:<6} {t:7.1f} s  {seconds / t:6.1f}x real time  "
                      f"{t / base[runtime]:4.2f}x the time of {pipelines[0]}  "
                      f"{first / t:4.2f}x the speed of {runtimes[0]}  "
                      f"load average {os.getloadavg()[0]:.1f}", flush=True)
        print("targets: frames + speech >= 6x, frames + speech + audio >= 5x real time; "
              "vs torch: frame path >= 2x, frames + speech + audio >= 1.6x")


if __name__ == "__main__":
    main()
