"""The OpenAPI 3 description of the JSON API and media endpoints (served at /api/openapi.json).
A test checks that its paths and methods are exactly the app's routes."""

from __future__ import annotations

from typing import Any

from vidseek.core.records import MODALITIES, TEXT_MODALITIES
from vidseek.core.settings import Settings
from vidseek.export.clips import MODES
from vidseek.export.playlists import PLAYLISTS
from vidseek.export.reels import ORDERS
from vidseek.search.labels.labeling import MAX_NAME, NAME_PATTERN
from vidseek.search.people.directory import NAME_NEEDS_LETTER
from vidseek.web.params import MAX_DEPTH, MAX_ID, MAX_K, MAX_PAGE, VIDEO_STATUSES


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    reasons = {400: "bad parameter or query, or a Host name this server does not answer to",
               401: "the access token is missing or wrong (only when the server has one)",
               403: "a request from another site (Origin / Sec-Fetch-Site) that would change or "
                    "upload something",
               404: "unknown id", 413: "upload too large (bytes, or pixels once decoded)",
               415: "the upload is not a video / not an image",
               409: "another process is writing to the library (the message names it); try "
                    "again once it is done",
               416: "the requested byte range is outside the file",
               429: "as many exports as allowed are running (setting export_slots); try again "
                    "after Retry-After seconds",
               507: "the export would leave too little free disk (setting export_min_free_mb)",
               503: "the model is not installed or the library needs `vidseek reindex`"}
    return {str(c): _json(_ref("Error"), reasons[c]) for c in codes}


def _query(name: str, schema: dict[str, Any], description: str,
           required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema,
            "description": description}


ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
# The rule search/labels/labeling.py's clean_name applies, in the pattern it applies it with.
LABEL_NAME = {"type": "string", "minLength": 1, "maxLength": MAX_NAME,
              "pattern": NAME_PATTERN}
MODALITY_LIST = f"^(({'|'.join(MODALITIES)})(,({'|'.join(MODALITIES)}))*)?$"


def _path_id(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": ID,
            "description": description}


MAX_SECONDS = 1e9  # a time in a video: past any real one (the span is checked on its own)
SECONDS = {"type": "number", "minimum": 0, "maximum": MAX_SECONDS}
QUERY_TEXT = {"type": "string", "minLength": 1, "maxLength": 1000, "pattern": r"\S"}
REEL_FIELDS = {
    "format": {"type": "string", "enum": ["mp4", *PLAYLISTS],
               "description": "mp4 (default): the reel rendered; m3u (VLC, mpv) or edl (mpv): "
                              "a playlist of the moments in this server's /media files"},
    "count": {"type": "integer", "minimum": 1, "maximum": MAX_K,
              "description": "moments at most, the best ones (default: setting reel_count)"},
    "pad": {"type": "number", "minimum": 0, "maximum": 60,
            "description": "seconds added before and after each moment (default: reel_pad)"},
    "max_length": {"type": "number", "minimum": 1, "maximum": 3600,
                   "description": "seconds the reel may last; the best moments that fit "
                                  "(default: reel_max_seconds)"},
    "order": {"type": "string", "enum": list(ORDERS),
              "description": "score (default): best first; time: by video, then time in it"},
    "titles": {"type": "boolean", "description": "a band saying what matched over the first "
                                                 "seconds of each moment (mp4)"},
}
SEARCH_FIELDS = {
    "k": {"type": "integer", "minimum": 1, "maximum": MAX_K, "description": "moments per page"},
    "page": {"type": "integer", "minimum": 1, "maximum": MAX_DEPTH,
             "description": f"1-based page number; a ranking goes {MAX_DEPTH} moments deep, "
                            "pages past that are empty"},
    "modality": {"type": "string", "pattern": MODALITY_LIST, "example": ",".join(MODALITIES),
                 "description": f"comma-separated subset of {', '.join(MODALITIES)}; "
                                "empty or absent: all of them"},
    "min_score": {"type": "number", "minimum": -1, "maximum": 1,
                  "description": "drop hits with a cosine similarity below this"},
    "video": {**ID, "description": "search inside this video only"},
    "label": {**LABEL_NAME, "description": "only moments that carry this label "
              "(see /api/labels)"},
}
# The JSON bodies, as the server checks them (web/params.py checked_json): these keys only,
# each of its type.
SPAN_FIELDS = {
    "video_id": ID,
    "t0": {"type": "number", "minimum": 0, "description": "default 0"},
    "t1": {"type": "number", "minimum": 0,
           "description": "default: the end; after t0, not past the end"},
}
CLIP_SPAN_FIELDS = {**SPAN_FIELDS, **{name: field for name, field in SEARCH_FIELDS.items()
                                      if name != "page"}}
