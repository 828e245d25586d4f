"""Where each indexed segment is (its video, start and end), by segment id, held in memory.

A query turns a hundred or so FAISS ids per modality into places in time. Reading them from
SQL costs one database step per row, and each step hands the GIL to another thread and waits to
get it back; under concurrent queries that wait was most of a search's time. So the places of
one modality's vectors are loaded with its FAISS index, from the same SQL rows, and kept beside
it (about 20 bytes a segment). A `Places` is never changed in place: an update makes a new one,
so a query always reads one consistent version."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass(frozen=True)
class Found:
    """The places of the ids a lookup found (`mask` marks them among the ids asked for)."""

    mask: np.ndarray
    video_ids: np.ndarray
    t0: np.ndarray
    t1: np.ndarray


@dataclass(frozen=True)
class Places:
    ids: np.ndarray  # int64, ascending
    video_ids: np.ndarray  # int64
    t0: np.ndarray  # float64 seconds
    t1: np.ndarray

    @classmethod
    def of(cls, ids, video_ids, t0, t1) -> Places:
        ids = np.asarray(ids, dtype=np.int64)
        order = np.argsort(ids, kind="stable")
        return cls(ids[order], np.asarray(video_ids, dtype=np.int64)[order],
                   np.asarray(t0, dtype=np.float64)[order], np.asarray(t1, dtype=np.float64)[order])

    @classmethod
    def empty(cls) -> Places:
        return cls.of([], [], [], [])

    def __len__(self) -> int:
        return len(self.ids)

    def plus(self, other: Places) -> Places:
        return Places.of(*(np.concatenate([a, b]) for a, b in zip(self._columns(), other._columns())))

    def without(self, ids) -> Places:
        keep = ~np.isin(self.ids, np.asarray(ids, dtype=np.int64))
        return Places(*(column[keep] for column in self._columns()))

    def find(self, ids) -> Found:
        ids = np.asarray(ids, dtype=np.int64)
        at = np.minimum(np.searchsorted(self.ids, ids), max(len(self.ids) - 1, 0))
        mask = (self.ids[at] == ids) if len(self.ids) else np.zeros(len(ids), bool)
        at = at[mask]
        return Found(mask, self.video_ids[at], self.t0[at], self.t1[at])

    def at(self, video_id: int, t: float) -> int | None:
        """The id of the segment of `video_id` that starts last at or before second `t` (its
        first segment when `t` comes before them all); None when the video has none."""
        order, video_ids, starts = self._by_video_and_start
        lo, hi = np.searchsorted(video_ids, [video_id, video_id + 1])
        if lo == hi:
            return None
        i = lo + max(int(np.searchsorted(starts[lo:hi], t + 1e-6, side="right")) - 1, 0)
        return int(self.ids[order[i]])

    @cached_property
    def _by_video_and_start(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(order, video ids, starts) sorted by video then start: built on the first `at`."""
        order = np.lexsort((self.t0, self.video_ids))
        return order, self.video_ids[order], self.t0[order]

    def _columns(self) -> tuple[np.ndarray, ...]:
        return self.ids, self.video_ids, self.t0, self.t1


@dataclass(frozen=True)
class LayeredPlaces:
    """The places of a base index and of the small delta beside it, read as one: the delta's
    first, and the base's without those removed since it was written. Nothing is copied to
    look an id up, however large the base."""

    base: Places
    delta: Places
    removed: np.ndarray  # base ids no longer in the library, ascending

    def __len__(self) -> int:
        return len(self.base) - len(self.removed) + len(self.delta)

    def find(self, ids) -> Found:
        ids = np.asarray(ids, dtype=np.int64)
        columns = np.zeros((3, len(ids)))
        mask = np.zeros(len(ids), bool)
        in_base = ~np.isin(ids, self.removed)  # a lookup that raced a removal finds nothing
        for places, allowed in ((self.base, in_base), (self.delta, np.ones(len(ids), bool))):
            found = places.find(ids)
            hit = np.flatnonzero(found.mask)
            keep = allowed[hit]
            columns[:, hit[keep]] = np.stack([found.video_ids, found.t0, found.t1])[:, keep]
            mask[hit[keep]] = True
        return Found(mask, columns[0, mask].astype(np.int64), columns[1, mask], columns[2, mask])

    def at(self, video_id: int, t: float) -> int | None:
        """As `Places.at`; a video indexed again since the base was written is in the delta."""
        found = self.delta.at(video_id, t)
        if found is None:
            found = self.base.at(video_id, t)
            if found is not None and np.isin(found, self.removed):
                return None
        return found

    @cached_property
    def _live(self) -> Places:
        base = self.base.without(self.removed) if len(self.removed) else self.base
        return base.plus(self.delta) if len(self.delta) else base

    def live(self) -> Places:
        """Every place as one `Places` (a copy: for rebuilding and checks, not for queries)."""
        return self._live

    @property
    def ids(self) -> np.ndarray:
        return self._live.ids

    @property
    def video_ids(self) -> np.ndarray:
        return self._live.video_ids
