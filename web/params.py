"""Request parameters (query string, form or JSON body) checked into search options.

A bad value is a 400 with a message naming the parameter and what it accepts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vidseek.library import Library
from vidseek.search.engine import QueryError, SearchOptions
from vidseek.web.errors import ApiError

MAX_K = 100  # moments per page
MAX_DEPTH = 1000  # SearchOptions' own limit: k * page may not go past it
VIDEO_STATUSES = ("indexed", "failed", "pending")


@dataclass(frozen=True)
class PageRequest:
    page: int
    per_page: int

    @property
    def start(self) -> int:
        return (self.page - 1) * self.per_page


def int_param(values: Mapping[str, Any], name: str, default: int, lo: int, hi: int) -> int:
    raw = values.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise QueryError(f"{name} must be a whole number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise QueryError(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def float_param(values: Mapping[str, Any], name: str, lo: float, hi: float) -> float | None:
    raw = values.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise QueryError(f"{name} must be a number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise QueryError(f"{name} must be between {lo:g} and {hi:g}, got {value:g}")
    return value


def page_request(values: Mapping[str, Any], default_per_page: int,
                 per_page_name: str = "k") -> PageRequest:
    """`page` (1-based) and page size, with the size capped so the depth stays searchable."""
    per_page = int_param(values, per_page_name, min(default_per_page, MAX_K), 1, MAX_K)
    page = int_param(values, "page", 1, 1, MAX_DEPTH // per_page)
    return PageRequest(page, per_page)


def search_options(library: Library, values: Mapping[str, Any], k: int) -> SearchOptions:
    """SearchOptions for `k` moments from `modality`, `min_score` and `video` parameters."""
    modality = values.get("modality")
    modalities = None
    if modality:
        modalities = tuple(m.strip() for m in str(modality).split(",") if m.strip())
    video_id = int_param(values, "video", 0, 1, 2**62) or None
    if video_id is not None and library.store.video(video_id) is None:
        raise ApiError(404, f"video={video_id}: there is no video with that id (see /api/videos)")
    return library.search_options(k=k, modalities=modalities, video_id=video_id,
                                  min_score=float_param(values, "min_score", -1.0, 1.0))
