"""Index a generated library end to end on real SQLite + FAISS with the tiny random model."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from tests.conftest import make_settings
from tests.media import BLUE, GREEN, RED, Scene, write_video
from tests.palette_encoder import PaletteEncoder
from vidseek.core.errors import ModelMismatch
from vidseek.library import Library


def solid(rgb, h=96, w=160):
    img = np.empty((h, w, 3), np.uint8)
    img[:] = rgb
    return img


@pytest.fixture
def videos(tmp_path):
    root = tmp_path / "videos"
    (root / "sub").mkdir(parents=True)
    write_video(root / "red_then_blue.mp4", [Scene(3, RED), Scene(3, BLUE)])
    write_video(root / "sub" / "green.mp4", [Scene(4, GREEN, moving_square=True)])
    (root / "notes.txt").write_text("not a video, and not named like one")
    return root


def frame_index_ids(lib: Library) -> set[int]:
    return set(lib.store.index("frame").ids().tolist())


@pytest.fixture
def settings(tmp_path):
    """Every hit counted (evidence_z 0): a few scenes make too few frames to measure the noise
    of (ranking.Noise), and these tests check where a found scene begins and ends."""
    return make_settings(tmp_path / "data", evidence_z=0.0)


def test_image_query_finds_the_scene_with_its_boundaries(library, videos):
    report = library.indexer.index(videos)
    assert sorted(os.path.basename(p) for p in report.indexed) == ["green.mp4", "red_then_blue.mp4"]
    assert report.failed == []

    red = library.engine.search_image(solid(RED), library.search_options(k=3))
    rb = library.store.video_by_path(str(videos / "red_then_blue.mp4"))
    assert red[0].video_id == rb.id
    assert (red[0].t0, red[0].t1) == (0.0, 3.0)
    assert red[0].matched_by == ("frame",)

    blue = library.engine.search_image(solid(BLUE), library.search_options(k=3))
    assert (blue[0].video_id, blue[0].t0, blue[0].t1) == (rb.id, 3.0, 6.0)


def test_video_metadata_and_thumbnails_are_stored(library, videos):
    library.indexer.index(videos)
    rb = library.store.video_by_path(str(videos / "red_then_blue.mp4"))
    assert rb.status == "indexed"
    assert (rb.width, rb.height, rb.has_audio) == (160, 96, False)
    assert rb.duration == pytest.approx(6.0, abs=0.2)
    frames = library.store.video_segments(rb.id, "frame")
    # Static scenes: the scene filter keeps one frame per scene, not one per second.
    assert [(s.t0, s.t1) for s in frames] == [(0.0, 3.0), (3.0, pytest.approx(6.0, abs=0.2))]
    jpeg = library.store.thumbnail(frames[0].id)
    assert jpeg[:3] == b"\xff\xd8\xff"


def test_moving_content_keeps_every_sampled_frame(library, videos):
    library.indexer.index(videos)
    green = library.store.video_by_path(str(videos / "sub" / "green.mp4"))
    assert len(library.store.video_segments(green.id, "frame")) == 4


def test_unchanged_folder_does_no_work(library, videos):
    library.indexer.index(videos)
    ids_before = frame_index_ids(library)
    again = library.indexer.index(videos)
    assert again.indexed == [] and again.unchanged == 2
    assert frame_index_ids(library) == ids_before


def test_touched_but_identical_file_is_not_reindexed(library, videos):
    library.indexer.index(videos)
    path = videos / "red_then_blue.mp4"
    os.utime(path, ns=(1, 1))
    report = library.indexer.index(videos)
    assert report.indexed == [] and report.unchanged == 2
    assert library.store.video_by_path(str(path)).mtime_ns == 1


def test_changed_file_is_reindexed(library, videos):
    library.indexer.index(videos)
    path = videos / "red_then_blue.mp4"
    write_video(path, [Scene(2, BLUE), Scene(4, RED)])
    os.utime(path, ns=(10**18, 10**18))
    report = library.indexer.index(videos)
    assert report.indexed == [str(path)]
    red = library.engine.search_image(solid(RED), library.search_options(k=1))[0]
    assert (red.t0, red.t1) == (2.0, pytest.approx(6.0, abs=0.2))
    # The old segments are gone from SQL and FAISS alike.
    assert frame_index_ids(library) == set(library.store.segment_ids("frame").tolist())
    assert len(frame_index_ids(library)) == 2 + 4


def test_bad_files_are_failed_with_a_reason_and_the_run_goes_on(library, videos):
    good = (videos / "red_then_blue.mp4").read_bytes()
    (videos / "empty.mp4").write_bytes(b"")
    (videos / "truncated.mp4").write_bytes(good[: len(good) // 2])
    (videos / "text.mov").write_text("hello, I am a text file")
    report = library.indexer.index(videos)
    assert len(report.indexed) == 2
    failed = dict(report.failed)
    assert failed[str(videos / "empty.mp4")] == "empty file (0 bytes)"
    assert "truncated" in failed[str(videos / "truncated.mp4")]
    assert "not a readable video" in failed[str(videos / "text.mov")]
    stored = {os.path.basename(v.path): v.error for v in library.store.videos("failed")}
    assert set(stored) == {"empty.mp4", "truncated.mp4", "text.mov"}
    # A failed file is not retried until it changes (or --retry-failed).
    assert library.indexer.index(videos).failed == []
    assert len(library.indexer.index(videos, retry_failed=True).failed) == 3


def test_deleted_file_is_removed_from_the_library(library, videos):
    library.indexer.index(videos)
    (videos / "sub" / "green.mp4").unlink()
    report = library.indexer.index(videos)
    assert report.removed == 1
    assert [os.path.basename(v.path) for v in library.store.videos()] == ["red_then_blue.mp4"]
    assert frame_index_ids(library) == set(library.store.segment_ids("frame").tolist())


def test_reindex_rebuilds_an_identical_index(library, videos, settings, tiny_encoder):
    library.indexer.index(videos)
    library.close()
    query = np.random.default_rng(0).standard_normal((5, 64)).astype(np.float32)
    before = Library(settings, tiny_encoder).store.index("frame").search(query, 10)
    counts = Library(settings, tiny_encoder).store.rebuild_indexes()
    assert counts == {"frame": 6}
    after = Library(settings, tiny_encoder).store.index("frame").search(query, 10)
    np.testing.assert_array_equal(before[1], after[1])
    np.testing.assert_allclose(before[0], after[0], rtol=1e-6)


def test_lost_or_stale_index_files_are_reconciled_with_sql(settings, videos, tmp_path, tiny_encoder):
    lib = Library(settings, tiny_encoder)
    lib.indexer.index(videos / "sub")
    lib.close()
    stale = tmp_path / "stale.npz"
    shutil.copy(settings.index_dir / "frame.delta.npz", stale)
    lib = Library(settings, tiny_encoder)
    lib.indexer.index(videos)  # adds red_then_blue
    lib.close()
    # Simulate a crash between the SQL commit and the index write: an old index file.
    shutil.copy(stale, settings.index_dir / "frame.delta.npz")
    lib = Library(settings, tiny_encoder)
    assert frame_index_ids(lib) == set(lib.store.segment_ids("frame").tolist())
    assert len(frame_index_ids(lib)) == 6
    # A torn (garbage) index file is rebuilt as well.
    lib.close()
    (settings.index_dir / "frame.delta.npz").write_bytes(b"\x00garbage")
    assert len(frame_index_ids(Library(settings, tiny_encoder))) == 6


def test_another_model_is_refused_until_reembedded(settings, videos, tiny_encoder):
    lib = Library(settings, tiny_encoder)
    lib.indexer.index(videos)
    lib.close()
    other = make_settings(settings.data_dir, clip_model="open_clip:ViT-B-32/random")
    with pytest.raises(ModelMismatch, match="reindex --reembed"):
        Library(other).engine  # noqa: B018


def test_an_encoder_passed_in_is_the_one_used_and_must_match_the_library(library, videos, settings,
                                                                        tiny_encoder):
    library.indexer.index(videos)
    assert library.encoder is tiny_encoder
    library.close()
    with pytest.raises(ModelMismatch, match="reindex --reembed"):
        palette = PaletteEncoder()
        Library(make_settings(settings.data_dir, clip_model=palette.spec), palette).encoder  # noqa: B018


def test_a_running_server_sees_what_another_indexer_saved(settings, videos, tiny_encoder):
    indexer_side = Library(settings, tiny_encoder)
    indexer_side.indexer.index(videos / "sub")
    indexer_side.close()
    server_side = Library(settings, tiny_encoder)
    assert len(frame_index_ids(server_side)) == 4
    indexer_side = Library(settings, tiny_encoder)
    indexer_side.indexer.index(videos)
    indexer_side.close()
    assert len(frame_index_ids(server_side)) == 6


def test_a_server_that_repaired_a_stale_index_still_follows_the_indexer(settings, videos, tiny_encoder):
    indexer_side = Library(settings, tiny_encoder)
    indexer_side.indexer.index(videos / "sub")
    indexer_side.close()
    (settings.index_dir / "frame.delta.npz").unlink()  # lost, as after a crash
    server_side = Library(settings, tiny_encoder)
    assert len(frame_index_ids(server_side)) == 4  # rebuilt from SQL
    indexer_side = Library(settings, tiny_encoder)
    indexer_side.indexer.index(videos)
    indexer_side.close()
    assert len(frame_index_ids(server_side)) == 6

