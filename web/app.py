"""The search service: one Flask app serving the JSON API, the web UI and the media files.

Production: run the factory under a WSGI server, e.g.
`waitress-serve --threads 8 --call vidseek.web.app:create_app` or
`gunicorn --threads 8 'vidseek.web.app:create_app()'`; `vidseek serve` runs it under waitress."""

from __future__ import annotations

import ctypes
import dataclasses

from flask import Flask

from vidseek.core.settings import Settings
from vidseek.library import Library
from vidseek.web.api import api
from vidseek.web.context import attach
from vidseek.web.errors import register_error_handlers
from vidseek.web.exports import exports
from vidseek.web.guard import install_guard
from vidseek.web.media import media
from vidseek.web.params import IdConverter
from vidseek.web.people_api import people
from vidseek.web.people_ui import people_ui
from vidseek.web.ui import ui

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
MMAP_THRESHOLD = 4 * 1024 * 1024


def keep_large_blocks_returnable() -> None:
    """Have glibc's malloc give every block of MMAP_THRESHOLD or more its own mapping, returned
    to the system when freed. By default the threshold rises (up to 32 MB) to the size of each
    large block freed, so after the first decoded upload, blocks of up to 32 MB come from the
    heap of the thread that asks (a heap per thread, 16 on 2 cores), which keeps their pages
    once they are freed: memory a server never gave back (bench/soak.py)."""
    try:
        ctypes.CDLL(None).mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    except (OSError, AttributeError):  # not glibc: its own policy stands
        pass


def create_app(settings: Settings | None = None, library: Library | None = None) -> Flask:
    """Build the app around one Library (made from `settings`, or from the environment when
    neither is given); `settings`, when given, also configure the app (upload limit, page
    size). Nothing heavy happens here: models load on the first query."""
    settings = settings or (library.settings if library else Settings.load())
    # Requests run side by side, one core each: a query whose encoder also spread over every
    # core would only fight the other requests for them (measured in bench/load_test.py).
    settings = dataclasses.replace(settings, threads=settings.threads or 1)
    keep_large_blocks_returnable()
    library = library or Library(settings, serving=True)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = int(settings.max_upload_mb * 1024 * 1024)
    app.json.sort_keys = False  # keep payloads in their documented, readable order
    app.url_map.converters["id"] = IdConverter
    attach(app, settings, library)
    install_guard(app, settings)
    app.register_blueprint(api)
    app.register_blueprint(exports)
    app.register_blueprint(media)
    app.register_blueprint(people)
    app.register_blueprint(people_ui)
    app.register_blueprint(ui)
    register_error_handlers(app)
    return app
