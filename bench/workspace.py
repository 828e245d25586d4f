"""What the sound and pipeline benches share: their command line (how long, how many runs, how
many threads) and a workspace, a temp folder whose models home holds the bundled Whisper
model, assembled once for every library a bench makes there. Each bench keeps its own
measurement."""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from vidseek.core.settings import Settings
from vidseek.models.whisper_model import resolve_whisper_model


def bench_arguments(doc: str, minutes: float, of: str) -> argparse.ArgumentParser:
    """The parser with the options every such bench takes (`--minutes` of `of`, `--runs`,
    `--threads`); a bench adds its own before parsing."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    p.add_argument("--minutes", type=float, default=minutes,
                   help=f"length of the {of} (default {minutes:g})")
    p.add_argument("--runs", type=int, default=3, help="runs per figure; the median is shown")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: all cores)")
    return p


@dataclass(frozen=True)
class Workspace:
    root: Path  # a temp folder, removed afterwards
    defaults: Settings  # the default settings, with their models home under `root`
    whisper_model: str  # the folder the bundled Whisper model was assembled into


@contextmanager
def workspace(threads: int = 0) -> Iterator[Workspace]:
    """A temp workspace with the Whisper model assembled, before any clock starts."""
    with tempfile.TemporaryDirectory(prefix="vidseek-bench-") as tmp:
        root = Path(tmp)
        defaults = Settings.load(env={}, data_dir=root / "models-home", threads=threads)
        yield Workspace(root, defaults,
                        resolve_whisper_model(defaults.whisper_model, defaults.model_dir))
