"""A base: the large, read-only part of a modality's vector index, and its search.

A base is written whole once and never changed, so a server can search it while the next one is
built; search/storage/vectors.py keeps the small delta beside it and folds that in by writing a
new base. How a base is searched (its Tuning) was measured when it was built; the ids removed
since are filtered out of its results (Removed), never rewritten into it. All kinds but exact
keep a float16 copy of the vectors on disk, read by row: to re-score product codes, to score
the vectors of the shots a query is near, and to fold a delta in without reading SQL."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from vidseek.search.storage.index_kinds import bytes_per_vector
from vidseek.search.storage.places import Places

TUNING_K = 10  # the top k a base's recall is measured on and its re-scoring depth tuned for
CHUNK = 50_000  # vectors read, added and written at a time while a base is built


@dataclass(frozen=True)
class Tuning:
    """How a base is searched, and what that was measured to give."""

    kind: str
    nprobe: int = 0  # lists (shots) searched
    rerank: int = 0  # candidates re-scored exactly per hit asked for (0: none)
    recall: float = 1.0  # recall@10 on held-out library vectors, against exact search
    train_seconds: float = 0.0
    vectors_per_list: float = 0.0  # shots: their mean length

    def describe(self, dim: int, target: float | None = None) -> str:
        """Kind, search settings, measured recall (against `target`, when given: a tuning
        that fell short of it settled on the most thorough setting it tries) and memory."""
        if self.kind.startswith("shots"):
            probe = (f" ({self.vectors_per_list:.1f} vectors a shot), the {self.nprobe} nearest "
                     "shots searched, their vectors scored exactly from disk")
        else:
            probe = f", nprobe {self.nprobe}" if self.nprobe else ""
        rerank = f", re-scored x{self.rerank} from disk" if self.rerank else ""
        short = (f", short of the {target:.2f} target at the most thorough setting tried"
                 if target is not None and self.recall < target else "")
        per_vector = bytes_per_vector(self.kind, dim, self.vectors_per_list or 1.0)
        return (f"{self.kind}{probe}{rerank}, recall@10 {self.recall:.3f} (measured){short}, "
                f"{per_vector} B/vector")


@dataclass(frozen=True)
class Removed:
    """Base ids no longer in the library, as an array and as the FAISS selector that keeps
    them out of a search; one object, so a search reads one version of both."""

    ids: np.ndarray
    selector: faiss.IDSelector | None = None
    batch: faiss.IDSelectorBatch | None = None  # kept with `selector`: FAISS does not own it

    @classmethod
    def of(cls, ids: np.ndarray) -> Removed:
        ids = np.asarray(ids, dtype=np.int64)
        if not len(ids):
            return cls(ids)
        batch = faiss.IDSelectorBatch(ids)
        return cls(ids, faiss.IDSelectorNot(batch), batch)


NOTHING_REMOVED = Removed(np.zeros(0, np.int64))


class Base:
    """The large, read-only part: a FAISS index, the places of its vectors (ids ascending),
    and (all but exact) the float16 vectors in the same order, read from disk by row: to
    re-score product codes, to score the vectors of the shots a query is near, and to fold a
    delta in without reading SQL. An index by shot also has where each shot's rows begin."""

    def __init__(self, index: faiss.Index | None, places: Places, tuning: Tuning,
                 vectors_file: Path | None = None, shot_starts: np.ndarray | None = None):
        self.index, self.places, self.tuning = index, places, tuning
        self.shot_starts = shot_starts  # the first row of each shot, then the row count
        self._fd = os.open(vectors_file, os.O_RDONLY) if vectors_file else None

    @classmethod
    def empty(cls) -> Base:
        return cls(None, Places.empty(), Tuning("exact"))

    @classmethod
    def load(cls, prefix: Path, tuning: Tuning) -> Base:
        with np.load(f"{prefix}.places.npz") as z:
            places = Places(z["ids"], z["video_ids"], z["t0"], z["t1"])
        vectors_file = Path(f"{prefix}.f16") if tuning.kind != "exact" else None
        starts = np.load(f"{prefix}.shots.npy") if tuning.kind.startswith("shots") else None
        return cls(faiss.read_index(f"{prefix}.faiss"), places, tuning, vectors_file, starts)

    def __len__(self) -> int:
        return len(self.places)

    @property
    def has_vectors_file(self) -> bool:
        """Whether its float16 copies are on disk to read by row (all kinds but exact)."""
        return self._fd is not None

    def __del__(self):
        if self._fd is not None:
            os.close(self._fd)

    def vectors(self, ids: np.ndarray, dim: int) -> np.ndarray:
        """The float16 copies of these base ids (all in the base), as float32 rows."""
        rows = np.searchsorted(self.places.ids, ids)
        # One read per run of consecutive rows: a query's candidates are mostly frames of a
        # few shots, and a shot's frames have consecutive ids.
        ends = np.flatnonzero(np.diff(rows) != 1) + 1 if len(rows) else []
        runs = [(int(run[0]), int(run[-1]) + 1) for run in np.split(rows, ends)] if len(rows) else []
        return self.rows(runs, dim)

    def rows(self, runs: list[tuple[int, int]], dim: int) -> np.ndarray:
        """The float16 copies of rows [start, stop) of each run, one read a run, as float32."""
        width = dim * 2
        raw = b"".join(os.pread(self._fd, width * (stop - start), start * width)
                       for start, stop in runs)
        return np.frombuffer(raw, dtype="<f2").reshape(-1, dim).astype(np.float32)

    def search(self, queries: np.ndarray, k: int, removed: Removed = NOTHING_REMOVED,
               tuning: Tuning | None = None) -> tuple[np.ndarray, np.ndarray]:
        tuning = tuning or self.tuning
        if self.index is None or not len(self):
            n = len(queries)
            return np.full((n, 0), -np.inf, np.float32), np.zeros((n, 0), np.int64)
        if self.shot_starts is not None:
            return self._search_shots(queries, k, removed, tuning)
        if tuning.nprobe:
            params = faiss.SearchParametersIVF(nprobe=tuning.nprobe, sel=removed.selector)
        else:
            params = faiss.SearchParameters(sel=removed.selector)
        # The re-scoring depth was tuned for the top 10; a deeper ask (fusion takes 100 per
        # modality) gets those candidates plus one per extra hit, not rerank x k disk reads.
        depth = k + TUNING_K * (tuning.rerank - 1) if tuning.rerank else k
        scores, ids = self.index.search(queries, min(depth, len(self)), params=params)
        if not tuning.rerank:
            return scores, ids
        return _rescore(queries, ids, lambda found: self.vectors(found, queries.shape[1]), k)

    def _search_shots(self, queries: np.ndarray, k: int, removed: Removed,
                      tuning: Tuning) -> tuple[np.ndarray, np.ndarray]:
        """The `nprobe` shots whose centroids are nearest (by their product codes), and one
        more per shot's length of hits asked for past the top 10; every vector of those
        scored exactly from disk (a shot is one read: its rows are consecutive)."""
        starts = self.shot_starts
        extra = math.ceil(max(0, k - TUNING_K) / max(tuning.vectors_per_list, 1.0))
        _, shots = self.index.search(queries, min(tuning.nprobe + extra, len(starts) - 1))
        out_s = np.full((len(queries), k), -np.inf, np.float32)
        out_i = np.full((len(queries), k), -1, np.int64)
        for row, (q, found) in enumerate(zip(queries, shots)):
            found = np.sort(found[found >= 0])  # the disk reads go forward
            runs = list(zip(starts[found].tolist(), starts[found + 1].tolist()))
            ids = self.places.ids[np.concatenate([np.arange(a, b) for a, b in runs])]
            scores = self.rows(runs, queries.shape[1]) @ q
            if len(removed.ids):
                kept = ~np.isin(ids, removed.ids)
                ids, scores = ids[kept], scores[kept]
            best = np.argsort(-scores)[:k]
            out_s[row, :len(best)], out_i[row, :len(best)] = scores[best], ids[best]
        return out_s, out_i


def _rescore(queries: np.ndarray, candidates: np.ndarray,
             read: Callable[[np.ndarray], np.ndarray], k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact scores for each query's candidates (from their float16 copies), best k kept."""
    out_s = np.full((len(queries), k), -np.inf, np.float32)
    out_i = np.full((len(queries), k), -1, np.int64)
    for row, (q, cand) in enumerate(zip(queries, candidates)):
        cand = np.unique(cand[cand >= 0])  # sorted: the disk reads go forward
        if not len(cand):
            continue
        scores = read(cand) @ q
        best = np.argsort(-scores)[:k]
        out_s[row, :len(best)], out_i[row, :len(best)] = scores[best], cand[best]
    return out_s, out_i
