"""A bad entry never stops the run: a folder holding every kind of thing that looks like a video
but is not one (symlink loop, dangling link, named pipe, socket, device, unreadable file and
folder) next to good clips. The good clips are indexed; each bad entry is recorded failed with
a one-line reason that `vidseek status` shows; nothing hangs."""

from __future__ import annotations

import errno
import os
import shutil
import socket
import sqlite3
import stat
import subprocess
import sys

import pytest

from tests.conftest import TINY_MODEL, make_settings
from tests.media import BLUE, GREEN, RED, Scene, write_video
from vidseek.indexer.discover import classify, examine, file_type_problem, is_gone
from vidseek.library import Library

RUN_TIMEOUT = 240  # seconds: a run that waits on a pipe would never end; this one must

LOOP = "symlink loop (too many levels of symbolic links)"


def stat_of(mode: int, size: int = 0) -> os.stat_result:
    return os.stat_result((mode, 1, 1, 1, 0, 0, size, 0, 0, 0))


def test_classify_names_each_kind_of_entry():
    regular, link = stat_of(stat.S_IFREG | 0o644, 10), stat_of(stat.S_IFLNK | 0o777)
    assert classify(regular, regular) is None
    assert classify(link, regular, "clip.mp4") is None  # a link to a video is a video
    assert classify(regular, regular, readable=False) == "cannot read: Permission denied"
    assert classify(link, OSError(errno.ELOOP, "Too many levels of symbolic links")) == LOOP
    assert classify(link, OSError(errno.ENOENT, "No such file or directory"), "gone.mp4") == (
        "dangling symlink: its target gone.mp4 does not exist")
    assert classify(link, OSError(errno.EACCES, "Permission denied"), "x") == (
        "cannot read: Permission denied")
    assert classify(link, stat_of(stat.S_IFCHR)) == "symlink to a character device, not a regular file"
    for mode, kind in [(stat.S_IFIFO, "a named pipe (FIFO)"), (stat.S_IFSOCK, "a socket"),
                       (stat.S_IFBLK, "a block device"), (stat.S_IFDIR, "a folder")]:
        assert file_type_problem(mode) == f"{kind}, not a regular file"
        assert classify(stat_of(mode), stat_of(mode)) == f"{kind}, not a regular file"


def test_only_a_path_surely_gone_is_gone(tmp_path):
    assert is_gone(str(tmp_path / "never-there.mp4"))  # ENOENT
    (tmp_path / "a-file").write_text("x")
    assert is_gone(str(tmp_path / "a-file" / "below-it.mp4"))  # ENOTDIR
    os.symlink("missing.mp4", tmp_path / "dangling.mp4")
    assert not is_gone(str(tmp_path / "dangling.mp4"))  # the link is there: recorded, not dropped


def make_bad_folder(root):
    """Good clips and one entry of each bad kind; returns {name: expected reason}."""
    (root / "sub").mkdir(parents=True)
    write_video(root / "good.mp4", [Scene(1, RED), Scene(1, BLUE)])
    write_video(root / "sub" / "good2.mp4", [Scene(2, GREEN)])
    os.symlink("good.mp4", root / "link.mp4")
    os.symlink("loop_b.mp4", root / "loop_a.mp4")
    os.symlink("loop_a.mp4", root / "loop_b.mp4")
    os.symlink("missing.mp4", root / "dangling.mp4")
    os.mkfifo(root / "pipe.mp4")
    os.symlink(os.devnull, root / "device.mp4")
    sock = socket.socket(socket.AF_UNIX)
    cwd = os.getcwd()
    try:  # bind by a relative name: a socket path is limited to ~108 bytes
        os.chdir(root)
        sock.bind("socket.mp4")
    finally:
        os.chdir(cwd)
        sock.close()  # the socket file stays
    return {
        "loop_a.mp4": LOOP,
        "loop_b.mp4": LOOP,
        "dangling.mp4": "dangling symlink: its target missing.mp4 does not exist",
        "pipe.mp4": "a named pipe (FIFO), not a regular file",
        "device.mp4": "symlink to a character device, not a regular file",
        "socket.mp4": "a socket, not a regular file",
    }


@pytest.fixture
def env(tmp_path):
    return {**os.environ, "VIDSEEK_DATA_DIR": str(tmp_path / "data"),
            "VIDSEEK_CLIP_MODEL": TINY_MODEL, "VIDSEEK_ALLOW_DOWNLOAD": "false",
            "VIDSEEK_TRANSCRIBE": "false", "VIDSEEK_THREADS": "1"}


