"""One writer per library at a time: an inter-process lock on a file in the data folder.

Every entry point that writes (an index run, a reindex, a removal, a label update, an audio
training, a server's background job) holds it while it writes. It is an `fcntl.flock` on
DATA_DIR/writer.lock, so the operating system lets go of it when its holder dies, even by
`kill -9`; the file itself holds the holder's pid and command line, for the message a second
writer gets. A second writer fails at once (WriterBusy) instead of waiting behind a run that
may take hours. Inside one process the lock is re-entrant for the thread that holds it (an
index run updates labels), and refused to any other thread, as to any other process."""

from __future__ import annotations

import fcntl
import os
import shlex
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from vidseek.core.errors import WriterBusy

LOCK_FILE = "writer.lock"
MAX_COMMAND_CHARS = 200


@dataclass
class _Holding:
    fd: int
    thread: int
    depth: int


_guard = threading.Lock()
_held: dict[Path, _Holding] = {}  # the locks this process holds, by file


def this_command() -> str:
    """This process's command line as a user would type it, e.g. `vidseek index /videos`."""
    program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    if program == "__main__.py":  # python -m PACKAGE
        program = f"python -m {Path(sys.argv[0]).parent.name}"
    return " ".join([program, shlex.join(sys.argv[1:])]).strip()[:MAX_COMMAND_CHARS]


def describe_holder(holder: str) -> str:
    """Who holds the lock, from the lock file's content (`PID COMMAND`)."""
    pid, _, command = holder.strip().partition(" ")
    return f"pid {pid}: {command}" if pid.isdigit() else "a process that just took the lock"


def busy_message(holder: str) -> str:
    """The one line a refused writer prints, from the lock file's content."""
    return (f"another vidseek is writing to this library ({describe_holder(holder)}); wait "
            "for it to finish or stop it, then try again")


def current_writer(data_dir: Path) -> str | None:
    """Who is writing to the library now (`pid 123: vidseek index /videos`), None when no
    one is; takes nothing, so it never stands in a writer's way (for `vidseek status`). The
    file names its holder until a clean release empties it; after a kill it names a process
    that is gone (one whose pid was since reused reads as writing, until the next writer)."""
    try:
        holder = (Path(data_dir) / LOCK_FILE).read_text(errors="replace")
    except FileNotFoundError:
        return None
    pid = holder.partition(" ")[0]
    if not pid.isdigit():
        return None
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return None
    except PermissionError:  # alive, another user's
        pass
    return describe_holder(holder)


@contextmanager
def writer_lock(data_dir: Path, command: str | None = None) -> Iterator[None]:
    """Hold the library's writer lock for the block; WriterBusy at once, saying who holds it,
    when another process or thread does. `command` is what others are told this process is
    doing (default: its command line)."""
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    path = (data_dir / LOCK_FILE).resolve()
    with _guard:
        holding = _held.get(path)
        if holding is None:
            holding = _held[path] = _Holding(_acquire(path, command or this_command()),
                                             threading.get_ident(), 0)
        elif holding.thread != threading.get_ident():
            raise WriterBusy(busy_message(_read(holding.fd)))
        holding.depth += 1
    try:
        yield
    finally:
        with _guard:
            holding.depth -= 1
            if not holding.depth:
                del _held[path]
                os.ftruncate(holding.fd, 0)
                os.close(holding.fd)  # closing the only descriptor releases the flock


def _acquire(path: Path, command: str) -> int:
    """Lock `path` without waiting and write `PID COMMAND` into it; its descriptor."""
    # Not inherited by child processes (Python's default): a decoder outliving a killed
    # parent must not keep the library locked.
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _read(fd)
        os.close(fd)
        raise WriterBusy(busy_message(holder)) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()} {command}\n".encode(), 0)
    return fd


def _read(fd: int) -> str:
    return os.pread(fd, 4096, 0).decode(errors="replace")
