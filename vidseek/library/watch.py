"""Watching the remembered folders for a server: what changed goes to its background jobs.

Changes are noticed three ways: inotify events (through watchdog), polling where events do not
arrive (a network mount, or where inotify cannot start), and a full scan every so often as the
safety net (and when the server starts). A path an event names is not queued at once: it is
looked at again until its size and time have stood still for the settle time, so a file still
being copied is never indexed half-way; a path that is gone is queued for removal at the next
look (within a fraction of the settle time)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers.api import BaseObserver, ObservedWatch

from vidseek.core.settings import Settings
from vidseek.indexer.subtitles import SIDECAR_EXTENSIONS
from vidseek.library.jobs import Jobs

# Reads (the indexer's own: opened, closed without writing) are not changes.
WATCHED_EVENTS = [FileCreatedEvent, FileModifiedEvent, FileClosedEvent, FileDeletedEvent,
                  FileMovedEvent, DirCreatedEvent, DirDeletedEvent, DirMovedEvent]
# Filesystems whose changes on another machine raise no inotify event here.
NETWORK_FILESYSTEMS = frozenset({"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ceph",
                                 "glusterfs", "fuse.sshfs", "fuse.rclone", "davfs", "fuse.s3fs"})
MODES = ("auto", "inotify", "polling")

Stamp = tuple[int, int]  # size, mtime_ns


def file_stamp(path: str) -> Stamp | None:
    """The size and time of a file; None when it is gone."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as e:  # unreadable: stable, and the indexer records why
        return (-1, e.errno or 0)
    return st.st_size, st.st_mtime_ns


@dataclass
class Settler:
    """The paths events named, each waiting until it stands still for `settle_s` (pure: the
    clock and the stat are passed in)."""

    settle_s: float
    _seen: dict[str, tuple[Stamp | None, float]] = field(default_factory=dict)

    def touch(self, path: str, now: float) -> None:
        """An event named `path`: it waits (again) for a full settle time."""
        self._seen[path] = (None, now)

    def __len__(self) -> int:
        return len(self._seen)

    def due(self, now: float, stamp: Callable[[str], Stamp | None]
            ) -> tuple[list[str], list[str]]:
        """(files that stood still for the settle time, paths that are gone); both leave."""
        ready, gone = [], []
        for path, (last, since) in list(self._seen.items()):
            current = stamp(path)
            if current is None:
                gone.append(path)
            elif current != last:
                self._seen[path] = (current, now)  # still changing: the wait starts again
                continue
            elif now - since >= self.settle_s:
                ready.append(path)
            else:
                continue
            del self._seen[path]
        return ready, gone


def videos_beside(subtitle: str, names: list[str], extensions: frozenset[str]) -> list[str]:
    """The names among `names` (a folder's) of the videos a subtitle file named `subtitle`
    belongs to: `talk.en.srt` to `talk.mp4`."""
    return [name for name in names if os.path.splitext(name)[1].lower() in extensions
            and subtitle.startswith(os.path.splitext(name)[0] + ".")]


def mount_fstype(folder: str, mounts: str) -> str | None:
    """The filesystem type of the mount `folder` is on, from /proc/mounts' text."""
    best, fstype = "", None
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        if (folder == point or folder.startswith(point.rstrip("/") + "/")) and len(point) > len(best):
            best, fstype = point, fields[2]
    return fstype


def watch_mode(folder: str, setting: str, mounts: str) -> str:
    """How to notice changes in `folder`: inotify or polling, as the setting says; `auto` polls
    a network filesystem only."""
    if setting != "auto":
        return setting
    return "polling" if mount_fstype(folder, mounts) in NETWORK_FILESYSTEMS else "inotify"


def _read_mounts() -> str:
    try:
        return Path("/proc/mounts").read_text()
    except OSError:
        return ""


class _Events(FileSystemEventHandler):
    def __init__(self, watcher: FolderWatcher):
        self.watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        self.watcher.event(event)


