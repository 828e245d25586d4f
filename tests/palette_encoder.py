"""An image+text encoder whose geometry is known, registered like any other (`palette:test`):
a frame becomes the axis of its nearest palette colour; a sentence naming a colour word
("reds", "greens", ...) points a little along that colour's axis and mostly along one shared
"a picture" axis, as CLIP text sits at a cosine of about 0.3 from matching images; any other
sentence points along the shared axis only (plus a small wobble no frame shares)."""

from __future__ import annotations

import hashlib

import numpy as np

from vidseek.models.encoders import ENCODERS
from vidseek.models.runtimes import RuntimePlan

DIM = 16
PALETTE = {  # colour word: (axis, RGB)
    "reds": (0, (220, 30, 30)), "greens": (1, (30, 200, 60)), "blues": (2, (30, 60, 220)),
    "yellows": (3, (240, 220, 40)), "blacks": (4, (10, 10, 10)), "whites": (5, (250, 250, 250)),
    "greys": (6, (128, 128, 128)),
}
PICTURE_AXIS = DIM - 1
TEXT_MATCH = 0.3  # cosine of a colour word's sentence with a frame of that colour
SPEC = "palette:test"


def _seeded(text: str, axes: range) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha1(text.encode()).digest()[:4], "little")
    v = np.zeros(DIM, np.float32)
    v[axes.start:axes.stop] = np.random.default_rng(seed).standard_normal(len(axes))
    return v / np.linalg.norm(v)


class PaletteEncoder:
    dim = DIM
    runtime = RuntimePlan("torch", "fp32", "cpu")  # plain numpy: float vectors, like torch fp32

    def __init__(self, spec: str = SPEC):
        self.spec = spec
        self.images_embedded = 0  # frames this encoder has seen: relabeling must add none

    # Its own registry entry: every library that asks for `palette:...` gets this instance.
    def load(self, spec, settings) -> PaletteEncoder:
        return self

    def installed(self, spec, settings, download: bool) -> tuple[bool, str]:
        return True, "computed from the palette (a test encoder: no weights)"

    def release_image_tower(self) -> None:
        """Nothing to free: the palette is a few numbers."""

    def embed_images(self, frames: np.ndarray) -> np.ndarray:
        self.images_embedded += len(frames)
        colours = np.array([rgb for _, rgb in PALETTE.values()], np.float32)
        axes = np.array([axis for axis, _ in PALETTE.values()])
        means = np.asarray(frames, np.float32).reshape(len(frames), -1, 3).mean(axis=1)
        nearest = axes[np.argmin(((means[:, None] - colours[None]) ** 2).sum(-1), axis=1)]
        out = np.zeros((len(frames), DIM), np.float32)
        out[np.arange(len(frames)), nearest] = 1.0
        return out

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        return np.stack([self._text(t) for t in texts])

    def _text(self, text: str) -> np.ndarray:
        # Each sentence wobbles a little in axes no frame uses: templates differ, as in CLIP.
        v = np.zeros(DIM, np.float32)
        v[PICTURE_AXIS] = 1.0
        v += 0.1 * _seeded(text, range(11, 15))
        word = next((w for w in PALETTE if w in text.lower()), None)
        if word is not None:
            v /= np.linalg.norm(v)
            v *= np.sqrt(1 - TEXT_MATCH ** 2)
            v[PALETTE[word][0]] = TEXT_MATCH
        return v / np.linalg.norm(v)


ENCODER = PaletteEncoder()


def register() -> PaletteEncoder:
    """Make `palette:test` loadable by spec; returns the one instance every library gets."""
    ENCODERS["palette"] = ENCODER
    return ENCODER
