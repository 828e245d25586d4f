"""What the API returns and the pages render: moments and videos as plain JSON-ready dicts.

The JSON endpoints and the HTML views both build their answers here, so they never disagree.
A moment is search/moments.py's dict (the one `vidseek search --json` prints) with its links."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path
from typing import Any

from flask import url_for

from vidseek.core.records import StoryboardTiles
from vidseek.library import Library
from vidseek.search.moments import seconds
from vidseek.search.queries.alignment import Alignment
from vidseek.search.queries.ranking import Moment
from vidseek.search.storage.catalogue import VideoRecord
from vidseek.web.errors import ApiError
from vidseek.web.params import PageRequest


def playback_url(video_id: int, t0: float, t1: float) -> str:
    """The media URL with a media fragment, so a <video> starts at t0 and stops at t1."""
    return f"{url_for('media.video_file', video_id=video_id)}#t={t0:.2f},{t1:.2f}"


def _thumbnail_id(lib: Library, moment: Moment) -> int | None:
    frame = next((h for h in moment.hits if h.modality == "frame"), None)
    if frame is not None:
        return frame.segment_id
    # A moment of words or sound shows the frame on screen when it starts.
    return lib.thumbnail_near(moment.video_id, moment.best.t0)


def _with_links(lib: Library, row: dict[str, Any], moment: Moment,
                tiles: dict[int, StoryboardTiles]) -> dict[str, Any]:
    """A moment's dict (search/moments.py) with how to show it: thumbnail and playback URLs,
    and its video's storyboard tile map (`tiles`: those of the videos shown, by id)."""
    thumb = _thumbnail_id(lib, moment)
    return {**row,
            "thumbnail_url": None if thumb is None else url_for("media.thumbnail",
                                                                 segment_id=thumb),
            "playback_url": playback_url(moment.video_id, moment.t0, moment.t1),
            "storyboard_url": (url_for("api.storyboard_tiles", video_id=moment.video_id)
                               if moment.video_id in tiles else None)}


def alignments_payload(lib: Library, alignments: list[Alignment]) -> list[dict[str, Any]]:
    """Aligned moments of a video-to-video query, with the offset that aligns them."""
    rows = lib.describe_alignments(alignments)
    tiles = lib.storyboard_tiles(sorted({a.moment.video_id for a in alignments}))
    return [_with_links(lib, row, a.moment, tiles)
            for row, a in zip(rows, alignments, strict=True)]


def search_page(lib: Library, moments: list[Moment], words: str, page: PageRequest,
                **echo: Any) -> dict[str, Any]:
    """One page of a ranked search (`echo` first, e.g. the query); `moments` holds at least
    the ranks up to this page, plus one more when there is a next page; `words` are the query
    words to highlight in transcript snippets."""
    shown = moments[page.start:page.start + page.per_page]
    rows = lib.describe_moments(shown, words)
    tiles = lib.storyboard_tiles(sorted({m.video_id for m in shown}))
    results = [_with_links(lib, row, m, tiles) for row, m in zip(rows, shown, strict=True)]
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
        "duration": seconds(v.duration),
        "fps": v.fps,
        "width": v.width,
        "height": v.height,
        "has_audio": v.has_audio,
        "size": v.size,
        # Stored as naive UTC (SQLite keeps no zone): say so, as RFC 3339 asks.
        "indexed_at": (v.indexed_at.replace(tzinfo=UTC).isoformat()
                       if v.indexed_at else None),
        "media_url": url_for("media.video_file", video_id=v.id) if v.status == "indexed" else None,
        "analysing": v.analysis_pending.split(",") if v.analysis_pending else [],
    }


def storyboard_payload(video_id: int, tiles: StoryboardTiles | None) -> dict[str, Any] | None:
    """Where a video's storyboard is and how to read it: tile i is at x = (i % columns) *
    tile_width, y = (i // columns) * tile_height, and shows the video from times[i] on."""
    if tiles is None:
        return None
    return {"image_url": url_for("api.storyboard", video_id=video_id),
            "tile_width": tiles.tile_width, "tile_height": tiles.tile_height,
            "columns": tiles.columns, "times": [seconds(t) for t in tiles.times]}


