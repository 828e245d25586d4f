"""substring search over text whose words are not set apart by spaces: on-screen text and
scripts written without them (Chinese, Japanese, Korean, Thai...)

Revision ID: 0008
Revises: 0007

OCR runs words together (`1024x76825fpsPhotoJPEG75%`) and Chinese puts no space between words,
so the word index (0002, 0006) holds each run as one token and finds it only whole. These rows
get a second index that finds any part of a run:

SQLite: `substring_fts`, an FTS5 table with the `trigram` tokenizer (SQLite 3.34 or later),
contentless, with `substring_fts_vocab` beside it to list its trigrams (a term of one or two
characters, such as most Chinese words, is found through the trigrams it begins). Each text is
indexed with two spaces after it, so every character of it begins a trigram. Triggers keep it in
step with `segments`, as they do the word index, and existing rows are indexed here.
PostgreSQL: a pg_trgm GIN index on the same rows, which serves ILIKE '%term%'.

The rows and the characters (search/queries/keyword.py SPACELESS_RANGES) are frozen here as they were
when this migration was written; the PostgreSQL predicate must match search/queries/keyword.py's query
word for word, or the index goes unused.
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

TEXT = "('speech', 'ocr', 'subtitles')"
SPACELESS_RANGES = ((0x0E00, 0x0EFF), (0x1000, 0x109F), (0x1780, 0x17FF), (0x2E80, 0x9FFF),
                    (0xAC00, 0xD7AF), (0xF900, 0xFAFF))
CHARACTERS = "[" + "".join(f"{chr(a)}-{chr(b)}" for a, b in SPACELESS_RANGES) + "]"
PAD = "'  '"


def _spaceless(row: str, dialect: str) -> str:
    holds = (f"{row}text GLOB '*{CHARACTERS}*'" if dialect == "sqlite"
             else f"{row}text ~ '{CHARACTERS}'")
    return (f"{row}modality IN {TEXT} AND {row}text IS NOT NULL "
            f"AND ({row}modality = 'ocr' OR {holds})")


def _sqlite_up() -> list[str]:
    def when(row: str) -> str:
        return _spaceless(row, "sqlite")

    return [
        "CREATE VIRTUAL TABLE substring_fts USING fts5(text, content='', tokenize='trigram')",
        "CREATE VIRTUAL TABLE substring_fts_vocab USING fts5vocab(substring_fts, 'row')",
        f"""CREATE TRIGGER substring_fts_insert AFTER INSERT ON segments
            WHEN {when("new.")}
            BEGIN
                INSERT INTO substring_fts(rowid, text) VALUES (new.id, new.text || {PAD});
            END""",
        # Contentless: a row is deleted by giving the index the text it was indexed with.
        f"""CREATE TRIGGER substring_fts_delete AFTER DELETE ON segments
            WHEN {when("old.")}
            BEGIN
                INSERT INTO substring_fts(substring_fts, rowid, text)
                VALUES ('delete', old.id, old.text || {PAD});
            END""",
        f"""CREATE TRIGGER substring_fts_update AFTER UPDATE OF modality, text ON segments
            BEGIN
                INSERT INTO substring_fts(substring_fts, rowid, text)
                SELECT 'delete', old.id, old.text || {PAD} WHERE {when("old.")};
                INSERT INTO substring_fts(rowid, text)
                SELECT new.id, new.text || {PAD} WHERE {when("new.")};
            END""",
        f"INSERT INTO substring_fts(rowid, text) SELECT id, text || {PAD} FROM segments "
        f"WHERE {when('')}",
    ]


SQLITE_DOWN = [
    "DROP TRIGGER substring_fts_update",
    "DROP TRIGGER substring_fts_delete",
    "DROP TRIGGER substring_fts_insert",
    "DROP TABLE substring_fts_vocab",
    "DROP TABLE substring_fts",
]


def _postgres_up() -> list[str]:
    # pg_trgm is a trusted extension (PostgreSQL 13+): the database's owner may create it.
    return [
        "CREATE EXTENSION IF NOT EXISTS pg_trgm",
        "CREATE INDEX ix_segments_text_trgm ON segments USING gin (text gin_trgm_ops) "
        f"WHERE {_spaceless('', 'postgresql')}",
    ]


# The extension stays: other objects of the database may have come to use it.
POSTGRES_DOWN = ["DROP INDEX ix_segments_text_trgm"]


def _statements(up: bool) -> list[str]:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        return _sqlite_up() if up else SQLITE_DOWN
    if dialect == "postgresql":
        return _postgres_up() if up else POSTGRES_DOWN
    return []


def upgrade() -> None:
    for statement in _statements(up=True):
        op.execute(statement)


def downgrade() -> None:
    for statement in _statements(up=False):
        op.execute(statement)
