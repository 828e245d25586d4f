"""The library on PostgreSQL instead of the embedded SQLite: the same schema from the same
migrations, and indexing, hybrid search (tsvector full text) and removal working on it."""

from __future__ import annotations

import numpy as np
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from tests.conftest import INDEX_BUDGET, TINY_MODEL, make_settings
from tests.media import BLUE, RED, Scene, place, speech, write_video
from tests.postgres import postgres_server, server_programs
from vidseek.core.records import Fingerprint, MediaInfo, Segment
from vidseek.library import Library
from vidseek.search.queries.keyword import (
    FULL_TEXT_INDEX,
    SUBSTRING_INDEX,
    PostgresKeywordIndex,
    is_full_text_object,
    keyword_index_for,
)
from vidseek.search.storage.schema import Base
from vidseek.search.storage.store import Store

pytestmark = pytest.mark.slow

SAID = [("meeting.mp4", 3.0, "We must finish the budget before the deadline."),
        ("story.mp4", 6.0, "My grandmother keeps an old saxophone under her bed.")]
TOLERANCE = 1.5  # seconds


@pytest.fixture(scope="module")
def postgres_url():
    bin_dir = server_programs()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server installed (as root, `make system-deps` installs it)")
    with postgres_server(bin_dir) as url:
        yield url


def test_the_migrations_build_the_models_schema(postgres_url, tmp_path):
    store = Store(postgres_url, tmp_path / "faiss", INDEX_BUDGET)
    def include(obj, name, type_, reflected, compare_to):
        return not is_full_text_object(name)

    with store.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"include_object": include})
        assert compare_metadata(ctx, Base.metadata) == []
        indexes = {i["name"] for i in store.engine.dialect.get_indexes(conn, "segments")}
    assert {FULL_TEXT_INDEX, SUBSTRING_INDEX} <= indexes
    Store(postgres_url, tmp_path / "faiss", INDEX_BUDGET).set_state(clip_model="x")  # migrating again: no-op
    store.engine.dispose()


def test_index_search_and_forget_on_postgresql(postgres_url, tmp_path, tiny_encoder):
    videos = tmp_path / "videos"
    videos.mkdir()
    write_video(videos / "meeting.mp4", [Scene(10, RED)], audio=place(10, [(3.0, speech(SAID[0][2]))]))
    write_video(videos / "story.mp4", [Scene(10, BLUE)], audio=place(10, [(6.0, speech(SAID[1][2]))]))
    settings = make_settings(tmp_path / "data", transcribe=True, database_url=postgres_url)
    lib = Library(settings, tiny_encoder)
    report = lib.indexer.index(videos)
    assert report.failed == [] and len(report.indexed) == 2
    by_name = {v.path.rsplit("/", 1)[-1]: v.id for v in lib.store.videos()}

    keywords = keyword_index_for(lib.store.engine)
    assert isinstance(keywords, PostgresKeywordIndex)
    [match] = keywords.search("saxophone", limit=10)
    assert lib.store.places("speech").find([match.segment_id]).video_ids.tolist() == [
        by_name["story.mp4"]]
    assert keywords.search("saxophone", 10, video_id=by_name["meeting.mp4"]) == []

    for name, offset, sentence in SAID:
        best = lib.engine.search_text(sentence.split()[4], lib.search_options())[0]
        assert best.video_id == by_name[name] and "keyword" in best.matched_by
        spoken = next(h for h in best.hits if "keyword" in h.matched_by)
        assert abs(spoken.t0 - offset) <= TOLERANCE
        assert sentence.split()[4].lower() in spoken.text.lower()

    # A server opened on the same database and index folder sees the same library.
    server = Library(settings, tiny_encoder)
    best = server.engine.search_text("saxophone", server.search_options())[0]
    assert server.store.video_path(best.video_id).endswith("story.mp4")

    (videos / "story.mp4").unlink()
    assert lib.indexer.index(videos).removed == 1
    assert keywords.search("saxophone", limit=10) == []
    assert {v.id for v in lib.store.videos()} == {by_name["meeting.mp4"]}
    server.close()
    lib.close()


def test_ids_are_never_reused_on_postgresql(postgres_url, tmp_path):
    """PostgreSQL's SERIAL sequences never hand out a value twice: migration 0005 has nothing
    to change there, and the generations count changes the same way as on SQLite."""
    store = Store(postgres_url, tmp_path / "faiss", INDEX_BUDGET)
    if store.dim is None:  # the database is shared with the tests above
        store.bind_model("clip_model", TINY_MODEL, 64)
    vector = np.zeros(store.dim, np.float32)
    vector[0] = 1.0
    info = MediaInfo(1.0, 1.0, 8, 8, False)
    before = store.generations().get("frame", 0)
    first = store.save_video("/newest.mp4", Fingerprint(1, 1), info, [Segment("frame", 0, 1, vector)])
    [segment] = store.video_segments(first)
    assert store.remove_videos(["/newest.mp4"]) == 1
    again = store.save_video("/newest.mp4", Fingerprint(2, 2), info, [Segment("frame", 0, 1, vector)])
    assert again > first and store.video_segments(again)[0].id > segment.id
    assert store.generations()["frame"] == before + 3
    store.close()


