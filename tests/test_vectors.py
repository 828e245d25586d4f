"""Vector indexes: kinds by size and memory, reconciliation with SQL ids, atomic saves."""

from dataclasses import replace

import numpy as np

from tests.conftest import INDEX_BUDGET
from vidseek.search.storage.index_kinds import EXACT_LIMIT, bytes_per_vector, choose_kind
from vidseek.search.storage.places import Places
from vidseek.search.storage.vectors import VectorIndex


def unit(n, dim=16, seed=0):
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def fetcher(vectors):
    """Vectors and places of ids 1..n (video = id // 100, one second each), as the store's."""
    def fetch(ids):
        ids = np.asarray(ids)
        return vectors[ids - 1], Places.of(ids, ids // 100, ids.astype(float), ids + 1.0)
    return fetch


def test_kind_follows_size_and_memory():
    small = replace(INDEX_BUDGET, memory_bytes=512 * 2**20)
    large = replace(INDEX_BUDGET, memory_bytes=4 * 2**30)
    assert choose_kind(0, 512, small) == choose_kind(EXACT_LIMIT, 512, small) == "exact"
    assert choose_kind(1_000_000, 512, large) == "ivf4096,sq16"  # 1 KB a vector fits 4 GB
    assert choose_kind(1_000_000, 512, small) == "ivf4096,pq64x4fs"  # it does not fit 512 MB
    assert choose_kind(4_000_000, 512, small) == "ivf8192,pq64x4fs"
    assert choose_kind(EXACT_LIMIT, 512, replace(INDEX_BUDGET, memory_bytes=2**20)).endswith(
        "pq64x4fs")
    assert bytes_per_vector("ivf4096,pq64x4fs", 512) == 8 + 32  # 64 codes of 4 bits, and the id
    assert bytes_per_vector("ivf4096,pq64", 512) == 8 + 64  # byte codes (indexes built before)


def test_large_collection_switches_to_ivf_and_still_finds_and_forgets(tmp_path):
    n = EXACT_LIMIT + 10_000
    vectors = unit(n)
    ids = np.arange(1, n + 1, dtype=np.int64)
    budget = replace(INDEX_BUDGET, memory_bytes=2**30)
    vi = VectorIndex(tmp_path, "frame", 16)
    vi.reconcile(ids, fetcher(vectors))
    assert vi.merge_due(budget)
    vi.merge(budget, fetcher(vectors))
    assert vi.kind.startswith("ivf") and len(vi) == n
    _, found = vi.search(vectors[:200], 1)
    assert (found[:, 0] == ids[:200]).mean() > 0.95  # a vector's own list is probed first
    reopened = VectorIndex.open(tmp_path, "frame", 16)
    assert reopened.kind == vi.kind and reopened.tuning == vi.tuning
    keep = ids[ids % 2 == 0]
    reopened.reconcile(keep, fetcher(vectors))
    assert np.array_equal(reopened.ids(), keep)
    _, found = reopened.search(vectors[:1], 5)
    assert 1 not in found


def test_shrinking_back_returns_to_exact(tmp_path):
    vectors = unit(EXACT_LIMIT + 1)
    ids = np.arange(1, len(vectors) + 1, dtype=np.int64)
    budget = INDEX_BUDGET
    vi = VectorIndex(tmp_path, "frame", 16)
    vi.reconcile(ids, fetcher(vectors))
    vi.merge(budget, fetcher(vectors))
    assert vi.kind.startswith("ivf")
    vi.reconcile(ids[:100], fetcher(vectors))
    vi.merge(budget, fetcher(vectors))
    assert vi.kind == "exact" and len(vi) == 100
    scores, found = vi.search(vectors[:3], 1)
    assert found[:, 0].tolist() == [1, 2, 3]
    np.testing.assert_allclose(scores[:, 0], 1.0, rtol=1e-3)  # stored as float16


def test_save_is_atomic_and_reopen_sees_the_same_ids(tmp_path):
    vectors = unit(10)
    ids = np.arange(1, 11)
    vi = VectorIndex(tmp_path, "x", 16)
    assert vi.kind == "exact"
    vi.add(ids, vectors, fetcher(vectors)(ids)[1])
    vi.save()
    assert [p.name for p in tmp_path.iterdir()] == ["x.delta.npz"]  # no temp file left behind
    assert VectorIndex.open(tmp_path, "x", 16).ids().tolist() == ids.tolist()
    # A file of another dimension is ignored (the store then rebuilds it from SQL).
    assert len(VectorIndex.open(tmp_path, "x", 32)) == 0


def test_an_exact_base_past_the_exact_limit_is_replaced_on_the_next_save(tmp_path, monkeypatch):
    """A base left exact by a version whose limit was higher is due a merge with no delta at
    all, and the merge makes it an inverted file holding the same ids."""
    vectors = unit(3_000)
    ids = np.arange(1, len(vectors) + 1, dtype=np.int64)
    budget = INDEX_BUDGET
    vi = VectorIndex(tmp_path, "frame", 16)
    vi.rebuild(fetcher(vectors)(ids)[1], fetcher(vectors), budget)
    assert vi.kind == "exact" and not vi.merge_due(budget)
    monkeypatch.setattr("vidseek.search.storage.index_kinds.EXACT_LIMIT", 2_000)
    assert vi.merge_due(budget)
    vi.merge(budget, fetcher(vectors))
    assert vi.kind.startswith("ivf") and np.array_equal(vi.ids(), ids)
    assert not vi.merge_due(budget)
