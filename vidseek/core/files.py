"""Files that appear whole or not at all, and the temporary files of writers that died.

A file is written under a temporary name of the writing process's own (`NAME.PID.tmp`, beside
it), synced to disk and renamed into place: a reader, or a run after a kill or a power cut,
finds the old file or the new one, never part of one. A kill leaves the temporary file behind
(an index base's is gigabytes); the next writer in that folder removes those whose process is
no longer running."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def temporary_path(path: Path) -> Path:
    """Where this process writes `path`'s new content before it is renamed into place."""
    return path.with_name(f"{path.name}.{os.getpid()}.tmp")


@contextmanager
def replaced_whole(path: Path) -> Iterator[Path]:
    """A temporary path to write `path`'s new content to (for writers that take a path); once
    the block ends without error it is synced and renamed to `path`, else removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_path(path)
    try:
        yield temporary
        with open(temporary, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def write_whole(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """`write(file)` into a temporary file, renamed to `path` once complete (replaced_whole)."""
    with replaced_whole(path) as temporary, open(temporary, "wb") as f:
        write(f)


def remove_abandoned(folder: Path, pattern: str = "*") -> None:
    """Delete the temporary files in `folder` whose names match `pattern` + `.PID.tmp` and
    whose writer is no longer running."""
    for f in Path(folder).glob(f"{pattern}.tmp"):
        pid = f.name.rsplit(".", 2)[-2]
        if pid.isdigit() and not process_alive(int(pid)):
            f.unlink(missing_ok=True)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
