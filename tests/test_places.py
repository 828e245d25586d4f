"""Segment places in memory: lookups, updates, and the store keeping them beside each index."""

import numpy as np

from tests.conftest import INDEX_BUDGET
from tests.test_vectors import unit
from vidseek.core.records import Fingerprint, MediaInfo, Segment
from vidseek.search.queries.engine import best_per_segment
from vidseek.search.storage.places import Places
from vidseek.search.storage.store import Store


def test_find_plus_without():
    places = Places.of([30, 10, 20], [3, 1, 2], [3.0, 1.0, 2.0], [4.0, 2.0, 3.0])
    found = places.find([20, 99, 10, -1])
    assert found.mask.tolist() == [True, False, True, False]
    assert found.video_ids.tolist() == [2, 1] and found.t0.tolist() == [2.0, 1.0]
    grown = places.plus(Places.of([5], [7], [0.5], [1.5])).without([30])
    assert grown.ids.tolist() == [5, 10, 20]
    assert grown.find([5]).video_ids.tolist() == [7]
    assert len(places) == 3  # updates make new tables; the old one is unchanged
    assert not Places.empty().find([1, 2]).mask.any()


def test_best_per_segment_keeps_each_ids_best_score():
    ids = np.array([[4, 2, -1], [2, 9, 4]])
    scores = np.array([[0.9, 0.5, 0.0], [0.7, 0.6, 0.1]], dtype=np.float32)
    got_ids, got_scores = best_per_segment(ids, scores)
    assert dict(zip(got_ids.tolist(), got_scores.tolist())) == {
        2: np.float32(0.7), 4: np.float32(0.9), 9: np.float32(0.6)}


def test_store_places_follow_saves_removals_and_other_processes(tmp_path):
    url, index_dir = f"sqlite:///{tmp_path / 'lib.db'}", tmp_path / "faiss"
    vectors = unit(6, dim=8)
    info = MediaInfo(10.0, 1.0, 64, 64, False)

    def frames(*rows) -> list[Segment]:
        return [Segment("frame", t, t + 1, vectors[i]) for i, t in rows]

    writer = Store(url, index_dir, INDEX_BUDGET)
    writer.bind_model("clip_model", "test", 8)
    a = writer.save_video("/a.mp4", Fingerprint(1, 1), info, frames((0, 0.0), (1, 1.0)))
    b = writer.save_video("/b.mp4", Fingerprint(1, 1), info, frames((2, 5.0)))
    places = writer.places("frame")
    assert sorted(places.video_ids.tolist()) == [a, a, b]
    assert np.array_equal(np.sort(writer.index("frame").ids()), places.ids)
    assert writer.video_path(b) == "/b.mp4"
    writer.save_indexes()
    # A server opened on the same library reads the same places with the index...
    reader = Store(url, index_dir, INDEX_BUDGET)
    _, ids = reader.index("frame").search(vectors[:1], 5)
    assert reader.places("frame").find(ids[0][ids[0] >= 0]).mask.all()
    assert reader.video_path(a) == "/a.mp4" and reader.video_path(b) == "/b.mp4"
    writer.remove_videos(["/b.mp4"])
    assert writer.places("frame").video_ids.tolist() == [a, a]
    assert writer.video_path(b) is None
    # ...and the new ones once the indexer has saved again; a removed video's id never
    # comes back meaning another file.
    c = writer.save_video("/c.mp4", Fingerprint(1, 1), info, frames((3, 7.0)))
    assert c > b
    writer.save_indexes()
    reader.index("frame")
    assert sorted(set(reader.places("frame").video_ids.tolist())) == [a, c]
    assert reader.video_path(c) == "/c.mp4" and reader.video_path(b) is None
    reader.close()
    writer.close()


def test_at_finds_the_segment_on_screen():
    places = Places.of([1, 2, 3, 7, 8], [1, 1, 1, 2, 2], [0.0, 5.0, 10.0, 0.0, 3.0],
                       [5.0, 10.0, 15.0, 3.0, 6.0])
    assert places.at(1, 7.5) == 2 and places.at(1, 10.0) == 3 and places.at(1, 99) == 3
    assert places.at(2, 0.0) == 7 and places.at(2, -1.0) == 7
    assert places.at(3, 1.0) is None and Places.empty().at(1, 1.0) is None
