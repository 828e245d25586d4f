"""full-text search over every modality that carries words; sidecar subtitle stamps and
per-video warnings

Revision ID: 0006
Revises: 0004

Migration 0002 indexed only `speech` text. On-screen text (`ocr`) and subtitle cues
(`subtitles`) are searched the same way, so the FTS5 triggers (SQLite) and the partial GIN
index (PostgreSQL) now take every modality in TEXT (vidseek/core/records.py TEXT_MODALITIES, frozen
here as it was when this migration was written: a later text modality brings its own
migration). `videos.subtitle_stamp` remembers the subtitle files beside a video, so adding or
editing one re-indexes that video's text only; `videos.warning` says what was ignored while
indexing it (a malformed subtitle file), for `vidseek status`.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

SPEECH = "('speech')"
TEXT = "('speech', 'ocr', 'subtitles')"


def _has_text(row: str, modalities: str) -> str:
    return f"{row}modality IN {modalities} AND {row}text IS NOT NULL"


def _sqlite(modalities: str) -> list[str]:
    return [
        "DROP TRIGGER transcript_fts_insert",
        "DROP TRIGGER transcript_fts_delete",
        "DROP TRIGGER transcript_fts_update",
        f"""CREATE TRIGGER transcript_fts_insert AFTER INSERT ON segments
            WHEN {_has_text("new.", modalities)}
            BEGIN
                INSERT INTO transcript_fts(rowid, text) VALUES (new.id, new.text);
            END""",
        f"""CREATE TRIGGER transcript_fts_delete AFTER DELETE ON segments
            WHEN {_has_text("old.", modalities)}
            BEGIN
                INSERT INTO transcript_fts(transcript_fts, rowid, text)
                VALUES ('delete', old.id, old.text);
            END""",
        f"""CREATE TRIGGER transcript_fts_update AFTER UPDATE OF modality, text ON segments
            BEGIN
                INSERT INTO transcript_fts(transcript_fts, rowid, text)
                SELECT 'delete', old.id, old.text
                WHERE {_has_text("old.", modalities)};
                INSERT INTO transcript_fts(rowid, text)
                SELECT new.id, new.text
                WHERE {_has_text("new.", modalities)};
            END""",
        # External content: clear the index and read the rows it should hold again.
        "INSERT INTO transcript_fts(transcript_fts) VALUES ('delete-all')",
        f"INSERT INTO transcript_fts(rowid, text) SELECT id, text FROM segments "
        f"WHERE {_has_text('', modalities)}",
    ]


def _postgres(modalities: str) -> list[str]:
    # The predicate must match search/queries/keyword.py's query, or the index goes unused.
    return [
        "DROP INDEX ix_segments_transcript_tsv",
        "CREATE INDEX ix_segments_transcript_tsv ON segments "
        "USING gin (to_tsvector('simple', coalesce(text, ''))) "
        f"WHERE {_has_text('', modalities)}",
    ]


def _full_text(modalities: str) -> None:
    dialect = op.get_bind().dialect.name
    statements = {"sqlite": _sqlite, "postgresql": _postgres}.get(dialect)
    for statement in statements(modalities) if statements else []:
        op.execute(statement)


def upgrade() -> None:
    with op.batch_alter_table("videos") as batch:
        batch.add_column(sa.Column("subtitle_stamp", sa.String(64), nullable=True))
        batch.add_column(sa.Column("warning", sa.Text(), nullable=True))
    _full_text(TEXT)


def downgrade() -> None:
    _full_text(SPEECH)
    with op.batch_alter_table("videos") as batch:
        batch.drop_column("warning")
        batch.drop_column("subtitle_stamp")
