"""The synthetic bulk fill (bench/synthetic.py) writes what Store.save_video writes, and a
killed fill resumes where it stopped: a library made that way opens and reconciles like any."""

import signal
import subprocess
import sys
import textwrap
from dataclasses import replace

import numpy as np
from sqlalchemy import text

from bench.synthetic import (
    SYNTHETIC_FINGERPRINT,
    fill_store,
    synthetic_path,
    synthetic_video,
    text_queries,
)
from tests.conftest import INDEX_BUDGET
from vidseek.core.records import MediaInfo
from vidseek.search.storage.store import Store

DIM = 32
PER_VIDEO = 100
VIDEOS = 12
SPEECH_SHARE = 0.2


def open_store(folder) -> Store:
    return Store(f"sqlite:///{folder / 'lib.db'}", folder / "faiss", INDEX_BUDGET)


def saved_one_by_one(folder) -> Store:
    """The same library written video by video through Store.save_video."""
    store = open_store(folder)
    store.bind_model("clip_model", "test", DIM)
    info = MediaInfo(float(PER_VIDEO), 30.0, 1280, 720, has_audio=False)
    for number in range(VIDEOS):
        fp = replace(SYNTHETIC_FINGERPRINT, content_hash=f"{number * PER_VIDEO:040x}")
        store.save_video(synthetic_path(number), fp, info,
                         synthetic_video(number, PER_VIDEO, DIM, SPEECH_SHARE, per_video=PER_VIDEO))
    store.save_indexes()
    return store


def rows(store: Store) -> dict[str, list]:
    """Every row the two ways of writing must agree on (the time of indexing aside)."""
    with store.engine.connect() as c:
        return {
            "videos": c.execute(text(
                "SELECT id, path, content_hash, size, mtime_ns, duration, fps, width, height, "
                "has_audio, status, error, subtitle_stamp, warning FROM videos ORDER BY id")).all(),
            "segments": c.execute(text("SELECT * FROM segments ORDER BY id")).all(),
            "full text": c.execute(text(
                "SELECT rowid FROM transcript_fts WHERE transcript_fts MATCH 'dog OR night' "
                "ORDER BY rowid")).all(),
        }


FILL_CHILD = textwrap.dedent("""
    import sys
    from pathlib import Path
    from bench.synthetic import fill_store
    from tests.test_bulk_fill import DIM, PER_VIDEO, SPEECH_SHARE, VIDEOS, open_store

    fill_store(open_store(Path(sys.argv[1])), VIDEOS * PER_VIDEO, DIM, "test",
               per_video=PER_VIDEO, speech_share=SPEECH_SHARE, videos_per_commit=1,
               progress=True)
""")


def test_a_killed_bulk_fill_resumes_into_what_save_video_writes(tmp_path):
    (tmp_path / "bulk").mkdir()
    child = subprocess.Popen([sys.executable, "-c", FILL_CHILD, str(tmp_path / "bulk")],
                             stdout=subprocess.PIPE, text=True)
    for _ in range(3):
        assert child.stdout.readline().startswith("  fill: ")
    child.send_signal(signal.SIGKILL)  # somewhere in the fourth video's transaction, or after
    child.wait()
    bulk = open_store(tmp_path / "bulk")
    done = bulk.video_count()
    assert 3 <= done < VIDEOS
    frames_before = bulk.index("frame").ids()  # opened (built from SQL) on the partial library
    assert len(frames_before) == bulk.segment_count("frame")

    fill_store(bulk, VIDEOS * PER_VIDEO, DIM, "test", per_video=PER_VIDEO,
               speech_share=SPEECH_SHARE)
    one_by_one = saved_one_by_one(tmp_path / "saved")
    assert rows(bulk) == rows(one_by_one)
    assert len(rows(bulk)["full text"]) > 0 and bulk.video_count() == VIDEOS
    # The index opened before the rest was written follows it; a fresh reader agrees.
    queries = text_queries(VIDEOS * PER_VIDEO // 50, 20, DIM)
    for modality in ("frame", "speech"):
        expected = one_by_one.index(modality).search(queries, 10)[1]
        assert np.array_equal(bulk.index(modality).search(queries, 10)[1], expected)
        assert np.array_equal(open_store(tmp_path / "bulk").index(modality).search(queries, 10)[1],
                              expected)
