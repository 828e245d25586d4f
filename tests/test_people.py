"""People: face tracks grouped into people across the library, named, merged, split, hidden and
forgotten, and searched by name alone or with words. Clips made from the real photos
(tests/face_clips.py), so who is on screen when is known."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import make_settings, video_id
from tests.face_clips import FACES, INTERVIEW, SECOND, Shot, on_screen, write_shots
from tests.test_faces import picture
from vidseek.core.errors import NameTaken, PersonError, UnknownPerson
from vidseek.core.records import unit
from vidseek.library import Library
from vidseek.search.people.clustering import group, linked_groups, purity_and_completeness

# Words said while each person is on screen of the interview (a subtitle file beside it).
SUBTITLES = """1
00:00:04,000 --> 00:00:06,000
a speech about healthcare

2
00:00:08,000 --> 00:00:09,000
the weather tomorrow

3
00:00:16,000 --> 00:00:17,000
healthcare again
"""


# --- the rule (pure) ---------------------------------------------------------------------------

def test_a_track_joins_the_most_alike_person_and_alike_newcomers_found_one():
    a, b, c = np.eye(3, dtype=np.float32)
    near_a = unit(a + 0.1 * b)
    near_c, near_c2 = unit(c + 0.1 * a), unit(c + 0.1 * b)
    lone = unit(b + c)  # 0.7 alike to either: no one
    g = group(np.stack([near_a, near_c, lone, near_c2]), np.stack([a, b]), 0.95, 2)
    assert g.joined == {0: 0}
    assert g.founded == [[1, 3]] and g.waiting == [2]
    assert group(np.stack([near_c]), np.zeros((0, 3), np.float32), 0.95, 2).waiting == [0]
    assert linked_groups(np.stack([near_c, a, near_c2]), 0.95) == [[0, 2], [1]]


def test_purity_and_completeness_count_what_they_say():
    assert purity_and_completeness(["o", "o", "b", "b"], [1, 1, 2, 2]) == (1.0, 1.0)
    purity, completeness = purity_and_completeness(["o", "o", "b", "b"], [1, 1, 1, None])
    assert purity == 2 / 3 and completeness == 3 / 4


# --- a library of people -----------------------------------------------------------------------

@pytest.fixture(scope="module")
def built(tmp_path_factory, tiny_encoder):
    root = tmp_path_factory.mktemp("people")
    videos = root / "videos"
    videos.mkdir()
    write_shots(videos / "interview.mp4", INTERVIEW)
    (videos / "interview.srt").write_text(SUBTITLES)
    write_shots(videos / "second.mp4", SECOND)
    lib = Library(make_settings(root / "data", index_faces=True), tiny_encoder)
    outcome = lib.index(videos)
    assert outcome.report.failed == [] and outcome.people.founded == 2
    lib.close()
    return lib.settings, videos


@pytest.fixture
def lib(built, tmp_path, tiny_encoder):
    """A copy of the built library for one test, which may change its people."""
    settings, _ = built
    shutil.copytree(settings.data_dir, tmp_path / "data")
    library = Library(replace(settings, data_dir=tmp_path / "data"), tiny_encoder)
    yield library
    library.close()


def who_is_where(lib: Library) -> dict[str, set[tuple[str, float, float]]]:
    names = {v.id: v.path.rsplit("/", 1)[1] for v in lib.videos()}
    return {p.label: {(names[t.video_id], t.t0, t.t1) for t in lib.person_tracks(str(p.id))}
            for p in lib.list_people(hidden=True)}


def truth(who: str) -> set[tuple[str, float, float]]:
    return ({("interview.mp4", a, b) for a, b in on_screen(INTERVIEW, who)}
            | {("second.mp4", a, b) for a, b in on_screen(SECOND, who)})


def test_two_people_become_two_clusters_and_a_stranger_seen_once_waits(lib):
    found = sorted(who_is_where(lib).values(), key=len, reverse=True)
    assert found == [truth("obama"), truth("biden")]
    stranger = [t for t in lib.video_faces(video_id(lib, "interview.mp4"))
                if (t.t0, t.t1) == on_screen(INTERVIEW, "stranger")[0]]
    assert len(stranger) == 1 and stranger[0].person_id is None


def named(lib: Library) -> tuple[str, str]:
    """Name the two people found "Barack Obama" and "Joe Biden" (by who is where)."""
    for person in lib.list_people():
        tracks = {(t.t0, t.t1) for t in lib.person_tracks(str(person.id))}
        lib.name_person(str(person.id), "Barack Obama" if (3.0, 7.0) in tracks else "Joe Biden")
    return "Barack Obama", "Joe Biden"


def test_a_person_is_found_by_name_alone_and_with_words(lib):
    obama, biden = named(lib)
    options = lib.search_options()
    names = {v.id: v.path.rsplit("/", 1)[1] for v in lib.videos()}
    alone = {(names[m.video_id], m.t0, m.t1) for m in lib.search_person(obama, options)}
    assert alone == truth("obama")
    assert all(m.matched_by == ("face",) for m in lib.search_person(biden, options))
    words = lib.search_text("healthcare", options)
    assert {(m.t0, m.t1) for m in words} == {(4.0, 6.0), (16.0, 17.0)}  # said twice
    both = lib.search_text("healthcare", options, person=obama)
    assert [(names[m.video_id], m.t0, m.t1) for m in both] == [("interview.mp4", 4.0, 6.0)]
    assert lib.search_text("healthcare", options, person=biden) == []
    with pytest.raises(UnknownPerson):
        lib.search_person("Grandma", options)


def test_names_merges_and_hides_survive_a_reindex_and_new_videos(lib, tmp_path):
    obama, biden = named(lib)
    lib.hide_person(biden)
    before = lib.person(obama).id
    lib.reembed()  # every segment dropped and made again: new face tracks, new segment ids
    assert who_is_where(lib) == {obama: truth("obama"), biden: truth("biden")}
    assert lib.person(obama).id == before and lib.person(biden).hidden
    assert [p.name for p in lib.list_people()] == [obama]  # the hidden one is not listed
    more = tmp_path / "more"
    more.mkdir()
    write_shots(more / "visit.mp4", [Shot(2, "obama2.jpg", "obama"), Shot(1)])
    outcome = lib.index(more)
    assert outcome.people.joined == 1 and outcome.people.founded == 0
    assert ("visit.mp4", 0.0, 2.0) in who_is_where(lib)[obama]


def test_a_wrong_face_is_split_off_and_merged_back(lib):
    obama, biden = named(lib)
    wrong = lib.person_tracks(obama)[-1]
    split = lib.split_person(obama, [wrong.segment_id])
    assert split.name is None and split.tracks == 1 and lib.person(obama).tracks == 2
    with pytest.raises(NameTaken, match="merge"):
        lib.name_person(str(split.id), obama)
    merged = lib.merge_people(obama, [str(split.id)])
    assert merged.name == obama and merged.tracks == 3
    with pytest.raises(UnknownPerson):
        lib.person(str(split.id))
    with pytest.raises(PersonError):
        lib.merge_people(obama, [obama])
    with pytest.raises(PersonError):
        lib.split_person(biden, [t.segment_id for t in lib.person_tracks(biden)])
    with pytest.raises(PersonError):
        lib.name_person(biden, "   ")


def test_forgetting_a_person_removes_their_vectors_and_crops_for_good(lib):
    obama, biden = named(lib)
    faces = [t.segment_id for t in lib.person_tracks(biden)]
    assert all(lib.thumbnail(i) for i in faces)
    before = lib.store.segment_count("face")
    assert lib.forget_person(biden) == len(faces) == 2
    assert lib.store.segment_count("face") == before - 2 == lib.store.vector_count("face")
    assert not any(lib.thumbnail(i) for i in faces)
    assert lib.search_face(picture("biden2.jpg"), lib.search_options()) == []
    with pytest.raises(UnknownPerson):
        lib.person(biden)
    assert lib.person(obama).tracks == 3


def vidseek(lib: Library, capsys, *args) -> tuple[int, str, str]:
    """`vidseek ARGS` on the test's library, run by cli.main in this process."""
    from tests.conftest import TINY_MODEL
    from vidseek.cli import main

    capsys.readouterr()
    code = main(["--data-dir", str(lib.settings.data_dir), "--model", TINY_MODEL,
                 *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_cli_names_and_searches_people(lib, capsys):
    import json

    listed = json.loads(vidseek(lib, capsys, "people", "--json", "list")[1])
    assert sorted(p["tracks"] for p in listed) == [2, 3] and all(p["name"] is None for p in listed)
    obama = next(p["id"] for p in listed if p["tracks"] == 3)
    code, out, _ = vidseek(lib, capsys, "people", "name", obama, "Barack Obama")
    assert code == 0 and "Barack Obama: 3 face track(s) in 2 video(s)" in out
    found = json.loads(vidseek(lib, capsys, "search", "--person", "Barack Obama", "--json")[1])
    assert {(m["title"], m["t0"], m["t1"]) for m in found} == truth("obama")
    assert all(m["matched_by"] == ["face"] for m in found)
    photo = str(FACES / "obama2.jpg")
    by_face = json.loads(vidseek(lib, capsys, "search", "--face", photo, "--json")[1])
    assert {(m["title"], m["t0"], m["t1"]) for m in by_face} == truth("obama")
    biden = next(p["id"] for p in listed if p["tracks"] == 2)
    assert json.loads(vidseek(lib, capsys, "search", "--face", photo, "--person", biden,
                              "--json")[1]) == []  # Obama's face among Biden's moments
    code, _, err = vidseek(lib, capsys, "search", "--person", "Grandma")
    assert code == 2 and "vidseek people" in err
    code, _, err = vidseek(lib, capsys, "search", "x", "--face", photo)
    assert code == 2 and "one thing" in err
    code, out, _ = vidseek(lib, capsys, "people", "forget", "Barack Obama")
    assert code == 0 and "3 face track(s)" in out
    assert lib.store.segment_count("face") == 3


def test_the_api_lists_names_merges_splits_hides_and_forgets_people(lib):
    from vidseek.web.app import create_app

    client = create_app(library=lib).test_client()
    listed = client.get("/api/people").get_json()["people"]
    assert sorted(p["tracks"] for p in listed) == [2, 3]
    obama = next(p for p in listed if p["tracks"] == 3)
    assert client.get(obama["face_url"]).data[:2] == b"\xff\xd8"
    r = client.post(f"/api/people/{obama['id']}/name", json={"name": "Barack Obama"})
    assert r.status_code == 200 and r.get_json()["label"] == "Barack Obama"
    faces = client.get("/api/people/Barack Obama").get_json()["faces"]
    assert {(f["t0"], f["t1"]) for f in faces} == {(t0, t1) for _, t0, t1 in truth("obama")}
    page = client.get("/api/search?person=Barack Obama").get_json()  # a person alone
    assert {(m["title"], m["t0"], m["t1"]) for m in page["results"]} == truth("obama")
    assert all(m["matched_by"] == ["face"] for m in page["results"])
    assert "person" in error_of(client.get("/api/search?k=5"), 400)  # neither q nor person
    words = client.get("/api/search", query_string={"q": "healthcare", "person": "Barack Obama"})
    assert [(m["t0"], m["t1"]) for m in words.get_json()["results"]] == [(4.0, 6.0)]
    with (FACES / "obama2.jpg").open("rb") as photo:
        by_face = client.post("/api/search/image", data={"image": photo, "mode": "face"})
    assert {(m["title"], m["t0"], m["t1"]) for m in by_face.get_json()["results"]} == truth("obama")
    second = video_id(lib, "second.mp4")
    for filters, expected in (({"video": second}, {m for m in truth("obama") if m[0] == "second.mp4"}),
                              ({"person": "Barack Obama"}, truth("obama")),
                              ({"person": str(next(p["id"] for p in listed if p["tracks"] == 2))}, set())):
        with (FACES / "obama2.jpg").open("rb") as photo:
            found = client.post("/api/search/image", data={"image": photo, "mode": "face", **filters})
        assert {(m["title"], m["t0"], m["t1"]) for m in found.get_json()["results"]} == expected, filters
    videos = client.get("/api/videos?person=Barack Obama").get_json()
    assert {v["title"] for v in videos["videos"]} == {"interview.mp4", "second.mp4"}
    assert {p["label"]: p["videos"] for p in videos["people"]}["Barack Obama"] == 2
    biden = next(p for p in listed if p["tracks"] == 2)["id"]
    r = client.post(f"/api/people/{biden}/name", json={"name": "Barack Obama"})
    assert r.status_code == 409 and "merge" in r.get_json()["error"]["message"]
    split = client.post("/api/people/Barack Obama/split", json={"faces": [faces[0]["face"]]})
    assert split.status_code == 201 and split.get_json()["tracks"] == 1
    merged = client.post("/api/people/Barack Obama/merge", json={"people": [str(split.get_json()["id"])]})
    assert merged.get_json()["tracks"] == 3
    assert client.post(f"/api/people/{biden}/hide", json={"hidden": True}).get_json()["hidden"]
    assert [p["label"] for p in client.get("/api/people").get_json()["people"]] == ["Barack Obama"]
    assert len(client.get("/api/people?hidden=true").get_json()["people"]) == 2
    r = client.delete(f"/api/people/{biden}")
    assert r.status_code == 200 and r.get_json()["faces"] == 2
    for bad, status in ((client.get("/api/people/Grandma"), 404),
                        (client.post("/api/people/Barack Obama/name", json={"name": "42"}), 400),
                        (client.post("/api/people/Barack Obama/split", json={"faces": ["x"]}), 400),
                        (client.post("/api/people/Barack Obama/hide", json={}), 400),
                        (client.get("/api/search?q=healthcare&person=Grandma"), 404)):
        assert bad.status_code == status and "error" in bad.get_json()
    with (FACES / "obama2.jpg").open("rb") as photo:
        bad = client.post("/api/search/image", data={"image": photo, "mode": "faces"})
    assert bad.status_code == 400


def error_of(response, status: int) -> str:
    assert response.status_code == status, response.data[:300]
    return response.get_json()["error"]["message"]


def test_the_people_page_and_the_library_facet(lib):
    from vidseek.web.app import create_app

    obama, biden = named(lib)
    client = create_app(library=lib).test_client()
    page = client.get("/people").get_data(as_text=True)
    assert page.index(obama) < page.index(biden)  # named ones by time on screen
    crops = [i for p in lib.list_people() for i in (t.segment_id for t in lib.person_tracks(str(p.id)))]
    assert all(f'src="/thumbs/{i}"' in page for i in crops)
    lib.hide_person(biden)
    assert biden not in client.get("/people").get_data(as_text=True)
    assert biden in client.get("/people?hidden=true").get_data(as_text=True)
    library = client.get(f"/library?person={lib.person(obama).id}").get_data(as_text=True)
    assert "interview.mp4" in library and "second.mp4" in library and f"{obama} <b>2</b>" in library
    assert client.get(f"/library?person={lib.person(biden).id}").status_code == 200
    assert 'id="person"' in client.get("/").get_data(as_text=True)


@pytest.mark.slow  # a real server and headless Chromium
def test_the_people_page_names_and_hides_in_a_real_browser(lib, tmp_path_factory):
    import threading

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    from werkzeug.serving import make_server

    from tests.test_browser import CHROMEDRIVER, CHROMIUM
    from vidseek.web.app import create_app

    if not (Path(CHROMEDRIVER).exists() and Path(CHROMIUM).exists()):
        pytest.skip("needs chromium and chromedriver (make system-deps)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    server = make_server("127.0.0.1", 0, create_app(library=lib), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        obama = next(p for p in lib.list_people() if p.tracks == 3)
        driver.get(f"http://127.0.0.1:{server.server_port}/people")
        card = driver.find_element(By.CSS_SELECTOR, f'[data-person="{obama.id}"]')
        field = card.find_element(By.CSS_SELECTOR, ".name-form input[name=name]")
        field.send_keys("Barack Obama")
        card.find_element(By.CSS_SELECTOR, ".name-form button").click()
        # Read in the page: the card is redrawn while it is read, which detaches a found node.
        heading = f'document.querySelector(\'[data-person="{obama.id}"] h2\')?.textContent'
        WebDriverWait(driver, 10).until(
            lambda d: "Barack Obama" in (d.execute_script(f"return {heading}") or ""))
        assert lib.person("Barack Obama").id == obama.id
        # On the search page, picking a person with no sentence lists where they are on screen.
        driver.get(f"http://127.0.0.1:{server.server_port}/")
        driver.find_element(By.CSS_SELECTOR, f'#person option[value="{obama.id}"]').click()
        cards = WebDriverWait(driver, 10).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "#results .card"))
        assert len(cards) == len(lib.search_person(str(obama.id), lib.search_options()))
        driver.get(f"http://127.0.0.1:{server.server_port}/people")
        driver.find_element(By.CSS_SELECTOR, f'[data-person="{obama.id}"] .hide-button').click()
        WebDriverWait(driver, 10).until(lambda d: not d.find_elements(
            By.CSS_SELECTOR, f'[data-person="{obama.id}"]'))
        assert lib.person("Barack Obama").hidden
    finally:
        driver.quit()
        server.shutdown()
