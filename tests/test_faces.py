"""Faces as a signal of their own, on real photos (tests/data/faces) and clips made from them:
the dlib engine, the stage that follows a face through a shot, the face index and the search
by a photo of a face. Every expectation is a second or a person the clips were made with."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.conftest import make_settings, video_id
from tests.face_clips import FACES, INTERVIEW, SECOND, SIZE, Shot, on_screen, photo, write_shots
from vidseek.core.errors import ModelUnavailable, QueryError
from vidseek.core.records import MODALITIES
from vidseek.indexer.faces import FaceOptions, FaceReader, FaceStage, link, overlap
from vidseek.library import Library
from vidseek.models.faces import FACE_ENGINES, FaceBox

# The photos, how many faces the detector finds in each, and whose they are (README there).
PHOTOS = {"obama.jpg": 1, "obama1.jpg": 1, "obama2.jpg": 1, "obama3.jpg": 1, "biden.jpg": 1,
          "biden2.jpg": 1, "two_people.jpg": 2, "obama_and_biden.jpg": 3}


def picture(name: str) -> np.ndarray:
    return np.array(Image.open(FACES / name).convert("RGB"))


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    return FACE_ENGINES.load(make_settings(tmp_path_factory.mktemp("faces"), index_faces=True))


@pytest.fixture(scope="module")
def face_library(tmp_path_factory, tiny_encoder):
    root = tmp_path_factory.mktemp("face-library")
    videos = root / "videos"
    videos.mkdir()
    write_shots(videos / "interview.mp4", INTERVIEW)
    write_shots(videos / "second.mp4", SECOND)
    lib = Library(make_settings(root / "data", index_faces=True), tiny_encoder)
    outcome = lib.index(videos)
    assert outcome.report.failed == []
    yield lib
    lib.close()


def spans_of(lib: Library, moments) -> set[tuple[str, float, float]]:
    names = {v.id: v.path.rsplit("/", 1)[1] for v in lib.videos()}
    return {(names[m.video_id], m.t0, m.t1) for m in moments}


# --- the engine --------------------------------------------------------------------------------

def test_the_detector_finds_every_face_of_the_photos(engine):
    assert {name: len(engine.detect(picture(name))) for name in PHOTOS} == PHOTOS


def test_one_persons_faces_are_alike_and_two_peoples_are_not(engine, tmp_path):
    similarity = make_settings(tmp_path).face_similarity
    vectors = {name: engine.describe(picture(name), engine.detect(picture(name))[:1])[0]
               for name in ("obama.jpg", "obama1.jpg", "obama2.jpg", "biden.jpg", "biden2.jpg")}
    assert all(abs(np.linalg.norm(v) - 1) < 1e-5 for v in vectors.values())
    assert vectors["obama.jpg"].shape == (engine.dim,) == (128,)
    for a in vectors:
        for b in vectors:
            same = a[:5] == b[:5]
            assert (float(vectors[a] @ vectors[b]) >= similarity) == same, (a, b)


def test_an_unknown_face_model_is_a_clear_error(tmp_path):
    with pytest.raises(ModelUnavailable, match="resnet-v1"):
        FACE_ENGINES.load(make_settings(tmp_path, face_model="dlib:arcface"))
    with pytest.raises(ModelUnavailable, match="known: dlib"):
        FACE_ENGINES.load(make_settings(tmp_path, face_model="insightface:buffalo"))


# --- following a face through a shot (pure) -----------------------------------------------------

def test_boxes_link_by_overlap_most_first():
    a, b = FaceBox(0, 0, 10, 10, 1), FaceBox(50, 0, 60, 10, 1)
    moved = FaceBox(2, 0, 12, 10, 1)
    assert overlap(a, a) == 1.0 and overlap(a, b) == 0.0
    assert link([a, b], [FaceBox(49, 0, 59, 10, 1), moved], 0.3) == {0: 1, 1: 0}
    assert link([a], [b], 0.3) == {}


def test_a_crowd_costs_no_more_than_the_cap_and_a_blur_no_error(engine):
    options = FaceOptions(frame_side=360, max_per_frame=4, similarity=0.91)
    face = np.asarray(photo("obama.jpg").crop((240, 80, 470, 310)).resize((80, 80)))
    crowd = np.full((360, 640, 3), 90, np.uint8)
    for row in range(4):
        for column in range(8):  # 32 faces
            crowd[row * 90:row * 90 + 80, column * 80:column * 80 + 80] = face
    blurred = np.asarray(Image.fromarray(crowd).resize((32, 18)).resize((640, 360)))
    reader = FaceReader(engine, options)
    reader.add(np.stack([crowd, blurred, np.zeros_like(crowd)]))
    tracks = reader.tracks()
    assert 1 <= len(tracks) <= options.max_per_frame
    segments = FaceStage(engine, options).segments(reader, [(0, 1), (1, 2), (2, 3)])
    assert len(segments) == len(tracks) and all(s.modality == "face" for s in segments)


# --- the stage on clips, and the face index ---------------------------------------------------

def test_each_face_on_screen_is_one_segment_with_its_span_box_and_crop(face_library):
    lib = face_library
    faces = lib.store.video_segments(video_id(lib, "interview.mp4"), "face")
    on = sorted(span for who in ("obama", "biden", "stranger") for span in on_screen(INTERVIEW, who))
    assert [(s.t0, s.t1) for s in faces] == on  # none in the empty stretches (0-3 s, 10-12 s)
    tracks = lib.video_faces(video_id(lib, "interview.mp4"))
    assert [t.segment_id for t in tracks] == [s.id for s in faces]
    for t in tracks:
        x0, y0, x1, y1 = t.box
        assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
        crop = lib.thumbnail(t.segment_id)
        assert crop[:2] == b"\xff\xd8"  # a JPEG
    assert lib.model_state()["face_model"] == "dlib:resnet-v1"
    assert lib.model_state()["face_dim"] == "128" and lib.model_state()["dim"] != "128"


def test_a_photo_of_a_face_finds_exactly_the_moments_that_person_is_on_screen(face_library):
    lib = face_library
    options = lib.search_options()
    # two_people.jpg: the largest face, the one searched with, is Biden's.
    for query, who in (("obama2.jpg", "obama"), ("two_people.jpg", "biden")):
        found = lib.search_face(picture(query), options)
        expected = {("interview.mp4", t0, t1) for t0, t1 in on_screen(INTERVIEW, who)} | {
            ("second.mp4", t0, t1) for t0, t1 in on_screen(SECOND, who)}
        assert spans_of(lib, found) == expected, query
        assert all(m.matched_by == ("face",) for m in found)


def test_a_photo_without_a_face_is_a_clear_error(face_library):
    with pytest.raises(QueryError, match="no face"):
        face_library.search_face(np.full((200, 300, 3), 128, np.uint8), face_library.search_options())


def test_text_and_image_queries_never_search_the_face_space(face_library):
    lib = face_library
    assert lib.store.vector_count("face") == 6
    searched = lib.engine.text_sources("a man in a suit", lib.search_options()).hits
    assert "frame" in searched and set(searched) <= {*MODALITIES, "keyword"}
    searched = lib.engine.image_sources(picture("obama2.jpg"), lib.search_options()).hits
    assert "frame" in searched and set(searched) <= set(MODALITIES)
    with pytest.raises(QueryError):
        lib.search_options(modalities=("face",))


def test_faces_off_means_no_face_stage(tmp_path, tiny_encoder):
    from vidseek.indexer.analysis import stages_for

    assert not any(isinstance(s, FaceStage) for s in stages_for(
        make_settings(tmp_path, index_faces=False), tiny_encoder).frames)
    assert SIZE == (640, 360)


def test_vidseek_models_reports_the_face_model(tmp_path):
    from vidseek.indexer.models_report import model_report

    rows = {r.role: r for r in model_report(make_settings(tmp_path, index_faces=True))}
    assert rows["faces"].installed and rows["faces"].spec == "dlib:resnet-v1"
    assert "faces" not in {r.role for r in model_report(make_settings(tmp_path))}


def test_rebuilt_indexes_keep_the_face_space_apart(face_library):
    lib = face_library
    sizes = lib.rebuild_indexes()
    assert sizes["face"] == 6 and lib.store.index("face").dim == 128
    assert lib.store.index("frame").dim == int(lib.model_state()["dim"])
    found = lib.search_face(picture("obama2.jpg"), lib.search_options())
    assert {(t0, t1) for _, t0, t1 in spans_of(lib, found)} == {(3.0, 7.0), (12.0, 15.0), (4.0, 7.0)}


def test_frames_first_adds_the_faces_in_the_later_pass(tmp_path, tiny_encoder):
    videos = tmp_path / "videos"
    videos.mkdir()
    write_shots(videos / "second.mp4", SECOND)
    lib = Library(make_settings(tmp_path / "data", index_faces=True), tiny_encoder)
    passes = lib.frames_first
    passes.index_frames([videos / "second.mp4"])
    assert lib.store.segment_count("face") == 0 and "face_dim" not in lib.model_state()
    assert [passes.add_signals(v) for v in lib.store.awaiting_analysis()] == [None]
    assert lib.model_state()["face_dim"] == "128"
    found = lib.search_face(picture("obama2.jpg"), lib.search_options())
    assert {(m.t0, m.t1) for m in found} == set(on_screen(SECOND, "obama"))
    lib.close()


def test_a_cut_to_someone_else_in_the_same_place_ends_the_track(engine, tmp_path):
    from tests.face_clips import shot_frame

    options = FaceOptions.from_settings(make_settings(tmp_path))
    obama, biden = Shot(2, "obama-group", height=200), Shot(2, "biden-group", height=200)
    frames = [shot_frame(obama, 0, 2), shot_frame(obama, 1, 2), shot_frame(biden, 0, 2),
              shot_frame(biden, 1, 2)]
    assert overlap(*(engine.detect(frames[i])[0] for i in (1, 2))) >= options.overlap
    reader = FaceReader(engine, options)
    reader.add(np.stack(frames))
    assert [(t.first, t.last) for t in reader.tracks()] == [(0, 1), (2, 3)]


class CountingEngine:
    """The real engine, noting each detection's `small` and how many faces it describes."""

    def __init__(self, engine):
        self.engine, self.spec, self.dim = engine, engine.spec, engine.dim
        self.large_face = engine.large_face
        self.detections: list[bool] = []
        self.described = 0

    def detect(self, picture, small=True):
        self.detections.append(small)
        return self.engine.detect(picture, small)

    def describe(self, picture, boxes):
        self.described += len(boxes)
        return self.engine.describe(picture, boxes)


