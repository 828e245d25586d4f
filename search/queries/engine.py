"""Queries against a library: encode, search each modality's FAISS index, fuse, merge."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import cached_property

import faiss
import numpy as np
from threadpoolctl import threadpool_limits

from vidseek.core.errors import QueryError
from vidseek.core.records import MODALITIES, TEXT_MODALITIES
from vidseek.models.query_encoder import QueryEncoder
from vidseek.search.queries.batching import TextBatcher
from vidseek.search.queries.keyword import KeywordIndex, keyword_index_for
from vidseek.search.queries.ranking import FusionOptions, Hit, Moment, Noise, Sources, fuse, merge_moments
from vidseek.search.storage.places import Places
from vidseek.search.storage.store import Store

MAX_QUERY_CHARS = 1000
# Full-text searches run on one thread beside the encoders, across requests: two SQLite
# connections ranking at once contend for its process-wide mutexes, and measured slower
# together than one alone (bench/keyword_speed.py); one thread keeps up with the encoder.
KEYWORD_THREADS = 1
# Vectors of each index a query is also scored against, to see what its similarities look like
# where nothing matches (ranking.Noise): a small matrix product beside a FAISS search.
NOISE_SAMPLE = 1000


@dataclass(frozen=True)
class SearchOptions:
    """How one query is searched; built from settings by vidseek/library/__init__.py `search_options`."""

    k: int
    min_score: float
    merge_gap: float
    merge_margin: float
    fusion: FusionOptions
    modalities: tuple[str, ...] = MODALITIES
    video_id: int | None = None  # search inside one video only
    exclude_video_ids: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if not 1 <= self.k <= 1000:
            raise QueryError("k must be between 1 and 1000")
        unknown = set(self.modalities) - set(MODALITIES)
        if unknown or not self.modalities:
            raise QueryError(f"modality must be one or more of {', '.join(MODALITIES)}")


class SearchEngine:
    """Text, image and vector queries over one Store, with the encoder that built it."""

    def __init__(self, store: Store, load_encoder: Callable[[], QueryEncoder]):
        self.store = store
        self._load_encoder = load_encoder  # models load on the first query that needs one
        # A query is one vector: concurrency comes from the requests, and a math library's
        # pool of threads would only fight the encoder, the full-text search and the other
        # requests for the same cores. Its idle threads also spin after each call (OpenBLAS's
        # and OpenMP's wait busily), which took a core from the encoder (bench/scale.py).
        # numpy's BLAS takes one setting for the process; OpenMP, and FAISS's BLAS built on it,
        # one for each thread (see _hits).
        threadpool_limits(1, user_api="blas")
        self._texts = TextBatcher(lambda texts: self.encoder.embed_texts(texts))
        # A text query's words are looked up while its sentence is encoded (both release the
        # GIL): a lone query's full-text search then costs no time on top of the encoder.
        self._words = ThreadPoolExecutor(KEYWORD_THREADS, "vidseek-keyword")
        self._indexes = ThreadPoolExecutor(len(MODALITIES) - 1, "vidseek-index")
        self._noise_samples: dict[str, tuple[tuple, np.ndarray]] = {}

    @property
    def encoder(self) -> QueryEncoder:
        """The query encoder, loaded by the first query that needs it."""
        return self._load_encoder()

    def search_text(self, query: str, options: SearchOptions) -> list[Moment]:
        """Moments whose frames, words (spoken, on screen, subtitled) or sound match a sentence."""
        return self.rank(self.text_sources(query, options), options)

    def search_image(self, image: np.ndarray, options: SearchOptions) -> list[Moment]:
        """Moments that look like an RGB image (uint8, h×w×3): frames, and sounds that were
        learned from frames. Text is left out: a picture is not something said or written."""
        return self.rank(self.image_sources(image, options), options)

    def search_vectors(self, queries: dict[str, np.ndarray],
                       options: SearchOptions) -> list[Moment]:
        """Moments for query vectors already in the joint space, per modality searched."""
        return self.rank(self.vector_sources(queries, options), options)

    def text_sources(self, query: str, options: SearchOptions) -> Sources:
        """Each source's hits for a sentence, before fusion: the vector index of every modality
        searched, and the words themselves (`keyword`)."""
        query = " ".join((query or "").split())
        if not query:
            raise QueryError("the query is empty")
        if len(query) > MAX_QUERY_CHARS:
            raise QueryError(f"the query is longer than {MAX_QUERY_CHARS} characters")
        worded = [m for m in TEXT_MODALITIES
                  if m in options.modalities and self.store.vector_count(m)]
        # Text search is hybrid: the words themselves, next to the text vectors.
        keyword = (self._words.submit(self._keyword_hits, query, worded, ranking_depth(options),
                                      options) if worded else None)
        vector = self._texts.embed_one(query)
        return self._sources({m: vector[None] for m in options.modalities}, options, keyword)

    def image_sources(self, image: np.ndarray, options: SearchOptions) -> Sources:
        """Each source's hits for an RGB image, before fusion (see `search_image`)."""
        vector = self.encoder.embed_images(image[None])[0]
        return self._sources({m: vector[None] for m in options.modalities
                              if m not in TEXT_MODALITIES}, options)

    def vector_sources(self, queries: dict[str, np.ndarray],
                       options: SearchOptions) -> Sources:
        """Each source's hits for query vectors already in the joint space, before fusion."""
        return self._sources(queries, options)

    def rank(self, sources: Sources, options: SearchOptions) -> list[Moment]:
        """The best `options.k` moments made of the sources' hits that stand out from their
        noise, with their words."""
        fused = fuse({s: h for s, h in sources.hits.items() if h}, options.fusion, sources.noise)
        moments = merge_moments(fused, options.merge_gap, options.merge_margin, limit=options.k)
        return with_texts(self.store, moments)

    def _sources(self, queries: dict[str, np.ndarray], options: SearchOptions,
                 keyword: Future[list[Hit]] | None = None) -> Sources:
        depth = ranking_depth(options)
        # Each count checks the index file for a newer save (a stat).
        searched = [m for m in queries if self.store.vector_count(m)]
        # The indexes are searched side by side (FAISS releases the GIL): a query waits for
        # its slowest index, not for their sum. The first is searched on the request's thread.
        others = {m: self._indexes.submit(self._hits, m, queries[m], depth, options)
                  for m in searched[1:]}
        found = {m: self._hits(m, queries[m], depth, options) for m in searched[:1]}
        found.update({m: f.result() for m, f in others.items()})
        ranked = {m: hits for m, (hits, _) in found.items()}
        if keyword is not None:
            ranked["keyword"] = keyword.result()
        return Sources(ranked, {m: noise for m, (_, noise) in found.items()})

    def _hits(self, modality: str, q: np.ndarray, depth: int,
              options: SearchOptions) -> tuple[list[Hit], Noise]:
        faiss.omp_set_num_threads(1)  # on this thread: a request's or the index pool's
        if options.video_id is not None:
            ids, scores = self._scan_video(modality, q, options.video_id)
        else:
            extra = depth if options.exclude_video_ids else 0
            scores, ids = self.store.index(modality).search(q, depth + extra)
            ids, scores = best_per_segment(ids, scores)
        keep = scores >= options.min_score
        hits = place_hits(self.store.places(modality), modality, ids[keep], scores[keep],
                          options.exclude_video_ids)
        return sorted(hits, key=lambda h: -h.score)[:depth], self._noise(modality, q)

    def _noise(self, modality: str, q: np.ndarray) -> Noise:
        """What the query's similarities are in this index where nothing matches: scored
        against a fixed sample of it (each sample vector by its best query vector, as hits)."""
        sample = self._noise_sample(modality)
        return Noise.of((sample @ q.T).max(axis=1) if len(sample) else sample)

    def _noise_sample(self, modality: str) -> np.ndarray:
        """NOISE_SAMPLE vectors of the index drawn at random (all of a smaller one), drawn
        again when the index changes."""
        index = self.store.index(modality)
        key = (id(index), index.epoch, index.generation, len(index))
        cached = self._noise_samples.get(modality)
        if cached is None or cached[0] != key:
            ids = index.ids()
            if len(ids) > NOISE_SAMPLE:
                ids = np.sort(np.random.default_rng(0).choice(ids, NOISE_SAMPLE, replace=False))
            cached = (key, index.stored_vectors(ids))
            self._noise_samples[modality] = cached
        return cached[1]

    @cached_property
    def keywords(self) -> KeywordIndex:
        """Full-text search over the transcripts, the kind the database offers."""
        return keyword_index_for(self.store.engine)

    def _keyword_hits(self, words: str, modalities: list[str], depth: int,
                      options: SearchOptions) -> list[Hit]:
        extra = depth if options.exclude_video_ids else 0
        matches = self.keywords.search(words, depth + extra, options.video_id)
        ids = [m.segment_id for m in matches]
        order = {i: n for n, i in enumerate(ids)}  # its ranking, which ties may not show
        hits = []
        # Each match is placed by the modality that holds it; matches in modalities the query
        # does not search are left out.
        for modality in modalities:
            found = self.store.places(modality).find(ids)
            kept = [m for m, ok in zip(matches, found.mask) if ok]
            hits += [Hit(m.segment_id, v, modality, t0, t1, m.score, None, ("keyword",), None)
                     for m, v, t0, t1 in zip(kept, found.video_ids.tolist(), found.t0.tolist(),
                                             found.t1.tolist())
                     if v not in options.exclude_video_ids]
        return sorted(hits, key=lambda h: order[h.segment_id])[:depth]

    def _scan_video(self, modality: str, q: np.ndarray, video_id: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact scores against every segment of one video (no index needed)."""
        segments = self.store.video_segments(video_id, modality)
        ids = np.array([s.id for s in segments], dtype=np.int64)
        if not len(ids):
            return ids, np.zeros(0)
        return ids, (self.store.vectors(ids) @ q.T).max(axis=1)


def ranking_depth(options: SearchOptions) -> int:
    """Hits each source ranks for fusion: enough that moments beyond the first k can form."""
    return max(100, options.k * 10)


def best_per_segment(ids: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """FAISS results of one or more query vectors (a clip's frames) as unique segment ids,
    each with its best score; -1 (no result) is dropped."""
    ids, scores = ids.ravel(), scores.ravel()
    valid = ids >= 0
    ids, scores = ids[valid], scores[valid]
    order = np.lexsort((-scores, ids))  # by id, best score first within an id
    ids, scores = ids[order], scores[order]
    first = np.ones(len(ids), bool)
    first[1:] = ids[1:] != ids[:-1]
    return ids[first], scores[first]


def place_hits(places: Places, modality: str, ids: np.ndarray, scores: np.ndarray,
               exclude_video_ids: tuple[int, ...] = ()) -> list[Hit]:
    """Hits for segment ids and their similarities, placed in time; ids that are no longer in
    the library (a video removed since the index was read) are dropped."""
    found = places.find(ids)
    columns = (np.asarray(ids)[found.mask], found.video_ids, found.t0, found.t1,
               np.asarray(scores, dtype=np.float64)[found.mask])
    return [Hit(i, v, modality, t0, t1, s, None, (modality,), s)
            for i, v, t0, t1, s in zip(*(c.tolist() for c in columns))
            if v not in exclude_video_ids]


def with_texts(store: Store, moments: list[Moment]) -> list[Moment]:
    """The moments with their text hits' words, read for just the moments shown."""
    texts = store.segment_texts({h.segment_id for m in moments for h in m.hits
                                 if h.modality in TEXT_MODALITIES and h.text is None})
    if not texts:
        return moments
    return [replace(m, hits=tuple(h._replace(text=texts[h.segment_id]) if h.segment_id in texts
                                  else h for h in m.hits))
            for m in moments]
