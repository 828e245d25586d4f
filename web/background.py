"""A server's background indexing, reached from inside a request: the jobs worker and the
watcher of the remembered folders (vidseek/library/jobs.py, watch.py), started by `vidseek
serve` (or a test) with `start_background`. An app started without them answers that it does
not index."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

from vidseek.library import Library
from vidseek.library.jobs import Jobs
from vidseek.library.watch import FolderWatcher
from vidseek.web.context import current_library, current_settings

EXTENSION = "vidseek.background"


@dataclass
class Background:
    jobs: Jobs
    watcher: FolderWatcher | None  # None: watch=false, jobs run on request only

    def scan_now(self) -> None:
        """Follow the folders remembered now and queue a full scan of them."""
        if self.watcher is not None:
            self.watcher.scan_now()
        else:
            self.jobs.scan()

    def stop(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
        self.jobs.stop(timeout=5)

    def payload(self) -> dict[str, Any]:
        """What /api/jobs answers: the jobs' state and the folders watched."""
        watching = self.watcher.describe() if self.watcher is not None else {}
        return {**self.jobs.snapshot(), "watching": watching}


def start_background(app: Flask, open_writer: Callable[[], Library] | None = None
                     ) -> Background:
    """Start the jobs worker (and, with `watch`, the watcher; its first look scans every
    remembered folder: what changed while the server was down, or was cut short by a kill).
    `open_writer` makes the Library the worker writes through (default: from the app's
    settings, whose `threads` are a request's)."""
    with app.app_context():
        settings, serving = current_settings(), current_library()
    jobs = Jobs(settings.data_dir, open_writer or (lambda: Library(settings)))
    watcher = None
    if settings.watch:
        watcher = FolderWatcher(settings, jobs, serving.folders)
    background = Background(jobs, watcher)
    jobs.start()
    if watcher is not None:
        watcher.start()
    else:
        jobs.scan()
    app.extensions[EXTENSION] = background
    return background


def current_background() -> Background | None:
    """This app's background indexing, if it runs one."""
    return current_app.extensions.get(EXTENSION)
