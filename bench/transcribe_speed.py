"""How fast speech is transcribed, in multiples of real time: Whisper (settings.whisper_model,
base by default, int8 on CPU, batched windows) on MINUTES of continuous espeak-ng speech, with
the configured beam (5) against greedy decoding (1), measured in the same run.
Target: >= 10x real time. The whole pipeline's speed is bench/pipeline_speed.py.

Run from the repository root:  python -m bench.transcribe_speed --minutes 5 --runs 3
Model loading is left out of every figure (it happens once per process)."""

from __future__ import annotations

import statistics
import time
from dataclasses import replace

import numpy as np

from bench.synthetic import speech_track
from bench.workspace import bench_arguments, workspace
from vidseek.core.settings import Settings
from vidseek.indexer.decode import AUDIO_RATE
from vidseek.models.transcribe import TRANSCRIBERS, TranscribeOptions


def time_transcription(settings: Settings, audio: np.ndarray, runs: int) -> list[float]:
    transcriber = TRANSCRIBERS.load(settings)
    transcriber.transcribe(audio[: 5 * AUDIO_RATE])  # loads the model
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        transcriber.transcribe(audio)
        seconds.append(time.perf_counter() - started)
    return seconds



def main(argv: list[str] | None = None) -> None:
    args = bench_arguments(__doc__, 5.0, "speech").parse_args(argv)
    seconds = args.minutes * 60
    with workspace(args.threads) as ws:
        defaults = replace(ws.defaults, whisper_model=ws.whisper_model)
        options = TranscribeOptions.from_settings(defaults)
        print(f"speech: {seconds:.0f} s of espeak-ng speech, whisper {defaults.whisper_model} "
              f"{options.compute_type} on {options.device}, {args.runs} run(s), median shown")
        audio = speech_track(seconds)
        greedy = statistics.median(time_transcription(replace(defaults, whisper_beam_size=1),
                                                      audio, args.runs))
        t = statistics.median(time_transcription(defaults, audio, args.runs))
        print(f"  transcription, beam {options.beam_size}     {t:7.1f} s  {seconds / t:6.1f}x real "
              f"time  {t / greedy:4.2f}x the time of greedy (target >= 10x)")
        print(f"  transcription, greedy     {greedy:7.1f} s  {seconds / greedy:6.1f}x real time")



if __name__ == "__main__":
    main()
