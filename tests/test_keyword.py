"""Full-text search over transcripts: the FTS5 index follows every write, old libraries are
indexed on upgrade, and the LIKE fallback for other databases agrees with FTS5."""

from __future__ import annotations

import numpy as np
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, text

from tests.conftest import INDEX_BUDGET, TINY_MODEL, library_at_revision, make_settings
from vidseek.core.records import Fingerprint, MediaInfo, Segment
from vidseek.library import Library
from vidseek.search.queries.keyword import Fts5KeywordIndex, LikeKeywordIndex, keyword_index_for
from vidseek.search.storage.database import MIGRATIONS_DIR
from vidseek.search.storage.store import Store


def test_full_text_follows_every_write_of_the_store(tmp_path):
    """Triggers keep the FTS5 index in the writer's transaction: replace, fail, remove, clear."""
    store = Store(f"sqlite:///{tmp_path / 'lib.db'}", tmp_path / "faiss", INDEX_BUDGET)
    store.bind_model("clip_model", "test", 8)
    info = MediaInfo(10.0, 10.0, 64, 64, True)
    fp = Fingerprint(1, 1, "h")
    rng = np.random.default_rng(0)

    def said(text: str) -> Segment:
        v = rng.standard_normal(8).astype(np.float32)
        return Segment("speech", 1.0, 4.0, v / np.linalg.norm(v), text=text, language="en")

    def paths(matches) -> list[str]:
        found = store.places("speech").find([m.segment_id for m in matches])
        assert found.mask.all()  # every match is a segment the speech index holds
        return sorted(store.video(int(v)).path for v in found.video_ids)

    def found(words: str) -> list[str]:
        fts = paths(Fts5KeywordIndex(store.engine).search(words, 10))
        assert fts == paths(LikeKeywordIndex(store.engine).search(words, 10))  # fallback agrees
        return fts

    store.save_video("/a.mp4", fp, info, [said("the red balloon floats"), said("a quiet lake")])
    store.save_video("/b.mp4", fp, info, [said("an orange boat")])
    assert found("balloon") == ["/a.mp4"] and found("boat") == ["/b.mp4"]
    assert found("the lake or the boat") == ["/a.mp4", "/b.mp4"]
    store.save_video("/a.mp4", fp, info, [said("a green kite")])  # re-indexed: old text gone
    assert found("lake") == [] and found("kite") == ["/a.mp4"]
    store.save_failure("/a.mp4", fp, "truncated")
    assert found("kite") == []
    store.remove_videos(["/b.mp4"])
    assert found("boat") == []
    store.save_video("/c.mp4", fp, info, [said("a yellow submarine")])
    assert found("submarine") == ["/c.mp4"]
    store.clear_segments()
    assert found("submarine") == []
    store.close()


