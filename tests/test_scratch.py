"""vidseek's temporary files stay in a folder of its own: one per process under the data dir,
removed at exit, and what a killed process left removed by the next one to start. Real
processes: a `vidseek index` killed with SIGKILL while it decodes, then `vidseek status`."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import TINY_MODEL
from tests.media import Scene, write_video
from vidseek.core.scratch import process_folder, scratch_root


def dead_pid() -> int:
    """The id of a process that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


@pytest.fixture
def short_tmp(tmp_path_factory) -> Path:
    """A temp folder whose path leaves room for a socket's inside a data dir in it (pytest's
    tmp_path, named after the test, may not)."""
    return tmp_path_factory.mktemp("s")


def test_a_process_folder_is_made_under_the_data_dir_and_dead_ones_go(short_tmp):
    data = short_tmp / "d"
    root = scratch_root(data)
    assert root == (data / "tmp").absolute()
    root.mkdir(parents=True)
    abandoned = root / str(dead_pid())
    (abandoned / "pymp-x").mkdir(parents=True)
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as alive:
        running = root / str(alive.pid)
        running.mkdir()
        folder = process_folder(data)
        alive.kill()
    assert folder == root / str(os.getpid()) and folder.is_dir()
    assert process_folder(data) == folder  # one per process
    assert not abandoned.exists() and running.exists()


def test_a_data_dir_too_deep_for_a_socket_keeps_its_temp_files_in_one_folder_of_vidseeks(
        tmp_path):
    deep = tmp_path / ("d" * 80)
    root = scratch_root(deep)
    assert root.parent == Path(tempfile.gettempdir()) and root.name.startswith("vidseek-")


def test_a_process_removes_its_folder_when_it_exits(short_tmp):
    code = ("import sys; from pathlib import Path; from vidseek.core.scratch import process_folder\n"
            "(process_folder(Path(sys.argv[1])) / 'upload').write_bytes(b'x')\n")
    subprocess.run([sys.executable, "-c", code, str(short_tmp / "d")], check=True, timeout=60)
    assert list((short_tmp / "d" / "tmp").iterdir()) == []


@pytest.mark.slow  # a real `vidseek index`, killed, and `vidseek status`: about 15 s
def test_a_killed_index_leaves_nothing_in_the_system_temp_folder(tmp_path_factory):
    """`vidseek index` killed (SIGKILL) while its decoding children run: the system's temp
    folder (TMPDIR) gains nothing, its own folder in the data dir holds multiprocessing's
    pymp-* folder, and the next vidseek command removes that folder."""
    work = tmp_path_factory.mktemp("k")  # short: a socket's path is made inside the data dir
    system_temp, videos, data = work / "t", work / "v", work / "d"
    system_temp.mkdir()
    videos.mkdir()
    for i in range(20):
        write_video(videos / f"{i:02d}.mp4", [Scene(3, (10 * i, 100, 200 - 5 * i))])
    env = {**os.environ, "TMPDIR": str(system_temp), "VIDSEEK_DATA_DIR": str(data),
           "VIDSEEK_CLIP_MODEL": TINY_MODEL, "VIDSEEK_ALLOW_DOWNLOAD": "false",
           "VIDSEEK_TRANSCRIBE": "false", "VIDSEEK_INDEX_AUDIO": "false",
           "VIDSEEK_INDEX_OCR": "false"}
    index = subprocess.Popen([sys.executable, "-m", "vidseek", "index", str(videos)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    own = data / "tmp" / str(index.pid)
    deadline = time.monotonic() + 120
    while not list(own.glob("pymp-*")):  # made when the first decoding child starts
        assert index.poll() is None, "the index run ended before it could be killed"
        assert time.monotonic() < deadline, "no decoding child started"
        time.sleep(0.02)
    index.kill()
    index.wait()
    time.sleep(1)  # its fork server sees its parent gone and exits
    assert list(system_temp.iterdir()) == []
    assert list(own.glob("pymp-*")), "the kill left nothing to clean: the test shows nothing"
    subprocess.run([sys.executable, "-m", "vidseek", "status"], env=env, check=True,
                   capture_output=True, timeout=120)
    assert list((data / "tmp").iterdir()) == []  # the leftover, and the status run's own
    assert list(system_temp.iterdir()) == []
