"""One FAISS index per modality (IndexIDMap2, ids = segment ids), saved atomically.

The SQL database is the source of truth; an index file is a cache that `reconcile` brings back
in line with it after a crash, a kill or an interrupted run."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable
from pathlib import Path

import faiss
import numpy as np

# Exact search scans every vector for every query. Vectors are stored as float16 (the durable
# copy in SQL is float16 too, so nothing is lost): at 100k x 512 a scan takes ~5 ms on one
# core, half of what float32 costs. Past EXACT_LIMIT an inverted file (IVF) scans a few percent
# of the vectors instead, at a recall cost that depends on how clustered the embeddings are.
EXACT_LIMIT = 500_000
PROBE_FRACTION = 1 / 16  # lists searched per query, as a share of all lists
TRAIN_PER_LIST = 64  # k-means sample size per list


def index_kind_for(count: int) -> str:
    """`exact` for collections up to EXACT_LIMIT, else `ivfN` with N ~ 4·sqrt(count) lists
    (a power of two, so the kind, and a retraining, changes only when the size changes ~4x)."""
    if count <= EXACT_LIMIT:
        return "exact"
    return f"ivf{2 ** round(math.log2(4 * math.sqrt(count)))}"


def _new_index(dim: int, kind: str) -> faiss.Index:
    if kind == "exact":
        return faiss.IndexIDMap2(faiss.IndexScalarQuantizer(
            dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT))
    if kind.startswith("ivf"):
        nlist = int(kind[3:])
        ivf = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        ivf.nprobe = max(1, int(nlist * PROBE_FRACTION))
        return faiss.IndexIDMap2(ivf)
    raise ValueError(f"unknown index kind {kind!r}")


def file_stamp(path: Path) -> tuple[int, int] | None:
    """What tells one saved version of an index file from another."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_mtime_ns, st.st_size


def _kind_of(index: faiss.IndexIDMap2) -> str:
    inner = faiss.downcast_index(index.index)
    return f"ivf{inner.nlist}" if isinstance(inner, faiss.IndexIVF) else "exact"


class VectorIndex:
    """Inner-product search over unit vectors of one modality."""

    def __init__(self, path: Path, dim: int, kind: str = "exact"):
        self.path = path
        self.dim = dim
        self.kind = kind
        self.index = _new_index(dim, kind)
        self.dirty = False
        self.file_stamp: tuple[int, int] | None = None  # of the file this index was read from

    @classmethod
    def open(cls, path: Path, dim: int) -> VectorIndex:
        """Load the index file if there is a readable one of this dimension, else start empty."""
        vi = cls(path, dim)
        vi.file_stamp = file_stamp(path)
        if path.exists():
            try:
                loaded = faiss.read_index(str(path))
            except RuntimeError:
                loaded = None  # a torn or foreign file: reconcile() rebuilds it from SQL
            if isinstance(loaded, faiss.IndexIDMap2) and loaded.d == dim:
                vi.index = loaded  # keep this object: it owns the inner index's memory
                vi.kind = _kind_of(loaded)
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

    def reconcile(self, sql_ids: np.ndarray, fetch: Callable[[np.ndarray], np.ndarray]) -> bool:
        """Make the index hold exactly `sql_ids`: drop extras, add missing vectors via `fetch`.

        Rebuilds (and for IVF retrains) when the collection's size calls for another kind.
        Returns True when anything changed."""
        want = index_kind_for(len(sql_ids))
        if want != self.kind:
            self.index, self.kind = _new_index(self.dim, want), want
            self.dirty = True
            if want != "exact":
                self._train(sql_ids, fetch)
        have = self.ids()
        self.remove(np.setdiff1d(have, sql_ids, assume_unique=True))
        missing = np.setdiff1d(sql_ids, have, assume_unique=True)
        for start in range(0, len(missing), 50_000):
            chunk = missing[start:start + 50_000]
            self.add(chunk, fetch(chunk))
        return self.dirty

    def _train(self, sql_ids: np.ndarray, fetch: Callable[[np.ndarray], np.ndarray]) -> None:
        ivf = faiss.downcast_index(self.index.index)
        n = min(len(sql_ids), ivf.nlist * TRAIN_PER_LIST)
        sample = np.sort(np.random.default_rng(0).choice(sql_ids, size=n, replace=False))
        if faiss.get_num_gpus():  # faiss-gpu (the `gpu` extra) and a GPU: k-means runs there
            ivf.clustering_index = faiss.index_cpu_to_all_gpus(faiss.IndexFlatIP(self.dim))
        ivf.train(np.ascontiguousarray(fetch(sample), dtype=np.float32))

    def save(self) -> None:
        """Write to a temp file and rename, so a reader never sees half an index."""
        if not self.dirty and self.path.exists():
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # A temp name of our own: the indexer and a server may both write this index.
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        faiss.write_index(self.index, str(tmp))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self.dirty = False
        self.file_stamp = file_stamp(self.path)
