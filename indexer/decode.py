"""Decoding in a child process, so a decoder crash, hang or memory blow-up costs one file.

decord aborts on some corrupt H.264 streams and segfaults on others; PyAV is the fallback for
files decord refuses. The child also hashes the file first, so a slow or blocked read is bound
by the same timeout. It sends frames back in small windows (bounded memory) while the parent
embeds the previous window. Durations are measured, not read from the header: a stream without
a duration, or a truncated file whose header still claims the whole, lasts what decoded."""

from __future__ import annotations

import io
import multiprocessing as mp
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import BinaryIO

import numpy as np

from vidseek.core.errors import ClipTooLong, DecodeError, ImageTooLarge
from vidseek.core.records import MediaInfo
from vidseek.indexer.discover import content_hash
from vidseek.indexer.limits import DecodeLimits, decoder_options
from vidseek.indexer.sampling import SamplingOptions, SceneFilter, sample_times

AUDIO_RATE = 16_000
SHORT_SIDE = 224  # decoded frame size: enough for CLIP and for a thumbnail
QUERY_IMAGE_SIDE = 1024  # a query image is shrunk to fit this square before it is embedded
# Stills that FFmpeg also reads as a one-frame video, whose size Pillow reads from the header.
STILL_FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP", "TIFF")


@dataclass(frozen=True)
class DecodeOptions:
    sampling: SamplingOptions
    window: int  # frames per message: one encoder batch
    audio: bool = False  # also send the audio track, 16 kHz mono float32
    short_side: int = SHORT_SIDE  # larger when a frame stage reads text (CLIP resizes anyway)
    limits: DecodeLimits | None = None  # an upload's; the library's own files decode whole
    # A looser filter for the frame stages alone (a cell changing: text, a face): the frames it
    # keeps besides `sampling`'s are sent too, marked not to embed.
    stage_sampling: SamplingOptions | None = None


@dataclass(frozen=True)
class ContentHash:
    """The file's content hash (BLAKE2b), read by the decoding child before anything else."""

    hexdigest: str


@dataclass(frozen=True)
class FrameWindow:
    times: list[float]
    frames: np.ndarray  # uint8 (n, h, w, 3)
    embed: list[bool]  # kept by the frame path's filter; else only the frame stages read it
    jpegs: list[bytes]  # of the frames to embed, in order


@dataclass(frozen=True)
class AudioTrack:
    samples: np.ndarray  # float32 mono at AUDIO_RATE


@dataclass(frozen=True)
class AudioPiece:
    """Consecutive samples of the audio track, sent in pieces so that neither process ever holds
    a long track twice (decoded and pickled) in one message."""

    samples: np.ndarray  # float32 mono at AUDIO_RATE


def check_picture(width: int, height: int, max_pixels: int | None,
                  what: str = "the image") -> None:
    """The one rule for whether a picture may be decoded, asked by every path that decodes
    one (an image query, a clip's frames, a still sent as a clip; any added later): refused
    with ImageTooLarge when it has more than `max_pixels` pixels (None: no limit)."""
    if max_pixels is not None and width * height > max_pixels:
        raise ImageTooLarge(f"{what} decodes to {width}x{height} pixels, more than the "
                            f"{max_pixels / 1e6:g} megapixels accepted")


def _check_frames(count: int, limits: DecodeLimits | None) -> None:
    if limits is not None and count > limits.max_frames:
        raise ClipTooLong(f"the clip has more than the {limits.max_frames} frames accepted")


# --- in the child process -----------------------------------------------------------------

