"""End to end in a real browser: headless Chromium loads the UI from a real server thread,
a query typed into the box brings result cards, a card plays its moment in the page.
Screenshots land in test-artifacts/ for a human to look at."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from vidseek.web.app import create_app

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (Path(CHROMEDRIVER).exists() and Path(CHROMIUM).exists()),
                       reason="needs chromium and chromedriver (make system-deps)"),
]


@pytest.fixture(scope="module")
def built(search_library):
    return search_library


@pytest.fixture(scope="module")
def server_url(built):
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, create_app(library=built.library), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-dev-shm-usage", "--window-size=1280,900",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def settled(driver) -> bool:
    """Every thumbnail in view loaded (a broken image has no natural width; ones below the
    fold load lazily, on scroll), no animation running."""
    return driver.execute_script(
        "return [...document.querySelectorAll('.card img')].every(i => i.hidden || "
        "(i.complete && i.naturalWidth > 0) || i.getBoundingClientRect().top > innerHeight) && "
        "document.getAnimations().every(a => a.playState !== 'running')")


def test_typing_a_query_shows_result_cards_and_plays_a_moment(browser, server_url):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    ARTIFACTS.mkdir(exist_ok=True)
    wait = WebDriverWait(browser, 20)
    browser.get(server_url + "/")
    browser.find_element(By.ID, "q").send_keys("a bright red scene")
    cards = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#results .card"))
    assert browser.find_element(By.CSS_SELECTOR, ".card .title").text.endswith(".mp4")
    assert "moment" in browser.find_element(By.ID, "status").text
    assert "q=a+bright+red+scene" in browser.current_url  # the address is shareable
    wait.until(settled)
    browser.save_screenshot(str(ARTIFACTS / "search.png"))

    cards[0].find_element(By.CSS_SELECTOR, ".thumb").click()
    player = browser.find_element(By.ID, "player")
    wait.until(lambda d: player.is_displayed())
    src = browser.find_element(By.ID, "video").get_attribute("src")
    assert f"/media/{cards[0].get_attribute('data-video-id')}#t=" in src
    # It really plays, from the moment's first second.
    t0 = float(cards[0].get_attribute("data-t0"))
    wait.until(lambda d: d.execute_script(
        "const v = document.getElementById('video'); return v.readyState >= 2 && "
        "v.currentTime >= arguments[0] - 0.25", t0))
    browser.save_screenshot(str(ARTIFACTS / "player.png"))
    browser.find_element(By.ID, "player-close").click()
    wait.until(lambda d: not player.is_displayed())

    browser.set_window_size(390, 844)  # a phone
    browser.get(server_url + "/?q=green")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#results .card"))
    wait.until(settled)
    browser.save_screenshot(str(ARTIFACTS / "search-phone.png"))
    browser.set_window_size(1280, 900)


def test_library_page_lists_failed_files_with_their_reason(browser, server_url):
    from selenium.webdriver.common.by import By

    browser.get(server_url + "/library")
    rows = browser.find_elements(By.CSS_SELECTOR, "table.videos tbody tr")
    assert len(rows) == 4
    failed = [r for r in rows if "broken.mp4" in r.text]
    assert failed and failed[0].find_element(By.CSS_SELECTOR, ".reason").text
    browser.save_screenshot(str(ARTIFACTS / "library.png"))


def test_picking_a_clip_finds_where_it_came_from(browser, server_url, built):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 30)
    browser.get(server_url + "/")
    # The same path as dropping a file: the page posts it to /api/search/video.
    browser.find_element(By.ID, "example-file").send_keys(str(built.clip))
    wait.until(lambda d: "like clip.mp4" in d.find_element(By.ID, "status").text)
    first = browser.find_element(By.CSS_SELECTOR, "#results .card")
    assert first.find_element(By.CSS_SELECTOR, ".title").text == "source.mp4"
    assert float(first.get_attribute("data-t0")) == pytest.approx(5, abs=1)
    assert browser.find_element(By.ID, "example").is_displayed()
    wait.until(settled)
    browser.save_screenshot(str(ARTIFACTS / "by-example.png"))


def test_a_moment_card_teaches_a_label_then_cards_and_the_video_page_show_it(browser,
                                                                              server_url, built):
    from urllib.parse import urlencode

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    wait = WebDriverWait(browser, 60)
    browser.get(server_url + "/?q=a+red+screen")
    card = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#results .card"))[0]
    card.find_element(By.CSS_SELECTOR, ".mark-example").click()
    prompt = wait.until(lambda d: d.switch_to.alert)
    prompt.send_keys("bright red")
    prompt.accept()
    wait.until(lambda d: "learned from 1 example" in d.find_element(By.ID, "status").text)

    labels = {s.name: s.payload() for s in built.library.labels.summaries()}
    assert labels["bright red"]["kind"] == "learned" and labels["bright red"]["examples"] == 1

    # Any label found in the library is a filter, and the cards it leaves carry its chip
    # (which labels the tiny random model finds is not the point here).
    browser.get(server_url + "/")
    select = Select(wait.until(lambda d: d.find_element(By.ID, "label")))
    name = select.options[1].get_attribute("value")
    browser.get(server_url + "/?" + urlencode({"q": "a red screen", "label": name}))
    assert Select(browser.find_element(By.ID, "label")).first_selected_option.get_attribute(
        "value") == name
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#results .card"))
    cards = browser.find_elements(By.CSS_SELECTOR, "#results .card")
    # textContent: a card fading in (opacity 0) has no visible .text yet.
    chips = [[chip.get_attribute("textContent")
              for chip in c.find_elements(By.CSS_SELECTOR, ".label-chip")] for c in cards]
    assert all(name in found for found in chips), (name, chips)
    browser.save_screenshot(str(ARTIFACTS / "label-filter.png"))

    cards[0].find_element(By.CSS_SELECTOR, ".video-link").click()
    strip = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".chapters .chapter"))
    strip[-1].click()
    start = float(strip[-1].get_attribute("data-t0"))
    wait.until(lambda d: abs(d.execute_script(
        "return document.getElementById('video').currentTime") - start) < 1)
    browser.save_screenshot(str(ARTIFACTS / "video-chapters.png"))


def test_the_video_page_timeline_seeks_the_player_to_a_line(browser, server_url, built):
    """What was said is a timeline beside the player: the line at ?t= is marked, and a click
    on a line plays the video from that line's second."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    from tests.search_library import SPOKEN

    ARTIFACTS.mkdir(exist_ok=True)
    wait = WebDriverWait(browser, 20)
    browser.get(f"{server_url}/videos/{built.video_id(built.other)}?t=4")
    current = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, ".timeline .current .line"))
    assert [line.find_element(By.CLASS_NAME, "line-text").text for line in current] == [SPOKEN]
    browser.execute_script("document.getElementById('video').currentTime = 0")
    line = browser.find_element(By.CSS_SELECTOR, ".timeline .speech .line")
    start = float(line.get_attribute("data-t0"))
    line.click()
    wait.until(lambda d: abs(d.execute_script(
        "return document.getElementById('video').currentTime") - start) < 1)
    assert browser.current_url.endswith(f"?t={start}")  # the address says where it is
    browser.save_screenshot(str(ARTIFACTS / "video-timeline.png"))


