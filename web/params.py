"""Request parameters (query string, form or JSON body) checked into search options.

A bad value is a 400 with a message naming the parameter and what it accepts."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from werkzeug.routing import IntegerConverter

from vidseek.core.errors import QueryError
from vidseek.library import Library
from vidseek.search.labels.labeling import clean_name
from vidseek.search.queries.engine import SearchOptions
from vidseek.web.errors import ApiError

MAX_K = 100  # moments per page
MAX_DEPTH = 1000  # SearchOptions' own limit: a ranking goes this many moments deep
MAX_PAGE = 1_000_000  # library pages: past any real library, well inside SQL's OFFSET
MAX_ID = 2**63 - 1  # SQL's 64-bit integer ids: a larger one names nothing
VIDEO_STATUSES = ("indexed", "failed", "pending")


class IdConverter(IntegerConverter):
    """`<id:name>` in a route: a database id, so one past 64 bits is an unknown URL (404)."""

    def __init__(self, url_map, *args, **kwargs):
        super().__init__(url_map, *args, **{"min": 1, "max": MAX_ID, **kwargs})


@dataclass(frozen=True)
class PageRequest:
    page: int
    per_page: int

    @property
    def start(self) -> int:
        return (self.page - 1) * self.per_page


# A parameter's text as the OpenAPI document's types read it: no spaces, underscores, signs
# or digits of other scripts that Python's int() and float() would also take.
_INTEGER = re.compile(r"-?[0-9]+")
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_JSON_TYPES = {"integer": int, "number": int | float, "string": str, "array": list,
               "object": dict, "boolean": bool}


def int_param(values: Mapping[str, Any], name: str, default: int, lo: int, hi: int) -> int:
    """Parameter `name` as a whole number in lo..hi (`default` when absent); given but empty
    or anything else is a QueryError."""
    raw = values.get(name)
    if raw is None:
        return default
    if not isinstance(raw, int | float) and not _INTEGER.fullmatch(str(raw)):
        raise QueryError(f"{name} must be a whole number, got {raw!r}")
    value = int(raw)
    if not lo <= value <= hi:
        raise QueryError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def float_param(values: Mapping[str, Any], name: str, lo: float, hi: float) -> float | None:
    """Parameter `name` as a number in lo..hi (None when absent); given but empty or anything
    else is a QueryError."""
    raw = values.get(name)
    if raw is None:
        return None
    if not isinstance(raw, int | float) and not _NUMBER.fullmatch(str(raw)):
        raise QueryError(f"{name} must be a number, got {raw!r}")
    value = float(raw)
    if not lo <= value <= hi:
        raise QueryError(f"{name} must be between {lo:g} and {hi:g}, got {value:g}")
    return value


def label_param(values: Mapping[str, Any]) -> str | None:
    """The `label` parameter, None when absent; given, it must be a label name (LabelError)."""
    label = values.get("label")
    return None if label is None else clean_name(label)


def person_param(values: Mapping[str, Any]) -> str | None:
    """The `person` parameter (a name or an id), None when absent; given, not empty."""
    person = values.get("person")
    if person is not None and not person:
        raise ApiError(400, "person must be a person's name or id (see /api/people), not empty")
    return person


def has_json_type(value: Any, kind: str) -> bool:
    """Whether a parsed JSON value is of OpenAPI type `kind` (true is no number; 2.0 is an
    integer)."""
    if isinstance(value, bool):
        return kind == "boolean"
    if kind == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _JSON_TYPES[kind])


def checked_json(body: dict[str, Any], fields: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """A JSON object body, if it holds only the keys of `fields` (their OpenAPI schemas), each
    of its documented type; else a 400 naming the first key that does not."""
    for key, value in body.items():
        if key not in fields:
            raise ApiError(400, f"unknown key {key!r}: this body takes {', '.join(fields)}")
        kind = fields[key]["type"]
        if not has_json_type(value, kind):
            raise ApiError(400, f"{key} must be a JSON {kind}, got {value!r}")
    return body


def page_request(values: Mapping[str, Any], default_per_page: int, per_page_name: str = "k",
                 max_page: int = MAX_PAGE) -> PageRequest:
    """`page` (1-based, at most `max_page`) and the page size (at most MAX_K)."""
    per_page = int_param(values, per_page_name, min(default_per_page, MAX_K), 1, MAX_K)
    page = int_param(values, "page", 1, 1, max_page)
    return PageRequest(page, per_page)


def ranking_depth(page: PageRequest) -> int:
    """How many moments a search must rank to fill `page` and tell whether another follows;
    a ranking stops MAX_DEPTH deep, so pages past that are empty."""
    return min(page.page * page.per_page + 1, MAX_DEPTH)


def search_options(library: Library, values: Mapping[str, Any], k: int) -> SearchOptions:
    """SearchOptions for `k` moments from `modality`, `min_score` and `video` parameters."""
    modality = str(values.get("modality") or "")
    # Exactly the documented form, `frame,speech`: empty means every modality.
    modalities = tuple(modality.split(",")) if modality else None
    video_id = int_param(values, "video", 0, 1, MAX_ID) or None
    if video_id is not None and library.video(video_id) is None:
        raise ApiError(404, f"video={video_id}: there is no video with that id (see /api/videos)")
    return library.search_options(k=k, modalities=modalities, video_id=video_id,
                                  min_score=float_param(values, "min_score", -1.0, 1.0))
