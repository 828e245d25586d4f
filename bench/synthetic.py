"""Synthetic libraries for benchmarks that need many segments fast: real Store rows and FAISS
indexes, random unit vectors instead of decoded video (decoding 100k segments takes hours)."""

from __future__ import annotations

import numpy as np

from vidseek.search.records import MediaInfo, Segment
from vidseek.search.store import Fingerprint, Store

WORDS = ("red blue green car dog cat person running night day beach city street music crowd "
         "water fire snow tree mountain kitchen talking laughing bird plane train road sunset").split()


def fill_store(store: Store, n_segments: int, dim: int, model_spec: str,
               per_video: int = 1000, seed: int = 0) -> None:
    """Add `n_segments` frame segments with random unit vectors, `per_video` per fake video."""
    rng = np.random.default_rng(seed)
    store.bind_model("clip_model", model_spec, dim)
    info = MediaInfo(duration=float(per_video), fps=30.0, width=1280, height=720, has_audio=False)
    for v in range(0, n_segments, per_video):
        n = min(per_video, n_segments - v)
        vectors = rng.standard_normal((n, dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        segments = [Segment("frame", float(i), float(i + 1), vectors[i]) for i in range(n)]
        store.save_video(f"/synthetic/video{v // per_video:05d}.mp4",
                         Fingerprint(size=1, mtime_ns=1, content_hash=f"{v:040x}"), info, segments)
    store.save_indexes()


def queries(n: int, seed: int = 1) -> list[str]:
    """`n` distinct natural-looking queries, so no cache can answer them."""
    rng = np.random.default_rng(seed)
    out: set[str] = set()
    while len(out) < n:
        out.add("a " + " ".join(rng.choice(WORDS, size=rng.integers(2, 6), replace=False)))
    return sorted(out)
