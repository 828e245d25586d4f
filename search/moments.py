"""One moment, one shape: ranked moments and aligned moments as plain JSON-ready dicts.

`vidseek search --json` prints these as they are; the JSON API (web/payloads.py) sends the same
dicts with its links (media, thumbnail) added. No URL is made here."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidseek.search.queries.alignment import Alignment
from vidseek.search.queries.highlight import highlight
from vidseek.search.queries.ranking import Hit, Moment

if TYPE_CHECKING:
    from vidseek.search.labels.labeling import Labeler
    from vidseek.search.storage.store import Store


def highlight_spans(text: str, query: str) -> list[tuple[int, int]]:
    """[start, end) character ranges of `text` holding words the query asks for."""
    spans, at = [], 0
    for fragment, is_match in highlight(text, query):
        if is_match:
            spans.append((at, at + len(fragment)))
        at += len(fragment)
    return spans


def seconds(t: float | None) -> float | None:
    """A time as the JSON shapes give it: seconds to the millisecond."""
    return None if t is None else round(float(t), 3)


def _worded_hit(moment: Moment) -> Hit | None:
    """The hit whose text (spoken, on screen, subtitled) a moment shows: the one whose words
    matched the query, else any with text."""
    return next((h for h in sorted(moment.hits, key=lambda h: "keyword" not in h.matched_by)
                 if h.text), None)


def moment_fields(moment: Moment, path: str | None, query: str = "") -> dict[str, Any]:
    """One ranked moment of the video at `path`: where it is, how well and by what it matched,
    the words it shows (with the query's words marked when there is a query)."""
    similarities = [h.similarity for h in moment.hits if h.similarity is not None]
    worded = _worded_hit(moment)
    snippet = None
    if worded:
        snippet = {"text": worded.text, "modality": worded.modality,
                   "highlights": highlight_spans(worded.text, query) if query else []}
    return {
        "video_id": moment.video_id,
        "title": Path(path).name if path else None,
        "path": path,
        "t0": seconds(moment.t0),
        "t1": seconds(moment.t1),
        "score": round(float(moment.score), 6),
        "similarity": round(max(similarities), 6) if similarities else None,
        "matched_by": list(moment.matched_by),
        "snippet": snippet,
    }


def describe_moments(store: Store, labels: Labeler, moments: list[Moment],
                     query: str = "") -> list[dict[str, Any]]:
    """Moments in rank order, each with the labels of the labelled moments it overlaps and the
    signals of its video still being analysed."""
    names = labels.moment_labels([(m.video_id, m.t0, m.t1) for m in moments])
    analysing = store.analysis_pending({m.video_id for m in moments})
    return [{**moment_fields(m, store.video_path(m.video_id), query), "labels": found,
             "analysing": analysing.get(m.video_id, [])}
            for m, found in zip(moments, names, strict=True)]


def describe_alignments(store: Store, labels: Labeler,
                        alignments: list[Alignment]) -> list[dict[str, Any]]:
    """Aligned moments of a video-to-video query, with the offset that aligns each and how
    many of the query's segments agree on it."""
    rows = describe_moments(store, labels, [a.moment for a in alignments])
    return [{**row, "offset": seconds(a.offset), "matched_segments": a.matched}
            for row, a in zip(rows, alignments, strict=True)]
