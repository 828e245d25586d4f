"""Storyboards: a sprite of thumbnails at each video's shots, made while it is indexed, served
by the API, and gone with its video."""

from __future__ import annotations

import html
import io
import json
import re
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from tests.conftest import make_settings
from tests.media import BLUE, GREEN, RED, Scene, write_video
from tests.test_browser import ARTIFACTS, CHROMEDRIVER, CHROMIUM, browser  # noqa: F401 - a fixture
from vidseek.indexer.storyboard import MAX_TILES, TILE_WIDTH, ShotCutter, spread
from vidseek.library import Library
from vidseek.search.storage.schema import StoryboardRow
from vidseek.web.app import create_app

SCENES = [Scene(3, RED), Scene(3, GREEN), Scene(3, BLUE, moving_square=True), Scene(3, RED)]


def frames_of(scenes: list[Scene], size=(64, 48)) -> np.ndarray:
    """One frame a second, as the sampler gives them, of these scenes."""
    from tests.media import _frame

    w, h = size
    return np.stack([_frame(scene, i, int(scene.seconds), (w, h)) for scene in scenes
                     for i in range(int(scene.seconds))])


def test_shots_start_at_cuts_and_not_where_something_moves():
    cutter = ShotCutter()
    frames = frames_of(SCENES)
    cutter.add(frames[:4])  # windows split anywhere give the same shots
    cutter.add(frames[4:])
    assert cutter.starts == [0, 3, 6, 9]


def test_a_long_video_shows_its_shots_spread_over_all_of_them():
    starts = list(range(0, 3000, 3))
    picked = spread(starts)
    assert len(picked) == MAX_TILES
    assert picked[0] == 0 and picked[-1] == starts[-1]
    assert picked == sorted(set(picked))
    assert spread([0, 5, 9]) == [0, 5, 9]


def index_scenes(tmp_path, tiny_encoder):
    root = tmp_path / "videos"
    root.mkdir()
    path = write_video(root / "scenes.mp4", SCENES, fps=10, size=(192, 108))
    # Every hit counted (the tiny random model's hits do not stand out from its noise); no
    # labels, which storyboards do not need.
    library = Library(make_settings(tmp_path / "data", evidence_z=0, label_after_index=False),
                      tiny_encoder)
    library.indexer.index(root)
    return library, root, library.store.video_by_path(str(path)).id


@pytest.fixture(scope="module")
def indexed(tmp_path_factory, tiny_encoder):
    """A library of one video of SCENES, which the tests only read."""
    library, root, video_id = index_scenes(tmp_path_factory.mktemp("storyboard"), tiny_encoder)
    yield library, root, video_id
    library.close()


def tile_colours(jpeg: bytes, tiles) -> list[np.ndarray]:
    sprite = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB"), np.float32)
    out = []
    for k in range(len(tiles.times)):
        x, y = tiles.tile_at(k)
        tile = sprite[y:y + tiles.tile_height, x:x + tiles.tile_width]
        out.append(np.median(tile.reshape(-1, 3), axis=0))
    return out


def test_indexing_makes_one_tile_per_shot_showing_that_shot(indexed):
    lib, _, video_id = indexed
    board = lib.storyboard(video_id)
    tiles = board.tiles
    assert [round(t, 1) for t in tiles.times] == [0, 3, 6, 9]
    # The video is 16:9: tiles keep its shape, four to a row.
    assert (tiles.tile_width, tiles.tile_height, tiles.columns) == (TILE_WIDTH, 90, 4)
    assert Image.open(io.BytesIO(board.jpeg)).size == (4 * TILE_WIDTH, 90)
    for colour, expected in zip(tile_colours(board.jpeg, tiles), [RED, GREEN, BLUE, RED],
                                strict=True):
        assert np.abs(colour - np.array(expected)).max() < 25
    assert lib.storyboard_tiles([video_id, video_id + 99]) == {video_id: tiles}


def test_the_api_serves_the_sprite_and_its_tile_map(indexed):
    lib, _, video_id = indexed
    client = create_app(library=lib).test_client()
    r = client.get(f"/api/videos/{video_id}/storyboard")
    assert r.status_code == 200 and r.mimetype == "image/jpeg"
    assert r.data == lib.storyboard(video_id).jpeg
    assert client.get(f"/api/videos/{video_id}/storyboard",
                      headers={"If-None-Match": r.headers["ETag"]}).status_code == 304
    board = client.get(f"/api/videos/{video_id}").get_json()["storyboard"]
    assert board == {"image_url": f"/api/videos/{video_id}/storyboard", "tile_width": TILE_WIDTH,
                     "tile_height": 90, "columns": 4, "times": [0.0, 3.0, 6.0, 9.0]}
    listed = client.get("/api/videos").get_json()["videos"]
    assert [v["storyboard"] for v in listed] == [board]
    missing = client.get(f"/api/videos/{video_id + 99}/storyboard")
    assert missing.status_code == 404 and "error" in missing.get_json()


def stored_rows(lib) -> int:
    with Session(lib.store.engine) as s:
        return s.scalar(select(func.count()).select_from(StoryboardRow))


