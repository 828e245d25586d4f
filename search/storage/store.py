"""The library on disk, as one object: SQL metadata (the source of truth) plus one FAISS index
per modality. Each part can be read alone:

- search/storage/database.py: the engine and the migrations;
- search/storage/catalogue.py: the videos table (status, fingerprints, lookups);
- search/storage/segment_table.py: segments, thumbnails, stored vectors, raw audio features;
- search/storage/index_set.py: the FAISS indexes, their places and files, and the consistency model
  (when index files are written, how a reader notices and reconciles);
- search/storage/model_state.py: which models made the vectors;
- search/storage/folders.py: the folders the library remembers.

`Store` holds them, writes what spans them (a video and its segments, in one transaction),
and passes the rest through, so callers keep one object: the methods under a `--- part ---`
line are that part's, documented there."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from sqlalchemy import delete, select

from vidseek.core.records import (
    AudioFeatures,
    Fingerprint,
    MediaInfo,
    Segment,
    Storyboard,
    StoryboardTiles,
)
from vidseek.core.settings import IndexBudget
from vidseek.search.storage.catalogue import (
    Catalogue,
    VideoRecord,
    mark_all_pending,
    record_failed,
    record_indexed,
    video_row,
)
from vidseek.search.storage.database import make_engine, migrate
from vidseek.search.storage.folders import (
    FolderTable,
    exclude_paths,
    forget,
    remembered,
    videos_to_forget,
)
from vidseek.search.storage.index_set import IndexSet
from vidseek.search.storage.model_state import ModelState, erase_state, write_state
from vidseek.search.storage.places import LayeredPlaces
from vidseek.search.storage.schema import AudioFeatureRow, SegmentRow, Video
from vidseek.search.storage.segment_table import SegmentChange, SegmentRecord, SegmentTable
from vidseek.search.storage.storyboards import StoryboardTable, write_storyboard
from vidseek.search.storage.vectors import VectorIndex


def _remove(change: SegmentChange, paths: Iterable[str]) -> int:
    """Remove the videos of these paths that the catalogue knows, within `change`; how many."""
    removed = 0
    for v in filter(None, (video_row(change.session, path) for path in paths)):
        change.remove_video(v)
        removed += 1
    return removed


class Store:
    """SQL + FAISS for one library. The SQL database decides what exists."""

    def __init__(self, url: str, index_dir: Path, budget: IndexBudget):
        self.engine = make_engine(url)
        migrate(self.engine)
        self.model = ModelState(self.engine)
        self.catalogue = Catalogue(self.engine)
        self.folders = FolderTable(self.engine)
        self.segments = SegmentTable(self.engine, self.model)
        self.storyboards = StoryboardTable(self.engine)
        # `budget`: what each index may cost, and must find.
        self.indexes = IndexSet(self.engine, index_dir, budget, self.model,
                                self.segments, self.catalogue)

    # --- writes that span the parts: each one transaction ------------------------------
    def save_video(self, path: str, fp: Fingerprint, info: MediaInfo,
                   segments: list[Segment], audio: AudioFeatures | None = None,
                   warning: str | None = None, storyboard: Storyboard | None = None,
                   analysis_pending: str | None = None) -> int:
        """Replace everything known about `path` with these segments (and raw audio window
        features, what was ignored while indexing it, its storyboard), in one transaction;
        `analysis_pending` names the signals a later pass adds (frames first)."""
        with self.indexes.change({g.modality for g in segments}) as change:
            v = video_row(change.session, path) or Video(path=path)
            record_indexed(v, fp, info, warning)
            v.analysis_pending = analysis_pending
            change.empty_video(v)
            change.add(v, segments)
            if audio is not None:
                change.add_audio_features(v.id, audio)
            write_storyboard(change.session, v.id, storyboard)
            video_id = v.id
        return video_id

    def save_failure(self, path: str, fp: Fingerprint, reason: str) -> None:
        """Record that `path` could not be indexed and why; earlier segments are dropped."""
        with self.indexes.change() as change:
            v = video_row(change.session, path) or Video(path=path)
            record_failed(v, fp, reason)
            change.empty_video(v)
            write_storyboard(change.session, v.id, None)

    def save_signals(self, video_id: int, segments: list[Segment],
                     audio: AudioFeatures | None, warning: str | None) -> None:
        """The later pass of a video stored frames first: every segment but its frames, and
        its raw audio features, replaced by these, the video then complete, in one
        transaction."""
        with self.indexes.change({g.modality for g in segments}) as change:
            v = change.session.get(Video, video_id)
            change.drop(SegmentRow.video_id == video_id, SegmentRow.modality != "frame")
            change.session.execute(delete(AudioFeatureRow)
                                   .where(AudioFeatureRow.video_id == video_id))
            change.add(v, segments)
            if audio is not None:
                change.add_audio_features(video_id, audio)
            v.warning, v.analysis_pending = warning, None

    def replace_video_segments(self, path: str, modality: str, segments: list[Segment],
                               fp: Fingerprint, warning: str | None) -> None:
        """Swap one modality's segments of an indexed video for these (its subtitles, after a
        subtitle file changed), with its new fingerprint and warning, in one transaction."""
        with self.indexes.change({modality} if segments else ()) as change:
            v = video_row(change.session, path)
            change.drop(SegmentRow.video_id == v.id, SegmentRow.modality == modality)
            v.size, v.mtime_ns, v.subtitle_stamp, v.warning = (fp.size, fp.mtime_ns,
                                                               fp.subtitle_stamp, warning)
            change.add(v, segments)

    def replace_audio_segments(self, segments: dict[int, list[Segment]], **state: str) -> int:
        """Swap every `audio` segment for these (by video id) and record `state`, in one
        transaction; the audio index then follows. Returns how many segments were written."""
        with self.indexes.change({"audio"}) as change:
            # Old rows out before new ones in is safe: a segment id is never reused, so no id
            # a running server still holds comes back meaning another segment.
            change.drop(SegmentRow.modality == "audio")
            for video_id, video_segments in segments.items():
                change.add(change.session.get(Video, video_id), video_segments)
            write_state(change.session, **state)
        self.indexes.save()
        return self.segment_count("audio")

    def remove_videos(self, paths: Iterable[str], exclude: Iterable[str] = ()) -> int:
        """Forget these videos (gone, or removed by the user): their rows, segments, vectors,
        thumbnails, labels and chapters, never their files; returns how many were removed.
        `exclude`: paths later scans leave out, recorded in the same transaction."""
        with self.indexes.change() as change:
            exclude_paths(change.session, exclude)
            return _remove(change, paths)

    def forget_folder(self, folder: str) -> int | None:
        """Forget a remembered folder and the videos no other remembered folder holds, in one
        transaction; how many videos were removed, None when it was not remembered."""
        with self.indexes.change() as change:
            s = change.session
            if not forget(s, folder):
                return None
            return _remove(change, videos_to_forget(s.scalars(select(Video.path)), folder,
                                                    remembered(s)))

    def clear_segments(self) -> list[str]:
        """Drop every vector (before re-embedding with another model); videos become pending.
        Returns the paths to index again."""
        with self.indexes.change() as change:
            change.drop_all()
            erase_state(change.session)
            paths = mark_all_pending(change.session)
        return paths

    def save_indexes(self) -> None:
        """Persist every index that changed (see IndexSet.save)."""
        self.indexes.save()

    def rebuild_indexes(self) -> dict[str, int]:
        """Build every index again from the stored vectors (see IndexSet.rebuild)."""
        return self.indexes.rebuild()

    def close(self) -> None:
        """Save what changed and let go of the database."""
        self.indexes.save()
        self.engine.dispose()

    # --- folders (search/storage/folders.py) -------------------------------------------------
    def remembered_folders(self) -> list[str]:
        return self.folders.all()

    def remember_folder(self, path: str) -> bool:
        return self.folders.add(path)

    # --- what produced the vectors (search/storage/model_state.py) -------------------------------
    def state(self) -> dict[str, str]:
        return self.model.state()

    def set_state(self, **values: str) -> None:
        self.model.set_state(**values)

    def check_model(self, key: str, spec: str, in_use: bool) -> None:
        self.model.check_model(key, spec, in_use)

    def bind_model(self, key: str, spec: str, dim: int) -> None:
        """Record the model behind `key`'s vectors, refusing to mix it with another one."""
        self.model.bind_model(key, spec, dim, in_use=self.segments.any())

    def bind_face_model(self, spec: str, dim: int) -> None:
        """Record the face model behind the face vectors (a space of their own), refusing to
        mix it with another one."""
        self.model.bind_model("face_model", spec, dim, in_use=self.segments.count("face") > 0,
                              dim_key="face_dim")

    @property
    def dim(self) -> int | None:
        return self.model.dim

    # --- videos (search/storage/catalogue.py) ----------------------------------------------------
    def video(self, video_id: int) -> VideoRecord | None:
        return self.catalogue.video(video_id)

    def video_by_path(self, path: str) -> VideoRecord | None:
        return self.catalogue.video_by_path(path)

    def video_ids_with_hash(self, content_hash: str) -> list[int]:
        return self.catalogue.video_ids_with_hash(content_hash)

    def videos(self, status: str | None = None, offset: int = 0,
               limit: int | None = None) -> list[VideoRecord]:
        return self.catalogue.videos(status, offset, limit)

    def awaiting_analysis(self) -> list[VideoRecord]:
        return self.catalogue.awaiting_analysis()

    def analysis_pending(self, video_ids: Iterable[int]) -> dict[int, list[str]]:
        return self.catalogue.analysis_pending(video_ids)

    def warned_videos(self) -> list[VideoRecord]:
        return self.catalogue.warned_videos()

    def video_count(self, status: str | None = None) -> int:
        return self.catalogue.video_count(status)

    def status_counts(self) -> dict[str, int]:
        return self.catalogue.status_counts()

    def mark_pending(self, items: Iterable[tuple[str, Fingerprint]]) -> None:
        self.catalogue.mark_pending(items)

    def touch(self, path: str, fp: Fingerprint) -> None:
        self.catalogue.touch(path, fp)

    def mark_changed(self, video_id: int) -> None:
        self.catalogue.mark_changed(video_id)

    # --- segments (search/storage/segment_table.py) ----------------------------------------------
    def segment_count(self, modality: str | None = None) -> int:
        return self.segments.count(modality)

    def has_segments(self) -> bool:
        return self.segments.any()

    def modality_counts(self) -> dict[str, int]:
        return self.segments.modality_counts()

    def segment_ids(self, modality: str) -> np.ndarray:
        return self.segments.ids(modality)

    def video_segments(self, video_id: int, modality: str | None = None) -> list[SegmentRecord]:
        return self.segments.of_video(video_id, modality)

    def segment_texts(self, ids: Iterable[int]) -> dict[int, str]:
        return self.segments.texts(ids)

    def vectors(self, ids: np.ndarray) -> np.ndarray:
        return self.segments.vectors(ids)

    def thumbnail(self, segment_id: int) -> bytes | None:
        return self.segments.thumbnail(segment_id)

    # --- storyboards (search/storage/storyboards.py) ---------------------------------------------
    def storyboard(self, video_id: int) -> Storyboard | None:
        return self.storyboards.get(video_id)

    def storyboard_tiles(self, video_ids: list[int]) -> dict[int, StoryboardTiles]:
        return self.storyboards.tiles(video_ids)

    def audio_feature_count(self) -> int:
        return self.segments.audio_feature_count()

    def audio_features(self) -> Iterator[tuple[int, AudioFeatures]]:
        return self.segments.audio_features()

    # --- vector indexes (search/storage/index_set.py) --------------------------------------------
    def index(self, modality: str) -> VectorIndex:
        return self.indexes.index(modality)

    def places(self, modality: str) -> LayeredPlaces:
        return self.indexes.places(modality)

    def video_path(self, video_id: int) -> str | None:
        return self.indexes.video_path(video_id)

    def vector_count(self, modality: str) -> int:
        return self.indexes.vector_count(modality)

    def generations(self) -> dict[str, int]:
        return self.indexes.generations()

    def describe_index(self, modality: str) -> str | None:
        return self.indexes.describe(modality)

    def best_thumbnail_near(self, video_id: int, t: float) -> int | None:
        """The frame segment of `video_id` on screen at second `t` (each has its thumbnail)."""
        return self.indexes.segment_at("frame", video_id, t)
