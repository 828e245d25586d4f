"""The folders a library remembers, which videos a folder covers, and the paths removed from
inside them.

A folder is kept by its absolute, resolved path. Folders may nest: a video is covered while
any remembered folder holds it, so forgetting an inner folder forgets nothing an outer one
still holds. An excluded path (a video or a folder the user removed from inside a remembered
folder) is left out of every scan of that folder until it is indexed again by name."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import PurePath

from sqlalchemy import delete, func, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from vidseek.search.storage.schema import ExcludedPath, Folder, Video


def is_under(path: str, folder: str) -> bool:
    """Whether `path` is `folder` or lies anywhere below it (by path, not by prefix: /a/bc is
    not under /a/b)."""
    return PurePath(path).is_relative_to(folder)


def is_left_out(path: str, excluded: set[str]) -> bool:
    """Whether `path`, or a folder above it, is one of the `excluded` paths (a set lookup per
    level of the path, however many are excluded)."""
    if not excluded:
        return False
    while path not in excluded:
        cut = path.rfind("/")
        if cut <= 0:
            return False
        path = path[:cut]  # its folder: paths here are absolute and normalised
    return True


def outermost(folders: Iterable[str]) -> list[str]:
    """The folders no other one holds: scanning them covers every folder once."""
    folders = sorted(set(folders))
    return [f for f in folders if not any(is_under(f, o) and o != f for o in folders)]


def videos_to_forget(video_paths: Iterable[str], folder: str,
                     remaining: Iterable[str]) -> list[str]:
    """The videos forgetting `folder` forgets: those under it that no `remaining` folder
    still holds."""
    remaining = list(remaining)
    return [p for p in video_paths
            if is_under(p, folder) and not any(is_under(p, r) for r in remaining)]


def remembered(s: Session) -> list[str]:
    """Every remembered folder, by path, inside the caller's transaction."""
    return list(s.scalars(select(Folder.path).order_by(Folder.path)))


def forget(s: Session, path: str) -> bool:
    """Forget a folder inside the caller's transaction, with the exclusions no remaining
    folder holds (a folder remembered again later starts whole); False when it was not
    remembered."""
    if not s.execute(delete(Folder).where(Folder.path == path)).rowcount:
        return False
    stale = videos_to_forget(s.scalars(select(ExcludedPath.path)), path, remembered(s))
    s.execute(delete(ExcludedPath).where(ExcludedPath.path.in_(stale)))
    return True


def exclude_paths(s: Session, paths: Iterable[str]) -> None:
    """Exclude these paths from later scans, inside the caller's transaction (one excluded
    already stays as it was)."""
    known = set(s.scalars(select(ExcludedPath.path)))
    now = datetime.now(UTC).replace(tzinfo=None)
    s.add_all(ExcludedPath(path=p, excluded_at=now) for p in dict.fromkeys(paths) if p not in known)


def sql_is_under(column, folder: str):
    """A SQL condition: `column` (a path) is `folder` or lies below it."""
    return or_(column == folder, column.startswith(folder.rstrip("/") + "/", autoescape=True))


class FolderTable:
    """The remembered folders of one library."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def all(self) -> list[str]:
        """Every remembered folder, by path."""
        with Session(self.engine) as s:
            return remembered(s)

    def add(self, path: str) -> bool:
        """Remember a folder (an absolute, resolved path); False when it already was."""
        with Session(self.engine) as s, s.begin():
            if s.scalar(select(Folder.id).where(Folder.path == path)) is not None:
                return False
            s.add(Folder(path=path, added_at=datetime.now(UTC).replace(tzinfo=None)))
            return True

    def excluded(self) -> list[str]:
        """The excluded paths, sorted."""
        with Session(self.engine) as s:
            return list(s.scalars(select(ExcludedPath.path).order_by(ExcludedPath.path)))

    def include(self, path: str) -> bool:
        """Stop excluding exactly `path`; False when it was not excluded."""
        with Session(self.engine) as s, s.begin():
            return bool(s.execute(delete(ExcludedPath).where(ExcludedPath.path == path)).rowcount)

    def videos_under(self, folder: str) -> int:
        """How many videos (of any status) the library holds at or under `folder`."""
        with Session(self.engine) as s:
            return s.scalar(select(func.count()).select_from(Video).where(sql_is_under(Video.path, folder)))
