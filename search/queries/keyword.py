"""Keyword (full-text) search over the text of every modality that carries words (transcript
chunks, on-screen text, subtitle cues: TEXT_MODALITIES), behind one small interface.

A query's words (stop words dropped) are matched in three tiers, each ranked on its own and
all of it below the tier before:
1. chunks holding every word as a word;
2. on-screen text, and text in scripts written without spaces (Chinese, Japanese, Thai...),
   holding every word as a substring, case-insensitively: "photo jpeg" finds OCR's
   `1024x76825fpsPhotoJPEG75%`, "预算" finds "下个月的预算截止日期";
3. chunks holding some of the words, so "when does she mention the budget" finds chunks that
   say "budget".
A search stops at the tier that fills its limit. Only text whose words are not set apart by
spaces is searched by substring: elsewhere the word index splits words right, and a substring
would find "port" in "report".

Words are ranked by BM25; substring matches by the share of their text the terms cover.
SQLite: the FTS5 table `transcript_fts` (migrations 0002 and 0006), BM25 with Porter stemming,
and the FTS5 trigram table `substring_fts` (0008). PostgreSQL: a `tsvector` match over an
expression index, and ILIKE over a pg_trgm index (0008). Anything else: a LIKE scan, ranked by
how many query words a chunk contains."""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import combinations

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Float,
    Select,
    and_,
    cast,
    column,
    func,
    inspect,
    literal,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Session

from vidseek.core.records import TEXT_MODALITIES
from vidseek.search.storage.schema import SegmentRow

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
SUBSTRING_TABLE = "substring_fts"  # SQLite's trigram index (migration 0008)
SUBSTRING_INDEX = "ix_segments_text_trgm"  # PostgreSQL's (migration 0008)
# Scripts written without spaces between words: Thai, Lao, Myanmar, Khmer, CJK (ideographs,
# kana, CJK punctuation), Hangul syllables, CJK compatibility ideographs.
SPACELESS_RANGES = ((0x0E00, 0x0EFF), (0x1000, 0x109F), (0x1780, 0x17FF), (0x2E80, 0x9FFF),
                    (0xAC00, 0xD7AF), (0xF900, 0xFAFF))
SPACELESS_CHARACTERS = "[" + "".join(f"{chr(a)}-{chr(b)}" for a, b in SPACELESS_RANGES) + "]"
_SPACELESS = re.compile(SPACELESS_CHARACTERS)
# The rows migration 0008's PostgreSQL index covers, word for word (or the index goes unused).
SPACELESS_ROWS_SQL = ("modality IN ('speech', 'ocr', 'subtitles') AND text IS NOT NULL "
                      f"AND (modality = 'ocr' OR text ~ '{SPACELESS_CHARACTERS}')")
TRIGRAM = 3


def is_full_text_object(name: str) -> bool:
    """True for the full-text tables and indexes that migrations 0002, 0006 and 0008 make and
    the SQLAlchemy models do not describe: SQLite's FTS5 tables and their shadow tables,
    PostgreSQL's indexes (for a schema comparison's `include_object`)."""
    return (name in (FULL_TEXT_INDEX, SUBSTRING_INDEX)
            or name.startswith((FTS_TABLE, SUBSTRING_TABLE)))


def substring_terms(terms: list[str]) -> list[str]:
    """The terms matched as substrings: those of a trigram or more, and shorter ones in a
    script written without spaces (most Chinese words are two characters); a short Latin
    term ("tv") would be inside too many runs to mean anything, and is left to the words."""
    return [t for t in terms if len(t) >= TRIGRAM or _SPACELESS.search(t)]


def substring_ranking(terms: list[str], held: ColumnElement[bool], limit: int,
                      video_id: int | None) -> Select:
    """The best `limit` segments where `held` (they hold every term), by the share of their
    text the terms cover: longer terms, more of them, in shorter texts first. It costs about
    what finding those texts costs, where BM25 over the trigrams a short term begins costs
    that times their number (a common Chinese character pair begins thousands of them;
    bench/keyword_speed.py)."""
    body = func.lower(SegmentRow.text)
    covered = sum((func.length(body) - func.length(func.replace(body, t, "")) for t in terms),
                  start=literal(0))
    share = cast(covered, Float) / func.length(SegmentRow.text)
    q = select(SegmentRow.id, share).where(held).order_by(share.desc(), SegmentRow.id).limit(limit)
    return q if video_id is None else q.where(SegmentRow.video_id == video_id)


@dataclass(frozen=True)
class KeywordMatch:
    segment_id: int
    score: float  # higher is better, 1.0 for the best match of the query


