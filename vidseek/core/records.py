"""Plain data that flows between the indexer and the store: no ORM objects, no tensors."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# The modalities of the joint (CLIP) space: what a text, image or clip query searches.
MODALITIES = ("frame", "speech", "audio", "ocr", "subtitles")
# Faces live in a space of their own (a face model's, not CLIP's): searched only by a face or
# a person, never fused with the others.
FACE = "face"
STORED_MODALITIES = (*MODALITIES, FACE)
# The modalities whose segments carry words (a transcript chunk, text read off the screen, a
# subtitle cue): full-text indexed (migration 0006), shown as snippets, never image-queried.
TEXT_MODALITIES = ("speech", "ocr", "subtitles")


def unit(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero): every vector of the joint space is."""
    x = np.asarray(x, np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


@dataclass(frozen=True)
class Fingerprint:
    """What identifies one version of a file on disk: its size and mtime, and once read, its
    content hash and the stamp of the subtitle files beside it."""

    size: int
    mtime_ns: int
    content_hash: str | None = None
    subtitle_stamp: str | None = None  # the subtitle files beside the video, if any


@dataclass(frozen=True)
class MediaInfo:
    """What a decoder learned about a file."""

    duration: float
    fps: float
    width: int
    height: int
    has_audio: bool


@dataclass(frozen=True)
class Segment:
    """One indexed span of a video in one modality, with its unit-length vector."""

    modality: str
    t0: float
    t1: float
    vector: np.ndarray = field(repr=False)
    text: str | None = None
    language: str | None = None
    thumbnail: bytes | None = field(default=None, repr=False)
    box: tuple[float, float, float, float] | None = None  # a face's x0, y0, x1, y1 (0-1)

    def __post_init__(self) -> None:
        if self.modality not in STORED_MODALITIES:
            raise ValueError(f"unknown modality {self.modality!r}; "
                             f"expected one of {STORED_MODALITIES}")
        if not self.t1 >= self.t0:
            raise ValueError(f"segment ends before it starts: {self.t0}..{self.t1}")


@dataclass(frozen=True)
class AudioFeatures:
    """Raw features of a sound track's windows, before any mapping into the joint space: kept
    durably so a newly learned projection can be applied without decoding the video again."""

    t0: np.ndarray = field(repr=False)  # (n,) seconds
    t1: np.ndarray = field(repr=False)  # (n,) seconds
    features: np.ndarray = field(repr=False)  # (n, d) float32

    @classmethod
    def empty(cls) -> AudioFeatures:
        return cls(np.zeros(0), np.zeros(0), np.zeros((0, 0), np.float32))

    def __len__(self) -> int:
        return len(self.t0)


@dataclass(frozen=True)
class Heard:
    """What an audio stage makes of a sound track: segments ready to store (speech chunks),
    and raw features the store keeps and the writer projects into segments (audio windows)."""

    segments: list[Segment] = field(default_factory=list)
    features: AudioFeatures | None = None



@dataclass(frozen=True)
class StoryboardTiles:
    """Where a storyboard's tiles are: `columns` to a row, each `tile_width` x `tile_height`
    pixels; tile i shows the video from `times[i]` on."""

    times: tuple[float, ...]
    tile_width: int
    tile_height: int
    columns: int

    def tile_at(self, index: int) -> tuple[int, int]:
        """The (x, y) pixel of tile `index`'s top-left corner in the sprite."""
        row, column = divmod(index, self.columns)
        return column * self.tile_width, row * self.tile_height


@dataclass(frozen=True)
class Storyboard:
    """A video at a glance: one JPEG sprite of small thumbnails, one per shot, and its tiles."""

    jpeg: bytes = field(repr=False)
    tiles: StoryboardTiles