LABELS_FIELDS = {"names": {"type": "array", "minItems": 1, "items": {
    **LABEL_NAME, "description": "a letter or a digit (any script), no '/' or control "
                                 "character"}}}

# People (search/people/): a person is named by their name or their id.
PERSON_REF = {"type": "string", "minLength": 1, "maxLength": MAX_NAME,
              "description": "a person's name or id (see /api/people)"}
NAME_FIELDS = {"name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME,
                        "pattern": NAME_NEEDS_LETTER,
                        "description": "a letter at least (a number is an id), no '/' or "
                                       "control character"}}
MERGE_FIELDS = {"people": {"type": "array", "minItems": 1, "maxItems": 100, "items": PERSON_REF,
                           "description": "those merged into this person"}}
SPLIT_FIELDS = {"faces": {"type": "array", "minItems": 1, "maxItems": 1000, "items": ID,
                          "description": "face ids (`face` of /api/people/{person}) of this "
                                         "person, not all of them"}}
HIDE_FIELDS = {"hidden": {"type": "boolean"}}

ANALYSING = {"type": "array", "items": {"type": "string"},
             "description": "the signals still being analysed (frames first: the video is "
                            "searchable by its frames, these come later); empty when complete"}

VIDEO_FIELDS = {  # what a video in a list and a video's own page both say
    "id": {"type": "integer"}, "title": {"type": "string"}, "path": {"type": "string"},
    "status": {"type": "string", "enum": list(VIDEO_STATUSES)},
    "error": {"type": "string", "nullable": True, "description": "why indexing failed"},
    "warning": {"type": "string", "nullable": True,
                "description": "what indexing left out and why (a malformed subtitle file)"},
    "duration": {"type": "number", "nullable": True},
    "fps": {"type": "number", "nullable": True},
    "width": {"type": "integer", "nullable": True},
    "height": {"type": "integer", "nullable": True},
    "has_audio": {"type": "boolean", "nullable": True}, "size": {"type": "integer"},
    "indexed_at": {"type": "string", "format": "date-time", "nullable": True},
    "media_url": {"type": "string", "nullable": True},
    "analysing": ANALYSING,
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object", "required": ["error"],
        "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
            "code": {"type": "integer", "example": 404},
            "message": {"type": "string", "example": "there is no video with id 7"}}}},
    },
    "Moment": {
        "type": "object",
        "properties": {
            "video_id": {"type": "integer"},
            "title": {"type": "string", "description": "file name"},
            "path": {"type": "string"},
            "t0": {"type": "number", "description": "start, seconds"},
            "t1": {"type": "number", "description": "end, seconds"},
            "score": {"type": "number", "description": "fused ranking score"},
            "similarity": {"type": "number", "nullable": True,
                           "description": "best cosine similarity among the moment's hits"},
            "matched_by": {"type": "array", "items": {"type": "string"},
                           "description": f"what found it: {', '.join(MODALITIES)} (vectors) "
                                          "and/or keyword (words in the text, with the "
                                          "modality the words were in)"},
            "snippet": {"type": "object", "nullable": True, "properties": {
                "text": {"type": "string"},
                "modality": {"type": "string", "enum": list(TEXT_MODALITIES),
                             "description": "where the words are: said, on screen, subtitled"},
                "highlights": {"type": "array", "description": "[start, end) character ranges "
                               "of query words", "items": {"type": "array",
                                                           "items": {"type": "integer"}}}}},
            "thumbnail_url": {"type": "string", "nullable": True},
            "playback_url": {"type": "string", "example": "/media/3#t=12.00,18.00"},
            "labels": {"type": "array", "items": {"type": "string"},
                       "description": "labels of the labelled moments it overlaps"},
            "storyboard_url": {"type": "string", "nullable": True,
                               "description": "its video's storyboard tile map "
                                              "(/api/videos/{video_id}/storyboard.json)"},
            "analysing": ANALYSING,
        },
    },
    "Person": {"type": "object", "properties": {
        "id": {"type": "integer"}, "name": {"type": "string", "nullable": True},
        "label": {"type": "string", "description": "the name, or `person ID` until named"},
        "hidden": {"type": "boolean"},
        "tracks": {"type": "integer", "description": "face tracks (a face followed through a "
                                                     "shot)"},
        "videos": {"type": "integer"},
        "seconds": {"type": "number", "description": "time on screen, all tracks added up"},
        "face_segment": {"type": "integer", "nullable": True},
        "face_url": {"type": "string", "nullable": True, "description": "a crop of their "
                                                                       "largest face"}}},
    "Face": {"type": "object", "properties": {
        "face": {"type": "integer", "description": "face id (its segment)"},
        "video_id": {"type": "integer"}, "t0": {"type": "number"}, "t1": {"type": "number"},
        "box": {"type": "array", "items": {"type": "number"},
                "description": "x0, y0, x1, y1 as shares of the frame, where it was largest"},
        "face_url": {"type": "string"}, "playback_url": {"type": "string"}}},
    "Jobs": {"type": "object", "required": ["state"], "properties": {
        "state": {"type": "string", "enum": ["idle", "working", "waiting", "off"],
                  "description": "waiting: for another vidseek that is writing (waiting_for "
                                 "says which); off: this server does not index"},
        "waiting_for": {"type": "string", "nullable": True},
        "queued": {"type": "object", "properties": {
            "files": {"type": "integer", "description": "files waiting for their frames pass"},
            "removals": {"type": "integer"}, "scan": {"type": "boolean"},
            "awaiting_signals": {"type": "integer", "description": "videos searchable by their "
                                 "frames, waiting for their other signals"}}},
        "current": {"type": "object", "nullable": True, "properties": {
            "path": {"type": "string", "nullable": True},
            "step": {"type": "string", "enum": ["frames", "signals", "removal", "scan",
                                                "labels"]},
            "seconds": {"type": "number"}}},
        "done": {"type": "object", "additionalProperties": {"type": "integer"}},
        "files_per_minute": {"type": "number", "nullable": True},
        "eta_seconds": {"type": "number", "nullable": True},
        "failed": {"type": "integer"},
        "failures": {"type": "array", "description": "the latest, newest first",
                     "items": {"type": "object", "properties": {
                         "path": {"type": "string", "nullable": True},
                         "step": {"type": "string"}, "reason": {"type": "string"}}}},
        "last_scan": {"type": "number", "nullable": True, "description": "Unix time"},
        "watching": {"type": "object", "description": "each remembered folder: how it is "
                     "watched (inotify, polling) and any problem",
                     "additionalProperties": {"type": "object", "properties": {
                         "mode": {"type": "string", "nullable": True},
                         "problem": {"type": "string", "nullable": True}}}},
    }},
    "AlignedMoment": {"allOf": [_ref("Moment"), {"type": "object", "properties": {
        "offset": {"type": "number", "description": "time in this video minus time in the clip"},
        "matched_segments": {"type": "integer"}}}]},
    "SearchPage": {"type": "object", "properties": {
        "query": {}, "page": {"type": "integer"}, "k": {"type": "integer"},
        "has_more": {"type": "boolean"}, "results": {"type": "array", "items": _ref("Moment")}}},
    "Video": {"type": "object", "properties": {
        **VIDEO_FIELDS,
        "labels": {"type": "array", "items": {"type": "string"},
                   "description": "its labels, longest on screen first"},
        "storyboard": _ref("Storyboard")}},
    "VideoDetail": {"type": "object", "properties": {
        **VIDEO_FIELDS,
        "segments": {"type": "object", "additionalProperties": {"type": "integer"}},
        "transcript": {"type": "array", "items": {"type": "object", "properties": {
            "t0": {"type": "number"}, "t1": {"type": "number"}, "text": {"type": "string"}}}},
        "labels": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"},
            "score": {"type": "number", "description": "best confidence among its moments"},
            "seconds": {"type": "number", "description": "how long it is on screen or said"}}}},
        "chapters": {"type": "array", "items": _ref("Chapter")},
        "chapters_url": {"type": "string", "description": "the chapters as WebVTT"},
        "storyboard": _ref("Storyboard"),
        "summary": _ref("Summary")}},
    "Summary": {"type": "object", "description": "the video at a glance (`vidseek summary`): "
                "its chapters, its labels, and the passages said, read or subtitled in it most "
                "like all of them (centrality in the joint space), varied, in time order",
                "properties": {
        "chapters": {"type": "array", "items": {"type": "object", "properties": {
            "t0": {"type": "number"}, "t1": {"type": "number"},
            "label": {"type": "string", "nullable": True}}}},
        "labels": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "score": {"type": "number"},
            "seconds": {"type": "number"}}}},
        "people": {"type": "array", "description": "who is on screen (faces grouped into "
                   "people; hidden ones left out), longest first", "items": {
                       "type": "object", "properties": {
                           "id": {"type": "integer"},
                           "name": {"type": "string", "description": "or \"person N\""},
                           "seconds": {"type": "number"}}}},
        "passages": {"type": "array", "items": {"type": "object", "properties": {
            "modality": {"type": "string", "enum": ["speech", "ocr", "subtitles"]},
            "t0": {"type": "number"}, "t1": {"type": "number"}, "text": {"type": "string"},
            "centrality": {"type": "number",
                           "description": "cosine with the mean of the video's passages"}}}}}},
    "Storyboard": {"type": "object", "nullable": True,
                   "description": "thumbnails at the video's shots in one JPEG sprite (null: "
                                  "none, e.g. a failed video). Tile i is at x = (i % columns) "
                                  "* tile_width, y = (i // columns) * tile_height and shows the "
                                  "video from times[i] on", "properties": {
        "image_url": {"type": "string"}, "tile_width": {"type": "integer"},
        "tile_height": {"type": "integer"}, "columns": {"type": "integer"},
        "times": {"type": "array", "items": {"type": "number"}}}},
    "Chapter": {"type": "object", "properties": {
        "t0": {"type": "number"}, "t1": {"type": "number"},
        "label": {"type": "string", "nullable": True, "description": "its top label"},
        "thumbnail_url": {"type": "string", "nullable": True},
        "playback_url": {"type": "string"}}},
    "Label": {"type": "object", "properties": {
        "name": {"type": "string"},
        "kind": {"type": "string", "enum": ["vocabulary", "user", "learned"]},
        "moments": {"type": "integer"}, "videos": {"type": "integer"},
        "examples": {"type": "integer"},
        "training": {"type": "object", "nullable": True,
                     "description": "a learned label: examples, frames and its held-out "
                                    "check (heldout_auc, heldout_accuracy; chance 0.5)"}}},
    "Training": {"type": "object", "properties": {
        "label": {"type": "string"}, "training": {"type": "object"},
        "summary": {"type": "string"}}},
}