class KeywordIndex(ABC):
    """Full-text search over the segments that carry words; each database gives its best."""

    def __init__(self, engine: Engine):
        self.engine = engine

    def search(self, query: str, limit: int, video_id: int | None = None) -> list[KeywordMatch]:
        """Segments with text (TEXT_MODALITIES) matching words of `query`, best first (tier by
        tier, see the module's docstring), scored 0..1 relative to the best match (so weighted
        fusion sees the same range as cosines); a later tier scores below the one before."""
        terms = query_terms(query)
        if not terms:
            return []
        matches: list[KeywordMatch] = []
        floor = 1.0
        for tier in self._tiers(terms, limit, video_id):
            taken = {m.segment_id for m in matches}
            rows = [(i, s) for i, s in tier if i not in taken][:limit - len(matches)]
            if rows:
                top = max(s for _, s in rows) or 1.0
                matches += [KeywordMatch(int(i), floor * float(s) / top) for i, s in rows]
                floor = matches[-1].score
            if len(matches) >= limit:
                break
        return matches

    @abstractmethod
    def _tiers(self, terms: list[str], limit: int,
               video_id: int | None) -> Iterator[list[tuple[int, float]]]:
        """Tier by tier, (segment id, raw score) of its best `limit` matches, best first (each
        tier's own, so that `limit` new ones are left after those of the tiers before)."""


# FTS5 ranks every match with BM25, so a word said in many chunks is costly at scale
# (bench/keyword_speed.py). A word in more chunks than this is common (see Fts5KeywordIndex).
COMMON_WORD_CHUNKS = 1000


def _phrase(term: str) -> str:
    # Quoted: FTS5 syntax in the user's text (AND, NEAR, *, ") stays literal.
    return '"' + term.replace('"', '""') + '"'


class Fts5KeywordIndex(KeywordIndex):
    """SQLite FTS5: BM25 ranking, Porter stemming ("mentioned" finds "mention"); substrings
    found through the trigram table.

    The chunks holding every word are FTS5's AND query, ranked directly. In the last tier, a
    query of several words, some of them common, ranks only the chunks that hold two of its
    words or one of its rare ones, when there are at least `limit` of those (else every match,
    as with a lone word): a chunk holding one common word alone is left out, as Lucene's
    common-terms query leaves it out. Those ranked get the same BM25 (over all the query's
    words) as when every match is ranked. On the scale bench's queries at 1M chunks the best
    100 were the same as ranking every match; `bench/keyword_speed.py` measures both."""

    def __init__(self, engine: Engine, common_word_chunks: int = COMMON_WORD_CHUNKS):
        super().__init__(engine)
        self.common_word_chunks = common_word_chunks

    def _tiers(self, terms: list[str], limit: int,
               video_id: int | None) -> Iterator[list[tuple[int, float]]]:
        phrases = [_phrase(t) for t in terms]
        with self.engine.connect() as conn:
            # Every chunk of the AND query holds every word: its BM25 is the OR query's.
            yield self._rank(conn, FTS_TABLE, " AND ".join(phrases), limit, video_id)
            substrings = substring_terms(terms)
            match = self._substring_match(conn, substrings)
            found = f"SELECT rowid FROM {SUBSTRING_TABLE} WHERE {SUBSTRING_TABLE} MATCH :match"
            # Most word queries hold no run: asked first, that saves building the ranking's SQL.
            if match and conn.execute(text(found + " LIMIT 1"), {"match": match}).first():
                held = SegmentRow.id.in_(
                    text(found).bindparams(match=match).columns(column("rowid")))
                yield [(i, sc) for i, sc in conn.execute(
                    substring_ranking(substrings, held, limit, video_id))]
            if len(phrases) > 1:
                yield self._ranked_any(conn, phrases, limit, video_id)

    @staticmethod
    def _substring_match(conn: Connection, terms: list[str]) -> str | None:
        """The trigram table's query for rows holding every term; None when one is held by
        none. A term shorter than a trigram is any of the trigrams it begins (each indexed
        text ends in two spaces, so every character of it begins one)."""
        parts = []
        for term in terms:
            if len(term) >= TRIGRAM:
                parts.append(_phrase(term))
                continue
            begun = conn.execute(text(f"SELECT term FROM {SUBSTRING_TABLE}_vocab "
                                      "WHERE term >= :term AND term < :after"),
                                 {"term": term, "after": term + chr(0x10FFFF)}).scalars().all()
            if not begun:
                return None
            parts.append("(" + " OR ".join(_phrase(t) for t in begun) + ")")
        return " AND ".join(parts) or None

    def _ranked_any(self, conn: Connection, phrases: list[str], limit: int,
                    video_id: int | None) -> list[tuple[int, float]]:
        """The best `limit` chunks holding any of the words."""
        if video_id is None:
            ranked = self._ranked_where_words_meet(conn, phrases, limit)
            if ranked is not None:
                return ranked
        return self._rank(conn, FTS_TABLE, " OR ".join(phrases), limit, video_id)

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
        wanted = " OR ".join([f"({a} AND {b})" for a, b in combinations(common, 2)] + rare)
        ids = conn.execute(text(f"SELECT rowid FROM {FTS_TABLE} WHERE {FTS_TABLE} MATCH :m"),
                           {"m": wanted}).scalars().all()
        if len(ids) < limit:
            return None
        # Matched on every word, so BM25 counts each word once; `+rowid` keeps the list a
        # filter (a bare rowid constraint would make FTS5 run the query once per id).
        listed = ",".join(str(int(i)) for i in ids)
        return self._rank(conn, FTS_TABLE, " OR ".join(phrases), limit, None,
                          f"AND +rowid IN ({listed}) ")

    @staticmethod
    def _rank(conn: Connection, table: str, match: str, limit: int, video_id: int | None,
              among: str = "") -> list[tuple[int, float]]:
        # The index's rowid is the segment id: the segments table is read only to filter by
        # video (joining it for every match doubles the query's time).
        sql = (f"SELECT {table}.rowid, -bm25({table}) AS score FROM {table} "
               + (f"JOIN segments s ON s.id = {table}.rowid AND s.video_id = :video_id "
                  if video_id is not None else "")
               + f"WHERE {table} MATCH :match {among}ORDER BY score DESC LIMIT :limit")
        rows = conn.execute(text(sql), {"match": match, "video_id": video_id, "limit": limit})
        return [(i, s) for i, s in rows]


