"""What a query needs from a model: sentences and images into the library's joint space.

vidseek/models/encoders.py's `ImageTextEncoder` is one (it adds how it runs); search/ names only this,
so it never imports the model code."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class QueryEncoder(Protocol):
    spec: str  # the model, as recorded with the library: open_clip:ViT-B-32/laion2b_s34b_b79k
    dim: int

    def embed_images(self, frames: np.ndarray) -> np.ndarray:
        """uint8 RGB frames (n×h×w×3) as unit-length vectors (n×dim)."""
        ...

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """Sentences as unit-length vectors (n×dim)."""
        ...