def test_the_quick_pass_finds_large_faces_only(engine):
    large = picture("obama.jpg")
    small = np.asarray(Image.fromarray(large).resize((large.shape[1] // 4, large.shape[0] // 4)))
    (face,) = engine.detect(large, small=False)
    assert min(face.x1 - face.x0, face.y1 - face.y0) >= engine.large_face
    assert engine.detect(small, small=False) == [] and len(engine.detect(small)) == 1


def test_large_faces_are_followed_by_the_quick_pass_until_one_shrinks(engine, tmp_path):
    from tests.face_clips import shot_frame

    options = FaceOptions.from_settings(make_settings(tmp_path))
    pan = Shot(3, "obama-group", height=300, pan=80)  # a face of ~150 px moving
    shrink = Shot(3, "biden-group", height=300, zoom=0.3)  # ~130 px down to ~40
    counting = CountingEngine(engine)
    reader = FaceReader(counting, options)
    reader.add(np.stack([shot_frame(pan, i, 5) for i in range(5)]))
    assert counting.detections == [True, False, False, False, False]
    assert [(t.first, t.last) for t in reader.tracks()] == [(0, 4)]
    reader.add(np.stack([shot_frame(shrink, i, 5) for i in range(5)]))
    assert counting.detections[-1]  # the face is small again: the full pass finds it
    assert {i for t in reader.tracks()[1:] for i in range(t.first, t.last + 1)} == set(range(5, 10))


def test_a_description_made_to_check_a_link_is_the_tracks_own(engine, tmp_path):
    from tests.face_clips import shot_frame

    options = FaceOptions.from_settings(make_settings(tmp_path))
    zoom = Shot(3, "obama-group", height=140, zoom=1.3)  # steps doubtful to the patches
    counting = CountingEngine(engine)
    reader = FaceReader(counting, options)
    reader.add(np.stack([shot_frame(zoom, i, 5) for i in range(5)]))
    checked = counting.described
    assert checked >= 2 and [(t.first, t.last) for t in reader.tracks()] == [(0, 4)]
    FaceStage(counting, options).segments(reader, [(i, i + 1) for i in range(5)])
    assert counting.described == checked  # the largest face was described by the last check
