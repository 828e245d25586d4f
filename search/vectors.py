"""One FAISS index per modality (IndexIDMap2, ids = segment ids), saved atomically.

The SQL database is the source of truth; an index file is a cache of it. The consistency model:

- A segment id is never reused (AUTOINCREMENT; a sequence on PostgreSQL) and a segment's vector
  never changes, so an id present in both SQL and an index means the same vector in both.
- SQL counts the changes to each modality's segments (its *generation*, bumped in the same
  transaction as the change: search/store.py). Each index records the generation it reflects,
  and a saved file carries it in the same file: FAISS's own bytes, then a 16-byte trailer
  (magic + generation), written to a temp file and renamed, so the vectors and the generation
  they reflect are replaced together or not at all. FAISS reads the file as it always did: the
  trailer lies past the index it reads.
- Opening: a file whose generation equals SQL's is current as it is. One whose generation is
  lower is behind (a kill between a commit and the next save): `reconcile` drops the ids SQL no
  longer has and adds the ones it lacks, which is exact because ids are never reused. A file
  without a trailer (torn, foreign, or written before ids stopped being reused) or claiming a
  generation SQL never reached is not trusted id by id: it is rebuilt from SQL.
- Readers: another process (a server) re-opens a file when its stamp (inode, mtime, size)
  changes, reading stamp, generation and vectors from one open file. Opening still reads the
  modality's rows for the places beside the index (search/places.py); a generation equal to
  SQL's spares the id comparison and the vector reads."""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import BinaryIO

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


# magic + the SQL generation the index reflects, after FAISS's bytes.
_TRAILER = struct.Struct("<8sq")
_MAGIC = b"vidseek\x01"


def saved_generation(path: Path) -> int | None:
    """The generation a saved index file reflects, read from its trailer without loading the
    index; None when there is no file or it carries no trailer."""
    try:
        with open(path, "rb") as f:
            return _trailer_generation(f)
    except FileNotFoundError:
        return None


def _trailer_generation(f: BinaryIO) -> int | None:
    if f.seek(0, os.SEEK_END) < _TRAILER.size:
        return None
    f.seek(-_TRAILER.size, os.SEEK_END)
    magic, generation = _TRAILER.unpack(f.read(_TRAILER.size))
    return generation if magic == _MAGIC else None


def file_stamp(path: Path) -> tuple[int, int, int] | None:
    """What tells one saved version of an index file from another (each save is a new file)."""
    try:
        return _stamp(path.stat())
    except FileNotFoundError:
        return None


def _stamp(st: os.stat_result) -> tuple[int, int, int]:
    return st.st_ino, st.st_mtime_ns, st.st_size


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
        self.file_stamp: tuple[int, int, int] | None = None  # of the file it was read from
        self.generation: int | None = None  # the SQL generation it reflects; None: unknown

    @classmethod
    def open(cls, path: Path, dim: int) -> VectorIndex:
        """Load the index file if there is a readable one of this dimension, with the generation
        it was saved at; else start empty, at no known generation."""
        vi = cls(path, dim)
        try:
            f = open(path, "rb")
        except FileNotFoundError:
            return vi
        # Stamp, generation and vectors all from this one open file: another process may
        # replace the path meanwhile, and must not pair one save's vectors with another's
        # generation.
        with f:
            vi.file_stamp = _stamp(os.fstat(f.fileno()))
            generation = _trailer_generation(f)
            f.seek(0)
            try:
                loaded = faiss.read_index(faiss.PyCallbackIOReader(f.read))
            except RuntimeError:
                loaded = None  # a torn or foreign file: rebuilt from SQL
        if isinstance(loaded, faiss.IndexIDMap2) and loaded.d == dim:
            vi.index = loaded  # keep this object: it owns the inner index's memory
            vi.kind = _kind_of(loaded)
            vi.generation = generation
        return vi

    def __len__(self) -> int:
        return self.index.ntotal

    def fits(self, count: int) -> bool:
        """Whether this index's kind is the one a collection of `count` vectors calls for."""
        return index_kind_for(count) == self.kind

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

    def clear(self) -> None:
        """Drop every vector (before a rebuild of an index that cannot be trusted id by id)."""
        self.dirty = self.dirty or len(self) > 0
        self.index, self.kind = _new_index(self.dim, "exact"), "exact"
        self.generation = None

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
        """Write the index and the generation it reflects to a temp file and rename it, so a
        reader never sees half an index, nor vectors with another generation than theirs."""
        if not self.dirty and (self.path.exists() or not len(self)):
            return  # saved already, or nothing to save
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # A temp name of our own: the indexer and a server may both write this index.
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        faiss.write_index(self.index, str(tmp))
        with open(tmp, "ab") as f:
            if self.generation is not None:  # else saved untrusted: the next open rebuilds it
                f.write(_TRAILER.pack(_MAGIC, self.generation))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        self._remove_dead_temp_files()
        self.dirty = False
        self.file_stamp = file_stamp(self.path)

    def _remove_dead_temp_files(self) -> None:
        """Temp files of this index left by processes that were killed while saving."""
        for tmp in self.path.parent.glob(f"{self.path.name}.*.tmp"):
            pid = tmp.name.removeprefix(f"{self.path.name}.").removesuffix(".tmp")
            if pid.isdigit() and not _alive(int(pid)):
                tmp.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True
