"""Search by who: the moments a person is on screen, and the moments whose faces look like the
face in a photo. Both are searched in the face space alone, never fused with the joint space's
signals; a moment found this way says `matched_by: face`."""

from __future__ import annotations

import numpy as np

from vidseek.core.errors import QueryError
from vidseek.core.records import FACE
from vidseek.models.faces import FaceEngine
from vidseek.search.people.directory import FaceTrackInfo
from vidseek.search.queries.engine import SearchOptions, best_per_segment, place_hits, ranking_depth
from vidseek.search.queries.ranking import Hit, Moment, merge_moments
from vidseek.search.storage.store import Store


def query_face(engine: FaceEngine, image: np.ndarray) -> np.ndarray:
    """The identity vector of the largest face in an RGB image; QueryError when it has none."""
    boxes = engine.detect(image)
    if not boxes:
        raise QueryError("no face was found in the image: send a photo where a face is seen "
                         "from the front, at least ~40 pixels across")
    return engine.describe(image, boxes[:1])[0]


def _in_scope(hits: list[Hit], options: SearchOptions) -> list[Hit]:
    return [h for h in hits if h.video_id not in options.exclude_video_ids
            and (options.video_id is None or h.video_id == options.video_id)]


def moments_of(hits: list[Hit], options: SearchOptions) -> list[Moment]:
    return merge_moments(_in_scope(hits, options), options.merge_gap, options.merge_margin,
                         limit=options.k)


def person_moments(tracks: list[FaceTrackInfo], options: SearchOptions) -> list[Moment]:
    """The moments a person (their face `tracks`) is on screen; tracks that touch are one."""
    hits = [Hit(t.segment_id, t.video_id, FACE, t.t0, t.t1, 1.0, None, (FACE,), 1.0)
            for t in tracks]
    return moments_of(hits, options)


def face_moments(store: Store, vector: np.ndarray, similarity: float,
                 options: SearchOptions) -> list[Moment]:
    """The moments whose face tracks are at least `similarity` alike to a face's `vector`."""
    if not store.vector_count(FACE):
        return []
    scores, ids = store.index(FACE).search(vector[None], ranking_depth(options))
    ids, scores = best_per_segment(ids, scores)
    keep = scores >= similarity
    return moments_of(place_hits(store.places(FACE), FACE, ids[keep], scores[keep]), options)
