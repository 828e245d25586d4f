"""Files written whole (vidseek/core/files.py): what the index, export and model writers share."""

import os
import subprocess
import sys

import pytest

from vidseek.core.files import remove_abandoned, replaced_whole, temporary_path, write_whole


def test_a_file_is_replaced_whole_or_not_at_all(tmp_path):
    path = tmp_path / "deep" / "index.npz"
    write_whole(path, lambda f: f.write(b"first"))
    assert path.read_bytes() == b"first"

    def fails_halfway(f):
        f.write(b"half of the sec")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_whole(path, fails_halfway)
    assert path.read_bytes() == b"first"  # the old content, whole
    assert sorted(p.name for p in path.parent.iterdir()) == ["index.npz"]  # no temporary left

    with replaced_whole(path) as temporary:  # a writer that takes a path
        assert temporary == temporary_path(path)
        temporary.write_bytes(b"second")
        assert path.read_bytes() == b"first"  # not before the block ends
    assert path.read_bytes() == b"second"


def test_only_the_temporary_files_of_writers_that_died_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)
    abandoned = tmp_path / f"frame.base-7.f16.{dead_pid}.tmp"
    running = tmp_path / f"frame.base-8.f16.{os.getpid()}.tmp"
    other = tmp_path / f"speech.delta.npz.{dead_pid}.tmp"
    finished = tmp_path / "frame.base-8.f16"
    for f in (abandoned, running, other, finished):
        f.write_bytes(b"x")
    remove_abandoned(tmp_path, "frame.*")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [running.name, other.name, finished.name])
