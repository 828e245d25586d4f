"""What the API returns and the pages render: moments and videos as plain JSON-ready dicts.

The JSON endpoints and the HTML views both build their answers here, so they never disagree."""

from __future__ import annotations

from datetime import timezone
from pathlib import Path
from typing import Any

from flask import url_for

from vidseek.search.alignment import Alignment
from vidseek.search.catalogue import VideoRecord
from vidseek.search.highlight import highlight
from vidseek.search.labeling import Labeler
from vidseek.search.ranking import Moment
from vidseek.search.store import Store
from vidseek.web.errors import ApiError
from vidseek.web.params import PageRequest


def highlight_spans(text: str, query: str) -> list[tuple[int, int]]:
    """[start, end) character ranges of `text` holding words the query asks for."""
    spans, at = [], 0
    for fragment, is_match in highlight(text, query):
        if is_match:
            spans.append((at, at + len(fragment)))
        at += len(fragment)
    return spans


def _seconds(t: float | None) -> float | None:
    return None if t is None else round(float(t), 3)


def playback_url(video_id: int, t0: float, t1: float) -> str:
    """The media URL with a media fragment, so a <video> starts at t0 and stops at t1."""
    return f"{url_for('media.video_file', video_id=video_id)}#t={t0:.2f},{t1:.2f}"


def _thumbnail_id(store: Store, moment: Moment) -> int | None:
    frame = next((h for h in moment.hits if h.modality == "frame"), None)
    if frame is not None:
        return frame.segment_id
    # A moment of words or sound shows the frame on screen when it starts.
    return store.best_thumbnail_near(moment.video_id, moment.best.t0)


def moment_payload(store: Store, moment: Moment, query: str = "") -> dict[str, Any]:
    """One ranked moment: where it is, how well and by what it matched, how to show it."""
    similarities = [h.similarity for h in moment.hits if h.similarity is not None]
    # The text (spoken, on screen, subtitled) whose words matched the query, else any text of
    # the moment.
    worded = next((h for h in sorted(moment.hits, key=lambda h: "keyword" not in h.matched_by)
                   if h.text), None)
    thumb = _thumbnail_id(store, moment)
    path = store.video_path(moment.video_id)
    snippet = None
    if worded:
        snippet = {"text": worded.text, "modality": worded.modality,
                   "highlights": highlight_spans(worded.text, query) if query else []}
    return {
        "video_id": moment.video_id,
        "title": Path(path).name if path else None,
        "path": path,
        "t0": _seconds(moment.t0),
        "t1": _seconds(moment.t1),
        "score": round(float(moment.score), 6),
        "similarity": round(max(similarities), 6) if similarities else None,
        "matched_by": list(moment.matched_by),
        "snippet": snippet,
        "thumbnail_url": None if thumb is None else url_for("media.thumbnail", segment_id=thumb),
        "playback_url": playback_url(moment.video_id, moment.t0, moment.t1),
    }


def moments_payload(store: Store, moments: list[Moment], query: str = "") -> list[dict[str, Any]]:
    """Moments in rank order."""
    return [moment_payload(store, m, query) for m in moments]


def alignments_payload(store: Store, alignments: list[Alignment],
                       labels: Labeler) -> list[dict[str, Any]]:
    """Aligned moments of a video-to-video query, with the offset that aligns them."""
    rows = moments_payload(store, [a.moment for a in alignments])
    add_moment_labels(rows, [a.moment for a in alignments], labels)
    for row, a in zip(rows, alignments, strict=True):
        row["offset"] = _seconds(a.offset)
        row["matched_segments"] = a.matched
    return rows


def search_page(store: Store, moments: list[Moment], words: str, page: PageRequest,
                labels: Labeler, **echo: Any) -> dict[str, Any]:
    """One page of a ranked search (`echo` first, e.g. the query); `moments` holds at least
    the ranks up to this page, plus one more when there is a next page; `words` are the query
    words to highlight in transcript snippets."""
    shown = moments[page.start:page.start + page.per_page]
    results = moments_payload(store, shown, words)
    add_moment_labels(results, shown, labels)
    return {**echo, "page": page.page, "k": page.per_page,
            "has_more": len(moments) > page.start + page.per_page, "results": results}


