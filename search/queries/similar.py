"""Video-to-video search: a clip's segment vectors against the library, aligned in time.

No decoding and no model here: the query segments come from the indexer (an uploaded clip,
embedded the same way as indexing) or from the store (a span of an indexed video)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from vidseek.core.errors import QueryError
from vidseek.core.records import Segment
from vidseek.search.queries.alignment import Alignment, AlignmentOptions, QuerySpan, align_clip
from vidseek.search.queries.engine import SearchOptions, place_hits, with_texts
from vidseek.search.queries.ranking import Hit
from vidseek.search.storage.store import Store

# Hits kept per query segment. Enough for a few near-duplicates per video to vote; the
# query's own video is searched past, not counted in it.
MIN_DEPTH = 50


@dataclass(frozen=True)
class ClipQuery:
    """A clip to search by: its segments in its own time, and the span they cover."""

    segments: tuple[Segment, ...]
    t0: float
    t1: float
    exclude_video_ids: tuple[int, ...] = ()  # the clip's own video, when it is in the library

    def __post_init__(self) -> None:
        if not self.segments:
            raise QueryError("the query clip has no indexed segments to search with")


def span_query(store: Store, video_id: int, t0: float, t1: float) -> ClipQuery:
    """The stored segments of `video_id` that overlap `t0..t1`; that video is excluded."""
    if not t1 > t0 >= 0:
        raise QueryError("t0 and t1 must satisfy 0 <= t0 < t1")
    records = [r for r in store.video_segments(video_id) if r.t1 > t0 and r.t0 < t1]
    if not records:
        raise QueryError(f"video {video_id} has no indexed segments between {t0:g} s and {t1:g} s")
    vectors = store.vectors(np.array([r.id for r in records]))
    segments = tuple(Segment(r.modality, r.t0, r.t1, v, text=r.text)
                     for r, v in zip(records, vectors, strict=True))
    return ClipQuery(segments, t0, t1, (video_id,))


def search_similar(store: Store, query: ClipQuery,
                   options: SearchOptions) -> list[Alignment]:
    """Moments in other videos that match the clip, each aligned in time with it, best first."""
    spans: list[QuerySpan] = []
    hits: list[list[Hit]] = []
    for modality in options.modalities:
        segments = [s for s in query.segments if s.modality == modality]
        if not segments or not store.vector_count(modality):
            continue
        spans.extend(QuerySpan(s.t0, s.t1) for s in segments)
        hits.extend(_segment_hits(store, modality, segments, query.exclude_video_ids, options))
    if not spans:
        raise QueryError("the clip has none of the modalities searched "
                         f"({', '.join(options.modalities)}) or the library has none of them")
    alignments = align_clip(spans, hits, query.t0, query.t1,
                            AlignmentOptions(tolerance=options.merge_gap, k=options.k))
    alignments = [_within_video(store, a) for a in alignments]
    moments = with_texts(store, [a.moment for a in alignments])
    return [replace(a, moment=m) for a, m in zip(alignments, moments, strict=True)]


def _segment_hits(store: Store, modality: str, segments: list[Segment],
                  exclude: tuple[int, ...], options: SearchOptions) -> list[list[Hit]]:
    depth = max(MIN_DEPTH, options.k * 5)
    skipped = sum(len(store.video_segments(v, modality)) for v in exclude)
    scores, ids = store.index(modality).search(np.stack([s.vector for s in segments]),
                                               depth + skipped)
    places = store.places(modality)
    out = []
    for row_scores, row_ids in zip(scores, ids, strict=True):
        keep = (row_ids >= 0) & (row_scores >= options.min_score)
        row = place_hits(places, modality, row_ids[keep], row_scores[keep], exclude)
        if options.video_id is not None:
            row = [h for h in row if h.video_id == options.video_id]
        out.append(row[:depth])
    return out


def _within_video(store: Store, alignment: Alignment) -> Alignment:
    """Clip the aligned span to the target video's length."""
    video = store.video(alignment.moment.video_id)
    if video is None or not video.duration:
        return alignment
    m = alignment.moment
    t0, t1 = min(m.t0, video.duration), min(m.t1, video.duration)
    return replace(alignment, moment=replace(m, t0=t0, t1=t1))
