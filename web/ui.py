"""The HTML pages: search (results come from the JSON API), the library listing and one
video with its chapters and the timeline of what is said and read in it."""

from __future__ import annotations

import math

from flask import Blueprint, render_template, request

from vidseek.core.records import MODALITIES, TEXT_MODALITIES
from vidseek.web import payloads
from vidseek.web.context import current_library, current_settings
from vidseek.web.errors import ApiError
from vidseek.web.params import VIDEO_STATUSES, page_request

ui = Blueprint("ui", __name__)

LIBRARY_PER_PAGE = 50
# How the video page's timeline names each modality that carries words.
WORDS_NAMES = {"speech": "Said", "ocr": "On screen", "subtitles": "Subtitles"}


@ui.get("/")
def search_page():
    """The search box, the result grid and the in-page player."""
    lib = current_library()
    present = lib.segments_by_modality()
    return render_template("search.html", query=request.args.get("q", ""),
                           modalities=[m for m in MODALITIES if present.get(m)] or ["frame"],
                           max_upload_mb=current_settings().max_upload_mb,
                           counts=lib.videos_by_status(), labels=labels_in_use(lib),
                           label=request.args.get("label", ""), people=lib.people_facet(),
                           person=request.args.get("person", ""))


@ui.get("/library")
def library_page():
    """Every video with its index status, and why a failed one failed."""
    status = request.args.get("status") or None
    if status is not None and status not in VIDEO_STATUSES:
        raise ApiError(400, f"status must be one of {', '.join(VIDEO_STATUSES)}")
    label = request.args.get("label") or None
    person = request.args.get("person") or None
    lib = current_library()
    page = page_request(request.args, LIBRARY_PER_PAGE, "per_page")
    if label:
        listing = payloads.labelled_videos_page(lib, label, status, page)
    elif person:
        listing = payloads.videos_of_page(lib, lib.person_video_ids(person), status, page)
    else:
        listing = payloads.videos_page(lib, status, page)
    return render_template("library.html", listing={**listing, "person": person},
                           statuses=VIDEO_STATUSES, counts=lib.videos_by_status(),
                           labels=labels_in_use(lib), people=lib.people_facet())


@ui.get("/videos/<id:video_id>")
def video_page(video_id: int):
    """One video: the player, its chapters as a strip of thumbnails, its labels, and what is
    said and read in it as a timeline whose lines seek the player. `?t=` (seconds) starts the
    player there and marks the lines that span it."""
    lib = current_library()
    video = payloads.video_detail(lib, video_id)
    at = start_time(request.args.get("t"))
    lines = lib.words_timeline(video_id)
    counts = {m: sum(line.modality == m for line in lines) for m in TEXT_MODALITIES}
    return render_template("video.html", video=video, at=at, lines=lines, counts=counts,
                           names=WORDS_NAMES)


def start_time(value: str | None) -> float | None:
    """The `t` of a video page's address: seconds, 0 or more; None when not given."""
    if value is None or value == "":
        return None
    try:
        t = float(value)
    except ValueError:
        t = math.nan
    if not (math.isfinite(t) and t >= 0):
        raise ApiError(400, f"t must be a time in seconds, 0 or more (got {value!r})")
    return t


@ui.app_template_filter("clock")
def clock(seconds: float) -> str:
    """A time as the player shows it: m:ss, or h:mm:ss from an hour on."""
    s = int(max(0.0, seconds))
    h, m = divmod(s // 60, 60)
    return f"{h}:{m:02d}:{s % 60:02d}" if h else f"{m}:{s % 60:02d}"


def labels_in_use(lib) -> list[dict]:
    """Labels that some video carries, the most common first: the filter chips."""
    summaries = [s for s in lib.label_summaries() if s.counts.videos]
    return [s.payload() for s in sorted(summaries, key=lambda s: (-s.counts.videos, s.name))]
