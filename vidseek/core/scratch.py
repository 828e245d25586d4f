"""vidseek's temporary files: one folder per running process, under the data dir's `tmp/`
(uploaded query clips, multiprocessing's `pymp-*` folders, spooled uploads, what native
libraries write), not loose in the system's temporary folder.

A process removes its folder when it exits; one that is killed cannot, so each process that
starts on a data dir first removes the folders of processes no longer running (a folder is
named by its process id, as the temporary files of vidseek/core/files.py are)."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from pathlib import Path

from vidseek.core.files import process_alive

# multiprocessing binds its fork server's Unix socket in its pymp-* folder, inside this
# process's: "/pymp-XXXXXXXX/listener-XXXXXXXX" after a folder name of at most 7 digits must
# fit the 107 bytes of a socket's path, or no file could be decoded.
_SOCKET_PATH_MAX = 107
_ROOM_INSIDE = len("/1234567/pymp-12345678/listener-12345678")
_SYSTEM_TEMP = Path(tempfile.gettempdir())  # read before this process's is changed
_folders: dict[tuple[Path, int], Path] = {}
_lock = threading.Lock()


def scratch_root(data_dir: Path) -> Path:
    """Where the processes of the library at `data_dir` keep their temporary folders: its
    `tmp/`, or, when that path is too long to hold a socket, one folder of vidseek's own in
    the system's temporary folder."""
    root = Path(data_dir).absolute() / "tmp"
    if len(os.fsencode(root)) + _ROOM_INSIDE > _SOCKET_PATH_MAX:
        return _SYSTEM_TEMP / f"vidseek-{os.getuid()}"
    return root


def remove_abandoned_folders(root: Path) -> None:
    """Delete the folders under `root` of processes that are no longer running."""
    for folder in root.iterdir():
        pid = folder.name
        if pid.isdigit() and int(pid) != os.getpid() and not process_alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def process_folder(data_dir: Path) -> Path:
    """This process's temporary folder for the library at `data_dir`: made on the first call
    (once the folders of dead processes are removed), removed when the process exits. OSError
    when it cannot be made."""
    root = scratch_root(data_dir)
    key = (root, os.getpid())  # a forked child gets a folder of its own
    with _lock:
        folder = _folders.get(key)
        if folder is None or not folder.is_dir():
            root.mkdir(parents=True, exist_ok=True)
            remove_abandoned_folders(root)
            folder = root / str(os.getpid())
            shutil.rmtree(folder, ignore_errors=True)  # a dead process's, whose id this one has
            folder.mkdir()
            atexit.register(shutil.rmtree, folder, True)
            _folders[key] = folder
        return folder


def keep_temporary_files_here(data_dir: Path) -> Path | None:
    """Make `process_folder(data_dir)` this process's temporary folder: Python's tempfile
    default (and through it multiprocessing's and spooled uploads'), and TMPDIR, which native
    libraries (ONNX Runtime's session file) and child processes read. None, leaving both as
    they were, when the folder cannot be made (a read-only data dir)."""
    try:
        folder = process_folder(data_dir)
    except OSError:
        return None
    tempfile.tempdir = os.environ["TMPDIR"] = str(folder)
    return folder