class PostgresKeywordIndex(KeywordIndex):
    """PostgreSQL full-text search with the language-neutral `simple` configuration, and
    ILIKE through pg_trgm for substrings."""

    def _tiers(self, terms: list[str], limit: int,
               video_id: int | None) -> Iterator[list[tuple[int, float]]]:
        with Session(self.engine) as s:
            yield [(i, sc) for i, sc in s.execute(self.query(terms, limit, video_id, every=True))]
            substrings = substring_terms(terms)
            if substrings:
                yield [(i, sc) for i, sc in s.execute(
                    self.substring_query(substrings, limit, video_id))]
            if len(terms) > 1:
                yield [(i, sc) for i, sc in s.execute(self.query(terms, limit, video_id))]

    @staticmethod
    def query(terms: list[str], limit: int, video_id: int | None = None,
              every: bool = False) -> Select:
        """The SQL of a search for chunks holding any of the words (`every`: all of them).
        Same expression and predicate as the migrations' index, so the index is used."""
        document = func.to_tsvector("simple", func.coalesce(SegmentRow.text, ""))
        wanted = func.to_tsquery("simple", (" & " if every else " | ").join(terms))
        score = func.ts_rank(document, wanted)
        q = (select(SegmentRow.id, score)
             .where(SegmentRow.modality.in_(TEXT_MODALITIES), SegmentRow.text.is_not(None),
                    document.bool_op("@@")(wanted))
             .order_by(score.desc()).limit(limit))
        return q if video_id is None else q.where(SegmentRow.video_id == video_id)

    @staticmethod
    def substring_query(terms: list[str], limit: int, video_id: int | None = None) -> Select:
        """The SQL of a search for on-screen and spaceless-script text holding every term as a
        substring. Same predicate as migration 0008's pg_trgm index, so the index serves the
        ILIKEs."""
        held = and_(text(SPACELESS_ROWS_SQL),
                    *[SegmentRow.text.ilike(f"%{_escape_like(t)}%", escape="\\") for t in terms])
        return substring_ranking(terms, held, limit, video_id)


class LikeKeywordIndex(KeywordIndex):
    """Any other database: a case-insensitive substring scan, fine for small libraries."""

    def _tiers(self, terms: list[str], limit: int,
               video_id: int | None) -> Iterator[list[tuple[int, float]]]:
        q = select(SegmentRow.id, SegmentRow.text).where(
            SegmentRow.modality.in_(TEXT_MODALITIES),
            or_(*[SegmentRow.text.ilike(f"%{_escape_like(t)}%", escape="\\") for t in terms]))
        if video_id is not None:
            q = q.where(SegmentRow.video_id == video_id)
        with Session(self.engine) as s:
            rows = s.execute(q).all()
        counted = [(i, sum(t in body.lower() for t in terms)) for i, body in rows]
        counted.sort(key=lambda r: (-r[1], r[0]))
        yield counted[:limit]


def _escape_like(term: str) -> str:
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def keyword_index_for(engine: Engine) -> KeywordIndex:
    """The best keyword search the database offers."""
    if engine.dialect.name == "sqlite" and inspect(engine).has_table(FTS_TABLE):
        return Fts5KeywordIndex(engine)
    if engine.dialect.name == "postgresql":
        return PostgresKeywordIndex(engine)
    return LikeKeywordIndex(engine)
