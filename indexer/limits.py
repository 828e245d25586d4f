"""What decoding one upload may cost, and how FFmpeg is told: the limits the decoder and the
subtitle reader both apply to a query clip (the library's own files decode whole)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DecodeLimits:
    """What decoding one upload may cost: pixels per picture (a still, or each frame of a
    clip) and frames (decoded, or sampled from them)."""

    max_pixels: int
    max_frames: int


def decoder_options(limits: DecodeLimits | None) -> dict[str, str]:
    """FFmpeg's own cap, for what no header tells ahead (a frame size that changes mid-stream,
    a still that only decoding sizes): its decoders refuse to allocate a larger picture. For
    every av.open of an upload: opening a file decodes its first frames to learn their size."""
    return {"max_pixels": str(limits.max_pixels)} if limits else {}
