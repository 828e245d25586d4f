"""Labels on stored vectors, as pure functions: moments (shots) from frame vectors, zero-shot
classifiers from prompt embeddings, classifiers learned from examples, and scoring.

Every label, zero-shot or learned, is one linear classifier on a unit vector of the joint
space: confidence = sigmoid(w·x + b), and a label fits where the confidence reaches 0.5. So
labeling a library against a thousand labels is one matrix product per chunk of moments."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import numpy as np

from vidseek.core.records import unit

# CLIP's learned logit scale (100): a difference of 0.01 in cosine is one unit of logit.
LOGIT_SCALE = 100.0


# --- moments -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Moments:
    """Spans of videos, each with one unit vector: shots of similar frames or transcript chunks."""

    video_ids: np.ndarray  # (n,) int64
    t0: np.ndarray  # (n,) float64
    t1: np.ndarray  # (n,)
    segment_ids: np.ndarray  # (n,) a segment of the moment (its frame is the thumbnail)
    vectors: np.ndarray  # (n, d) float32, unit length

    def __len__(self) -> int:
        return len(self.video_ids)

    def slice(self, start: int, stop: int) -> Moments:
        return Moments(self.video_ids[start:stop], self.t0[start:stop], self.t1[start:stop],
                       self.segment_ids[start:stop], self.vectors[start:stop])


def shot_starts(video_ids: np.ndarray, vectors: np.ndarray, similarity: float) -> np.ndarray:
    """Mask of the frames that start a shot, for frames sorted by (video, time): the first
    frame of each video, and every frame less similar than `similarity` to the one before."""
    starts = np.ones(len(video_ids), bool)
    if len(video_ids) > 1:
        consecutive = np.einsum("ij,ij->i", vectors[1:], vectors[:-1])
        starts[1:] = (video_ids[1:] != video_ids[:-1]) | (consecutive < similarity)
    return starts


def frame_moments(video_ids: np.ndarray, t0: np.ndarray, t1: np.ndarray,
                  segment_ids: np.ndarray, vectors: np.ndarray, similarity: float) -> Moments:
    """Frames sorted by (video, time) grouped into shots: each shot spans its frames, carries
    their mean vector and shows the frame closest to that mean."""
    vectors = np.asarray(vectors, np.float32)
    if not len(video_ids):
        return Moments(np.zeros(0, np.int64), np.zeros(0), np.zeros(0), np.zeros(0, np.int64),
                       vectors)
    starts = np.flatnonzero(shot_starts(video_ids, vectors, similarity))
    lengths = np.diff(np.append(starts, len(video_ids)))
    means = np.empty((len(starts), vectors.shape[1]), np.float32)
    representative = np.empty(len(starts), np.int64)
    # Shots of one length at a time, as an (n, length, d) block: one vectorised sum per
    # length instead of np.add.reduceat, which walks rows with a stride (far slower here).
    for length in np.unique(lengths).tolist():
        shots = np.flatnonzero(lengths == length)
        rows = starts[shots][:, None] + np.arange(length)
        block = vectors[rows]
        means[shots] = unit(block.sum(axis=1))
        # The frame closest to its shot's mean is the one shown for it.
        closeness = np.einsum("nld,nd->nl", block, means[shots])
        representative[shots] = rows[np.arange(len(shots)), closeness.argmax(axis=1)]
    ends = starts + lengths - 1
    return Moments(np.asarray(video_ids)[starts], np.asarray(t0, np.float64)[starts],
                   np.asarray(t1, np.float64)[ends], np.asarray(segment_ids)[representative],
                   means)


# --- classifiers -------------------------------------------------------------------------

@dataclass(frozen=True)
class Classifiers:
    """Linear classifiers of several labels: confidence = sigmoid(vectors @ weights.T + bias)."""

    label_ids: np.ndarray  # (L,)
    weights: np.ndarray  # (L, d) float32
    bias: np.ndarray  # (L,) float32

    def __len__(self) -> int:
        return len(self.label_ids)

    def subset(self, mask: np.ndarray) -> Classifiers:
        return Classifiers(self.label_ids[mask], self.weights[mask], self.bias[mask])


def prompts(name: str, templates: list[str]) -> list[str]:
    """The sentences that describe a label to the text encoder, one per template."""
    return [t.format(name) for t in templates]


def zero_shot_classifier(label_embeddings: np.ndarray, null_embeddings: np.ndarray,
                         margin: float) -> tuple[np.ndarray, float]:
    """(weights, bias) of a zero-shot label from its prompts' embeddings (prompt ensembling:
    their mean) and those of prompts that name nothing in particular.

    A moment fits when it is closer to the label than to "nothing in particular" by at least
    `margin` in cosine, so a moment that matches no label stays unlabelled instead of taking
    the least bad one; the confidence is a sigmoid at CLIP's logit scale around that point."""
    label = unit(unit(label_embeddings).mean(axis=0))
    null = unit(unit(null_embeddings).mean(axis=0))
    return (LOGIT_SCALE * (label - null)).astype(np.float32), float(-LOGIT_SCALE * margin)


