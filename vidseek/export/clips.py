"""A span of a video as its own MP4 file, with what is said in it as a text track.

`copy` (the default) re-encodes nothing: it copies the packets from the keyframe at or before
T0 through T1 and shifts every timestamp so that T0 is zero. The frames before T0 (the keyframe
the first frames need) get negative times, so the MP4 muxer writes an edit list and players
start exactly at T0, audio and video shifted alike. `reencode` decodes the span and encodes it
again (H.264 + AAC): for sources whose codecs an MP4 cannot carry, and for players that ignore
edit lists. A clip is written under a temporary name and renamed once whole."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av
import numpy as np

from vidseek.core.errors import BadSpan, DecodeError, QueryError
from vidseek.core.files import replaced_whole
from vidseek.core.subtitles import Cue
from vidseek.export.slots import ExportSlots, estimated_size

MODES = ("copy", "reencode")
# Codecs PyAV's MP4 muxer takes as they are; anything else is re-encoded.
MP4_CODECS = {"video": {"h264", "hevc", "av1", "vp9", "mpeg4"},
              "audio": {"aac", "mp3", "opus", "ac3", "eac3", "alac", "flac"}}
MIN_CLIP_S = 0.1  # a clip shorter than this is no clip (and may hold no frame at all)
SPAN_TOLERANCE_S = 1e-3  # a recorded duration is rounded; an end this close to it is the end
KEYFRAME_SEARCH_S = 10.0  # the first step back when no keyframe before t0 is in view
AUDIO_PREROLL_S = 0.1  # AAC decodes a frame from the one before it: keep one, hidden
TEXT_TRACK_HEADER = b"[Script Info]\nScriptType: v4.00+\n"  # text codecs will not open without


@dataclass(frozen=True)
class ClipResult:
    """A clip written: where, which span of the source, how it was made, its size, and how
    many lines of text its text track holds."""

    path: Path
    t0: float
    t1: float
    mode: str
    size: int
    cues: int


def check_span(t0: float, t1: float, duration: float | None, max_seconds: float) -> None:
    """BadSpan, saying what is wrong, unless t0..t1 is a span of a video lasting `duration`
    (None: not known) no longer than `max_seconds`."""
    if not (math.isfinite(t0) and math.isfinite(t1)):
        raise BadSpan(f"t0 and t1 must be numbers of seconds (got t0={t0}, t1={t1})")
    if t0 < 0:
        raise BadSpan(f"t0 must be 0 or more (got {t0:g})")
    if not t1 > t0:
        raise BadSpan(f"t1 must be after t0 (got t0={t0:g}, t1={t1:g})")
    if t1 - t0 < MIN_CLIP_S:
        raise BadSpan(f"a clip lasts {MIN_CLIP_S:g} s at least (got {t1 - t0:g} s)")
    if duration is not None and t1 > duration + SPAN_TOLERANCE_S:
        raise BadSpan(f"the span ends at {t1:g} s, past the video's end ({duration:g} s)")
    if t1 - t0 > max_seconds:
        raise BadSpan(f"the span lasts {t1 - t0:g} s, longer than the {max_seconds:g} s a clip "
                      "may last (setting max_clip_seconds)")


def spoken_in(cues: Sequence[Cue], t0: float, t1: float) -> list[Cue]:
    """The cues that overlap t0..t1, cut to it and timed from t0."""
    return [Cue(max(c.t0, t0) - t0, min(c.t1, t1) - t0, c.text) for c in cues
            if c.t1 > t0 and c.t0 < t1 and c.text.strip()]


def cut_clip(source: str | Path | BinaryIO, t0: float, t1: float, out: Path,
             cues: Sequence[Cue] = (), mode: str = "copy") -> ClipResult:
    """Seconds t0..t1 of `source` (a path or an open file) written whole to the MP4 `out`,
    with `cues` (timed from t0) as its text track. `mode` copy falls back to reencode when
    the source's codecs cannot go into an MP4 as they are. DecodeError when the source
    cannot be read."""
    if mode not in MODES:
        raise QueryError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    name = getattr(source, "name", source)
    try:
        with av.open(source if not isinstance(source, Path) else str(source)) as inp:
            video = next(iter(inp.streams.video), None)
            if video is None:
                raise DecodeError(f"{name} has no video stream to cut")
            streams = [video, *inp.streams.audio[:1]]
            if mode == "copy" and not all(s.codec_context.name in MP4_CODECS[s.type]
                                          for s in streams):
                mode = "reencode"
            with replaced_whole(Path(out)) as temporary:
                with av.open(str(temporary), "w", format="mp4",
                             options={"movflags": "+faststart"}) as output:
                    write = _copy if mode == "copy" else _reencode
                    if not write(inp, streams, t0, t1, output, cues):
                        raise BadSpan(f"{name} shows no frame between {t0:g} and {t1:g} s")
    except av.error.FFmpegError as e:
        raise DecodeError(f"cannot cut {name}: {e}") from None
    return ClipResult(Path(out), t0, t1, mode, Path(out).stat().st_size, len(cues))


def _ticks(t: float, time_base: Fraction) -> int:
    return round(Fraction(t) / time_base)


def seek_keyframe_before(inp, video, t0: float) -> None:
    """Put `inp` at the keyframe at or before t0. Some containers (MPEG-TS) seek to any
    packet near a time, not to a keyframe: then the search starts further back, doubling,
    until a keyframe before t0 is in view (at worst the file's start)."""
    start = _ticks(t0, video.time_base)
    back, first = 0, video.start_time or 0
    while True:
        target = max(first, start - back)
        inp.seek(target, stream=video, backward=True, any_frame=False)
        keyframe = None
        for packet in inp.demux(video):
            if packet.pts is None:
                continue
            if packet.pts > start:
                break
            if packet.is_keyframe:
                keyframe = packet.pts
        if keyframe is not None or target == first:
            inp.seek(keyframe if keyframe is not None else first, stream=video, backward=True,
                     any_frame=False)
            return
        back = max(2 * back, _ticks(KEYFRAME_SEARCH_S, video.time_base))


def _copy(inp, streams, t0: float, t1: float, output, cues: Sequence[Cue]) -> int:
    """Copy the packets of t0..t1 (from the keyframe before it), timed from t0; how many of
    the video frames copied are shown from t0 on."""
    video = streams[0]
    outs = {s.index: output.add_stream_from_template(s) for s in streams}
    text = _text_track(output, cues)
    seek_keyframe_before(inp, video, t0)
    started, finished = set(), set()
    # Frames shown from t1 on that a frame shown before it may still need (B-frames decode
    # after the frame they look ahead to): held until such a frame comes, else left out.
    after_end: list = []
    shown = 0
    for packet in inp.demux(*streams):
        s = packet.stream
        if packet.dts is None or s.index in finished:
            continue
        start, end = _ticks(t0, s.time_base), _ticks(t1, s.time_base)
        # No frame shown before t1 is decoded after a packet whose dts reaches t1 (pts >= dts).
        if packet.dts >= end:
            finished.add(s.index)
            if len(finished) == len(streams):
                break
            continue
        if s.index not in started:
            first = packet.is_keyframe if s is video else (
                packet.pts + (packet.duration or 0) > start - _ticks(AUDIO_PREROLL_S, s.time_base))
            if not first:
                continue
            started.add(s.index)
        if packet.duration and packet.pts < end:
            packet.duration = min(packet.duration, end - packet.pts)  # the edit list ends at t1
        packet.pts -= start
        packet.dts -= start
        packet.stream = outs[s.index]
        if s is video and packet.pts >= end - start:
            after_end.append(packet)
            continue
        if s is video:
            output.mux(after_end)
            shown += len(after_end) + (packet.pts + (packet.duration or 1) > 0)
            after_end.clear()
        output.mux(packet)
    _write_cues(output, text, cues)
    return shown


def _reencode(inp, streams, t0: float, t1: float, output, cues: Sequence[Cue]) -> int:
    """Decode t0..t1 and encode it as H.264 (and AAC), timed from t0; how many frames were
    encoded."""
    video = streams[0]
    audio = streams[1] if len(streams) > 1 else None
    ctx = video.codec_context
    encoder = output.add_stream("libx264", rate=video.average_rate or video.guessed_rate or 25)
    encoder.width, encoder.height, encoder.pix_fmt = ctx.width, ctx.height, "yuv420p"
    encoder.options = {"preset": "veryfast", "crf": "20"}
    encoder.codec_context.time_base = video.time_base
    sound = None
    if audio is not None:
        sound = output.add_stream("aac", rate=audio.codec_context.sample_rate)
        sound.layout = audio.codec_context.layout
    text = _text_track(output, cues)
    seek_keyframe_before(inp, video, t0)
    start, end = _ticks(t0, video.time_base), _ticks(t1, video.time_base)
    encoded = 0
    for frame in inp.decode(video):
        if frame.pts is None:
            continue
        if frame.pts >= end:
            break
        if frame.pts + (frame.duration or 1) <= start:
            continue
        # The frame on screen at t0 opens the clip.
        frame.pts, frame.time_base = max(0, frame.pts - start), video.time_base
        frame.pict_type = av.video.frame.PictureType.NONE
        output.mux(encoder.encode(frame))
        encoded += 1
    if not encoded:
        return 0
    output.mux(encoder.encode(None))
    if sound is not None:
        # By the sound's own stream: its packets may be stored before the video's keyframe.
        inp.seek(_ticks(t0 - AUDIO_PREROLL_S, audio.time_base), stream=audio)  # < 0: the priming
        _reencode_audio(inp, audio, sound, t0, t1, output)
    _write_cues(output, text, cues)
    return encoded


def _reencode_audio(inp, audio, sound, t0: float, t1: float, output) -> None:
    rate, layout = audio.codec_context.sample_rate, audio.codec_context.layout.name
    first, last = round(t0 * rate), round(t1 * rate)  # the samples t0..t1
    planar = av.AudioResampler(format="fltp", layout=layout, rate=rate)  # rows are channels
    written = 0
    for decoded in inp.decode(audio):
        if decoded.pts is None:
            continue
        at = round(decoded.pts * decoded.time_base * rate)
        if at >= last:
            break
        samples = np.concatenate([f.to_ndarray() for f in planar.resample(decoded)], axis=1)
        keep = samples[:, max(0, first - at):max(0, last - at)]
        # Where the sound starts after t0 (or the seek lands past it), silence fills the gap,
        # so the sound stays in sync.
        gap = max(first, at) - (first + written)
        if gap > 0:
            keep = np.concatenate([np.zeros((keep.shape[0], gap), keep.dtype), keep], axis=1)
        elif gap < 0:
            keep = keep[:, -gap:]
        if keep.shape[1] == 0:
            continue
        cut = av.AudioFrame.from_ndarray(np.ascontiguousarray(keep), format="fltp",
                                         layout=layout)
        cut.sample_rate, cut.pts, cut.time_base = rate, written, Fraction(1, rate)
        written += cut.samples
        output.mux(sound.encode(cut))
    output.mux(sound.encode(None))


def _text_track(output, cues: Sequence[Cue]):
    """An MP4 text track (mov_text, which players show as subtitles) for `cues`; None when
    there are none."""
    if not cues:
        return None
    stream = output.add_stream("mov_text")
    stream.codec_context.subtitle_header = TEXT_TRACK_HEADER
    return stream


def _write_cues(output, stream, cues: Sequence[Cue]) -> None:
    for cue in cues:
        data = " ".join(cue.text.split()).encode()
        packet = av.Packet(len(data).to_bytes(2, "big") + data)
        packet.stream, packet.time_base = stream, Fraction(1, 1000)
        packet.pts = packet.dts = round(cue.t0 * 1000)
        packet.duration = max(1, round((cue.t1 - cue.t0) * 1000))
        output.mux(packet)


def clip_file_name(video_path: str, t0: float, t1: float) -> str:
    """The name a clip is saved under unless told: its video's, with its span."""
    return f"{Path(video_path).stem}_{t0:.1f}-{t1:.1f}.mp4"


def export_clip(source: str | BinaryIO, duration: float | None, source_size: int, t0: float,
                t1: float, out: Path, said: Sequence[Cue], mode: str, slots: ExportSlots,
                max_seconds: float) -> ClipResult:
    """Seconds t0..t1 of a video (its file's path, or the file opened) lasting `duration`
    (None: not indexed, refused) written whole to `out`, with what is `said` in the span as
    its text track; the span checked first (BadSpan), then a slot taken (ExportRefused), a
    vanished file a FileNotFoundError."""
    if duration is None:
        raise QueryError(f"{source} is not indexed (its length is not known); `vidseek status` "
                         "says why")
    check_span(t0, t1, duration, max_seconds)
    if Path(out).suffix.lower() not in (".mp4", ".m4v", ".mov"):
        raise QueryError(f"a clip is an MP4: name it .mp4, not {Path(out).name}")
    if isinstance(source, str | Path) and not Path(source).is_file():
        raise FileNotFoundError(f"{source} is no longer there; run `vidseek index` on its "
                                "folder to update the library")
    with slots.taken(Path(out).parent, estimated_size(source_size, duration, t0, t1)):
        return cut_clip(source, t0, t1, out, spoken_in(said, t0, t1), mode)
