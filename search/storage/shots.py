"""The index by shot: a base for vectors that run in shots (a video's consecutive frames that
look alike), where an inverted file would need to read many lists.

The vectors are cut into shots as they are written; each shot's centroid is kept in 4-bit
product codes scanned whole by SIMD lookups (FAISS fast-scan), and a query scores every vector
of its nearest shots exactly, from the float16 copy on disk (one read a shot: its rows are
consecutive). Why: a text-like query lies far from its shot, and an inverted list's centroid is
the mean of many shots, so the query is barely nearer its own list than the others; a shot's
centroid is the mean of near-duplicates, as near the query as the shot's frames and far above
the rest. Its cost: a query near nothing in the library reads only its nearest shots, and a
delta cannot be folded into a copy, so a merge builds it again (it trains nothing on the
vectors). An HNSW graph over the centroids was tried and not adopted: it loses its way towards
queries far from every node. Figures: bench/scale.py, docs/benchmarks.md."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np

from vidseek.core.files import write_whole
from vidseek.core.settings import IndexBudget
from vidseek.search.storage.base import CHUNK, Base, Tuning
from vidseek.search.storage.index_kinds import new_faiss_index
from vidseek.search.storage.places import Places
from vidseek.search.storage.tuning import tune, write_vectors_and_truth

log = logging.getLogger(__name__)

# Shots: a run of a video's vectors, each at least SHOT_COSINE from the one before it (at
# most SHOT_MAX_LENGTH long). A library whose vectors run in shots this long on average, and
# holds this many, is indexed by shot (see the module's docstring).
SHOT_COSINE = 0.8
SHOT_MAX_LENGTH = 64
SHOT_MIN_MEAN_LENGTH = 8
SHOTS_MIN = 1024
SHOT_PROBE_BLOCKS, SHOT_PROBE_LENGTH = 32, 256  # runs of consecutive vectors the kind is judged on
SHOT_TRAINING = 16_384  # shot centroids the product codes are trained on


def shot_cuts(vectors: np.ndarray, video_ids: np.ndarray,
              before: tuple[np.ndarray, int] | None = None) -> np.ndarray:
    """Where a shot begins among consecutive vectors (unit length, in id order): at each
    vector of another video than the one before it, or below SHOT_COSINE from it. `before`:
    the vector and video just before these (None: these begin a shot)."""
    cuts = np.empty(len(vectors), bool)
    cuts[1:] = ((video_ids[1:] != video_ids[:-1])
                | (np.einsum("ij,ij->i", vectors[1:], vectors[:-1]) < SHOT_COSINE))
    if len(vectors):
        cuts[0] = (before is None or before[1] != video_ids[0]
                   or float(before[0] @ vectors[0]) < SHOT_COSINE)
    return cuts


def shot_bounds(cuts: np.ndarray) -> np.ndarray:
    """The first row of each shot (a shot longer than SHOT_MAX_LENGTH cut into pieces), then
    the row count."""
    rows = np.arange(len(cuts))
    first = np.maximum.accumulate(np.where(cuts, rows, 0))  # the first row of each row's run
    return np.append(np.flatnonzero(cuts | ((rows - first) % SHOT_MAX_LENGTH == 0)), len(cuts))


def runs_in_shots(places: Places,
                  fetch: Callable[[np.ndarray], tuple[np.ndarray, Places]]) -> bool:
    """Whether these vectors run in shots: SHOT_MIN_MEAN_LENGTH long on average, SHOTS_MIN of
    them or more; judged on SHOT_PROBE_BLOCKS runs of consecutive ones (frames of moving video
    do; transcript chunks, or frames of stills, do not)."""
    n = len(places)
    rng = np.random.default_rng(2)
    firsts = np.unique(rng.integers(0, max(1, n - SHOT_PROBE_LENGTH), SHOT_PROBE_BLOCKS))
    vectors = shots = 0
    for first in firsts.tolist():
        rows = slice(first, min(n, first + SHOT_PROBE_LENGTH))
        block = np.asarray(fetch(places.ids[rows])[0], dtype=np.float32)
        vectors, shots = vectors + len(block), shots + int(shot_cuts(block, places.video_ids[rows]).sum())
    mean = vectors / max(shots, 1)
    return mean >= SHOT_MIN_MEAN_LENGTH and n / mean >= SHOTS_MIN


def build_shots(kind: str, dim: int, places: Places, read: Callable[[np.ndarray], np.ndarray],
                budget: IndexBudget, prefix: Path) -> tuple[faiss.Index, Tuning]:
    """An index by shot: the vectors cut into shots as they are written to `{prefix}.f16`,
    each shot's centroid (its vectors' mean, unit length) in product codes, where each shot's
    rows begin in `{prefix}.shots.npy`; tuned to the recall target on the number of shots
    searched. Nothing is trained on the vectors themselves: a merge builds it again."""
    cuts = np.zeros(len(places), bool)
    before: list = [None]

    def cut(start: int, vectors: np.ndarray) -> None:
        videos = places.video_ids[start:start + len(vectors)]
        cuts[start:start + len(vectors)] = shot_cuts(vectors, videos, before[0])
        before[0] = (vectors[-1], videos[-1])

    queries, truth, seconds = write_vectors_and_truth(places, read, prefix, cut)
    bounds = shot_bounds(cuts)
    base = Base(None, places, Tuning(kind), Path(f"{prefix}.f16"), bounds)
    centroids = np.zeros((len(bounds) - 1, dim), np.float32)
    per_read = max(1, CHUNK // SHOT_MAX_LENGTH)
    for first in range(0, len(centroids), per_read):  # a second pass, over the local file
        last = min(first + per_read, len(centroids))
        rows = base.rows([(int(bounds[first]), int(bounds[last]))], dim)
        centroids[first:last] = np.add.reduceat(rows, bounds[first:last] - bounds[first], axis=0)
    centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    index = new_faiss_index(kind, dim)
    rng = np.random.default_rng(0)
    index.train(centroids[rng.choice(len(centroids), min(len(centroids), SHOT_TRAINING),
                                     replace=False)])
    index.add(centroids)
    write_whole(Path(f"{prefix}.shots.npy"), lambda f: np.save(f, bounds))
    base.index = index
    base.tuning = Tuning(kind, vectors_per_list=round(len(places) / len(centroids), 2))
    started = time.monotonic()
    tuning = tune(base, queries, truth, budget.recall)
    log.info("%s: %d vectors in %d shots; seconds %s; tuned in %.0f s: %s", kind, len(places),
             len(centroids), {part: round(took) for part, took in seconds.items()},
             time.monotonic() - started, tuning.describe(dim))
    return index, tuning