def classifier_version(model: str, weights: np.ndarray, bias: float) -> str:
    """A short hash that changes whenever the model or the classifier does."""
    h = hashlib.sha1(model.encode())
    h.update(np.asarray(weights, "<f4").tobytes())
    h.update(np.float32(bias).tobytes())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class Assignments:
    """Labels given to moments: parallel arrays, one row per (moment, label) that fits."""

    moments: np.ndarray  # (m,) index into the Moments scored
    labels: np.ndarray  # (m,) index into the Classifiers
    confidence: np.ndarray  # (m,) in [0.5, 1]


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60, 60)))


def assign_labels(vectors: np.ndarray, classifiers: Classifiers, max_per_moment: int,
                  chunk: int = 16384) -> Assignments:
    """The labels that fit each moment (confidence ≥ 0.5), at most `max_per_moment` of the most
    confident per moment; in chunks of moments so memory stays bounded."""
    picked_m, picked_l, picked_c = [], [], []
    weights_t = np.ascontiguousarray(classifiers.weights.T, np.float32)
    for start in range(0, len(vectors), chunk):
        logits = np.asarray(vectors[start:start + chunk], np.float32) @ weights_t
        logits += classifiers.bias
        rows, cols = np.nonzero(logits >= 0)
        values = logits[rows, cols]
        if max_per_moment and len(rows):
            order = np.lexsort((-values, rows))
            rows, cols, values = rows[order], cols[order], values[order]
            starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
            rank = np.arange(len(rows)) - np.repeat(starts, np.diff(np.r_[starts, len(rows)]))
            keep = rank < max_per_moment
            rows, cols, values = rows[keep], cols[keep], values[keep]
        picked_m.append(rows + start)
        picked_l.append(cols)
        picked_c.append(sigmoid(values))
    if not picked_m:
        return Assignments(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    return Assignments(np.concatenate(picked_m), np.concatenate(picked_l),
                       np.concatenate(picked_c))


def video_totals(video_ids: np.ndarray, seconds: np.ndarray, label_ids: np.ndarray,
                 confidence: np.ndarray) -> list[tuple[int, int, float, float]]:
    """Per (video, label): the best confidence and the seconds labelled, from moment labels."""
    if not len(video_ids):
        return []
    pairs, which = np.unique(np.stack([video_ids, label_ids], axis=1), axis=0,
                             return_inverse=True)
    which = which.ravel()
    best = np.zeros(len(pairs))
    np.maximum.at(best, which, confidence)
    total = np.bincount(which, weights=seconds, minlength=len(pairs))
    return list(zip(pairs[:, 0].tolist(), pairs[:, 1].tolist(), best.tolist(), total.tolist()))


# --- labels learned from examples ----------------------------------------------------------

@dataclass(frozen=True)
class LearningOptions:
    l2: float = 1e-3  # weight decay of the logistic regression
    iterations: int = 150
    negatives: int = 3000  # "the rest": at most this many other frames, sampled
    folds: int = 5  # held-out check: leave-one-example-out up to this many examples, else k-fold
    seed: int = 0


@dataclass(frozen=True)
class LearnedReport:
    """How a learned label was trained and how it did on examples it had not seen."""

    examples: int
    positives: int  # frames inside the examples
    negatives: int
    heldout_auc: float | None  # chance: 0.5
    heldout_accuracy: float | None  # balanced; chance: 0.5
    seed: int

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> LearnedReport:
        return cls(**json.loads(text))

    def describe(self) -> str:
        check = ("no held-out check (it needs 2 examples or more)"
                 if self.heldout_auc is None else
                 f"held-out AUC {self.heldout_auc:.2f}, balanced accuracy "
                 f"{self.heldout_accuracy:.2f} (chance 0.50 for both)")
        return (f"learned from {self.examples} example(s) ({self.positives} frames) against "
                f"{self.negatives} other frames; {check}")


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float, iterations: int
                 ) -> tuple[np.ndarray, float]:
    """Class-balanced L2 logistic regression by Nesterov's accelerated gradient, with the step
    from the curvature bound, so it converges without tuning; deterministic."""
    x = np.asarray(x, np.float32)
    y = np.asarray(y, np.float32)
    n_pos, n_neg = float(y.sum()), float(len(y) - y.sum())
    sample = np.where(y > 0, 0.5 / max(n_pos, 1), 0.5 / max(n_neg, 1)).astype(np.float32)
    # The loss's curvature is at most 1/4 · Σ sample·(|x|² + 1) + l2: a step that never overshoots.
    step = 1.0 / (0.25 * float((sample * ((x * x).sum(axis=1) + 1)).sum()) + l2)
    w, b = np.zeros(x.shape[1], np.float32), 0.0
    w_prev, b_prev = w, b
    for k in range(1, iterations + 1):
        momentum = (k - 1) / (k + 2)
        vw, vb = w + momentum * (w - w_prev), b + momentum * (b - b_prev)
        error = (sigmoid(x @ vw + vb) - y) * sample
        w_prev, b_prev = w, b
        w = vw - step * (x.T @ error + l2 * vw)
        b = vb - step * float(error.sum())
    return w.astype(np.float32), float(b)


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """The probability that a random positive scores above a random negative (ties: half)."""
    scores, positive = np.asarray(scores, np.float64), np.asarray(positive, bool)
    pos, neg = scores[positive], scores[~positive]
    if not len(pos) or not len(neg):
        return float("nan")
    ranks = _average_ranks(np.concatenate([pos, neg]))
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def _average_ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    ranks = np.empty(len(x))
    sorted_x = x[order]
    starts = np.flatnonzero(np.r_[True, sorted_x[1:] != sorted_x[:-1]])
    ends = np.r_[starts[1:], len(x)]
    for s, e in zip(starts, ends):
        ranks[order[s:e]] = (s + e + 1) / 2  # 1-based average rank of a tie
    return ranks


