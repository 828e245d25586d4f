"""The app's one Library and engine, reached from inside a request."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from flask import Flask, current_app

from vidseek.core.scratch import process_folder
from vidseek.core.settings import Settings
from vidseek.indexer.limits import DecodeLimits
from vidseek.library import Library

EXTENSION = "vidseek"
T = TypeVar("T")


@dataclass
class WebState:
    settings: Settings
    library: Library
    upload_pool: ThreadPoolExecutor
    temporary_folder: Path | None  # uploaded clips go here (None: the system's)
    first_query_lock: threading.Lock = field(default_factory=threading.Lock)
    models_loaded: bool = False
    # Cleared while `warm_up` loads models and indexes; what stopped it, if anything did.
    ready: threading.Event = field(default_factory=lambda: _set(threading.Event()))
    warm_up_error: str | None = None


def _set(event: threading.Event) -> threading.Event:
    event.set()
    return event


def attach(app: Flask, settings: Settings, library: Library) -> None:
    pool = ThreadPoolExecutor(max(1, settings.upload_decode_slots), "vidseek-upload")
    try:
        folder = process_folder(settings.data_dir)
    except OSError:  # a data dir this process cannot write to
        folder = None
    app.extensions[EXTENSION] = WebState(settings, library, pool, folder)


def _state() -> WebState:
    return current_app.extensions[EXTENSION]


def warm_up(app: Flask) -> threading.Thread:
    """Load the query models and open every vector index (side by side), then answer one
    query through the search route itself (routing, search, labels, links, JSON: all that a
    request loads on its first use), in the background, so the first user's query is as fast
    as the rest; the image tower is then released (serving memory). The health endpoint
    answers 503 until then."""
    state: WebState = app.extensions[EXTENSION]
    state.ready.clear()
    token = state.settings.access_token
    credentials = {"Authorization": f"Bearer {token}"} if token else {}

    def run() -> None:
        try:
            with app.app_context(), model_loading():  # no request opens an index meanwhile
                state.library.load_for_queries()
            answer = app.test_client().get("/api/search", query_string={"q": "warm up"},
                                           headers=credentials)
            if answer.status_code != 200:
                raise RuntimeError(answer.get_json()["error"]["message"])
            # That query froze the models out of the garbage collector's reach
            # (`model_loading`); the image tower (back on the first image query) is released
            # with the collector let in, or its cycles would keep its weights (~350 MB).
            gc.unfreeze()
            state.library.query_encoder.release_image_tower()
            gc.freeze()
        except Exception as e:  # reported by the health endpoint, and each query raises it too
            state.warm_up_error = f"{type(e).__name__}: {e}"
            return
        state.ready.set()

    thread = threading.Thread(target=run, name="vidseek-warm-up", daemon=True)
    thread.start()
    return thread


def readiness() -> tuple[bool, str | None]:
    """(ready, what stopped the warm-up) of this app."""
    return _state().ready.is_set(), _state().warm_up_error


def current_settings() -> Settings:
    """The settings this app was built with."""
    return _state().settings


def current_library() -> Library:
    """The Library this app serves."""
    return _state().library


def upload_limits() -> DecodeLimits:
    """What decoding one uploaded image or clip may cost, as the settings say."""
    settings = current_settings()
    return DecodeLimits(int(settings.max_image_megapixels * 1e6), settings.max_clip_frames)


def temporary_folder() -> Path | None:
    """Where this app writes uploads it must keep as files (vidseek/core/scratch.py)."""
    return _state().temporary_folder


@contextmanager
def model_loading() -> Iterator[None]:
    """Run queries one at a time until one has loaded the models, then let them run freely,
    so concurrent first requests load the encoder once instead of once per thread."""
    state = _state()
    if state.models_loaded:
        yield
        return
    with state.first_query_lock:
        yield
        if not state.models_loaded:
            # The models are a few million long-lived objects. Left to the cyclic garbage
            # collector, every full collection walks them all while holding the GIL, stalling
            # every request for tens of milliseconds; frozen, the collector skips them.
            gc.freeze()
        state.models_loaded = True


def decode_upload(decode: Callable[..., T], *args: Any) -> T:
    """`decode(*args)` run on one of the `upload_decode_slots` threads, waited for: however many
    uploads arrive at once, only that many are decoded at the same time, and only those
    threads ever hold decoded pixels. (A semaphore in the request threads would bound the
    first but not the second: the C allocator keeps freed memory per thread, so each of the
    server's threads would come to hold an image's worth; measured in bench/upload_memory.py.)"""
    return _state().upload_pool.submit(decode, *args).result()
