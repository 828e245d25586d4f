"""The folders a library remembers, and which videos a folder covers.

A folder is kept by its absolute, resolved path. Folders may nest: a video is covered while
any remembered folder holds it, so forgetting an inner folder forgets nothing an outer one
still holds."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import PurePath

from sqlalchemy import delete, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from vidseek.search.storage.schema import Folder


def is_under(path: str, folder: str) -> bool:
    """Whether `path` is `folder` or lies anywhere below it (by path, not by prefix: /a/bc is
    not under /a/b)."""
    return PurePath(path).is_relative_to(folder)


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
    """Forget a folder inside the caller's transaction; False when it was not remembered."""
    return bool(s.execute(delete(Folder).where(Folder.path == path)).rowcount)


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
