"""The `vidseek` command as a user runs it: real processes, real files, Ctrl-C and kill -9
(marked slow); and, in this process, the same searches as the JSON API's with the same
answers."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import TINY_MODEL
from tests.media import BLUE, GREEN, RED, Scene, write_video
from tests.search_library import SOURCE_COLOURS
from vidseek.cli import main
from vidseek.search.storage.vectors import VectorIndex
from vidseek.web.app import create_app

COLOURS = [RED, GREEN, BLUE]
CLIPS = 20  # enough that a stop after the second committed video lands mid-run


def cli_env(data_dir) -> dict[str, str]:
    return {**os.environ, "VIDSEEK_DATA_DIR": str(data_dir),
            "VIDSEEK_CLIP_MODEL": TINY_MODEL, "VIDSEEK_ALLOW_DOWNLOAD": "false",
            "VIDSEEK_TRANSCRIBE": "false", "VIDSEEK_THREADS": "1",
            "VIDSEEK_EVIDENCE_Z": "0"}  # every hit counted, as on tests/search_library.py


@pytest.fixture
def env(tmp_path):
    return cli_env(tmp_path / "data")


def vidseek(env, *args, check=True):
    result = subprocess.run([sys.executable, "-m", "vidseek", *args], env=env,
                            capture_output=True, text=True, timeout=300)
    if check and result.returncode != 0:
        raise AssertionError(f"vidseek {args} exited {result.returncode}:\n{result.stderr}")
    return result


def vidseek_here(env, capsys, *args) -> tuple[int, str, str]:
    """`vidseek ARGS` run by cli.main in this process: the same command code without a process
    start (most of a run's time here), for steps whose process run another call already makes.
    Returns the exit code, stdout and stderr."""
    capsys.readouterr()
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            if name.startswith("VIDSEEK_"):
                mp.setenv(name, value)
        code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def make_library(root, n):
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        write_video(root / f"clip{i:02d}.mp4",
                    [Scene(1, COLOURS[i % 3]), Scene(1, COLOURS[(i + 1) % 3])])
    return root


def indexed_count(env) -> int:
    db = os.path.join(env["VIDSEEK_DATA_DIR"], "vidseek.db")
    if not os.path.exists(db):
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as c:
            return c.execute("select count(*) from videos where status='indexed'").fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # the schema is still being created


def sql_frame_ids(env) -> list[int]:
    with sqlite3.connect(os.path.join(env["VIDSEEK_DATA_DIR"], "vidseek.db")) as c:
        return [r[0] for r in c.execute("select id from segments where modality='frame' order by id")]


def faiss_file_ids(env) -> list[int]:
    """The frame ids the saved index files hold (read as they are, not reconciled)."""
    with sqlite3.connect(os.path.join(env["VIDSEEK_DATA_DIR"], "vidseek.db")) as c:
        dim = int(c.execute("select value from index_state where key='dim'").fetchone()[0])
    index = VectorIndex.open(Path(env["VIDSEEK_DATA_DIR"]) / "faiss", "frame", dim)
    assert index.generation >= 0, "no readable saved index"
    return index.ids().tolist()


@pytest.fixture(scope="module")
def first_index(tmp_path_factory) -> tuple[Path, Path, str]:
    """Two clips and a file that is not a video, indexed once by `vidseek index`: its folder
    of videos, its data folder and what it printed. The tests that go on from there (search,
    reindex, reembed) each work on a copy of the data folder, cheaper than indexing again."""
    tmp = tmp_path_factory.mktemp("first-index")
    root = make_library(tmp / "videos", 2)
    (root / "broken.mp4").write_bytes(b"\x00" * 100)
    out = vidseek(cli_env(tmp / "data"), "index", str(root)).stdout
    return root, tmp / "data", out


@pytest.fixture
def indexed(first_index, env) -> Path:
    """A copy of first_index's library as `env`'s data folder; returns the folder of videos."""
    root, data, _ = first_index
    shutil.copytree(data, env["VIDSEEK_DATA_DIR"])
    return root


@pytest.mark.slow  # runs real `vidseek` processes
def test_index_search_status_models(env, first_index, indexed, capsys):
    root, out = indexed, first_index[2]
    assert "indexed 2 video(s)" in out and "1 failed" in out
    assert "broken.mp4" in out

    hits = json.loads(vidseek(env, "search", "a red scene", "-k", "3", "--json").stdout)
    assert 1 <= len(hits) <= 3
    assert {h["path"] for h in hits} <= {str(root / "clip00.mp4"), str(root / "clip01.mp4")}
    assert all(0 <= h["t0"] < h["t1"] <= 2.1 for h in hits)
    # A moment has the API's shape (tests/test_web.py compares the two), less its links.
    assert all(set(h) == {"video_id", "title", "path", "t0", "t1", "score", "similarity",
                          "matched_by", "snippet", "labels", "analysing"} for h in hits)
    assert [h["title"] for h in hits] == [Path(h["path"]).name for h in hits]

    # The human view groups moments under their video, best video first.
    # (in this process: the command's process run is the one above, only the view differs)
    code, view, _ = vidseek_here(env, capsys, "search", "a red scene", "-k", "3")
    assert code == 0
    lines = view.splitlines()
    assert lines[0].strip() == f"1. {hits[0]['path']}"
    assert sum(line.strip().startswith(("1. ", "2. ")) for line in lines) == len(
        {h["path"] for h in hits})
    assert sum("score" in line for line in lines) == len(hits)

    status = vidseek(env, "status").stdout
    assert "2 indexed, 1 failed, 0 pending" in status
    assert "broken.mp4: not a readable video" in status

    models = vidseek(env, "models").stdout
    assert "vidseek-tiny/random" in models

    # A second run, in this process (the fixture's run is the command's process run).
    code, again, _ = vidseek_here(env, capsys, "index", str(root))
    assert code == 0 and "indexed 0 video(s)" in again and "3 unchanged" in again


@pytest.mark.slow  # runs real `vidseek` processes
def test_bad_input_gets_one_clear_line(env, tmp_path, first_index, capsys):
    empty = vidseek(env, "search", "   ", check=False)
    assert empty.returncode == 2 and empty.stderr.strip() == "error: the query is empty"
    # In this process: the same path through main(); the two process runs here show the line
    # is all a process prints.
    code, _, err = vidseek_here(env, capsys, "index", str(tmp_path / "nope"))
    assert code == 2 and "no such file or folder" in err
    no_weights = vidseek({**env, "VIDSEEK_CLIP_MODEL": "open_clip:ViT-B-32/laion2b_s34b_b79k"},
                         "index", str(first_index[0]), check=False)
    assert no_weights.returncode == 2
    assert "VIDSEEK_CLIP_CHECKPOINT" in no_weights.stderr
    assert "Traceback" not in no_weights.stderr


def run_until_some_indexed(env, root, sig):
    # A shell that runs us in the background (as CI may) ignores SIGINT, and children inherit
    # that; restore the default so the signal reaches vidseek as a Ctrl-C would.
    proc = subprocess.Popen([sys.executable, "-m", "vidseek", "index", str(root)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while indexed_count(env) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, err


@pytest.fixture(scope="module")
def many_clips(tmp_path_factory) -> Path:
    """The clips of the interrupted runs: only read, so the three runs share them."""
    return make_library(tmp_path_factory.mktemp("many-clips"), CLIPS)


@pytest.mark.slow  # runs real `vidseek` processes and kills them
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL],
                         ids=["ctrl-c", "kill", "kill-9"])
def test_interrupted_run_loses_nothing_and_resumes(env, many_clips, sig, capsys):
    root = many_clips
    code, err = run_until_some_indexed(env, root, sig)
    done = indexed_count(env)
    assert 2 <= done < CLIPS, f"the run should have been stopped part way: {err}"
    if sig in (signal.SIGINT, signal.SIGTERM):
        assert code == 130 and "everything indexed so far is saved" in err, err
        # Stopping cleanly saves the index: the file on disk already agrees with SQL.
        assert faiss_file_ids(env) == sql_frame_ids(env)
    else:
        assert code == -signal.SIGKILL
    status = vidseek(env, "status").stdout
    assert f"{done} indexed" in status
    # Resumed by the command's own code in this process: a process start costs more than the
    # rest of the run, and what resumes (cli.main's index, the library it opens) is the same.
    code, out, _ = vidseek_here(env, capsys, "index", str(root))
    assert code == 0
    assert f"indexed {CLIPS - done} video(s)" in out and f"{done} unchanged" in out
    assert indexed_count(env) == CLIPS
    assert faiss_file_ids(env) == sql_frame_ids(env)
    assert len(sql_frame_ids(env)) == 2 * CLIPS  # two scenes per clip, nothing twice


@pytest.mark.slow  # runs real `vidseek` processes
def test_reindex_command_rebuilds_from_stored_vectors(env, indexed):
    index_dir = Path(env["VIDSEEK_DATA_DIR"]) / "faiss"
    before = faiss_file_ids(env)
    probe = np.stack([vector_of(env, i) for i in before])
    for f in index_dir.iterdir():
        f.unlink()
    assert "frame 4 vectors" in vidseek(env, "reindex").stdout
    assert faiss_file_ids(env) == before
    rebuilt = VectorIndex.open(index_dir, "frame", probe.shape[1])
    assert rebuilt.stored_vectors(np.array(before)).tobytes() == probe.tobytes()


def vector_of(env, segment_id: int) -> np.ndarray:
    with sqlite3.connect(os.path.join(env["VIDSEEK_DATA_DIR"], "vidseek.db")) as c:
        blob = c.execute("select vector from segments where id=?", (segment_id,)).fetchone()[0]
    return np.frombuffer(blob, dtype="<f2").astype(np.float32)


@pytest.mark.slow  # runs real `vidseek` processes
def test_reembed_indexes_every_video_again_and_train_audio_says_why_it_cannot(env, indexed):
    before = len(sql_frame_ids(env))
    out = vidseek(env, "reindex", "--reembed").stdout
    assert f"re-embedded 2 video(s) with {TINY_MODEL}, 0 failed" in out
    assert len(sql_frame_ids(env)) == before and faiss_file_ids(env) == sql_frame_ids(env)
    no_sound = vidseek(env, "train-audio", check=False)
    assert no_sound.returncode == 2
    assert no_sound.stderr.startswith("error: the library holds no audio windows")


# --- in this process, on the shared search library: the CLI asks what the API asks -------

@pytest.fixture(scope="module")
def api(search_library):
    return create_app(library=search_library.library).test_client()


def on_library(lib, capsys, *args) -> tuple[int, str, str]:
    """`vidseek ARGS` on the search library, run by cli.main in this process: exit code,
    stdout and stderr."""
    capsys.readouterr()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VIDSEEK_EVIDENCE_Z", "0")  # every hit counted, as in the API's library
        code = main(["--data-dir", str(lib.library.settings.data_dir), "--model", TINY_MODEL,
                     *map(str, args)])
    out, err = capsys.readouterr()
    return code, out, err


def printed_json(lib, capsys, *args):
    code, out, err = on_library(lib, capsys, *args, "--json")
    assert code == 0, err
    return json.loads(out)


def without_links(moments: list[dict]) -> list[dict]:
    return [{k: v for k, v in m.items() if not k.endswith("_url")} for m in moments]


def spans(moments: list[dict]) -> list[tuple]:
    return [(m["video_id"], m["t0"], m["t1"]) for m in moments]


def test_search_pages_are_the_apis_slices_of_one_ranking(search_library, api, capsys):
    lib = search_library
    query = {"q": "a red scene", "min_score": -1, "k": 2}
    search = ["search", query["q"], "--min-score", -1, "-k"]
    sent = api.get("/api/search", query_string={**query, "page": 2}).get_json()["results"]
    second = printed_json(lib, capsys, *search, 2, "--page", 2)
    assert sent and second == without_links(sent)
    first = printed_json(lib, capsys, *search, 2)
    assert spans(first + second) == spans(printed_json(lib, capsys, *search, 4))
    code, view, _ = on_library(lib, capsys, *search, 2, "--page", 2)  # ranks go on from page 1
    assert code == 0 and [r for r in ("#1 ", "#2 ", "#3 ", "#4 ") if r in view] == ["#3 ", "#4 "]
    # A ranking goes 1000 moments deep, as the API's: a page past it is empty, not an error.
    assert printed_json(lib, capsys, *search, 10, "--page", 101) == []


def test_search_inside_one_video_is_the_apis(search_library, api, capsys):
    lib = search_library
    source = lib.video_id(lib.source)
    query = {"q": "a red scene", "min_score": -1, "k": 3}
    search = ["search", query["q"], "--min-score", -1, "-k", 3, "--video"]
    sent = api.get("/api/search", query_string={**query, "video": source}).get_json()["results"]
    assert sent and {m["video_id"] for m in sent} == {source}
    everywhere = api.get("/api/search", query_string=query).get_json()["results"]
    assert spans(everywhere) != spans(sent)  # so keeping to the video is seen
    for video in (source, lib.source):  # its id, or its path as the other verbs take it
        assert printed_json(lib, capsys, *search, video) == without_links(sent), video


def test_image_search_pages_are_the_apis(search_library, api, capsys, tmp_path):
    lib = search_library
    image = tmp_path / "green.png"
    Image.fromarray(np.full((96, 160, 3), SOURCE_COLOURS[1], np.uint8)).save(image)
    with open(image, "rb") as f:
        sent = api.post("/api/search/image", data={"image": (f, "green.png"), "k": 2,
                                                   "page": 2, "min_score": -1}).get_json()
    assert sent["results"]
    printed = printed_json(lib, capsys, "search", "--image", image, "-k", 2, "--page", 2,
                           "--min-score", -1)
    assert printed == without_links(sent["results"])


@pytest.mark.parametrize("args, given", [
    (["a red scene", "--image", "IMAGE"], "a text query and --image"),
    (["a red scene", "--like", "CLIP"], "a text query and --like"),
    (["--image", "IMAGE", "--like", "CLIP"], "--image and --like"),
])
def test_a_search_by_two_things_is_refused(search_library, capsys, tmp_path, args, given):
    lib = search_library
    image = tmp_path / "red.png"
    Image.fromarray(np.full((96, 160, 3), SOURCE_COLOURS[0], np.uint8)).save(image)
    args = [{"IMAGE": image, "CLIP": lib.clip}.get(a, a) for a in args]
    code, out, err = on_library(lib, capsys, "search", *args, "--json")
    assert (code, out) == (2, "")
    assert err == ("error: search by one thing: a text query, --image, --like or --face "
                   f"(got {given})\n")


def test_search_refuses_what_the_api_refuses(search_library, capsys):
    lib = search_library
    code, out, err = on_library(lib, capsys, "search", "--like", lib.clip, "--page", 2)
    assert (code, out) == (2, "") and err.startswith("error: --page applies to text and image")
    code, out, err = on_library(lib, capsys, "search", "a red scene", "--video", "/no/such.mp4")
    assert (code, out) == (2, "") and "/no/such.mp4 is not in the library" in err
    with pytest.raises(SystemExit) as refused:
        on_library(lib, capsys, "search", "a red scene", "--page", 0)
    assert refused.value.code == 2 and "must be 1 or more" in capsys.readouterr().err


def test_labels_json_is_the_apis_list_however_it_is_asked(search_library, api, capsys):
    lib = search_library
    code, out, err = on_library(lib, capsys, "labels", "add", "our boat", "red paint")
    assert code == 0 and "added 2 label(s): our boat, red paint" in out, err
    sent = api.get("/api/labels").get_json()["labels"]
    assert {"our boat", "red paint"} <= {label["name"] for label in sent}
    for args in (["labels"], ["labels", "list"], ["labels", "--json", "list"]):
        assert printed_json(lib, capsys, *args) == sent, args

    assert on_library(lib, capsys, "labels", "remove", "our boat")[0] == 0
    names = {label["name"] for label in printed_json(lib, capsys, "labels")}
    assert "our boat" not in names and "red paint" in names
