"""full-text search on transcript text (FTS5 on SQLite, a tsvector index on PostgreSQL)

Revision ID: 0002
Revises: 0001

On SQLite, `transcript_fts` is an FTS5 index over `segments.text` (external content: the text
is stored once, in `segments`). Triggers keep it in step with every insert, update and delete
of a speech segment, inside the writer's own transaction, so no code path can forget it.
Other databases need no schema: search/queries/keyword.py falls back to a LIKE scan.
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SPEECH = "modality = 'speech' AND text IS NOT NULL"

SQLITE_UP = [
    "CREATE VIRTUAL TABLE transcript_fts USING fts5(text, content='segments', "
    "content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')",
    """CREATE TRIGGER transcript_fts_insert AFTER INSERT ON segments
        WHEN new.modality = 'speech' AND new.text IS NOT NULL
        BEGIN
            INSERT INTO transcript_fts(rowid, text) VALUES (new.id, new.text);
        END""",
    """CREATE TRIGGER transcript_fts_delete AFTER DELETE ON segments
        WHEN old.modality = 'speech' AND old.text IS NOT NULL
        BEGIN
            INSERT INTO transcript_fts(transcript_fts, rowid, text)
            VALUES ('delete', old.id, old.text);
        END""",
    """CREATE TRIGGER transcript_fts_update AFTER UPDATE OF modality, text ON segments
        BEGIN
            INSERT INTO transcript_fts(transcript_fts, rowid, text)
            SELECT 'delete', old.id, old.text
            WHERE old.modality = 'speech' AND old.text IS NOT NULL;
            INSERT INTO transcript_fts(rowid, text)
            SELECT new.id, new.text WHERE new.modality = 'speech' AND new.text IS NOT NULL;
        END""",
    f"INSERT INTO transcript_fts(rowid, text) SELECT id, text FROM segments WHERE {SPEECH}",
]
SQLITE_DOWN = [
    "DROP TRIGGER transcript_fts_update",
    "DROP TRIGGER transcript_fts_delete",
    "DROP TRIGGER transcript_fts_insert",
    "DROP TABLE transcript_fts",
]
# The expression must match search/queries/keyword.py's query word for word, or the index goes unused.
POSTGRES_UP = [
    "CREATE INDEX ix_segments_transcript_tsv ON segments "
    f"USING gin (to_tsvector('simple', coalesce(text, ''))) WHERE {SPEECH}",
]
POSTGRES_DOWN = ["DROP INDEX ix_segments_transcript_tsv"]


def _statements(up: bool) -> list[str]:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        return SQLITE_UP if up else SQLITE_DOWN
    if dialect == "postgresql":
        return POSTGRES_UP if up else POSTGRES_DOWN
    return []


def upgrade() -> None:
    for statement in _statements(up=True):
        op.execute(statement)


def downgrade() -> None:
    for statement in _statements(up=False):
        op.execute(statement)
