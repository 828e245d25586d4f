"""Finding video files and telling whether their bytes changed."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from vidseek.indexer.subtitles import subtitle_stamp
from vidseek.search.store import Fingerprint

VIDEO_EXTENSIONS = frozenset({
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".wmv", ".flv", ".mpg", ".mpeg", ".ts",
    ".mts", ".m2ts", ".3gp", ".ogv",
})


def discover_videos(root: Path) -> list[Path]:
    """Video files under `root` (recursively, hidden folders skipped), or `root` itself."""
    root = Path(root).expanduser().resolve()
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise FileNotFoundError(f"no such file or folder: {root}")
    found = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(Path(folder) / f for f in files
                     if not f.startswith(".") and Path(f).suffix.lower() in VIDEO_EXTENSIONS)
    return sorted(found)


def quick_fingerprint(path: Path) -> Fingerprint:
    """Size and modification time, and those of its subtitle files: enough to skip a file
    nobody touched."""
    st = path.stat()
    return Fingerprint(size=st.st_size, mtime_ns=st.st_mtime_ns,
                       subtitle_stamp=subtitle_stamp(path))


def content_hash(path: Path, chunk: int = 1 << 20) -> str:
    """BLAKE2b of the whole file: tells a real edit from a mere touch."""
    h = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
