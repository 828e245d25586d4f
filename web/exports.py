"""Downloads made from what was found: a clip of a video, a reel of a search (an MP4, or a
playlist that plays the moments from this server's media). Under /api, as the JSON API.

A clip is cut from the very file that was indexed (opened and checked as /media serves it),
into the app's temporary folder, and streamed from there; its folder is removed before the
first byte is sent, so nothing is left behind whether or not the client reads it all."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO

from flask import Blueprint, Response, request, send_file

from vidseek.export.clips import MODES, clip_file_name
from vidseek.export.playlists import PLAYLISTS
from vidseek.export.reels import ReelOptions, ReelPart
from vidseek.web.api import one_value_each
from vidseek.web.context import current_library, model_loading, temporary_folder
from vidseek.web.errors import ApiError
from vidseek.web.media import indexed_file
from vidseek.web.openapi import MAX_SECONDS, REEL_FIELDS
from vidseek.web.params import float_param, int_param, label_param, search_options

exports = Blueprint("exports", __name__, url_prefix="/api")
exports.before_request(one_value_each)

REEL_FORMATS = REEL_FIELDS["format"]["enum"]


@exports.get("/videos/<id:video_id>/clip")
def clip(video_id: int):
    """Seconds t0..t1 of an indexed video as an MP4 of its own (a download), what is said in
    them as its text track; `mode` copy (default) or reencode."""
    lib = current_library()
    video = lib.video(video_id)
    if video is None or video.status != "indexed":
        raise ApiError(404, f"there is no indexed video with id {video_id} (see /api/videos)")
    t0, t1 = (_required_seconds(name) for name in ("t0", "t1"))
    mode = request.args.get("mode", "copy")
    if mode not in MODES:
        raise ApiError(400, f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    source, _ = indexed_file(lib, video)
    with source:
        return _download(lambda out: lib.export_clip(video, t0, t1, out, mode, source),
                         clip_file_name(video.path, t0, t1))


@exports.get("/reel")
def reel():
    """The best moments of a text search, with the search's own parameters, as one MP4 or as
    a playlist (m3u, edl) of this server's media URLs."""
    lib = current_library()
    query = request.args.get("q", "")
    fmt = request.args.get("format", "mp4")
    if fmt not in REEL_FORMATS:
        raise ApiError(400, f"format must be one of {', '.join(REEL_FORMATS)}, got {fmt!r}")
    options = reel_options(lib, request.args)
    search = search_options(lib, request.args, options.count)
    with model_loading():
        moments = lib.search_text(query, search, label_param(request.args))
    parts = lib.plan_reel(lib.describe_moments(moments, query), options)
    if not parts:
        raise ApiError(404, f"no moment matches {query!r}: there is nothing to make a reel of")
    if fmt != "mp4":
        write, mimetype = PLAYLISTS[fmt]
        text = write([replace(p, source=_media_url(p)) for p in parts])
        return Response(text, mimetype=mimetype, headers={
            "Content-Disposition": f'attachment; filename="reel.{fmt}"'})
    return _download(lambda out: lib.export_reel(parts, out, options.titles), "reel.mp4")


def reel_options(lib, values: Mapping[str, Any]) -> ReelOptions:
    """Reel options from `count`, `pad`, `max_length`, `order` and `titles` (the library's
    settings for what is not given)."""
    titles = values.get("titles", "false")
    if titles not in ("true", "false"):
        raise ApiError(400, f"titles must be true or false, got {titles!r}")
    count, pad, length = (REEL_FIELDS[name] for name in ("count", "pad", "max_length"))
    options = lib.reel_options(
        count=int_param(values, "count", lib.settings.reel_count, 1, count["maximum"]),
        pad=float_param(values, "pad", pad["minimum"], pad["maximum"]),
        max_seconds=float_param(values, "max_length", length["minimum"], length["maximum"]),
        order=values.get("order"), titles=titles == "true")
    options.check()
    return options


def _required_seconds(name: str) -> float:
    value = float_param(request.args, name, 0.0, MAX_SECONDS)
    if value is None:
        raise ApiError(400, f"{name} is required: seconds from the video's start, e.g. "
                            "?t0=12&t1=20")
    return value


def _media_url(part: ReelPart) -> str:
    """Where a playlist finds a part's video: this server's /media URL for it."""
    return f"{request.host_url}media/{part.video_id}"


def _download(make: Callable[[Path], Any], name: str) -> Response:
    """`make(path)` writes a file; it is sent as an attachment called `name`, and removed."""
    folder = Path(tempfile.mkdtemp(prefix="export-", dir=temporary_folder()))
    try:
        made = make(folder / "export.mp4")
        stream: BinaryIO = open(made.path, "rb")  # the response closes it
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # an open file reads on once unlinked
    response = send_file(stream, mimetype="video/mp4", as_attachment=True, download_name=name,
                         conditional=False)
    response.content_length = made.size
    return response
