"""The JSON API: search by text, image or clip; the library's videos; stats and health."""

from __future__ import annotations

import tempfile
from pathlib import Path

from flask import Blueprint, jsonify, request

from vidseek.indexer.decode import read_image
from vidseek.indexer.discover import VIDEO_EXTENSIONS
from vidseek.web import payloads
from vidseek.web.context import (
    current_engine,
    current_library,
    current_settings,
    model_loading,
    readiness,
)
from vidseek.web.errors import ApiError
from vidseek.web.openapi import openapi_document
from vidseek.web.params import (
    VIDEO_STATUSES,
    float_param,
    page_request,
    search_options,
)

api = Blueprint("api", __name__, url_prefix="/api")

VIDEOS_PER_PAGE = 50


@api.get("/search")
def search_text():
    """Moments matching a sentence, one page at a time."""
    lib = current_library()
    query = request.args.get("q", "")
    page = page_request(request.args, current_settings().top_k)
    # One moment past the page tells whether there is a next one.
    options = search_options(lib, request.args, page.page * page.per_page + 1)
    with model_loading():
        moments = current_engine().search_text(query, options)
    return jsonify(payloads.search_page(lib.store, moments, query, page, query=query))


@api.post("/search/image")
def search_image():
    """Moments that look like an uploaded image (multipart field `image`)."""
    lib = current_library()
    upload = request.files.get("image")
    if upload is None:
        raise ApiError(400, "send the image as a multipart/form-data file field named 'image'")
    image = read_image(upload.read())
    page = page_request(request.form, current_settings().top_k)
    options = search_options(lib, request.form, page.page * page.per_page + 1)
    with model_loading():
        moments = current_engine().search_image(image, options)
    return jsonify(payloads.search_page(lib.store, moments, "", page,
                                        query={"image": upload.filename}))


@api.post("/search/video")
def search_video():
    """Moments in other videos that match a clip, aligned in time with it.

    The clip is an upload (multipart field `clip`) or a span of an indexed video
    (JSON `{"video_id": 3, "t0": 10, "t1": 20}`)."""
    lib = current_library()
    if request.is_json:
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            raise ApiError(400, 'the JSON body must be an object like {"video_id": 3, "t0": 10, '
                                '"t1": 20}')
        video_id, t0, t1 = _indexed_span(body)
        options = search_options(lib, body, page_request(body, current_settings().top_k).per_page)
        alignments = lib.similar_to_span(video_id, t0, t1, options)
        query = {"video_id": video_id, "t0": t0, "t1": t1}
    else:
        upload = request.files.get("clip")
        if upload is None:
            raise ApiError(400, "send the clip as a multipart/form-data file field named 'clip', "
                                'or JSON {"video_id": ..., "t0": ..., "t1": ...}')
        options = search_options(lib, request.form,
                                 page_request(request.form, current_settings().top_k).per_page)
        suffix = Path(upload.filename or "").suffix.lower()
        with tempfile.TemporaryDirectory(prefix="vidseek-upload-") as tmp:
            path = Path(tmp) / ("clip" + (suffix if suffix in VIDEO_EXTENSIONS else ".mp4"))
            upload.save(path)
            if path.stat().st_size == 0:
                raise ApiError(400, "the uploaded clip is empty (0 bytes)")
            with model_loading():
                alignments = lib.similar_to_clip(path, options)
        query = {"clip": upload.filename}
    return jsonify({"query": query, "results": payloads.alignments_payload(lib.store, alignments)})


def _indexed_span(body: dict) -> tuple[int, float, float]:
    video_id = body.get("video_id")
    if not isinstance(video_id, int) or isinstance(video_id, bool):
        raise ApiError(400, "video_id must be the id of an indexed video (see /api/videos)")
    video = current_library().store.video(video_id)
    if video is None or video.status != "indexed":
        raise ApiError(404, f"there is no indexed video with id {video_id} (see /api/videos)")
    duration = video.duration or 0.0
    t0 = float_param(body, "t0", 0.0, duration)
    t1 = float_param(body, "t1", 0.0, duration)
    t0, t1 = (0.0 if t0 is None else t0), (duration if t1 is None else t1)
    if not t1 > t0:
        raise ApiError(400, f"t1 must be after t0 (got t0={t0:g}, t1={t1:g})")
    return video_id, t0, t1


@api.get("/videos")
def videos():
    """The library's videos, optionally only one index status (indexed, failed, pending)."""
    status = request.args.get("status") or None
    if status is not None and status not in VIDEO_STATUSES:
        raise ApiError(400, f"status must be one of {', '.join(VIDEO_STATUSES)}, got {status!r}")
    page = page_request(request.args, VIDEOS_PER_PAGE, per_page_name="per_page")
    return jsonify(payloads.videos_page(current_library().store, status, page))


@api.get("/videos/<int:video_id>")
def video(video_id: int):
    """One video: metadata, index status, error, segment counts and transcript."""
    return jsonify(payloads.video_detail(current_library().store, video_id))


@api.get("/stats")
def stats():
    """How many videos (by status) and segments (by modality); which model embedded them."""
    return jsonify(payloads.stats_payload(current_library().store))


@api.get("/health")
def health():
    """Whether the service answers, its database is readable, and its models and indexes are
    loaded (503 while `vidseek serve` is still loading them)."""
    current_library().store.status_counts()
    ready, error = readiness()
    if error:
        return jsonify({"status": "failed", "error": error}), 503
    if not ready:
        return jsonify({"status": "starting"}), 503
    return jsonify({"status": "ok"})


@api.get("/openapi.json")
def openapi():
    """This API, described as an OpenAPI 3 document."""
    return jsonify(openapi_document(current_settings().max_upload_mb))
