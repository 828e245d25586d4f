"""One library wired from settings: the store, the lazily loaded models, indexer and engine.
The CLI and the web app both go through this, so each thing is built one way."""

from __future__ import annotations

from dataclasses import replace
from functools import cached_property
from pathlib import Path

import numpy as np

from vidseek.search.alignment import Alignment
from vidseek.search.chapters import ChapterOptions
from vidseek.search.engine import SearchEngine, SearchOptions
from vidseek.search.labeling import Labeler, LabelingOptions, Vocabulary
from vidseek.search.ranking import FusionOptions, Moment
from vidseek.search.records import MODALITIES
from vidseek.search.similar import ClipQuery, search_similar, span_query
from vidseek.search.store import Store
from vidseek.settings import Settings

MAX_SEARCH_DEPTH = 1000  # SearchOptions' limit on k


class Library:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.store = Store(settings.sql_url, settings.index_dir, settings.index_budget)

    def check_model(self) -> None:
        """Refuse to search vectors made by another model than the configured one."""
        self.store.check_model("clip_model", self.settings.clip_model,
                               self.store.segment_count() > 0)

    @cached_property
    def encoder(self):
        from vidseek.indexer.encoders import load_image_text_encoder

        encoder = load_image_text_encoder(self.settings)
        state = self.store.state()
        if "clip_model" in state and "clip_vectors" not in state:
            # made before the family was recorded, when everything ran on torch at fp32
            self.store.set_state(clip_vectors="float")
        # Checked on the encoder that loaded, not the settings: int8 asked for where ONNX
        # Runtime cannot run gives fp32 vectors, which must not meet an int8 library.
        self.store.check_model("clip_vectors", encoder.runtime.vectors,
                               self.store.segment_count() > 0)
        return encoder

    @cached_property
    def engine(self) -> SearchEngine:
        self.check_model()
        return SearchEngine(self.store, lambda: self.encoder)

    @cached_property
    def indexer(self):
        from vidseek.indexer.executors import RayExecutor
        from vidseek.indexer.pipeline import Indexer, stages_for

        executor = RayExecutor(self.settings) if self.settings.ray_address else None
        return Indexer(self.settings, self.store, self.encoder,
                       stages_for(self.settings, self.encoder, self.store), executor)

    @cached_property
    def labels(self) -> Labeler:
        """The library's labels and chapters, computed from its stored vectors."""
        self.check_model()
        s = self.settings
        return Labeler(self.store, s.clip_model, lambda: self.encoder,
                       Vocabulary.load(s.label_vocabulary or None), labeling_options(s))

    def search_text(self, query: str, options: SearchOptions,
                    label: str | None = None) -> list[Moment]:
        """Moments matching a sentence; with `label`, only moments that carry it."""
        return self._labelled(lambda o: self.engine.search_text(query, o), options, label)

    def search_image(self, image: np.ndarray, options: SearchOptions,
                     label: str | None = None) -> list[Moment]:
        """Moments that look like an RGB image; with `label`, only moments that carry it."""
        return self._labelled(lambda o: self.engine.search_image(image, o), options, label)

    def _labelled(self, search, options: SearchOptions, label: str | None) -> list[Moment]:
        if not label:
            return search(options)
        spans = self.labels.spans(label)
        # The label's moments among the deepest ranking a search gives, best first.
        return spans.keep(search(replace(options, k=MAX_SEARCH_DEPTH)))[:options.k]

    def search_options(self, **overrides) -> SearchOptions:
        """Search options from settings (the one source of their defaults), with per-query
        overrides."""
        s = self.settings
        base = dict(
            k=s.top_k, min_score=s.min_score, merge_gap=s.merge_gap,
            merge_margin=s.merge_margin, modalities=MODALITIES,
            fusion=FusionOptions(method=s.fusion, weights=(
                ("frame", s.weight_frame), ("speech", s.weight_speech),
                ("keyword", s.weight_keyword), ("audio", s.weight_audio),
                ("ocr", s.weight_ocr), ("subtitles", s.weight_subtitles))),
        )
        base.update({k: v for k, v in overrides.items() if v is not None})
        return SearchOptions(**base)

    def similar_to_span(self, video_id: int, t0: float, t1: float,
                        options: SearchOptions) -> list[Alignment]:
        """Moments in other videos that match seconds t0..t1 of an indexed video, aligned."""
        self.check_model()
        return search_similar(self.store, span_query(self.store, video_id, t0, t1), options)

    def similar_to_clip(self, path: Path, options: SearchOptions) -> list[Alignment]:
        """Moments that match a clip file, aligned; embedded exactly as indexing would, and
        the library's own copy of the same bytes (if any) left out."""
        self.check_model()
        clip = self.indexer.analyze(Path(path))  # hashed in the decoding child, not read again
        query = ClipQuery(tuple(clip.segments), 0.0, clip.info.duration,
                          tuple(self.store.video_ids_with_hash(clip.content_hash)))
        return search_similar(self.store, query, options)

    def close(self) -> None:
        self.store.close()


def labeling_options(settings: Settings) -> LabelingOptions:
    """How labels and chapters are computed, from settings (the one source of their defaults)."""
    return LabelingOptions(
        shot_similarity=settings.shot_similarity, min_margin=settings.label_min_margin,
        max_per_moment=settings.label_max_per_moment,
        chapters=ChapterOptions(settings.chapter_min_seconds, settings.chapter_similarity))
