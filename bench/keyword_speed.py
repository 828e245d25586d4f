"""Keyword search speed at archive scale (search/queries/keyword.py `Fts5KeywordIndex`): word queries
ranked over every chunk a query's words match against ranking only where the words meet, and
substring queries over on-screen text and Chinese.

    python -m bench.keyword_speed [--chunks 1000000] [--queries 100]

The tables are the migrations' own, filled by their triggers: the FTS5 word table over every
chunk, and the trigram table over the on-screen and Chinese ones. The transcript chunks are
25-word chunks drawn as bench/synthetic.py draws speech (Zipf over 5,000 words; the query
words among the moderately common ones, each in ~1.3% of chunks), so 1M chunks is the
transcript of a 10M-segment library. Beside them, a tenth as many on-screen texts (OCR's
runs: 3-6 capitalised words of their own 5,000-word vocabulary and a number, run together:
`1024x768KodakGrainFilm`) and a tenth as many Chinese transcript chunks (12 words of one to
three characters, no spaces).

Word queries, three sets: the scale bench's (2-5 common words), the same with one rare word
added (a word in ~0.02% of chunks), and the first two words of each (two common words). Per set
and way: median and p90 milliseconds, and how many of the best 100 the rule shares with ranking
every match (and whether their scores are the same).
Substring queries, three sets: two words of an on-screen run, lower case (`kodak film`); one
two-character Chinese word; four characters across two Chinese words. Per set: median and p90
milliseconds, and how often the text the query was cut from is among the best 100.
The tables are kept in --root and reused."""

from __future__ import annotations

import argparse
import re
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from sqlalchemy import create_engine, text

from bench.synthetic import ZIPF_CDF, queries, spoken_words
from vidseek.search.queries.keyword import FTS_TABLE, SUBSTRING_TABLE, Fts5KeywordIndex
from vidseek.search.storage.database import migrate

LIMIT = 100  # what search/queries/engine.py's ranking_depth asks for at the default k
# The most common Chinese characters sit in CJK Unified Ideographs; any 3,000 of them give
# words with the spread of trigrams real text has.
HAN = [chr(c) for c in range(0x4E00, 0x4E00 + 3000)]


def vocabulary(rng: np.random.Generator, size: int, make) -> list[str]:
    return list(dict.fromkeys(make() for _ in range(size * 2)))[:size]


def zipf_words(rng: np.random.Generator, words: list[str], n: int) -> list[str]:
    return [words[i % len(words)] for i in np.searchsorted(ZIPF_CDF, rng.random(n), side="right")]


def on_screen_run(rng: np.random.Generator, words: list[str]) -> str:
    """What OCR reads off a caption: capitalised words and numbers with no space between."""
    parts = [w.capitalize() for w in zipf_words(rng, words, int(rng.integers(3, 7)))]
    parts.insert(int(rng.integers(0, len(parts))), str(rng.choice(["1024x768", "25fps", "75%",
                                                                   "1080p", "v2.1", "2024"])))
    return "".join(parts)


