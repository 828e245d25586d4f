"""Remembered folders and removal, as the library does them: which folder a path names, what
removing a path (a video or a folder) forgets, and one report for an index run over every
remembered folder. The files themselves are never touched."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from vidseek.search.storage.folders import is_under

if TYPE_CHECKING:
    from vidseek.indexer.pipeline import IndexReport
    from vidseek.search.storage.store import Store


@dataclass(frozen=True)
class Removal:
    """What a removal forgot: how many videos, the remembered folder it forgot (if it named
    one), and the remembered folders that still hold the path (their next index run adds what
    is there back)."""

    videos: int
    folder: str | None = None
    still_remembered_under: tuple[str, ...] = ()


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
    return remove_videos(store, paths)


def remove_videos(store: Store, paths: list[str]) -> Removal:
    """Forget these videos (by path) and save the indexes at once."""
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
