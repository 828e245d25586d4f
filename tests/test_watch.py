"""A library that keeps itself current: frames first, the server's background jobs, watching
the remembered folders. In-process tests use the tiny model and real clips in temp folders; the
slow ones run a real `vidseek serve` with a watched folder and follow it through its API."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import TINY_MODEL, make_settings
from tests.crashes import audit_library, stray_processes, write_clip
from tests.media import Scene, write_video
from vidseek.core.writer_lock import writer_lock
from vidseek.library import Library
from vidseek.library.jobs import Jobs, scan_plan
from vidseek.library.watch import (
    Settler,
    file_stamp,
    mount_fstype,
    videos_beside,
    watch_mode,
)
from vidseek.web.app import create_app
from vidseek.web.background import start_background

SRT = "1\n00:00:00,500 --> 00:00:02,500\na lighthouse at dusk\n"


def wait_for(what: Callable[[], object], seconds: float = 30, every: float = 0.05):
    """Poll `what` until it is truthy (its value is returned) or fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        value = what()
        if value:
            return value
        assert time.monotonic() < deadline, f"not within {seconds} s"
        time.sleep(every)


def subtitled_clip(folder: Path, name: str, colour=(200, 40, 40)) -> Path:
    """A 3 s clip with a subtitle file beside it: subtitles are its later signal."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    write_video(path, [Scene(1.5, colour), Scene(1.5, (20, 20, 220))])
    path.with_suffix(".srt").write_text(SRT)
    return path


# --- pure parts --------------------------------------------------------------------------
def test_a_file_is_ready_once_it_stood_still_for_the_settle_time():
    stamps = {"/v/a.mp4": (10, 1), "/v/b.mp4": (5, 1)}
    settler = Settler(settle_s=2.0)
    settler.touch("/v/a.mp4", 0.0)
    settler.touch("/v/b.mp4", 0.0)
    assert settler.due(0.5, stamps.get) == ([], [])  # first look: stamps taken
    stamps["/v/a.mp4"] = (20, 2)  # still being copied
    assert settler.due(2.6, stamps.get) == (["/v/b.mp4"], [])
    assert settler.due(4.0, stamps.get) == ([], [])  # a's wait began again at 2.6
    del stamps["/v/a.mp4"]  # deleted: gone at the next look, without waiting
    assert settler.due(4.1, stamps.get) == ([], ["/v/a.mp4"])
    assert len(settler) == 0


def test_file_stamp_is_none_only_for_a_file_that_is_gone(tmp_path):
    path = tmp_path / "a.mp4"
    path.write_bytes(b"12345")
    assert file_stamp(str(path))[0] == 5
    assert file_stamp(str(tmp_path / "gone.mp4")) is None


def test_a_scan_queues_new_changed_and_pending_files_and_removes_what_is_gone():
    listed = {"/v/new.mp4": (1, 1, None), "/v/same.mp4": (2, 2, None),
              "/v/touched.mp4": (3, 9, None), "/v/pending.mp4": (4, 4, None),
              "/v/subs.mp4": (5, 5, "new stamp"), "/v/failed.mp4": (6, 6, None)}
    known = {"/v/same.mp4": ("indexed", 2, 2, None), "/v/touched.mp4": ("indexed", 3, 3, None),
             "/v/pending.mp4": ("pending", 4, 4, None), "/v/subs.mp4": ("indexed", 5, 5, None),
             "/v/failed.mp4": ("failed", 6, 6, None), "/v/deleted.mp4": ("indexed", 7, 7, None),
             "/v/hidden.mp4": ("indexed", 8, 8, None)}
    todo, removed = scan_plan(listed, known, gone=lambda path: path == "/v/deleted.mp4")
    assert sorted(todo) == ["/v/new.mp4", "/v/pending.mp4", "/v/subs.mp4", "/v/touched.mp4"]
    assert removed == ["/v/deleted.mp4"]  # the hidden one (a permission error) is kept


def test_a_subtitle_file_belongs_to_the_videos_its_name_starts_with():
    names = ["talk.mp4", "talk.en.srt", "talk2.mkv", "other.mp4", "talk.txt"]
    assert videos_beside("talk.en.srt", names, frozenset({".mp4", ".mkv"})) == ["talk.mp4"]
    assert videos_beside("talk2.srt", names, frozenset({".mp4", ".mkv"})) == ["talk2.mkv"]


def test_network_filesystems_are_polled_in_auto_mode():
    mounts = ("/dev/sda1 / ext4 rw 0 0\n"
              "server:/export /mnt/nas nfs4 rw 0 0\n"
              "//pc/share /mnt/nas/smb cifs rw 0 0\n")
    assert mount_fstype("/mnt/nas/films", mounts) == "nfs4"
    assert mount_fstype("/mnt/nas/smb/x", mounts) == "cifs"
    assert mount_fstype("/mnt/nasty", mounts) == "ext4"
    assert watch_mode("/mnt/nas/films", "auto", mounts) == "polling"
    assert watch_mode("/home/me/videos", "auto", mounts) == "inotify"
    assert watch_mode("/mnt/nas/films", "inotify", mounts) == "inotify"


class Recorder:
    """Stands in for the jobs a watcher feeds (the watcher is what is tested): what it queued."""

    def __init__(self):
        self.indexed: list[str] = []
        self.forgotten: list[str] = []
        self.scans = 0

    def index(self, paths):
        self.indexed += paths

    def forget(self, paths):
        self.forgotten += paths

    def scan(self):
        self.scans += 1


@pytest.mark.parametrize("mode", ["inotify", "polling"])
def test_the_watcher_queues_settled_files_and_removals(tmp_path, mode):
    from vidseek.library.watch import FolderWatcher

    folder = tmp_path / "videos"
    (folder / "sub").mkdir(parents=True)
    settings = make_settings(tmp_path / "data", watch_mode=mode, watch_settle_seconds=0.3,
                             watch_poll_seconds=0.1)
    jobs = Recorder()
    watcher = FolderWatcher(settings, jobs, lambda: [str(folder)])
    watcher.start()
    try:
        assert watcher.describe() == {str(folder): {"mode": mode, "problem": None}}
        wait_for(lambda: jobs.scans == 1)  # the first look scans
        clip = folder / "sub" / "a.mp4"
        clip.write_bytes(b"x" * 1000)
        (folder / "notes.txt").write_text("not a video")
        wait_for(lambda: jobs.indexed == [str(clip)], 10)
        (folder / "sub" / "a.en.srt").write_text(SRT)  # its subtitles: the video again
        wait_for(lambda: jobs.indexed == [str(clip)] * 2, 10)
        clip.unlink()
        wait_for(lambda: jobs.forgotten == [str(clip)], 10)
        assert jobs.indexed == [str(clip)] * 2
    finally:
        watcher.stop()


# --- frames first ------------------------------------------------------------------------
def test_a_video_is_searchable_by_its_frames_before_its_other_signals(tmp_path, tiny_encoder):
    clip = subtitled_clip(tmp_path / "videos", "a.mp4")
    # evidence_z 0: every hit counts (the tiny random model's similarities stand out of nothing)
    lib = Library(make_settings(tmp_path / "data", evidence_z=0), tiny_encoder)
    passes = lib.frames_first
    assert passes.signals == ["subtitles"]

    report = passes.index_frames([clip])
    assert report.indexed == [str(clip)]
    video = lib.store.video_by_path(str(clip))
    assert video.analysis_pending == "subtitles"
    assert lib.segments_by_modality() == {"frame": lib.store.segment_count("frame")}
    frames = [s.id for s in lib.video_segments(video.id)]
    hits = lib.describe_moments(lib.search_text("red", lib.search_options(min_score=-1.0)))
    assert hits and hits[0]["analysing"] == ["subtitles"]

    assert [v.id for v in lib.store.awaiting_analysis()] == [video.id]
    assert passes.add_signals(video) is None
    video = lib.store.video_by_path(str(clip))
    assert video.analysis_pending is None and lib.store.awaiting_analysis() == []
    assert [s.text for s in lib.store.video_segments(video.id, "subtitles")] == [
        "a lighthouse at dusk"]
    # The frames stayed as they were: the later pass did not embed them again.
    assert [s.id for s in lib.video_segments(video.id) if s.modality == "frame"] == frames
    hits = lib.describe_moments(lib.search_text("lighthouse", lib.search_options()))
    assert hits and hits[0]["analysing"] == []
    lib.close()


def test_the_later_pass_of_a_file_changed_since_its_frames_stores_nothing(tmp_path, tiny_encoder):
    clip = subtitled_clip(tmp_path / "videos", "a.mp4")
    lib = Library(make_settings(tmp_path / "data"), tiny_encoder)
    lib.frames_first.index_frames([clip])
    video = lib.store.video_by_path(str(clip))
    write_video(clip, [Scene(2, (0, 200, 0))])  # other bytes
    assert lib.frames_first.add_signals(video) == "changed"
    assert lib.store.video_by_path(str(clip)).analysis_pending == "subtitles"
    assert lib.store.segment_count("subtitles") == 0
    lib.close()


# --- the jobs, in process -------------------------------------------------------------------
@pytest.fixture
def jobs_library(tmp_path, tiny_encoder):
    """A library remembering tmp_path/videos, a Jobs worker writing to it (started), and a
    reader Library as a server holds."""
    settings = make_settings(tmp_path / "data")
    folder = tmp_path / "videos"
    folder.mkdir()
    reader = Library(settings, tiny_encoder)
    reader.add_folder(folder)
    jobs = Jobs(settings.data_dir, lambda: Library(settings, tiny_encoder))
    jobs.start()
    yield folder, jobs, reader
    jobs.stop(timeout=30)
    reader.close()


def idle(jobs: Jobs) -> bool:
    snapshot = jobs.snapshot()
    return snapshot["state"] == "idle" and not jobs.queued() and snapshot["current"] is None


def test_jobs_index_frames_first_then_the_rest_and_remove_what_is_deleted(jobs_library):
    folder, jobs, reader = jobs_library
    a = subtitled_clip(folder, "a.mp4")
    b = subtitled_clip(folder, "b.mp4", colour=(40, 200, 40))
    (folder / "broken.mp4").write_bytes(b"not a video")
    jobs.scan()
    wait_for(lambda: idle(jobs) and jobs.snapshot()["done"]["signals"] == 2, 60)
    snapshot = jobs.snapshot()
    assert snapshot["done"]["frames"] == 2 and snapshot["done"]["scans"] == 1
    assert [(f["path"], f["step"]) for f in snapshot["failures"]] == [
        (str(folder / "broken.mp4"), "frames")]
    assert snapshot["failures"][0]["reason"]
    assert reader.store.segment_count("subtitles") == 2
    assert all(v.analysis_pending is None for v in reader.videos("indexed"))

    a.unlink()
    jobs.forget([str(a)])
    wait_for(lambda: reader.store.video_by_path(str(a)) is None, 10)
    # The serving library's index follows the saved files: a's moments are gone from search.
    hits = reader.search_text("lighthouse", reader.search_options())
    assert {reader.video(h.video_id).path for h in hits} == {str(b)}

    # A subtitle file edited beside a complete video: its subtitles are read again, alone.
    b.with_suffix(".srt").write_text(SRT.replace("a lighthouse at dusk", "a harbour at night"))
    jobs.index([str(b)])
    video = reader.store.video_by_path(str(b))
    wait_for(lambda: [s.text for s in reader.store.video_segments(video.id, "subtitles")] == [
        "a harbour at night"], 30)


def test_jobs_wait_while_another_writer_holds_the_lock(jobs_library):
    folder, jobs, reader = jobs_library
    subtitled_clip(folder, "a.mp4")
    held, release = threading.Event(), threading.Event()

    def other_writer():
        with writer_lock(reader.settings.data_dir, "vidseek index /elsewhere"):
            held.set()
            release.wait(30)

    wait_for(lambda: idle(jobs))  # its look for half-analysed videos at start is done
    thread = threading.Thread(target=other_writer)
    thread.start()
    held.wait(10)
    jobs.scan()
    jobs.forget([str(folder / "gone.mp4")])  # removals go first; the scan still follows
    waiting = wait_for(lambda: jobs.snapshot()["state"] == "waiting" and jobs.snapshot(), 10)
    assert "vidseek index /elsewhere" in waiting["waiting_for"]
    assert reader.video_count() == 0
    release.set()
    thread.join()
    wait_for(lambda: reader.video_count("indexed") == 1, 60)


def test_a_burst_of_files_queues_without_waiting(jobs_library):
    folder, jobs, reader = jobs_library
    paths = [str(folder / f"missing-{i}.mp4") for i in range(10_000)]
    started = time.perf_counter()
    jobs.index(paths)
    jobs.index(paths)  # queued twice: indexed once
    assert time.perf_counter() - started < 1.0
    assert jobs.queued() <= 10_000


# --- the API ------------------------------------------------------------------------------
def test_the_api_shows_jobs_and_scans_on_request(tmp_path, tiny_encoder):
    settings = make_settings(tmp_path / "data", watch=False)
    folder = tmp_path / "videos"
    clip = subtitled_clip(folder, "a.mp4")
    lib = Library(settings, tiny_encoder)
    app = create_app(library=lib)
    client = app.test_client()
    assert client.get("/api/jobs").get_json() == {"state": "off"}
    assert client.post("/api/scan").status_code == 409

    lib.add_folder(folder)
    background = start_background(app, lambda: Library(settings, tiny_encoder))
    try:
        wait_for(lambda: lib.video_count("indexed") == 1, 60)  # the start's scan
        refused = client.post("/api/scan", headers={"Origin": "https://elsewhere.example"})
        assert refused.status_code == 403
        answer = client.post("/api/scan")
        assert answer.status_code == 202 and answer.get_json()["state"] in (
            "idle", "working", "waiting")
        jobs = wait_for(lambda: client.get("/api/jobs").get_json()["done"]["scans"] == 2
                        and client.get("/api/jobs").get_json(), 30)
        assert jobs["watching"] == {} and jobs["failed"] == 0
        video = client.get("/api/videos").get_json()["videos"][0]
        assert video["path"] == str(clip) and video["analysing"] in ([], ["subtitles"])
    finally:
        background.stop()


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one core: 1 thread is all cores")
def test_the_worker_embeds_frames_on_all_cores_while_requests_keep_one(tmp_path, monkeypatch):
    """As `vidseek serve` wires it: requests run torch on 1 thread (create_app), the worker on
    the threads `vidseek index` uses; the worker's setting, made after, does not reach a
    thread that set its own (torch counts per thread, but a thread's first use takes the
    count set last by any thread)."""
    from vidseek.models.encoders import OpenClipEncoder, configure_torch

    seen: list[tuple[str, int]] = []
    embed_images = OpenClipEncoder.embed_images

    def recording(self, frames):
        seen.append((threading.current_thread().name, torch.get_num_threads()))
        return embed_images(self, frames)

    torch = pytest.importorskip("torch")
    monkeypatch.setattr(OpenClipEncoder, "embed_images", recording)
    settings = make_settings(tmp_path / "data", watch=False, threads=0)
    folder = tmp_path / "videos"
    folder.mkdir()
    write_clip(folder / "a.mp4", seed=1)
    remembering(settings.data_dir, folder)
    app = create_app(settings)
    before = torch.get_num_threads()
    configure_torch(1)  # what a request-side model load does, here on the test's thread
    try:
        background = start_background(app, lambda: Library(settings))
        try:
            wait_for(lambda: seen and idle(background.jobs), 60)
        finally:
            background.stop()
        assert set(seen) == {("vidseek-jobs", os.cpu_count())}
        assert torch.get_num_threads() == 1  # the request side kept its one thread
    finally:
        configure_torch(before)  # the tests after this one run as before


# --- a real `vidseek serve` watching a folder ---------------------------------------------
SETTLE_S = 2.0  # the server's settle time here; the slow copy pauses far less between chunks


class Server:
    """A `vidseek serve` process on a library, followed through its API."""

    def __init__(self, data: Path, log: Path):
        from tests.test_web import free_port

        self.port = free_port()
        env = {**os.environ, "VIDSEEK_DATA_DIR": str(data), "VIDSEEK_CLIP_MODEL": TINY_MODEL,
               "VIDSEEK_ALLOW_DOWNLOAD": "false", "VIDSEEK_TRANSCRIBE": "false",
               "VIDSEEK_INDEX_AUDIO": "false", "VIDSEEK_INDEX_OCR": "false",
               "VIDSEEK_INDEX_FACES": "false", "VIDSEEK_THREADS": "1",
               "VIDSEEK_WATCH_SETTLE_SECONDS": str(SETTLE_S), "VIDSEEK_CLIP_RUNTIME": "torch",
               "VIDSEEK_LABEL_AFTER_INDEX": "false"}  # labels: the in-process tests
        self.log = log
        with open(log, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "vidseek", "serve", "--port", str(self.port)], env=env,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        wait_for(self._answers, 60, every=0.2)

    def _answers(self) -> bool:
        assert self.process.poll() is None, self.log.read_text()
        try:
            self.get("/api/jobs")
            return True
        except OSError:
            return False

    def get(self, route: str) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{route}", timeout=10) as r:
            return json.load(r)

    def videos(self) -> dict[str, dict]:
        return {v["title"]: v for v in self.get("/api/videos")["videos"]}

    def idle(self) -> dict | None:
        jobs = self.get("/api/jobs")
        quiet = jobs["state"] == "idle" and jobs["current"] is None and not any(
            v for k, v in jobs["queued"].items())
        return jobs if quiet else None

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)


def remembering(data: Path, folder: Path) -> None:
    lib = Library(make_settings(data))
    lib.add_folder(folder)
    lib.close()


@pytest.mark.slow  # two real servers; about 30 s
def test_a_served_library_follows_its_folder_and_resumes_after_a_kill(tmp_path):
    data, folder, source = tmp_path / "data", tmp_path / "videos", tmp_path / "source"
    folder.mkdir()
    source.mkdir()
    remembering(data, folder)
    server = Server(data, tmp_path / "server.log")
    try:
        write_clip(source / "a.mp4", seed=1)
        whole = (source / "a.mp4").read_bytes()
        # Copied in slowly, in chunks: never indexed before the last chunk has settled.
        with open(folder / "a.mp4", "wb") as out:
            for start in range(0, len(whole), len(whole) // 4 + 1):
                out.write(whole[start:start + len(whole) // 4 + 1])
                out.flush()
                assert "a.mp4" not in server.videos()
                time.sleep(SETTLE_S / 5)
        video = wait_for(lambda: server.videos().get("a.mp4", {}).get("status") == "indexed"
                         and server.videos()["a.mp4"], 30)
        assert video["size"] == len(whole)
        jobs = wait_for(server.idle, 30)
        assert jobs["done"]["frames"] == 1 and jobs["failures"] == []

        (folder / "a.mp4").rename(folder / "b.mp4")
        wait_for(lambda: set(server.videos()) == {"b.mp4"}, 30)

        before = wait_for(lambda: server.videos()["b.mp4"]["status"] == "indexed"
                          and server.videos()["b.mp4"], 30)
        # Overwritten in place with other bytes, made beforehand: encoding under load can pause
        # longer than the settle time, and a pause that long is a finished file to a watcher.
        write_clip(source / "b.mp4", seed=2)
        (folder / "b.mp4").write_bytes((source / "b.mp4").read_bytes())
        wait_for(lambda: server.videos()["b.mp4"]["indexed_at"] != before["indexed_at"], 30)
        assert server.videos()["b.mp4"]["size"] == (folder / "b.mp4").stat().st_size

        (folder / "b.mp4").unlink()
        deleted = time.monotonic()
        wait_for(lambda: server.videos() == {}, 10)
        assert time.monotonic() - deleted < SETTLE_S + 5  # within seconds, not a scan later
        jobs = wait_for(server.idle, 30)
        assert jobs["failures"] == [], jobs["failures"]

        # A burst lands; the server is killed mid-job: some files stored, others queued.
        for i in range(4):
            write_clip(source / f"c{i}.mp4", seed=10 + i)
            os.rename(source / f"c{i}.mp4", folder / f"c{i}.mp4")
        done = jobs["done"]["frames"]
        wait_for(lambda: (jobs := server.get("/api/jobs"))["done"]["frames"] >= done + 2
                 and jobs["queued"]["files"] >= 1, 60, every=0.02)
    finally:
        server.kill()
    # Its decoder and query-encoder children notice and end too.
    wait_for(lambda: stray_processes(server.process.pid) == [], 10)
    server = Server(data, tmp_path / "server.log")
    try:  # its start scan finds what the kill left pending or unseen
        wait_for(lambda: len(server.videos()) == 4 and all(
            v["status"] == "indexed" for v in server.videos().values()), 60)
        wait_for(server.idle, 30)
        assert all(v["analysing"] == [] for v in server.videos().values())
    finally:
        server.stop()
    audit = audit_library(data)
    assert audit.ok, audit
    assert audit.segments == 4 * 5  # five one-second shots each, every one stored once


def test_the_library_page_carries_the_job_panel(tmp_path, tiny_encoder):
    lib = Library(make_settings(tmp_path / "data"), tiny_encoder)
    page = create_app(library=lib).test_client().get("/library").get_data(as_text=True)
    assert 'data-jobs-url="/api/jobs"' in page and 'data-scan-url="/api/scan"' in page
    assert "jobs.js" in page
    lib.close()


def test_vidseek_index_completes_a_video_left_at_its_frames(tmp_path, tiny_encoder):
    clip = subtitled_clip(tmp_path / "videos", "a.mp4")
    lib = Library(make_settings(tmp_path / "data"), tiny_encoder)
    lib.frames_first.index_frames([clip])  # a server stopped before the later pass
    report = lib.indexer.index_files([clip])
    assert report.indexed == [str(clip)]
    assert lib.store.video_by_path(str(clip)).analysis_pending is None
    assert lib.store.segment_count("subtitles") == 1
    assert lib.indexer.index_files([clip]).unchanged == 1  # and then it is settled
    lib.close()


def test_status_lists_the_videos_still_being_analysed(tmp_path, tiny_encoder, capsys):
    from vidseek.cli import main

    clip = subtitled_clip(tmp_path / "videos", "a.mp4")
    settings = make_settings(tmp_path / "data")
    lib = Library(settings, tiny_encoder)
    lib.frames_first.index_frames([clip])
    lib.close()
    assert main(["--data-dir", str(settings.data_dir), "--model", TINY_MODEL, "status",
                 "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)["analysing"]
    assert [(v["path"], v["signals"]) for v in listed] == [(str(clip), ["subtitles"])]
