"""The JSON API: search by text, image or clip; the library's videos; stats and health."""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

from flask import Blueprint, Response, jsonify, request

from vidseek.library import query_clip_suffix
from vidseek.web import payloads
from vidseek.web.background import current_background
from vidseek.web.context import (
    current_library,
    current_settings,
    decode_upload,
    model_loading,
    readiness,
    temporary_folder,
    upload_limits,
)
from vidseek.web.errors import ApiError
from vidseek.web.openapi import (
    CLIP_SPAN_FIELDS,
    LABELS_FIELDS,
    SPAN_FIELDS,
    openapi_document,
)
from vidseek.web.params import (
    MAX_DEPTH,
    MAX_ID,
    VIDEO_STATUSES,
    checked_json,
    float_param,
    label_param,
    page_request,
    person_param,
    ranking_depth,
    search_options,
)

api = Blueprint("api", __name__, url_prefix="/api")

VIDEOS_PER_PAGE = 50


@api.before_request
def one_value_each() -> None:
    """Every parameter of this API takes one value: one given twice is refused, not half read."""
    for values in (request.args, request.form, request.files):
        for name, given in values.lists():
            if len(given) > 1:
                raise ApiError(400, f"{name} is given {len(given)} times; send it once")


@api.get("/search")
def search_text():
    """Moments matching a sentence, one page at a time; with `person`, only those where that
    person is on screen, or without a sentence, every moment they are."""
    lib = current_library()
    query = request.args.get("q")
    page = page_request(request.args, current_settings().top_k, max_page=MAX_DEPTH)
    options = search_options(lib, request.args, ranking_depth(page))
    label = label_param(request.args)
    person = person_param(request.args)
    if query is None and person is None:
        raise ApiError(400, "send q (a sentence), person (a name or id), or both")
    if query is None:
        moments = lib.search_person(person, options, label)
    else:
        with model_loading():
            moments = lib.search_text(query, options, label, person)
    return jsonify(payloads.search_page(lib, moments, query or "", page, query=query,
                                        label=label, person=person))


@api.post("/search/image")
def search_image():
    """Moments that look like an uploaded image (multipart field `image`); with mode=face,
    the moments where the person whose face is largest in it is on screen."""
    lib = current_library()
    upload = request.files.get("image")
    if upload is None:
        raise ApiError(400, "send the image as a multipart/form-data file field named 'image'")
    page = page_request(request.form, current_settings().top_k, max_page=MAX_DEPTH)
    options = search_options(lib, request.form, ranking_depth(page))
    label = label_param(request.form)
    person = person_param(request.form)
    mode = request.form.get("mode", "look")
    if mode not in ("look", "face"):
        raise ApiError(400, f"mode must be look or face, got {mode!r}")
    # Read from the spooled upload: the compressed bytes are never copied into memory.
    image = decode_upload(lib.read_query_image, upload.stream, upload_limits().max_pixels)
    with model_loading():
        search = lib.search_face if mode == "face" else lib.search_image
        moments = search(image, options, label, person)
    return jsonify(payloads.search_page(lib, moments, "", page,
                                        query={"image": upload.filename}, label=label,
                                        person=person))


