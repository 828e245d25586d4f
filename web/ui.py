"""The HTML pages: search (results come from the JSON API), the library listing and one
video with its chapters."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from vidseek.search.records import MODALITIES
from vidseek.web import payloads
from vidseek.web.context import current_library, current_settings
from vidseek.web.errors import ApiError
from vidseek.web.params import VIDEO_STATUSES, page_request

ui = Blueprint("ui", __name__)

LIBRARY_PER_PAGE = 50


@ui.get("/")
def search_page():
    """The search box, the result grid and the in-page player."""
    lib = current_library()
    present = lib.store.modality_counts()
    return render_template("search.html", query=request.args.get("q", ""),
                           modalities=[m for m in MODALITIES if present.get(m)] or ["frame"],
                           max_upload_mb=current_settings().max_upload_mb,
                           counts=lib.store.status_counts(), labels=labels_in_use(lib),
                           label=request.args.get("label", ""))


@ui.get("/library")
def library_page():
    """Every video with its index status, and why a failed one failed."""
    status = request.args.get("status") or None
    if status is not None and status not in VIDEO_STATUSES:
        raise ApiError(400, f"status must be one of {', '.join(VIDEO_STATUSES)}")
    label = request.args.get("label") or None
    lib = current_library()
    page = page_request(request.args, LIBRARY_PER_PAGE, "per_page")
    listing = (payloads.labelled_videos_page(lib, label, status, page) if label
               else payloads.videos_page(lib, status, page))
    return render_template("library.html", listing=listing, statuses=VIDEO_STATUSES,
                           counts=lib.store.status_counts(), labels=labels_in_use(lib))


@ui.get("/videos/<id:video_id>")
def video_page(video_id: int):
    """One video: the player, its chapters as a strip of thumbnails, its labels."""
    lib = current_library()
    return render_template("video.html", video=payloads.video_detail(lib, video_id))


def labels_in_use(lib) -> list[dict]:
    """Labels that some video carries, the most common first: the filter chips."""
    summaries = [s for s in lib.labels.summaries() if s.counts.videos]
    return [s.payload() for s in sorted(summaries, key=lambda s: (-s.counts.videos, s.name))]
