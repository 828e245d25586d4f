"""Face tracks grouped into people, incrementally. Pure functions on unit vectors.

The rule (measured on the test photos: one person's faces 0.95-0.97 apart in cosine, two
people's 0.80-0.86; bench/faces.py): a new track joins the person whose centroid is most alike,
if at least `similarity`; the tracks that join no one are linked to each other where at least
`similarity` alike, and a linked group of at least `min_tracks` founds a new person. A smaller
group waits, unassigned, for the next run (a face seen once is no one yet). A track that has a
person is never moved by clustering: only the user moves it (merge, split)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from vidseek.core.records import unit


@dataclass(frozen=True)
class Grouping:
    """What clustering decided for the unassigned tracks (by their index in its input)."""

    joined: dict[int, int]  # track -> the index of the person (in the centroids given) it joins
    founded: list[list[int]]  # groups of tracks that found a new person each
    waiting: list[int]  # tracks alike to no one, yet


def group(vectors: np.ndarray, centroids: np.ndarray, similarity: float,
          min_tracks: int) -> Grouping:
    """Assign unassigned tracks (`vectors`, unit rows) to the people whose `centroids` (unit
    rows) they are most alike, if alike enough; group the rest (see the module's rule)."""
    joined: dict[int, int] = {}
    if len(vectors) and len(centroids):
        scores = vectors @ centroids.T
        best = scores.argmax(axis=1)
        for i, (j, s) in enumerate(zip(best, scores[np.arange(len(vectors)), best])):
            if s >= similarity:
                joined[i] = int(j)
    rest = [i for i in range(len(vectors)) if i not in joined]
    founded, waiting = [], []
    for members in linked_groups(vectors[rest] if rest else np.zeros((0, 1)), similarity):
        tracks = [rest[m] for m in members]
        (founded.append if len(tracks) >= min_tracks else waiting.extend)(tracks)
    return Grouping(joined, founded, sorted(waiting))


def linked_groups(vectors: np.ndarray, similarity: float) -> list[list[int]]:
    """The connected groups of rows linked where at least `similarity` alike, each in
    ascending order, ordered by their first row."""
    n = len(vectors)
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    if n:
        a, b = np.nonzero(np.triu(vectors @ vectors.T >= similarity, k=1))
        for i, j in zip(a.tolist(), b.tolist()):
            parent[root(i)] = root(j)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(i)
    return sorted(groups.values(), key=lambda g: g[0])


def centroid(vectors: np.ndarray) -> np.ndarray:
    """The unit-length mean of unit rows: where a person's faces are."""
    return unit(np.asarray(vectors, np.float32).mean(axis=0))


def purity_and_completeness(truth: list[str], found: list[int | None]) -> tuple[float, float]:
    """Of tracks whose true person is `truth[i]` and found person `found[i]` (None: none):
    purity, the share of clustered tracks in the majority truth of their cluster; completeness,
    the share of each true person's tracks in that person's largest cluster (unclustered ones
    count against it)."""
    clustered = [(t, f) for t, f in zip(truth, found, strict=True) if f is not None]
    by_cluster: dict[int, list[str]] = {}
    for t, f in clustered:
        by_cluster.setdefault(f, []).append(t)
    majority = sum(max(members.count(t) for t in set(members)) for members in by_cluster.values())
    purity = majority / len(clustered) if clustered else 1.0
    by_truth: dict[str, list[int | None]] = {}
    for t, f in zip(truth, found, strict=True):
        by_truth.setdefault(t, []).append(f)
    largest = sum(max((fs.count(f) for f in set(fs) if f is not None), default=0)
                  for fs in by_truth.values())
    return purity, largest / len(truth) if truth else 1.0
