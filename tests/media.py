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

from vidseek.indexer.decode import AUDIO_RATE

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


def music(seconds: float, volume: float = 0.25, seed: int = 0) -> np.ndarray:
    """Music-like sound: a melody of harmonic notes (with attack and decay) over a bass line,
    at 120 beats per minute; no voice."""
    rng = np.random.default_rng(seed)
    track = silence(seconds)
    beat = int(0.5 * AUDIO_RATE)
    t = np.arange(beat) / AUDIO_RATE
    envelope = np.minimum(1.0, t / 0.02) * np.exp(-3.0 * t)
    scale = 220.0 * 2 ** (np.array([0, 2, 4, 5, 7, 9, 11, 12]) / 12)
    for i, start in enumerate(range(0, len(track) - beat, beat)):
        f = rng.choice(scale) * (2 if rng.random() < 0.3 else 1)
        note = sum(np.sin(2 * np.pi * f * h * t) / h for h in (1, 2, 3, 4))
        bass = np.sin(2 * np.pi * scale[0] / 2 * (1 + (i // 4) % 2 * 0.5) * t)
        track[start:start + beat] += volume * envelope * (0.6 * note + 0.4 * bass)
    return track.astype(np.float32)


def rain(seconds: float, volume: float = 0.2, seed: int = 0) -> np.ndarray:
    """Rain-like sound: noise shaped to a rain spectrum (most energy at 1-5 kHz) with drops
    landing at random."""
    rng = np.random.default_rng(seed)
    n = int(seconds * AUDIO_RATE)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / AUDIO_RATE)
    spectrum *= np.exp(-0.5 * ((np.log(np.maximum(freqs, 1.0)) - np.log(2500)) / 0.6) ** 2)
    hiss = np.fft.irfft(spectrum, n)
    hiss /= np.abs(hiss).max()
    drops = np.zeros(n)
    drops[rng.integers(0, n, int(seconds * 40))] = rng.uniform(0.3, 1.0, int(seconds * 40))
    decay = np.exp(-np.arange(160) / 20.0) * np.sin(2 * np.pi * 3000 * np.arange(160) / AUDIO_RATE)
    track = 0.7 * hiss + 0.5 * np.convolve(drops, decay)[:n]
    return (volume * track / np.abs(track).max()).astype(np.float32)


CJK_FONT = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"  # Debian fonts-wqy-zenhei


@dataclass(frozen=True)
class Slide:
    """A still picture held for `seconds`, with `text` written on it (none when empty)."""

    seconds: float
    text: str = ""
    color: tuple[int, int, int] = BLACK
    font_size: int = 40  # pixels, on the clip's own frame size
    background: np.ndarray | None = None  # an RGB picture under the text instead of `color`


def slide_frame(slide: Slide, size: tuple[int, int]) -> np.ndarray:
    """One frame of a slide: its colour (or picture) with its text centred, white on a dark
    band as captions and titles usually are. Pillow draws it with a CJK-capable font."""
    from PIL import Image, ImageDraw, ImageFont

    w, h = size
    if slide.background is not None:
        img = Image.fromarray(np.ascontiguousarray(slide.background[:h, :w]))
    else:
        img = Image.new("RGB", size, slide.color)
    if slide.text:
        draw = ImageDraw.Draw(img)
        font = ImageFont.truetype(CJK_FONT, slide.font_size)
        x0, y0, x1, y1 = draw.textbbox((0, 0), slide.text, font=font)
        x, y = (w - (x1 - x0)) // 2, (h - (y1 - y0)) // 2
        pad = slide.font_size // 3
        draw.rectangle((x - pad, y - pad, x + x1 - x0 + pad, y + y1 - y0 + pad), fill=(20, 20, 20))
        draw.text((x - x0, y - y0), slide.text, font=font, fill=WHITE)
    return np.array(img)


def write_slides(path: Path, slides: list[Slide], fps: int = 10,
                 size: tuple[int, int] = (640, 360), audio: np.ndarray | None = None) -> Path:
    """An H.264 MP4 of slides: text shown at known seconds."""
    def frames():
        for slide in slides:
            frame = slide_frame(slide, size)
            for _ in range(int(round(slide.seconds * fps))):
                yield frame
    return write_frames(path, frames(), fps, size, audio)


def write_subtitled(path: Path, scenes: list[Scene], cues: list[tuple[float, float, str]],
                    codec: str = "subrip", language: str | None = None, fps: int = 10,
                    size: tuple[int, int] = (160, 96)) -> Path:
    """A video (MKV for `subrip`, `ass`, `webvtt`; MP4 for `mov_text`) with a text subtitle
    stream of these (start, end, text) cues. PyAV muxes the cue packets as they are stored."""
    path = Path(path)
    header = (b"[Script Info]\nScriptType: v4.00+\n\n[Events]\nFormat: Layer, Start, End, "
              b"Style, Name, MarginL, MarginR, MarginV, Effect, Text\n")
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=fps)
        vs.width, vs.height, vs.pix_fmt = size[0], size[1], "yuv420p"
        vs.options = {"preset": "ultrafast"}
        ss = out.add_stream(codec)
        ss.codec_context.subtitle_header = header  # text subtitle codecs will not open without
        if language:
            ss.metadata["language"] = language
        pts = 0
        for scene in scenes:
            n = int(round(scene.seconds * fps))
            for i in range(n):
                frame = av.VideoFrame.from_ndarray(_frame(scene, i, n, size), format="rgb24")
                frame.pts, frame.time_base = pts, Fraction(1, fps)
                out.mux(vs.encode(frame))
                pts += 1
        out.mux(vs.encode(None))
        for i, (t0, t1, text) in enumerate(cues):
            data = text.encode()
            if codec == "mov_text":
                data = len(data).to_bytes(2, "big") + data
            elif codec == "ass":
                data = f"{i},0,Default,,0,0,0,,{text}".encode()
            packet = av.Packet(data)
            packet.stream, packet.time_base = ss, Fraction(1, 1000)
            packet.pts = packet.dts = int(t0 * 1000)
            packet.duration = int((t1 - t0) * 1000)
            out.mux(packet)
    return path
