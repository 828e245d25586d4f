"""A reel: the best moments of a search, one after another, in one MP4.

What a reel holds is planned from the moments the search answered (their JSON shape,
search/moments.py), so the reel of a query holds what its result page shows: the best
`count`, each padded with context, as many as fit in `max_seconds`, by rank or by time.
Rendering re-encodes every part to one size, frame rate and audio format (the parts come
from files that differ in all three); a title band can say what matched."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from vidseek.core.errors import DecodeError, QueryError
from vidseek.core.files import replaced_whole
from vidseek.export.clips import seek_keyframe_before
from vidseek.export.slots import estimated_size

ORDERS = ("score", "time")
MIN_PART_S = 1.0  # a moment of one frame still shows for a second
TITLE_S = 3.0  # how long a part's title band stays on screen
REEL_AUDIO_RATE = 48_000
MAX_SIZE = (1920, 1080)  # the largest frame a reel is rendered at


@dataclass(frozen=True)
class ReelOptions:
    """How a reel is cut from a search's moments."""

    count: int = 10  # moments at most, the best ones
    pad: float = 1.0  # seconds of context before and after each moment
    max_seconds: float = 300.0  # the reel's longest length
    order: str = "score"  # score: best first; time: by video, then by time in it
    titles: bool = False  # a band saying what matched, over each part's first seconds

    def check(self) -> None:
        """QueryError saying which option is out of range."""
        if self.count < 1:
            raise QueryError(f"count must be 1 or more, got {self.count}")
        if not 0 <= self.pad <= 60:
            raise QueryError(f"pad must be between 0 and 60 seconds, got {self.pad:g}")
        if not self.max_seconds > 0:
            raise QueryError(f"max_length must be above 0 seconds, got {self.max_seconds:g}")
        if self.order not in ORDERS:
            raise QueryError(f"order must be one of {', '.join(ORDERS)}, got {self.order!r}")


@dataclass(frozen=True)
class ReelPart:
    """One part of a reel: seconds t0..t1 of a video (`source`, what a playlist names), and
    what matched there."""

    video_id: int
    source: str
    t0: float
    t1: float
    title: str

    @property
    def seconds(self) -> float:
        return self.t1 - self.t0


@dataclass(frozen=True)
class ReelResult:
    path: Path
    parts: list[ReelPart]
    seconds: float
    size: int


def moment_title(moment: Mapping) -> str:
    """What matched in a moment, for its title: the words it shows, else the signals."""
    snippet = moment.get("snippet")
    if snippet and snippet.get("text"):
        return " ".join(snippet["text"].split())
    return "matched by " + ", ".join(moment.get("matched_by") or ["the search"])


def plan_reel(moments: Sequence[Mapping], durations: Mapping[int, float],
              options: ReelOptions) -> list[ReelPart]:
    """The parts of a reel of `moments` (best first, as a search describes them; `durations`
    of their videos): the best `count`, each padded and kept inside its video, a moment
    overlapping a part of its video already taken joined to it (its seconds show once), and
    a part that would pass `max_seconds` left out; then in the order asked for."""
    options.check()
    parts: list[ReelPart] = []
    for m in moments[:options.count]:
        duration = durations[m["video_id"]]
        t0, t1 = _widened(m["t0"] - options.pad, m["t1"] + options.pad, duration)
        if t1 <= t0:
            continue
        taken = sum(p.seconds for p in parts)
        near = next((i for i, p in enumerate(parts)
                     if p.video_id == m["video_id"] and p.t0 <= t1 and t0 <= p.t1), None)
        if near is not None:
            joined = replace(parts[near], t0=min(t0, parts[near].t0), t1=max(t1, parts[near].t1))
            if taken - parts[near].seconds + joined.seconds <= options.max_seconds:
                parts[near] = joined
            continue
        if taken + (t1 - t0) <= options.max_seconds:
            parts.append(ReelPart(m["video_id"], m["path"], t0, t1, moment_title(m)))
    if options.order == "time":
        parts.sort(key=lambda p: (p.source, p.t0))
    return parts


