"""Indexing on a real Ray cluster (a head and a second node on this machine, token
authentication on, loopback only) holds to the same result as a local run: the same segments,
the same vectors (within float16), the same failures, each file once, even when a worker
process is killed mid-file; a second run does no work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import INDEX_BUDGET, TINY_MODEL, make_settings
from tests.media import BLUE, GREEN, RED, WHITE, Scene, write_video
from tests.ray_cluster import alive, descendants, ray_cluster
from vidseek.library import Library
from vidseek.search.storage.store import Store

pytestmark = pytest.mark.slow

COLOURS = [RED, GREEN, BLUE, WHITE]
CLIPS = 4  # good ones; each node's one worker gets two, so a kill lands mid-run
TASK = "analyze_on_worker"  # Ray titles a worker process `ray::TASK` while it runs one


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("videos")
    for i in range(CLIPS):
        scenes = [Scene(2, COLOURS[i % 4]), Scene(3, COLOURS[(i + 1) % 4], moving_square=i % 2 == 0)]
        write_video(root / f"clip{i}.mp4", scenes)
    good = (root / "clip0.mp4").read_bytes()
    (root / "sub").mkdir()
    (root / "sub" / "truncated.mp4").write_bytes(good[: len(good) // 2])
    return root


@pytest.fixture(scope="module")
def reference(videos, tmp_path_factory) -> dict:
    """The library a local run in this process makes of the same files."""
    settings = make_settings(tmp_path_factory.mktemp("local") / "data", threads=1)
    library = Library(settings)
    try:
        library.indexer.index(videos)
    finally:
        library.close()
    return snapshot(settings.data_dir, videos)


@pytest.fixture(scope="module")
def cluster():
    # Two nodes of one CPU each; the second has a resource of its own, as another machine would.
    with ray_cluster(("--num-cpus", "1"),
                     ("--num-cpus", "1", "--resources", '{"second_node": 1}')) as running:
        yield running


def snapshot(data_dir: Path, videos: Path) -> dict:
    """Per file: status, failure reason, segments (modality, t0, t1, text) and their vectors,
    plus how many vectors each FAISS index holds (a file indexed twice would show there)."""
    settings = make_settings(data_dir)
    store = Store(settings.sql_url, settings.index_dir, INDEX_BUDGET)
    try:
        files = {}
        for video in store.videos():
            segments = store.video_segments(video.id)
            vectors = store.vectors(np.array([s.id for s in segments]))
            files[os.path.relpath(video.path, videos)] = (
                video.status, video.error, [(s.modality, s.t0, s.t1, s.text) for s in segments],
                vectors)
        counts = {m: store.vector_count(m) for m in ("frame", "speech", "audio")}
        return {"files": files, "vectors": counts, "segments": store.segment_count()}
    finally:
        store.close()


def assert_same_library(got: dict, want: dict) -> None:
    assert got["vectors"] == want["vectors"] and got["segments"] == want["segments"]
    assert sorted(got["files"]) == sorted(want["files"])
    for name, (status, error, spans, vectors) in want["files"].items():
        g_status, g_error, g_spans, g_vectors = got["files"][name]
        assert (g_status, g_error, g_spans) == (status, error, spans), name
        # Stored as float16; the workers' torch runs on 1 thread like the reference's.
        np.testing.assert_allclose(g_vectors, vectors, atol=2e-3, err_msg=name)


def index_command(videos: Path, data_dir: Path, cluster=None) -> tuple[list[str], dict]:
    """`vidseek index` in a new process (a Ray driver keeps Ray's state per process)."""
    env = {**os.environ, "VIDSEEK_DATA_DIR": str(data_dir), "VIDSEEK_CLIP_MODEL": TINY_MODEL,
           "VIDSEEK_ALLOW_DOWNLOAD": "false", "VIDSEEK_TRANSCRIBE": "false",
           "VIDSEEK_INDEX_AUDIO": "false", "VIDSEEK_THREADS": "1"}
    args = [sys.executable, "-m", "vidseek", "index", str(videos)]
    if cluster is not None:
        env.update(cluster.env)  # the cluster's token, as an operator would hand it over
        args += ["--ray", cluster.address]
    return args, env


def run_index(videos: Path, data_dir: Path, cluster=None) -> str:
    args, env = index_command(videos, data_dir, cluster)
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_cluster_run_makes_the_library_a_local_run_makes(cluster, videos, reference, tmp_path):
    data_dir = tmp_path / "data"
    out = run_index(videos, data_dir, cluster)
    assert f"indexed {CLIPS} video(s)" in out and "1 failed" in out, out
    got = snapshot(data_dir, videos)
    assert_same_library(got, reference)
    truncated = got["files"][os.path.join("sub", "truncated.mp4")]
    assert truncated[0] == "failed" and "truncated" in truncated[1]

    again = run_index(videos, data_dir, cluster)
    assert f"indexed 0 video(s) (0 s of video, 0.0x real time), {CLIPS + 1} unchanged" in again
    assert_same_library(snapshot(data_dir, videos), reference)


def test_a_worker_killed_mid_file_is_retried_and_each_file_indexed_once(cluster, videos, reference,
                                                                          tmp_path):
    data_dir = tmp_path / "data"
    args, env = index_command(videos, data_dir, cluster)
    driver = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    killed, orphans = None, []
    deadline = time.monotonic() + 120
    while killed is None and driver.poll() is None and time.monotonic() < deadline:
        running = cluster.workers_running(TASK)
        if running:
            killed = running[0]
            orphans = descendants(killed)  # its decoder children must not outlive it
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.02)
    out, err = driver.communicate(timeout=300)
    assert killed is not None, "no worker was caught running a file"
    assert driver.returncode == 0, err
    assert f"indexed {CLIPS} video(s)" in out and "1 failed" in out, out
    assert_same_library(snapshot(data_dir, videos), reference)
    deadline = time.monotonic() + 10
    while alive(orphans) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert alive([killed, *orphans]) == []


def test_a_driver_without_the_clusters_token_gets_one_clear_error(cluster, videos, tmp_path):
    args, env = index_command(videos, tmp_path / "data")
    # Ray tries a refused connection again once a second, 20 times by default (for a GCS
    # still starting); this one is up and refuses for good, so one try gives the same error.
    env["RAY_NUM_REDIS_GET_RETRIES"] = "1"
    result = subprocess.run([*args, "--ray", cluster.address], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2
    error = result.stderr.strip().splitlines()[-1]  # after what Ray itself logs
    assert error.startswith(f"error: cannot use the Ray cluster at {cluster.address} ("), error
    assert "Authentication token is missing or incorrect" in error
    assert "RAY_AUTH_MODE=token" in error and "Traceback" not in result.stderr
