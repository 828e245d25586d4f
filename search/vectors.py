"""One FAISS index per modality (IndexIDMap2, ids = segment ids), saved atomically.

The SQL database is the source of truth; an index file is a cache that `reconcile` brings back
in line with it after a crash, a kill or an interrupted run."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

import faiss
import numpy as np

# Exact search stays fast enough (a few ms per query) up to this many vectors on a laptop;
# past it an HNSW graph keeps queries fast at a measured small recall cost (bench/recall.py).
EXACT_LIMIT = 250_000


def index_kind_for(count: int) -> str:
    """Pick the FAISS index kind for a collection of `count` vectors."""
    return "flat" if count <= EXACT_LIMIT else "hnsw"


def _new_index(dim: int, kind: str) -> faiss.Index:
    if kind == "flat":
        inner = faiss.IndexFlatIP(dim)
    elif kind == "hnsw":
        inner = faiss.IndexHNSWFlat(dim, 32, faiss.METRIC_INNER_PRODUCT)
        inner.hnsw.efSearch = 128
    else:
        raise ValueError(f"unknown index kind {kind!r}")
    return faiss.IndexIDMap2(inner)


class VectorIndex:
    """Inner-product search over unit vectors of one modality."""

    def __init__(self, path: Path, dim: int, kind: str = "flat"):
        self.path = path
        self.dim = dim
        self.kind = kind
        self.index = _new_index(dim, kind)
        self.dirty = False

    @classmethod
    def open(cls, path: Path, dim: int) -> VectorIndex:
        """Load the index file if there is a readable one of this dimension, else start empty."""
        vi = cls(path, dim)
        if path.exists():
            try:
                loaded = faiss.read_index(str(path))
            except RuntimeError:
                loaded = None  # a torn or foreign file: reconcile() rebuilds it from SQL
            if isinstance(loaded, faiss.IndexIDMap2) and loaded.d == dim:
                vi.index = loaded  # keep this object: it owns the inner index's memory
                inner = faiss.downcast_index(loaded.index)
                vi.kind = "hnsw" if isinstance(inner, faiss.IndexHNSW) else "flat"
        return vi

    def __len__(self) -> int:
        return self.index.ntotal

    def ids(self) -> np.ndarray:
        return faiss.vector_to_array(self.index.id_map).astype(np.int64)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32),
                                    np.asarray(ids, dtype=np.int64))
            self.dirty = True

    def remove(self, ids: Iterable[int]) -> None:
        ids = np.fromiter(ids, dtype=np.int64)
        if len(ids):
            self.index.remove_ids(ids)
            self.dirty = True

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) of shape (n_queries, k); missing hits have id -1."""
        k = max(1, min(k, len(self)))
        if len(self) == 0:
            n = len(queries)
            return np.zeros((n, 0), np.float32), np.zeros((n, 0), np.int64)
        return self.index.search(np.ascontiguousarray(queries, dtype=np.float32), k)

    def reconcile(
        self,
        sql_ids: np.ndarray,
        fetch: Callable[[np.ndarray], np.ndarray],
    ) -> bool:
        """Make the index hold exactly `sql_ids`: drop extras, add missing vectors via `fetch`.

        Returns True when anything changed. Switches index kind when the size calls for it.
        """
        want_kind = index_kind_for(len(sql_ids))
        if want_kind != self.kind:
            self.index, self.kind = _new_index(self.dim, want_kind), want_kind
        have = self.ids()
        extra = np.setdiff1d(have, sql_ids, assume_unique=True)
        missing = np.setdiff1d(sql_ids, have, assume_unique=True)
        if self.kind == "hnsw" and len(extra):
            # HNSW cannot remove; rebuild from the source of truth.
            self.index = _new_index(self.dim, self.kind)
            missing = np.asarray(sql_ids)
        else:
            self.remove(extra)
        for start in range(0, len(missing), 50_000):
            chunk = missing[start:start + 50_000]
            self.add(chunk, fetch(chunk))
        self.dirty = self.dirty or bool(len(extra) or len(missing))
        return self.dirty

    def save(self) -> None:
        """Write to a temp file and rename, so a reader never sees half an index."""
        if not self.dirty and self.path.exists():
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(self.path.suffix + ".tmp")
        faiss.write_index(self.index, str(tmp))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self.dirty = False
