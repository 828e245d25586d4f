"""Finding video files, telling the ones that cannot be videos apart, and telling whether their
bytes changed.

Only regular files are videos. A symlink that resolves to a regular file is one too, recorded
under the link's own path: that is the name the user gave it in the folder being indexed, so
removing the link removes the video, and a link whose target goes away is reported as dangling
instead of silently vanishing. Anything else named like a video (a symlink loop, a dangling
link, a named pipe, a socket, a device, a folder that cannot be listed) becomes an `Entry` with
the reason it cannot be indexed; nothing here ever opens it."""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from vidseek.core.records import Fingerprint
from vidseek.indexer.subtitles import subtitle_stamp

VIDEO_EXTENSIONS = frozenset({
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".wmv", ".flv", ".mpg", ".mpeg", ".ts",
    ".mts", ".m2ts", ".3gp", ".ogv",
})

_FILE_TYPES = (  # what a non-regular file is, in a user's words
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISDIR, "a folder"),
)


@dataclass(frozen=True)
class Entry:
    """A path that looks like a video: a file to index (`problem` None), or the reason it
    cannot be one. `fingerprint` is that of what the path resolves to, of the entry itself when
    it resolves to nothing, or zeros when not even the entry could be read."""

    path: Path
    fingerprint: Fingerprint
    problem: str | None = None


def file_type_problem(mode: int) -> str | None:
    """Why a file of this `st_mode` cannot be a video (None for a regular file)."""
    if stat.S_ISREG(mode):
        return None
    kind = next((name for test, name in _FILE_TYPES if test(mode)), "a special file")
    return f"{kind}, not a regular file"


def classify(entry: os.stat_result, target: os.stat_result | OSError,
             link_target: str | None = None, readable: bool = True) -> str | None:
    """Why a path named like a video cannot be indexed, or None when it is a readable regular
    file or a symlink to one. `entry` is its lstat, `target` its stat (or the error stat
    raised), `link_target` what the link says, when it is one; `readable` whether we may read
    it. Pure: the walk does the I/O."""
    is_link = stat.S_ISLNK(entry.st_mode)
    if isinstance(target, OSError):
        if target.errno == errno.ELOOP:
            return "symlink loop (too many levels of symbolic links)"
        if is_link and target.errno in (errno.ENOENT, errno.ENOTDIR):
            return f"dangling symlink: its target {link_target} does not exist"
        return f"cannot read: {target.strerror or target}"
    problem = file_type_problem(target.st_mode)
    if problem:
        return f"symlink to {problem}" if is_link else problem
    return None if readable else f"cannot read: {os.strerror(errno.EACCES)}"


def examine(path: Path) -> Entry:
    """Classify one path from its lstat and stat (never opening it)."""
    try:
        entry = os.lstat(path)
    except OSError as e:  # in a folder that may be listed but not searched, or gone since
        return Entry(path, Fingerprint(size=0, mtime_ns=0), f"cannot read: {e.strerror or e}")
    target: os.stat_result | OSError = entry
    link_target = None
    if stat.S_ISLNK(entry.st_mode):
        try:
            link_target = os.readlink(path)
            target = os.stat(path)
        except OSError as e:
            target = e
    resolved = entry if isinstance(target, OSError) else target
    readable = os.access(path, os.R_OK)  # asks the kernel; opens nothing
    return Entry(path, _fingerprint(resolved, path), classify(entry, target, link_target, readable))


def recorded_path(path: Path) -> Path:
    """The absolute path under which `path` is known: a folder fully resolved; a file (or
    anything else) by its own name in its resolved folder, so a symlink stays the link."""
    path = Path(path).expanduser()
    return path.resolve() if os.path.isdir(path) else path.parent.resolve() / path.name


def discover(root: Path) -> list[Entry]:
    """Every path under `root` named like a video (hidden files and folders skipped), each with
    the reason it cannot be indexed if it cannot; a subfolder that cannot be listed is an entry
    too. `root` may also be one file."""
    root = recorded_path(root)
    if not os.path.isdir(root):
        if not os.path.lexists(root):
            raise FileNotFoundError(f"no such file or folder: {root}")
        return [examine(root)]
    found: list[Entry] = []

    def unlistable(error: OSError) -> None:
        found.append(Entry(Path(error.filename), Fingerprint(size=0, mtime_ns=0),
                           f"cannot list folder: {error.strerror or error}"))

    for folder, dirs, files in os.walk(root, onerror=unlistable):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(examine(Path(folder) / f) for f in files
                     if not f.startswith(".") and Path(f).suffix.lower() in VIDEO_EXTENSIONS)
    return sorted(found, key=lambda e: e.path)


def is_gone(path: str) -> bool:
    """Whether nothing is at `path` any more. A permission error proves nothing (a folder made
    unreadable for a while), so such a path is not gone: its video is kept."""
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False
    return False


def _fingerprint(st: os.stat_result, path: Path) -> Fingerprint:
    """Size and modification time, and those of its subtitle files: enough to skip a file
    nobody touched."""
    return Fingerprint(size=st.st_size, mtime_ns=st.st_mtime_ns,
                       subtitle_stamp=subtitle_stamp(path))


def content_hash(path: Path, chunk: int = 1 << 20) -> str:
    """BLAKE2b of the whole file: tells a real edit from a mere touch. The file is opened without
    blocking and checked to be regular before it is read, so a pipe put at `path` since it was
    discovered fails with OSError instead of hanging."""
    h = hashlib.blake2b(digest_size=20)
    with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as f:
        problem = file_type_problem(os.fstat(f.fileno()).st_mode)
        if problem:
            raise OSError(errno.EINVAL, problem, str(path))
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
