"""The subtitles a video already has, as timed text: sidecar files beside it (`name.srt`,
`name.en.srt`, `.vtt`, `.ass`/`.ssa`) and text subtitle streams inside the container (SubRip,
WebVTT, mov_text, ASS, read with PyAV). Each cue becomes a `subtitles` segment, embedded with
the CLIP text encoder and full-text searchable like a transcript chunk.

A malformed subtitle file never fails its video: it is left out and named in the video's
warning (`vidseek status`). Parsing is pure; reading files and streams sits at the edge."""

from __future__ import annotations

import bisect
import hashlib
import html
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from vidseek.core.errors import SubtitleError
from vidseek.core.records import Segment
from vidseek.core.subtitles import Cue  # the same timed line a transcript is written as
from vidseek.indexer.limits import DecodeLimits, decoder_options

SIDECAR_EXTENSIONS = (".srt", ".vtt", ".ass", ".ssa")


@dataclass(frozen=True)
class SubtitleTrack:
    source: str  # the sidecar's file name, or "stream N" inside the container
    language: str | None
    cues: tuple[Cue, ...]


# --- pure parsing ------------------------------------------------------------------------------

_TIME = re.compile(r"(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{1,3})")
_TIMING = re.compile(rf"^\s*({_TIME.pattern})\s*-->\s*({_TIME.pattern})")
_TAG = re.compile(r"<[^>]*>")
_ASS_OVERRIDE = re.compile(r"\{[^}]*\}")


def _seconds(stamp: str) -> float:
    m = _TIME.fullmatch(stamp.strip())
    if not m:
        raise SubtitleError(f"bad time {stamp!r}")
    h, mnt, s, frac = m.groups()
    return int(h or 0) * 3600 + int(mnt) * 60 + int(s) + int(frac.ljust(3, "0")) / 1000


def clean_text(text: str) -> str:
    """Cue text without markup: HTML-like tags (SRT, WebVTT), ASS override blocks and line
    breaks (`\\N`), entities decoded, whitespace collapsed."""
    text = _ASS_OVERRIDE.sub("", text).replace("\\N", " ").replace("\\n", " ").replace("\\h", " ")
    return " ".join(html.unescape(_TAG.sub("", text)).split())


def parse_timed_blocks(text: str) -> list[Cue]:
    """Cues of SubRip or WebVTT text: blocks whose timing line is `start --> end` (an index or
    cue id line before it is ignored; WebVTT's header, NOTE and STYLE blocks hold no timing).
    SubtitleError when a timing line is malformed or no cue is found."""
    cues = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n")):
        lines = block.strip("\n").split("\n")
        at = next((i for i, line in enumerate(lines) if "-->" in line), None)
        if at is None:
            continue
        m = _TIMING.match(lines[at])
        if not m:
            raise SubtitleError(f"malformed timing line {lines[at]!r}")
        t0, t1 = _seconds(m.group(1)), _seconds(m.group(6))
        if t1 < t0:
            raise SubtitleError(f"cue ends before it starts: {lines[at]!r}")
        words = clean_text(" ".join(lines[at + 1:]))
        if words:
            cues.append(Cue(t0, t1, words))
    if not cues:
        raise SubtitleError("no subtitle cues found")
    return cues


def parse_ass(text: str) -> list[Cue]:
    """Cues of an ASS/SSA script: the `Dialogue:` lines of its [Events], read through the
    section's `Format:` line. SubtitleError when there is none or one is malformed."""
    fields: list[str] | None = None
    cues = []
    for line in text.replace("\r\n", "\n").split("\n"):
        key, sep, value = line.partition(":")
        if not sep:
            continue
        if key.strip() == "Format" and fields is None and "Text" in value:
            fields = [f.strip() for f in value.split(",")]
        elif key.strip() == "Dialogue":
            if fields is None:
                raise SubtitleError("Dialogue line before the [Events] Format line")
            parts = value.strip().split(",", len(fields) - 1)
            if len(parts) != len(fields):
                raise SubtitleError(f"malformed Dialogue line {line[:80]!r}")
            row = dict(zip(fields, parts))
            words = clean_text(row["Text"])
            if words:
                cues.append(Cue(_seconds(row["Start"]), _seconds(row["End"]), words))
    if not cues:
        raise SubtitleError("no Dialogue lines found")
    return cues


def parse_subtitles(text: str, extension: str) -> list[Cue]:
    """Cues of a subtitle file's text, by its extension, in time order."""
    parse = parse_ass if extension.lower() in (".ass", ".ssa") else parse_timed_blocks
    return sorted(parse(text), key=lambda c: (c.t0, c.t1))


