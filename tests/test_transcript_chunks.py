"""Pure pieces of transcript search: chunking, query terms, highlighting, subtitle formats."""

from __future__ import annotations

from vidseek.core.subtitles import Cue, format_srt, format_text, format_vtt, srt_time, vtt_time
from vidseek.indexer.speech import ChunkOptions, TranscriptChunker, clip_token_count
from vidseek.models.transcribe import TranscriptSegment, Word
from vidseek.search.queries.highlight import highlight
from vidseek.search.queries.keyword import is_full_text_object, query_terms


def spoken(t0: float, text: str, seconds_per_word: float = 0.4,
           language: str = "en") -> TranscriptSegment:
    """A Whisper-like segment whose words follow each other from t0."""
    words = tuple(Word(t0 + i * seconds_per_word, t0 + (i + 1) * seconds_per_word, " " + w)
                  for i, w in enumerate(text.split()))
    return TranscriptSegment(t0, words[-1].t1, text, language, words)


# --- TranscriptChunker ---------------------------------------------------------------------

def test_short_sentences_close_together_merge_into_one_chunk():
    segments = [spoken(0.0, "Good morning everyone."), spoken(1.5, "Let us begin."),
                spoken(3.0, "First the budget.")]
    chunks = TranscriptChunker().chunk(segments)
    assert [c.text for c in chunks] == ["Good morning everyone. Let us begin. First the budget."]
    assert (chunks[0].t0, chunks[0].t1) == (0.0, segments[-1].t1)
    assert chunks[0].language == "en"


def test_a_chunk_ends_at_the_first_sentence_end_past_the_minimum_length():
    segments = [spoken(0.0, "one two three four five six seven"),  # 0.0 .. 2.8
                spoken(3.0, "eight nine ten eleven twelve"),  # 3.0 .. 5.0: past 5 s, ends here
                spoken(5.2, "thirteen fourteen")]
    chunks = TranscriptChunker().chunk(segments)
    assert [c.text for c in chunks] == [
        "one two three four five six seven eight nine ten eleven twelve", "thirteen fourteen"]
    assert chunks[1].t0 == 5.2


def test_a_long_pause_starts_a_new_chunk():
    chunks = TranscriptChunker().chunk([spoken(3.0, "the budget"), spoken(20.0, "the park")])
    assert [(c.t0, c.text) for c in chunks] == [(3.0, "the budget"), (20.0, "the park")]


def test_a_monologue_is_cut_within_the_time_limit():
    words = " ".join(f"w{i}" for i in range(100))  # one 40 s sentence, no pause
    chunks = TranscriptChunker(ChunkOptions(max_tokens=1000)).chunk([spoken(0.0, words)])
    assert len(chunks) >= 3
    assert all(c.t1 - c.t0 <= 15.0 for c in chunks)
    assert " ".join(c.text for c in chunks) == words  # every word kept, in order, once


def test_every_chunk_fits_the_clip_text_encoder():
    text = ("Photosynthesis, chemiluminescence and electroencephalography: 1,234,567 "
            "hyper-specialised words!!! ") * 6
    chunks = TranscriptChunker().chunk([spoken(0.0, text, seconds_per_word=0.1)])
    assert len(chunks) > 1
    assert all(clip_token_count(c.text) <= 75 for c in chunks)
    assert " ".join(c.text for c in chunks) == " ".join(text.split())


def test_a_change_of_language_starts_a_new_chunk():
    chunks = TranscriptChunker().chunk([spoken(0.0, "hello there", language="en"),
                                        spoken(1.0, "bonjour à tous", language="fr")])
    assert [(c.language, c.text) for c in chunks] == [("en", "hello there"),
                                                       ("fr", "bonjour à tous")]


def test_segments_without_word_timings_are_spread_over_their_span():
    segment = TranscriptSegment(10.0, 40.0, "alpha beta gamma delta epsilon zeta eta theta", "en")
    chunks = TranscriptChunker().chunk([segment])
    assert chunks[0].t0 == 10.0 and chunks[-1].t1 == 40.0
    assert all(c.t1 - c.t0 <= 15.0 for c in chunks)
    assert " ".join(c.text for c in chunks) == segment.text


