"""What an exact scan costs: one query (k=100, as fusion asks) against every float16 vector of
an index's exact part, on one thread, at several sizes. search/storage/vectors.py keeps a modality
exact only up to EXACT_LIMIT vectors, and folds the exact delta into the base by MERGE_MAX at
the latest, because this cost grows with every vector.

    python -m bench.exact_scan [--sizes 20000,100000,200000] [--queries 200]

The vectors are random unit vectors at d=512 (an exact scan's cost does not depend on where
they lie), added to a fresh VectorIndex (its exact delta, the same FAISS index as the exact
kind). Per size: median and p90 milliseconds a query, and the median per 100k vectors."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import faiss
import numpy as np

from vidseek.search.storage.places import Places
from vidseek.search.storage.vectors import EXACT_LIMIT, MERGE_MAX, VectorIndex

DIM, K = 512, 100


def unit_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    rows = rng.standard_normal((n, DIM), dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def scan_times(size: int, queries: np.ndarray, tmp: str) -> list[float]:
    """Milliseconds per query, one query at a time, over `size` vectors scanned exactly."""
    index = VectorIndex(tmp, "frame", DIM)
    rng = np.random.default_rng(size)
    ids = np.arange(1, size + 1, dtype=np.int64)
    for start in range(0, size, 50_000):
        chunk = ids[start:start + 50_000]
        places = Places.of(chunk, chunk // 1000, chunk % 1000, chunk % 1000 + 1)
        index.add(chunk, unit_rows(rng, len(chunk)), places)
    index.search(queries[:5], K)  # warm up
    times = []
    for q in queries:
        started = time.perf_counter()
        index.search(q[None], K)
        times.append((time.perf_counter() - started) * 1e3)
    return times


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default=f"{EXACT_LIMIT},100000,{MERGE_MAX}")
    p.add_argument("--queries", type=int, default=200)
    args = p.parse_args(argv)
    faiss.omp_set_num_threads(1)  # one query on one thread, as a server's request runs it
    queries = unit_rows(np.random.default_rng(0), args.queries)
    print(f"exact scan, d={DIM}, k={K}, 1 thread, {args.queries} queries one at a time "
          f"(EXACT_LIMIT {EXACT_LIMIT}, MERGE_MAX {MERGE_MAX})")
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            ms = scan_times(size, queries, tmp)
        median = statistics.median(ms)
        print(f"  {size:>8} vectors: median {median:6.2f} ms  p90 {np.percentile(ms, 90):6.2f} ms"
              f"  ({median * 100_000 / size:5.1f} ms per 100k)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
