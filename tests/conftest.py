"""Shared fixtures: real SQLite + FAISS in temp folders, a tiny random open_clip model."""

from __future__ import annotations

import pytest

from vidseek.library import Library
from vidseek.settings import Settings

TINY_MODEL = "open_clip:vidseek-tiny/random"


def make_settings(data_dir, **overrides) -> Settings:
    """Settings for a test library: tiny model, no downloads, no environment leaking in."""
    values = dict(data_dir=data_dir, clip_model=TINY_MODEL, allow_download=False,
                  transcribe=False, index_audio=False, index_ocr=False, threads=2)
    values.update(overrides)
    return Settings.load(env={}, **values)


@pytest.fixture
def settings(tmp_path) -> Settings:
    return make_settings(tmp_path / "data")


@pytest.fixture
def library(settings):
    lib = Library(settings)
    yield lib
    lib.close()


def video_id(lib: Library, name: str) -> int:
    """The id of the library's video whose file is called `name`."""
    return next(v.id for v in lib.store.videos() if v.path.endswith("/" + name))
