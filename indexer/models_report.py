"""What `vidseek models` prints: each model role, whether it is installed, where, and the fix."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vidseek.core.errors import ModelUnavailable
from vidseek.core.settings import Settings
from vidseek.models.encoders import ENCODERS
from vidseek.models.registry import Registry


@dataclass(frozen=True)
class ModelStatus:
    role: str
    spec: str
    installed: bool
    detail: str


def clip_runtime_status(settings: Settings) -> ModelStatus:
    """How the image+text towers run here: runtime, precision, device, where ONNX exports
    live, and what the library's vectors were made with."""
    from vidseek.models.onnx_export import export_folder
    from vidseek.models.runtimes import resolve_runtime, resolve_text

    try:
        plan = resolve_runtime(settings)
        text_dtype, text_on = resolve_text(settings, plan)
    except ValueError as e:
        return ModelStatus("clip runtime", "-", False, f"{e}. Fix: change the setting")
    if text_on == "onnx" or plan.runtime == "onnx":
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            return ModelStatus("clip runtime", plan.describe(), False,
                               "onnxruntime is not installed, so the towers run on torch. "
                               "Fix: pip install onnxruntime onnx")
        folder = export_folder(settings.model_dir, settings.clip_model)
        exported = sorted(p.name for p in folder.glob("*.onnx")) if folder.is_dir() else []
        where = f"exports in {folder}: {', '.join(exported)}" if exported else \
            f"exported on first use into {folder}"
    else:
        where = "no export needed"
    text = (plan.onnx_text if text_on == "onnx"
            else f"torch traced ({text_dtype})" if plan.device == "cpu" else "torch")
    state, _ = _library_audio_state(settings)
    made = (f"; this library's vectors: {state['clip_vectors']} ({state.get('clip_runtime', '?')})"
            if "clip_vectors" in state else "")
    return ModelStatus("clip runtime", plan.describe(), True,
                       f"text tower: {text}; {where}{made}")


def audio_projection_status(settings: Settings) -> ModelStatus:
    """Whether this library's audio→CLIP projection is trained, on how much, and how well."""
    from vidseek.indexer.audio_projection import current_record

    state, windows = _library_audio_state(settings)
    record = current_record(state)
    if record is None:
        # Too little sound yet is not a fault: indexing trains it once there is enough.
        return ModelStatus(
            "audio→clip", "audio-projection (learned on this library)",
            windows < settings.audio_min_pairs,
            f"not trained yet: {windows} audio windows stored, `vidseek index` trains it at "
            f"{settings.audio_min_pairs}; until then sounds are kept but not searchable. "
            "Fix: `vidseek train-audio`")
    path = settings.model_dir / record.file
    spec = f"audio-projection:v{record.version}"
    if not path.is_file():
        return ModelStatus("audio→clip", spec, False,
                           f"{path} is missing. Fix: `vidseek train-audio` trains it again")
    return ModelStatus("audio→clip", spec, True, f"{record.describe()}; weights in {path}")


def _library_audio_state(settings: Settings) -> tuple[dict[str, str], int]:
    """The library's index_state and stored audio window count, without creating a library."""
    from vidseek.search.storage.store import Store

    url = settings.sql_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return {}, 0
    store = Store(url, settings.index_dir, settings.index_budget)
    try:
        return store.state(), store.audio_feature_count()
    finally:
        store.close()


def model_status(registry: Registry, settings: Settings, download: bool = False) -> ModelStatus:
    """Whether the model a registry's configured spec names is installed, where, or the fix."""
    spec = registry.spec_for(settings)
    try:
        backend = registry.find(spec)
    except ModelUnavailable as e:
        return ModelStatus(registry.role, str(spec), False, str(e))
    return ModelStatus(registry.role, str(spec), *backend.installed(spec, settings, download))


def model_report(settings: Settings, download: bool = False) -> list[ModelStatus]:
    """One row per model role the configured pipeline uses (how the CLIP towers run, after
    them), then the audio projection this library learned."""
    from vidseek.indexer.audio import AUDIO_ENCODERS
    from vidseek.indexer.ocr import OCR_ENGINES
    from vidseek.models.faces import FACE_ENGINES
    from vidseek.models.transcribe import TRANSCRIBERS

    rows = [model_status(ENCODERS, settings, download), clip_runtime_status(settings)]
    rows += [model_status(registry, settings, download) for registry, used in (
        (OCR_ENGINES, settings.index_ocr), (TRANSCRIBERS, settings.transcribe),
        (AUDIO_ENCODERS, settings.index_audio), (FACE_ENGINES, settings.index_faces)) if used]
    if settings.index_audio:
        rows.append(audio_projection_status(settings))
    return rows
