"""The OpenAPI 3 description of the JSON API and media endpoints (served at /api/openapi.json).
A test checks that its paths and methods are exactly the app's routes."""

from __future__ import annotations

from typing import Any

from vidseek.search.records import MODALITIES, TEXT_MODALITIES
from vidseek.web.params import MAX_K, VIDEO_STATUSES


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    reasons = {400: "bad parameter or query", 404: "unknown id", 413: "upload too large",
               415: "the upload is not a video / not an image",
               503: "the model is not installed or the library needs `vidseek reindex`"}
    return {str(c): _json(_ref("Error"), reasons[c]) for c in codes}


def _query(name: str, schema: dict[str, Any], description: str,
           required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema,
            "description": description}


def _path_id(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "integer"},
            "description": description}


SEARCH_FIELDS = {
    "k": {"type": "integer", "minimum": 1, "maximum": MAX_K, "description": "moments per page"},
    "page": {"type": "integer", "minimum": 1, "description": "1-based page number"},
    "modality": {"type": "string", "example": ",".join(MODALITIES),
                 "description": f"comma-separated subset of {', '.join(MODALITIES)}"},
    "min_score": {"type": "number", "minimum": -1, "maximum": 1,
                  "description": "drop hits with a cosine similarity below this"},
    "video": {"type": "integer", "description": "search inside this video only"},
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
                                          "and/or keyword (words in the text)"},
            "snippet": {"type": "object", "nullable": True, "properties": {
                "text": {"type": "string"},
                "modality": {"type": "string", "enum": list(TEXT_MODALITIES),
                             "description": "where the words are: said, on screen, subtitled"},
                "highlights": {"type": "array", "description": "[start, end) character ranges "
                               "of query words", "items": {"type": "array",
                                                           "items": {"type": "integer"}}}}},
            "thumbnail_url": {"type": "string", "nullable": True},
            "playback_url": {"type": "string", "example": "/media/3#t=12.00,18.00"},
        },
    },
    "AlignedMoment": {"allOf": [_ref("Moment"), {"type": "object", "properties": {
        "offset": {"type": "number", "description": "time in this video minus time in the clip"},
        "matched_segments": {"type": "integer"}}}]},
    "SearchPage": {"type": "object", "properties": {
        "query": {}, "page": {"type": "integer"}, "k": {"type": "integer"},
        "has_more": {"type": "boolean"}, "results": {"type": "array", "items": _ref("Moment")}}},
    "Video": {"type": "object", "properties": {
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
        "media_url": {"type": "string", "nullable": True}}},
    "VideoDetail": {"allOf": [_ref("Video"), {"type": "object", "properties": {
        "segments": {"type": "object", "additionalProperties": {"type": "integer"}},
        "transcript": {"type": "array", "items": {"type": "object", "properties": {
            "t0": {"type": "number"}, "t1": {"type": "number"}, "text": {"type": "string"}}}}}}]},
}


