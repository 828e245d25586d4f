"""One library wired from settings: the store, the lazily loaded models, indexer and engine.
The CLI and the web app both go through this, so each thing is built one way."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path

from vidseek.search.alignment import Alignment
from vidseek.search.engine import SearchEngine, SearchOptions
from vidseek.search.ranking import FusionOptions
from vidseek.search.records import MODALITIES
from vidseek.search.similar import ClipQuery, search_similar, span_query
from vidseek.search.store import Store
from vidseek.settings import Settings


class Library:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.store = Store(settings.sql_url, settings.index_dir)

    def check_model(self) -> None:
        """Refuse to search vectors made by another model than the configured one."""
        self.store.check_model("clip_model", self.settings.clip_model,
                               self.store.segment_count() > 0)

    @cached_property
    def encoder(self):
        from vidseek.indexer.encoders import load_image_text_encoder

        return load_image_text_encoder(self.settings)

    @cached_property
    def engine(self) -> SearchEngine:
        self.check_model()
        return SearchEngine(self.store, lambda: self.encoder)

    @cached_property
    def indexer(self):
        from vidseek.indexer.pipeline import Indexer

        return Indexer(self.settings, self.store, self.encoder, self.audio_stages(),
                       self.frame_stages(), self.subtitle_stage())

    def audio_stages(self) -> tuple:
        """The stages that read a video's audio track, as configured."""
        stages = []
        if self.settings.transcribe:
            from vidseek.indexer.speech import SpeechStage

            stages.append(SpeechStage.from_settings(self.settings, self.encoder))
        if self.settings.index_audio:
            from vidseek.indexer.audio import AudioWindowStage

            stages.append(AudioWindowStage.for_library(self.settings, self.store))
        return tuple(stages)

    def frame_stages(self) -> tuple:
        """The stages that read a video's sampled frames besides the image encoder."""
        if not self.settings.index_ocr:
            return ()
        from vidseek.indexer.ocr import OcrStage

        return (OcrStage.from_settings(self.settings, self.encoder),)

    def subtitle_stage(self):
        """The stage that reads the subtitles a video already has, if enabled."""
        if not self.settings.index_subtitles:
            return None
        from vidseek.indexer.subtitles import SubtitleStage

        return SubtitleStage(self.encoder)

    def search_options(self, **overrides) -> SearchOptions:
        """Search options from settings, with per-query overrides."""
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
        from vidseek.indexer.discover import content_hash

        self.check_model()
        info, segments = self.indexer.analyze(Path(path))
        query = ClipQuery(tuple(segments), 0.0, info.duration,
                          tuple(self.store.video_ids_with_hash(content_hash(Path(path)))))
        return search_similar(self.store, query, options)

    def close(self) -> None:
        self.store.close()
