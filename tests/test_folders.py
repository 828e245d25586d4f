"""Remembered folders, removal and the one writer: folders persist, `vidseek index` with no
folder brings them all up to date, a folder that vanished or looks emptied (an unmounted mount
point) keeps its videos, removing a video or a folder forgets every row, vector and thumbnail
of it (never the file) with every index agreeing with SQL and keeps it out of later scans
(index runs and a server's) until it is indexed by name, DELETE /api/videos/<id> under the
API's guard, the writer lock against a real second process and a kill -9'd holder,
`vidseek status --json/--failed` and `--version`. Real clips, real SQLite, the tiny model."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import make_settings
from tests.crashes import audit_library
from tests.media import BLUE, GREEN, RED, Scene, write_video
from tests.test_cli import cli_env, vidseek_here
from vidseek.core.errors import WriterBusy
from vidseek.core.writer_lock import busy_message, current_writer, writer_lock
from vidseek.library import Library
from vidseek.library.folders import kept_warning, listing_problem
from vidseek.library.jobs import Jobs
from vidseek.search.storage.folders import is_left_out, is_under, outermost, videos_to_forget
from vidseek.web.app import create_app


@pytest.fixture
def videos(tmp_path) -> Path:
    """holiday/a.mp4, holiday/beach/b.mp4 (a folder inside it) and work/c.mp4."""
    root = tmp_path / "videos"
    for name, colour in (("holiday/a.mp4", RED), ("holiday/beach/b.mp4", GREEN),
                         ("work/c.mp4", BLUE)):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        write_video(root / name, [Scene(1, colour)])
    return root


@pytest.fixture
def lib(tmp_path, tiny_encoder):
    library = Library(make_settings(tmp_path / "data", evidence_z=0.0), tiny_encoder)
    yield library
    library.close()


@pytest.fixture
def unlabelled_lib(tmp_path, tiny_encoder):
    """A library that labels nothing after a run: the tests of what a scan keeps run quicker."""
    library = Library(make_settings(tmp_path / "data", label_after_index=False), tiny_encoder)
    yield library
    library.close()


def rows_of_video(data_dir: Path, video_id: int) -> dict[str, int]:
    """Rows that belong to one video, in every table with a video_id (tables added later
    included) and in thumbnails (through its segments)."""
    with sqlite3.connect(data_dir / "vidseek.db") as db:
        tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                  if any(c[1] == "video_id" for c in db.execute(f"PRAGMA table_info('{t}')"))]
        counts = {t: db.execute(f"SELECT count(*) FROM '{t}' WHERE video_id = ?",
                                (video_id,)).fetchone()[0] for t in tables}
        counts["videos"] = db.execute("SELECT count(*) FROM videos WHERE id = ?",
                                      (video_id,)).fetchone()[0]
        counts["thumbnails"] = db.execute(
            "SELECT count(*) FROM thumbnails JOIN segments ON segments.id = segment_id "
            "WHERE video_id = ?", (video_id,)).fetchone()[0]
    return counts


def found_video_ids(lib: Library, candidates: set[int]) -> set[int]:
    """The candidates a search inside each of them finds anything in."""
    return {v for v in candidates
            if lib.search_text("a coloured screen", lib.search_options(k=5, video_id=v, min_score=-1.0))}


def test_a_path_is_under_a_folder_by_its_parts_not_its_letters():
    assert is_under("/v/holiday/a.mp4", "/v/holiday") and is_under("/v/holiday", "/v/holiday")
    assert not is_under("/v/holiday2/a.mp4", "/v/holiday")
    paths = ["/v/a/x.mp4", "/v/a/in/y.mp4", "/v/ab/z.mp4"]
    assert videos_to_forget(paths, "/v/a", remaining=[]) == ["/v/a/x.mp4", "/v/a/in/y.mp4"]
    # An outer folder still remembered keeps what an inner one held.
    assert videos_to_forget(paths, "/v/a/in", remaining=["/v/a"]) == []
    assert outermost(["/v/ab", "/v/a/in", "/v/a", "/v/a"]) == ["/v/a", "/v/ab"]
    excluded = {"/v/a/x.mp4", "/v/b"}
    assert [p for p in ["/v/a/x.mp4", "/v/a/x.mp4.mp4", "/v/b/in/y.mp4", "/v/bc/z.mp4"]
            if is_left_out(p, excluded)] == ["/v/a/x.mp4", "/v/b/in/y.mp4"]


def test_folders_are_remembered_across_opens(lib, videos, tiny_encoder):
    lib.index(videos / "holiday")
    assert lib.folders() == [str(videos / "holiday")]
    assert lib.add_folder(videos / "work") == (str(videos / "work"), True)
    assert lib.add_folder(videos / "work" / ".." / "work") == (str(videos / "work"), False)
    with pytest.raises(NotADirectoryError, match="is a file"):
        lib.add_folder(videos / "work" / "c.mp4")
    with pytest.raises(FileNotFoundError, match="no such folder"):
        lib.add_folder(videos / "nowhere")
    lib.close()
    again = Library(lib.settings, tiny_encoder)
    assert again.folders() == [str(videos / "holiday"), str(videos / "work")]
    again.close()


def test_index_with_no_folder_brings_every_remembered_folder_up_to_date(lib, videos):
    with pytest.raises(ValueError, match="remembers no folder"):
        lib.index_folders()
    lib.add_folder(videos / "holiday")
    lib.add_folder(videos / "holiday" / "beach")  # inside holiday: scanned once, with it
    lib.add_folder(videos / "work")
    first = lib.index_folders()
    assert sorted(first.report.indexed) == sorted(str(p) for p in videos.rglob("*.mp4"))
    write_video(videos / "work" / "d.mp4", [Scene(1, RED), Scene(1, BLUE)])
    (videos / "holiday" / "a.mp4").unlink()
    second = lib.index_folders()
    assert second.report.indexed == [str(videos / "work" / "d.mp4")]
    assert second.report.removed == 1 and second.report.unchanged == 2
    # A folder that cannot be found (an unmounted drive) is skipped, its videos kept.
    (videos / "work").rename(videos / "work-elsewhere")
    third = lib.index_folders()
    assert list(third.skipped_folders) == [str(videos / "work")]
    assert lib.video_count("indexed") == 3


def test_removing_a_video_forgets_all_of_it_but_the_file(lib, videos):
    outcome = lib.index(videos / "holiday")
    assert outcome.labels is not None and outcome.labels.moments  # labels and chapters exist
    a = lib.find_video(str(videos / "holiday" / "a.mp4"))
    b = lib.find_video(str(videos / "holiday" / "beach" / "b.mp4"))
    data = lib.settings.data_dir
    before, b_before = rows_of_video(data, a.id), rows_of_video(data, b.id)
    for table in ("videos", "segments", "thumbnails", "moments", "moment_labels", "chapters"):
        assert before[table] > 0, table
    assert found_video_ids(lib, {a.id, b.id}) == {a.id, b.id}

    removal = lib.remove(videos / "holiday" / "a.mp4")
    assert removal.videos == 1 and removal.folder is None
    assert removal.still_remembered_under == (str(videos / "holiday"),)
    assert removal.excluded == str(videos / "holiday" / "a.mp4")
    assert not any(rows_of_video(data, a.id).values()), rows_of_video(data, a.id)
    assert rows_of_video(data, b.id) == b_before
    assert found_video_ids(lib, {a.id, b.id}) == {b.id}
    assert (videos / "holiday" / "a.mp4").exists()
    assert audit_library(data).ok  # the saved indexes hold exactly SQL's vectors

    # A folder that is not remembered: every video under it.
    assert lib.remove(videos / "holiday" / "beach").videos == 1
    assert not any(rows_of_video(data, b.id).values())
    with pytest.raises(FileNotFoundError, match="holds nothing"):
        lib.remove(videos / "holiday" / "beach")
    assert audit_library(data).ok and lib.video_count() == 0


def test_forgetting_a_folder_forgets_what_no_other_remembered_folder_holds(lib, videos):
    lib.index(videos / "holiday")
    lib.index(videos / "work")
    lib.add_folder(videos / "holiday" / "beach")
    inner = lib.remove_folder(videos / "holiday" / "beach")
    assert (inner.videos, inner.folder) == (0, str(videos / "holiday" / "beach"))
    assert lib.video_count() == 3  # holiday still holds beach/b.mp4
    outer = lib.remove_folder(videos / "holiday")
    assert outer.videos == 2 and lib.folders() == [str(videos / "work")]
    assert [v.path for v in lib.videos()] == [str(videos / "work" / "c.mp4")]
    with pytest.raises(FileNotFoundError, match="not a remembered folder"):
        lib.remove_folder(videos / "holiday")
    # A remembered folder gone from disk is forgotten by the name it was remembered by.
    (videos / "work").rename(videos / "gone")
    assert lib.remove_folder(videos / "work").videos == 1
    assert audit_library(lib.settings.data_dir).ok and lib.video_count() == 0


def test_delete_video_route_forgets_it_under_the_guard(lib, videos):
    lib.index(videos / "work")
    c = lib.find_video(str(videos / "work" / "c.mp4"))
    client = create_app(library=lib).test_client()
    refused = client.delete(f"/api/videos/{c.id}", headers={"Origin": "http://evil.example"})
    assert refused.status_code == 403 and lib.video(c.id) is not None
    token_app = create_app(dataclasses.replace(lib.settings, access_token="s3cret"), lib)
    assert token_app.test_client().delete(f"/api/videos/{c.id}").status_code == 401

    held, release = threading.Event(), threading.Event()

    def other_writer():
        with lib.writing():
            held.set()
            release.wait(30)

    writer = threading.Thread(target=other_writer)
    writer.start()
    held.wait(30)
    busy = client.delete(f"/api/videos/{c.id}")
    release.set()
    writer.join()
    assert busy.status_code == 409 and f"pid {os.getpid()}" in busy.get_json()["error"]["message"]
    assert lib.video(c.id) is not None

    assert client.delete(f"/api/videos/{c.id}").get_json() == {
        "removed": c.id, "excluded": str(videos / "work" / "c.mp4")}
    assert client.get(f"/api/videos/{c.id}").status_code == 404
    assert client.delete(f"/api/videos/{c.id}").status_code == 404
    assert client.delete(f"/api/videos/{2**63}").status_code == 404  # past SQL's ids: 404 too
    assert (videos / "work" / "c.mp4").exists() and audit_library(lib.settings.data_dir).ok


def test_the_writer_lock_is_reentrant_for_its_thread_only(tmp_path):
    refused = []
    with writer_lock(tmp_path, "vidseek index /videos"):
        with writer_lock(tmp_path):  # an index run updating labels takes it again
            pass
        other = threading.Thread(target=lambda: refused.append(_try_lock(tmp_path)))
        other.start()
        other.join()
        assert current_writer(tmp_path) == f"pid {os.getpid()}: vidseek index /videos"
    assert refused == [busy_message(f"{os.getpid()} vidseek index /videos")]
    assert current_writer(tmp_path) is None
    assert _try_lock(tmp_path) is None  # released with the outer block


def _try_lock(data_dir: Path) -> str | None:
    try:
        with writer_lock(data_dir):
            return None
    except WriterBusy as e:
        return str(e)


HOLD = """
import sys, time
from vidseek.core.writer_lock import writer_lock
with writer_lock(sys.argv[1], "vidseek index /videos"):
    print("held", flush=True)
    time.sleep(120)
