"""Real media with known content, written on the fly with PyAV (and espeak-ng for speech).
Used by the tests and by bench/."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

AUDIO_RATE = 16_000
RED, GREEN, BLUE, BLACK, WHITE = (220, 30, 30), (30, 200, 60), (30, 60, 220), (0, 0, 0), (255, 255, 255)


@dataclass(frozen=True)
class Scene:
    seconds: float
    color: tuple[int, int, int] = BLACK
    moving_square: bool = False  # a white square crossing the frame: motion inside one scene


def _frame(scene: Scene, i: int, n: int, size: tuple[int, int]) -> np.ndarray:
    w, h = size
    img = np.empty((h, w, 3), np.uint8)
    img[:] = scene.color
    if scene.moving_square:
        side = h // 4
        x = int((w - side) * i / max(1, n - 1))
        img[h // 2 - side // 2:h // 2 + side // 2, x:x + side] = WHITE
    return img


ENCODER_OPTIONS = {"libx264": {"preset": "ultrafast"}, "libvpx": {"deadline": "realtime"}}


def write_video(path: Path, scenes: list[Scene], fps: int = 10, size: tuple[int, int] = (160, 96),
                audio: np.ndarray | None = None, gop: int | None = None, codec: str = "libx264",
                container_options: dict[str, str] | None = None) -> Path:
    """A video of coloured scenes (cuts at known seconds), with optional AAC audio; see
    `write_frames` for the codec and container."""
    frames = (_frame(scene, i, n, size) for scene in scenes
              for n in [int(round(scene.seconds * fps))] for i in range(n))
    return write_frames(path, frames, fps, size, audio, gop, codec, container_options)


def write_frames(path: Path, frames: Iterable[np.ndarray], fps: int, size: tuple[int, int],
                 audio: np.ndarray | None = None, gop: int | None = None, codec: str = "libx264",
                 container_options: dict[str, str] | None = None) -> Path:
    """A video of these RGB frames (each `size`), H.264 unless `codec` says otherwise (libvpx
    for WebM), with optional AAC audio, in the container the file name says.
    `container_options` go to the muxer: {"live": "1"} writes a WebM/Matroska file without a
    duration, {"movflags": "faststart"} an MP4 with its index before the frames."""
    path = Path(path)
    with av.open(str(path), "w", options=container_options or {}) as out:
        vs = out.add_stream(codec, rate=fps)
        vs.width, vs.height, vs.pix_fmt = size[0], size[1], "yuv420p"
        vs.options = ENCODER_OPTIONS.get(codec, {})
        if gop:
            vs.codec_context.gop_size = gop
        if audio is not None:
            a = out.add_stream("aac", rate=AUDIO_RATE)
            a.layout = "mono"
        for pts, img in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            frame.pts, frame.time_base = pts, Fraction(1, fps)
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
        if audio is not None:
            _write_audio(out, a, audio)
    return path


def _write_audio(out, stream, samples: np.ndarray) -> None:
    samples = np.asarray(samples, np.float32).reshape(1, -1)
    step = 1024
    for start in range(0, samples.shape[1], step):
        chunk = np.ascontiguousarray(samples[:, start:start + step])
        frame = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
        frame.sample_rate, frame.pts = AUDIO_RATE, start
        out.mux(stream.encode(frame))
    out.mux(stream.encode(None))


def tone(freq: float, seconds: float, volume: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * AUDIO_RATE)) / AUDIO_RATE
    return (volume * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def chirp(f0: float, f1: float, seconds: float, volume: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * AUDIO_RATE)) / AUDIO_RATE
    phase = 2 * np.pi * (f0 * t + (f1 - f0) * t ** 2 / (2 * seconds))
    return (volume * np.sin(phase)).astype(np.float32)


def noise(seconds: float, volume: float = 0.1, seed: int = 0) -> np.ndarray:
    samples = np.random.default_rng(seed).standard_normal(int(seconds * AUDIO_RATE))
    return (volume * samples).astype(np.float32)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * AUDIO_RATE), np.float32)


def speech(text: str, voice: str = "en-us", words_per_minute: int = 150) -> np.ndarray:
    """`text` spoken by espeak-ng, as 16 kHz mono float32."""
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(words_per_minute), "-w", str(wav), text],
                       check=True, capture_output=True)
        with av.open(str(wav)) as container:
            resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)
            chunks = [f.to_ndarray().reshape(-1) for frame in container.decode(audio=0)
                      for f in resampler.resample(frame)]
            chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(chunks).astype(np.float32)


def place(track_seconds: float, clips: list[tuple[float, np.ndarray]]) -> np.ndarray:
    """A silent track with each clip starting at its offset (seconds)."""
    track = silence(track_seconds)
    for offset, clip in clips:
        start = int(offset * AUDIO_RATE)
        end = min(len(track), start + len(clip))
        track[start:end] += clip[:end - start]
    return track
