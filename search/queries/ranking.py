"""From raw hits to ranked moments: fusion of modalities, then merging in time. Pure functions."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from operator import attrgetter
from typing import NamedTuple

import numpy as np


class Hit(NamedTuple):
    """One segment that matched a query, with the similarity it matched with. A named tuple: a
    query makes hundreds, and a tuple is made several times faster than a frozen dataclass."""

    segment_id: int
    video_id: int
    modality: str  # frame | speech | audio: what the segment is
    t0: float
    t1: float
    score: float
    text: str | None = None
    matched_by: tuple[str, ...] = ()  # sources that found it: frame, speech, keyword, audio
    similarity: float | None = None  # raw cosine in its own modality (None: keyword only)


@dataclass(frozen=True)
class Moment:
    """A span of one video where the evidence for a query is: the hits that matched there.
    Scored by its best hit of each modality, added up: a moment that is said and shown beats one
    that is only said."""

    video_id: int
    t0: float
    t1: float
    score: float
    hits: tuple[Hit, ...]  # best first

    @property
    def best(self) -> Hit:
        return self.hits[0]

    @property
    def matched_by(self) -> tuple[str, ...]:
        """The sources that found it; a keyword match also names the modality whose words it
        read (speech, ocr, subtitles), so words read on screen say `ocr`."""
        return tuple(sorted({m for h in self.hits for m in h.matched_by}
                            | {h.modality for h in self.hits if "keyword" in h.matched_by}))


@dataclass(frozen=True)
class Noise:
    """What one source's similarities look like for a query where nothing matches it: their
    median and spread over a sample of that source's index. A hit stands out by how many
    spreads it lies above the median. Robust statistics, so the few segments that do match
    (a colour seen in a tenth of the frames) do not widen the noise they are measured on."""

    median: float
    spread: float

    # Cosines closer than this are not told apart, whatever the sample says: without a floor,
    # an index whose vectors are nearly all alike would make a hair's difference stand out.
    MIN_SPREAD = 0.01
    MIN_SAMPLE = 10  # fewer similarities than this say nothing about the noise

    @classmethod
    def of(cls, similarities: np.ndarray) -> Noise:
        """The noise of a query's similarities to a sample of an index; with fewer than
        MIN_SAMPLE of them, a noise nothing stands out from."""
        s = np.asarray(similarities, dtype=np.float64).ravel()
        if len(s) < cls.MIN_SAMPLE:
            return cls(0.0, np.inf)
        median = float(np.median(s))
        mad = float(np.median(np.abs(s - median)))
        return cls(median, max(1.4826 * mad, cls.MIN_SPREAD))  # 1.4826 MAD: sigma if normal

    def standing(self, similarity: float) -> float:
        """How far a similarity stands out: spreads above the median (a z-score)."""
        return (similarity - self.median) / self.spread


@dataclass(frozen=True)
class Sources:
    """One query's hits from each source (best first), before fusion, and the noise of each
    source whose hits have similarities (the vector indexes)."""

    hits: dict[str, list[Hit]]
    noise: dict[str, Noise]


@dataclass(frozen=True)
class FusionOptions:
    method: str  # rrf | weighted
    weights: tuple[tuple[str, float], ...]  # (source, weight); a source not named weighs 1
    rrf_k: int = 60
    # A vector hit counts as evidence only this many noise spreads above its source's median
    # for the query (see Noise); 0 counts every hit.
    evidence_z: float = 0.0


def evidence(hits: list[Hit], noise: Noise | None, evidence_z: float) -> list[Hit]:
    """The hits of one source that stand out from its noise for this query, best first;
    a source without a noise (keyword matches: the words are there or not) keeps them all."""
    ordered = sorted(hits, key=attrgetter("score"), reverse=True)
    if noise is None or evidence_z <= 0:
        return ordered
    return [h for h in ordered
            if h.similarity is not None and noise.standing(h.similarity) >= evidence_z]


def fuse(ranked: dict[str, list[Hit]], options: FusionOptions,
         noise: dict[str, Noise] | None = None) -> list[Hit]:
    """Combine ranked hit lists from several sources into one list, best first.

    Only the hits that stand out from their source's `noise` (when given) take part.
    `rrf` adds weight / (rrf_k + rank) per source (robust to scores on different scales;
    hits of equal similarity share a rank, so the order an index lists ties in gives no
    credit; a source without similarities, the keyword search, ranks by its own order);
    `weighted` adds weight * score. A segment found by several sources gets all their credit.
    """
    if options.method not in ("rrf", "weighted"):
        raise ValueError(f"unknown fusion method {options.method!r}; use rrf or weighted")
    weights = dict(options.weights)
    noise = noise or {}
    total: dict[int, float] = defaultdict(float)
    first: dict[int, Hit] = {}
    sources: dict[int, list[str]] = defaultdict(list)
    for source, hits in ranked.items():
        w = weights.get(source, 1.0)
        rank, last = 0, None
        for i, hit in enumerate(evidence(hits, noise.get(source), options.evidence_z), start=1):
            if hit.similarity is None or hit.score != last:
                rank, last = i, hit.score
            total[hit.segment_id] += w / (options.rrf_k + rank) if options.method == "rrf" else w * hit.score
            first.setdefault(hit.segment_id, hit)
            sources[hit.segment_id].append(source)
    fused = []
    for i, score in total.items():
        h = first[i]  # built directly: _replace costs twice as much, per hit per query
        fused.append(Hit(h.segment_id, h.video_id, h.modality, h.t0, h.t1, score, h.text,
                         tuple(sources[i]), h.similarity))
    return sorted(fused, key=lambda h: (-h.score, h.video_id, h.t0))


# A segment up to LONG_FACTOR x SHORT_SPAN seconds (15 s, a transcript chunk's longest) joins
# any moment it touches; a longer one (a caption or slide on screen for minutes) joins only a
# moment at least 1/LONG_FACTOR its length: it never widens a moment past the evidence that is
# precise about when.
LONG_FACTOR = 3.0
SHORT_SPAN = 5.0


@dataclass(eq=False)  # one moment is never another, however alike
class _Growing:
    """A moment while it grows: its span, the hits inside it, the long ones beside it."""

    t0: float
    t1: float
    hits: list[Hit]
    support: list[Hit]
    open: bool  # false: a hit too weak to be joined (see merge_moments)

    def touches(self, h: Hit, gap: float) -> bool:
        return h.t0 <= self.t1 + gap and h.t1 >= self.t0 - gap

    def takes(self, h: Hit) -> bool:
        """Whether `h` is short enough, beside this moment, to widen it."""
        return h.t1 - h.t0 <= LONG_FACTOR * max(self.t1 - self.t0, SHORT_SPAN)

    def outranks(self, h: Hit) -> bool:
        return max(x.score for x in self.hits) >= h.score

    def absorb(self, others: list[_Growing], h: Hit | None = None) -> None:
        """Take in other moments (and a hit): their hits, and the span of all of them."""
        for other in others:
            self.hits += other.hits
            self.support += [x for x in other.support if x not in self.support]
        if h is not None:
            self.hits.append(h)
        self.t0 = min([self.t0, *(o.t0 for o in others), *([h.t0] if h else [])])
        self.t1 = max([self.t1, *(o.t1 for o in others), *([h.t1] if h else [])])

    def score(self) -> float:
        """The best hit of each modality, added up."""
        best: dict[str, float] = {}
        for h in self.hits + self.support:
            best[h.modality] = max(best.get(h.modality, h.score), h.score)
        return sum(best.values())

    def moment(self, video_id: int, score: float) -> Moment:
        hits = tuple(sorted(self.hits + self.support, key=lambda h: (-h.score, h.t0)))
        return Moment(video_id, self.t0, self.t1, score, hits)


def merge_moments(hits: list[Hit], gap: float, margin: float,
                  limit: int | None = None) -> list[Moment]:
    """Moments made of the hits, best first (the best `limit` when given).

    Hits of one video join when they touch (within `gap` seconds), shortest first, so a moment's
    span comes from the evidence most precise about when. A long segment (see LONG_FACTOR)
    touching a moment whose evidence outranks it adds to that moment's score and leaves its
    span alone; where it is the better evidence, it is a moment of its own with what it covers.
    A hit whose similarity is more than `margin` below the best of its modality in that video
    is a moment of its own, so a moment stops where the content stops matching (a cut to
    another scene). A moment scores the best hit of each modality in it, added up.
    """
    peak: dict[tuple[int, str], float] = {}
    for h in hits:
        if h.similarity is not None:
            key = (h.video_id, h.modality)
            peak[key] = max(peak.get(key, -np.inf), h.similarity)

    def strong(h: Hit) -> bool:
        return h.similarity is None or h.similarity >= peak[(h.video_id, h.modality)] - margin

    by_video: dict[int, list[Hit]] = defaultdict(list)
    for h in sorted(hits, key=lambda h: (h.t1 - h.t0, -h.score, h.t0)):
        by_video[h.video_id].append(h)
    grown: list[tuple[float, int, _Growing]] = []
    for video_id, video_hits in by_video.items():
        growing: list[_Growing] = []
        for h in video_hits:
            touched = [g for g in growing if g.open and g.touches(h, gap)] if strong(h) else []
            if touched and all(g.takes(h) for g in touched):
                touched[0].absorb(touched[1:], h)  # a hit that bridges moments makes them one
                for g in touched[1:]:
                    growing.remove(g)
                continue
            # Too long for a moment it touches: it would cover that moment's evidence.
            covered = [g for g in touched if not g.outranks(h)]
            for g in touched:
                if g not in covered:
                    g.support.append(h)
            if covered or not touched:
                own = _Growing(h.t0, h.t1, [h], [], strong(h))
                if covered:
                    own.absorb(covered)
                    growing = [g for g in growing if g not in covered]
                growing.append(own)
        grown += [(g.score(), video_id, g) for g in growing]
    # Only the moments returned are made (a query grows hundreds).
    grown.sort(key=lambda x: (-x[0], x[1], x[2].t0))
    return [g.moment(video_id, score) for score, video_id, g in grown[:limit]]