def still_size(path: str) -> tuple[int, int] | None:
    """A still image's size read from its header (nothing decoded), or None when the file is
    not a still of STILL_FORMATS; ImageTooLarge past Pillow's own bomb limit."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path, formats=STILL_FORMATS) as im:
            return im.size
    except Image.DecompressionBombError as e:
        raise ImageTooLarge(f"the image is too large to decode: {e}") from None
    except (UnidentifiedImageError, OSError):
        return None


def probe(path: str, limits: DecodeLimits | None = None) -> MediaInfo:
    """Stream facts from the container (frame rate, size, audio); raises DecodeError with a
    readable reason, and past `limits`, what it is past (a still's size is read by Pillow
    first, as FFmpeg would decode it to learn it). The duration is left at 0: headers omit
    or overstate it, so `decode` measures it."""
    import av

    if os.path.getsize(path) == 0:
        raise DecodeError("empty file (0 bytes)")
    max_pixels = limits.max_pixels if limits else None
    if limits is not None and (size := still_size(path)) is not None:
        check_picture(*size, max_pixels)
    try:
        with av.open(path, options=decoder_options(limits)) as container:
            if not container.streams.video:
                raise DecodeError("no video stream (audio-only or not a video file)")
            vs = container.streams.video[0]
            check_picture(vs.codec_context.width, vs.codec_context.height, max_pixels,
                          "the clip's frames")
            _check_frames(vs.frames, limits)
            fps = float(vs.average_rate or vs.guessed_rate or 0) or 25.0
            return MediaInfo(duration=0.0, fps=fps, width=vs.codec_context.width,
                             height=vs.codec_context.height,
                             has_audio=bool(container.streams.audio))
    except av.error.FFmpegError as e:
        raise DecodeError(f"not a readable video: {_ffmpeg_reason(e)}") from None


def _ffmpeg_reason(e: Exception) -> str:
    text = getattr(e, "strerror", None) or str(e)
    if "moov atom not found" in str(e) or "Invalid data" in text:
        return f"{text} — the file is truncated, corrupt or not a video"
    return text


def _target_size(info: MediaInfo, short_side: int) -> tuple[int, int]:
    w, h = info.width or short_side, info.height or short_side
    scale = short_side / min(w, h)
    return max(2, round(w * scale / 2) * 2), max(2, round(h * scale / 2) * 2)


@dataclass
class _Extent:
    """How far the video stream decoded: the end of its last frame, in seconds, as the frame
    readers find it."""

    end: float = 0.0


def _decord_frames(path: str, rate: float, size: tuple[int, int], window: int,
                   extent: _Extent) -> Iterator[tuple[float, np.ndarray]]:
    import decord

    vr = decord.VideoReader(path, ctx=decord.cpu(0), width=size[0], height=size[1], num_threads=0)
    count = len(vr)
    if count == 0:
        raise DecodeError("no decodable frames")
    # decord indexes the packets that are really there, so the last one's end is the extent.
    stamps = vr.get_frame_timestamp(np.arange(count))  # (count, 2): start, end
    extent.end = float(stamps[-1, 1])
    times = sample_times(extent.end, rate)
    # Each sample time takes the first frame at or after it (or the last frame), as with PyAV.
    indices = np.minimum(np.searchsorted(stamps[:, 0] + 1e-3, times), count - 1)
    for start in range(0, len(indices), window):
        batch = vr.get_batch(list(indices[start:start + window])).asnumpy()
        yield from zip(times[start:start + window], batch)


def _pyav_frames(path: str, rate: float, size: tuple[int, int], extent: _Extent,
                 first: int = 0, limits: DecodeLimits | None = None
                 ) -> Iterator[tuple[float, np.ndarray]]:
    """Sample times `first / rate`, `(first + 1) / rate`, ... for as long as frames decode:
    decoding runs to the end of the stream, so `extent` learns where it really ends. A packet
    that does not decode is skipped; a stream that stops demuxing (a truncated tail) ends.
    Under `limits`, a larger picture is not decoded (skipped) and more frames are refused."""
    import av

    i, last, decoded = first, None, 0
    with av.open(path, options=decoder_options(limits)) as container:
        stream = container.streams.video[0]
        stream.codec_context.options = decoder_options(limits)
        stream.thread_type = "AUTO"
        fallback_duration = 1.0 / float(stream.average_rate or stream.guessed_rate or 25)
        try:
            for packet in container.demux(stream):
                try:
                    frames = packet.decode()
                except av.error.FFmpegError:
                    if limits is not None:  # refused for its size? FFmpeg keeps the size it saw
                        check_picture(stream.codec_context.width, stream.codec_context.height,
                                      limits.max_pixels, "a frame of the clip")
                    continue
                for frame in frames:
                    decoded += 1
                    _check_frames(decoded, limits)
                    if frame.time is None:
                        continue
                    last = frame
                    extent.end = max(extent.end, frame.time + (
                        float(frame.duration * frame.time_base) if frame.duration
                        else fallback_duration))
                    # Take each sample time's first frame at or after it.
                    while frame.time + 1e-3 >= i / rate:
                        yield i / rate, frame.to_ndarray(format="rgb24", width=size[0],
                                                         height=size[1])
                        i += 1
        except av.error.FFmpegError:
            pass  # a truncated or corrupt tail: keep what decoded
        # Sample times after the last frame began, but before it ends, show that frame.
        while last is not None and i / rate < extent.end:
            yield i / rate, last.to_ndarray(format="rgb24", width=size[0], height=size[1])
            i += 1


def _frames(path: str, rate: float, size: tuple[int, int], window: int, extent: _Extent,
            limits: DecodeLimits | None) -> Iterator[tuple[float, np.ndarray]]:
    if limits is not None:
        # decord takes no decoder options: a frame size that changes mid-stream would be
        # decoded whole there. Its frames and PyAV's differ only by rounding.
        yield from _pyav_frames(path, rate, size, extent, limits=limits)
        return
    sent, last_time = 0, 0.0
    try:
        for item in _decord_frames(path, rate, size, window, extent):
            sent, last_time = sent + 1, float(item[0])
            yield item
        return
    except DecodeError:
        raise
    except Exception:  # decord refuses some files that FFmpeg proper reads: fall back
        extent.end = last_time  # decord's index promised more than it decoded
    yield from _pyav_frames(path, rate, size, extent, first=sent)


def _window(times: list[float], frames: list[np.ndarray], embed: list[bool]) -> FrameWindow:
    return FrameWindow(times, np.stack(frames), embed,
                       [_jpeg(f) for f, e in zip(frames, embed) if e])


def _jpeg(frame: np.ndarray) -> bytes:
    """A thumbnail: frames decoded larger for reading text are shown at SHORT_SIDE anyway."""
    from PIL import Image

    image = Image.fromarray(frame)
    if min(image.size) > SHORT_SIDE:
        image.thumbnail((SHORT_SIDE * image.width // min(image.size),
                         SHORT_SIDE * image.height // min(image.size)), Image.BILINEAR)
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=80)
    return buf.getvalue()


def _resampled(container) -> Iterator[np.ndarray]:
    """The first audio track of an open container, resampled to 16 kHz mono float32, as it
    decodes; a truncated tail ends it early."""
    import av

    resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)
    try:
        for frame in container.decode(container.streams.audio[0]):
            yield from (f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
    except av.error.FFmpegError:
        pass  # a truncated tail: keep what decoded
    yield from (f.to_ndarray().reshape(-1) for f in resampler.resample(None))


def audio_pieces(path: str, seconds: float = 60.0) -> Iterator[np.ndarray]:
    """The first audio track as 16 kHz mono float32, in pieces of about `seconds` (none when
    there is no audio track)."""
    import av

    with av.open(path) as container:
        if not container.streams.audio:
            return
        piece: list[np.ndarray] = []
        size = 0
        for chunk in _resampled(container):
            piece.append(chunk)
            size += len(chunk)
            if size >= seconds * AUDIO_RATE:
                yield np.concatenate(piece)
                piece, size = [], 0
        if piece:
            yield np.concatenate(piece)


def read_audio(path: str) -> np.ndarray:
    """The first audio track as 16 kHz mono float32 (empty when there is none)."""
    pieces = list(audio_pieces(path))
    return np.concatenate(pieces) if pieces else np.zeros(0, np.float32)


def decode(path: str, options: DecodeOptions
           ) -> Iterator[ContentHash | FrameWindow | AudioPiece | MediaInfo]:
    """The content hash, then the audio in pieces if asked (cheap to decode: the parent's sound
    stages start on it while frames still decode), then sampled frames (scene-thinned) in
    windows, and last the MediaInfo, whose duration is what decoded (frames, and audio when
    asked for), not what the header claims."""
    try:
        digest = content_hash(Path(path))
    except OSError as e:
        raise DecodeError(f"cannot read the file: {e.strerror or e}") from None
    yield ContentHash(digest)
    info = probe(path, options.limits)
    samples = 0
    if options.audio and info.has_audio:
        for piece in audio_pieces(path):
            samples += len(piece)
            yield AudioPiece(piece)
    size = _target_size(info, options.short_side)
    scene = SceneFilter(options.sampling)
    stage_scene = SceneFilter(options.stage_sampling) if options.stage_sampling else None
    extent = _Extent()
    times: list[float] = []
    frames: list[np.ndarray] = []
    embed: list[bool] = []
    sampled = 0
    for t, frame in _frames(path, options.sampling.rate, size, options.window, extent,
                            options.limits):
        sampled += 1
        _check_frames(sampled, options.limits)
        embedded = scene.keep(float(t), frame)
        for_stages = stage_scene is not None and stage_scene.keep(float(t), frame)
        if embedded or for_stages:
            times.append(float(t))
            frames.append(frame)
            embed.append(embedded)
        if len(frames) == options.window:
            yield _window(times, frames, embed)
            times, frames, embed = [], [], []
    if frames:
        yield _window(times, frames, embed)
    if sampled == 0:
        raise DecodeError("no decodable frames — the file is truncated or corrupt")
    yield replace(info, duration=max(extent.end, samples / AUDIO_RATE))


def _child(path: str, options: DecodeOptions, out: Connection) -> None:
    # A plain pipe, no queue feeder thread: each send blocks until the parent reads (one window
    # of read-ahead), and fails with BrokenPipeError if the indexer died, so no orphan lingers.
    try:
        for item in decode(path, options):
            out.send(item)
        out.send(("done", None))
    except DecodeError as e:  # sent whole: an upload past its limits is told apart (413)
        out.send(("error", e))
    except BrokenPipeError:
        pass
    except Exception as e:  # anything else native code threw: report it, don't hide it
        out.send(("error", DecodeError(f"{type(e).__name__}: {e}")))


def read_image(source: bytes | BinaryIO, max_pixels: int | None = None) -> np.ndarray:
    """An uploaded or local image as uint8 RGB, shrunk to fit QUERY_IMAGE_SIDE; DecodeError
    when it is not an image, ImageTooLarge when decoding it would take more than `max_pixels`
    pixels (known from its header, so a huge image is refused before it is decoded)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as im:
            im.draft("RGB", (QUERY_IMAGE_SIDE, QUERY_IMAGE_SIDE))  # JPEG: decode at 1/2..1/8
            check_picture(im.width, im.height, max_pixels)
            im.thumbnail((QUERY_IMAGE_SIDE, QUERY_IMAGE_SIDE))  # before any copy is made
            return np.array(im.convert("RGB"))
    except Image.DecompressionBombError as e:  # past twice Pillow's own limit
        raise ImageTooLarge(f"the image is too large to decode: {e}") from None
    except (UnidentifiedImageError, OSError) as e:
        raise DecodeError(f"not a readable image: {e}") from None