def video_payload(v: VideoRecord) -> dict[str, Any]:
    """A library entry: file facts, index status and, for a failed file, why."""
    return {
        "id": v.id,
        "title": Path(v.path).name,
        "path": v.path,
        "status": v.status,
        "error": v.error,
        "warning": v.warning,
        "duration": _seconds(v.duration),
        "fps": v.fps,
        "width": v.width,
        "height": v.height,
        "has_audio": v.has_audio,
        "size": v.size,
        # Stored as naive UTC (SQLite keeps no zone): say so, as RFC 3339 asks.
        "indexed_at": (v.indexed_at.replace(tzinfo=timezone.utc).isoformat()
                       if v.indexed_at else None),
        "media_url": url_for("media.video_file", video_id=v.id) if v.status == "indexed" else None,
    }


def _labelled_video(v: VideoRecord, labels: Labeler) -> dict[str, Any]:
    """A library entry with the names of its labels, longest on screen first."""
    return {**video_payload(v), "labels": [name for name, _, _ in labels.video_labels(v.id)]}


def videos_page(store: Store, status: str | None, page: PageRequest,
                labels: Labeler) -> dict[str, Any]:
    """One page of the library, optionally only videos with one index status."""
    videos = store.videos(status, offset=page.start, limit=page.per_page)
    return {"status": status, "label": None, "page": page.page, "per_page": page.per_page,
            "total": store.video_count(status),
            "videos": [_labelled_video(v, labels) for v in videos]}


def labelled_videos_page(store: Store, labels: Labeler, label: str, status: str | None,
                         page: PageRequest) -> dict[str, Any]:
    """One page of the videos that carry a label (all indexed: another status finds none)."""
    ids, total = (labels.videos_with_label(label, page.start, page.per_page)
                  if status in (None, "indexed") else ([], 0))
    return {"status": status, "label": label, "page": page.page, "per_page": page.per_page,
            "total": total, "videos": [_labelled_video(store.video(i), labels) for i in ids]}


def add_moment_labels(rows: list[dict[str, Any]], moments: list[Moment],
                      labels: Labeler) -> None:
    """Give each moment's row the labels of the labelled moments it overlaps."""
    names = labels.moment_labels([(m.video_id, m.t0, m.t1) for m in moments])
    for row, found in zip(rows, names, strict=True):
        row["labels"] = found


def video_detail(store: Store, video_id: int, labels: Labeler) -> dict[str, Any]:
    """One video with its segment counts, its transcript if it was transcribed, its labels
    and its chapters."""
    video = store.video(video_id)
    if video is None:
        raise ApiError(404, f"there is no video with id {video_id} (see /api/videos)")
    segments = store.video_segments(video_id)
    counts: dict[str, int] = {}
    for s in segments:
        counts[s.modality] = counts.get(s.modality, 0) + 1
    transcript = [{"t0": _seconds(s.t0), "t1": _seconds(s.t1), "text": s.text}
                  for s in segments if s.modality == "speech" and s.text]
    video_labels = [{"name": name, "score": round(score, 4), "seconds": _seconds(seconds)}
                    for name, score, seconds in labels.video_labels(video_id)]
    chapters = [{"t0": _seconds(c.t0), "t1": _seconds(c.t1), "label": c.label,
                 "thumbnail_url": None if c.segment_id is None
                 else url_for("media.thumbnail", segment_id=c.segment_id),
                 "playback_url": playback_url(video_id, c.t0, c.t1)}
                for c in labels.chapters(video_id)]
    return {**video_payload(video), "segments": counts, "transcript": transcript,
            "labels": video_labels, "chapters": chapters,
            "chapters_url": url_for("api.chapters_vtt", video_id=video_id)}


def stats_payload(store: Store) -> dict[str, Any]:
    """Library totals and what produced its vectors."""
    return {"videos": store.status_counts(), "segments": store.modality_counts(),
            "index_state": store.state()}
