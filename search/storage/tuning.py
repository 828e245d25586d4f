"""Tuning a base: the cheapest search settings (the shots searched, or nprobe and the
re-scoring depth) that reach the recall target, measured when the base is built.

Recall is measured against exact search on text-like queries made from the library's own
vectors, each moved as far from a stored vector as a caption lies from its frames: a stored
vector itself would flatter an inverted file (its own list answers it). Their exact answers
are gathered in the one pass that writes the base's float16 copy. The rule is autofaiss's (a
recall target on held-out data); bench/scale.py says why not autofaiss itself, and it and
docs/benchmarks.md give the figures."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import faiss
import numpy as np

from vidseek.core.files import replaced_whole
from vidseek.search.storage.base import CHUNK, TUNING_K, Base, Tuning
from vidseek.search.storage.places import Places

TUNING_QUERIES = 300  # queries the tuning measures recall on
# The tuning queries are library vectors moved to this cosine from where they were: a text
# query lies about this far from the frames it describes (CLIP's caption-to-image cosines are
# 0.3-0.4), and such a query, near no stored vector, needs more lists probed than a stored
# vector does (whose own list answers it).
QUERY_COSINE = 0.4
# The tuning reaches the recall target plus this margin: its queries, made from the library's
# own vectors, read up to this much above unseen text-like queries (bench/scale.py prints both).
TUNING_MARGIN = 0.01
RERANK_FACTORS = (2, 4, 8, 16, 32)  # candidates re-scored exactly, per hit asked for
SHOT_MAX_PROBE = 64  # shots a query's vectors are scored in, at the most (~3,200 rows read)


def write_vectors_and_truth(places: Places, read: Callable[[np.ndarray], np.ndarray],
                            prefix: Path, each: Callable[[int, np.ndarray], None]
                            ) -> tuple[np.ndarray, np.ndarray, dict[str, float]]:
    """One pass over the vectors of `places` (ascending ids, by `read`): each chunk is given
    to `each(first row, vectors)`, written to `{prefix}.f16` (what the base reads rows from,
    and the next merge reads), and scored against text-like queries around a sample of them.
    Gives those queries, their exact top 10 ids, and the seconds each part took."""
    ids = places.ids
    rng = np.random.default_rng(len(ids))
    around = np.sort(rng.choice(ids, size=min(TUNING_QUERIES, len(ids)), replace=False))
    queries = query_like(read(around), rng)
    truth = _TopK(queries, TUNING_K)
    seconds = {"read": 0.0, "add": 0.0, "exact answers": 0.0}  # where a build's time goes
    with replaced_whole(Path(f"{prefix}.f16")) as tmp, open(tmp, "wb") as f16:
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start:start + CHUNK]
            t0 = time.monotonic()
            vectors = np.ascontiguousarray(read(chunk), dtype=np.float32)
            t1 = time.monotonic()
            each(start, vectors)
            t2 = time.monotonic()
            truth.update(vectors, chunk)
            f16.write(vectors.astype("<f2").tobytes())
            t3 = time.monotonic()
            for part, took in zip(seconds, (t1 - t0, t2 - t1, t3 - t2)):
                seconds[part] += took
    return queries, truth.ids(), seconds


def query_like(vectors: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Unit vectors at about QUERY_COSINE from these: each plus isotropic noise of the norm
    that gives that angle (in high dimension noise is nearly orthogonal to the vector)."""
    noise = rng.standard_normal(vectors.shape).astype(np.float32) / np.sqrt(vectors.shape[1])
    moved = vectors + np.sqrt(1 / QUERY_COSINE**2 - 1) * noise
    return (moved / np.linalg.norm(moved, axis=1, keepdims=True)).astype(np.float32)


def probe_steps(most: int) -> list[int]:
    """The nprobe values the tuning tries: steps of about sqrt(2) (1, 2, 3, 4, 6, 8, 12, ...),
    so the margin over the target costs little more than the target, up to `most`."""
    powers = [2 ** i for i in range(int(math.log2(max(1, most))) + 1)]
    return sorted({p for power in powers for p in (power, power * 3 // 2) if 1 <= p <= max(1, most)})


def tune(base: Base, queries: np.ndarray, truth: np.ndarray, target: float) -> Tuning:
    """The cheapest nprobe (then re-scoring depth) whose recall@10 on these queries reaches
    `target` + TUNING_MARGIN against `truth` (their exact top 10); the most thorough setting
    tried when none does. An inverted file probes up to a quarter of its lists; an index by
    shot searches up to SHOT_MAX_PROBE shots."""
    kind = base.tuning.kind
    if base.shot_starts is not None:
        probes = probe_steps(min(len(base.shot_starts) - 1, SHOT_MAX_PROBE))
    else:
        probes = probe_steps(faiss.extract_index_ivf(base.index).nlist // 4)
    factors = RERANK_FACTORS if kind.startswith("ivf") and "pq" in kind else (0,)
    target = min(1.0, target + TUNING_MARGIN)

    def recall(nprobe: int, rerank: int) -> float:
        _, found = base.search(queries, TUNING_K, tuning=replace(base.tuning, nprobe=nprobe,
                                                                  rerank=rerank))
        return recall_at(found, truth)

    def tuned(nprobe: int, rerank: int, r: float) -> Tuning:
        return replace(base.tuning, nprobe=nprobe, rerank=rerank, recall=r)

    best = tuned(probes[-1], factors[-1], recall(probes[-1], factors[-1]))
    for nprobe in probes:  # recall grows with nprobe: the first that reaches the target
        r = recall(nprobe, factors[-1])
        if r >= target:
            best = tuned(nprobe, factors[-1], r)
            break
    for factor in factors[:-1]:
        r = recall(best.nprobe, factor)
        if r >= target:
            return tuned(best.nprobe, factor, r)
    return best


def recall_at(found: np.ndarray, truth: np.ndarray) -> float:
    """Share of each query's true nearest (a row of `truth`) among those found."""
    hits = sum(len(set(f.tolist()) & set(t.tolist())) for f, t in zip(found, truth))
    return hits / truth.size


class _TopK:
    """Exact k nearest neighbours of some queries, accumulated over chunks of vectors."""

    def __init__(self, queries: np.ndarray, k: int):
        self.queries, self.k = queries, k
        self.scores = np.full((len(queries), k), -np.inf, np.float32)
        self._ids = np.full((len(queries), k), -1, np.int64)

    def update(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        scores = self.queries @ vectors.astype(np.float16).astype(np.float32).T
        both_s = np.concatenate([self.scores, scores], axis=1)
        both_i = np.concatenate([self._ids, np.broadcast_to(ids, scores.shape)], axis=1)
        top = np.argpartition(-both_s, self.k - 1, axis=1)[:, :self.k]
        self.scores = np.take_along_axis(both_s, top, 1)
        self._ids = np.take_along_axis(both_i, top, 1)

    def ids(self) -> np.ndarray:
        order = np.argsort(-self.scores, axis=1)
        return np.take_along_axis(self._ids, order, 1)