@api.post("/search/video")
def search_video():
    """Moments in other videos that match a clip, aligned in time with it.

    The clip is an upload (multipart field `clip`) or a span of an indexed video
    (JSON `{"video_id": 3, "t0": 10, "t1": 20}`)."""
    lib = current_library()
    if request.is_json:
        body = checked_json(_json_object('{"video_id": 3, "t0": 10, "t1": 20}'),
                            CLIP_SPAN_FIELDS)
        video_id, t0, t1 = _indexed_span(body)
        options = search_options(lib, body, page_request(body, current_settings().top_k).per_page)
        alignments = lib.similar_to_span(video_id, t0, t1, options, label_param(body))
        query = {"video_id": video_id, "t0": t0, "t1": t1}
    else:
        upload = request.files.get("clip")
        if upload is None:
            raise ApiError(400, "send the clip as a multipart/form-data file field named 'clip', "
                                'or JSON {"video_id": ..., "t0": ..., "t1": ...}')
        options = search_options(lib, request.form,
                                 page_request(request.form, current_settings().top_k).per_page)
        with tempfile.TemporaryDirectory(prefix="upload-", dir=temporary_folder()) as tmp:
            path = Path(tmp) / ("clip" + query_clip_suffix(upload.filename or ""))
            upload.save(path)
            if path.stat().st_size == 0:
                raise ApiError(400, "the uploaded clip is empty (0 bytes)")
            with model_loading():
                alignments = decode_upload(lib.similar_to_clip, path, options,
                                           label_param(request.form), upload_limits())
        query = {"clip": upload.filename}
    return jsonify({"query": query, "results": payloads.alignments_payload(lib, alignments)})


def _indexed_span(body: dict) -> tuple[int, float, float]:
    """(video id, t0, t1) of a body `checked_json` let through: a span of an indexed video."""
    if "video_id" not in body:
        raise ApiError(400, "video_id must be the id of an indexed video (see /api/videos)")
    video_id = int(body["video_id"])
    video = current_library().video(video_id) if 1 <= video_id <= MAX_ID else None
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
    """The library's videos, optionally only one index status (indexed, failed, pending) or
    only those carrying a label."""
    status = request.args.get("status")
    if status is not None and status not in VIDEO_STATUSES:
        raise ApiError(400, f"status must be one of {', '.join(VIDEO_STATUSES)}, got {status!r}")
    page = page_request(request.args, VIDEOS_PER_PAGE, per_page_name="per_page")
    label = label_param(request.args)
    person = person_param(request.args)
    lib = current_library()
    if label is not None:
        found = payloads.labelled_videos_page(lib, label, status, page)
    elif person is not None:
        found = payloads.videos_of_page(lib, lib.person_video_ids(person), status, page)
    else:
        found = payloads.videos_page(lib, status, page)
    return jsonify({**found, "person": person, "people": lib.people_facet()})


# One rule for both methods: with two, an id past 64 bits would answer one of them 405, not 404.
@api.route("/videos/<id:video_id>", methods=["GET", "DELETE"])
def video(video_id: int):
    """GET: one video (metadata, index status, error, segment counts, transcript, labels and
    chapters). DELETE: forget it, its segments, vectors, thumbnails, labels and chapters
    (never the file); a remembered folder's scans leave its path out from then on."""
    lib = current_library()
    if request.method == "GET":
        return jsonify(payloads.video_detail(lib, video_id))
    removal = lib.remove_video(video_id)
    if removal is None:
        raise ApiError(404, f"there is no video with id {video_id} (see /api/videos)")
    return jsonify({"removed": video_id, "excluded": removal.excluded})


@api.get("/videos/<id:video_id>/chapters.vtt")
def chapters_vtt(video_id: int):
    """A video's chapters as WebVTT, for a <track kind="chapters">."""
    lib = current_library()
    if lib.video(video_id) is None:
        raise ApiError(404, f"there is no video with id {video_id} (see /api/videos)")
    return Response(lib.chapters_vtt(video_id), mimetype="text/vtt")


@api.get("/videos/<id:video_id>/storyboard")
def storyboard(video_id: int):
    """A video's storyboard: one JPEG sprite of thumbnails at its shots, whose tiles the
    `storyboard` of /api/videos/<id> maps to times."""
    board = current_library().storyboard(video_id)
    if board is None:
        raise _no_storyboard(video_id)
    response = Response(board.jpeg, mimetype="image/jpeg")
    # Revalidated: the id stays when the video is indexed again, the sprite may not.
    response.cache_control.no_cache = True
    response.set_etag(hashlib.blake2b(board.jpeg, digest_size=16).hexdigest())
    return response.make_conditional(request)


