"""Keyword search speed at archive scale: ranking every chunk a query's words match, against
ranking only where the words meet (search/keyword.py `Fts5KeywordIndex`), on one FTS5 table.

    python -m bench.keyword_speed [--chunks 1000000] [--queries 100]

The chunks are 25-word transcript chunks drawn as bench/synthetic.py draws speech (Zipf over
5,000 words; the query words among the moderately common ones, each in ~1.3% of chunks), so
1M chunks is the transcript of a 10M-segment library. Three sets of queries: the scale bench's
(2-5 common words), the same with one rare word added (a word in ~0.02% of chunks), and the
first two words of each (two common words: ranked by FTS5's AND query directly).
Per set and way: median and p90 milliseconds, and how many of the best 100 the rule shares
with ranking every match (and whether their scores are the same). The table is kept in --root
and reused."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from sqlalchemy import create_engine, text

from bench.synthetic import queries, spoken_words
from vidseek.search.keyword import FTS_TABLE, Fts5KeywordIndex, query_terms

LIMIT = 100  # what search/engine.py's ranking_depth asks for at the default k


def build(path: Path, chunks: int) -> None:
    if path.exists():
        return
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    engine = create_engine(f"sqlite:///{partial}")
    rng = np.random.default_rng(0)
    with engine.begin() as conn:
        conn.execute(text(f"CREATE VIRTUAL TABLE {FTS_TABLE} USING fts5(text, "
                          "tokenize='porter unicode61 remove_diacritics 2')"))
        conn.execute(text(f"INSERT INTO {FTS_TABLE}(rowid, text) VALUES (:i, :t)"),
                     [{"i": i, "t": spoken_words(rng, 25)} for i in range(1, chunks + 1)])
        conn.execute(text(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('optimize')"))
    engine.dispose()
    partial.rename(path)


def timed(index: Fts5KeywordIndex, query: str) -> tuple[float, dict[int, float]]:
    started = time.perf_counter()
    rows = index._ranked(query_terms(query), LIMIT, None)
    return (time.perf_counter() - started) * 1e3, dict(rows)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chunks", type=int, default=1_000_000)
    p.add_argument("--queries", type=int, default=100)
    p.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "vidseek-scale")
    args = p.parse_args(argv)
    args.root.mkdir(parents=True, exist_ok=True)
    path = args.root / f"keyword-{args.chunks}.db"
    started = time.monotonic()
    build(path, args.chunks)
    print(f"keyword speed: {args.chunks} chunks ({time.monotonic() - started:.0f} s to open or "
          f"build), best {LIMIT} of each query")
    engine = create_engine(f"sqlite:///{path}")
    every = Fts5KeywordIndex(engine, common_word_chunks=args.chunks)  # no word is common
    meeting = Fts5KeywordIndex(engine)
    rng = np.random.default_rng(2)
    common = queries(args.queries)
    sets = {"common words": common,
            "common words + a rare one": [f"{q} word{rng.integers(2500, 5000)}" for q in common],
            "two common words": [" ".join(q.split()[:2]) for q in common]}
    for name, batch in sets.items():
        times: dict[str, list[float]] = {"every match": [], "where words meet": []}
        shared, same_scores = [], 0
        for query in batch:
            t_every, best = timed(every, query)
            t_meet, kept = timed(meeting, query)
            times["every match"].append(t_every)
            times["where words meet"].append(t_meet)
            shared.append(len(best.keys() & kept.keys()) / max(len(best), 1))
            same_scores += all(abs(best[i] - s) < 1e-9 for i, s in kept.items() if i in best)
        print(f"\n{name} ({len(batch)} queries):")
        for way, ms in times.items():
            print(f"  {way:<18} median {statistics.median(ms):6.1f} ms   "
                  f"p90 {np.percentile(ms, 90):6.1f} ms")
        ratio = (statistics.median(times["every match"])
                 / statistics.median(times["where words meet"]))
        print(f"  speed-up (medians) {ratio:.1f}x; best {LIMIT} shared: "
              f"mean {np.mean(shared):.3f}, min {min(shared):.2f}; "
              f"scores equal in {same_scores} of {len(batch)}")
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
