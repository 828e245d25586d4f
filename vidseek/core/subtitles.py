"""A transcript as text: timestamped lines, SubRip (.srt) or WebVTT (.vtt). Pure functions."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass

LINE_WIDTH = 42  # characters per subtitle line, the common broadcast limit


@dataclass(frozen=True)
class Cue:
    t0: float
    t1: float
    text: str


def _hms(t: float) -> tuple[int, int, int, int]:
    ms = max(0, round(t * 1000))
    s, ms = divmod(ms, 1000)
    m, s = divmod(s, 60)
    h, m = divmod(m, 60)
    return h, m, s, ms


def srt_time(t: float) -> str:
    """Seconds as SubRip's HH:MM:SS,mmm."""
    return "{:02d}:{:02d}:{:02d},{:03d}".format(*_hms(t))


def vtt_time(t: float) -> str:
    """Seconds as WebVTT's HH:MM:SS.mmm."""
    return "{:02d}:{:02d}:{:02d}.{:03d}".format(*_hms(t))


def _lines(text: str) -> str:
    # A blank line ends a cue in both formats, so a cue's text never holds one.
    return "\n".join(textwrap.wrap(" ".join(text.split()), LINE_WIDTH)) or "…"


def format_srt(cues: Sequence[Cue]) -> str:
    """SubRip: numbered cues, comma before the milliseconds."""
    return "".join(f"{n}\n{srt_time(c.t0)} --> {srt_time(c.t1)}\n{_lines(c.text)}\n\n"
                   for n, c in enumerate(cues, start=1))


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def format_vtt(cues: Sequence[Cue]) -> str:
    """WebVTT, as HTML5 <track> elements load it."""
    return "WEBVTT\n\n" + "".join(
        f"{vtt_time(c.t0)} --> {vtt_time(c.t1)}\n{_vtt_escape(_lines(c.text))}\n\n" for c in cues)


def format_text(cues: Sequence[Cue]) -> str:
    """One line per cue: `[m:ss.s – m:ss.s] text`, for reading in a terminal."""
    def clock(t: float) -> str:
        h, m, s, ms = _hms(t)
        return f"{h}:{m:02d}:{s:02d}.{ms // 100}" if h else f"{m}:{s:02d}.{ms // 100}"

    return "".join(f"[{clock(c.t0)} – {clock(c.t1)}] {' '.join(c.text.split())}\n" for c in cues)


FORMATS: dict[str, Callable[[Sequence[Cue]], str]] = {
    "text": format_text, "srt": format_srt, "vtt": format_vtt}