def sidecar_language(video: Path, sidecar: Path) -> str | None:
    """The language a sidecar's name gives: `talk.en.srt` beside `talk.mp4` is English."""
    middle = sidecar.name[len(video.stem) + 1:-len(sidecar.suffix)]
    return middle.split(".")[-1] or None if middle else None


# --- at the edge: files and streams ----------------------------------------------------------------

@lru_cache(maxsize=16)
def _folder_names(folder: Path, mtime_ns: int) -> tuple[str, ...]:
    # Listed once per folder (and again when a file is added, removed or renamed, which
    # changes the folder's mtime), not once per video: a folder of 10,000 videos stays cheap.
    return tuple(sorted(os.listdir(folder)))


def sidecar_files(video: Path) -> list[Path]:
    """Subtitle files beside `video` whose names start with its stem: `talk.srt`, `talk.en.vtt`."""
    prefix = video.stem + "."
    try:
        names = _folder_names(video.parent, video.parent.stat().st_mtime_ns)
    except OSError:
        return []
    found = []
    for name in names[bisect.bisect_left(names, prefix):]:
        if not name.startswith(prefix):
            break
        if Path(name).suffix.lower() in SIDECAR_EXTENSIONS:
            found.append(video.parent / name)
    return found


def subtitle_stamp(video: Path) -> str | None:
    """A fingerprint of the sidecars beside `video` (names, sizes, modification times), None
    when there is none: when it changes, the video's subtitles are read again."""
    files = sidecar_files(video)
    if not files:
        return None
    h = hashlib.blake2b(digest_size=16)
    for f in files:
        st = f.stat()
        h.update(f"{f.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def _read_sidecar(video: Path, sidecar: Path) -> SubtitleTrack:
    raw = sidecar.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")  # older SRT files are often Windows-1252 / Latin-1
    return SubtitleTrack(sidecar.name, sidecar_language(video, sidecar),
                         tuple(parse_subtitles(text, sidecar.suffix)))


def embedded_tracks(video: Path, limits: DecodeLimits | None = None) -> list[SubtitleTrack]:
    """The text subtitle streams inside a video file. Only the subtitle packets are demuxed and
    decoded (no picture or sound), so this is cheap and needs no decoder process of its own;
    opening it decodes its first frames, under an upload's `limits`."""
    import av

    with av.open(str(video), options=decoder_options(limits)) as container:
        streams = list(container.streams.subtitles)
        if not streams:
            return []
        cues: dict[int, list[Cue]] = {s.index: [] for s in streams}
        for packet in container.demux(*streams):
            if packet.pts is None:
                continue
            t0 = float(packet.pts * packet.time_base)
            t1 = t0 + float((packet.duration or 0) * packet.time_base)
            for subtitle in packet.decode():
                # Bitmap subtitles (DVD, PGS) carry no text and are skipped.
                text = clean_text(bytes(getattr(subtitle, "dialogue", b"")).decode("utf-8", "replace"))
                if text:
                    cues[packet.stream.index].append(Cue(t0, max(t0, t1), text))
        return [SubtitleTrack(f"stream {s.index}", s.language,
                              tuple(sorted(cues[s.index], key=lambda c: (c.t0, c.t1))))
                for s in streams if cues[s.index]]


def read_subtitles(video: Path, limits: DecodeLimits | None = None
                   ) -> tuple[list[SubtitleTrack], list[str]]:
    """Every subtitle track of a video (sidecars, then streams inside it) and, for each that
    could not be read, why ("talk.en.srt: malformed timing line ..."); an upload's streams
    are read under its `limits`."""
    import av

    tracks, problems = [], []
    for sidecar in sidecar_files(video):
        try:
            tracks.append(_read_sidecar(video, sidecar))
        except (SubtitleError, OSError) as e:
            problems.append(f"subtitle file {sidecar.name} ignored: {e}")
    try:
        tracks += embedded_tracks(video, limits)
    except av.error.FFmpegError as e:
        problems.append(f"subtitle streams ignored: {e}")
    return tracks, problems


class SubtitleStage:
    """The stage for subtitles a video already has: read them, embed each cue's text."""

    modality = "subtitles"
    replaces = "speech"  # where a video has subtitles, Whisper may be skipped (a setting)

    def __init__(self, encoder):
        self.encoder = encoder

    def read(self, video: Path, limits: DecodeLimits | None = None
             ) -> tuple[list[Segment], list[str]]:
        """`subtitles` segments of a video (an upload's read under its `limits`), and what was
        left out and why."""
        tracks, problems = read_subtitles(Path(video), limits)
        cues = [(c, t.language) for t in tracks for c in t.cues]
        if not cues:
            return [], problems
        vectors = self.encoder.embed_texts([c.text for c, _ in cues])
        return [Segment("subtitles", c.t0, c.t1, v, text=c.text, language=language)
                for (c, language), v in zip(cues, vectors, strict=True)], problems
