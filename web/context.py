"""The app's one Library and engine, reached from inside a request."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from flask import Flask, current_app

from vidseek.library import Library
from vidseek.settings import Settings

EXTENSION = "vidseek"


@dataclass
class WebState:
    settings: Settings
    library: Library
    first_query_lock: threading.Lock = field(default_factory=threading.Lock)
    models_loaded: bool = False


def attach(app: Flask, settings: Settings, library: Library) -> None:
    app.extensions[EXTENSION] = WebState(settings, library)


def _state() -> WebState:
    return current_app.extensions[EXTENSION]


def current_settings() -> Settings:
    """The settings this app was built with."""
    return _state().settings


def current_library() -> Library:
    """The Library this app serves."""
    return _state().library


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
