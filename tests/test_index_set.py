"""The index set follows every committed change of the segments, and nothing else: a write that
fails changes neither SQL nor the open indexes; replacing the audio segments and dropping every
segment leave files that agree with SQL."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import INDEX_BUDGET
from tests.test_vectors import unit
from vidseek.core.records import AudioFeatures, Fingerprint, MediaInfo, Segment
from vidseek.search.storage.store import Store
from vidseek.search.storage.vectors import saved_generation

INFO = MediaInfo(10.0, 1.0, 64, 64, True)


def segments(modality: str, vectors: np.ndarray) -> list[Segment]:
    return [Segment(modality, float(t), t + 1.0, v) for t, v in enumerate(vectors)]


def new_store(tmp_path, dim: int = 8) -> Store:
    store = Store(f"sqlite:///{tmp_path / 'lib.db'}", tmp_path / "faiss", INDEX_BUDGET)
    store.bind_model("clip_model", "test", dim)
    return store


def test_a_write_that_fails_leaves_sql_and_the_open_index_as_they_were(tmp_path):
    store = new_store(tmp_path)
    a = store.save_video("/a.mp4", Fingerprint(1, 1), INFO, segments("frame", unit(2, dim=8)))
    before = (store.generations(), store.segment_ids("frame"), store.index("frame").ids())
    torn = AudioFeatures(np.zeros(2), np.ones(1), np.zeros((2, 3), np.float32))  # t1 too short
    with pytest.raises(ValueError):
        # The new frames are inserted before the audio features fail, in the same transaction.
        store.save_video("/a.mp4", Fingerprint(2, 2), INFO, segments("frame", unit(3, 8, 1)), torn)
    assert store.generations() == before[0]
    assert np.array_equal(store.segment_ids("frame"), before[1])
    assert np.array_equal(store.index("frame").ids(), before[2])
    assert store.video(a).size == 1 and store.audio_feature_count() == 0
    store.save_indexes()
    assert saved_generation(tmp_path / "faiss", "frame") == before[0]["frame"]
    store.close()


def test_replacing_the_audio_segments_moves_the_audio_index_with_sql(tmp_path):
    writer = new_store(tmp_path)
    old = unit(4, dim=8, seed=1)
    a = writer.save_video("/a.mp4", Fingerprint(1, 1), INFO, segments("audio", old[:2]))
    b = writer.save_video("/b.mp4", Fingerprint(1, 1), INFO, segments("audio", old[2:]))
    old_ids = writer.segment_ids("audio")
    assert np.array_equal(np.sort(writer.index("audio").ids()), old_ids)
    new = unit(3, dim=8, seed=2)
    written = writer.replace_audio_segments(
        {a: segments("audio", new[:1]), b: segments("audio", new[1:])}, audio_projection="v2")
    new_ids = writer.segment_ids("audio")
    assert written == 3 and new_ids.min() > old_ids.max()  # ids never come back
    assert np.array_equal(np.sort(writer.index("audio").ids()), new_ids)
    assert writer.state()["audio_projection"] == "v2"
    # Saved at SQL's generation: a server opens it as it is and finds the new vectors.
    assert saved_generation(tmp_path / "faiss", "audio") == writer.generations()["audio"]
    reader = Store(f"sqlite:///{tmp_path / 'lib.db'}", tmp_path / "faiss", INDEX_BUDGET)
    _, found = reader.index("audio").search(new, 1)
    assert found[:, 0].tolist() == new_ids.tolist()
    assert reader.places("audio").find(new_ids).video_ids.tolist() == [a, b, b]
    assert reader.video_path(b) == "/b.mp4"
    reader.close()
    writer.close()


def test_dropping_every_segment_throws_the_index_files_away_for_another_model(tmp_path):
    store = new_store(tmp_path)
    store.save_video("/a.mp4", Fingerprint(1, 1), INFO,
                     segments("frame", unit(2, dim=8)) + segments("speech", unit(1, dim=8)))
    store.save_failure("/b.mp4", Fingerprint(1, 1), "truncated")
    store.save_indexes()
    before = store.generations()
    assert store.clear_segments() == ["/a.mp4"]
    assert list((tmp_path / "faiss").iterdir()) == []
    assert store.generations() == {m: g + 1 for m, g in before.items()}
    assert store.state() == {} and store.segment_count() == 0
    assert store.video_by_path("/a.mp4").status == "pending"
    assert store.video_by_path("/b.mp4").status == "failed"
    # Another model, another dimension: the indexes open afresh, never the old ones.
    store.bind_model("clip_model", "other", 16)
    store.save_video("/a.mp4", Fingerprint(1, 1), INFO, segments("frame", unit(2, dim=16)))
    assert store.index("frame").dim == 16
    assert np.array_equal(np.sort(store.index("frame").ids()), store.segment_ids("frame"))
    store.close()
