"""The schema comes only from Alembic, and the SQLAlchemy models never drift from it."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from vidseek.search.keyword import is_full_text_object
from vidseek.search.schema import Base
from vidseek.search.store import Store, migrate


def test_migration_creates_the_schema_from_empty(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    migrate(engine)
    tables = set(inspect(engine).get_table_names())
    assert {"videos", "segments", "thumbnails", "index_state", "alembic_version"} <= tables


def test_models_match_the_migrated_schema(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'lib.db'}", tmp_path / "faiss")

    def include(obj, name, type_, reflected, compare_to):
        return not is_full_text_object(name)

    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_object": include})
        assert compare_metadata(ctx, Base.metadata) == []


def test_migrating_twice_is_harmless(tmp_path):
    url = f"sqlite:///{tmp_path / 'lib.db'}"
    Store(url, tmp_path / "faiss").set_state(clip_model="x")
    assert Store(url, tmp_path / "faiss").state() == {"clip_model": "x"}