def build(path: Path, chunks: int) -> None:
    """A library's schema (every migration) holding only text segments, its full-text tables
    filled by the migrations' triggers as the store fills them."""
    if path.exists():
        return
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    engine = create_engine(f"sqlite:///{partial}")
    migrate(engine)
    rng = np.random.default_rng(0)
    screen = vocabulary(rng, 5000, lambda: "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz"),
                                                              int(rng.integers(3, 9)))))
    chinese = vocabulary(rng, 5000, lambda: "".join(rng.choice(HAN, int(rng.integers(1, 4)))))
    rows = ([("speech", spoken_words(rng, 25)) for _ in range(chunks)]
            + [("ocr", on_screen_run(rng, screen)) for _ in range(chunks // 10)]
            + [("speech", "".join(zipf_words(rng, chinese, 12))) for _ in range(chunks // 10)])
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO videos (id, path, size, mtime_ns, status) "
                          "VALUES (1, '/bench.mp4', 1, 1, 'indexed')"))
        conn.execute(text("INSERT INTO segments (id, video_id, modality, t0, t1, text, vector) "
                          "VALUES (:i, 1, :m, 0, 1, :t, x'')"),
                     [{"i": i, "m": m, "t": t} for i, (m, t) in enumerate(rows, start=1)])
        for table in (FTS_TABLE, SUBSTRING_TABLE):
            conn.execute(text(f"INSERT INTO {table}({table}) VALUES ('optimize')"))
    engine.dispose()
    partial.rename(path)


def substring_queries(engine, chunks: int, n: int) -> dict[str, list[tuple[str, int]]]:
    """(query, id of the text it was cut from) for each substring set."""
    rng = np.random.default_rng(3)
    runs = rng.choice(np.arange(chunks + 1, chunks + chunks // 10 + 1), n, replace=False)
    said = rng.choice(np.arange(chunks + chunks // 10 + 1, chunks + 2 * (chunks // 10) + 1),
                      2 * n, replace=False)
    with engine.connect() as conn:
        texts = dict(conn.execute(text("SELECT id, text FROM segments WHERE id > :c"),
                                  {"c": chunks}).all())
    two_words = []
    for i in runs.tolist():
        words = sorted({w.lower() for w in re.findall(r"[A-Z][a-z]+", texts[i])})
        two_words.append((" ".join(rng.choice(words, min(2, len(words)), replace=False)), i))
    two_characters, four_characters = [], []
    for i in said[:n].tolist():
        at = int(rng.integers(0, len(texts[i]) - 2))
        two_characters.append((texts[i][at:at + 2], i))
    for i in said[n:].tolist():
        at = int(rng.integers(0, len(texts[i]) - 4))
        four_characters.append((texts[i][at:at + 4], i))
    return {"two words of an on-screen run": two_words,
            "a two-character Chinese word": two_characters,
            "four Chinese characters": four_characters}


def timed(index: Fts5KeywordIndex, query: str) -> tuple[float, dict[int, float]]:
    started = time.perf_counter()
    matches = index.search(query, LIMIT)
    return (time.perf_counter() - started) * 1e3, {m.segment_id: m.score for m in matches}


def report(name: str, ms: list[float]) -> None:
    print(f"  {name:<18} median {statistics.median(ms):6.1f} ms   "
          f"p90 {np.percentile(ms, 90):6.1f} ms")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chunks", type=int, default=1_000_000)
    p.add_argument("--queries", type=int, default=100)
    p.add_argument("--root", type=Path, default=Path(tempfile.gettempdir()) / "vidseek-scale")
    args = p.parse_args(argv)
    args.root.mkdir(parents=True, exist_ok=True)
    path = args.root / f"keyword-substring-{args.chunks}.db"
    started = time.monotonic()
    build(path, args.chunks)
    print(f"keyword speed: {args.chunks} transcript chunks, {args.chunks // 10} on-screen texts, "
          f"{args.chunks // 10} Chinese chunks ({time.monotonic() - started:.0f} s to open or "
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
            report(way, ms)
        ratio = (statistics.median(times["every match"])
                 / statistics.median(times["where words meet"]))
        print(f"  speed-up (medians) {ratio:.1f}x; best {LIMIT} shared: "
              f"mean {np.mean(shared):.3f}, min {min(shared):.2f}; "
              f"scores equal in {same_scores} of {len(batch)}")
    for name, batch in substring_queries(engine, args.chunks, args.queries).items():
        ms, found = [], 0
        for query, source in batch:
            t, best = timed(meeting, query)
            ms.append(t)
            found += source in best
        print(f"\n{name} ({len(batch)} queries, e.g. {batch[0][0]!r}):")
        report("words + substrings", ms)
        print(f"  the text it was cut from among the best {LIMIT}: {found} of {len(batch)}")
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