def openapi_document(max_upload_mb: float) -> dict[str, Any]:
    """The OpenAPI 3.0 document of this service."""
    search_params = [_query(name, {k: v for k, v in field.items() if k != "description"},
                            field["description"]) for name, field in SEARCH_FIELDS.items()]
    upload_limit = f"at most {max_upload_mb:g} MB"
    form = {name: field for name, field in SEARCH_FIELDS.items() if name != "page"}
    return {
        "openapi": "3.0.3",
        "info": {"title": "vidseek", "version": "1",
                 "description": "Semantic video search: find the moment by what is seen, "
                                "said and heard. Every error answers with one JSON shape: "
                                '{"error": {"code": 404, "message": "..."}}.'},
        "paths": {
            "/api/search": {"get": {
                "summary": "Moments matching a sentence",
                "parameters": [_query("q", {"type": "string", "maxLength": 1000},
                                      "the query sentence", required=True), *search_params],
                "responses": {"200": _json(_ref("SearchPage"), "ranked moments"),
                              **_errors(400, 404, 503)}}},
            "/api/search/image": {"post": {
                "summary": "Moments that look like an image",
                "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                    "type": "object", "required": ["image"], "properties": {
                        "image": {"type": "string", "format": "binary",
                                  "description": f"JPEG, PNG, WebP...; {upload_limit}"},
                        "page": SEARCH_FIELDS["page"], **form}}}}},
                "responses": {"200": _json(_ref("SearchPage"), "ranked moments"),
                              **_errors(400, 404, 413, 415, 503)}}},
            "/api/search/video": {"post": {
                "summary": "Moments in other videos that match a clip, aligned in time",
                "description": "The query clip's own video (same bytes) is left out.",
                "requestBody": {"required": True, "content": {
                    "multipart/form-data": {"schema": {
                        "type": "object", "required": ["clip"], "properties": {
                            "clip": {"type": "string", "format": "binary",
                                     "description": f"a video clip; {upload_limit}"}, **form}}},
                    "application/json": {"schema": {
                        "type": "object", "required": ["video_id"], "properties": {
                            "video_id": {"type": "integer"},
                            "t0": {"type": "number", "description": "default 0"},
                            "t1": {"type": "number", "description": "default: the end"},
                            **form}}}}},
                "responses": {"200": _json({"type": "object", "properties": {
                    "query": {"type": "object"},
                    "results": {"type": "array", "items": _ref("AlignedMoment")}}},
                    "aligned moments"), **_errors(400, 404, 413, 415, 503)}}},
            "/api/videos": {"get": {
                "summary": "The library's videos and their index status",
                "parameters": [
                    _query("status", {"type": "string", "enum": list(VIDEO_STATUSES)},
                           "only videos with this status"),
                    _query("page", {"type": "integer", "minimum": 1}, "1-based page number"),
                    _query("per_page", {"type": "integer", "minimum": 1, "maximum": MAX_K},
                           "videos per page")],
                "responses": {"200": _json({"type": "object", "properties": {
                    "status": {"type": "string", "nullable": True}, "page": {"type": "integer"},
                    "per_page": {"type": "integer"}, "total": {"type": "integer"},
                    "videos": {"type": "array", "items": _ref("Video")}}}, "a page of videos"),
                    **_errors(400)}}},
            "/api/videos/{video_id}": {"get": {
                "summary": "One video: metadata, status, error, transcript",
                "parameters": [_path_id("video_id", "video id")],
                "responses": {"200": _json(_ref("VideoDetail"), "the video"), **_errors(404)}}},
            "/api/stats": {"get": {
                "summary": "Videos by status, segments by modality, the model behind them",
                "responses": {"200": _json({"type": "object"}, "library totals")}}},
            "/api/health": {"get": {
                "summary": "Liveness: the service answers and its database is readable",
                "responses": {"200": _json({"type": "object", "properties": {
                    "status": {"type": "string", "example": "ok"}}}, "healthy")}}},
            "/api/openapi.json": {"get": {
                "summary": "This document",
                "responses": {"200": _json({"type": "object"}, "OpenAPI 3 document")}}},
            "/media/{video_id}": {"get": {
                "summary": "The video file; honours Range requests (206 partial content)",
                "parameters": [_path_id("video_id", "id of an indexed video")],
                "responses": {"200": {"description": "the whole file",
                                      "content": {"video/*": {}}},
                              "206": {"description": "the requested byte range"},
                              **_errors(404)}}},
            "/thumbs/{segment_id}": {"get": {
                "summary": "A frame segment's JPEG thumbnail",
                "parameters": [_path_id("segment_id", "segment id (from thumbnail_url)")],
                "responses": {"200": {"description": "JPEG",
                                      "content": {"image/jpeg": {}}}, **_errors(404)}}},
        },
        "components": {"schemas": SCHEMAS},
    }
