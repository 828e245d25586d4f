"""Shared fixtures: real SQLite + FAISS in temp folders, a tiny random open_clip model loaded
once per session, and no state of the machine (VIDSEEK_* variables, model caches) leaking in."""

from __future__ import annotations

import os

import huggingface_hub.constants
import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from vidseek.core.settings import ENV_PREFIX, Settings
from vidseek.library import Library
from vidseek.models.encoders import ImageTextEncoder, load_image_text_encoder
from vidseek.models.whisper_model import resolve_whisper_model
from vidseek.search.storage.database import MIGRATIONS_DIR

TINY_MODEL = "open_clip:vidseek-tiny/random"
# The settings' index budget, for tests that open a Store without a Library.
INDEX_BUDGET = Settings.load(env={}).index_budget
# What `auto` would leave to the CPU, pinned so that every test takes the same path on every
# machine: text_precision auto is bfloat16 (text tower on torch) where the CPU has native
# bfloat16 and float32 (on ONNX Runtime) elsewhere. Tests of the other path ask for it.
PINNED = {"text_precision": "float32"}


def make_settings(data_dir, **overrides) -> Settings:
    """Settings for a test library: tiny model, no downloads, no environment leaking in."""
    values = dict(data_dir=data_dir, clip_model=TINY_MODEL, allow_download=False,
                  transcribe=False, index_audio=False, index_ocr=False, index_faces=False,
                  threads=2, **PINNED)
    values.update(overrides)
    return Settings.load(env={}, **values)


def library_at_revision(url: str, revision: str, *inserts: str) -> None:
    """A database as an older vidseek left it: migrated only to `revision`, holding the rows
    that the SQL `inserts` write (a Store opened on it then migrates it to the newest)."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with create_engine(url).begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)
        for insert in inserts:
            connection.execute(text(insert))


@pytest.fixture(scope="session", autouse=True)
def no_machine_state(tmp_path_factory):
    """Every test, and every process a test starts, sees none of the developer's VIDSEEK_*
    variables but the PINNED ones, and an empty model hub cache, so no result depends on the
    CPU or on what this machine ran before (the README's first command downloads ViT-B-32
    into that cache)."""
    hub_cache = str(tmp_path_factory.mktemp("empty-hub-cache"))
    with pytest.MonkeyPatch.context() as mp:
        for name in [name for name in os.environ if name.startswith(ENV_PREFIX)]:
            mp.delenv(name)
        for name, value in PINNED.items():
            mp.setenv(f"{ENV_PREFIX}{name.upper()}", value)
        mp.setenv("HF_HUB_CACHE", hub_cache)  # for the processes tests start
        mp.setattr(huggingface_hub.constants, "HF_HUB_CACHE", hub_cache)  # read at import
        yield


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> ImageTextEncoder:
    """The tiny random model, loaded (and its text tower traced) once for the whole session:
    it is read-only, so every library of TINY_MODEL can share it."""
    return load_image_text_encoder(make_settings(tmp_path_factory.mktemp("tiny-encoder")))


@pytest.fixture(scope="session")
def whisper_base(tmp_path_factory) -> str:
    """The bundled Whisper base model, assembled once for the session: a model folder to set
    as `whisper_model` (tests/test_speech.py keeps the default, assembled in its library)."""
    return resolve_whisper_model("base", tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="session")
def search_library_template(tmp_path_factory, tiny_encoder):
    """tests/search_library.py's library, built once and closed: each module that uses it
    works on a copy (the `search_library` fixture), cheaper than indexing it again."""
    from tests.search_library import build_search_library  # it imports make_settings from here

    built = build_search_library(tmp_path_factory.mktemp("search-library"), tiny_encoder)
    built.library.close()
    return built


@pytest.fixture(scope="module")
def search_library(tmp_path_factory, search_library_template, tiny_encoder):
    """A copy of the search library for one module: its tests may write to it (labels)."""
    from tests.search_library import copy_search_library

    built = copy_search_library(search_library_template, tmp_path_factory.mktemp("library"),
                                tiny_encoder)
    yield built
    built.library.close()


@pytest.fixture
def settings(tmp_path) -> Settings:
    return make_settings(tmp_path / "data")


@pytest.fixture
def library(settings, tiny_encoder):
    lib = Library(settings, tiny_encoder)
    yield lib
    lib.close()


def video_id(lib: Library, name: str) -> int:
    """The id of the library's video whose file is called `name`."""
    return next(v.id for v in lib.store.videos() if v.path.endswith("/" + name))