def _widened(t0: float, t1: float, duration: float) -> tuple[float, float]:
    """t0..t1 inside 0..duration, widened about its middle to MIN_PART_S where it is shorter."""
    if t1 - t0 < MIN_PART_S:
        middle = (t0 + t1) / 2
        t0, t1 = middle - MIN_PART_S / 2, middle + MIN_PART_S / 2
    return round(max(0.0, t0), 3), round(min(duration, t1), 3)


def reel_format(first_source: str) -> tuple[tuple[int, int], Fraction]:
    """The frame size and rate a reel is rendered at: its first part's, within MAX_SIZE,
    in even pixels (H.264's 4:2:0)."""
    with av.open(first_source) as container:
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        rate = stream.average_rate or stream.guessed_rate or Fraction(25)
    scale = min(1.0, MAX_SIZE[0] / width, MAX_SIZE[1] / height)
    return (int(width * scale) // 2 * 2, int(height * scale) // 2 * 2), Fraction(rate).limit_denominator(1001)


def reel_size_estimate(parts: Sequence[ReelPart], videos: Mapping[int, Any]) -> int:
    """Bytes a reel may take: what its parts would as clips (`videos`: their records, with a
    size and a duration)."""
    return sum(estimated_size(videos[p.video_id].size, videos[p.video_id].duration or 0.0,
                              p.t0, p.t1) for p in parts)


def render_reel(parts: Sequence[ReelPart], out: Path, titles: bool = False) -> ReelResult:
    """The parts one after another, written whole to the MP4 `out`: H.264 at the first part's
    size and frame rate, AAC at 48 kHz stereo (silence where a source has no sound)."""
    if not parts:
        raise QueryError("the search found no moments to make a reel of")
    for part in parts:
        if not Path(part.source).is_file():
            raise FileNotFoundError(f"{part.source} is no longer there; run `vidseek index` on "
                                    "its folder to update the library")
    size, rate = reel_format(parts[0].source)
    with replaced_whole(Path(out)) as temporary:
        with av.open(str(temporary), "w", format="mp4",
                     options={"movflags": "+faststart"}) as output:
            video = output.add_stream("libx264", rate=rate)
            video.width, video.height, video.pix_fmt = size[0], size[1], "yuv420p"
            video.options = {"preset": "veryfast", "crf": "23"}
            audio = output.add_stream("aac", rate=REEL_AUDIO_RATE)
            audio.layout = "stereo"
            frames = samples = 0
            for part in parts:
                band = _title_band(part.title, size) if titles else None
                count = round(part.seconds * rate)
                for picture, n in _part_pictures(part, size, rate, count):
                    if band is not None and n < round(TITLE_S * rate):
                        picture = _with_band(picture, band)
                    frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
                    frame.pts, frame.time_base = frames + n, 1 / rate
                    output.mux(video.encode(frame))
                frames += count
                sound = _part_sound(part, round(part.seconds * REEL_AUDIO_RATE))
                for start in range(0, sound.shape[1], 1024):
                    chunk = av.AudioFrame.from_ndarray(
                        np.ascontiguousarray(sound[:, start:start + 1024]), format="fltp",
                        layout="stereo")
                    chunk.sample_rate, chunk.pts = REEL_AUDIO_RATE, samples + start
                    chunk.time_base = Fraction(1, REEL_AUDIO_RATE)
                    output.mux(audio.encode(chunk))
                samples += sound.shape[1]
            output.mux(video.encode(None))
            output.mux(audio.encode(None))
    return ReelResult(Path(out), list(parts), float(frames / rate), Path(out).stat().st_size)


def _part_pictures(part: ReelPart, size: tuple[int, int], rate: Fraction,
                   count: int) -> Iterator[tuple[np.ndarray, int]]:
    """`count` pictures (RGB at `size`, letterboxed) of the part at `rate`, with their index:
    for each tick, the source frame on screen then."""
    try:
        with av.open(part.source) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            seek_keyframe_before(container, stream, part.t0)
            decoded = (f for f in container.decode(stream) if f.pts is not None)
            shown, upcoming = None, next(decoded, None)
            scaler, picture, picture_of = VideoReformatter(), None, None
            for n in range(count):
                at = part.t0 + n / rate
                while upcoming is not None and (shown is None or upcoming.time <= at):
                    shown, upcoming = upcoming, next(decoded, None)
                if shown is None:
                    raise DecodeError(f"{part.source} has no frame at {part.t0:g} s")
                if shown is not picture_of:  # a frame held for several ticks is scaled once
                    picture, picture_of = _letterboxed(shown, size, scaler), shown
                yield picture, n
    except av.error.FFmpegError as e:
        raise DecodeError(f"cannot read {part.source} for the reel: {e}") from None


def _letterboxed(frame: av.VideoFrame, size: tuple[int, int],
                 scaler: VideoReformatter) -> np.ndarray:
    """The frame scaled to fit `size`, centred on black (`scaler` keeps its scaling context
    from frame to frame)."""
    w, h = size
    scale = min(w / frame.width, h / frame.height)
    fw, fh = max(2, round(frame.width * scale)) // 2 * 2, max(2, round(frame.height * scale)) // 2 * 2
    picture = scaler.reformat(frame, width=fw, height=fh, format="rgb24").to_ndarray()
    if (fw, fh) == (w, h):
        return picture
    canvas = np.zeros((h, w, 3), np.uint8)
    x, y = (w - fw) // 2, (h - fh) // 2
    canvas[y:y + fh, x:x + fw] = picture
    return canvas


def _part_sound(part: ReelPart, count: int) -> np.ndarray:
    """`count` samples (stereo planar float, 48 kHz) of the part's sound from its t0; silence
    where there is none."""
    sound = np.zeros((2, count), np.float32)
    with av.open(part.source) as container:
        if not container.streams.audio:
            return sound
        stream = container.streams.audio[0]
        container.seek(round(Fraction(part.t0) / stream.time_base), stream=stream, backward=True)
        resampler = av.AudioResampler(format="fltp", layout="stereo", rate=REEL_AUDIO_RATE)
        at = None
        for decoded in container.decode(stream):
            if decoded.pts is None:
                continue
            if at is None:
                at = round((decoded.time - part.t0) * REEL_AUDIO_RATE)
            for f in resampler.resample(decoded):
                chunk = f.to_ndarray()
                lo, hi = max(0, at), min(count, at + chunk.shape[1])
                if hi > lo:
                    sound[:, lo:hi] = chunk[:, lo - at:hi - at]
                at += chunk.shape[1]
            if at >= count:
                break
    return sound


def _title_band(title: str, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, int]:
    """A lower band with `title` on it: its RGB, its opacity (0..1) and its top row."""
    from PIL import Image, ImageDraw, ImageFont

    w, h = size
    font = ImageFont.load_default(size=max(10, h // 16))
    text = title if len(title) <= 80 else title[:79] + "…"
    band_h = max(14, h // 8)
    band = Image.new("RGBA", (w, band_h), (0, 0, 0, 170))
    draw = ImageDraw.Draw(band)
    draw.text((max(4, w // 40), band_h // 2), text, font=font, fill=(255, 255, 255, 255),
              anchor="lm")
    rgba = np.asarray(band).astype(np.float32)
    return rgba[..., :3], rgba[..., 3:] / 255.0, h - band_h


def _with_band(picture: np.ndarray, band: tuple[np.ndarray, np.ndarray, int]) -> np.ndarray:
    """A copy of the picture with the title band laid over it."""
    rgb, alpha, top = band
    titled = picture.copy()
    region = titled[top:top + rgb.shape[0]].astype(np.float32)
    titled[top:top + rgb.shape[0]] = (rgb * alpha + region * (1 - alpha)).astype(np.uint8)
    return titled
