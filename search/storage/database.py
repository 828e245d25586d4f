"""The SQL database: an engine for a URL (SQLite by default, any SQLAlchemy URL such as
PostgreSQL), and its schema brought to the newest Alembic revision."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Engine

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision, all of it or nothing."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        # Up to date (every open but the first): no write lock taken.
        head = ScriptDirectory.from_config(cfg).get_current_head()
        if MigrationContext.configure(connection).get_current_revision() == head:
            return
        connection.commit()
        if sqlite:
            # SQLite's way to change a table (https://sqlite.org/lang_altertable.html): foreign
            # keys off, or dropping the old copy of a table cascades into the rows that
            # reference it. The pragma only takes effect outside a transaction.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        with connection.begin():
            if sqlite:
                # The driver would leave DDL outside any transaction; a kill mid-migration
                # must leave the old schema, and a second process waits, then finds it done.
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, "head")
            if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first():
                raise RuntimeError("the migration broke a foreign key; nothing was changed")
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")
            connection.commit()


def make_engine(url: str) -> Engine:
    """An engine for `url`; a SQLite file gets its folder, foreign keys and WAL."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    sqlite = url.startswith("sqlite")
    # A pool as large as the web server's thread count: a thread never waits for, or opens, a
    # connection (each SQLite connect also runs the pragmas below).
    engine = create_engine(url, pool_size=16, max_overflow=16) if sqlite else create_engine(url)
    if sqlite:
        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):
            cur = dbapi_connection.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")  # the server reads while the indexer writes
            cur.execute("PRAGMA busy_timeout=10000")
            cur.close()
    return engine
