"""The server's background indexing: one worker thread that runs jobs one at a time, under the
library's writer lock, while requests go on searching.

Work waits in memory, in the order it is done: removals first (a deleted file leaves the
results within seconds, even behind a burst), then full scans of the remembered folders, then
each new or changed file's frames pass (frames first, indexer/passes.py), and only when no
file waits for its frames, the later pass of the videos that await their other signals (read
from SQL, so it resumes after a restart). A queue entry is a path in an ordered set: a burst of
10,000 files costs a dict insert each, and a file queued twice is indexed once.

Nothing of the queue needs to survive a `kill -9`: the server scans every remembered folder
when it starts, and a file whose frames did not commit is pending or changed in SQL then.

The worker writes through a Library of its own (its own Store): the serving library reads the
index files the worker saves after each file, as it follows any other writer's."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidseek.core.errors import WriterBusy, one_line
from vidseek.core.writer_lock import writer_lock

if TYPE_CHECKING:
    from vidseek.library import Library

WRITER_RETRY_S = 2.0  # how often a job waiting for another writer tries the lock again
LIBRARY_RETRY_S = 60.0  # how often a library that could not be opened is tried again
RATE_WINDOW = 20  # files the rate and time left are measured over
FAILURES_KEPT = 100  # the most recent failures the panel lists
LOCK_COMMAND = "vidseek serve (background indexing)"


@dataclass(frozen=True)
class Failure:
    path: str
    step: str  # frames | signals | removal | scan
    reason: str


@dataclass
class Current:
    path: str
    step: str
    started: float  # time.time()


@dataclass
class Progress:
    """What the worker is doing and has done since the server started."""

    state: str = "idle"  # idle | working | waiting (for another writer)
    waiting_for: str | None = None
    current: Current | None = None
    done: dict[str, int] = field(default_factory=lambda: {"frames": 0, "signals": 0,
                                                          "removed": 0, "scans": 0})
    failures: deque[Failure] = field(default_factory=lambda: deque(maxlen=FAILURES_KEPT))
    failed: int = 0
    awaiting_signals: int = 0
    last_scan: float | None = None  # time.time() of the last full scan's end
    # (step, seconds) of the last files done, for the rate and the time left
    recent: deque[tuple[str, float, float]] = field(
        default_factory=lambda: deque(maxlen=RATE_WINDOW))


def scan_plan(listed: dict[str, tuple[int, int, str | None]],
              known: dict[str, tuple[str, int, int, str | None]],
              gone: Callable[[str], bool]) -> tuple[list[str], list[str]]:
    """What a full scan of a folder queues: (files to index, videos to remove). `listed`: the
    video files found, path -> (size, mtime_ns, subtitle stamp); `known`: the catalogue's
    videos under the folder, path -> (status, size, mtime_ns, subtitle stamp). A file is queued
    when it is new, pending, or its size, time or subtitles changed (the indexer then decides
    by its bytes); a video is removed when its file is surely gone (`gone`), not when a
    permission error hides it."""
    todo = [path for path, stamp in listed.items()
            if path not in known or known[path][0] == "pending" or known[path][1:] != stamp]
    removed = [path for path in known if path not in listed and gone(path)]
    return todo, removed


class Jobs:
    """The background worker of one server and its queue."""

    def __init__(self, data_dir: Path, open_writer: Callable[[], Library]):
        """`open_writer` makes the Library the worker writes through (on the first job)."""
        self.data_dir = Path(data_dir)
        self._open_writer = open_writer
        self._writer: Library | None = None
        self._frames_first = None
        self._lock = threading.Condition()
        self._removals: dict[str, None] = {}
        self._files: dict[str, None] = {}
        self._scan_requested = False
        self._signals_due = True  # what a killed server left half-analysed is looked for first
        self._signals_failed: set[int] = set()  # videos whose later pass raised: not retried
        self._follow_up_due = False
        self._stopped = False
        self._thread: threading.Thread | None = None
        self.progress = Progress()

    # --- what callers queue (any thread) ---------------------------------------------------
    def index(self, paths: list[str]) -> None:
        """Queue the frames pass of these files (new, changed or moved in)."""
        with self._lock:
            for path in paths:
                self._removals.pop(path, None)
                self._files[path] = None
            self._lock.notify_all()

    def forget(self, paths: list[str]) -> None:
        """Queue the removal of these files' videos (deleted or moved away)."""
        with self._lock:
            for path in paths:
                self._files.pop(path, None)
                self._removals[path] = None
            self._lock.notify_all()

    def scan(self) -> None:
        """Queue a full scan of every remembered folder."""
        with self._lock:
            self._scan_requested = True
            self._lock.notify_all()

    def queued(self) -> int:
        """Files and removals waiting (not counting the one being done)."""
        with self._lock:
            return len(self._files) + len(self._removals) + self._scan_requested

    # --- the worker ------------------------------------------------------------------------
    def start(self) -> None:
        """Start the worker thread (a daemon: a stopping server does not wait for a file)."""
        self._thread = threading.Thread(target=self._run, name="vidseek-jobs", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Let the worker end after the step in hand."""
        with self._lock:
            self._stopped = True
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def _has_work(self) -> bool:
        return bool(self._removals or self._files or self._scan_requested or self._signals_due
                    or self._follow_up_due)

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._stopped and not self._has_work():
                    self.progress.state = "idle"
                    self._lock.wait()
                if self._stopped:
                    return
            try:
                with writer_lock(self.data_dir, LOCK_COMMAND):
                    self.progress.state, self.progress.waiting_for = "working", None
                    self._drain()
            except WriterBusy as e:
                with self._lock:
                    self.progress.state, self.progress.waiting_for = "waiting", str(e)
                    self._lock.wait(WRITER_RETRY_S)
            except Exception as e:  # the library could not be opened: said, then tried again
                self._failed("", "library", e)
                with self._lock:
                    self._lock.wait(LIBRARY_RETRY_S)

    def _drain(self) -> None:
        """Do everything queued, most urgent first, while holding the writer lock."""
        while not self._stopped:
            with self._lock:
                removals = list(self._removals)
                self._removals.clear()
                scan = not removals and self._scan_requested
                self._scan_requested = self._scan_requested and not scan
                path = None
                if not removals and not scan and self._files:
                    path = next(iter(self._files))
                    del self._files[path]
            if removals:
                self._remove(removals)
            elif scan:
                self._scan()
            elif path is not None:
                self._index(path)
            elif self._signals_due:
                self._next_signals()
            elif self._follow_up_due:
                self._follow_up_due = False
                self._step("", "labels", lambda: self._library().follow_up_indexing())
            else:
                return

    def _library(self) -> Library:
        if self._writer is None:
            self._writer = self._open_writer()
        return self._writer

    def _passes(self):
        if self._frames_first is None:
            self._frames_first = self._library().frames_first
        return self._frames_first

    def _step(self, path: str, step: str, work: Callable[[], Any]) -> Any:
        """Run one step with `current` set; its exception becomes a failure with its reason."""
        self.progress.current = Current(path, step, time.time())
        started = time.monotonic()
        try:
            return work()
        except Exception as e:
            from vidseek.indexer.discover import is_gone

            if path and step in ("frames", "signals") and is_gone(path):
                self.forget([path])  # deleted under it: no failure, its removal follows
            else:
                self._failed(path, step, e)
            return None
        finally:
            self.progress.current = None
            if path and step in ("frames", "signals"):
                self.progress.recent.append((step, started, time.monotonic() - started))

    def _failed(self, path: str, step: str, error: BaseException | str) -> None:
        reason = error if isinstance(error, str) else f"{type(error).__name__}: {one_line(error)}"
        self.progress.failures.append(Failure(path, step, reason))
        self.progress.failed += 1

    def _remove(self, paths: list[str]) -> None:
        def remove() -> int:
            from vidseek.library.folders import remove_videos

            return remove_videos(self._library().store, paths).videos  # indexes saved at once

        self.progress.done["removed"] += self._step(paths[0], "removal", remove) or 0

    def _scan(self) -> None:
        from vidseek.indexer.discover import is_gone
        from vidseek.library.folders import scan_folder

        def scan() -> None:
            store = self._library().store
            videos = store.videos()
            todo, removed = [], []
            for folder in store.remembered_folders():
                found = scan_folder(store, folder)  # the rule `vidseek index` follows too
                if found.skipped:
                    self._failed(folder, "scan", found.skipped)
                    continue
                listed = {str(e.path): (e.fingerprint.size, e.fingerprint.mtime_ns,
                                        e.fingerprint.subtitle_stamp) for e in found.entries}
                known = {v.path: (v.status, v.size, v.mtime_ns, v.subtitle_stamp) for v in videos
                         if Path(v.path).is_relative_to(folder)}
                files, gone = scan_plan(listed, known, is_gone)
                todo += files
                removed += gone
            self.forget(removed)
            self.index(todo)
            self.progress.done["scans"] += 1
            self.progress.last_scan = time.time()

        self._step("", "scan", scan)

    def _index(self, path: str) -> None:
        from vidseek.indexer.discover import is_gone
        from vidseek.indexer.passes import changed_since
        from vidseek.library.folders import is_excluded

        if is_gone(path):  # deleted while it waited
            self.forget([path])
            return
        if is_excluded(self._library().store, path):  # the user removed it: it stays out
            return
        report = self._step(path, "frames", lambda: self._passes().index_frames([Path(path)]))
        if report is None:
            return
        store = self._library().store
        for failed, reason in report.failed:
            video = store.video_by_path(failed)
            if video is None or not changed_since(video):  # else rewritten as it was read: again
                self._failed(failed, "frames", reason)
        if report.indexed:
            self.progress.done["frames"] += len(report.indexed)
            self._signals_due = self._follow_up_due = True

    def _next_signals(self) -> None:
        """The later pass of the oldest video awaiting it; none left: no longer due."""
        from vidseek.indexer.discover import is_gone

        store = self._library().store  # the models load only when a video awaits
        awaiting = [v for v in store.awaiting_analysis() if v.id not in self._signals_failed]
        self.progress.awaiting_signals = len(awaiting)
        if not awaiting:
            self._signals_due = False
            return
        video = awaiting[0]
        outcome = self._step(video.path, "signals",
                             lambda: self._passes().add_signals(video) or "done")
        if outcome is None:  # failed with an exception: left awaiting, tried after a restart
            self._signals_failed.add(video.id)
            return
        store.save_indexes()
        self.progress.awaiting_signals = len(awaiting) - 1
        if outcome == "changed":
            (self.forget if is_gone(video.path) else self.index)([video.path])
        elif outcome == "done":
            self.progress.done["signals"] += 1
            self._follow_up_due = True
        else:
            self._failed(video.path, "signals", outcome)

    # --- what the panel shows ----------------------------------------------------------------
    def snapshot(self) -> dict[str, Any]:
        """The job state as JSON: state, queue, current file, counts, rate, time left,
        failures with their reasons."""
        p = self.progress
        with self._lock:
            queued = len(self._files)
            removals = len(self._removals)
            scan = self._scan_requested
        current = p.current
        recent = list(p.recent)
        per_file = {step: [s for st, _, s in recent if st == step] for step in ("frames", "signals")}
        mean = {step: sum(s) / len(s) for step, s in per_file.items() if s}
        rate = None
        if len(recent) >= 2:
            span = recent[-1][1] + recent[-1][2] - recent[0][1]
            rate = len(recent) / span * 60 if span > 0 else None
        eta = None
        if mean:
            frames_s = mean.get("frames", mean.get("signals", 0.0))
            signals_s = mean.get("signals", frames_s)
            eta = queued * frames_s + (p.awaiting_signals + queued) * signals_s
        return {
            "state": p.state,
            "waiting_for": p.waiting_for,
            "queued": {"files": queued, "removals": removals, "scan": scan,
                       "awaiting_signals": p.awaiting_signals},
            "current": None if current is None else {
                "path": current.path or None, "step": current.step,
                "seconds": round(time.time() - current.started, 1)},
            "done": dict(p.done),
            "files_per_minute": None if rate is None else round(rate, 2),
            "eta_seconds": None if eta is None else round(eta, 1),
            "failed": p.failed,
            "failures": [{"path": f.path or None, "step": f.step, "reason": f.reason}
                         for f in reversed(p.failures)],
            "last_scan": p.last_scan,
        }