def _label_name() -> dict[str, Any]:
    return {"name": "name", "in": "path", "required": True, "schema": LABEL_NAME,
            "description": "label name"}


def _person() -> dict[str, Any]:
    return {"name": "person", "in": "path", "required": True, "schema": PERSON_REF,
            "description": "name or id"}


def _json_object(fields: dict[str, Any], required: str) -> dict[str, Any]:
    return {"type": "object", "required": [required], "properties": fields,
            "additionalProperties": False}


def openapi_document(settings: Settings) -> dict[str, Any]:
    """The OpenAPI 3.0 document of this service as `settings` configure it (upload limits,
    and the access token when one is set)."""
    search_params = [_query(name, {k: v for k, v in field.items() if k != "description"},
                            field["description"]) for name, field in SEARCH_FIELDS.items()]
    upload_limit = f"at most {settings.max_upload_mb:g} MB"
    pixel_limit = (f"at most {settings.max_image_megapixels:g} megapixels once decoded (read "
                   "from the header: a larger image is refused with 413 before it is decoded; "
                   "JPEG counts at the reduced size it can be decoded at)")
    clip_limit = (f"frames of at most {settings.max_image_megapixels:g} megapixels and at most "
                  f"{settings.max_clip_frames} frames, else 413 (read from the header, a still "
                  "image's too, before decoding; where the format does not say, while decoding, "
                  "before a larger frame is allocated)")
    form = {name: field for name, field in SEARCH_FIELDS.items() if name != "page"}
    paths = {
        "/api/search": {"get": {
            "summary": "Moments matching a sentence",
            "parameters": [_query("q", {"type": "string", "minLength": 1, "maxLength": 1000,
                                        "pattern": r"\S"},
                                  "the query sentence (not blank); q, person or both (400 "
                                  "when neither is given)"),
                           *search_params,
                           _query("person", PERSON_REF, "only moments where this person is on "
                                  "screen; without q, every such moment")],
            "responses": {"200": _json(_ref("SearchPage"), "ranked moments"),
                          **_errors(400, 404, 503)}}},
        "/api/search/image": {"post": {
            "summary": "Moments that look like an image",
            "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                "type": "object", "required": ["image"], "properties": {
                    "image": {"type": "string", "format": "binary",
                              "description": f"JPEG, PNG, WebP...; {upload_limit}; "
                                             f"{pixel_limit}"},
                    "page": SEARCH_FIELDS["page"], **form,
                    "mode": {"type": "string", "enum": ["look", "face"],
                             "description": "look (default): moments that look like it; face: "
                                            "moments where the person whose face is largest "
                                            "in it is on screen (400 when it shows no "
                                            "face)"},
                    "person": {**PERSON_REF, "description": "only moments where this person "
                               "is on screen"}}}}}},
            "responses": {"200": _json(_ref("SearchPage"), "ranked moments"),
                          **_errors(400, 404, 413, 415, 503)}}},
        "/api/search/video": {"post": {
            "summary": "Moments in other videos that match a clip, aligned in time",
            "description": "The query clip's own video (same bytes) is left out.",
            "requestBody": {"required": True, "content": {
                "multipart/form-data": {"schema": {
                    "type": "object", "required": ["clip"], "properties": {
                        "clip": {"type": "string", "format": "binary",
                                 "description": f"a video clip (or a still image: one frame); "
                                                f"{upload_limit}; {clip_limit}"}, **form}}},
                "application/json": {"schema": _json_object(CLIP_SPAN_FIELDS, "video_id")}}},
            "responses": {"200": _json({"type": "object", "properties": {
                "query": {"type": "object"},
                "results": {"type": "array", "items": _ref("AlignedMoment")}}},
                "aligned moments"), **_errors(400, 404, 413, 415, 503)}}},
        "/api/videos": {"get": {
            "summary": "The library's videos and their index status",
            "parameters": [
                _query("status", {"type": "string", "enum": list(VIDEO_STATUSES)},
                       "only videos with this status"),
                _query("label", LABEL_NAME, "only videos that carry this label "
                       "(labelled videos are indexed ones)"),
                _query("person", PERSON_REF, "only videos this person is in"),
                _query("page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
                       "1-based page number (past the last page: an empty list)"),
                _query("per_page", {"type": "integer", "minimum": 1, "maximum": MAX_K},
                       "videos per page")],
            "responses": {"200": _json({"type": "object", "properties": {
                "status": {"type": "string", "nullable": True},
                "label": {"type": "string", "nullable": True}, "page": {"type": "integer"},
                "per_page": {"type": "integer"}, "total": {"type": "integer"},
                "videos": {"type": "array", "items": _ref("Video")},
                "person": {"type": "string", "nullable": True},
                "people": {"type": "array", "description": "the people facet: each person "
                           "shown (not hidden) and how many videos they are in",
                           "items": {"type": "object", "properties": {
                               "id": {"type": "integer"},
                               "name": {"type": "string", "nullable": True},
                               "label": {"type": "string"}, "videos": {"type": "integer"}}}}}},
                "a page of videos"),
                **_errors(400, 404)}}},
        "/api/videos/{video_id}": {"get": {
            "summary": "One video: metadata, status, error, transcript, labels, chapters",
            "parameters": [_path_id("video_id", "video id")],
            "responses": {"200": _json(_ref("VideoDetail"), "the video"), **_errors(404)}},
            "delete": {
                "summary": "Forget a video: its segments, vectors, thumbnails, labels and "
                           "chapters (never the file; the scans of a remembered folder holding "
                           "it leave it out until `vidseek index PATH` names it)",
                "parameters": [_path_id("video_id", "video id")],
                "responses": {"200": _json({"type": "object", "properties": {
                    "removed": {"type": "integer", "description": "its id"},
                    "excluded": {"type": "string", "nullable": True, "description":
                                 "its path, now left out of scans (null: no remembered "
                                 "folder holds it)"}}},
                    "the video was forgotten"),
                    **_errors(404, 409)}}},
        "/api/videos/{video_id}/chapters.vtt": {"get": {
            "summary": "The video's chapters as WebVTT (for <track kind=\"chapters\">)",
            "parameters": [_path_id("video_id", "video id")],
            "responses": {"200": {"description": "WebVTT", "content": {"text/vtt": {}}},
                          **_errors(404)}}},
        "/api/videos/{video_id}/storyboard": {"get": {
            "summary": "The video's storyboard: a JPEG sprite of thumbnails at its shots (the "
                       "tile map is the video's `storyboard`)",
            "parameters": [_path_id("video_id", "video id")],
            "responses": {"200": {"description": "JPEG", "content": {"image/jpeg": {}}},
                          "304": {"description": "not modified (If-None-Match)"},
                          **_errors(404)}}},
        "/api/videos/{video_id}/storyboard.json": {"get": {
            "summary": "Where each tile of the video's storyboard is and when its shot starts",
            "parameters": [_path_id("video_id", "video id")],
            "responses": {"200": _json(_ref("Storyboard"), "the tile map"), **_errors(404)}}},
        "/api/videos/{video_id}/clip": {"get": {
            "summary": "Seconds t0..t1 of a video as an MP4 of its own (a download), what is "
                       "said in them as its text track",
            "description": "mode copy cuts without re-encoding: the file holds the frames from "
                           "the keyframe before t0, and its edit list has players start at t0; "
                           "reencode encodes the span again (H.264, AAC), for players that "
                           "ignore edit lists. The file is what /media serves: the one indexed.",
            "parameters": [
                _path_id("video_id", "id of an indexed video"),
                _query("t0", SECONDS, "start, seconds", required=True),
                _query("t1", SECONDS, "end, seconds: after t0, not past the video's end, at "
                       f"most {settings.max_clip_seconds:g} s after t0", required=True),
                _query("mode", {"type": "string", "enum": list(MODES)},
                       "copy (default) or reencode")],
            "responses": {"200": {"description": "the clip, as an attachment",
                                  "content": {"video/mp4": {}}},
                          **_errors(400, 404, 429, 507)}}},
        "/api/reel": {"get": {
            "summary": "The best moments of a text search, one after another: an MP4, or a "
                       "playlist that plays them from this server's /media",
            "description": "The moments are the search's own (/api/search with the same q, "
                           "filters and k=count): the reel holds what the result page shows.",
            "parameters": [_query("q", QUERY_TEXT, "the query sentence (not blank)",
                                  required=True),
                           *[p for p in search_params if p["name"] not in ("k", "page")],
                           *[_query(name, {k: v for k, v in field.items()
                                           if k != "description"}, field["description"])
                             for name, field in REEL_FIELDS.items()]],
            "responses": {"200": {"description": "the reel (format mp4), or its playlist",
                                  "content": {"video/mp4": {}, "audio/x-mpegurl": {},
                                              "text/plain": {}}},
                          **_errors(400, 404, 429, 503, 507)}}},
        "/api/labels": {
            "get": {
                "summary": "Every label, with the moments and videos that carry it",
                "responses": {"200": _json({"type": "object", "properties": {
                    "labels": {"type": "array", "items": _ref("Label")}}}, "the labels")}},
            "post": {
                "summary": "Add your own labels; the library is labelled with them",
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": _json_object(LABELS_FIELDS, "names")}}},
                "responses": {"201": _json({"type": "object"}, "labels added"),
                              "200": _json({"type": "object"}, "all were there already"),
                              **_errors(400, 409, 503)}}},
        "/api/labels/{name}": {"delete": {
            "summary": "Remove a label from the library",
            "parameters": [_label_name()],
            "responses": {"200": _json({"type": "object"}, "removed"), **_errors(404, 409)}}},
        "/api/labels/{name}/examples": {"post": {
            "summary": "Mark a span of a video as an example of a label; the label is "
                       "learned again from its examples and the library relabelled",
            "parameters": [_label_name()],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": _json_object(SPAN_FIELDS, "video_id")}}},
            "responses": {"200": _json(_ref("Training"), "the label's training record"),
                          **_errors(400, 404, 409, 503)}}},
        "/api/people": {"get": {
            "summary": "The people found by their faces, named first, with time on screen",
            "parameters": [_query("hidden", {"type": "string", "enum": ["true", "false"]},
                                  "true: the hidden ones too")],
            "responses": {"200": _json({"type": "object", "properties": {
                "people": {"type": "array", "items": _ref("Person")}}}, "the people")}}},
        "/api/people/{person}": {
            "get": {
                "summary": "One person and their face tracks",
                "parameters": [_person()],
                "responses": {"200": _json({"allOf": [_ref("Person"), {
                    "type": "object", "properties": {"faces": {
                        "type": "array", "items": _ref("Face")}}}]}, "the person"),
                    **_errors(404)}},
            "delete": {
                "summary": "Forget a person for good: their face vectors, crops and tracks",
                "parameters": [_person()],
                "responses": {"200": _json({"type": "object", "properties": {
                    "forgotten": {"type": "string"}, "faces": {"type": "integer"}}},
                    "forgotten"), **_errors(404, 409)}}},
        **{f"/api/people/{{person}}/{verb}": {"post": {
            "summary": summary, "parameters": [_person()],
            "requestBody": {"required": True, "content": {"application/json": {
                "schema": _json_object(fields, next(iter(fields)))}}},
            "responses": {status: _json(_ref("Person"), answer), **_errors(400, 404, 409)}}}
           for verb, summary, fields, status, answer in (
               ("name", "Name (or rename) a person", NAME_FIELDS, "200", "the person"),
               ("merge", "Make others one person with this one (it keeps its name)",
                MERGE_FIELDS, "200", "the person"),
               ("split", "Split wrong faces off a person into a new person", SPLIT_FIELDS,
                "201", "the new person"),
               ("hide", "Hide a person from lists and facets, or show them again",
                HIDE_FIELDS, "200", "the person"))},
        "/api/jobs": {"get": {
            "summary": "The background indexing of `vidseek serve`: state, queue, current "
                       "file, rate, time left, failures with their reasons",
            "responses": {"200": _json(_ref("Jobs"), "the jobs")}}},
        "/api/scan": {"post": {
            "summary": "Queue a full scan of every remembered folder (new, changed and "
                       "deleted files)",
            "responses": {"202": _json(_ref("Jobs"), "queued; the jobs as they are now"),
                          **_errors(409)}}},
        "/api/stats": {"get": {
            "summary": "Videos by status, segments by modality, the model behind them",
            "responses": {"200": _json({"type": "object"}, "library totals")}}},
        "/api/health": {"get": {
            "summary": "Readiness: the service answers, its database is readable, and its "
                       "models and indexes are loaded",
            "responses": {"200": _json({"type": "object", "properties": {
                "status": {"type": "string", "example": "ok"}}}, "ready"),
                "503": _json({"type": "object", "properties": {
                    "status": {"type": "string", "example": "starting"},
                    "error": {"type": "string"}}},
                    "still loading models and indexes, or failed to (error)")}}},
        "/api/openapi.json": {"get": {
            "summary": "This document",
            "responses": {"200": _json({"type": "object"}, "OpenAPI 3 document")}}},
        "/media/{video_id}": {"get": {
            "summary": "The video file, if it is still the file that was indexed; honours "
                       "Range requests (206 partial content)",
            "parameters": [_path_id("video_id", "id of an indexed video")],
            "responses": {"200": {"description": "the whole file",
                                  "content": {"video/*": {}}},
                          "206": {"description": "the requested byte range"},
                          "304": {"description": "not modified (If-None-Match)"},
                          **_errors(404, 416)}}},
        "/thumbs/{segment_id}": {"get": {
            "summary": "A frame segment's JPEG thumbnail",
            "parameters": [_path_id("segment_id", "segment id (from thumbnail_url)")],
            "responses": {"200": {"description": "JPEG",
                                  "content": {"image/jpeg": {}}}, **_errors(404)}}},
    }
    for ops in paths.values():
        for method, op in ops.items():
            # What the guard in front of every route may answer (see web/guard.py).
            op["responses"].update(_errors(400, *([403] if method in ("post", "delete") else []),
                                           *([401] if settings.access_token else [])))
    document: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": "vidseek", "version": "1",
                 "description": "Semantic video search: find the moment by what is seen, "
                                "said and heard. Every error answers with one JSON shape: "
                                '{"error": {"code": 404, "message": "..."}}.'},
        "paths": paths,
        "components": {"schemas": SCHEMAS},
    }
    if settings.access_token:
        document["components"]["securitySchemes"] = {"token": {
            "type": "http", "scheme": "bearer",
            "description": "the server's access_token; a browser can instead open "
                           "/?token=TOKEN once, which sets a cookie"}}
        document["security"] = [{"token": []}]
    return document
