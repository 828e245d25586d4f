"""Video files (with HTTP range requests, so players can seek) and thumbnails, by id only:
no path from a client ever reaches the filesystem, and only what was indexed is served.

"What was indexed" is checked on the file actually opened: a regular file, at the very path
the indexer recorded (no symbolic link swapped in for it or for a folder above it), with the
size and modification time it had then. Anything else is a 404, and a file that changed is
marked pending so the next `vidseek index` looks at it again."""

from __future__ import annotations

import mimetypes
import os
import stat
from typing import BinaryIO

from flask import Blueprint, Response, request
from werkzeug.exceptions import RequestedRangeNotSatisfiable
from werkzeug.wsgi import wrap_file

from vidseek.library import Library
from vidseek.search.storage.catalogue import VideoRecord
from vidseek.web.context import current_library
from vidseek.web.errors import ApiError

media = Blueprint("media", __name__)

THUMBNAIL_MAX_AGE_S = 3600  # ids are stable until the video is re-indexed
# Refuse to follow a link in the last component at open time, closing the gap between the
# path check and the open (not every platform has the flag; the fstat check still holds).
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)


class FileNotServed(Exception):
    """The file at a video's path is not the one that was indexed (`changed`), or is reached
    in a way that is never served (through a symbolic link)."""

    def __init__(self, reason: str, changed: bool):
        super().__init__(reason)
        self.changed = changed


def change_since_indexing(st: os.stat_result, video: VideoRecord) -> str | None:
    """How the file described by `st` differs from the one indexed, or None if it does not."""
    if not stat.S_ISREG(st.st_mode):
        return "is no longer a regular file"
    if (st.st_size, st.st_mtime_ns) != (video.size, video.mtime_ns):
        return "changed since it was indexed (size or modification time)"
    return None


def open_indexed_file(video: VideoRecord) -> tuple[BinaryIO, os.stat_result]:
    """The video's file opened for reading, with its stat, if it is still what was indexed;
    FileNotServed otherwise."""
    path = video.path
    try:
        if os.path.realpath(path) != path:
            change = change_since_indexing(os.stat(path), video)
            raise FileNotServed(change or "is reached through a symbolic link, and vidseek serves "
                                          "only regular files at the path it indexed",
                                changed=change is not None)
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        raise FileNotServed("is no longer there", changed=True) from None
    except OSError as e:
        raise FileNotServed(f"cannot be opened ({e.strerror})", changed=True) from None
    st = os.fstat(fd)
    change = change_since_indexing(st, video)
    if change:
        os.close(fd)
        raise FileNotServed(change, changed=True)
    return os.fdopen(fd, "rb"), st


def indexed_file(lib: Library, video: VideoRecord) -> tuple[BinaryIO, os.stat_result]:
    """The video's file opened, if it is still what was indexed; else a 404 (and the video
    marked for the next index run when its file changed)."""
    try:
        return open_indexed_file(video)
    except FileNotServed as e:
        if e.changed:
            lib.mark_changed(video.id)
        raise ApiError(404, f"the file of video {video.id} ({video.path}) {e}; run `vidseek "
                            "index` on its folder to update the library") from None


@media.get("/media/<id:video_id>")
def video_file(video_id: int):
    """The indexed video file; `Range` requests get 206 partial content."""
    lib = current_library()
    video = lib.video(video_id)
    if video is None or video.status != "indexed":
        raise ApiError(404, f"there is no indexed video with id {video_id} (see /api/videos)")
    file, st = indexed_file(lib, video)
    mimetype = mimetypes.guess_type(video.path)[0] or "application/octet-stream"
    response = Response(wrap_file(request.environ, file), mimetype=mimetype,
                        direct_passthrough=True)
    response.content_length = st.st_size
    response.last_modified = st.st_mtime
    response.cache_control.no_cache = True
    response.set_etag(f"{video_id}-{st.st_size}-{st.st_mtime_ns}")
    try:
        return response.make_conditional(request, accept_ranges=True, complete_length=st.st_size)
    except RequestedRangeNotSatisfiable:
        file.close()
        raise


@media.get("/thumbs/<id:segment_id>")
def thumbnail(segment_id: int):
    """The JPEG thumbnail of a frame segment."""
    jpeg = current_library().thumbnail(segment_id)
    if jpeg is None:
        raise ApiError(404, f"segment {segment_id} has no thumbnail")
    response = Response(jpeg, mimetype="image/jpeg")
    response.cache_control.max_age = THUMBNAIL_MAX_AGE_S
    response.cache_control.public = True
    return response
