"""Remembered folders and removal, as the library does them: which folder a path names, how a
remembered folder is scanned (the one rule an index run and a server's scan both follow), what
removing a path (a video or a folder) forgets and keeps out of later scans, and one report for
an index run over every remembered folder. The files themselves are never touched."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from vidseek.search.storage.folders import is_left_out, is_under

if TYPE_CHECKING:
    from vidseek.indexer.discover import Entry
    from vidseek.indexer.pipeline import Indexer, IndexReport, Progress
    from vidseek.search.storage.store import Store


@dataclass(frozen=True)
class Removal:
    """What a removal forgot: how many videos, the remembered folder it forgot (if it named
    one), the remembered folders that still hold the path, and the path their scans now leave
    out (`excluded`, when a user removed it from inside one)."""

    videos: int
    folder: str | None = None
    still_remembered_under: tuple[str, ...] = ()
    excluded: str | None = None


@dataclass(frozen=True)
class FolderScan:
    """A remembered folder as a scan finds it: the video files to index (excluded paths left
    out), or why it is left alone this time (`skipped`, a warning; its videos are kept)."""

    folder: str
    entries: list[Entry] = field(default_factory=list)
    skipped: str | None = None


def library_path(path: Path | str) -> str:
    """The absolute path under which the library knows `path` (the indexer's rule: a folder
    resolved, a file by its own name in its resolved folder)."""
    from vidseek.indexer.discover import recorded_path

    return str(recorded_path(Path(path)))


def folder_to_remember(path: Path | str) -> str:
    """The path to remember for a folder; FileNotFoundError or NotADirectoryError, saying
    what is wrong, when it is not an existing folder."""
    resolved = library_path(path)
    if not os.path.exists(resolved):
        raise FileNotFoundError(f"no such folder: {resolved}")
    if not os.path.isdir(resolved):
        raise NotADirectoryError(f"{resolved} is a file, not a folder; `vidseek index` "
                                 "indexes a single file without remembering it")
    return resolved


def listing_problem(folder: str) -> str | None:
    """Why `folder` cannot be listed now, in a user's words (None when it can)."""
    try:
        with os.scandir(folder) as listing:
            next(listing, None)
    except (FileNotFoundError, NotADirectoryError):
        return "is not there"
    except OSError as e:
        return f"cannot be listed ({e.strerror or e})"
    return None


def kept_warning(folder: str, state: str, held: int) -> str:
    """The warning for a remembered folder a scan leaves alone, saying what is kept and how to
    forget it on purpose."""
    if not held:
        return f"{folder} {state}: skipped; `vidseek folders remove {folder}` forgets it"
    return (f"{folder} {state} but the library has {held} from it: not removing them; is it "
            f"mounted? `vidseek folders remove {folder}` forgets them")


def scan_folder(store: Store, folder: str) -> FolderScan:
    """List a remembered folder for an index run or a server's scan. It is left alone, with a
    warning, when it is not there, cannot be listed, or lists no video file at all while the
    library holds videos from it: an unmounted mount point looks just like an emptied folder,
    and only the user can tell them apart. Else: every video file under it but the excluded."""
    from vidseek.indexer.discover import discover

    state = listing_problem(folder)
    entries = [] if state else discover(Path(folder))
    held = store.folders.videos_under(folder)
    if state is None and not entries and held:
        state = "holds no videos now"
    if state:
        return FolderScan(folder, skipped=kept_warning(folder, state, held))
    excluded = set(store.folders.excluded())
    return FolderScan(folder, [e for e in entries if not is_left_out(str(e.path), excluded)])


def index_folder(indexer: Indexer, folder: str,
                 on_progress: Callable[[Progress], None] | None = None,
                 retry_failed: bool = False) -> tuple[IndexReport, dict[str, str]]:
    """Index a remembered folder as `scan_folder` lists it: the report, and the folder with its
    warning when it was left alone."""
    from vidseek.indexer.pipeline import IndexReport

    scan = scan_folder(indexer.store, folder)
    if scan.skipped:
        return IndexReport(), {folder: scan.skipped}
    return indexer.index(Path(folder), on_progress, retry_failed, entries=scan.entries), {}


def is_excluded(store: Store, path: str) -> bool:
    """Whether scans leave `path` out (it, or a folder above it, was removed by the user)."""
    return is_left_out(path, set(store.folders.excluded()))


def forget_folder(store: Store, path: Path | str) -> Removal:
    """Forget a remembered folder and the videos no other remembered folder holds;
    FileNotFoundError when it is not remembered."""
    folders = store.remembered_folders()
    # A folder that is gone from disk is still named as it was remembered.
    folder = next((f for f in (library_path(path), os.path.abspath(path)) if f in folders), None)
    if folder is None:
        raise FileNotFoundError(f"{library_path(path)} is not a remembered folder; "
                                "`vidseek folders list` lists them")
    removed = store.forget_folder(folder)
    store.save_indexes()  # now: a running server re-reads the indexes and drops the videos
    return Removal(removed or 0, folder, _holding(store.remembered_folders(), [folder]))


def remove_path(store: Store, path: Path | str) -> Removal:
    """Forget what the library holds at `path`: a remembered folder (as `forget_folder`), one
    video, or every video under a folder; FileNotFoundError when it holds nothing there."""
    target = library_path(path)
    if target in store.remembered_folders():
        return forget_folder(store, target)
    video = store.video_by_path(target)
    paths = [video.path] if video else [v.path for v in store.videos() if is_under(v.path, target)]
    if not paths:
        raise FileNotFoundError(f"the library holds nothing at or under {target}; `vidseek "
                                "status` lists what it holds")
    return remove_by_user(store, paths, target)


def remove_by_user(store: Store, paths: list[str], target: str) -> Removal:
    """Forget these videos, which the user removed by naming `target` (one of them, or a folder
    above them); a remembered folder that holds `target` leaves it out of its scans from now
    on, so it does not come back (indexing `target` by name takes it back in)."""
    holding = _holding(store.remembered_folders(), [target])
    excluded = target if holding else None
    removed = store.remove_videos(paths, exclude=[excluded] if excluded else [])
    store.save_indexes()  # now: a running server re-reads the indexes and drops the videos
    return Removal(removed, None, holding, excluded)


def remove_videos(store: Store, paths: list[str]) -> Removal:
    """Forget these videos (by path; their files are gone) and save the indexes at once."""
    removed = store.remove_videos(paths)
    store.save_indexes()
    return Removal(removed, None, _holding(store.remembered_folders(), paths))


def _holding(folders: list[str], paths: list[str]) -> tuple[str, ...]:
    """The remembered folders that hold any of `paths` (other than the path itself)."""
    return tuple(f for f in folders if any(is_under(p, f) and p != f for p in paths))


def summed(reports: list[IndexReport]) -> IndexReport:
    """One report for several index runs."""
    from vidseek.indexer.pipeline import IndexReport

    total = IndexReport()
    for r in reports:
        total.indexed += r.indexed
        total.failed += r.failed
        total.unchanged += r.unchanged
        total.removed += r.removed
        total.video_seconds += r.video_seconds
        total.wall_seconds += r.wall_seconds
    return total
