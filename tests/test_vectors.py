"""FAISS indexes: kinds by size, reconciliation with SQL ids, atomic saves."""

import os
import subprocess
import sys

import numpy as np

from vidseek.search.vectors import EXACT_LIMIT, VectorIndex, index_kind_for, saved_generation


def unit(n, dim=16, seed=0):
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_kind_follows_size():
    assert index_kind_for(0) == index_kind_for(EXACT_LIMIT) == "exact"
    assert index_kind_for(1_000_000) == "ivf4096"
    assert index_kind_for(4_000_000) == "ivf8192"


def test_large_collection_switches_to_ivf_and_still_finds_and_forgets(tmp_path, monkeypatch):
    monkeypatch.setattr("vidseek.search.vectors.EXACT_LIMIT", 20_000)  # keep the test small
    n = 30_000
    vectors = unit(n)
    ids = np.arange(1, n + 1, dtype=np.int64)
    vi = VectorIndex(tmp_path / "frame.faiss", 16)
    vi.reconcile(ids, lambda chunk: vectors[chunk - 1])
    assert vi.kind.startswith("ivf") and len(vi) == n
    _, found = vi.search(vectors[:200], 1)
    assert (found[:, 0] == ids[:200]).mean() > 0.95  # a vector's own list is probed first
    vi.save()
    reopened = VectorIndex.open(tmp_path / "frame.faiss", 16)
    assert reopened.kind == vi.kind
    keep = ids[ids % 2 == 0]
    reopened.reconcile(keep, lambda chunk: vectors[chunk - 1])
    assert np.array_equal(np.sort(reopened.ids()), keep)
    _, found = reopened.search(vectors[:1], 5)
    assert 1 not in found


def test_shrinking_back_returns_to_exact(tmp_path, monkeypatch):
    monkeypatch.setattr("vidseek.search.vectors.EXACT_LIMIT", 20_000)
    vectors = unit(20_001)
    ids = np.arange(1, len(vectors) + 1, dtype=np.int64)
    vi = VectorIndex(tmp_path / "a.faiss", 16)
    vi.reconcile(ids, lambda chunk: vectors[chunk - 1])
    vi.reconcile(ids[:100], lambda chunk: vectors[chunk - 1])
    assert vi.kind == "exact" and len(vi) == 100
    scores, found = vi.search(vectors[:3], 1)
    assert found[:, 0].tolist() == [1, 2, 3]
    np.testing.assert_allclose(scores[:, 0], 1.0, rtol=1e-3)  # stored as float16


def test_save_is_atomic_and_reopen_sees_the_same_ids(tmp_path):
    vectors = unit(10)
    vi = VectorIndex(tmp_path / "x.faiss", 16)
    assert vi.kind == "exact"
    vi.add(np.arange(10), vectors)
    vi.save()
    assert [p.name for p in tmp_path.iterdir()] == ["x.faiss"]  # no temp file left behind
    assert VectorIndex.open(tmp_path / "x.faiss", 16).ids().tolist() == list(range(10))
    # A file of another dimension is ignored (reconcile then rebuilds it from SQL).
    assert len(VectorIndex.open(tmp_path / "x.faiss", 32)) == 0


def test_a_save_clears_temp_files_of_killed_processes_only(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / f"x.faiss.{dead.pid}.tmp").write_bytes(b"half an index")
    (tmp_path / f"x.faiss.{os.getppid()}.tmp").write_bytes(b"a live process's save")
    vi = VectorIndex(tmp_path / "x.faiss", 16)
    vi.generation = 3
    vi.add(np.arange(2), unit(2))
    vi.save()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.faiss", f"x.faiss.{os.getppid()}.tmp"]
    assert saved_generation(tmp_path / "x.faiss") == 3
    reopened = VectorIndex.open(tmp_path / "x.faiss", 16)
    assert reopened.generation == 3 and reopened.ids().tolist() == [0, 1]


def test_a_file_without_a_generation_opens_at_none(tmp_path):
    vi = VectorIndex(tmp_path / "x.faiss", 16)
    vi.add(np.arange(2), unit(2))
    vi.save()  # no generation known: saved without a trailer, so it is never trusted
    assert saved_generation(tmp_path / "x.faiss") is None
    assert VectorIndex.open(tmp_path / "x.faiss", 16).generation is None
    assert saved_generation(tmp_path / "missing.faiss") is None
