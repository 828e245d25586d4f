"""Chapters of a video from its stored vectors, as pure functions: start from its shots (cut
again where speech starts) and merge neighbours that show and say the same thing, until every
chapter is long enough and each boundary is a real change of picture or topic."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vidseek.core.records import unit
from vidseek.core.subtitles import Cue, format_vtt
from vidseek.search.labels.scoring import Moments


@dataclass(frozen=True)
class ChapterOptions:
    min_seconds: float  # a chapter shorter than this joins its closer neighbour
    similarity: float  # neighbours at least this similar are one chapter


@dataclass(frozen=True)
class ChapterSpan:
    t0: float
    t1: float
    segment_id: int  # the frame shown for it: its most typical shot's


def cut_chapters(shots: Moments, frames_per_shot: np.ndarray, speech: Moments,
                 options: ChapterOptions) -> list[ChapterSpan]:
    """Chapters of one video from its shots (in time order, each weighted by its frames) and
    its transcript chunks. A shot is also cut where a chunk of speech starts inside it (a
    talk filmed in one shot still changes topic); neighbours are compared by their mean frame
    vectors and, where both have speech, by what is said too (the mean of the two)."""
    if not len(shots):
        return []
    pieces = _pieces(shots, speech)
    n = len(pieces.t0)
    shot_seconds = np.maximum(shots.t1 - shots.t0, 1e-9)[pieces.shot]
    weight = np.asarray(frames_per_shot, np.float32)[pieces.shot] * (
        (pieces.t1 - pieces.t0) / shot_seconds).clip(1e-3, None).astype(np.float32)
    frames = unit(shots.vectors)[pieces.shot] * weight[:, None]
    spoken = np.zeros_like(frames)
    if len(speech):
        middle = (speech.t0 + speech.t1) / 2
        piece_of = np.clip(np.searchsorted(pieces.t0, middle, side="right") - 1, 0, n - 1)
        np.add.at(spoken, piece_of, unit(speech.vectors))
    frame_sum, speech_sum = list(frames), list(spoken)
    # Norms kept beside the sums (updated on each merge): a similarity is then two dot products.
    frame_norm = np.linalg.norm(frames, axis=1).tolist()
    speech_norm = np.linalg.norm(spoken, axis=1).tolist()
    t0, t1 = pieces.t0.tolist(), pieces.t1.tolist()
    members = [[int(pieces.shot[i])] for i in range(n)]

    def similarity(a: int, b: int) -> float:
        sim = float(frame_sum[a] @ frame_sum[b]) / max(frame_norm[a] * frame_norm[b], 1e-12)
        if speech_norm[a] > 0 and speech_norm[b] > 0:
            said = float(speech_sum[a] @ speech_sum[b]) / (speech_norm[a] * speech_norm[b])
            sim = (sim + said) / 2
        return sim

    sims = [similarity(k, k + 1) for k in range(n - 1)]
    while sims:
        durations = [b - a for a, b in zip(t0, t1)]
        shortest = min(range(len(durations)), key=durations.__getitem__)
        if durations[shortest] < options.min_seconds:
            # A short chapter joins the neighbour it is more like.
            left = sims[shortest - 1] if shortest > 0 else -np.inf
            right = sims[shortest] if shortest < len(sims) else -np.inf
            k = shortest - 1 if left >= right else shortest
        else:
            k = max(range(len(sims)), key=sims.__getitem__)
            if sims[k] < options.similarity:
                break
        # Chapter k+1 joins chapter k.
        frame_sum[k] = frame_sum[k] + frame_sum.pop(k + 1)
        speech_sum[k] = speech_sum[k] + speech_sum.pop(k + 1)
        frame_norm.pop(k + 1)
        speech_norm.pop(k + 1)
        frame_norm[k] = float(np.sqrt(frame_sum[k] @ frame_sum[k]))
        speech_norm[k] = float(np.sqrt(speech_sum[k] @ speech_sum[k]))
        t1[k] = t1.pop(k + 1)
        t0.pop(k + 1)
        members[k] += members.pop(k + 1)
        sims.pop(k)
        if k > 0:
            sims[k - 1] = similarity(k - 1, k)
        if k < len(sims):
            sims[k] = similarity(k, k + 1)
    chapters = []
    for a, b, total, shot_ids in zip(t0, t1, frame_sum, members):
        typical = max(shot_ids, key=lambda i: float(shots.vectors[i] @ total))
        chapters.append(ChapterSpan(a, b, int(shots.segment_ids[typical])))
    return chapters


@dataclass(frozen=True)
class _Pieces:
    t0: np.ndarray
    t1: np.ndarray
    shot: np.ndarray  # the shot each piece is part of


def _pieces(shots: Moments, speech: Moments) -> _Pieces:
    """The shots, each cut again where a chunk of speech starts inside it."""
    t0, t1, shot = [], [], []
    starts = np.sort(speech.t0) if len(speech) else np.zeros(0)
    for i, (a, b) in enumerate(zip(shots.t0.tolist(), shots.t1.tolist())):
        inside = starts[(starts > a) & (starts < b)].tolist()
        edges = [a, *dict.fromkeys(inside), b]
        t0 += edges[:-1]
        t1 += edges[1:]
        shot += [i] * (len(edges) - 1)
    return _Pieces(np.array(t0), np.array(t1), np.array(shot, np.int64))


def chapters_vtt(spans: Sequence[tuple[float, float, str]]) -> str:
    """WebVTT chapters (as a <track kind="chapters"> loads them): one cue per (t0, t1, title)."""
    return format_vtt([Cue(t0, t1, title) for t0, t1, title in spans])
