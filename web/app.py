"""The search service: one Flask app serving the JSON API, the web UI and the media files.

Production: run the factory under a WSGI server, e.g.
`waitress-serve --threads 8 --call vidseek.web.app:create_app` or
`gunicorn --threads 8 'vidseek.web.app:create_app()'`; `vidseek serve` runs it under waitress."""

from __future__ import annotations

import dataclasses

from flask import Flask

from vidseek.library import Library
from vidseek.settings import Settings
from vidseek.web.api import api
from vidseek.web.context import attach
from vidseek.web.errors import register_error_handlers
from vidseek.web.guard import install_guard
from vidseek.web.media import media
from vidseek.web.params import IdConverter
from vidseek.web.ui import ui


def create_app(settings: Settings | None = None, library: Library | None = None) -> Flask:
    """Build the app around one Library (made from `settings`, or from the environment when
    neither is given); `settings`, when given, also configure the app (upload limit, page
    size). Nothing heavy happens here: models load on the first query."""
    settings = settings or (library.settings if library else Settings.load())
    # Requests run side by side, one core each: a query whose encoder also spread over every
    # core would only fight the other requests for them (measured in bench/load_test.py).
    settings = dataclasses.replace(settings, threads=settings.threads or 1)
    library = library or Library(settings, serving=True)
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = int(settings.max_upload_mb * 1024 * 1024)
    app.json.sort_keys = False  # keep payloads in their documented, readable order
    app.url_map.converters["id"] = IdConverter
    attach(app, settings, library)
    install_guard(app, settings)
    app.register_blueprint(api)
    app.register_blueprint(media)
    app.register_blueprint(ui)
    register_error_handlers(app)
    return app
