"""Queries against a library: encode, search each modality's FAISS index, fuse, merge."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import faiss
import numpy as np

from vidseek.search.batching import TextBatcher
from vidseek.search.keyword import KeywordIndex, keyword_index_for
from vidseek.search.ranking import FusionOptions, Hit, Moment, fuse, merge_moments
from vidseek.search.records import MODALITIES
from vidseek.search.store import Store

MAX_QUERY_CHARS = 1000


class QueryError(ValueError):
    """The query itself is unusable (empty, too long, bad parameter)."""


@dataclass(frozen=True)
class SearchOptions:
    k: int = 10
    min_score: float = 0.0
    modalities: tuple[str, ...] = MODALITIES
    video_id: int | None = None  # search inside one video only
    exclude_video_ids: tuple[int, ...] = ()
    merge_gap: float = 1.0
    merge_margin: float = 0.05
    fusion: FusionOptions = FusionOptions()

    def __post_init__(self) -> None:
        if not 1 <= self.k <= 1000:
            raise QueryError("k must be between 1 and 1000")
        unknown = set(self.modalities) - set(MODALITIES)
        if unknown or not self.modalities:
            raise QueryError(f"modality must be one or more of {', '.join(MODALITIES)}")


class SearchEngine:
    """Text, image and vector queries over one Store, with the encoder that built it."""

    def __init__(self, store: Store, load_encoder: Callable[[], object]):
        self.store = store
        self._load_encoder = load_encoder  # models load on the first query that needs one
        # A query is one vector: FAISS's OpenMP pool would only fight the encoder's threads
        # (and other requests) for the same cores; concurrency comes from the requests.
        faiss.omp_set_num_threads(1)
        self._texts = TextBatcher(lambda texts: self.encoder.embed_texts(texts))

    @property
    def encoder(self):
        return self._load_encoder()

    def search_text(self, query: str, options: SearchOptions = SearchOptions()) -> list[Moment]:
        """Moments whose frames, speech or sound match a sentence."""
        query = " ".join((query or "").split())
        if not query:
            raise QueryError("the query is empty")
        if len(query) > MAX_QUERY_CHARS:
            raise QueryError(f"the query is longer than {MAX_QUERY_CHARS} characters")
        vector = self._texts.embed_one(query)
        return self._search({m: vector[None] for m in options.modalities}, options, words=query)

    def search_image(self, image: np.ndarray, options: SearchOptions = SearchOptions()) -> list[Moment]:
        """Moments that look like an RGB image (uint8, h×w×3): frames, and sounds that were
        learned from frames. Transcripts are left out: a picture is not something said."""
        vector = self.encoder.embed_images(image[None])[0]
        return self._search({m: vector[None] for m in options.modalities if m != "speech"}, options)

    def search_vectors(self, queries: dict[str, np.ndarray],
                       options: SearchOptions = SearchOptions()) -> list[Moment]:
        """Moments for query vectors already in the joint space, per modality searched."""
        return self._search(queries, options)

    def _search(self, queries: dict[str, np.ndarray], options: SearchOptions,
                words: str = "") -> list[Moment]:
        ranked: dict[str, list[Hit]] = {}
        depth = max(100, options.k * 10)
        for modality, q in queries.items():
            if modality in options.modalities and self.store.vector_count(modality):
                ranked[modality] = self._hits(modality, q, depth, options)
        if words and "speech" in options.modalities:
            # Transcript search is hybrid: the words themselves, next to the speech vectors.
            ranked["keyword"] = self._keyword_hits(words, depth, options)
        fused = fuse({s: h for s, h in ranked.items() if h}, options.fusion)
        return merge_moments(fused, options.merge_gap, options.merge_margin)[:options.k]

    def _hits(self, modality: str, q: np.ndarray, depth: int, options: SearchOptions) -> list[Hit]:
        if options.video_id is not None:
            ids, scores = self._scan_video(modality, q, options.video_id)
        else:
            extra = depth if options.exclude_video_ids else 0
            scores, ids = self.store.index(modality).search(q, depth + extra)
            # Several query vectors (a clip's frames): a segment keeps its best score.
            best: dict[int, float] = {}
            for row_scores, row_ids in zip(scores, ids):
                for s, i in zip(row_scores, row_ids):
                    if i >= 0 and s > best.get(int(i), -np.inf):
                        best[int(i)] = float(s)
            ids, scores = np.array(list(best), dtype=np.int64), np.array(list(best.values()))
        keep = scores >= options.min_score
        ids, scores = ids[keep], scores[keep]
        records = self.store.segments(ids)
        hits = [Hit(int(i), records[int(i)].video_id, modality, records[int(i)].t0,
                    records[int(i)].t1, float(s), records[int(i)].text, (modality,), float(s))
                for i, s in zip(ids, scores)
                if int(i) in records and records[int(i)].video_id not in options.exclude_video_ids]
        return sorted(hits, key=lambda h: -h.score)[:depth]

    @cached_property
    def keywords(self) -> KeywordIndex:
        """Full-text search over the transcripts, the kind the database offers."""
        return keyword_index_for(self.store.engine)

    def _keyword_hits(self, words: str, depth: int, options: SearchOptions) -> list[Hit]:
        extra = depth if options.exclude_video_ids else 0
        matches = self.keywords.search(words, depth + extra, options.video_id)
        records = self.store.segments(m.segment_id for m in matches)
        hits = [Hit(m.segment_id, r.video_id, "speech", r.t0, r.t1, m.score, r.text,
                    ("keyword",), None)
                for m in matches
                if (r := records.get(m.segment_id)) and r.video_id not in options.exclude_video_ids]
        return hits[:depth]

    def _scan_video(self, modality: str, q: np.ndarray, video_id: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact scores against every segment of one video (no index needed)."""
        segments = self.store.video_segments(video_id, modality)
        ids = np.array([s.id for s in segments], dtype=np.int64)
        if not len(ids):
            return ids, np.zeros(0)
        return ids, (self.store.vectors(ids) @ q.T).max(axis=1)
