"""A video's summary without a language model: its chapters with their top labels, its labels,
the people on screen in it (faces grouped into people, search/people/), and the passages of
what is said, read on screen and subtitled that are most central to it.

Centrality is measured in the joint space the passages are already embedded in: a passage's
cosine with the mean of all the video's passages, so what the video keeps coming back to (a
theme said again, a title shown for minutes, subtitles that repeat the speech) weighs most.
Picks then trade centrality against likeness to the passages already picked (maximal marginal
relevance), so one theme does not fill the summary; the same words are never picked twice.
They are shown in the order they come in the video, with their seconds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from vidseek.core.records import TEXT_MODALITIES, unit
from vidseek.search.moments import seconds

if TYPE_CHECKING:
    from vidseek.search.labels.labeling import ChapterInfo, Labeler
    from vidseek.search.people.directory import People
    from vidseek.search.storage.store import Store

PASSAGES = 5  # passages a summary quotes
# MMR's weight of likeness to the picks against centrality (0: centrality alone). Even, as
# MMR's authors start from: a near copy of a pick then gives way to a passage of another theme
# (tests/test_summary.py); not tuned on a real CLIP model's text (none can be fetched here).
DIVERSITY = 0.5
MIN_CHARACTERS = 12  # shorter text ("OK", a lone number read off the screen) is never quoted
LABELS = 5  # the video's labels a summary names


@dataclass(frozen=True)
class Passage:
    """A quoted passage: what was said, read or subtitled, where, and how central it is."""

    modality: str
    t0: float
    t1: float
    text: str
    centrality: float  # cosine with the mean of the video's passages


@dataclass(frozen=True)
class Summary:
    """What a video holds at a glance."""

    chapters: list[ChapterInfo]
    labels: list[tuple[str, float, float]]  # name, confidence, seconds on screen or said
    people: list[tuple[int, str, float]]  # id, name (or "person N"), seconds on screen; most first
    passages: list[Passage]  # in the order they come in the video

    def payload(self) -> dict[str, Any]:
        """The JSON shape (`vidseek summary --json`, `summary` of /api/videos/<id>)."""
        return {
            "chapters": [{"t0": seconds(c.t0), "t1": seconds(c.t1), "label": c.label}
                         for c in self.chapters],
            "labels": [{"name": name, "score": round(score, 4), "seconds": seconds(on)}
                       for name, score, on in self.labels],
            "people": [{"id": i, "name": name, "seconds": seconds(on)}
                       for i, name, on in self.people],
            "passages": [{"modality": p.modality, "t0": seconds(p.t0), "t1": seconds(p.t1),
                          "text": p.text, "centrality": round(p.centrality, 4)}
                         for p in self.passages],
        }


def words_key(text: str) -> str:
    """What makes two passages the same words: case, spacing and punctuation aside."""
    return " ".join("".join(c if c.isalnum() else " " for c in text.casefold()).split())


def centrality(vectors: np.ndarray) -> np.ndarray:
    """Each passage's cosine with the mean of them all (rows: their vectors)."""
    vectors = unit(vectors)
    return vectors @ unit(vectors.mean(axis=0)) if len(vectors) else np.zeros(0, np.float32)


def central_passages(vectors: np.ndarray, keys: list[str], count: int = PASSAGES,
                     diversity: float = DIVERSITY) -> list[tuple[int, float]]:
    """Up to `count` passages (unit `vectors`, one a row; `keys`: their words, one key being
    the same words) picked by maximal marginal relevance, most central first, each as (the
    row where its words first come, their centrality: the best of their rows'). Every row
    counts towards the centre, so words said again weigh more; each words are picked once."""
    if not len(vectors):
        return []
    vectors = unit(vectors)
    central = centrality(vectors)
    rows: dict[str, list[int]] = {}
    for row, key in enumerate(keys):
        rows.setdefault(key, []).append(row)
    first = [group[0] for group in rows.values()]
    best = np.array([max(group, key=lambda r: central[r]) for group in rows.values()])
    picked: list[int] = []  # indices into `best`
    likeness = np.full(len(best), -np.inf)  # each candidate's cosine with its nearest pick
    while len(picked) < min(count, len(best)):
        score = (1 - diversity) * central[best] - diversity * np.maximum(likeness, 0.0)
        score[picked] = -np.inf
        pick = int(np.argmax(score))
        picked.append(pick)
        likeness = np.maximum(likeness, vectors[best] @ vectors[best[pick]])
    return [(first[k], float(central[best[k]])) for k in picked]


def people_in(people: People, video_id: int) -> list[tuple[int, str, float]]:
    """Who is on screen in a video (people not hidden), longest first: id, name, seconds."""
    on_screen: dict[int, float] = {}
    for track in people.video_tracks(video_id):
        if track.person_id is not None:
            on_screen[track.person_id] = on_screen.get(track.person_id, 0.0) + track.t1 - track.t0
    shown = [people.find(i) for i in on_screen]
    return sorted(((p.id, p.label, on_screen[p.id]) for p in shown if not p.hidden),
                  key=lambda person: (-person[2], person[0]))


def summarize(store: Store, labels: Labeler, people: People, video_id: int,
              count: int = PASSAGES) -> Summary:
    """The summary of one video, from what is stored (nothing is decoded or embedded)."""
    passages = [s for s in store.video_segments(video_id)
                if s.modality in TEXT_MODALITIES and s.text
                and len(s.text.strip()) >= MIN_CHARACTERS]
    picks = central_passages(store.vectors([s.id for s in passages]),
                             [words_key(s.text) for s in passages], count)
    quoted = [Passage(passages[i].modality, passages[i].t0, passages[i].t1,
                      passages[i].text.strip(), central)
              for i, central in sorted(picks, key=lambda pick: (passages[pick[0]].t0, pick[0]))]
    return Summary(labels.chapters(video_id), labels.video_labels(video_id)[:LABELS],
                   people_in(people, video_id), quoted)
