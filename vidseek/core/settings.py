"""The one settings object: a declared table of options, read from defaults, a TOML file and
`VIDSEEK_*` environment variables (in that order), built once and passed down."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "VIDSEEK_"


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "vidseek"


def _opt(default: Any, help: str, shown: str | None = None) -> Any:
    """A setting: its default, its help, and how docs show a default computed per machine."""
    metadata = {"help": help, **({"shown": shown} if shown else {})}
    if callable(default):
        return field(default_factory=default, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class IndexBudget:
    """What a vector index may cost: bytes of memory for the vectors, and the recall@10 to keep."""

    memory_bytes: int
    recall: float


@dataclass(frozen=True)
class Settings:
    data_dir: Path = _opt(_default_data_dir, "where the database, FAISS indexes and models live",
                          shown="~/.local/share/vidseek ($XDG_DATA_HOME/vidseek when set)")
    database_url: str = _opt("", "SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db (pip "
                                 "install 'vidseek[postgresql]'); empty means SQLite at "
                                 "DATA_DIR/vidseek.db")
    clip_model: str = _opt(
        "open_clip:ViT-B-32/laion2b_s34b_b79k", "image+text encoder spec: open_clip:MODEL/PRETRAINED"
    )
    clip_checkpoint: str = _opt("", "local open_clip checkpoint file or folder (skips any download)")
    allow_download: bool = _opt(True, "let open_clip download weights from its hub when missing")
    frame_rate: float = _opt(1.0, "frames sampled per second of video")
    scene_threshold: float = _opt(
        0.02, "mean pixel change (0-1) below which a sampled frame repeats the last kept one"
    )
    max_static_gap: float = _opt(10.0, "keep at least one frame per this many seconds of static video")
    batch_size: int = _opt(32, "frames per encoder batch")
    threads: int = _opt(0, "torch, ONNX Runtime and Whisper threads; 0 means all cores (the "
                           "web app: 1, as requests run side by side)")
    text_precision: str = _opt("auto", "text encoder precision: float32, bfloat16, or auto "
                                       "(bfloat16 where the CPU has it natively)")
    decode_timeout: float = _opt(900.0, "seconds one file may take to decode before it is failed")
    top_k: int = _opt(10, "moments returned by a search")
    min_score: float = _opt(0.0, "cosine similarity below which a hit is dropped")
    merge_gap: float = _opt(1.0, "hits in one video closer than this many seconds merge into a moment")
    merge_margin: float = _opt(
        0.05, "a neighbouring hit joins a moment if its similarity is this close to the best one"
    )
    fusion: str = _opt("rrf", "how modalities combine: rrf (reciprocal rank) or weighted (scores)")
    evidence_z: float = _opt(
        3.0, "a vector hit counts (in fusion and in matched_by) only when its similarity stands "
             "this many spreads above the median of the query's similarities to a sample of its "
             "index (a robust z-score); 0 counts every hit")
    weight_frame: float = _opt(1.0, "fusion weight of frame hits")
    weight_speech: float = _opt(1.0, "fusion weight of transcript vector hits")
    weight_keyword: float = _opt(1.0, "fusion weight of transcript keyword hits")
    weight_audio: float = _opt(0.5, "fusion weight of audio hits")
    whisper_backend: str = _opt("faster-whisper", "speech backend: faster-whisper or openai-whisper")
    whisper_model: str = _opt("base", "Whisper size (tiny, base, small, ...) or a model folder")
    whisper_device: str = _opt("auto", "cpu, cuda, cuda:N, or auto (as `device`)")
    whisper_compute_type: str = _opt("auto", "CTranslate2 compute type; auto: int8 on the CPU, "
                                             "float16 on CUDA")
    whisper_beam_size: int = _opt(
        5, "Whisper beam width: 1 (greedy) is faster, 5 hears unclear words better")
    transcribe: bool = _opt(True, "transcribe speech while indexing")
    index_audio: bool = _opt(True, "describe the sound in overlapping windows while indexing "
                             "(Whisper's encoder), searchable once an audio projection is trained")
    audio_window: float = _opt(3.0, "seconds of sound per audio window")
    audio_hop: float = _opt(1.5, "seconds between the starts of consecutive audio windows")
    audio_min_pairs: int = _opt(
        600, "audio windows (each paired with the frames it overlaps) the library needs before "
             "`vidseek index` trains the audio projection by itself")
    host: str = _opt("127.0.0.1", "address `vidseek serve` listens on")
    port: int = _opt(8765, "port `vidseek serve` listens on")
    max_upload_mb: float = _opt(200.0, "largest clip or image accepted by the search API")
    # --- web hardening: who may talk to the server, and what one upload may cost it ---
    allowed_hosts: str = _opt(
        "", "Host names the server answers to besides localhost names and its bound address "
            "(comma-separated, e.g. a LAN name; * for any, behind a proxy that checks them)")
    access_token: str = _opt(
        "", "when set, every request must carry it: `Authorization: Bearer TOKEN`, or a cookie "
            "the browser gets by opening /?token=TOKEN once")
    max_image_megapixels: float = _opt(
        16.0, "largest image, or frame of a query clip (decoded pixels, from the header where "
              "the format says), a query accepts; bigger is refused (413) before it is decoded")
    max_clip_frames: int = _opt(
        18_000, "most frames a query clip may hold (10 minutes at 30 fps); more is refused (413)")
    upload_decode_slots: int = _opt(2, "uploaded images or clips decoded at the same time; "
                                       "more wait their turn")
    # indexing on a Ray cluster
    ray_address: str = _opt("", "Ray cluster that analyses the files while this process writes "
                                "the library: auto, HOST:PORT or ray://HOST:10001; empty "
                                "indexes on this machine")
    ray_cpus_per_file: int = _opt(1, "CPUs one file's analysis asks Ray for (its torch threads)")
    ray_gpus_per_file: float = _opt(0.25, "share of a GPU one file's analysis asks Ray for, on "
                                          "a cluster with GPUs when a model may run on one (device or "
                                          "whisper_device not cpu)")
    # encoder runtimes and devices (ONNX Runtime on CPU, CUDA where there is a GPU)
    device: str = _opt("auto", "where the CLIP towers run: auto (CUDA when torch sees one), "
                               "cpu, cuda or cuda:N; a CUDA device that fails to start means cpu")
    clip_runtime: str = _opt("auto", "CLIP runtime: torch, onnx (ONNX Runtime, CPU) or auto "
                                     "(the faster measured for each tower: docs/how-it-works.md)")
    clip_precision: str = _opt("auto", "CLIP precision: fp32, int8 (ONNX Runtime dynamic "
                                       "quantisation, CPU), fp16 (CUDA), or auto (fp16 on "
                                       "CUDA, else fp32)")
    # video classification: zero-shot and learned labels on moments and videos, chapters
    label_after_index: bool = _opt(True, "label new videos and cut their chapters after "
                                         "`vidseek index` (else: `vidseek labels update`)")
    label_vocabulary: str = _opt("", "a TOML label vocabulary to use instead of the shipped one")
    label_min_margin: float = _opt(
        0.03, "cosine by which a moment must be closer to a label than to a prompt naming "
              "nothing in particular before it carries that label")
    label_max_per_moment: int = _opt(3, "most labels one moment carries (the most confident)")
    shot_similarity: float = _opt(
        0.85, "consecutive frames less similar than this (cosine) start a new shot")
    chapter_min_seconds: float = _opt(20.0, "a chapter shorter than this joins a neighbour")
    chapter_similarity: float = _opt(
        0.9, "neighbouring chapters at least this similar (cosine of their mean frames, and "
             "of what is said) are one chapter")
    # index scale: the index kind by memory budget, tuned to a recall target
    index_memory_mb: int = _opt(
        512, "memory the vectors of one modality's index may take; past it, compact product "
             "codes re-scored from a float16 copy on disk")
    index_recall: float = _opt(
        0.95, "recall@10 against exact search that an index is tuned to reach when it is "
              "built (the shots it searches, or nprobe and re-scoring depth)")
    # What is written: on-screen text (OCR) and the subtitles a video already has (issue 14)
    index_ocr: bool = _opt(True, "read the text shown on screen (OCR) in the sampled frames")
    ocr_model: str = _opt("rapidocr:ppocr-v4", "on-screen text reader spec: rapidocr:ppocr-v4 "
                          "(PP-OCRv4, Chinese and English, ONNX Runtime)")
    ocr_frame_side: int = _opt(360, "short side frames are decoded at when reading on-screen "
                                    "text (CLIP's 224 blurs small text)")
    ocr_detect_side: int = _opt(320, "text detection runs on frames scaled to this longer side; "
                                     "recognition reads the boxes it finds at full size")
    index_subtitles: bool = _opt(True, "index subtitle files beside a video (name.srt, "
                                 "name.en.vtt, .ass) and text subtitle streams inside it")
    transcribe_subtitled: bool = _opt(
        False, "run Whisper on videos that have subtitles too (by default their subtitles "
               "stand in for the transcript: cheaper, and exact)")
    weight_ocr: float = _opt(1.0, "fusion weight of on-screen text vector hits")
    weight_subtitles: float = _opt(1.0, "fusion weight of subtitle vector hits")
    # Exports: clips cut from videos, reels of a search's moments (vidseek/export/)
    max_clip_seconds: float = _opt(600.0, "longest span a clip may be cut to (seconds); a "
                                          "longer one is refused (400)")
    export_slots: int = _opt(2, "clips and reels made at the same time; one more is refused "
                                "(429) until one has finished")
    export_min_free_mb: float = _opt(1024.0, "free disk an export must leave where it writes; "
                                             "one that would leave less is refused (507)")
    reel_count: int = _opt(10, "moments a reel holds at most (the best of the search)")
    reel_pad: float = _opt(1.0, "seconds of context added before and after each moment of a reel")
    reel_max_seconds: float = _opt(300.0, "longest a reel may last; the best moments that fit")
    # Who is on screen: faces, tracked through a shot and grouped into people (issue 30)
    index_faces: bool = _opt(True, "find faces in the sampled frames, track them through a shot "
                                   "and group them into people")
    face_model: str = _opt("dlib:resnet-v1", "face model spec: dlib:resnet-v1 (HOG detector, "
                                             "5-point landmarks, ResNet descriptor)")
    face_frame_side: int = _opt(360, "short side frames are decoded at when finding faces")
    face_upsample: int = _opt(1, "times the face detector doubles a frame first: 1 finds faces "
                                 "down to ~40 px (a ninth of a 360 px frame), 0 is 4x cheaper")
    face_max_per_frame: int = _opt(10, "largest faces of one frame that are tracked (a crowd "
                                       "costs no more than this)")
    face_similarity: float = _opt(0.91, "cosine similarity at or above which two faces are the "
                                        "same person (bench/faces.py)")
    face_min_tracks: int = _opt(2, "face tracks alike that found a new person (a face seen "
                                   "once stays unnamed until it is seen again)")
    # A library that keeps itself current: `vidseek serve` watches and indexes (issue 32)
    watch: bool = _opt(True, "`vidseek serve` watches the remembered folders and indexes what "
                             "changes in a background job (frames first, other signals after)")
    watch_mode: str = _opt("auto", "how changes are noticed: inotify, polling, or auto (polling "
                                   "only for a folder on a network filesystem or where inotify "
                                   "cannot start)")
    watch_poll_seconds: float = _opt(30.0, "seconds between two looks at a polled folder")
    watch_settle_seconds: float = _opt(2.0, "a new or changed file is indexed once its size and "
                                            "time stood still this long (a copy in progress is "
                                            "never indexed half-way)")
    watch_scan_minutes: float = _opt(60.0, "a full scan of the remembered folders this often, "
                                           "the safety net for missed events (0: at start only)")

    @property
    def sql_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'vidseek.db'}"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "faiss"

    @property
    def index_budget(self) -> IndexBudget:
        """What each vector index may cost and must find."""
        return IndexBudget(self.index_memory_mb * 2**20, self.index_recall)

    @property
    def model_dir(self) -> Path:
        return self.data_dir / "models"

    @classmethod
    def load(
        cls,
        config_file: str | os.PathLike | None = None,
        env: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> Settings:
        """Defaults, then the TOML file, then VIDSEEK_* variables, then explicit overrides."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        config_file = config_file or env.get(ENV_PREFIX + "CONFIG")
        if config_file:
            with open(config_file, "rb") as f:
                values.update(tomllib.load(f))
        for f in dataclasses.fields(cls):
            if ENV_PREFIX + f.name.upper() in env:
                values[f.name] = env[ENV_PREFIX + f.name.upper()]
        values.update({k: v for k, v in overrides.items() if v is not None})
        unknown = set(values) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        return cls(**{name: _coerce(cls, name, value) for name, value in values.items()})

    @classmethod
    def table(cls) -> list[tuple[str, str, str]]:
        """(name, default as the docs show it, help) for every setting, in declaration order:
        `vidseek models --settings`, docs/settings.md and the README's short list."""
        return [(f.name, _shown_default(f), f.metadata["help"]) for f in dataclasses.fields(cls)]


def _shown_default(f: dataclasses.Field) -> str:
    """A default as written in a TOML file, or as `shown` describes one computed per machine."""
    if "shown" in f.metadata:
        return f.metadata["shown"]
    return str(f.default).lower() if isinstance(f.default, bool) else str(f.default)


def _coerce(cls: type, name: str, value: Any) -> Any:
    kind = {f.name: f.type for f in dataclasses.fields(cls)}[name]
    try:
        if kind == "bool" and isinstance(value, str):
            if value.lower() not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                raise ValueError(value)
            return value.lower() in {"1", "true", "yes", "on"}
        converter = {"Path": lambda v: Path(v).expanduser(), "int": int, "float": float,
                     "str": str, "bool": bool}[kind]
        return converter(value)
    except (TypeError, ValueError):
        raise ValueError(f"setting {name} must be a {kind}, got {value!r}") from None