def _labelled_video(lib: Library, v: VideoRecord,
                    tiles: dict[int, StoryboardTiles]) -> dict[str, Any]:
    """A library entry with the names of its labels, longest on screen first, and its
    storyboard."""
    return {**video_payload(v),
            "labels": [name for name, _, _ in lib.video_labels(v.id)],
            "storyboard": storyboard_payload(v.id, tiles.get(v.id))}


def videos_page(lib: Library, status: str | None, page: PageRequest) -> dict[str, Any]:
    """One page of the library, optionally only videos with one index status."""
    videos = lib.videos(status, offset=page.start, limit=page.per_page)
    tiles = lib.storyboard_tiles([v.id for v in videos])
    return {"status": status, "label": None, "page": page.page, "per_page": page.per_page,
            "total": lib.video_count(status),
            "videos": [_labelled_video(lib, v, tiles) for v in videos]}


def labelled_videos_page(lib: Library, label: str, status: str | None,
                         page: PageRequest) -> dict[str, Any]:
    """One page of the videos that carry a label (all indexed: another status finds none)."""
    ids, total = (lib.videos_with_label(label, page.start, page.per_page)
                  if status in (None, "indexed") else ([], 0))
    tiles = lib.storyboard_tiles(ids)
    return {"status": status, "label": label, "page": page.page, "per_page": page.per_page,
            "total": total, "videos": [_labelled_video(lib, lib.video(i), tiles) for i in ids]}


def videos_of_page(lib: Library, ids: list[int], status: str | None,
                   page: PageRequest) -> dict[str, Any]:
    """One page of these videos (a person's), those of one status if given."""
    videos = [v for v in map(lib.video, ids) if v and status in (None, v.status)]
    shown = videos[page.start:page.start + page.per_page]
    tiles = lib.storyboard_tiles([v.id for v in shown])
    return {"status": status, "label": None, "page": page.page, "per_page": page.per_page,
            "total": len(videos), "videos": [_labelled_video(lib, v, tiles) for v in shown]}


def video_detail(lib: Library, video_id: int) -> dict[str, Any]:
    """One video with its segment counts, its transcript if it was transcribed, its labels
    and its chapters."""
    video = lib.video(video_id)
    if video is None:
        raise ApiError(404, f"there is no video with id {video_id} (see /api/videos)")
    segments = lib.video_segments(video_id)
    counts: dict[str, int] = {}
    for s in segments:
        counts[s.modality] = counts.get(s.modality, 0) + 1
    transcript = [{"t0": seconds(s.t0), "t1": seconds(s.t1), "text": s.text}
                  for s in segments if s.modality == "speech" and s.text]
    video_labels = [{"name": name, "score": round(score, 4), "seconds": seconds(on_screen)}
                    for name, score, on_screen in lib.video_labels(video_id)]
    chapters = [{"t0": seconds(c.t0), "t1": seconds(c.t1), "label": c.label,
                 "thumbnail_url": None if c.segment_id is None
                 else url_for("media.thumbnail", segment_id=c.segment_id),
                 "playback_url": playback_url(video_id, c.t0, c.t1)}
                for c in lib.chapters(video_id)]
    return {**video_payload(video), "segments": counts, "transcript": transcript,
            "labels": video_labels, "chapters": chapters,
            "chapters_url": url_for("api.chapters_vtt", video_id=video_id),
            "summary": lib.summary(video_id).payload(),
            "storyboard": storyboard_payload(
                video_id, lib.storyboard_tiles([video_id]).get(video_id))}


def stats_payload(lib: Library) -> dict[str, Any]:
    """Library totals and what produced its vectors."""
    return {"videos": lib.videos_by_status(), "segments": lib.segments_by_modality(),
            "index_state": lib.model_state()}
