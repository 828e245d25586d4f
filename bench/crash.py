"""Random `kill -9` of `vidseek index` while a generated library is indexed and re-indexed,
then a report of what the kills left behind.

    python -m bench.crash [--kills 20] [--files 6] [--seed 0]

Each round changes the library the way a user does (the file whose segments hold the highest
ids is rewritten, so is another one; a file is added; now and then one is deleted), starts a
real `vidseek index` process and kills it with SIGKILL at a random moment: most kills land at a
random point after its first commit (over the time an unkilled run spends from its first
commit to its end), some between its first write to the database and its first commit (decoding
and embedding), the rest anywhere from the process start (model loading, migration).
After each kill it checks that the database opens and that no process of the run lives on, then
resumes (the same indexing, in this process, as `vidseek index` would) and audits the library
(tests/crashes.py): every saved index must hold exactly SQL's segments with SQL's vectors, and
each segment's stored vector must rank it first. The segments of each file are compared with a
reference library that indexed the same files without ever being killed: lost or duplicated
segments. A last resume runs the real command and reports its exit code."""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from tests.conftest import TINY_MODEL, make_settings
from tests.crashes import (
    audit_library,
    content_hashes,
    kill_hard,
    start_index,
    stray_processes,
    write_clip,
)
from vidseek.library import Library

# When kills land: (share, phase); each is timed at random within an unkilled run's phase.
PHASES = ((0.2, "start"), (0.3, "first write"), (0.5, "first commit"))


def cli_env(data_dir: Path) -> dict[str, str]:
    return {**os.environ, "VIDSEEK_DATA_DIR": str(data_dir), "VIDSEEK_CLIP_MODEL": TINY_MODEL,
            "VIDSEEK_ALLOW_DOWNLOAD": "false", "VIDSEEK_TRANSCRIBE": "false",
            "VIDSEEK_INDEX_AUDIO": "false", "VIDSEEK_THREADS": "1"}


def activity(data_dir: Path) -> tuple[int, int]:
    """(files marked pending, highest segment id): the first moves at a run's first write, the
    second at each commit of a video's segments."""
    with sqlite3.connect(data_dir / "vidseek.db", timeout=30) as db:
        pending = db.execute("SELECT count(*) FROM videos WHERE status = 'pending'").fetchone()
        top = db.execute("SELECT coalesce(max(id), 0) FROM segments").fetchone()
        return pending[0], top[0]


PENDING, TOP = 0, 1


def wait_for(run: subprocess.Popen, data: Path, which: int, before: tuple[int, int]) -> float:
    """Poll until activity()[which] moves from `before` or the run ends; returns when."""
    while run.poll() is None and activity(data)[which] == before[which]:
        time.sleep(0.005)
    return time.monotonic()


def segments_by_path(data_dir: Path) -> dict[str, Counter]:
    with sqlite3.connect(data_dir / "vidseek.db", timeout=30) as db:
        rows = db.execute("SELECT v.path, s.modality, s.t0, s.t1 FROM segments s "
                          "JOIN videos v ON v.id = s.video_id").fetchall()
    found: dict[str, Counter] = {}
    for path, modality, t0, t1 in rows:
        found.setdefault(path, Counter())[(modality, round(t0, 3), round(t1, 3))] += 1
    return found


def change_library(root: Path, data: Path, rng: random.Random, round_: int) -> None:
    """Rewrite the newest video (highest segment ids) and one other, add one, maybe delete one."""
    with sqlite3.connect(data / "vidseek.db") as db:
        newest = db.execute("SELECT v.path FROM videos v JOIN segments s ON s.video_id = v.id "
                            "GROUP BY v.id ORDER BY max(s.id) DESC LIMIT 1").fetchone()
    files = sorted(root.glob("*.mp4"))
    targets = {Path(newest[0])} if newest else set()
    targets.add(rng.choice(files))
    for i, path in enumerate(sorted(targets)):
        write_clip(path, seed=1000 * round_ + i)
    write_clip(root / f"r{round_:03d}.mp4", seed=1000 * round_ + 99)
    if rng.random() < 0.3 and len(files) > 3:
        (rng.choice([f for f in files if f not in targets])).unlink()


def timed_run(env: dict[str, str], root: Path, data: Path) -> dict[str, float]:
    """An unkilled run: how long each phase lasts, from the moment that starts it."""
    before, start = activity(data), time.monotonic()
    run = start_index(env, root)
    first_write = wait_for(run, data, PENDING, before)
    first_commit = wait_for(run, data, TOP, before)
    run.wait()
    end = time.monotonic()
    return {"start": end - start, "first write": first_commit - first_write,
            "first commit": end - first_commit}


