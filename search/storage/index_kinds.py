"""Which FAISS index holds a modality's base, and what a vector of it costs in memory.

A small collection is searched exactly (float16, every vector scanned): nothing to train or
tune, and fast enough while small. Past EXACT_LIMIT, vectors that run in shots get an index by
shot (search/storage/shots.py); others an inverted file, over float16 codes when they fit the
memory setting, else over 4-bit product codes scanned by SIMD lookups (FAISS fast-scan) whose
candidates are re-scored exactly from a float16 copy on disk, so only the codes stay in
memory. The kind is a string (`exact`, `ivfN,sq16`, `ivfN,pqMx4fs`, `shots,pqMx4fs`) saved
with the index. Figures: bench/scale.py, docs/benchmarks.md."""

from __future__ import annotations

import math

import faiss

from vidseek.core.settings import IndexBudget

# Exact search scans every float16 vector for every query, so its cost grows with every vector
# (`python -m bench.exact_scan`); a query's budget is mostly the text encoder's, so a modality is
# searched exactly only while small.
EXACT_LIMIT = 20_000
PQ_SUBQUANTIZERS_PER_DIM = 1 / 8  # product codes: 64 of 4 bits at d=512 (32 bytes)


def choose_kind(count: int, dim: int, budget: IndexBudget) -> str:
    """The index kind for `count` vectors: exact while small and within memory, else an
    inverted file of ~4·sqrt(count) lists (a power of two) over float16 codes if they fit
    the memory budget, else over 4-bit product codes scanned by SIMD lookups (fast-scan),
    re-scored from disk."""
    if count <= EXACT_LIMIT and count * dim * 2 <= budget.memory_bytes:
        return "exact"
    nlist = 2 ** round(math.log2(4 * math.sqrt(max(count, 1))))
    if count * (dim * 2 + 8) <= budget.memory_bytes:
        return f"ivf{nlist},sq16"
    return f"ivf{nlist},{product_codes(dim)}"


def product_codes(dim: int) -> str:
    """4-bit product codes of `dim`-dimensional vectors, scanned by SIMD lookups (fast-scan)."""
    return f"pq{max(2, round(dim * PQ_SUBQUANTIZERS_PER_DIM))}x4fs"


def bytes_per_vector(kind: str, dim: int, per_list: float = 1.0) -> int:
    """Memory a vector of this kind takes in a serving process (codes + id); for shots, a
    shot's codes and where it starts shared by the `per_list` vectors of a shot on average."""
    if kind == "exact":
        return dim * 2 + 8
    lists, codes = kind.split(",")
    if codes == "sq16":
        return 8 + dim * 2
    # pqM: M bytes (indexes built before fast-scan); pqMx4fs: M half-bytes.
    subquantizers, _, bits = codes[2:].partition("x")
    code = int(subquantizers) * (4 if bits else 8) // 8
    return 8 + (math.ceil((code + 8) / per_list) if lists == "shots" else code)


def new_faiss_index(kind: str, dim: int) -> faiss.Index:
    """An empty FAISS index of `kind` over inner products (an inverted file untrained)."""
    if kind == "exact":
        return faiss.IndexIDMap2(faiss.IndexScalarQuantizer(
            dim, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT))
    lists, codes = kind.split(",")
    if lists == "shots":  # the shots' centroids, searched whole through their product codes
        return faiss.index_factory(dim, "PQ" + codes[2:], faiss.METRIC_INNER_PRODUCT)
    factory = f"IVF{lists[3:]},{'SQfp16' if codes == 'sq16' else 'PQ' + codes[2:]}"
    return faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)


def shot_kind(dim: int) -> str:
    """The kind of an index by shot: its centroids in product codes."""
    return f"shots,{product_codes(dim)}"