def learn_label(positives: np.ndarray, example_of: np.ndarray, negatives: np.ndarray,
                options: LearningOptions = LearningOptions()
                ) -> tuple[np.ndarray, float, LearnedReport]:
    """A classifier for the frames of a few examples (`example_of`: which example each
    positive frame belongs to) against other frames of the library, and its held-out check:
    each fold keeps whole examples (and a share of the negatives) out of training."""
    examples = np.unique(example_of)
    x = np.concatenate([positives, negatives])
    y = np.r_[np.ones(len(positives)), np.zeros(len(negatives))]
    auc = accuracy = None
    if len(examples) >= 2 and len(negatives) >= 2:
        folds = min(len(examples), options.folds)
        rng = np.random.default_rng(options.seed)
        example_fold = dict(zip(rng.permutation(examples).tolist(),
                                (np.arange(len(examples)) % folds).tolist()))
        fold = np.r_[[example_fold[e] for e in example_of.tolist()],
                     rng.permutation(np.arange(len(negatives)) % folds)]
        held_scores = np.empty(len(y))
        for f in range(folds):
            test = fold == f
            w, b = fit_logistic(x[~test], y[~test], options.l2, options.iterations)
            held_scores[test] = x[test] @ w + b
        auc = roc_auc(held_scores, y > 0)
        predicted = held_scores >= 0
        accuracy = float((predicted[y > 0].mean() + (~predicted[y == 0]).mean()) / 2)
    w, b = fit_logistic(x, y, options.l2, options.iterations)
    report = LearnedReport(len(examples), len(positives), len(negatives), auc, accuracy,
                           options.seed)
    return w, b, report
