"""Keyword (full-text) search over the text of every modality that carries words (transcript
chunks, on-screen text, subtitle cues: TEXT_MODALITIES), behind one small interface.

SQLite: the FTS5 table `transcript_fts` (migrations 0002 and 0006), ranked by BM25 with Porter
stemming.
PostgreSQL: a `tsvector` match over an expression index. Anything else: a LIKE scan, ranked
by how many query words a chunk contains. All three drop stop words and match any remaining
word, so "when does she mention the budget" finds chunks that say "budget"."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from itertools import combinations

from sqlalchemy import Connection, Engine, Select, func, inspect, or_, select, text
from sqlalchemy.orm import Session

from vidseek.search.records import TEXT_MODALITIES
from vidseek.search.schema import SegmentRow

FTS_TABLE = "transcript_fts"

# Words that would match nearly every chunk: left out of keyword queries (not of vector ones).
STOP_WORDS = frozenset("""
a about after all am an and any are as at be been before but by can could did do does doing
for from had has have he her here hers him his how i if in into is it its just me my no not
of on or our ours she so some than that the their them then there these they this those to
too up us was we were what when where which while who whom why will with would you your
""".split())


def query_terms(query: str) -> list[str]:
    """The words of a query worth matching: lower-cased, unique, stop words dropped (unless
    nothing else is left)."""
    words = re.findall(r"\w+", query.lower())
    kept = [w for w in words if w not in STOP_WORDS] or words
    return list(dict.fromkeys(kept))


FULL_TEXT_INDEX = "ix_segments_transcript_tsv"  # PostgreSQL's (migrations 0002 and 0006)


def is_full_text_object(name: str) -> bool:
    """True for the full-text tables and index that migrations 0002 and 0006 make and the SQLAlchemy
    models do not describe: SQLite's FTS5 table and its shadow tables, PostgreSQL's index (for
    a schema comparison's `include_object`)."""
    return name in (FTS_TABLE, FULL_TEXT_INDEX) or name.startswith(FTS_TABLE + "_")


@dataclass(frozen=True)
class KeywordMatch:
    segment_id: int
    score: float  # higher is better, 1.0 for the best match of the query


class KeywordIndex(ABC):
    """Full-text search over the segments that carry words; each database gives its best."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def search(self, query: str, limit: int, video_id: int | None = None) -> list[KeywordMatch]:
        """Segments with text (TEXT_MODALITIES) containing words of `query`, best first, scored
        0..1 relative to the best match (so weighted fusion sees the same range as cosines)."""
        terms = query_terms(query)
        if not terms:
            return []
        rows = self._ranked(terms, limit, video_id)
        top = max((score for _, score in rows), default=0.0) or 1.0
        return [KeywordMatch(int(i), float(score) / top) for i, score in rows]

    @abstractmethod
    def _ranked(self, terms: list[str], limit: int,
                video_id: int | None) -> list[tuple[int, float]]:
        """(segment id, raw score) of the best `limit` matches, best first."""


# FTS5 ranks a match with BM25 at about 1 µs a chunk, so a word said in many chunks is costly:
# in a 10M-segment library (1M transcript chunks) a query of common words matches 40-60k chunks
# and takes 60 ms. A word in more chunks than this is common (see Fts5KeywordIndex).
COMMON_WORD_CHUNKS = 1000


class Fts5KeywordIndex(KeywordIndex):
    """SQLite FTS5: BM25 ranking, Porter stemming ("mentioned" finds "mention").

    A query of several words, some of them common, ranks only the chunks that hold two of its
    words or one of its rare ones, when there are at least `limit` of those (else every match,
    as with a lone word): a chunk holding one common word alone is left out, as Lucene's
    common-terms query leaves it out. Those ranked get the same BM25 (over all the query's
    words) as when every match is ranked. On the scale bench's queries at 1M chunks the best
    100 were the same as ranking every match; `bench/keyword_speed.py` measures both."""

    def __init__(self, engine: Engine, common_word_chunks: int = COMMON_WORD_CHUNKS):
        super().__init__(engine)
        self.common_word_chunks = common_word_chunks

    def _ranked(self, terms: list[str], limit: int,
                video_id: int | None) -> list[tuple[int, float]]:
        # Each word quoted: FTS5 syntax in the user's text (AND, NEAR, *, ") stays literal.
        phrases = ['"' + t.replace('"', '""') + '"' for t in terms]
        with self.engine.connect() as conn:
            if video_id is None and len(phrases) > 1:
                ranked = self._ranked_where_words_meet(conn, phrases, limit)
                if ranked is not None:
                    return ranked
            return self._rank(conn, " OR ".join(phrases), limit, video_id)

    def _ranked_where_words_meet(self, conn: Connection, phrases: list[str],
                                 limit: int) -> list[tuple[int, float]] | None:
        """The best `limit` of the chunks holding two of the words or a rare one; None when
        no word is common or fewer than `limit` chunks qualify."""
        counts = conn.execute(text("SELECT " + ", ".join(
            f"(SELECT count(*) FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :p{i})"
            for i in range(len(phrases)))), {f"p{i}": p for i, p in enumerate(phrases)}).one()
        common = [p for p, n in zip(phrases, counts) if n > self.common_word_chunks]
        if not common:
            return None
        rare = [p for p in phrases if p not in common]
        if len(common) == 2 and not rare:
            # The chunks holding both words are the AND query's, and FTS5 ranks them with the
            # OR query's BM25 (each word counted in each chunk, as every chunk holds both). With
            # a third word or a rare one, a chunk matched by one branch of the narrowed query
            # would have the other branches' words left out of its score: those are filtered.
            ranked = self._rank(conn, f"{common[0]} AND {common[1]}", limit, None)
            return ranked if len(ranked) >= limit else None
        wanted = " OR ".join([f"({a} AND {b})" for a, b in combinations(common, 2)] + rare)
        ids = conn.execute(text(f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :m"),
                           {"m": wanted}).scalars().all()
        if len(ids) < limit:
            return None
        # Matched on every word, so BM25 counts each word once; `+rowid` keeps the list a
        # filter (a bare rowid constraint would make FTS5 run the query once per id).
        listed = ",".join(str(int(i)) for i in ids)
        return self._rank(conn, " OR ".join(phrases), limit, None, f"AND +rowid IN ({listed}) ")

    @staticmethod
    def _rank(conn: Connection, match: str, limit: int, video_id: int | None,
              among: str = "") -> list[tuple[int, float]]:
        # The index's rowid is the segment id: the segments table is read only to filter by
        # video (joining it for every match doubles the query's time).
        sql = (f"SELECT {FTS_TABLE}.rowid, -bm25({FTS_TABLE}) AS score FROM {FTS_TABLE} "
               + (f"JOIN segments s ON s.id = {FTS_TABLE}.rowid AND s.video_id = :video_id "
                  if video_id is not None else "")
               + f"WHERE {FTS_TABLE} MATCH :match {among}ORDER BY score DESC LIMIT :limit")
        rows = conn.execute(text(sql), {"match": match, "video_id": video_id, "limit": limit})
        return [(i, s) for i, s in rows]


class PostgresKeywordIndex(KeywordIndex):
    """PostgreSQL full-text search with the language-neutral `simple` configuration."""

    def _ranked(self, terms: list[str], limit: int,
                video_id: int | None) -> list[tuple[int, float]]:
        with Session(self.engine) as s:
            return [(i, sc) for i, sc in s.execute(self.query(terms, limit, video_id))]

    @staticmethod
    def query(terms: list[str], limit: int, video_id: int | None = None) -> Select:
        """The SQL of a search. Same expression and predicate as the migrations' index, so the
        index is used."""
        document = func.to_tsvector("simple", func.coalesce(SegmentRow.text, ""))
        wanted = func.to_tsquery("simple", " | ".join(terms))
        score = func.ts_rank(document, wanted)
        q = (select(SegmentRow.id, score)
             .where(SegmentRow.modality.in_(TEXT_MODALITIES), SegmentRow.text.is_not(None),
                    document.bool_op("@@")(wanted))
             .order_by(score.desc()).limit(limit))
        return q if video_id is None else q.where(SegmentRow.video_id == video_id)


class LikeKeywordIndex(KeywordIndex):
    """Any other database: a case-insensitive substring scan, fine for small libraries."""

    def _ranked(self, terms: list[str], limit: int,
                video_id: int | None) -> list[tuple[int, float]]:
        q = select(SegmentRow.id, SegmentRow.text).where(
            SegmentRow.modality.in_(TEXT_MODALITIES),
            or_(*[SegmentRow.text.ilike(f"%{_escape_like(t)}%", escape="\\") for t in terms]))
        if video_id is not None:
            q = q.where(SegmentRow.video_id == video_id)
        with Session(self.engine) as s:
            rows = s.execute(q).all()
        counted = [(i, sum(t in body.lower() for t in terms)) for i, body in rows]
        counted.sort(key=lambda r: (-r[1], r[0]))
        return counted[:limit]


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def keyword_index_for(engine: Engine) -> KeywordIndex:
    """The best keyword search the database offers."""
    if engine.dialect.name == "sqlite" and inspect(engine).has_table(FTS_TABLE):
        return Fts5KeywordIndex(engine)
    if engine.dialect.name == "postgresql":
        return PostgresKeywordIndex(engine)
    return LikeKeywordIndex(engine)
