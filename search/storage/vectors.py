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

Here: the delta, the files, building a base and folding the delta into it. The base and its
search are in search/storage/base.py, the choice of its kind in index_kinds.py, the index by
shot in shots.py, and the tuning of its search to a recall target in tuning.py."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path

import faiss
import numpy as np

from vidseek.core.files import remove_abandoned, write_whole
from vidseek.core.settings import IndexBudget
from vidseek.search.storage.base import CHUNK, NOTHING_REMOVED, Base, Removed, Tuning
from vidseek.search.storage.index_kinds import choose_kind, new_faiss_index, shot_kind
from vidseek.search.storage.places import LayeredPlaces, Places
from vidseek.search.storage.shots import build_shots, runs_in_shots
from vidseek.search.storage.tuning import TUNING_MARGIN, tune, write_vectors_and_truth

log = logging.getLogger(__name__)

TRAIN_PER_LIST = 40  # k-means sample per list (FAISS warns below 39)
# The delta is folded into the base when it passes this share of the base (so the rewrite
# amortises), but never later than MERGE_MAX: past that the delta's exact scan gets slow.
MERGE_SHARE, MERGE_MIN, MERGE_MAX = 0.1, 20_000, 200_000


def file_stamp(path: Path) -> tuple[int, int] | None:
    """What tells one saved version of a file from another."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_mtime_ns, st.st_size


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
        self._delta = new_faiss_index("exact", dim)
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
                delta = new_faiss_index("exact", self.dim)
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
        self._delta = new_faiss_index("exact", self.dim)
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
            out[~in_delta] = (self.base.vectors(rest, self.dim) if self.base.has_vectors_file
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
        self._delta = new_faiss_index("exact", self.dim)
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
    index = new_faiss_index(kind, dim)
    if kind == "exact":
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start:start + CHUNK]
            index.add_with_ids(np.ascontiguousarray(fetch(chunk)[0], np.float32), chunk)
        return index, Tuning(kind)
    if runs_in_shots(places, fetch):
        index, tuning = build_shots(shot_kind(dim), dim, places, lambda c: fetch(c)[0], budget,
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


def _fill_and_tune(index: faiss.Index, kind: str, places: Places,
                   read: Callable[[np.ndarray], np.ndarray],
                   is_new: Callable[[np.ndarray], np.ndarray], budget: IndexBudget,
                   prefix: Path) -> Tuning:
    """Add the vectors of `places` that `is_new` marks to the trained inverted file `index`
    as they are written (write_vectors_and_truth), then tune it on the text-like queries."""
    def add(start: int, vectors: np.ndarray) -> None:
        chunk = places.ids[start:start + len(vectors)]
        new = is_new(chunk)
        if new.any():
            index.add_with_ids(np.ascontiguousarray(vectors[new]), chunk[new])

    queries, truth, seconds = write_vectors_and_truth(places, read, prefix, add)
    base = Base(index, places, Tuning(kind), Path(f"{prefix}.f16"))
    started = time.monotonic()
    tuning = tune(base, queries, truth, budget.recall)
    log.info("%s: %d vectors; seconds %s; tuned in %.0f s: %s", kind, len(places),
             {part: round(took) for part, took in seconds.items()},
             time.monotonic() - started, tuning.describe(queries.shape[1]))
    return tuning
