"""What `vidseek status` reports, composed from a library's parts as plain data: counts, the models
and indexes in use, the state of the audio projection and the labels, and every file that
failed, waits or warned."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidseek.core.errors import ModelMismatch
from vidseek.core.writer_lock import current_writer
from vidseek.search.storage.store import VideoRecord

if TYPE_CHECKING:
    from vidseek.core.settings import Settings
    from vidseek.search.labels.labeling import Labeler
    from vidseek.search.storage.store import Store


@dataclass(frozen=True)
class LibraryStatus:
    data_dir: Path
    folders: list[str]  # the remembered ones
    writer: str | None  # who holds the writer lock now, if anyone
    videos: dict[str, int]  # by status: indexed, failed, pending
    segments: dict[str, int]  # by modality
    state: dict[str, str]  # index_state, less the records summarised below
    audio_projection: str
    labels: str
    indexes: dict[str, str | None]  # per modality with segments: the saved index, if any
    failed: list[VideoRecord]
    pending: list[VideoRecord]
    warned: list[VideoRecord]
    analysing: list[VideoRecord]  # searchable by their frames, their other signals to come


def library_status(settings: Settings, store: Store,
                   labels: Callable[[], Labeler]) -> LibraryStatus:
    """The status of a library, read from its store (no model is loaded); `labels` gives
    its labels, which a library of another model than the configured one lacks."""
    from vidseek.indexer.audio_projection import STATE_KEY as AUDIO_PROJECTION_KEY

    state = store.state()
    segments = store.modality_counts()
    return LibraryStatus(
        data_dir=settings.data_dir,
        folders=store.remembered_folders(),
        writer=current_writer(settings.data_dir),
        videos=store.status_counts(),
        segments=segments,
        # The projection's record is JSON: summarised on its own line instead.
        state={k: v for k, v in state.items() if k != AUDIO_PROJECTION_KEY},
        audio_projection=_audio_projection_status(settings, store, state),
        labels=_labels_status(labels),
        indexes={m: store.describe_index(m) for m in sorted(segments)},
        failed=store.videos("failed"),
        pending=store.videos("pending"),
        warned=store.warned_videos(),
        analysing=store.awaiting_analysis(),
    )


def _audio_projection_status(settings: Settings, store: Store, state: dict[str, str]) -> str:
    from vidseek.indexer.audio_projection import current_record

    record = current_record(state)
    if record:
        return record.describe()
    if not settings.index_audio:
        return "off (index_audio=false)"
    return (f"not trained yet: {store.audio_feature_count()} audio windows stored, "
            f"`vidseek index` trains it at {settings.audio_min_pairs}; "
            "`vidseek train-audio` trains it now")


def _labels_status(labels: Callable[[], Labeler]) -> str:
    try:  # labels are the configured model's: another one has none to show, status goes on
        labeler = labels()
        summaries = labeler.summaries()
    except ModelMismatch as e:
        return f"not shown ({e})"
    used = [s for s in summaries if s.counts.moments]
    learned = sum(s.kind == "learned" for s in summaries)
    waiting = len(labeler.db.stale_videos())
    return (f"{len(summaries)} ({len(used)} found in the library, {learned} learned from "
            f"examples)" + (f"; {waiting} video(s) waiting for `vidseek labels update`"
                            if waiting else ""))


def _video_payload(v: VideoRecord) -> dict[str, Any]:
    return {"id": v.id, "path": v.path, "status": v.status, "error": v.error,
            "warning": v.warning}


def failed_payload(status: LibraryStatus) -> list[dict[str, Any]]:
    """The files that failed, with their reasons, as JSON."""
    return [{"id": v.id, "path": v.path, "error": v.error} for v in status.failed]


def status_payload(status: LibraryStatus) -> dict[str, Any]:
    """The whole status as JSON (`vidseek status --json`): the same fields, a video as its id,
    path, status, error and warning."""
    payload = asdict(status)
    payload["data_dir"] = str(status.data_dir)
    for key in ("pending", "warned"):
        payload[key] = [_video_payload(v) for v in getattr(status, key)]
    payload["analysing"] = [{"id": v.id, "path": v.path,
                             "signals": v.analysis_pending.split(",")} for v in status.analysing]
    payload["failed"] = failed_payload(status)
    return payload
