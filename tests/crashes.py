"""Killing a real `vidseek index` and auditing what it leaves, read with sqlite3 and FAISS
directly (not through the Store it checks): does the database open, does every saved index hold
exactly SQL's segments with SQL's vectors, does every segment's stored vector find itself
first, did any process of the run outlive it. Used by tests/test_crash_safety.py and
bench/crash.py."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tests.media import Scene, write_video
from vidseek.search.storage.vectors import VectorIndex

# Float16 storage moves a score by up to ~1e-4 per vector: a near-duplicate frame (two shots of
# almost the same colour) may outscore a vector's own copy by that much. A stale vector misses
# by far more (its id then holds another shot: 0.5-0.995 with the tiny model).
TIE = 1e-3


def write_clip(path: Path, seed: int) -> None:
    """A 5 s clip of five one-second shots of random colours: five frame segments, each
    unlike the others (the tiny random model tells colours apart, not motion)."""
    rng = np.random.default_rng(seed)
    write_video(path, [Scene(1, tuple(int(c) for c in rng.integers(0, 256, 3))) for _ in range(5)])


@dataclass
class Audit:
    integrity: str  # PRAGMA integrity_check: "ok" when the database is sound
    segments: int = 0
    # modality -> (ids the saved file holds that SQL lacks, ids SQL holds that the file lacks)
    mismatches: dict[str, tuple[list[int], list[int]]] = field(default_factory=dict)
    stale: list[int] = field(default_factory=list)  # in the file, with another vector than SQL's
    not_first: list[int] = field(default_factory=list)  # own vector does not rank it first
    duplicates: int = 0  # segment rows repeating another (same video, modality and span)

    @property
    def ok(self) -> bool:
        return (self.integrity == "ok" and not self.mismatches and not self.stale
                and not self.not_first and not self.duplicates)


def audit_library(data_dir: Path) -> Audit:
    """Check the library under `data_dir` (vidseek.db and the saved indexes in faiss/)."""
    data_dir = Path(data_dir)
    with sqlite3.connect(data_dir / "vidseek.db", timeout=30) as db:
        audit = Audit(db.execute("PRAGMA integrity_check").fetchone()[0])
        if audit.integrity != "ok":
            return audit
        rows = db.execute("SELECT id, modality, vector FROM segments ORDER BY id").fetchall()
        audit.segments = len(rows)
        audit.duplicates = db.execute(
            "SELECT count(*) - count(DISTINCT video_id || '/' || modality || '/' || t0 || '/' || t1)"
            " FROM segments").fetchone()[0]
    for path in sorted((data_dir / "faiss").glob("*.delta.npz")):
        modality = path.name.split(".")[0]
        mine = [(i, v) for i, m, v in rows if m == modality]
        dim = len(rows[0][2]) // 2 if rows else 1
        _audit_index(audit, modality, VectorIndex.open(data_dir / "faiss", modality, dim), mine)
    return audit


def _audit_index(audit: Audit, modality: str, index: VectorIndex,
                 rows: list[tuple[int, bytes]]) -> None:
    sql_ids = np.array([i for i, _ in rows], dtype=np.int64)
    file_ids = index.ids()
    extra, missing = np.setdiff1d(file_ids, sql_ids), np.setdiff1d(sql_ids, file_ids)
    if len(extra) or len(missing):
        audit.mismatches[modality] = (extra.tolist(), missing.tolist())
    present = [(i, v) for i, v in rows if i in set(file_ids.tolist())]
    if not present:
        return
    ids = np.array([i for i, _ in present], dtype=np.int64)
    vectors = np.stack([np.frombuffer(v, dtype="<f2").astype(np.float32) for _, v in present])
    held = index.stored_vectors(ids)
    audit.stale += ids[np.abs(held - vectors).max(axis=1) > 1e-3].tolist()
    scores, found = index.search(vectors, min(10, len(index)))
    for i, row_scores, row_ids in zip(ids.tolist(), scores, found):
        if i not in row_ids[row_scores >= row_scores[0] - TIE]:
            audit.not_first.append(i)


def start_index(env: dict[str, str], root: Path) -> subprocess.Popen:
    """`vidseek index root` in a process group of its own (so its decoder workers can be found
    after it is killed)."""
    return subprocess.Popen([sys.executable, "-m", "vidseek", "index", str(root)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def kill_hard(proc: subprocess.Popen) -> bool:
    """`kill -9` the run (not its workers); False if it had already ended."""
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return True


def stray_processes(group: int) -> list[int]:
    """Live (not zombie) processes still in a killed run's process group."""
    strays = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # ended while we looked
            state, _ppid, pgrp = stat.rsplit(")", 1)[1].split()[:3]
            if int(pgrp) == group and state != "Z":
                strays.append(int(entry.name))
    return strays


def content_hashes(data_dir: Path) -> dict[str, str | None]:
    """Path -> content hash of the indexed videos (read while a run may be writing)."""
    try:
        with sqlite3.connect(Path(data_dir) / "vidseek.db", timeout=30) as db:
            return dict(db.execute("SELECT path, content_hash FROM videos WHERE status = 'indexed'"))
    except sqlite3.OperationalError:
        return {}  # the schema is still being created
