"""What `vidseek status` reports, composed from a Library as plain data: counts, the models
and indexes in use, the state of the audio projection and the labels, and every file that
failed, waits or warned."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vidseek.core.errors import ModelMismatch
from vidseek.search.storage.store import VideoRecord

if TYPE_CHECKING:
    from vidseek.library import Library


@dataclass(frozen=True)
class LibraryStatus:
    data_dir: Path
    videos: dict[str, int]  # by status: indexed, failed, pending
    segments: dict[str, int]  # by modality
    state: dict[str, str]  # index_state, less the records summarised below
    audio_projection: str
    labels: str
    indexes: dict[str, str | None]  # per modality with segments: the saved index, if any
    failed: list[VideoRecord]
    pending: list[VideoRecord]
    warned: list[VideoRecord]


def library_status(lib: Library) -> LibraryStatus:
    """The status of `lib`, read from its store (no model is loaded)."""
    from vidseek.indexer.audio_projection import STATE_KEY as AUDIO_PROJECTION_KEY

    store = lib.store
    state = store.state()
    segments = store.modality_counts()
    return LibraryStatus(
        data_dir=lib.settings.data_dir,
        videos=store.status_counts(),
        segments=segments,
        # The projection's record is JSON: summarised on its own line instead.
        state={k: v for k, v in state.items() if k != AUDIO_PROJECTION_KEY},
        audio_projection=_audio_projection_status(lib, state),
        labels=_labels_status(lib),
        indexes={m: store.describe_index(m) for m in sorted(segments)},
        failed=store.videos("failed"),
        pending=store.videos("pending"),
        warned=store.warned_videos(),
    )


def _audio_projection_status(lib: Library, state: dict[str, str]) -> str:
    from vidseek.indexer.audio_projection import current_record

    record = current_record(state)
    if record:
        return record.describe()
    if not lib.settings.index_audio:
        return "off (index_audio=false)"
    return (f"not trained yet: {lib.store.audio_feature_count()} audio windows stored, "
            f"`vidseek index` trains it at {lib.settings.audio_min_pairs}; "
            "`vidseek train-audio` trains it now")


def _labels_status(lib: Library) -> str:
    try:  # labels are the configured model's: another one has none to show, status goes on
        summaries = lib.labels.summaries()
    except ModelMismatch as e:
        return f"not shown ({e})"
    used = [s for s in summaries if s.counts.moments]
    learned = sum(s.kind == "learned" for s in summaries)
    waiting = len(lib.labels.db.stale_videos())
    return (f"{len(summaries)} ({len(used)} found in the library, {learned} learned from "
            f"examples)" + (f"; {waiting} video(s) waiting for `vidseek labels update`"
                            if waiting else ""))
