"""A video's storyboard, made while it is indexed: the sampled frames are cut into shots as
they arrive (by their pixels, so any model gives the same tiles), and the thumbnails the
decoder already made for the first frame of each shot are laid out in one JPEG sprite. A video
indexed before storyboards were made gets one from its stored thumbnails."""

from __future__ import annotations

import io

import numpy as np

from vidseek.core.records import Storyboard, StoryboardTiles
from vidseek.indexer.sampling import frame_signature
from vidseek.search.storage.store import Store

# A shot ends where a frame's mean pixel change from the shot's first frame passes this (0-1):
# well above the scene filter's (0.02), so an object moving inside a scene is one shot while a
# cut, or a camera that has panned to another view, starts a new one.
SHOT_CHANGE = 0.1
TILE_WIDTH = 160  # pixels: what a result card shows while scrubbing
MAX_TILES = 100  # a longer video shows this many of its shots, spread over all of them
COLUMNS = 10
JPEG_QUALITY = 75


class ShotCutter:
    """Finds where shots begin among a video's sampled frames, window by window, keeping only
    the first frame's signature of the shot in progress."""

    def __init__(self, change: float = SHOT_CHANGE):
        self.change = change
        self.starts: list[int] = []  # the index, among every frame added, of each shot's first
        self._seen = 0
        self._reference: np.ndarray | None = None

    def add(self, frames: np.ndarray) -> None:
        """Read the next sampled frames (uint8, n x h x w x 3), in video order."""
        for frame in frames:
            signature = frame_signature(frame)
            if (self._reference is None
                    or float(np.abs(signature - self._reference).mean()) > self.change):
                self.starts.append(self._seen)
                self._reference = signature
            self._seen += 1


def spread(starts: list[int], most: int = MAX_TILES) -> list[int]:
    """At most `most` of these shot starts, evenly spread over them (all when they fit)."""
    if len(starts) <= most:
        return list(starts)
    picks = np.unique(np.linspace(0, len(starts) - 1, most).round().astype(int))
    return [starts[i] for i in picks.tolist()]


def make_storyboard(jpegs: list[bytes], times: list[float], starts: list[int]) -> Storyboard:
    """The sprite of the thumbnails (`jpegs`, one per sampled frame at `times`) of the frames
    that begin a shot, spread to at most MAX_TILES."""
    from PIL import Image

    tiles = spread(starts)
    if not tiles:
        raise ValueError("a storyboard needs at least one frame")
    images = []
    for i in tiles:
        image = Image.open(io.BytesIO(jpegs[i]))
        image.draft("RGB", (TILE_WIDTH, TILE_WIDTH))  # JPEG decodes straight at a smaller scale
        images.append(image.convert("RGB"))
    width, height = images[0].size
    tile_height = max(1, round(TILE_WIDTH * height / width))
    columns = min(COLUMNS, len(images))
    rows = -(-len(images) // columns)
    layout = StoryboardTiles(tuple(times[i] for i in tiles), TILE_WIDTH, tile_height, columns)
    sprite = Image.new("RGB", (columns * TILE_WIDTH, rows * tile_height))
    for k, image in enumerate(images):
        sprite.paste(image.resize((TILE_WIDTH, tile_height), Image.BILINEAR), layout.tile_at(k))
    buf = io.BytesIO()
    sprite.save(buf, format="JPEG", quality=JPEG_QUALITY)
    return Storyboard(buf.getvalue(), layout)


def storyboard_from_thumbnails(times: list[float], jpegs: list[bytes]) -> Storyboard:
    """A storyboard made from a video's stored frame thumbnails (at `times`) alone: shots cut
    on the thumbnails, whose 16x16 signatures are those of their frames but for JPEG's loss."""
    from PIL import Image

    shots = ShotCutter()
    for jpeg in jpegs:
        image = Image.open(io.BytesIO(jpeg))
        image.draft("RGB", (64, 64))  # 16x16 cells of means: a reduced decode gives the same
        shots.add(np.asarray(image.convert("RGB"))[None])
    return make_storyboard(jpegs, times, shots.starts)


def fill_missing_storyboards(store: Store) -> int:
    """Give every indexed video without a storyboard (indexed before they were made) one, from
    its stored thumbnails: nothing is decoded again. Returns how many were made."""
    made = 0
    for video_id in store.storyboards.missing():
        frames = store.storyboards.frame_thumbnails(video_id)
        if frames:
            times, jpegs = zip(*frames)
            store.storyboards.save(video_id, storyboard_from_thumbnails(list(times), list(jpegs)))
            made += 1
    return made
