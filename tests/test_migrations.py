"""The schema comes only from Alembic, and the SQLAlchemy models never drift from it."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from tests.conftest import INDEX_BUDGET, library_at_revision
from vidseek.search.queries.keyword import is_full_text_object, keyword_index_for
from vidseek.search.storage.database import migrate
from vidseek.search.storage.schema import Base
from vidseek.search.storage.store import Store


def test_migration_creates_the_schema_from_empty(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    migrate(engine)
    tables = set(inspect(engine).get_table_names())
    assert {"videos", "segments", "thumbnails", "index_state", "alembic_version"} <= tables


def test_models_match_the_migrated_schema(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'lib.db'}", tmp_path / "faiss", INDEX_BUDGET)

    def include(obj, name, type_, reflected, compare_to):
        return not is_full_text_object(name)

    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_object": include})
        assert compare_metadata(ctx, Base.metadata) == []


def test_migrating_twice_is_harmless(tmp_path):
    url = f"sqlite:///{tmp_path / 'lib.db'}"
    Store(url, tmp_path / "faiss", INDEX_BUDGET).set_state(clip_model="x")
    assert Store(url, tmp_path / "faiss", INDEX_BUDGET).state() == {"clip_model": "x"}


def test_upgrading_keeps_every_row_and_then_never_reuses_an_id(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    library_at_revision(  # a library made before ids were kept
        url, "0004",
        "INSERT INTO videos (id, path, size, mtime_ns, status) VALUES "
        "(1, '/a.mp4', 1, 1, 'indexed'), (2, '/b.mp4', 1, 1, 'indexed')",
        "INSERT INTO segments (id, video_id, modality, t0, t1, text, vector) VALUES "
        "(1, 1, 'frame', 0, 1, NULL, x'00'), (2, 1, 'speech', 0, 4, 'a lighthouse', x'00'), "
        "(3, 2, 'frame', 0, 1, NULL, x'00')",
        "INSERT INTO thumbnails (segment_id, jpeg) VALUES (1, x'ff'), (3, x'ff')")
    store = Store(url, tmp_path / "faiss", INDEX_BUDGET)  # migrates to the newest revision
    assert store.segment_count() == 3 and store.video_count() == 2
    assert store.thumbnail(1) == b"\xff" and store.thumbnail(3) == b"\xff"
    assert [m.segment_id for m in keyword_index_for(store.engine).search("lighthouse", 5)] == [2]
    store.remove_videos(["/b.mp4"])  # video 2 and segment 3, the newest of each
    with store.engine.begin() as connection:
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        connection.execute(text("INSERT INTO videos (path, size, mtime_ns, status) "
                                "VALUES ('/c.mp4', 1, 1, 'pending')"))
        connection.execute(text("INSERT INTO segments (video_id, modality, t0, t1, vector) "
                                "VALUES (1, 'frame', 1, 2, x'00')"))
        assert connection.execute(text("SELECT max(id) FROM videos")).scalar() == 3
        assert connection.execute(text("SELECT max(id) FROM segments")).scalar() == 4
    assert store.generations() == {"frame": 1}  # the removal counted; the raw insert did not
    store.close()