@api.get("/videos/<id:video_id>/storyboard.json")
def storyboard_tiles(video_id: int):
    """Where each tile of a video's storyboard is and when its shot starts (the `storyboard`
    of /api/videos/<id>, for a search result's card)."""
    tiles = current_library().storyboard_tiles([video_id]).get(video_id)
    if tiles is None:
        raise _no_storyboard(video_id)
    return jsonify(payloads.storyboard_payload(video_id, tiles))


def _no_storyboard(video_id: int) -> ApiError:
    return ApiError(404, f"video {video_id} has no storyboard: there is no such video, it is "
                         "not indexed, or it was indexed before storyboards were made (the next "
                         "`vidseek index` makes its storyboard)")


@api.get("/labels")
def labels():
    """Every label with how many moments and videos carry it (and a learned one's training
    record)."""
    return jsonify({"labels": [s.payload() for s in current_library().label_summaries()]})


@api.post("/labels")
def add_labels():
    """Add the user's own labels, JSON {"names": ["grandma's garden", ...]}; the library is
    labelled with them before the answer."""
    body = checked_json(_json_object('{"names": ["beach hut", "our dog"]}'), LABELS_FIELDS)
    names = body.get("names")
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise ApiError(400, 'names must be a non-empty list of strings, e.g. '
                            '{"names": ["beach hut"]}')
    lib = current_library()
    with model_loading():
        added = lib.add_labels(names)
        report = lib.update_labels()
    return jsonify({"added": added, "moments": report.moments}), 201 if added else 200


@api.delete("/labels/<name>")
def remove_label(name: str):
    """Drop a label and every moment and video it was on."""
    current_library().remove_label(name)
    return jsonify({"removed": name})


@api.post("/labels/<name>/examples")
def add_example(name: str):
    """Mark a span of an indexed video as an example of a label, JSON {"video_id": 3, "t0": 10,
    "t1": 14}; the label is learned again from all its examples and the library relabelled."""
    body = checked_json(_json_object('{"video_id": 3, "t0": 10, "t1": 14}'), SPAN_FIELDS)
    video_id, t0, t1 = _indexed_span(body)
    lib = current_library()
    with model_loading():
        report = lib.add_label_example(name, video_id, t0, t1)
        lib.update_labels()
    return jsonify({"label": " ".join(name.split()), "training": report.__dict__,
                    "summary": report.describe()})


def _json_object(example: str) -> dict:
    body = request.get_json(silent=True) if request.is_json else None
    if not isinstance(body, dict):
        raise ApiError(400, f"send a JSON object like {example}")
    return body


@api.get("/jobs")
def jobs():
    """The background indexing: its state, queue, current file, rate, time left, failures with
    their reasons, and the folders watched."""
    background = current_background()
    return jsonify(background.payload() if background else {"state": "off"})


@api.post("/scan")
def scan():
    """Queue a full scan of every remembered folder (the job panel's "scan now")."""
    background = current_background()
    if background is None:
        raise ApiError(409, "this server does not index in the background (`vidseek serve` "
                            "does); run `vidseek index` instead")
    background.scan_now()
    return jsonify(background.payload()), 202


@api.get("/stats")
def stats():
    """How many videos (by status) and segments (by modality); which model embedded them."""
    return jsonify(payloads.stats_payload(current_library()))


@api.get("/health")
def health():
    """Whether the service answers, its database is readable, and its models and indexes are
    loaded (503 while `vidseek serve` is still loading them)."""
    current_library().videos_by_status()
    ready, error = readiness()
    if error:
        return jsonify({"status": "failed", "error": error}), 503
    if not ready:
        return jsonify({"status": "starting"}), 503
    return jsonify({"status": "ok"})


@api.get("/openapi.json")
def openapi():
    """This API, described as an OpenAPI 3 document."""
    return jsonify(openapi_document(current_settings()))
