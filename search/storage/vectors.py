"""One vector index per modality: a large base, trained and tuned once and rarely rewritten, plus a
small exact delta that takes every change, searched together as one.

The SQL database is the source of truth; the files here are a cache of it. The consistency
model (with search/storage/index_set.py): a segment id is never reused (AUTOINCREMENT) and its vector never
changes, so an id in both SQL and an index means the same vector in both. SQL counts the changes
to each modality's segments (its generation, bumped in the transaction of the change); the delta
file records the generation the index agrees with. An index at SQL's generation opens without
reading the segment table; one behind it is reconciled (ids compared, the missing fetched); one
with no readable file, or claiming a generation SQL never reached, is rebuilt from SQL. On disk,
per modality:

- `{m}.delta.npz`: the delta's ids, float16 vectors and places, the base ids removed since the
  base was written (filtered out of its results, never rewritten into it), the SQL generation
  all this agrees with, and which base epoch it goes with. Small; rewritten (temp file +
  rename) on each save. Renaming it is the one commit point: a kill at any other moment leaves
  the previous, complete pair of files.
- `{m}.base-{epoch}.faiss` (+ `.places.npz`, + `.f16` for the compressed kinds): written whole,
  under a new epoch, only when the delta is folded in (`merge`), then never touched again.

Kinds: `exact` (float16, every vector scanned) while the collection is small (`choose_kind`).
Past EXACT_LIMIT, where the vectors run in shots (`runs_in_shots`: a video's consecutive
frames that look alike), an index by shot (`shots,pqMx4fs`): the vectors are cut into shots
as they are written (a new shot at another video, at a vector below SHOT_COSINE from the one
before it, or past SHOT_MAX_LENGTH), each shot's centroid is kept in 4-bit product codes
scanned whole by SIMD lookups (FAISS fast-scan), and a query scores every vector of its
nearest shots exactly, from a float16 copy on disk (one read a shot: its rows are
consecutive). Elsewhere an inverted file over float16 codes (`ivfN,sq16`) when it fits the
memory setting, else over 4-bit product codes (`ivfN,pqMx4fs`) whose candidates are
re-scored exactly from the float16 copy, so only the codes stay in memory.

Why by shot. An inverted file's recall is limited by its coarse step: a text-like query lies
far from the frames it describes, and a list's centroid is the mean of many shots, so the
more shots share a list, the more lists must be read (at 10M even a quarter of them missed
the recall target). A shot's centroid is the mean of near-duplicates, so the query is as near
it as to the shot's frames and one or two shots hold its top 10; nothing is trained on the
vectors. Its cost: a query that looks like nothing in the library reads only the nearest
shots, and a merge builds it again. `python -m bench.scale` measures both kinds (recall, time
a query, bytes a vector, build time); docs/benchmarks.md has the latest figures. Removal by
IDSelector (inverted files) or by a filter on the scored ids (shots).

The shots searched, or `nprobe` and the re-scoring depth, are tuned when the base is built,
on held-out vectors of the library's own, to a recall target (as autofaiss does; see
bench/scale.py for why not autofaiss itself)."""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import faiss
import numpy as np

from vidseek.core.files import remove_abandoned, replaced_whole, write_whole
from vidseek.core.settings import IndexBudget
from vidseek.search.storage.places import LayeredPlaces, Places

log = logging.getLogger(__name__)

