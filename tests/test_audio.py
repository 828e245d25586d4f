"""What is heard: audio windows described by the real Whisper base encoder, mapped into the
joint space by a projection learned on a generated library where each sound co-occurs with
one colour (tone↔red, chirp↔blue, noise↔green, speech↔white)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import INDEX_BUDGET, TINY_MODEL, make_settings
from tests.media import (
    BLACK,
    BLUE,
    GREEN,
    RED,
    WHITE,
    Scene,
    chirp,
    noise,
    place,
    silence,
    speech,
    tone,
    write_video,
)
from vidseek.cli import main
from vidseek.core.records import AudioFeatures, Fingerprint, MediaInfo
from vidseek.indexer.audio import AudioWindowOptions, audio_windows, pool_windows, window_rms
from vidseek.indexer.audio_projection import (
    AudioProjection,
    TrainingOptions,
    collect_pairs,
    current_record,
    fit_projection,
    retrieval_recall,
    split_videos,
    train_audio_projection,
    window_targets,
)
from vidseek.library import Library
from vidseek.search.storage.store import Store

SCENE_S = 4.0
SOUNDS = {  # colour of the scene -> what is heard meanwhile
    RED: lambda: tone(440, SCENE_S),
    BLUE: lambda: chirp(300, 3000, SCENE_S),
    GREEN: lambda: noise(SCENE_S, volume=0.2, seed=1),
    WHITE: lambda: speech("the meeting starts at nine"),
}
ORDERS = [  # six videos, every colour in several positions
    (RED, BLUE, GREEN, WHITE), (BLUE, GREEN, WHITE, RED), (GREEN, WHITE, RED, BLUE),
    (WHITE, RED, BLUE, GREEN), (RED, GREEN, BLUE, WHITE), (BLUE, RED, WHITE, GREEN),
]


def soundtrack(colours) -> np.ndarray:
    return place(SCENE_S * len(colours), [(i * SCENE_S, SOUNDS[c]()) for i, c in enumerate(colours)])


def write_scenes(path, colours):
    return write_video(path, [Scene(SCENE_S, c) for c in colours], audio=soundtrack(colours))


def colour_on_screen(lib: Library, video_id: int, hit) -> tuple[int, int, int]:
    """What a generated video showed in the middle of a hit (BLACK for the dark test video)."""
    name = Path(lib.store.video(video_id).path).stem
    if not name.startswith("scenes"):
        return BLACK
    return ORDERS[int(name.removeprefix("scenes"))][int((hit.t0 + hit.t1) / 2 // SCENE_S)]


def solid(rgb) -> np.ndarray:
    img = np.empty((96, 160, 3), np.uint8)
    img[:] = rgb
    return img


# --- pure pieces ----------------------------------------------------------------------------

def test_windows_overlap_and_the_last_one_ends_with_the_track(settings):
    configured = AudioWindowOptions.from_settings(settings)  # 3 s windows, 1.5 s apart
    assert audio_windows(10.0, configured) == [(0.0, 3.0), (1.5, 4.5), (3.0, 6.0), (4.5, 7.5),
                                               (6.0, 9.0), (7.0, 10.0)]
    assert audio_windows(9.0, configured) == [(0.0, 3.0), (1.5, 4.5), (3.0, 6.0), (4.5, 7.5),
                                              (6.0, 9.0)]
    assert audio_windows(2.0, configured) == [(0.0, 2.0)]
    assert audio_windows(0.3, configured) == []
    assert audio_windows(5.0, AudioWindowOptions(window=2.0, hop=2.0)) == [
        (0.0, 2.0), (2.0, 4.0), (3.0, 5.0)]
    with pytest.raises(ValueError, match="hop"):
        AudioWindowOptions(window=2.0, hop=3.0)


def test_pooling_averages_the_20ms_encoder_frames_inside_each_window():
    frames = np.arange(500, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)  # 10 s
    pooled = pool_windows(frames, [(0.0, 0.1), (1.0, 3.0), (9.9, 10.0)])
    assert pooled[:, 0].tolist() == [2.0, 99.5, 497.0]


def test_loudness_tells_sound_from_silence():
    track = np.concatenate([tone(440, 2.0, volume=0.3), silence(2.0)])
    loud, quiet = window_rms(track, [(0.0, 2.0), (2.0, 4.0)])
    assert loud == pytest.approx(0.3 / np.sqrt(2), rel=1e-3)
    assert quiet == 0.0


def test_each_window_is_paired_with_the_frames_it_overlaps_weighted_by_time():
    e = np.eye(3, dtype=np.float32)
    frame_t0, frame_t1 = np.array([0.0, 3.0, 6.0]), np.array([3.0, 6.0, 7.0])
    windows_t0, windows_t1 = np.array([0.0, 1.5, 5.0, 8.0]), np.array([3.0, 4.5, 8.0, 11.0])
    paired, targets = window_targets(windows_t0, windows_t1, frame_t0, frame_t1, e)
    assert paired.tolist() == [0, 1, 2]  # the window after the last frame has nothing to learn
    np.testing.assert_allclose(targets[0], [1, 0, 0])
    np.testing.assert_allclose(targets[1], np.array([1, 1, 0]) / np.sqrt(2), atol=1e-6)
    np.testing.assert_allclose(targets[2], np.array([0, 1, 1]) / np.sqrt(2), atol=1e-6)


def test_whole_videos_are_held_out_reproducibly():
    video_ids = np.repeat(np.arange(10), 5)
    held = split_videos(video_ids, 0.2, seed=3)
    assert len(np.unique(video_ids[held])) == 2
    assert not set(video_ids[held]) & set(video_ids[~held])
    assert (split_videos(video_ids, 0.2, seed=3) == held).all()
    assert split_videos(np.array([1, 1, 2]), 0.9, seed=0).sum() == 1  # one video always trains
    with pytest.raises(ValueError, match="at least 2 videos"):
        split_videos(np.array([7, 7, 7]), 0.2, seed=0)


def test_recall_counts_identical_pictures_as_one_answer_and_reports_chance():
    pictures = np.eye(4, dtype=np.float32)
    targets = pictures[[0, 0, 1, 2, 3]]  # two windows of one static shot
    perfect = retrieval_recall(targets, targets, ks=(1, 5))
    assert perfect[1][0] == 1.0 and perfect[5] == (1.0, 1.0)
    assert perfect[1][1] == pytest.approx((2 / 5 * 2 + 1 / 5 * 3) / 5)
    wrong = retrieval_recall(pictures[[1, 1, 2, 3, 0]], targets, ks=(1,))
    assert wrong[1][0] == 0.0


def test_store_keeps_audio_features_with_the_video_and_drops_them_on_failure(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'lib.db'}", tmp_path / "faiss", INDEX_BUDGET)
    store.bind_model("clip_model", TINY_MODEL, 4)
    info = MediaInfo(duration=6.0, fps=10, width=160, height=96, has_audio=True)
    fp = Fingerprint(1, 1, "h")
    features = AudioFeatures(np.array([0.0, 1.5]), np.array([3.0, 4.5]),
                             np.arange(6, dtype=np.float32).reshape(2, 3))
    store.save_video("/v.mp4", fp, info, [], features)
    [(video_id, stored)] = list(store.audio_features())
    np.testing.assert_array_equal(stored.features, features.features)
    assert stored.t1.tolist() == [3.0, 4.5] and store.audio_feature_count() == 2
    store.save_video("/v.mp4", fp, info, [], AudioFeatures.empty())  # re-indexed: replaced
    assert store.audio_feature_count() == 0
    store.save_video("/v.mp4", fp, info, [], features)
    store.save_failure("/v.mp4", fp, "truncated")
    assert list(store.audio_features()) == []


# --- a trained library ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained(tmp_path_factory, whisper_base, tiny_encoder):
    """A library indexed and trained through the CLI (`vidseek index` trains by itself)."""
    root = tmp_path_factory.mktemp("audio-lib")
    videos = root / "videos"
    videos.mkdir()
    for i, colours in enumerate(ORDERS):
        write_scenes(videos / f"scenes{i}.mp4", colours)
    # Every hit counted (evidence_z 0): each sound is a quarter of this library's windows, so
    # a sound's query has noise as wide as the gaps between sounds (a tone's windows stand 2.4
    # spreads out, under the gate's 3); these tests check where the projection puts sounds.
    settings = make_settings(root / "data", index_audio=True, whisper_model=whisper_base,
                             audio_min_pairs=20, evidence_z=0.0)
    env = {"VIDSEEK_DATA_DIR": str(settings.data_dir), "VIDSEEK_CLIP_MODEL": TINY_MODEL,
           "VIDSEEK_ALLOW_DOWNLOAD": "false", "VIDSEEK_TRANSCRIBE": "false",
           "VIDSEEK_THREADS": "2", "VIDSEEK_WHISPER_MODEL": whisper_base,
           "VIDSEEK_AUDIO_MIN_PAIRS": "20"}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        assert main(["index", str(videos)]) == 0
    lib = Library(settings, tiny_encoder)
    yield lib, root, env
    lib.close()


def run_cli(env, capsys, *args) -> str:
    capsys.readouterr()
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        assert main(list(args)) == 0
    return capsys.readouterr().out


@pytest.mark.slow  # real Whisper (its encoder hears the sound)
def test_indexing_trains_a_projection_that_beats_chance_on_held_out_videos(trained, capsys):
    lib, _, env = trained
    record = current_record(lib.store.state())
    assert record is not None and record.version == 1
    assert record.heldout_videos == 1 and record.videos == len(ORDERS) - 1
    # Windows across a cut pair with a blend of two shots, so not every window is exact.
    assert record.recall_at_1 >= max(0.4, 3 * record.chance_at_1)
    assert record.recall_at_5 > record.chance_at_5
    # Every stored window became an audio segment in the joint space, and is searchable.
    assert lib.store.segment_count("audio") == lib.store.audio_feature_count() > 0
    assert sorted(lib.store.index("audio").ids()) == sorted(lib.store.segment_ids("audio"))

    status = run_cli(env, capsys, "status")
    assert f"audio projection: v1, trained on {record.pairs} pairs" in status
    assert f"recall@1 {record.recall_at_1:.2f}" in status
    models = run_cli(env, capsys, "models")
    assert "audio→clip" in models and "audio-projection:v1" in models


@pytest.mark.slow  # real Whisper (its encoder hears the sound)
def test_a_sound_alone_finds_the_scenes_it_was_heard_with(trained, tmp_path):
    lib, _, _ = trained
    # The tone over black frames: only the sound can point at the red scenes.
    clip = write_video(tmp_path / "tone.mp4", [Scene(SCENE_S, BLACK)],
                       audio=tone(440, SCENE_S))
    segments = lib.indexer.analyze(clip).segments
    heard = np.stack([s.vector for s in segments if s.modality == "audio"])
    assert len(heard) >= 2

    options = lib.search_options(k=8, modalities=("audio",))
    moments = lib.engine.search_vectors({"audio": heard}, options)
    assert moments and all("audio" in m.matched_by for m in moments)
    assert [colour_on_screen(lib, m.video_id, m.best) for m in moments][:3] == [RED] * 3

    # Video to video: the clip aligns with red scenes of the library by its sound alone.
    alignments = lib.similar_to_clip(clip, lib.search_options(k=8, modalities=("audio",)))
    assert "audio" in alignments[0].moment.matched_by
    assert colour_on_screen(lib, alignments[0].moment.video_id, alignments[0].moment.best) == RED

    # Same space as the frames: the sound's vectors also land on red frames.
    frames = lib.engine.search_vectors({"frame": heard}, lib.search_options(k=3,
                                                                            modalities=("frame",)))
    red = lib.store.vectors(np.array([frames[0].best.segment_id]))[0]
    assert red @ lib.encoder.embed_images(solid(RED)[None])[0] > 0.99


@pytest.mark.slow  # real Whisper (its encoder hears the sound)
def test_a_red_picture_finds_a_black_video_by_its_tone(trained, tmp_path):
    lib, _, _ = trained
    # Indexed after training: the projection applies as it is indexed. Tone, then silence.
    path = write_video(tmp_path / "dark_tone.mp4", [Scene(8.0, BLACK)],
                       audio=place(8.0, [(0.0, tone(440, 4.0))]))
    report = lib.indexer.index_files([path])
    try:
        assert report.indexed == [str(path)]
        dark = lib.store.video_by_path(str(path))
        [(_, features)] = [(v, f) for v, f in lib.store.audio_features() if v == dark.id]
        assert features.t0.max() < 4.0  # silent windows are not indexed

        red = lib.encoder.embed_images(solid(RED)[None])
        heard = lib.engine.search_vectors({"audio": red}, lib.search_options(k=10,
                                                                             modalities=("audio",)))
        dark_moments = [m for m in heard if m.video_id == dark.id]
        assert dark_moments, "the black video was not found by its sound"
        assert dark_moments[0].t0 < 4.0

        fused = lib.engine.search_vectors({"frame": red, "audio": red}, lib.search_options(k=20))
        [best_dark] = [m for m in fused if m.video_id == dark.id][:1]
        assert "audio" in best_dark.matched_by
        assert any(h.modality == "audio" and h.t0 < 4.0 for h in best_dark.hits)
    finally:  # leave the shared library as the other tests expect it
        lib.store.remove_videos([str(path)])


@pytest.mark.slow  # real Whisper (its encoder hears the sound)
def test_retraining_rewrites_audio_segments_from_stored_features_only(trained):
    lib, root, _ = trained
    before = current_record(lib.store.state())
    old_ids = lib.store.segment_ids("audio")
    moved = root / "videos-away"
    (root / "videos").rename(moved)  # no video can be decoded while it retrains
    try:
        record = train_audio_projection(lib.store, lib.settings.model_dir,
                                        TrainingOptions(epochs=20, seed=1))
    finally:
        moved.rename(root / "videos")
    assert record.version == before.version + 1
    assert not (lib.settings.model_dir / before.file).exists()
    projection = AudioProjection.load(lib.settings.model_dir / record.file)
    new_ids = lib.store.segment_ids("audio")
    index = lib.store.index("audio")
    assert sorted(index.ids()) == sorted(new_ids)
    assert new_ids.min() > old_ids.max()  # an old id never comes back as another segment
    np.testing.assert_array_equal(index.stored_vectors(new_ids),
                                  lib.store.vectors(new_ids))
    # The stored audio vectors are exactly the new projection of the stored features.
    video_id, features = list(lib.store.audio_features())[0]
    ids = [s.id for s in lib.store.video_segments(video_id, "audio")]
    np.testing.assert_allclose(lib.store.vectors(np.array(ids)),
                               projection.project(features.features), atol=2e-3)


@pytest.mark.slow  # real Whisper (its encoder hears the sound)
def test_training_is_deterministic_with_a_fixed_seed(trained):
    lib, _, _ = trained
    pairs = collect_pairs(lib.store)
    options = TrainingOptions(epochs=5, seed=7)
    first, second = fit_projection(pairs, options), fit_projection(pairs, options)
    for (name, a), (_, b) in zip(first.net.state_dict().items(),
                                 second.net.state_dict().items(), strict=True):
        assert torch_equal(a, b), name
    other = fit_projection(pairs, TrainingOptions(epochs=5, seed=8))
    assert not torch_equal(first.net.state_dict()["0.weight"], other.net.state_dict()["0.weight"])


def torch_equal(a, b) -> bool:
    return bool((a == b).all())


@pytest.mark.slow  # real Whisper (its encoder hears the sound)
def test_without_enough_sound_the_library_says_how_to_train(tmp_path, whisper_base, capsys, tiny_encoder):
    settings = make_settings(tmp_path / "data", index_audio=True, whisper_model=whisper_base)
    lib = Library(settings, tiny_encoder)
    path = write_scenes(tmp_path / "one.mp4", (RED, BLUE))
    lib.indexer.index_files([path])
    assert lib.store.audio_feature_count() > 0 and lib.store.segment_count("audio") == 0
    with pytest.raises(ValueError, match="at least 2 videos"):
        train_audio_projection(lib.store, settings.model_dir)
    lib.close()