def test_labels_and_chapters_on_postgresql(postgres_url, tmp_path, tiny_encoder):
    from tests.test_labels import write_vocabulary

    videos = tmp_path / "videos"
    videos.mkdir()
    write_video(videos / "two.mp4", [Scene(3, RED), Scene(3, BLUE)])
    vocabulary = write_vocabulary(tmp_path / "vocabulary.toml", "red", "blue")
    lib = Library(make_settings(tmp_path / "data", database_url=postgres_url,
                                label_vocabulary=str(vocabulary), chapter_min_seconds=1.0), tiny_encoder)
    lib.indexer.index(videos)
    video_id = lib.store.video_by_path(str(videos / "two.mp4")).id
    assert lib.labels.update().videos >= 1
    chapters = lib.labels.chapters(video_id)
    assert chapters and chapters[0].t0 == 0 and chapters[-1].t1 >= 5.5
    report = lib.labels.add_example("first scene", video_id, 0.0, 3.0)
    assert report.examples == 1
    assert lib.labels.update().labels == 1
    assert {s.name for s in lib.labels.summaries()} == {"red", "blue", "first scene"}
    lib.labels.remove("first scene")
    assert "first scene" not in {name for *_, name, _ in lib.labels.db.moment_labels([video_id])}
    lib.close()


def test_on_screen_text_and_subtitles_are_full_text_searched_through_the_index(postgres_url,
                                                                               tmp_path, tiny_encoder):
    videos = tmp_path / "videos"
    videos.mkdir()
    write_video(videos / "otters.mp4", [Scene(6, BLUE)])
    (videos / "otters.srt").write_text("1\n00:00:01,000 --> 00:00:03,000\nThe otter juggles pebbles\n")
    lib = Library(make_settings(tmp_path / "data", database_url=postgres_url), tiny_encoder)
    assert lib.indexer.index(videos).failed == []
    [match] = keyword_index_for(lib.store.engine).search("pebbles", limit=10)
    assert lib.store.places("subtitles").find([match.segment_id]).t0.tolist() == [1.0]
    # Migration 0006's index covers every text modality, and the query's predicate matches it.
    sql = PostgresKeywordIndex.query(["pebbles"], 10).compile(
        dialect=lib.store.engine.dialect, compile_kwargs={"render_postcompile": True})
    with lib.store.engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")  # a tiny table: else a scan is cheaper
        plan = "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {sql}", sql.params))
    lib.close()
    assert FULL_TEXT_INDEX in plan


def test_on_screen_runs_and_chinese_are_found_by_any_part_on_postgresql(postgres_url, tmp_path):
    """pg_trgm: OCR's run-together caption and Chinese speech are found by part of a run, words
    held as words rank first, and a substring of three characters or more goes through
    migration 0008's index."""
    from tests.test_keyword import CAPTION, CHINESE

    store = Store(postgres_url, tmp_path / "faiss", INDEX_BUDGET)
    if store.dim is None:  # the database is shared with the tests above
        store.bind_model("clip_model", TINY_MODEL, 64)
    vector = np.eye(store.dim, dtype=np.float32)[0]
    info = MediaInfo(60.0, 1.0, 8, 8, True)
    said = {"/caption.mp4": ("ocr", CAPTION), "/meeting.mp4": ("speech", CHINESE),
            "/said.mp4": ("speech", "we sent the photo as a jpeg"),
            "/talk.mp4": ("speech", "the report is ready")}
    for path, (modality, words) in said.items():
        store.save_video(path, Fingerprint(1, 1), info, [Segment(modality, 0, 60, vector, text=words)])
    keywords = keyword_index_for(store.engine)

    def found(query: str) -> list[str]:
        matches = keywords.search(query, 10)
        texts = store.segment_texts({m.segment_id for m in matches})
        return [texts[m.segment_id] for m in matches]

    assert found("photo jpeg") == ["we sent the photo as a jpeg", CAPTION]
    assert found("PHOTOJPEG") == [CAPTION]
    assert found("预算") == [CHINESE] and found("截止日期") == [CHINESE]
    assert found("port") == []  # spaced English is matched by words only
    sql = PostgresKeywordIndex.substring_query(["photojpeg"], 10).compile(
        dialect=store.engine.dialect, compile_kwargs={"render_postcompile": True})
    with store.engine.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")  # a tiny table: else a scan is cheaper
        # ...and so is the modality index: set aside in this transaction, rolled back.
        conn.exec_driver_sql("DROP INDEX ix_segments_modality, ix_segments_video_modality")
        plan = "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN {sql}", sql.params))
        conn.rollback()
    assert SUBSTRING_INDEX in plan
    store.remove_videos(list(said))
    assert found("photo jpeg") == [] and found("预算") == []
    store.close()
