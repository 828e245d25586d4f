"""What `vidseek models` prints: each model role, whether it is installed, where, and the fix."""

from __future__ import annotations

from dataclasses import dataclass

from vidseek.indexer.encoders import (
    ModelUnavailable,
    Spec,
    cached_clip_weights,
    load_image_text_encoder,
    missing_clip_message,
)
from vidseek.settings import Settings


@dataclass(frozen=True)
class ModelStatus:
    role: str
    spec: str
    installed: bool
    detail: str


def clip_status(settings: Settings, download: bool = False) -> ModelStatus:
    spec = Spec.parse(settings.clip_model)
    if spec.tag == "random":
        return ModelStatus("image+text", str(spec), True,
                           "randomly initialised (for tests only: results carry no meaning)")
    if download:
        try:
            load_image_text_encoder(settings)
        except ModelUnavailable as e:
            return ModelStatus("image+text", str(spec), False, str(e))
    if settings.clip_checkpoint:
        from pathlib import Path

        path = Path(settings.clip_checkpoint).expanduser()
        return ModelStatus("image+text", str(spec), path.exists(),
                           f"checkpoint {path}" + ("" if path.exists() else " does not exist"))
    cached = cached_clip_weights(spec)
    if cached:
        return ModelStatus("image+text", str(spec), True, f"weights in open_clip cache: {cached}")
    return ModelStatus("image+text", str(spec), False, missing_clip_message(spec, "not in cache"))


def model_report(settings: Settings, download: bool = False) -> list[ModelStatus]:
    """One row per model role the configured pipeline uses."""
    return [clip_status(settings, download)]