# Exact search scans every float16 vector for every query, so its cost grows with every vector
# (`python -m bench.exact_scan`); a query's budget is mostly the text encoder's, so a modality is
# searched exactly only while small.
EXACT_LIMIT = 20_000
TRAIN_PER_LIST = 40  # k-means sample per list (FAISS warns below 39)
TUNING_QUERIES = 300  # queries the tuning measures recall on
TUNING_K = 10
# The tuning queries are library vectors moved to this cosine from where they were: a text
# query lies about this far from the frames it describes (CLIP's caption-to-image cosines are
# 0.3-0.4), and such a query, near no stored vector, needs more lists probed than a stored
# vector does (whose own list answers it).
QUERY_COSINE = 0.4
# The tuning reaches the recall target plus this margin: its queries, made from the library's
# own vectors, read up to this much above unseen text-like queries (bench/scale.py prints both).
TUNING_MARGIN = 0.01
PQ_SUBQUANTIZERS_PER_DIM = 1 / 8  # product codes: 64 of 4 bits at d=512 (32 bytes)
RERANK_FACTORS = (2, 4, 8, 16, 32)  # candidates re-scored exactly, per hit asked for
# The delta is folded into the base when it passes this share of the base (so the rewrite
# amortises), but never later than MERGE_MAX: past that the delta's exact scan gets slow.
MERGE_SHARE, MERGE_MIN, MERGE_MAX = 0.1, 20_000, 200_000
CHUNK = 50_000
# Shots: a run of a video's vectors, each at least SHOT_COSINE from the one before it (at
# most SHOT_MAX_LENGTH long). A library whose vectors run in shots this long on average, and
# holds this many, is indexed by shot (see the module's docstring).
SHOT_COSINE = 0.8
SHOT_MAX_LENGTH = 64
SHOT_MIN_MEAN_LENGTH = 8
SHOTS_MIN = 1024
SHOT_PROBE_BLOCKS, SHOT_PROBE_LENGTH = 32, 256  # runs of consecutive vectors the kind is judged on
SHOT_TRAINING = 16_384  # shot centroids the product codes are trained on
SHOT_MAX_PROBE = 64  # shots a query's vectors are scored in, at the most (~3,200 rows read)


def choose_kind(count: int, dim: int, budget: IndexBudget) -> str:
    """The index kind for `count` vectors: exact while small and within memory, else an
    inverted file of ~4·sqrt(count) lists (a power of two) over float16 codes if they fit
    the memory budget, else over 4-bit product codes scanned by SIMD lookups (fast-scan),
    re-scored from disk."""
    if count <= EXACT_LIMIT and count * dim * 2 <= budget.memory_bytes:
        return "exact"
    nlist = 2 ** round(math.log2(4 * math.sqrt(max(count, 1))))
    if count * (dim * 2 + 8) <= budget.memory_bytes:
        return f"ivf{nlist},sq16"
    return f"ivf{nlist},{product_codes(dim)}"


def product_codes(dim: int) -> str:
    """4-bit product codes of `dim`-dimensional vectors, scanned by SIMD lookups (fast-scan)."""
    return f"pq{max(2, round(dim * PQ_SUBQUANTIZERS_PER_DIM))}x4fs"


def bytes_per_vector(kind: str, dim: int, per_list: float = 1.0) -> int:
    """Memory a vector of this kind takes in a serving process (codes + id); for shots, a
    shot's codes and where it starts shared by the `per_list` vectors of a shot on average."""
    if kind == "exact":
        return dim * 2 + 8
    lists, codes = kind.split(",")
    if codes == "sq16":
        return 8 + dim * 2
    # pqM: M bytes (indexes built before fast-scan); pqMx4fs: M half-bytes.
    subquantizers, _, bits = codes[2:].partition("x")
    code = int(subquantizers) * (4 if bits else 8) // 8
    return 8 + (math.ceil((code + 8) / per_list) if lists == "shots" else code)


def _new_faiss(kind: str, dim: int) -> faiss.Index:
    if kind == "exact":
        return faiss.IndexIDMap2(faiss.IndexScalarQuantizer(
            dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT))
    lists, codes = kind.split(",")
    if lists == "shots":  # the shots' centroids, searched whole through their product codes
        return faiss.index_factory(dim, "PQ" + codes[2:], faiss.METRIC_INNER_PRODUCT)
    factory = f"IVF{lists[3:]},{'SQfp16' if codes == 'sq16' else 'PQ' + codes[2:]}"
    return faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)


def shot_kind(dim: int) -> str:
    """The kind of an index by shot: its centroids in product codes."""
    return f"shots,{product_codes(dim)}"