def vidseek(env, *args, prefix=()):
    result = subprocess.run([*prefix, sys.executable, "-m", "vidseek", *args], env=env,
                            capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert result.returncode == 0, f"vidseek {args} exited {result.returncode}:\n{result.stderr}"
    return result.stdout


def status_failures(env, root) -> dict[str, str]:
    """{path relative to root: reason} from the lines `vidseek status` prints."""
    lines = [line.strip() for line in vidseek(env, "status").splitlines()]
    pairs = (line.removeprefix("failed: ").split(": ", 1) for line in lines
             if line.startswith("failed: "))
    return {os.path.relpath(path, root): reason for path, reason in pairs}


def indexed(env, root) -> set[str]:
    with sqlite3.connect(os.path.join(env["VIDSEEK_DATA_DIR"], "vidseek.db")) as db:
        rows = db.execute("select path from videos where status = 'indexed'").fetchall()
    return {os.path.relpath(path, root) for (path,) in rows}


@pytest.mark.slow  # real `vidseek index` processes
def test_a_bad_folder_is_indexed_around_its_bad_entries(env, tmp_path, tiny_encoder):
    root = tmp_path / "videos"
    expected = make_bad_folder(root)
    # A child process with a time limit: before the fix, the pipe hung the run forever.
    out = vidseek(env, "index", str(root))
    assert "indexed 3 video(s)" in out and f"{len(expected)} failed" in out
    # The link is indexed under its own name, the name it has in the folder.
    assert indexed(env, root) == {"good.mp4", "link.mp4", "sub/good2.mp4"}
    assert status_failures(env, root) == expected

    # A second run finds everything settled: nothing recorded again, nothing decoded.
    lib = Library(make_settings(tmp_path / "data"), tiny_encoder)
    try:
        again = lib.indexer.index(root)
        assert (again.indexed, again.failed, again.unchanged) == ([], [], 3 + len(expected))
        # A broken link that is mended is indexed; a loop that is broken up is dangling now.
        os.remove(root / "dangling.mp4")
        os.symlink("sub/good2.mp4", root / "dangling.mp4")
        os.remove(root / "loop_a.mp4")
        mended = lib.indexer.index(root)
        assert mended.indexed == [str(root / "dangling.mp4")] and mended.removed == 1
        assert mended.failed == [(str(root / "loop_b.mp4"),
                                  "dangling symlink: its target loop_a.mp4 does not exist")]
    finally:
        lib.close()


def reads_denied_prefix() -> list[str] | None:
    """A command prefix under which file permissions hold, or None when there is none. Root
    reads everything (CAP_DAC_OVERRIDE), so as root the run drops those capabilities with
    util-linux's setpriv; as anyone else no prefix is needed."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    prefix = [setpriv, "--bounding-set", "-dac_override,-dac_read_search", "--"]
    probe = subprocess.run([*prefix, "cat", "/proc/self/status"], capture_output=True, text=True)
    return prefix if probe.returncode == 0 else None


@pytest.mark.slow  # real `vidseek index` processes
def test_unreadable_file_and_folder_are_failed_kept_and_indexed_once_readable(env, tmp_path):
    prefix = reads_denied_prefix()
    if prefix is None:
        pytest.skip("running as root without setpriv (util-linux): root reads every file, so "
                    "an unreadable file or folder cannot be made here")
    root = tmp_path / "videos"
    (root / "locked").mkdir(parents=True)
    write_video(root / "good.mp4", [Scene(1, RED), Scene(1, BLUE)])
    write_video(root / "locked" / "inside.mp4", [Scene(2, GREEN)])
    shutil.copy(root / "good.mp4", root / "unreadable.mp4")
    os.chmod(root / "unreadable.mp4", 0)
    try:
        out = vidseek(env, "index", str(root), prefix=prefix)
        assert "indexed 2 video(s)" in out and "1 failed" in out
        # The folder becomes unreadable mid-life: the walk cannot list it. Its video is kept
        # (a permission error is no proof that it is gone); the folder is recorded failed.
        os.chmod(root / "locked", 0)
        out = vidseek(env, "index", str(root), prefix=prefix)
        assert "2 unchanged, 1 failed, 0 removed" in out
        assert status_failures(env, root) == {
            "unreadable.mp4": "cannot read: Permission denied",
            "locked": "cannot list folder: Permission denied",
        }
        assert indexed(env, root) == {"good.mp4", "locked/inside.mp4"}
    finally:
        os.chmod(root / "unreadable.mp4", 0o644)
        os.chmod(root / "locked", 0o755)
    # Readable again: the file is indexed, the folder's failure goes, nothing else is redone.
    out = vidseek(env, "index", str(root), prefix=prefix)
    assert "indexed 1 video(s)" in out and "2 unchanged, 0 failed, 1 removed" in out
    assert indexed(env, root) == {"good.mp4", "unreadable.mp4", "locked/inside.mp4"}
    assert status_failures(env, root) == {}


def test_a_single_bad_path_given_directly_is_recorded_failed(library, tmp_path):
    os.symlink("loop.mp4", tmp_path / "loop.mp4")
    report = library.indexer.index(tmp_path / "loop.mp4")
    assert report.failed == [(str(tmp_path / "loop.mp4"), LOOP)]
    assert examine(tmp_path / "loop.mp4").problem == LOOP