def test_a_card_downloads_its_moment_and_the_results_make_a_reel(browser, server_url):
    """Each card links to its moment as an MP4; under the results, the reel of the moments
    shown (the same search) as an MP4 and as a playlist."""
    import urllib.request
    from urllib.parse import parse_qs, urlsplit

    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(browser, 20)
    browser.get(server_url + "/?q=a+bright+red+scene")
    cards = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#results .card"))
    link = cards[0].find_element(By.CSS_SELECTOR, ".clip-link").get_attribute("href")
    assert f"/api/videos/{cards[0].get_attribute('data-video-id')}/clip?" in link
    assert float(parse_qs(urlsplit(link).query)["t0"][0]) == float(
        cards[0].get_attribute("data-t0"))
    with urllib.request.urlopen(link) as answer:
        assert answer.headers["Content-Type"] == "video/mp4"
        assert answer.headers["Content-Disposition"].startswith("attachment")
    wait.until(lambda d: d.find_element(By.ID, "reel-links").is_displayed())
    reel = parse_qs(urlsplit(browser.find_element(By.ID, "reel-m3u").get_attribute("href")).query)
    assert reel["q"] == ["a bright red scene"] and reel["count"] == [str(len(cards))]
    with urllib.request.urlopen(browser.find_element(By.ID, "reel-m3u").get_attribute("href")) as answer:
        assert answer.read().decode().startswith("#EXTM3U")