def file_stamp(path: Path) -> tuple[int, int] | None:
    """What tells one saved version of a file from another."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_mtime_ns, st.st_size


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


def _saved_meta(index_dir: Path, modality: str) -> dict | None:
    try:
        with np.load(Path(index_dir) / f"{modality}.delta.npz") as z:
            return json.loads(str(z["meta"]))
    except (OSError, ValueError, KeyError):
        return None


def saved_generation(index_dir: Path, modality: str) -> int | None:
    """The SQL generation the saved index of `modality` agrees with, read from its small delta
    file alone; None when there is no readable one."""
    meta = _saved_meta(index_dir, modality)
    return meta["generation"] if meta else None


def describe_saved(index_dir: Path, modality: str, target: float | None = None) -> str | None:
    """What the saved index of `modality` is (kind, measured recall against the `target`, bytes
    per vector, base and delta sizes), read from its small delta file alone; None when there
    is none."""
    meta = _saved_meta(index_dir, modality)
    if meta is None:
        return None
    base, delta = meta["counts"]
    return (f"{Tuning(**meta['tuning']).describe(meta['dim'], target)}; {base} in the base, "
            f"{delta} in the delta")


def _merge_hits(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray],
                k: int) -> tuple[np.ndarray, np.ndarray]:
    scores = np.concatenate([a[0], b[0]], axis=1)
    ids = np.concatenate([a[1], b[1]], axis=1)
    scores = np.where(ids >= 0, scores, -np.inf)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, 1), np.take_along_axis(ids, order, 1)


class VectorIndex:
    """Inner-product search over the unit vectors of one modality: base + delta as one."""

    def __init__(self, index_dir: Path, modality: str, dim: int):
        self.index_dir, self.modality, self.dim = Path(index_dir), modality, dim
        self.base = Base.empty()
        self.epoch = 0  # which base files go with the delta; 0: none
        self.generation = -1  # the SQL generation this index agrees with; -1: unknown
        self._delta = _new_faiss("exact", dim)
        self._delta_places = Places.empty()
        self._removed = NOTHING_REMOVED  # base ids no longer in the library
        self.dirty = False
        self.file_stamp: tuple[int, int] | None = None  # of the delta file last read or written

    # --- files ---------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        """The delta file: the commit point of this index's state on disk."""
        return self.index_dir / f"{self.modality}.delta.npz"

    def _base_prefix(self, epoch: int) -> Path:
        return self.index_dir / f"{self.modality}.base-{epoch}"

    def _next_epoch(self) -> int:
        # A clock reading, not a count: a base built again after its files were thrown away
        # must not take a name a running server has already read.
        return max(self.epoch + 1, time.time_ns() // 1000)

    @classmethod
    def open(cls, index_dir: Path, modality: str, dim: int) -> VectorIndex:
        """Load the saved base and delta if readable and of this dimension, else start empty
        (generation -1, so the store reconciles it)."""
        vi = cls(index_dir, modality, dim)
        vi.refresh()
        return vi

    def refresh(self) -> None:
        """Read the delta file again (a small file), and the base only if it was rewritten."""
        stamp = file_stamp(self.path)
        try:
            with np.load(self.path) as z:
                meta = json.loads(str(z["meta"]))
                if meta["dim"] != self.dim:
                    return
                delta = _new_faiss("exact", self.dim)
                codes = z["vectors"]
                if len(codes):
                    delta.add_with_ids(codes.astype(np.float32), z["ids"])
                delta_places = Places(z["ids"], z["video_ids"], z["t0"], z["t1"])
                removed = z["removed"]
            base = self.base
            if meta["epoch"] != self.epoch:
                base = (Base.load(self._base_prefix(meta["epoch"]), Tuning(**meta["tuning"]))
                        if meta["epoch"] else Base.empty())
        except (OSError, ValueError, KeyError, RuntimeError):
            return  # none yet, torn or foreign (a base of an epoch since folded away): reconcile
        self.base, self.epoch, self.generation = base, meta["epoch"], meta["generation"]
        self._delta, self._delta_places = delta, delta_places
        self._set_removed(removed)
        self.file_stamp, self.dirty = stamp, False

    def changed_on_disk(self) -> bool:
        """Another process has saved a newer version since this one was read or written."""
        return not self.dirty and self.file_stamp != file_stamp(self.path)

    def save(self) -> None:
        """Write the delta file (temp + fsync + rename): small, whatever the base's size."""
        if not self.dirty and self.path.exists():
            return
        meta = {"dim": self.dim, "epoch": self.epoch, "generation": self.generation,
                "tuning": asdict(self.base.tuning),
                "counts": [len(self.base) - len(self._removed.ids), self._delta.ntotal]}
        p = self._delta_places
        codes = faiss.vector_to_array(faiss.downcast_index(self._delta.index).codes)
        write_whole(self.path, lambda f: np.savez(
            f, meta=json.dumps(meta), ids=p.ids, vectors=codes.view("<f2").reshape(-1, self.dim),
            video_ids=p.video_ids, t0=p.t0, t1=p.t1, removed=self._removed.ids))
        self.dirty = False
        self.file_stamp = file_stamp(self.path)
        self._drop_other_epochs()

    def _drop_other_epochs(self) -> None:
        """Delete the files of other bases (a server that has one open keeps reading it), and
        the temp files of writers that were killed."""
        mine = self._base_prefix(self.epoch).name
        remove_abandoned(self.index_dir, f"{self.modality}.*")
        for f in self.index_dir.glob(f"{self.modality}.base-*"):
            if not f.name.startswith(mine + ".") and not f.name.endswith(".tmp"):
                f.unlink(missing_ok=True)
        (self.index_dir / f"{self.modality}.faiss").unlink(missing_ok=True)  # older layout

    # --- contents ------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.base) - len(self._removed.ids) + self._delta.ntotal

    @property
    def kind(self) -> str:
        return self.base.tuning.kind if len(self.base) else "exact"

    @property
    def tuning(self) -> Tuning:
        return self.base.tuning


    @property
    def places(self) -> LayeredPlaces:
        """Where each vector is: the delta's places over the base's."""
        return LayeredPlaces(self.base.places, self._delta_places, self._removed.ids)

    def ids(self) -> np.ndarray:
        return self.places.ids

    def clear(self) -> None:
        """Forget every vector (an index that cannot be trusted id by id); the next save
        writes it empty and deletes the old base's files."""
        self.base, self.epoch = Base.empty(), 0
        self._delta = _new_faiss("exact", self.dim)
        self._delta_places = Places.empty()
        self._set_removed(np.zeros(0, np.int64))
        self.dirty = True

    def stored_vectors(self, ids: np.ndarray) -> np.ndarray:
        """The float16 copies this index holds for these ids (all held), as float32 rows."""
        ids = np.asarray(ids, dtype=np.int64)
        out = np.empty((len(ids), self.dim), np.float32)
        in_delta = self._delta_places.find(ids).mask
        for row in np.flatnonzero(in_delta):
            out[row] = self._delta.reconstruct(int(ids[row]))
        rest = ids[~in_delta]
        if len(rest):
            out[~in_delta] = (self.base.vectors(rest, self.dim) if self.base._fd is not None
                              else np.stack([self.base.index.reconstruct(int(i)) for i in rest]))
        return out

    def add(self, ids: np.ndarray, vectors: np.ndarray, places: Places) -> None:
        """Add vectors (and their places) to the delta."""
        if len(ids):
            self._delta.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32),
                                     np.asarray(ids, dtype=np.int64))
            self._delta_places = self._delta_places.plus(places)
            self.dirty = True

    def remove(self, ids) -> None:
        """Drop these ids: from the delta, and from the base by remembering them as removed."""
        ids = np.unique(np.asarray(list(ids), dtype=np.int64))
        if not len(ids):
            return
        if self._delta.ntotal:
            self._delta.remove_ids(ids)
            self._delta_places = self._delta_places.without(ids)
        in_base = ids[self.base.places.find(ids).mask]
        if len(in_base):
            self._set_removed(np.union1d(self._removed.ids, in_base))
        self.dirty = True

    def _set_removed(self, removed: np.ndarray) -> None:
        self._removed = Removed.of(removed)

    def search(self, queries: np.ndarray, k: int,
               tuning: Tuning | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(scores, ids) of shape (n_queries, <=k), best first; missing hits have id -1.
        `tuning` overrides the base's own (to measure another nprobe)."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        k = max(1, min(k, len(self)))
        if len(self) == 0:
            n = len(queries)
            return np.zeros((n, 0), np.float32), np.zeros((n, 0), np.int64)
        hits = self.base.search(queries, k, self._removed, tuning)
        if self._delta.ntotal:
            delta = self._delta.search(queries, min(k, self._delta.ntotal))
            hits = _merge_hits(hits, delta, k) if hits[1].shape[1] else delta
        return hits

    # --- keeping in line with SQL --------------------------------------------------------
    def reconcile(self, sql_ids: np.ndarray,
                  fetch: Callable[[np.ndarray], tuple[np.ndarray, Places]]) -> bool:
        """Make the index hold exactly `sql_ids` (ascending): drop extras, add the missing ones
        to the delta (`fetch` gives their vectors and places). True when anything changed."""
        have = self.ids()
        extra = np.setdiff1d(have, sql_ids, assume_unique=True)
        self.remove(extra)
        missing = np.setdiff1d(sql_ids, have, assume_unique=True)
        for start in range(0, len(missing), CHUNK):
            chunk = missing[start:start + CHUNK]
            vectors, places = fetch(chunk)
            self.add(chunk, vectors, places)
        return self.dirty

    def merge_due(self, budget: IndexBudget) -> bool:
        """Whether folding the delta into the base is due: the delta is large against the
        base, or the collection has crossed the exact limit (either way: an exact base of
        a size since measured too slow to scan is replaced too)."""
        n = self._delta.ntotal
        if n >= min(max(MERGE_MIN, MERGE_SHARE * len(self.base)), MERGE_MAX):
            return True
        return (self.kind == "exact") != (choose_kind(len(self), self.dim, budget) == "exact")

    def merge(self, budget: IndexBudget,
              fetch: Callable[[np.ndarray], tuple[np.ndarray, Places]]) -> None:
        """Fold the delta into a new base: the delta's vectors are added to a copy of the base
        and it is tuned again; the base is built again (trained) instead when the collection's
        size calls for another kind, or when the copy no longer reaches the recall target and
        reads below the base it was copied from."""
        places = self.places.live()
        kind = choose_kind(len(places), self.dim, budget)
        # An index by shot is built again whole (it trains nothing on the vectors); so is an
        # inverted file over vectors that are found to run in shots.
        if kind == "exact" or kind != self.base.tuning.kind or runs_in_shots(places, fetch):
            self.rebuild(places, fetch, budget)
            return
        epoch = self._next_epoch()
        prefix = self._base_prefix(epoch)
        index, tuning = self._grown_base(places, prefix, budget)
        if tuning.recall < min(budget.recall, self.base.tuning.recall - TUNING_MARGIN):
            # The new vectors lie where the trained lists and codes fit them badly: train
            # again on what the library holds now. Not when the base itself never reached the
            # target (its most thorough setting falls short) and the grown copy reads as well
            # as it did: training again would give the same, at the cost of a full build.
            self.rebuild(places, fetch, budget)
            return
        self._commit_base(index, tuning, places, epoch)

    def rebuild(self, places: Places, fetch: Callable[[np.ndarray], tuple[np.ndarray, Places]],
                budget: IndexBudget) -> None:
        """A new base of the kind these places' count calls for, trained and tuned, holding
        exactly them (vectors from `fetch`); the delta starts empty."""
        epoch = self._next_epoch()
        kind = choose_kind(len(places), self.dim, budget)
        self.index_dir.mkdir(parents=True, exist_ok=True)
        self._commit_base(*build(kind, self.dim, places, fetch, budget, self._base_prefix(epoch)),
                          places, epoch)

    def _commit_base(self, index: faiss.Index, tuning: Tuning, places: Places,
                     epoch: int) -> None:
        """Write the new base's files whole, then the delta file naming them (the commit
        point): a kill at any moment leaves a complete, consistent pair on disk."""
        prefix = self._base_prefix(epoch)
        write_whole(Path(f"{prefix}.faiss"),
                      lambda f: faiss.write_index(index, faiss.PyCallbackIOWriter(f.write)))
        write_whole(Path(f"{prefix}.places.npz"), lambda f: np.savez(
            f, ids=places.ids, video_ids=places.video_ids, t0=places.t0, t1=places.t1))
        self.base = Base.load(prefix, tuning)
        self.epoch = epoch
        self._delta = _new_faiss("exact", self.dim)
        self._delta_places = Places.empty()
        self._set_removed(np.zeros(0, np.int64))
        self.dirty = True
        self.save()

    def _grown_base(self, places: Places, prefix: Path,
                    budget: IndexBudget) -> tuple[faiss.Index, Tuning]:
        """A copy of the base without its removed ids, plus the delta: no retraining, but tuned
        again (new content may sit where the trained lists fit it less well)."""
        started = time.monotonic()
        index = faiss.clone_index(self.base.index)
        if len(self._removed.ids):
            index.remove_ids(self._removed.batch)
        delta_ids = faiss.vector_to_array(self._delta.id_map)
        delta_vectors = self._delta.index.reconstruct_n(0, self._delta.ntotal)
        row_of = dict(zip(delta_ids.tolist(), range(len(delta_ids))))

        def read(chunk: np.ndarray) -> np.ndarray:
            new = np.isin(chunk, delta_ids)
            out = np.empty((len(chunk), self.dim), np.float32)
            out[~new] = self.base.vectors(chunk[~new], self.dim)
            out[new] = delta_vectors[[row_of[i] for i in chunk[new].tolist()]]
            return out

        tuning = _fill_and_tune(index, self.base.tuning.kind, places, read,
                                lambda chunk: np.isin(chunk, delta_ids), budget, prefix)
        return index, replace(tuning, train_seconds=round(time.monotonic() - started, 1))


def build(kind: str, dim: int, places: Places,
          fetch: Callable[[np.ndarray], tuple[np.ndarray, Places]], budget: IndexBudget,
          prefix: Path) -> tuple[faiss.Index, Tuning]:
    """An index of `kind` holding the vectors of `places` (read by `fetch`); one by shot
    instead of an inverted file where the vectors run in shots (runs_in_shots). Both are
    tuned to the recall target; an inverted file is first trained on a sample."""
    started = time.monotonic()
    ids = places.ids
    index = _new_faiss(kind, dim)
    if kind == "exact":
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start:start + CHUNK]
            index.add_with_ids(np.ascontiguousarray(fetch(chunk)[0], np.float32), chunk)
        return index, Tuning(kind)
    if runs_in_shots(places, fetch):
        index, tuning = _build_shots(shot_kind(dim), dim, places, lambda c: fetch(c)[0], budget,
                                     prefix)
        return index, replace(tuning, train_seconds=round(time.monotonic() - started, 1))
    nlist = faiss.extract_index_ivf(index).nlist
    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(ids, size=min(len(ids), nlist * TRAIN_PER_LIST), replace=False))
    if faiss.get_num_gpus():  # faiss-gpu (the `gpu` extra) and a GPU: k-means runs there
        faiss.extract_index_ivf(index).clustering_index = faiss.index_cpu_to_all_gpus(
            faiss.IndexFlatIP(dim))
    training = np.ascontiguousarray(fetch(sample)[0], dtype=np.float32)
    trained = time.monotonic()
    index.train(training)
    log.info("%s: %d vectors read in %.0f s, trained in %.0f s", kind, len(sample),
             trained - started, time.monotonic() - trained)
    tuning = _fill_and_tune(index, kind, places, lambda chunk: fetch(chunk)[0],
                            lambda chunk: np.ones(len(chunk), bool), budget, prefix)
    return index, replace(tuning, train_seconds=round(time.monotonic() - started, 1))


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