def test_upgrading_an_old_library_indexes_its_transcripts(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    library_at_revision(  # a library made before full-text search existed
        url, "0001",
        "INSERT INTO videos (id, path, size, mtime_ns, status) VALUES (1, '/old.mp4', 1, 1, 'indexed')",
        "INSERT INTO segments (video_id, modality, t0, t1, text, vector) VALUES "
        "(1, 'speech', 2.0, 6.0, 'the lighthouse keeper waved', x''), (1, 'frame', 0.0, 1.0, NULL, x'')")
    store = Store(url, tmp_path / "faiss", INDEX_BUDGET)  # migrates to the newest revision
    keywords = keyword_index_for(store.engine)
    assert isinstance(keywords, Fts5KeywordIndex)
    assert [m.score for m in keywords.search("where is the lighthouse", 10)] == [1.0]
    store.close()


def test_common_words_are_ranked_where_they_meet(tmp_path):
    """With common words, the chunks holding two words or a rare one are ranked (with the same
    BM25 as when every match is), those holding one common word alone left out; with fewer
    than the limit of those, every match is ranked."""
    store = Store(f"sqlite:///{tmp_path / 'lib.db'}", tmp_path / "faiss", INDEX_BUDGET)
    store.bind_model("clip_model", "test", 8)
    rng = np.random.default_rng(0)
    said = ["red car", "red car red", "a red car on the road", "the zebra", "red", "red light",
            "a red door", "car", "car park"]
    segments = []
    for t, words in enumerate(said):
        v = rng.standard_normal(8).astype(np.float32)
        segments.append(Segment("speech", t, t + 1.0, v / np.linalg.norm(v), text=words))
    store.save_video("/a.mp4", Fingerprint(1, 1, "h"), MediaInfo(10.0, 10.0, 64, 64, True),
                     segments)

    def ranked(index, limit, query="red car zebra") -> dict[str, float]:
        matches = index.search(query, limit)
        texts = store.segment_texts({m.segment_id for m in matches})
        return {texts[m.segment_id]: m.score for m in matches}

    every = ranked(Fts5KeywordIndex(store.engine), 10)  # no word is common at this size
    assert set(every) == set(said)
    meeting = Fts5KeywordIndex(store.engine, common_word_chunks=2)  # red and car are common
    assert set(ranked(meeting, 4)) == {"red car", "red car red", "a red car on the road",
                                       "the zebra"}
    assert ranked(meeting, 4) == {words: every[words] for words in ranked(meeting, 4)}
    assert ranked(meeting, 5) == ranked(Fts5KeywordIndex(store.engine), 5)  # 4 < 5: all ranked
    # Two words, both common: the chunks holding both, ranked as when every match is, by one
    # AND query (FTS5 is not made to walk every chunk holding either word).
    every = ranked(Fts5KeywordIndex(store.engine), 10, "red car")
    statements = []
    event.listen(store.engine, "before_cursor_execute",
                 lambda conn, cursor, sql, *rest: statements.append(sql))
    ranked(meeting, 3, "red car")
    ranking = [sql for sql in statements if "bm25" in sql]
    assert len(ranking) == 1 and "rowid IN" not in ranking[0]
    assert set(ranked(meeting, 3, "red car")) == {"red car", "red car red",
                                                  "a red car on the road"}
    assert ranked(meeting, 3, "red car") == {w: every[w] for w in ranked(meeting, 3, "red car")}
    assert ranked(meeting, 4, "red car") == ranked(Fts5KeywordIndex(store.engine), 4, "red car")
    store.close()


# What the real readers make of real footage: PP-OCRv4 read the caption "1024x768 25fps
# PhotoJPEG 75%" as one run, Whisper writes Chinese without spaces, and Japanese subtitles too.
CAPTION = "1024x76825fpsPhotoJPEG75%"
CHINESE = "下个月的预算截止日期"
JAPANESE = "予算の締め切りは来月です"


def _text_library(tmp_path, said: list[tuple[str, str, str]]) -> Store:
    """A store with one video per (path, modality, text)."""
    store = Store(f"sqlite:///{tmp_path / 'lib.db'}", tmp_path / "faiss", INDEX_BUDGET)
    store.bind_model("clip_model", "test", 8)
    rng = np.random.default_rng(0)
    for path, modality, words in said:
        v = rng.standard_normal(8).astype(np.float32)
        store.save_video(path, Fingerprint(1, 1, path), MediaInfo(10.0, 10.0, 64, 64, True),
                         [Segment(modality, 1.0, 4.0, v / np.linalg.norm(v), text=words)])
    return store


def _found(store: Store, query: str, video_id: int | None = None) -> list[str]:
    """The texts a keyword search finds, best first."""
    matches = keyword_index_for(store.engine).search(query, 10, video_id)
    texts = store.segment_texts({m.segment_id for m in matches})
    return [texts[m.segment_id] for m in matches]


def test_on_screen_runs_and_spaceless_scripts_are_found_by_any_part(tmp_path):
    store = _text_library(tmp_path, [
        ("/caption.mp4", "ocr", CAPTION), ("/meeting.mp4", "speech", CHINESE),
        ("/anime.mp4", "subtitles", JAPANESE), ("/money.mp4", "speech", "我没有钱"),
        ("/talk.mp4", "speech", "the report is ready")])
    assert _found(store, "photo jpeg") == [CAPTION]
    assert _found(store, "PHOTOJPEG 1024x768") == [CAPTION]  # case-insensitive, every term
    assert _found(store, "photo png") == []  # every term must be held
    assert _found(store, "预算") == [CHINESE]  # two characters: shorter than a trigram
    assert _found(store, "截止日期") == [CHINESE]
    assert _found(store, "締め切り") == [JAPANESE]
    assert _found(store, "钱") == ["我没有钱"]  # one character, the last of its text
    # Spaced English is split into words right: no substring matching inside them.
    assert _found(store, "port") == [] and _found(store, "report") == ["the report is ready"]
    meeting = store.video_by_path("/meeting.mp4").id
    assert _found(store, "预算", meeting) == [CHINESE]
    assert _found(store, "预算", store.video_by_path("/anime.mp4").id) == []
    store.close()


def test_the_substring_index_follows_every_write_of_the_store(tmp_path):
    store = _text_library(tmp_path, [("/caption.mp4", "ocr", CAPTION)])
    fp, info = Fingerprint(1, 1, "h"), MediaInfo(10.0, 10.0, 64, 64, True)
    vector = np.eye(8, dtype=np.float32)[0]
    store.save_video("/caption.mp4", fp, info, [Segment("ocr", 0.0, 2.0, vector,
                                                        text="BudgetReview2024")])
    assert _found(store, "jpeg") == [] and _found(store, "review") == ["BudgetReview2024"]
    store.save_video("/meeting.mp4", fp, info, [Segment("speech", 0.0, 2.0, vector, text=CHINESE)])
    store.remove_videos(["/meeting.mp4"])
    assert _found(store, "预算") == []
    store.clear_segments()
    assert _found(store, "review") == []
    store.close()


def test_words_first_then_runs_then_some_of_the_words(tmp_path):
    """Chunks holding every word as a word rank first (by BM25), then on-screen runs holding
    every word, then chunks holding some of the words; each tier scores below the one before."""
    store = _text_library(tmp_path, [
        ("/said.mp4", "speech", "we sent the photo as a jpeg"),
        ("/caption.mp4", "ocr", CAPTION),
        ("/photo.mp4", "speech", "a photo of the lake"),
        ("/slide.mp4", "ocr", "PhotoAlbum2019")])
    matches = keyword_index_for(store.engine).search("photo jpeg", 10)
    texts = store.segment_texts({m.segment_id for m in matches})
    assert [texts[m.segment_id] for m in matches] == [
        "we sent the photo as a jpeg", CAPTION, "a photo of the lake"]
    scores = [m.score for m in matches]
    assert scores[0] == 1.0 and scores == sorted(scores, reverse=True)
    store.close()


def test_upgrading_indexes_existing_on_screen_and_chinese_text(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    library_at_revision(  # a library made before substring search
        url, "0007",
        "INSERT INTO videos (id, path, size, mtime_ns, status) VALUES (1, '/old.mp4', 1, 1, 'indexed')",
        "INSERT INTO segments (video_id, modality, t0, t1, text, vector) VALUES "
        f"(1, 'ocr', 0.0, 60.0, '{CAPTION}', x''), (1, 'speech', 2.0, 6.0, '{CHINESE}', x''), "
        "(1, 'frame', 0.0, 1.0, NULL, x'')")
    store = Store(url, tmp_path / "faiss", INDEX_BUDGET)  # migrates to the newest revision
    assert _found(store, "photo jpeg") == [CAPTION] and _found(store, "预算") == [CHINESE]
    store.close()


def test_downgrading_drops_the_substring_index_and_keeps_the_word_index(tmp_path):
    url = f"sqlite:///{tmp_path / 'lib.db'}"
    store = _text_library(tmp_path, [("/caption.mp4", "ocr", CAPTION),
                                     ("/said.mp4", "speech", "the lighthouse keeper waved")])
    store.close()
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    engine = create_engine(url)
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "0007")
        left = connection.execute(text("SELECT name FROM sqlite_master WHERE name LIKE "
                                       "'substring%'")).scalars().all()
        assert left == []
        assert connection.execute(text("SELECT count(*) FROM transcript_fts WHERE "
                                        "transcript_fts MATCH 'lighthouse'")).scalar() == 1
        connection.execute(text("DELETE FROM segments"))  # no trigger left to trip on
    engine.dispose()


def test_a_text_search_finds_an_on_screen_run_and_chinese_by_part_of_them(tmp_path,
                                                                          tiny_encoder):
    """Through the engine: the keyword side of a text search brings the run and the Chinese
    chunk to the moments it returns, at their seconds."""
    lib = Library(make_settings(tmp_path / "data"), tiny_encoder)
    lib.store.bind_model("clip_model", TINY_MODEL, tiny_encoder.dim)
    info = MediaInfo(60.0, 1.0, 64, 64, True)
    said = [("/caption.mp4", "ocr", 0.0, 60.0, CAPTION), ("/meeting.mp4", "speech", 20.0, 24.0,
                                                           CHINESE),
            ("/talk.mp4", "speech", 5.0, 9.0, "the report is ready")]
    for path, modality, t0, t1, words in said:
        vector = tiny_encoder.embed_texts([words])[0]
        lib.store.save_video(path, Fingerprint(1, 1, path), info,
                             [Segment(modality, t0, t1, vector, text=words)])
    lib.store.save_indexes()
    for query, path, t0 in [("photo jpeg", "/caption.mp4", 0.0), ("预算", "/meeting.mp4", 20.0)]:
        moments = lib.engine.search_text(query, lib.search_options(k=5))
        [read] = [h for m in moments for h in m.hits if "keyword" in h.matched_by]
        assert lib.store.video_path(read.video_id) == path and read.t0 == t0
    lib.close()
