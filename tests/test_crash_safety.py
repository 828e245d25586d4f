"""No stale vector after a crash, and no removed video left in a saved index or a running
server: real `vidseek index` processes killed with SIGKILL, real SQLite and FAISS files,
audited with sqlite3 and FAISS directly (tests/crashes.py)."""

from __future__ import annotations

import os
import random
import sqlite3
import time

import faiss
import numpy as np
import pytest

from tests.conftest import INDEX_BUDGET, TINY_MODEL, make_settings
from tests.crashes import (
    audit_library,
    content_hashes,
    kill_hard,
    start_index,
    stray_processes,
    write_clip,
)
from vidseek.core.records import Fingerprint, MediaInfo, Segment
from vidseek.library import Library
from vidseek.search.storage.store import Store
from vidseek.search.storage.vectors import saved_generation

# One kill: a second round killed the run at the same point (~0.25 s after the changed file's
# commit, from the same seeded delays) on a library that one resume had just repaired, which the
# first round's audit already checks; each round costs a process start.
KILLS = 1
NEW_PER_ROUND = 3  # files added behind the changed one: the run is still busy when it is killed


def newest_video(data_dir) -> str:
    """The path of the video whose segments hold the highest ids."""
    with sqlite3.connect(data_dir / "vidseek.db") as db:
        return db.execute("SELECT v.path FROM videos v JOIN segments s ON s.video_id = v.id "
                          "GROUP BY v.id ORDER BY max(s.id) DESC LIMIT 1").fetchone()[0]


def cli_env(data_dir) -> dict[str, str]:
    return {**os.environ, "VIDSEEK_DATA_DIR": str(data_dir), "VIDSEEK_CLIP_MODEL": TINY_MODEL,
            "VIDSEEK_ALLOW_DOWNLOAD": "false", "VIDSEEK_TRANSCRIBE": "false",
            "VIDSEEK_INDEX_AUDIO": "false", "VIDSEEK_THREADS": "1"}


@pytest.mark.slow  # a kill loop
def test_a_kill_while_changed_files_are_reindexed_leaves_no_stale_vector(tmp_path, tiny_encoder):
    root, data = tmp_path / "videos", tmp_path / "data"
    root.mkdir()
    for i in range(3):
        write_clip(root / f"a{i}.mp4", seed=i)
    lib = Library(make_settings(data), tiny_encoder)
    lib.indexer.index(root)
    lib.close()
    env, rng, killed = cli_env(data), random.Random(0), 0
    for round_ in range(1, KILLS + 1):
        # Change the file whose segments hold the highest ids (SQLite used to give its new
        # segments the same ids), and add files after it so the run goes on past its commit.
        changed = newest_video(data)
        write_clip(changed, seed=100 * round_)
        for j in range(NEW_PER_ROUND):
            write_clip(root / f"b{round_}{j}.mp4", seed=100 * round_ + j + 1)
        old_hash = content_hashes(data)[changed]
        run = start_index(env, root)
        deadline = time.monotonic() + 120
        while (content_hashes(data).get(changed) == old_hash and run.poll() is None
               and time.monotonic() < deadline):
            time.sleep(0.02)
        time.sleep(rng.uniform(0, 0.3))  # a random moment after the changed file's commit
        killed += kill_hard(run)
        time.sleep(1)  # a decoder worker notices its reader is gone
        assert stray_processes(run.pid) == []
        assert audit_library(data).integrity == "ok"
        # Resumed here rather than by another process: a process start costs more than the
        # run itself on a busy machine, and the resume path (Indexer.index, close) is the same.
        resumed = Library(make_settings(data), tiny_encoder)
        resumed.indexer.index(root)
        resumed.close()
        audit = audit_library(data)
        assert audit.ok, audit
        assert len(content_hashes(data)) == 3 + round_ * NEW_PER_ROUND  # every file indexed
    assert killed >= 1, "the runs ended before they could be killed: nothing was tested"


def found_videos(lib: Library, query: np.ndarray) -> set[int]:
    moments = lib.engine.search_vectors({"frame": query}, lib.search_options(k=50))
    return {m.video_id for m in moments}