class FolderWatcher:
    """Watches the remembered folders and feeds `jobs`: settled files to index, gone ones to
    remove, and a full scan at start, every `watch_scan_minutes`, and when a folder appears,
    moves or vanishes."""

    def __init__(self, settings: Settings, jobs: Jobs, folders: Callable[[], list[str]]):
        from vidseek.indexer.discover import VIDEO_EXTENSIONS

        if settings.watch_mode not in MODES:
            raise ValueError(f"watch_mode must be one of {', '.join(MODES)}, "
                             f"got {settings.watch_mode!r}")
        self.settings, self.jobs, self.folders = settings, jobs, folders
        self.extensions = VIDEO_EXTENSIONS
        self.settler = Settler(settings.watch_settle_seconds)
        self._lock = threading.Condition()
        self._refreshing = threading.Lock()  # the folders watched change in one thread at a time
        self._observers: dict[str, BaseObserver] = {}
        self._watches: dict[str, tuple[str, ObservedWatch]] = {}  # folder -> (mode, watch)
        self.problems: dict[str, str] = {}  # folder -> why it is not watched as asked
        self._stopped = False
        self._next_scan = 0.0  # monotonic time of the next full scan; 0: none
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Watch the remembered folders and start looking (the first look queues a scan)."""
        self.refresh()
        self._next_scan = time.monotonic()  # the first look scans: what changed while down
        self._thread = threading.Thread(target=self._run, name="vidseek-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._lock.notify_all()
        for observer in self._observers.values():
            observer.stop()
        if self._thread is not None:
            self._thread.join(5)

    def refresh(self) -> None:
        """Watch the folders remembered now (one added or forgotten since is followed)."""
        with self._refreshing:
            self._follow(set(self.folders()), _read_mounts())

    def _follow(self, wanted: set[str], mounts: str) -> None:
        for folder in set(self._watches) - wanted:
            mode, watch = self._watches.pop(folder)
            self._observers[mode].unschedule(watch)
        for folder in sorted(wanted - set(self._watches)):
            if not os.path.isdir(folder):
                self.problems[folder] = "not there (an unmounted drive?): looked for again later"
                continue
            mode = watch_mode(folder, self.settings.watch_mode, mounts)
            try:
                self._watches[folder] = (mode, self._schedule(mode, folder))
                self.problems.pop(folder, None)
            except OSError as e:  # inotify cannot start (no more watches, not supported)
                self._watches[folder] = ("polling", self._schedule("polling", folder))
                self.problems[folder] = f"polled: inotify failed ({e})"

    def _schedule(self, mode: str, folder: str) -> ObservedWatch:
        observer = self._observers.get(mode)
        if observer is None:
            if mode == "polling":
                from watchdog.observers.polling import PollingObserver

                observer = PollingObserver(timeout=self.settings.watch_poll_seconds)
            else:
                from watchdog.observers.inotify import InotifyObserver

                observer = InotifyObserver()
            observer.start()
            self._observers[mode] = observer
        return observer.schedule(_Events(self), folder, recursive=True,
                                 event_filter=WATCHED_EVENTS)

    def describe(self) -> dict[str, dict[str, str | None]]:
        """Each remembered folder: how it is watched, and any problem."""
        with self._refreshing:
            watched = {folder: mode for folder, (mode, _) in self._watches.items()}
        folders = sorted(set(watched) | set(self.problems))
        return {f: {"mode": watched.get(f), "problem": self.problems.get(f)} for f in folders}

    def event(self, event: FileSystemEvent) -> None:
        """One watchdog event (its observer's thread): paths to settle, or a scan."""
        if event.is_directory:
            # A folder appeared, moved or vanished: its files raise no event of their own.
            self.jobs.scan()
            return
        paths = [event.src_path, getattr(event, "dest_path", "")]
        paths = [os.fsdecode(p) for p in paths if p]
        videos = [p for p in paths if os.path.splitext(p)[1].lower() in self.extensions]
        for path in paths:
            if os.path.splitext(path)[1].lower() in SIDECAR_EXTENSIONS:  # its video's subtitles
                folder = os.path.dirname(path)
                try:
                    names = os.listdir(folder)
                except OSError:
                    continue
                videos += [os.path.join(folder, name) for name in
                           videos_beside(os.path.basename(path), names, self.extensions)]
        with self._lock:
            for path in videos:
                self.settler.touch(path, time.monotonic())
            self._lock.notify_all()

    def _run(self) -> None:
        scan_every = self.settings.watch_scan_minutes * 60
        look_every = max(0.05, self.settings.watch_settle_seconds / 4)
        while True:
            with self._lock:
                now = time.monotonic()
                timeout = self._next_scan - now if self._next_scan else None
                if len(self.settler):
                    timeout = look_every if timeout is None else min(timeout, look_every)
                if timeout is None or timeout > 0:
                    self._lock.wait(timeout)  # idle: asleep until an event or the next scan
                if self._stopped:
                    return
                ready, gone = self.settler.due(time.monotonic(), file_stamp)
            self.jobs.forget(gone)
            self.jobs.index(ready)
            if self._next_scan and time.monotonic() >= self._next_scan:
                self.refresh()
                self.jobs.scan()
                self._next_scan = time.monotonic() + scan_every if scan_every > 0 else 0.0

    def scan_now(self) -> None:
        """Follow the folders remembered now and queue a full scan (the panel's button)."""
        self.refresh()
        self.jobs.scan()