def test_words_without_spaces_join_as_spoken():
    words = (Word(0.0, 0.3, "今日"), Word(0.3, 0.6, "は"), Word(0.6, 0.9, "晴れ"))
    chunks = TranscriptChunker().chunk([TranscriptSegment(0.0, 0.9, "今日は晴れ", "ja", words)])
    assert [c.text for c in chunks] == ["今日は晴れ"]


def test_nothing_said_gives_no_chunks():
    assert TranscriptChunker().chunk([]) == []


# --- keyword query terms and highlighting --------------------------------------------------

def test_query_terms_drop_stop_words_unless_nothing_else_is_left():
    assert query_terms("When does she mention the Budget deadline?") == [
        "mention", "budget", "deadline"]
    assert query_terms("to be or not to be") == ["to", "be", "or", "not"]
    assert query_terms("   ") == []


def test_highlight_flags_query_words_and_keeps_the_text_whole():
    text = "Please, remember the budget deadlines! The Budget is due."
    fragments = highlight(text, "when is the budget deadline")
    assert "".join(f for f, _ in fragments) == text
    assert [f for f, matched in fragments if matched] == ["budget", "deadlines", "Budget"]
    assert not any(matched for f, matched in fragments if f.strip().lower() == "the")


def test_highlight_matches_word_forms_the_full_text_index_matches():
    fragments = highlight("she mentioned it while painting", "mention paint")
    assert [f for f, matched in fragments if matched] == ["mentioned", "painting"]


def test_highlight_flags_a_chinese_word_inside_its_run():
    fragments = highlight("下个月的预算截止日期，预算要提前交", "预算")
    assert "".join(f for f, _ in fragments) == "下个月的预算截止日期，预算要提前交"
    assert [f for f, matched in fragments if matched] == ["预算", "预算"]
    assert [f for f, matched in highlight("我没有钱", "钱") if matched] == ["钱"]


def test_highlight_without_a_match_is_the_plain_text():
    assert highlight("nothing here", "saxophone") == [("nothing here", False)]
    assert highlight("", "saxophone") == []


def test_full_text_tables_are_recognised_for_the_schema_comparison():
    assert is_full_text_object("transcript_fts")
    assert is_full_text_object("transcript_fts_data")
    assert is_full_text_object("ix_segments_transcript_tsv")
    assert is_full_text_object("substring_fts") and is_full_text_object("substring_fts_vocab")
    assert is_full_text_object("substring_fts_idx") and is_full_text_object("ix_segments_text_trgm")
    assert not is_full_text_object("segments")


# --- subtitles -----------------------------------------------------------------------------

def test_timestamps_in_both_subtitle_formats():
    assert srt_time(3725.0456) == "01:02:05,046"
    assert vtt_time(3725.0456) == "01:02:05.046"
    assert srt_time(-0.2) == "00:00:00,000"


def test_srt_numbers_cues_and_wraps_long_lines():
    cues = [Cue(2.67, 7.35, "We must finish the budget before the deadline, says the "
                           "committee chair."),
            Cue(20.0, 22.5, "The children\n\nare playing.")]
    srt = format_srt(cues)
    blocks = srt.strip().split("\n\n")
    assert blocks[0].splitlines()[:2] == ["1", "00:00:02,670 --> 00:00:07,350"]
    assert all(len(line) <= 42 for line in blocks[0].splitlines()[2:])
    assert " ".join(blocks[0].splitlines()[2:]) == cues[0].text
    assert blocks[1] == "2\n00:00:20,000 --> 00:00:22,500\nThe children are playing."


def test_vtt_has_its_header_and_escapes_markup():
    vtt = format_vtt([Cue(1.0, 2.0, "a <b> & c")])
    assert vtt == "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\na &lt;b&gt; &amp; c\n\n"


def test_text_format_is_one_line_per_cue():
    assert format_text([Cue(65.25, 70.0, "hello\nworld"), Cue(3600.0, 3601.0, "late")]) == (
        "[1:05.2 – 1:10.0] hello world\n[1:00:00.0 – 1:00:01.0] late\n")
