"""Labels: zero-shot and learned, on moments and videos, from stored vectors only. Mechanics
are tested with vectors of known geometry: the palette encoder (tests/palette_encoder.py) on
real generated clips, and constructed vectors written through the store."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import make_settings
from tests.media import BLUE, GREEN, RED, Scene, write_video
from tests.palette_encoder import DIM, PALETTE, SPEC, register
from vidseek.core.errors import LabelError, UnknownLabel
from vidseek.core.records import Fingerprint, MediaInfo, Segment
from vidseek.library import Library
from vidseek.search.labels.labeling import LabelSpans
from vidseek.search.labels.scoring import (
    Classifiers,
    LearningOptions,
    assign_labels,
    frame_moments,
    learn_label,
    roc_auc,
    unit,
    zero_shot_classifier,
)

YELLOW = PALETTE["yellows"][1]
VOCABULARY = """
version = 1
templates = ["a photo of {{}}.", "a video frame of {{}}.", "{{}}"]
nothing = ["a photo.", "a picture.", "a video frame."]
[labels]
colours = [{names}]
"""


def write_vocabulary(path, *names):
    path.write_text(VOCABULARY.format(names=", ".join(f'"{n}"' for n in names)))
    return path


# --- pure functions -----------------------------------------------------------------------

def axis(i, dim=8):
    v = np.zeros(dim, np.float32)
    v[i] = 1
    return v


def test_frames_group_into_shots_at_picture_changes():
    vectors = np.stack([axis(0), axis(0), unit(axis(0) + 0.1 * axis(3)), axis(1), axis(1),
                        axis(1)])
    video_ids = np.array([1, 1, 1, 1, 1, 2])  # the last frame is another video's
    t = np.arange(6, dtype=float)
    shots = frame_moments(video_ids, t, t + 1, np.arange(10, 16), vectors, 0.85)
    assert shots.video_ids.tolist() == [1, 1, 2]
    assert shots.t0.tolist() == [0, 3, 5] and shots.t1.tolist() == [3, 5, 6]
    np.testing.assert_allclose(shots.vectors[1], axis(1), atol=1e-6)
    assert shots.segment_ids[0] in (10, 11)  # a frame closest to the shot's mean


def test_zero_shot_labels_fit_only_what_is_close_and_none_otherwise():
    dim = 8
    picture = axis(7, dim)
    label_prompts = [np.stack([unit(0.3 * axis(i, dim) + 0.95 * picture + 0.02 * axis(5 + j, dim))
                               for j in range(2)]) for i in range(3)]
    nothing = np.stack([picture, unit(picture + 0.05 * axis(5, dim))])
    w, b = zip(*(zero_shot_classifier(p, nothing, 0.03) for p in label_prompts))
    classifiers = Classifiers(np.array([10, 11, 12]), np.stack(w), np.array(b, np.float32))
    moments = np.stack([axis(0, dim), axis(2, dim), axis(4, dim),
                        unit(axis(0, dim) + axis(1, dim))])
    found = assign_labels(moments, classifiers, max_per_moment=3)
    got = {(int(m), int(classifiers.label_ids[label]))
           for m, label in zip(found.moments, found.labels)}
    # Moment 2 is close to no label: it gets none, not the least bad one.
    assert got == {(0, 10), (1, 12), (3, 10), (3, 11)}
    assert (found.confidence >= 0.5).all() and (found.confidence <= 1).all()
    top = assign_labels(moments, classifiers, max_per_moment=1)
    assert sorted(top.moments.tolist()) == [0, 1, 3]


def test_roc_auc_counts_pairs_and_ties():
    assert roc_auc(np.array([3, 2, 1, 0]), np.array([1, 1, 0, 0], bool)) == 1.0
    assert roc_auc(np.array([0, 1, 2, 3]), np.array([1, 1, 0, 0], bool)) == 0.0
    assert roc_auc(np.array([1, 1, 1, 1]), np.array([1, 0, 1, 0], bool)) == 0.5


def clustered(rng, centre, n, spread):
    return unit(centre + spread * rng.standard_normal((n, len(centre))).astype(np.float32))


def test_a_learned_label_beats_chance_on_held_out_examples():
    rng = np.random.default_rng(0)
    dim = 32
    centre = unit(rng.standard_normal(dim))
    # Six examples of 4 frames each near one direction, the rest of the library anywhere.
    positives = np.concatenate([clustered(rng, centre, 4, 0.15) for _ in range(6)])
    example_of = np.repeat(np.arange(6), 4)
    negatives = unit(rng.standard_normal((500, dim)))
    w, b, report = learn_label(positives, example_of, negatives, LearningOptions())
    assert report.examples == 6 and report.positives == 24 and report.negatives == 500
    assert report.heldout_auc > 0.95 and report.heldout_accuracy > 0.9  # chance: 0.5
    unseen = clustered(rng, centre, 50, 0.15)
    assert ((unseen @ w + b) > 0).mean() > 0.9
    assert ((unit(rng.standard_normal((200, dim))) @ w + b) > 0).mean() < 0.1
    # Same seed, same classifier.
    w2, b2, _ = learn_label(positives, example_of, negatives, LearningOptions())
    np.testing.assert_array_equal(w, w2)


def test_a_label_nothing_tells_apart_stays_at_chance():
    rng = np.random.default_rng(1)
    frames = unit(rng.standard_normal((320, 32)))
    _, _, report = learn_label(frames[:20], np.repeat(np.arange(5), 4), frames[20:])
    assert 0.3 < report.heldout_auc < 0.7


def test_label_spans_keep_overlapping_moments():
    spans = LabelSpans.of([(1, 10.0, 12.0), (1, 2.0, 4.0), (2, 0.0, 1.0)])
    assert spans.overlaps(1, 3.5, 5) and spans.overlaps(1, 11, 11.5) and spans.overlaps(2, 0, 9)
    assert not spans.overlaps(1, 4, 10) and not spans.overlaps(3, 0, 100)


# --- a library indexed with the palette encoder -------------------------------------------

@pytest.fixture
def palette_library(tmp_path):
    encoder = register()
    root = tmp_path / "videos"
    root.mkdir()
    write_video(root / "a.mp4", [Scene(3, RED), Scene(3, YELLOW), Scene(3, GREEN)])
    write_video(root / "b.mp4", [Scene(3, BLUE), Scene(3, RED)])
    vocabulary = write_vocabulary(tmp_path / "vocabulary.toml", "reds", "greens", "beach")
    # Every hit counted (evidence_z 0): the label filter is seen on moments a query does not
    # match (min_score -1), which the evidence gate would leave out.
    lib = Library(make_settings(tmp_path / "data", clip_model=SPEC, evidence_z=0.0,
                                label_vocabulary=str(vocabulary), chapter_min_seconds=1.0))
    lib.indexer.index(root)
    yield lib, root, vocabulary, encoder
    lib.close()


def labelled(lib, path):
    video = lib.store.video_by_path(str(path))
    rows = lib.labels.db.moment_labels([video.id])
    return sorted((round(t0), round(t1), name) for _, t0, t1, name, _ in rows)


def test_the_right_labels_on_the_right_moments(palette_library):
    lib, root, _, _ = palette_library
    report = lib.labels.update()
    assert report.videos == 2
    # Red 0-3 s and green 6-9 s; the yellow shot between them matches no label.
    assert labelled(lib, root / "a.mp4") == [(0, 3, "reds"), (6, 9, "greens")]
    assert labelled(lib, root / "b.mp4") == [(3, 6, "reds")]
    a = lib.store.video_by_path(str(root / "a.mp4")).id
    assert [(name, round(seconds)) for name, _, seconds in lib.labels.video_labels(a)] == [
        ("greens", 3), ("reds", 3)]
    counts = {s.name: (s.counts.moments, s.counts.videos) for s in lib.labels.summaries()}
    assert counts == {"reds": (2, 2), "greens": (1, 1), "beach": (0, 0)}
    # Nothing stale: a second update recomputes nothing.
    assert lib.labels.update() == type(report)(0, 0, 0)


def test_transcript_chunks_carry_labels_too(palette_library):
    from vidseek.indexer.discover import examine

    lib, root, _, encoder = palette_library
    path = root / "b.mp4"
    analyzed = lib.indexer.analyze(path)
    info, segments = analyzed.info, analyzed.segments
    said = [Segment("speech", 0.5, 2.5, encoder.embed_texts(["we painted the fence in greens"])[0],
                    text="we painted the fence in greens", language="en"),
            Segment("speech", 3.5, 5.0, encoder.embed_texts(["and then we had lunch"])[0],
                    text="and then we had lunch", language="en")]
    lib.store.save_video(str(path), examine(path).fingerprint, info, segments + said)
    lib.labels.update()
    video_id = lib.store.video_by_path(str(path)).id
    rows = lib.labels.db.moment_labels([video_id])
    spoken = sorted((t0, t1, name) for _, t0, t1, name, _ in rows if (t0, t1) in {(0.5, 2.5),
                                                                                (3.5, 5.0)})
    # Blue is on screen there, but "greens" is said; lunch names no label.
    assert spoken == [(0.5, 2.5, "greens")]


def test_a_vocabulary_change_relabels_from_stored_vectors_without_decoding(palette_library,
                                                                           tmp_path):
    lib, root, vocabulary, encoder = palette_library
    lib.labels.update()
    frames_seen = encoder.images_embedded
    for video in root.iterdir():
        video.unlink()  # nothing left to decode: only the stored vectors remain
    write_vocabulary(vocabulary, "reds", "blues", "yellows")
    relabel = Library(lib.settings)
    report = relabel.labels.update()
    assert report.videos == 0 and report.labels >= 2
    assert labelled(relabel, root / "a.mp4") == [(0, 3, "reds"), (3, 6, "yellows")]
    assert labelled(relabel, root / "b.mp4") == [(0, 3, "blues"), (3, 6, "reds")]
    assert {s.name for s in relabel.labels.summaries()} == {"reds", "blues", "yellows"}
    assert encoder.images_embedded == frames_seen
    relabel.close()


def test_user_labels_are_added_and_removed(palette_library):
    lib, root, _, _ = palette_library
    lib.labels.update()
    assert lib.labels.add(["  blues ", "blues", "reds"]) == ["blues"]  # reds is already there
    report = lib.labels.update()
    assert report.videos == 0 and report.labels == 1  # only the new label is applied
    assert (0, 3, "blues") in labelled(lib, root / "b.mp4")
    lib.labels.remove("blues")
    assert "blues" not in {name for *_, name in labelled(lib, root / "b.mp4")}
    with pytest.raises(UnknownLabel):
        lib.labels.remove("blues")
    with pytest.raises(LabelError):
        lib.labels.add(["   "])


def test_a_video_that_fails_when_indexed_again_loses_its_labels(palette_library):
    lib, root, _, _ = palette_library
    lib.labels.update()
    (root / "b.mp4").write_bytes(b"not a video any more " * 50)
    lib.indexer.index(root)
    assert lib.store.video_by_path(str(root / "b.mp4")).status == "failed"
    lib.labels.update()
    assert labelled(lib, root / "b.mp4") == []
    b = lib.store.video_by_path(str(root / "b.mp4")).id
    assert lib.labels.chapters(b) == [] and lib.labels.video_labels(b) == []
    assert labelled(lib, root / "a.mp4") == [(0, 3, "reds"), (6, 9, "greens")]


def test_search_with_a_label_keeps_only_moments_that_carry_it(palette_library):
    lib, root, _, _ = palette_library
    lib.labels.update()
    options = lib.search_options(k=10, min_score=-1.0)
    everything = lib.search_text("reds", options)
    assert {round(m.t0) for m in everything} >= {0, 3, 6}
    greens = lib.search_text("reds", options, label="greens")
    a = lib.store.video_by_path(str(root / "a.mp4")).id
    assert greens and all(m.video_id == a and m.t0 >= 6 - 0.5 for m in greens)
    with pytest.raises(UnknownLabel):
        lib.search_text("reds", options, label="no such label")


# --- learned labels on constructed vectors written through the store -----------------------

def constructed_library(tmp_path, rng, videos=12, shots_per_video=10):
    """Videos of 2-second shots: shot 3 of every video near one direction ("our dog"), the
    others anywhere; each shot two frames a little apart."""
    register()
    dim = DIM
    vocabulary = write_vocabulary(tmp_path / "vocabulary.toml", "reds")
    lib = Library(make_settings(tmp_path / "data", clip_model=SPEC, shot_similarity=0.8,
                                label_vocabulary=str(vocabulary)))
    lib.store.bind_model("clip_model", SPEC, dim)
    dog = unit(rng.standard_normal(dim))
    info = MediaInfo(duration=2.0 * shots_per_video, fps=25, width=64, height=64,
                     has_audio=False)
    for v in range(videos):
        segments = []
        for s in range(shots_per_video):
            centre = dog if s == 3 else unit(rng.standard_normal(dim))
            for f in range(2):
                vec = unit(centre + 0.05 * rng.standard_normal(dim))
                segments.append(Segment("frame", 2.0 * s + f, 2.0 * s + f + 1, vec))
        lib.store.save_video(f"/constructed/{v}.mp4", Fingerprint(1, 1, f"{v:040x}"), info,
                             segments)
    return lib


def test_learned_label_from_a_few_examples_labels_the_whole_library(tmp_path):
    lib = constructed_library(tmp_path, np.random.default_rng(3))
    ids = [v.id for v in lib.store.videos()]
    for v in ids[:3]:
        report = lib.labels.add_example("our dog", v, 6.0, 8.0)
    assert report.examples == 3 and report.heldout_auc > 0.9  # chance 0.5
    lib.labels.update()
    spans = lib.labels.spans("our dog")
    # Every video's dog shot, including the nine nobody marked, and nothing else.
    for v in ids:
        assert spans.overlaps(v, 6.0, 8.0)
        assert not spans.overlaps(v, 0.0, 5.5) and not spans.overlaps(v, 8.5, 20.0)
    # Another example retrains (and relabels only that label).
    report = lib.labels.add_example("our dog", ids[5], 6.0, 8.0)
    assert report.examples == 4
    assert lib.labels.update().labels == 1
    (summary,) = [s for s in lib.labels.summaries() if s.name == "our dog"]
    assert summary.kind == "learned" and summary.counts.videos == len(ids)
    assert summary.counts.examples == 4
    with pytest.raises(LabelError):
        lib.labels.add_example("our dog", ids[0], 5.0, 5.0)
    with pytest.raises(UnknownLabel):
        lib.labels.add_example("our dog", 999, 0.0, 1.0)
    lib.labels.remove("our dog")
    assert [s.name for s in lib.labels.summaries()] == ["reds"]
    assert "our dog" not in {name for *_, name, _ in lib.labels.db.moment_labels(ids)}
    lib.close()


# --- the command line ---------------------------------------------------------------------

@pytest.fixture
def cli(tmp_path, monkeypatch, capsys):
    from vidseek.cli import main

    register()
    root = tmp_path / "videos"
    root.mkdir()
    write_video(root / "a.mp4", [Scene(3, RED), Scene(3, YELLOW), Scene(3, GREEN)])
    write_video(root / "b.mp4", [Scene(3, BLUE), Scene(3, RED)])
    vocabulary = write_vocabulary(tmp_path / "vocabulary.toml", "reds", "greens", "beach")
    for name, value in {"DATA_DIR": tmp_path / "data", "CLIP_MODEL": SPEC, "THREADS": 1,
                        "ALLOW_DOWNLOAD": "false", "TRANSCRIBE": "false",
                        "INDEX_AUDIO": "false", "LABEL_VOCABULARY": vocabulary,
                        "CHAPTER_MIN_SECONDS": 1, "EVIDENCE_Z": 0}.items():  # see palette_library
        monkeypatch.setenv(f"VIDSEEK_{name}", str(value))

    def run(*args):
        code = main([str(a) for a in args])
        out, err = capsys.readouterr()
        assert code == 0, err
        return out

    run("index", root)
    return run, root


def test_cli_lists_adds_learns_removes_and_filters_by_label(cli, tmp_path):
    import json

    run, root = cli
    listing = {r["name"]: r for r in json.loads(run("labels", "list", "--json"))}
    assert (listing["reds"]["videos"], listing["reds"]["moments"]) == (2, 2)
    assert listing["beach"]["moments"] == 0 and listing["beach"]["kind"] == "vocabulary"
    text = run("labels")
    assert "reds" in text and "beach" not in text.split("label(s) in use")[0]

    (tmp_path / "mine.toml").write_text('labels = ["blues", "yellows"]\n')
    assert "added 2 label(s): blues, yellows" in run("labels", "add", "--file",
                                                       tmp_path / "mine.toml")
    listing = {r["name"]: r for r in json.loads(run("labels", "list", "--json"))}
    assert listing["blues"]["moments"] == 1 and listing["yellows"]["kind"] == "user"

    out = run("labels", "example", "sunny", root / "a.mp4", 3, 6)
    assert "learned from 1 example(s)" in out
    listing = {r["name"]: r for r in json.loads(run("labels", "list", "--json"))}
    assert listing["sunny"]["kind"] == "learned" and listing["sunny"]["examples"] == 1
    assert listing["sunny"]["moments"] >= 1

    results = json.loads(run("search", "reds", "--label", "greens", "--json",
                             "--min-score", "-1"))
    assert results and all(r["path"].endswith("a.mp4") and r["t0"] >= 5.5 for r in results)

    vtt = run("chapters", root / "a.mp4", "--format", "vtt")
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:03.000\nreds\n")
    assert "reds" in run("chapters", root / "b.mp4")

    assert "removed 'yellows'" in run("labels", "remove", "yellows")
    assert "yellows" not in {r["name"] for r in json.loads(run("labels", "list", "--json"))}


def test_cli_refuses_an_unknown_label_clearly(cli, capsys):
    from vidseek.cli import main

    assert main(["labels", "remove", "nothing like this"]) == 2
    assert "there is no label called 'nothing like this'" in capsys.readouterr().err
    assert main(["search", "reds", "--label", "nope"]) == 2


# --- the API and the pages ----------------------------------------------------------------

@pytest.fixture
def client(palette_library):
    from vidseek.web.app import create_app

    lib, root, _, _ = palette_library
    lib.labels.update()
    ids = {p.name: lib.store.video_by_path(str(p)).id for p in root.iterdir()}
    return create_app(library=lib).test_client(), ids


def test_api_lists_labels_and_filters_videos_and_search_by_them(client):
    client, ids = client
    labels = {r["name"]: r for r in client.get("/api/labels").get_json()["labels"]}
    assert (labels["reds"]["videos"], labels["greens"]["videos"]) == (2, 1)
    assert labels["reds"]["kind"] == "vocabulary" and labels["reds"]["training"] is None

    greens = client.get("/api/videos?label=greens").get_json()
    assert greens["label"] == "greens" and greens["total"] == 1
    assert [v["id"] for v in greens["videos"]] == [ids["a.mp4"]]
    assert set(greens["videos"][0]["labels"]) == {"reds", "greens"}
    assert client.get("/api/videos?label=reds").get_json()["total"] == 2
    assert client.get("/api/videos?label=nope").status_code == 404
    # Labelled videos are indexed ones: the two filters together narrow, never contradict.
    assert client.get("/api/videos?label=reds&status=indexed").get_json()["total"] == 2
    assert client.get("/api/videos?label=reds&status=failed").get_json()["videos"] == []

    body = client.get("/api/search?q=reds&label=greens&min_score=-1").get_json()
    assert body["label"] == "greens" and body["results"]
    for m in body["results"]:
        assert m["video_id"] == ids["a.mp4"] and m["t0"] >= 5.5 and "greens" in m["labels"]
    everything = client.get("/api/search?q=reds&min_score=-1").get_json()["results"]
    assert any(m["labels"] == ["reds"] for m in everything)
    missing = client.get("/api/search?q=reds&label=nope")
    assert missing.status_code == 404 and "no label called 'nope'" in (
        missing.get_json()["error"]["message"])


def test_api_video_has_labels_chapters_and_webvtt_chapters(client):
    client, ids = client
    video = client.get(f"/api/videos/{ids['a.mp4']}").get_json()
    assert [(x["name"], round(x["seconds"])) for x in video["labels"]] == [("greens", 3),
                                                                          ("reds", 3)]
    assert [(round(c["t0"]), c["label"]) for c in video["chapters"]] == [
        (0, "reds"), (3, None), (6, "greens")]
    thumb = client.get(video["chapters"][0]["thumbnail_url"])
    assert thumb.status_code == 200 and thumb.data[:3] == b"\xff\xd8\xff"
    vtt = client.get(video["chapters_url"])
    assert vtt.status_code == 200 and vtt.mimetype == "text/vtt"
    assert vtt.get_data(as_text=True).startswith("WEBVTT\n\n00:00:00.000 --> 00:00:03.000\nreds")
    assert client.get("/api/videos/999/chapters.vtt").status_code == 404


def test_api_adds_learns_and_removes_labels(client):
    client, ids = client
    added = client.post("/api/labels", json={"names": ["blues"]})
    assert added.status_code == 201 and added.get_json()["added"] == ["blues"]
    assert client.post("/api/labels", json={"names": ["blues"]}).status_code == 200
    labels = {r["name"]: r for r in client.get("/api/labels").get_json()["labels"]}
    assert labels["blues"]["kind"] == "user" and labels["blues"]["moments"] == 1
    for bad in ({"names": []}, {"names": "blues"}, {"names": ["  "]}, ["blues"]):
        r = client.post("/api/labels", json=bad)
        assert r.status_code == 400 and r.get_json()["error"]["message"]

    learned = client.post("/api/labels/sunny days/examples",
                          json={"video_id": ids["a.mp4"], "t0": 3, "t1": 6})
    assert learned.status_code == 200
    assert learned.get_json()["training"]["examples"] == 1
    labels = {r["name"]: r for r in client.get("/api/labels").get_json()["labels"]}
    assert labels["sunny days"]["kind"] == "learned" and labels["sunny days"]["moments"] >= 1
    assert labels["sunny days"]["training"]["positives"] >= 1
    assert client.post("/api/labels/x/examples", json={"video_id": 999}).status_code == 404
    assert client.post("/api/labels/x/examples",
                       json={"video_id": ids["a.mp4"], "t0": 5, "t1": 2}).status_code == 400

    assert client.delete("/api/labels/sunny days").get_json() == {"removed": "sunny days"}
    assert client.delete("/api/labels/sunny days").status_code == 404
    assert "sunny days" not in {r["name"] for r in client.get("/api/labels").get_json()["labels"]}


def test_pages_show_label_chips_filters_and_the_chapter_strip(client):
    client, ids = client
    search = client.get("/?label=greens").get_data(as_text=True)
    assert '<select id="label"' in search and '<option value="greens" selected>' in search
    library = client.get("/library?label=greens").get_data(as_text=True)
    assert "a.mp4" in library and "b.mp4" not in library
    assert 'class="label-chip"' in library
    page = client.get(f"/videos/{ids['a.mp4']}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.count('class="chapter"') == 3 and 'kind="chapters"' in html
    assert client.get("/videos/999").status_code == 404
