"""Video files (with HTTP range requests, so players can seek) and thumbnails, by id only:
no path from a client ever reaches the filesystem, and only indexed files are served."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from flask import Blueprint, Response, send_file

from vidseek.web.context import current_library
from vidseek.web.errors import ApiError

media = Blueprint("media", __name__)

THUMBNAIL_MAX_AGE_S = 3600  # ids are stable until the video is re-indexed


@media.get("/media/<int:video_id>")
def video_file(video_id: int):
    """The indexed video file; `Range` requests get 206 partial content."""
    video = current_library().store.video(video_id)
    if video is None or video.status != "indexed":
        raise ApiError(404, f"there is no indexed video with id {video_id} (see /api/videos)")
    path = Path(video.path)
    if not path.is_file():
        raise ApiError(404, f"the file of video {video_id} is no longer at {path}; "
                            "run `vidseek index` on its folder to update the library")
    mimetype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return send_file(path, mimetype=mimetype, conditional=True, etag=True, max_age=0)


@media.get("/thumbs/<int:segment_id>")
def thumbnail(segment_id: int):
    """The JPEG thumbnail of a frame segment."""
    jpeg = current_library().store.thumbnail(segment_id)
    if jpeg is None:
        raise ApiError(404, f"segment {segment_id} has no thumbnail")
    response = Response(jpeg, mimetype="image/jpeg")
    response.cache_control.max_age = THUMBNAIL_MAX_AGE_S
    response.cache_control.public = True
    return response