"""


@pytest.mark.slow  # starts real processes
def test_a_second_writer_process_is_refused_until_the_holder_dies(tmp_path, videos):
    env = cli_env(tmp_path / "data")
    holder = subprocess.Popen([sys.executable, "-c", HOLD, env["VIDSEEK_DATA_DIR"]],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        command = [sys.executable, "-m", "vidseek", "folders", "add", str(videos / "work")]
        second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert second.returncode == 2
        assert second.stderr.strip() == (f"error: another vidseek is writing to this library "
                                         f"(pid {holder.pid}: vidseek index /videos); wait for "
                                         "it to finish or stop it, then try again")
        assert current_writer(tmp_path / "data") == f"pid {holder.pid}: vidseek index /videos"
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        assert current_writer(tmp_path / "data") is None  # its pid names no process now
        after = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
        assert after.returncode == 0 and "remembered" in after.stdout, after.stderr
    finally:
        holder.kill()
        holder.wait()


def test_status_json_and_failed_and_version(tmp_path, videos, capsys):
    env = cli_env(tmp_path / "data")
    (videos / "work" / "broken.mp4").write_bytes(b"\x00" * 64)
    assert vidseek_here(env, capsys, "index", str(videos / "work"))[0] == 0
    code, out, _ = vidseek_here(env, capsys, "status", "--json")
    status = json.loads(out)
    assert code == 0 and status["folders"] == [str(videos / "work")] and status["writer"] is None
    assert status["videos"] == {"indexed": 1, "failed": 1} and status["segments"]["frame"] >= 1
    [failed] = status["failed"]
    assert failed["path"] == str(videos / "work" / "broken.mp4")
    assert "not a readable video" in failed["error"]
    code, out, _ = vidseek_here(env, capsys, "status", "--failed")
    assert out == f"{failed['path']}: {failed['error']}\n"
    assert json.loads(vidseek_here(env, capsys, "status", "--failed", "--json")[1]) == [failed]
    with pytest.raises(SystemExit) as exited:
        vidseek_here(env, capsys, "--version")
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("vidseek 0.")


# --- a vanished mount keeps its videos; a removed video stays removed -----------------------
def test_a_folder_that_cannot_be_listed_or_looks_emptied_is_left_alone(tmp_path):
    assert listing_problem(str(tmp_path)) is None
    assert listing_problem(str(tmp_path / "nowhere")) == "is not there"
    (tmp_path / "file").write_bytes(b"")
    assert listing_problem(str(tmp_path / "file")) == "is not there"
    assert kept_warning("/mnt/nas", "holds no videos now", 3) == (
        "/mnt/nas holds no videos now but the library has 3 from it: not removing them; is it "
        "mounted? `vidseek folders remove /mnt/nas` forgets them")
    assert kept_warning("/mnt/nas", "is not there", 0) == (
        "/mnt/nas is not there: skipped; `vidseek folders remove /mnt/nas` forgets it")


def test_an_unmounted_mount_point_keeps_its_videos(unlabelled_lib, videos):
    lib = unlabelled_lib
    lib.index(videos / "holiday")
    lib.index(videos / "work")
    work, c = videos / "work", videos / "work" / "c.mp4"
    c_id = lib.find_video(str(c)).id
    # Unmounted: the mount point is there, empty but for what the OS leaves in it.
    work.rename(videos / "work-on-the-nas")
    work.mkdir()
    (work / ".nfs0001").write_bytes(b"x")
    (work / "readme.txt").write_text("mount the NAS here")
    emptied = (f"{work} holds no videos now but the library has 1 from it: not removing them; "
               f"is it mounted? `vidseek folders remove {work}` forgets them")
    outcome = lib.index_folders()
    assert outcome.skipped_folders == {str(work): emptied}
    assert outcome.report.removed == 0 and outcome.report.unchanged == 2  # holiday: scanned
    # Naming it changes nothing: an emptied mount looks the same when typed by hand (or cron).
    assert lib.index(work).skipped_folders == {str(work): emptied}
    for left in work.iterdir():
        left.unlink()
    work.rmdir()  # now not even the mount point is there
    assert lib.index_folders().skipped_folders == {str(work): emptied.replace(
        "holds no videos now", "is not there")}
    assert lib.find_video(str(c)).id == c_id and audit_library(lib.settings.data_dir).ok
    # Mounted again: nothing to do, nothing indexed twice.
    (videos / "work-on-the-nas").rename(work)
    back = lib.index_folders()
    assert back.skipped_folders == {} and back.report.indexed == [] and back.report.unchanged == 3
    # Emptied on purpose: the warning's command forgets them.
    c.unlink()
    assert lib.index_folders().skipped_folders == {str(work): emptied}
    assert lib.remove_folder(work).videos == 1 and lib.video_count() == 2
    # An empty folder the library holds nothing from is scanned as usual.
    lib.add_folder(work)
    assert lib.index_folders().skipped_folders == {}


def test_a_removed_video_stays_removed_until_it_is_indexed_by_name(unlabelled_lib, videos):
    lib = unlabelled_lib
    holiday, a = videos / "holiday", videos / "holiday" / "a.mp4"
    beach = holiday / "beach"
    lib.index(holiday)
    assert lib.remove(a).excluded == str(a)
    assert lib.remove(beach).excluded == str(beach)  # a folder inside a remembered one
    assert lib.excluded_paths() == [str(a), str(beach)]
    write_video(beach / "new.mp4", [Scene(1, BLUE)])  # a folder left out: new files too
    write_video(a, [Scene(1, GREEN), Scene(1, RED)])  # even rewritten
    for run in (lib.index_folders, lambda: lib.index(holiday)):
        report = run().report
        assert report.indexed == [] and report.failed == [] and report.removed == 0
        assert lib.video_count() == 0
    # Indexing the removed path by name takes it back in; re-adding a folder does too.
    assert lib.index(a).report.indexed == [str(a)]
    assert lib.excluded_paths() == [str(beach)]
    assert lib.add_folder(beach) == (str(beach), True) and lib.excluded_paths() == []
    assert sorted(lib.index_folders().report.indexed) == [str(beach / "b.mp4"),
                                                          str(beach / "new.mp4")]
    # Outside every remembered folder nothing brings a video back: nothing is excluded.
    write_video(videos / "loose.mp4", [Scene(1, RED)])
    lib.index(videos / "loose.mp4")
    assert lib.remove(videos / "loose.mp4").excluded is None and lib.excluded_paths() == []
    # Forgetting the folder forgets what was excluded under it: remembered again, it is whole.
    lib.remove(a)
    lib.remove_folder(beach)
    assert lib.excluded_paths() == [str(a)]
    lib.remove_folder(holiday)
    assert lib.excluded_paths() == [] and audit_library(lib.settings.data_dir).ok


def test_a_server_scan_follows_both_rules(tmp_path, videos, tiny_encoder):
    settings = make_settings(tmp_path / "data", label_after_index=False)
    reader = Library(settings, tiny_encoder)
    reader.index(videos / "holiday")
    reader.index(videos / "work")
    a, c = videos / "holiday" / "a.mp4", videos / "work" / "c.mp4"
    a_id = reader.find_video(str(a)).id
    client = create_app(library=reader).test_client()
    assert client.delete(f"/api/videos/{a_id}").get_json() == {"removed": a_id,
                                                              "excluded": str(a)}
    assert reader.excluded_paths() == [str(a)]
    c.unlink()  # work emptied, as an unmounted mount point looks
    jobs = Jobs(settings.data_dir, lambda: Library(settings, tiny_encoder))
    jobs.start()
    try:
        jobs.scan()
        jobs.index([str(a)])  # what a watcher's event for the file queues
        wait_for_idle(jobs)
    finally:
        jobs.stop(timeout=30)
    snapshot = jobs.snapshot()
    assert snapshot["done"]["scans"] == 1 and snapshot["done"]["frames"] == 0
    assert [(f["path"], f["step"], f["reason"]) for f in snapshot["failures"]] == [(
        str(videos / "work"), "scan",
        f"{videos / 'work'} holds no videos now but the library has 1 from it: not removing "
        f"them; is it mounted? `vidseek folders remove {videos / 'work'}` forgets them")]
    assert reader.find_video(str(c)) is not None and reader.store.video_by_path(str(a)) is None
    reader.close()


def wait_for_idle(jobs: Jobs, seconds: float = 60) -> None:
    """Wait until the worker has nothing queued or in hand."""
    deadline = time.monotonic() + seconds
    while not (jobs.snapshot()["state"] == "idle" and not jobs.queued()
               and jobs.snapshot()["current"] is None):
        assert time.monotonic() < deadline, f"jobs not idle within {seconds} s"
        time.sleep(0.05)


def test_cli_says_what_it_kept_and_what_it_left_out(tmp_path, videos, capsys):
    env = {**cli_env(tmp_path / "data"), "VIDSEEK_INDEX_OCR": "false",
           "VIDSEEK_INDEX_AUDIO": "false", "VIDSEEK_INDEX_FACES": "false",
           "VIDSEEK_LABEL_AFTER_INDEX": "false"}  # quicker
    holiday, a = videos / "holiday", videos / "holiday" / "a.mp4"
    assert vidseek_here(env, capsys, "index", str(holiday))[0] == 0
    code, out, _ = vidseek_here(env, capsys, "remove", str(a))
    assert code == 0 and out == (
        "removed 1 video(s) from the library (the files stay)\n"
        f"scans of {holiday} leave {a} out from now on; `vidseek index {a}` takes it back in\n")
    code, out, _ = vidseek_here(env, capsys, "folders", "list")
    assert out == (f"{holiday}\nremoved, left out of scans (`vidseek index PATH` takes one back "
                   f"in):\n  {a}\n")
    a.unlink()
    (holiday / "beach" / "b.mp4").unlink()
    code, out, err = vidseek_here(env, capsys, "index")
    assert code == 0 and "indexed 0 video(s)" in out and "0 removed" in out
    assert err.strip().endswith(
        f"warning: {holiday} holds no videos now but the library has 1 from it: not removing "
        f"them; is it mounted? `vidseek folders remove {holiday}` forgets them")