def test_a_removed_video_leaves_every_saved_index_and_a_running_server(tmp_path, tiny_encoder):
    root = tmp_path / "videos"
    root.mkdir()
    for i in range(3):
        write_clip(root / f"c{i}.mp4", seed=i)
    # Every hit counted (evidence_z 0): 15 frames are too few to measure noise on; this test
    # checks which videos a search can still reach, not whether a hit stands out.
    settings = make_settings(tmp_path / "data", evidence_z=0.0)
    first = Library(settings, tiny_encoder)
    first.indexer.index(root)
    first.close()
    server = Library(settings, tiny_encoder)  # opened before the removal, like `vidseek serve`
    gone = server.store.video_by_path(str(root / "c1.mp4")).id
    query = server.store.vectors([s.id for s in server.store.video_segments(gone, "frame")])
    assert gone in found_videos(server, query)
    (root / "c1.mp4").unlink()
    # A file that fails: the run goes on after the removal without opening any index.
    (root / "broken.mp4").write_bytes(b"\x00" * 1000)
    seen_during_run = []
    indexer = Library(settings, tiny_encoder)  # a new process, like `vidseek index`
    report = indexer.indexer.index(
        root, on_progress=lambda _: seen_during_run.append(gone in found_videos(server, query)))
    assert report.removed == 1 and len(report.failed) == 1
    assert seen_during_run == [False]  # gone from the server while the run still went on
    indexer.close()
    audit = audit_library(settings.data_dir)
    assert audit.ok, audit
    assert gone not in found_videos(server, query)
    server.close()


def test_a_removal_reaches_the_index_files_of_every_modality(tmp_path):
    data = tmp_path / "data"
    url, index_dir = f"sqlite:///{data / 'vidseek.db'}", data / "faiss"
    vectors = np.random.default_rng(0).standard_normal((8, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    info = MediaInfo(4.0, 1.0, 64, 64, True)

    def segments(first: int) -> list[Segment]:
        return [Segment("frame", 0, 2, vectors[first]), Segment("frame", 2, 4, vectors[first + 1]),
                Segment("speech", 0, 4, vectors[first + 2], text="hello there")]

    writer = Store(url, index_dir, INDEX_BUDGET)
    writer.bind_model("clip_model", "test", 16)
    writer.save_video("/a.mp4", Fingerprint(1, 1), info, segments(0))
    writer.save_video("/b.mp4", Fingerprint(1, 1), info, segments(4))
    writer.close()
    assert sorted(p.name for p in index_dir.iterdir()) == ["frame.delta.npz", "speech.delta.npz"]
    # A removal-only run opens no index: the files must follow all the same.
    indexer = Store(url, index_dir, INDEX_BUDGET)
    assert indexer.remove_videos(["/b.mp4"]) == 1
    indexer.close()
    audit = audit_library(data)
    assert audit.ok, audit
    assert audit.segments == 3


def test_an_index_file_from_before_ids_were_never_reused_is_rebuilt(tmp_path, tiny_encoder):
    """A file without a generation (as every file was before migration 0005) may hold another
    vector under an id SQL holds, so it is rebuilt from SQL, not reconciled id by id."""
    settings = make_settings(tmp_path / "data")
    root = tmp_path / "videos"
    root.mkdir()
    write_clip(root / "a.mp4", seed=1)
    lib = Library(settings, tiny_encoder)
    lib.indexer.index(root)
    lib.close()
    assert saved_generation(settings.index_dir, "frame") is not None
    ids = Library(settings, tiny_encoder).store.index("frame").ids()
    # The layout of before: one frame.faiss, same ids, other vectors, no generation anywhere.
    legacy = faiss.IndexIDMap2(faiss.IndexFlatIP(64))
    legacy.add_with_ids(np.random.default_rng(0).standard_normal((len(ids), 64)).astype("f4"), ids)
    for f in settings.index_dir.iterdir():
        f.unlink()
    faiss.write_index(legacy, str(settings.index_dir / "frame.faiss"))
    assert saved_generation(settings.index_dir, "frame") is None
    lib = Library(settings, tiny_encoder)
    lib.store.index("frame")  # opened (a search would) and repaired on disk
    lib.close()
    audit = audit_library(settings.data_dir)
    assert audit.ok, audit
    assert not (settings.index_dir / "frame.faiss").exists()  # the old layout's file is gone
