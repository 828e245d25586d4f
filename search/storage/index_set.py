"""The index set: the vector index of each modality (search/storage/vectors.py), kept in line with SQL.

The consistency model, all of it:
- SQL is the truth; index files are a cache of it. A segment id is never reused and its
  vector never changes, so an id in both SQL and an index means the same vector in both.
- Segments change only through `change()`: one transaction that deletes and inserts segment
  rows and, before it commits, counts one more change (a generation) for each modality it
  touched. An index holds the generation it reflects, and saves it in its delta file.
- Only after the commit do the indexes this process holds open follow the change in memory,
  so they never hold an uncommitted id; one that reflected the generation just before now
  reflects the new one. One that missed another writer's change keeps its older generation.
- Index files are written by `save()`: at least every minute of an index run, after removals,
  at its end, and on close. An index whose generation differs from SQL's is reconciled first,
  so a saved index always agrees with SQL at the generation it records.
- A reader (another process, a running server) opens an index from its files. Saved at SQL's
  generation, it is used as it is, the segment table unread; behind (a crash between a commit
  and a save) or claiming a generation SQL never reached, it is reconciled: ids compared, the
  missing fetched, or with many missing built again; the repair is saved. An open index whose
  delta file another process has rewritten since is read again (the delta only) on its next
  use, and the video paths with it.
- `rebuild()`, and a change that drops every segment, throw the files away."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from vidseek.core.records import STORED_MODALITIES
from vidseek.core.settings import IndexBudget
from vidseek.search.storage.catalogue import Catalogue
from vidseek.search.storage.model_state import ModelState
from vidseek.search.storage.places import LayeredPlaces, Places
from vidseek.search.storage.schema import SegmentGeneration
from vidseek.search.storage.segment_table import SegmentChange, SegmentTable
from vidseek.search.storage.vectors import VectorIndex, describe_saved, saved_generation


def bump_generations(s: Session, modalities: Iterable[str]) -> dict[str, int]:
    """One more change to each of these modalities, inside the transaction that makes it;
    returns their new generations."""
    for modality in sorted(set(modalities)):
        bumped = s.execute(update(SegmentGeneration).where(SegmentGeneration.modality == modality)
                           .values(generation=SegmentGeneration.generation + 1))
        if not bumped.rowcount:
            s.add(SegmentGeneration(modality=modality, generation=1))
            s.flush()
    return dict(s.execute(select(SegmentGeneration.modality, SegmentGeneration.generation)
                          .where(SegmentGeneration.modality.in_(set(modalities)))).all())


class IndexSet:
    """The open vector indexes of one library, the places beside them, and their files."""

    def __init__(self, engine: Engine, index_dir: Path, budget: IndexBudget, model: ModelState,
                 segments: SegmentTable, catalogue: Catalogue):
        self.engine, self.index_dir, self.budget = engine, Path(index_dir), budget
        self.model, self.segments, self.catalogue = model, segments, catalogue
        self._indexes: dict[str, VectorIndex] = {}
        # The files of the videos those places are in, read with them: a query names the
        # videos of its moments without reading SQL (see search/storage/places.py for why).
        self._video_paths: dict[int, str] = {}

    def generations(self) -> dict[str, int]:
        """How many times each modality's segments have changed (0 if never): what an index
        reflecting SQL exactly records as its generation."""
        with self.engine.connect() as c:
            return dict(c.execute(select(SegmentGeneration.modality,
                                         SegmentGeneration.generation)).all())

    @contextmanager
    def change(self, adding: Iterable[str] = ()) -> Iterator[SegmentChange]:
        """One transaction that changes segments, made through the change yielded; the open
        indexes follow it once it commits. The indexes of `adding` (the modalities it adds
        to) are opened, and reconciled, first: so the new ids are added exactly once."""
        indexes = {m: self.index(m) for m in adding}
        with Session(self.engine) as s, s.begin():
            change = SegmentChange(s)
            yield change
            generations = bump_generations(s, change.modalities())
        if change.everything:
            self._indexes.clear()
            self._drop_files()
            return
        for modality, ids in change.dropped.items():
            if modality in self._indexes:
                self._indexes[modality].remove(ids)
        for modality, (ids, vectors, places) in change.additions().items():
            indexes[modality].add(ids, vectors, places)
        for video_id, path in change.video_paths.items():
            if path is None:
                self._video_paths.pop(video_id, None)
            else:
                self._video_paths[video_id] = path
        for modality, generation in generations.items():
            # Reflected the generation just before: now reflects this one. Missed another
            # writer's change: keeps its older one, so it is reconciled before it is saved.
            vi = self._indexes.get(modality)
            if vi is not None and vi.generation == generation - 1:
                vi.generation = generation

    def index(self, modality: str) -> VectorIndex:
        """The vector index of one modality. Opened from its files, and reconciled with SQL only
        when they are behind it (a crash, another writer); read again, delta only, when another
        process (a running `vidseek index`) has saved since."""
        vi = self._indexes.get(modality)
        if vi is None:
            dim = self.model.dim_of(modality)
            if dim is None:
                raise RuntimeError("the library holds no vectors yet: run `vidseek index FOLDER`")
            vi = VectorIndex.open(self.index_dir, modality, dim)
            self._video_paths = self.catalogue.paths()
            if vi.generation != self.generations().get(modality, 0):
                self._reconcile(modality, vi)
                self._save(vi)  # repaired on disk too, so this process follows later saves again
            self._indexes[modality] = vi
        elif vi.changed_on_disk():
            vi.refresh()
            self._video_paths = self.catalogue.paths()
        return vi

    def places(self, modality: str) -> LayeredPlaces:
        """Where the vectors of the index last opened by `index(modality)` are."""
        vi = self._indexes.get(modality)
        return vi.places if vi else LayeredPlaces(Places.empty(), Places.empty(),
                                                  np.zeros(0, np.int64))

    def video_path(self, video_id: int) -> str | None:
        """The file of a video that the open indexes hold segments of, from memory."""
        return self._video_paths.get(video_id)

    def vector_count(self, modality: str) -> int:
        """How many vectors a query of this modality searches (0 in an empty library)."""
        if modality not in self._indexes and self.model.dim_of(modality) is None:
            return 0
        return len(self.index(modality))

    def segment_at(self, modality: str, video_id: int, t: float) -> int | None:
        """The segment of `video_id` in this modality at second `t`, read from the places in
        memory: those of the search just run, or of the index opened now if it was not."""
        if modality not in self._indexes and not self.vector_count(modality):
            return None
        return self.places(modality).at(video_id, t)

    def describe(self, modality: str) -> str | None:
        """The saved index's kind, measured recall (against the target) and bytes per vector
        (`vidseek status`)."""
        return describe_saved(self.index_dir, modality, self.budget.recall)

    def _reconcile(self, modality: str, vi: VectorIndex, rebuild: bool = False) -> None:
        """Bring `vi` in line with SQL: the segment ids are read (not the rows); the vectors and
        places of those missing are fetched. Many missing (no usable files), or `rebuild`:
        built again, of the kind its size calls for, trained and tuned."""
        # The generation is read before the ids: a commit in between makes the index look
        # behind (reconciled again later), never current while it misses a change.
        generation = self.generations().get(modality, 0)
        sql_ids = self.segments.ids(modality)
        missing = len(sql_ids) - len(np.intersect1d(sql_ids, vi.ids(), assume_unique=True))
        if vi.generation > generation:
            # Claims a generation SQL never reached (another library's file, a database put
            # back from a backup): rebuilt from SQL, not trusted id by id. (No readable file at
            # all opens empty, at generation -1.)
            vi.clear()
            missing = len(sql_ids)
        fetch = self.segments.vectors_and_places
        if rebuild or (missing > max(len(vi), 1) and missing >= 10_000):
            vi.rebuild(self.segments.places(modality), fetch, self.budget)
        else:
            vi.reconcile(sql_ids, fetch)
        vi.generation, vi.dirty = generation, True

    def _save(self, vi: VectorIndex) -> None:
        """Save the index, folding its delta into the base first when that is due."""
        if vi.merge_due(self.budget):
            vi.merge(self.budget, self.segments.vectors_and_places)
        vi.save()

    def save(self) -> None:
        """Persist every index that changed (a small delta file; the base only when the delta
        is folded into it). An index behind SQL (a Ctrl-C between a commit and its index
        update) is reconciled first, so a saved index always agrees with SQL."""
        if self.model.dim is None:
            return  # no vectors were ever stored
        generations = self.generations()
        for modality in sorted(set(STORED_MODALITIES) | set(generations) | set(self._indexes)):
            vi = self._indexes.get(modality)
            if vi is None:
                saved = saved_generation(self.index_dir, modality)
                if saved is None or saved == generations.get(modality, 0):
                    continue  # nothing saved, or saved as SQL is: opened from SQL when needed
                vi = self.index(modality)  # a change (a removal) left its file behind
            elif vi.generation != generations.get(modality, 0):
                self._reconcile(modality, vi)
            self._save(vi)

    def rebuild(self) -> dict[str, int]:
        """Throw the index files away and build them again from the stored vectors (the delta
        folded in); returns each index's size."""
        self._indexes.clear()
        self._drop_files()
        for modality in STORED_MODALITIES:
            if self.segments.count(modality):
                vi = VectorIndex(self.index_dir, modality, self.model.dim_of(modality))
                self._reconcile(modality, vi, rebuild=True)
                vi.save()
                self._indexes[modality] = vi
        self._video_paths = self.catalogue.paths()
        return {modality: len(vi) for modality, vi in self._indexes.items()}

    def _drop_files(self) -> None:
        for modality in STORED_MODALITIES:
            for f in self.index_dir.glob(f"{modality}.*"):
                f.unlink(missing_ok=True)