# --- in the parent process ----------------------------------------------------------------

def _describe_exit(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"decoder crashed ({signal.Signals(-code).name})"
        except ValueError:
            return f"decoder crashed (signal {-code})"
    return f"decoder exited unexpectedly (exit code {code})"


class IsolatedDecoder:
    """Runs `decode` for one file in a child process with a time limit."""

    def __init__(self, timeout: float):
        self.timeout = timeout
        self._ctx = mp.get_context("forkserver")
        self._ctx.set_forkserver_preload(["vidseek.indexer.decode"])

    def decode(self, path: str | Path, options: DecodeOptions
               ) -> Iterator[ContentHash | FrameWindow | MediaInfo | AudioTrack]:
        """What `decode` yields, with the audio pieces joined into one AudioTrack, yielded as
        soon as the last piece is in (before the first frame window)."""
        reader, writer = self._ctx.Pipe(duplex=False)
        proc = self._ctx.Process(target=_child, args=(str(path), options, writer), daemon=True)
        proc.start()
        writer.close()  # the child holds the only write end: EOF means it is gone
        deadline = time.monotonic() + self.timeout
        pieces: list[np.ndarray] = []
        try:
            while True:
                if time.monotonic() > deadline:
                    raise DecodeError(f"decoding took longer than {self.timeout:.0f} s")
                if not reader.poll(0.2):
                    continue
                try:
                    item = reader.recv()
                except EOFError:
                    proc.join(timeout=5)
                    raise DecodeError(_describe_exit(proc.exitcode)) from None
                if isinstance(item, AudioPiece):
                    pieces.append(item.samples)
                    continue
                if pieces:
                    yield AudioTrack(np.concatenate(pieces))
                    pieces = []
                if isinstance(item, tuple):
                    kind, error = item
                    if kind == "error":
                        raise error
                    return
                yield item
        finally:
            if proc.is_alive():
                proc.kill()
            proc.join(timeout=5)
            reader.close()