def test_a_removed_or_failed_video_loses_its_storyboard(tmp_path, tiny_encoder):
    lib, root, video_id = index_scenes(tmp_path, tiny_encoder)
    other = write_video(root / "other.mp4", [Scene(2, GREEN)], size=(64, 48))
    lib.indexer.index(root)
    other_id = lib.store.video_by_path(str(other)).id
    assert stored_rows(lib) == 2
    (root / "scenes.mp4").unlink()
    lib.indexer.index(root)
    assert lib.storyboard(video_id) is None and stored_rows(lib) == 1
    other.write_bytes(b"not a video any more")
    lib.indexer.index(root)
    assert lib.store.video(other_id).status == "failed"
    assert lib.storyboard(other_id) is None and stored_rows(lib) == 0
    lib.close()


def test_result_cards_and_library_rows_carry_the_storyboard_to_scrub(indexed):
    lib, _, video_id = indexed
    client = create_app(library=lib).test_client()
    board = client.get(f"/api/videos/{video_id}").get_json()["storyboard"]
    results = client.get("/api/search?q=a+red+screen&k=3").get_json()["results"]
    assert results and {r["storyboard_url"] for r in results} == {
        f"/api/videos/{video_id}/storyboard.json"}
    assert client.get(results[0]["storyboard_url"]).get_json() == board
    missing = client.get(f"/api/videos/{video_id + 99}/storyboard.json")
    assert missing.status_code == 404 and "error" in missing.get_json()
    page = client.get("/library").get_data(as_text=True)
    shown = re.search(r'class="mini-thumb" href="/videos/(\d+)" data-storyboard="([^"]+)"', page)
    assert int(shown[1]) == video_id and json.loads(html.unescape(shown[2])) == board
    assert "storyboard.js" in page and "storyboard.js" in client.get("/").get_data(as_text=True)
    script = client.get("/static/storyboard.js")
    assert script.status_code == 200 and b"vidseekStoryboard" in script.data


def test_a_video_indexed_before_storyboards_gets_one_from_its_thumbnails(tmp_path, tiny_encoder):
    lib, root, video_id = index_scenes(tmp_path, tiny_encoder)
    made = lib.storyboard(video_id)
    with Session(lib.store.engine) as s, s.begin():  # as migration 0010 leaves a library
        s.execute(delete(StoryboardRow))
    assert lib.index(root).report.unchanged == 1  # nothing is decoded again
    board = lib.storyboard(video_id)
    lib.close()
    assert board.tiles == made.tiles
    for colour, expected in zip(tile_colours(board.jpeg, board.tiles), [RED, GREEN, BLUE, RED],
                                strict=True):
        assert np.abs(colour - np.array(expected)).max() < 25


@pytest.mark.slow
@pytest.mark.skipif(not (Path(CHROMEDRIVER).exists() and Path(CHROMIUM).exists()),
                    reason="needs chromium and chromedriver (make system-deps)")
def test_the_pointer_across_a_library_row_shows_each_shot_in_turn(indexed, browser):  # noqa: F811
    """In headless Chromium: the row's thumbnail shows the first shot at rest, and the shot
    under the pointer (with the second it starts) while it moves across."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    from werkzeug.serving import make_server

    lib, _, _ = indexed
    server = make_server("127.0.0.1", 0, create_app(library=lib), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        browser.get(f"http://127.0.0.1:{server.server_port}/library")
        thumb = browser.find_element(By.CSS_SELECTOR, ".mini-thumb")
        preview = thumb.find_element(By.CSS_SELECTOR, ".scrub")

        def shown() -> tuple[str, str]:
            return tuple(browser.execute_script(
                "const p = arguments[0], t = p.querySelector('.scrub-time');"
                "return [getComputedStyle(p).backgroundPosition, t.hidden ? '' : t.textContent]",
                preview))

        assert shown() == ("0% 0%", "")  # at rest: the first shot, no time
        width = thumb.size["width"]
        seen = []
        for k in range(4):  # four shots: each a quarter of the width
            x = int((k + 0.5) * width / 4) - width // 2  # from the centre
            ActionChains(browser).move_to_element_with_offset(thumb, x, 0).perform()
            seen.append(shown())
        # One row of four tiles: positions 0, 1/3, 2/3 and all the way across.
        assert seen == [("0% 0%", "0:00"), ("33.3333% 0%", "0:03"), ("66.6667% 0%", "0:06"),
                        ("100% 0%", "0:09")]
        ARTIFACTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "storyboard-scrub.png"))
        ActionChains(browser).move_by_offset(0, 200).perform()  # away
        assert shown() == ("0% 0%", "")
        # A result card fetches the tile map as the pointer comes over it, then scrubs too.
        browser.get(f"http://127.0.0.1:{server.server_port}/?q=a+red+screen")
        card = WebDriverWait(browser, 20).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "#results .card .thumb"))[0]
        ActionChains(browser).move_to_element_with_offset(card, -card.size["width"] // 4, 0) \
            .perform()
        WebDriverWait(browser, 10).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "#results .card .scrub"))
        ActionChains(browser).move_to_element_with_offset(card, card.size["width"] // 2 - 3, 0) \
            .perform()  # the right edge: the last shot
        preview = card.find_element(By.CSS_SELECTOR, ".scrub")
        assert shown() == ("100% 0%", "0:09")
    finally:
        server.shutdown()