def kill_at_random(env: dict[str, str], root: Path, data: Path, rng: random.Random,
                   phases: dict[str, float]) -> tuple[subprocess.Popen, bool, str, float]:
    """Start `vidseek index` and SIGKILL it at a random moment of a random phase: (the run,
    whether the kill landed before it ended, the phase, seconds into it)."""
    before = activity(data)
    phase = rng.choices([p for _, p in PHASES], [share for share, _ in PHASES])[0]
    run = start_index(env, root)
    started = time.monotonic()
    if phase == "first write":
        started = wait_for(run, data, PENDING, before)
    elif phase == "first commit":
        started = wait_for(run, data, TOP, before)
    moment = rng.uniform(0, phases[phase])
    time.sleep(max(0.0, started + moment - time.monotonic()))
    return run, kill_hard(run), phase, moment


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kills", type=int, default=20, help="kills that land before the run ends")
    p.add_argument("--files", type=int, default=6, help="files in the library at the start")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="vidseek-crash-"))
    try:
        run_rounds(work, rng, args.kills, args.files)
    finally:
        shutil.rmtree(work)


def run_rounds(work: Path, rng: random.Random, kills: int, files: int) -> None:
    """Build a library in `work`, kill `kills` runs over it, resume and audit each; print."""
    root, data, reference = work / "videos", work / "data", work / "reference"
    root.mkdir()
    for i in range(files):
        write_clip(root / f"f{i:03d}.mp4", seed=i)
    env, resumer_settings = cli_env(data), make_settings(data)
    first = Library(resumer_settings)
    first.indexer.index(root)
    first.close()
    change_library(root, data, rng, 0)
    phases = timed_run(env, root, data)
    print("an unkilled run of one round's changes: " + ", ".join(
        f"{s:.1f} s from its {phase}" for phase, s in phases.items()))
    ref = Library(make_settings(reference))
    totals = Counter()
    round_ = 0
    while totals["kills"] < kills and round_ < 3 * kills:
        round_ += 1
        change_library(root, data, rng, round_)
        run, killed, phase, moment = kill_at_random(env, root, data, rng, phases)
        totals["rounds"] += 1
        totals["kills"] += killed
        totals["ended before the kill"] += not killed
        time.sleep(2)  # time for decoder workers to notice their reader is gone
        totals["orphaned processes"] += len(stray_processes(run.pid))
        at_kill = audit_library(data)
        totals["corrupt databases (after the kill)"] += at_kill.integrity != "ok"
        totals["kills between a commit and the index save"] += bool(
            at_kill.mismatches or at_kill.stale)
        resumed = Library(resumer_settings)
        resumed.indexer.index(root)
        resumed.close()
        ref.indexer.index(root)
        ref.store.save_indexes()
        audit = audit_library(data)
        totals["corrupt databases (after resume)"] += audit.integrity != "ok"
        totals["index/SQL mismatches (modalities)"] += len(audit.mismatches)
        totals["stale vectors"] += len(audit.stale)
        totals["self-ranking failures"] += len(audit.not_first)
        mine, truth = segments_by_path(data), segments_by_path(reference)
        for path in set(mine) | set(truth):
            have, want = mine.get(path, Counter()), truth.get(path, Counter())
            totals["lost segments"] += sum((want - have).values())
            totals["duplicated segments"] += sum((have - want).values())
        totals["segments audited"] += audit.segments
        totals["temp files left behind"] += len(list((data / "faiss").glob("*.tmp")))
        print(f"round {round_:2d}: killed={killed} {moment:5.2f} s after its {phase:<12}, "
              f"{'behind SQL' if at_kill.mismatches or at_kill.stale else 'in step'} at the kill, "
              f"after resume {'ok' if audit.ok else audit}", flush=True)
    ref.close()
    last = subprocess.run([sys.executable, "-m", "vidseek", "index", str(root)], env=env,
                          capture_output=True, text=True, timeout=600)
    final = audit_library(data)
    print(f"\n{'what':<45} {'count':>7}")
    for key in ("rounds", "kills", "ended before the kill", "kills between a commit and the index save",
                "corrupt databases (after the kill)", "corrupt databases (after resume)",
                "index/SQL mismatches (modalities)", "stale vectors", "self-ranking failures",
                "lost segments", "duplicated segments", "orphaned processes",
                "temp files left behind", "segments audited"):
        print(f"{key:<45} {totals[key]:>7}")
    print(f"{'last resume by `vidseek index`: exit code':<45} {last.returncode:>7}")
    print(f"{'... then the audit':<45} {'ok' if final.ok else final!s:>7}")
    print(f"{'videos indexed at the end':<45} {len(content_hashes(data)):>7}")


if __name__ == "__main__":
    main()
