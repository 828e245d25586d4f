"""One library wired from settings: the store, the lazily loaded models, indexer and engine.
The CLI and the web app both go through this, so each thing is built one way."""

from __future__ import annotations

from functools import cached_property

from vidseek.search.engine import SearchEngine, SearchOptions
from vidseek.search.ranking import FusionOptions
from vidseek.search.records import MODALITIES
from vidseek.search.store import ModelMismatch, Store
from vidseek.settings import Settings


class Library:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.store = Store(settings.sql_url, settings.index_dir)

    def check_model(self) -> None:
        """Refuse to search vectors made by another model than the configured one."""
        stored = self.store.state().get("clip_model")
        if stored and stored != self.settings.clip_model and self.store.segment_count():
            raise ModelMismatch(
                f"this library was embedded with {stored} but the settings ask for "
                f"{self.settings.clip_model}; run `vidseek reindex --reembed` to re-embed it, "
                f"or set VIDSEEK_CLIP_MODEL={stored}")

    @cached_property
    def encoder(self):
        from vidseek.indexer.encoders import load_image_text_encoder

        return load_image_text_encoder(self.settings)

    @cached_property
    def engine(self) -> SearchEngine:
        self.check_model()
        return SearchEngine(self.store, self.encoder)

    @cached_property
    def indexer(self):
        from vidseek.indexer.pipeline import Indexer

        return Indexer(self.settings, self.store, self.encoder, self.audio_stages())

    def audio_stages(self) -> tuple:
        """The stages that read a video's audio track, as configured."""
        return ()

    def search_options(self, **overrides) -> SearchOptions:
        """Search options from settings, with per-query overrides."""
        s = self.settings
        base = dict(
            k=s.top_k, min_score=s.min_score, merge_gap=s.merge_gap,
            merge_margin=s.merge_margin, modalities=MODALITIES,
            fusion=FusionOptions(method=s.fusion, weights=(
                ("frame", s.weight_frame), ("speech", s.weight_speech),
                ("keyword", s.weight_keyword), ("audio", s.weight_audio))),
        )
        base.update({k: v for k, v in overrides.items() if v is not None})
        return SearchOptions(**base)

    def close(self) -> None:
        self.store.close()