def _build_shots(kind: str, dim: int, places: Places, read: Callable[[np.ndarray], np.ndarray],
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

    queries, truth, seconds = _write_vectors(places, read, prefix, cut)
    bounds = shot_bounds(cuts)
    base = Base(None, places, Tuning(kind), Path(f"{prefix}.f16"), bounds)
    centroids = np.zeros((len(bounds) - 1, dim), np.float32)
    per_read = max(1, CHUNK // SHOT_MAX_LENGTH)
    for first in range(0, len(centroids), per_read):  # a second pass, over the local file
        last = min(first + per_read, len(centroids))
        rows = base.rows([(int(bounds[first]), int(bounds[last]))], dim)
        centroids[first:last] = np.add.reduceat(rows, bounds[first:last] - bounds[first], axis=0)
    centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    index = _new_faiss(kind, dim)
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


def _write_vectors(places: Places, read: Callable[[np.ndarray], np.ndarray], prefix: Path,
                   each: Callable[[int, np.ndarray], None]
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


def _fill_and_tune(index: faiss.Index, kind: str, places: Places,
                   read: Callable[[np.ndarray], np.ndarray],
                   is_new: Callable[[np.ndarray], np.ndarray], budget: IndexBudget,
                   prefix: Path) -> Tuning:
    """Add the vectors of `places` that `is_new` marks to the trained inverted file `index`
    as they are written (_write_vectors), then tune it on the text-like queries."""
    def add(start: int, vectors: np.ndarray) -> None:
        chunk = places.ids[start:start + len(vectors)]
        new = is_new(chunk)
        if new.any():
            index.add_with_ids(np.ascontiguousarray(vectors[new]), chunk[new])

    queries, truth, seconds = _write_vectors(places, read, prefix, add)
    base = Base(index, places, Tuning(kind), Path(f"{prefix}.f16"))
    started = time.monotonic()
    tuning = tune(base, queries, truth, budget.recall)
    log.info("%s: %d vectors; seconds %s; tuned in %.0f s: %s", kind, len(places),
             {part: round(took) for part, took in seconds.items()},
             time.monotonic() - started, tuning.describe(queries.shape[1]))
    return tuning


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
