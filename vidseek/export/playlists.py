"""A reel as a playlist that plays its parts from the original files, nothing rendered:
an mpv EDL (as videogrep writes) or an M3U whose #EXTVLCOPT lines give VLC each start and stop.
Pure text."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from vidseek.export.reels import ReelPart


def _one_line(text: str) -> str:
    return " ".join(text.split())


def mpv_edl(parts: Sequence[ReelPart]) -> str:
    """mpv's EDL (`mpv reel.edl`): each part as `%LENGTH%file,start,length`, the file's length
    in bytes first so that any character may be in its name; its title as a comment above."""
    lines = ["# mpv EDL v0"]
    for p in parts:
        lines += [f"# {_one_line(p.title)}",
                  f"%{len(p.source.encode())}%{p.source},{p.t0:.3f},{p.seconds:.3f}"]
    return "\n".join(lines) + "\n"


def m3u(parts: Sequence[ReelPart]) -> str:
    """An extended M3U: each part's length and title, its start and stop for VLC, its file."""
    lines = ["#EXTM3U"]
    for p in parts:
        lines += [f"#EXTINF:{round(p.seconds)},{_one_line(p.title)}",
                  f"#EXTVLCOPT:start-time={p.t0:.3f}", f"#EXTVLCOPT:stop-time={p.t1:.3f}",
                  p.source]
    return "\n".join(lines) + "\n"


PLAYLISTS: dict[str, tuple[Callable[[Sequence[ReelPart]], str], str]] = {
    "edl": (mpv_edl, "text/plain"), "m3u": (m3u, "audio/x-mpegurl")}


def playlist_format(path: Path) -> str:
    """The playlist format a file name asks for (.edl or .m3u/.m3u8); ValueError otherwise."""
    suffix = Path(path).suffix.lower().lstrip(".")
    name = "m3u" if suffix == "m3u8" else suffix
    if name not in PLAYLISTS:
        raise ValueError(f"a playlist is .edl (mpv) or .m3u (VLC, mpv), not {Path(path).name}")
    return name
