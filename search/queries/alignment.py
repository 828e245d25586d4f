"""Aligning a query clip with the videos it matches: temporal offset voting. Pure functions.

Each hit of a query segment votes for an offset `hit.t0 - query.t0` (target time minus query
time). A copy of the clip inside another video makes many query segments agree on one offset;
chance look-alikes scatter. The best-supported offset per video gives the aligned span
`clip_t0 + offset .. clip_t1 + offset`, scored by the similarities that support it."""

from __future__ import annotations

import bisect
from dataclasses import dataclass

import numpy as np

from vidseek.search.queries.ranking import Hit, Moment


@dataclass(frozen=True)
class QuerySpan:
    """One piece of the query clip, in the clip's own time."""

    t0: float
    t1: float


@dataclass(frozen=True)
class AlignmentOptions:
    tolerance: float = 1.0  # seconds: votes this close to an offset support it
    k: int = 10  # alignments returned


@dataclass(frozen=True)
class Alignment:
    """Where a query clip lines up in one video."""

    moment: Moment  # the aligned span in the target video, with the hits that support it
    offset: float  # target time = query time + offset
    matched: int  # query segments with a hit at this offset


@dataclass(frozen=True)
class _Vote:
    offset: float
    query_index: int
    hit: Hit


def align_clip(spans: list[QuerySpan], hits: list[list[Hit]], clip_t0: float, clip_t1: float,
               options: AlignmentOptions | None = None) -> list[Alignment]:
    """The best-aligned span of each video the query's segments hit, best first.

    `hits[i]` are the hits of query segment `spans[i]`. The score is the duration-weighted mean,
    over query segments, of each segment's best similarity at the chosen offset (0 for a
    segment with no hit there), so a video that matches the whole clip in order beats one
    that matches a single frame of it.
    """
    options = options or AlignmentOptions()
    weights = np.array([max(s.t1 - s.t0, 1e-3) for s in spans])
    weights = weights / weights.sum() if len(weights) else weights
    votes: dict[int, list[_Vote]] = {}
    for i, (span, segment_hits) in enumerate(zip(spans, hits, strict=True)):
        for hit in segment_hits:
            votes.setdefault(hit.video_id, []).append(_Vote(hit.t0 - span.t0, i, hit))
    alignments = [_best_offset(video_id, video_votes, weights, clip_t0, clip_t1, options.tolerance)
                  for video_id, video_votes in votes.items()]
    alignments.sort(key=lambda a: (-a.moment.score, -a.matched, a.moment.video_id))
    return alignments[:options.k]


def _best_offset(video_id: int, votes: list[_Vote], weights: np.ndarray, clip_t0: float,
                 clip_t1: float, tolerance: float) -> Alignment:
    votes = sorted(votes, key=lambda v: v.offset)
    offsets = [v.offset for v in votes]
    # Candidate offsets on a grid of half the tolerance: every vote is near one, and each
    # window costs only the votes inside it (no quadratic all-pairs comparison).
    step = tolerance / 2
    candidates = sorted({round(o / step) * step for o in offsets})
    best: tuple[float, int, list[_Vote]] | None = None
    for c in candidates:
        window = votes[bisect.bisect_left(offsets, c - tolerance):
                       bisect.bisect_right(offsets, c + tolerance)]
        per_query: dict[int, _Vote] = {}
        for v in window:
            kept = per_query.get(v.query_index)
            if kept is None or v.hit.score > kept.hit.score:
                per_query[v.query_index] = v
        score = float(sum(weights[i] * v.hit.score for i, v in per_query.items()))
        if best is None or (score, len(per_query)) > (best[0], best[1]):
            best = (score, len(per_query), list(per_query.values()))
    score, matched, support = best
    # The median of the supporting votes: robust to a partial first or last scene, whose
    # segment starts before the clip does and so votes a little off.
    offset = float(np.median([v.offset for v in support]))
    aligned = tuple(sorted((v.hit for v in support), key=lambda h: -h.score))
    t0, t1 = max(0.0, clip_t0 + offset), max(0.0, clip_t1 + offset)
    return Alignment(Moment(video_id, t0, t1, score, aligned), offset, matched)
