"""Learning the map from audio window features into the joint CLIP space, on the library itself.

No pretrained audio-to-CLIP model ships with vidseek, so the map is distilled from what the
videos already say: every audio window is paired with the mean embedding of the frames it
overlaps in the same video, and a small network learns, with a symmetric contrastive
(InfoNCE) loss, to send each window next to its frames and away from the others. Videos held
out of training measure how well that generalises (audio→frame recall against chance).

Each training makes a new version: a weights file under DATA_DIR/models and a record in
`index_state`, switched in the same transaction that rewrites every `audio` segment."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from vidseek.core.errors import ModelMismatch, ModelUnavailable
from vidseek.core.files import replaced_whole
from vidseek.core.records import Segment, unit
from vidseek.search.storage.store import Store

STATE_KEY = "audio_projection"  # index_state key of the current ProjectionRecord (JSON)
# Frame means this close show the same picture (a static shot seen by several windows): they
# are one answer, not rivals, both in the loss and when recall is measured.
SAME_TARGET_COSINE = 0.995
MAX_EVAL_PAIRS = 4000  # recall is measured on at most this many held-out pairs (n² scores)


@dataclass(frozen=True)
class TrainingOptions:
    hidden: int = 512  # width of the hidden layer; 0 makes the map linear
    epochs: int = 60
    batch_size: int = 256
    learning_rate: float = 1e-3
    weight_decay: float = 1e-2
    temperature: float = 0.05
    holdout_fraction: float = 0.2  # of the videos, kept out of training to measure recall
    seed: int = 0


@dataclass(frozen=True)
class TrainingProgress:
    epoch: int
    epochs: int
    loss: float


@dataclass(frozen=True)
class PairSet:
    """Audio windows, each paired with what was on screen while it sounded."""

    features: np.ndarray  # (n, d_audio) raw window features
    targets: np.ndarray  # (n, d_clip) unit mean of the overlapping frame embeddings
    video_ids: np.ndarray  # (n,)

    def __len__(self) -> int:
        return len(self.video_ids)

    def subset(self, mask: np.ndarray) -> PairSet:
        return PairSet(self.features[mask], self.targets[mask], self.video_ids[mask])


@dataclass(frozen=True)
class ProjectionRecord:
    """What `index_state` remembers about the current projection."""

    version: int
    file: str  # under settings.model_dir
    clip_model: str  # the space it maps into
    audio_encoder: str  # the features it maps from
    pairs: int
    videos: int
    heldout_pairs: int
    heldout_videos: int
    recall_at_1: float  # audio→frame, on the held-out videos
    recall_at_5: float
    chance_at_1: float
    chance_at_5: float
    seed: int
    trained_at: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ProjectionRecord:
        return cls(**json.loads(text))

    def describe(self) -> str:
        return (f"v{self.version}, trained on {self.pairs} pairs from {self.videos} video(s); "
                f"held-out audio→frame recall@1 {self.recall_at_1:.2f}, @5 {self.recall_at_5:.2f} "
                f"(chance {self.chance_at_1:.2f}, {self.chance_at_5:.2f}) on "
                f"{self.heldout_pairs} pairs from {self.heldout_videos} video(s)")


def current_record(state: dict[str, str]) -> ProjectionRecord | None:
    """The library's current audio projection, if one has been trained."""
    text = state.get(STATE_KEY)
    return ProjectionRecord.from_json(text) if text else None


# --- pure: pairs, splits, recall ------------------------------------------------------------

def window_targets(window_t0: np.ndarray, window_t1: np.ndarray, frame_t0: np.ndarray,
                   frame_t1: np.ndarray, frame_vectors: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """For each audio window, the unit-length mean of the frame vectors whose spans overlap it,
    weighted by seconds of overlap. Returns (indices of windows with any frame, targets)."""
    overlap = np.clip(np.minimum(window_t1[:, None], frame_t1[None, :])
                      - np.maximum(window_t0[:, None], frame_t0[None, :]), 0, None)
    paired = np.flatnonzero(overlap.sum(axis=1) > 0)
    targets = overlap[paired].astype(np.float32) @ np.asarray(frame_vectors, np.float32)
    return paired, unit(targets)


def split_videos(video_ids: np.ndarray, holdout_fraction: float, seed: int) -> np.ndarray:
    """Mask of the pairs whose video is held out: whole videos, so neighbouring windows of one
    shot never sit on both sides. At least one video on each side."""
    videos = np.unique(video_ids)
    if len(videos) < 2:
        raise ValueError("training the audio projection needs at least 2 videos with sound "
                         "(one is held out to measure it); index more videos first")
    count = min(len(videos) - 1, max(1, round(len(videos) * holdout_fraction)))
    held = np.random.default_rng(seed).choice(videos, size=count, replace=False)
    return np.isin(video_ids, held)


def same_picture(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(len(a), len(b)) mask of targets that show the same picture."""
    return a @ b.T >= SAME_TARGET_COSINE


def retrieval_recall(predicted: np.ndarray, targets: np.ndarray, ks: tuple[int, ...] = (1, 5)
                     ) -> dict[int, tuple[float, float]]:
    """Audio→frame recall@k, with the chance level of a random ranking: {k: (recall, chance)}.

    Each predicted vector ranks every pair's target; it counts as found when one of its k best
    shows the same picture as its own target (identical shots are one answer, and the chance
    figure counts them the same way)."""
    n = len(targets)
    same = same_picture(targets, targets)
    order = np.argsort(-(predicted @ targets.T), axis=1, kind="stable")
    duplicates = same.sum(axis=1)
    out = {}
    for k in ks:
        k = min(k, n)
        found = np.take_along_axis(same, order[:, :k], axis=1).any(axis=1).mean()
        # P(a random k-subset misses all m copies) = prod_i (n - m - i) / (n - i)
        miss = [math.prod(max(0, n - m - i) / (n - i) for i in range(k)) for m in duplicates]
        out[k] = (float(found), float(1 - np.mean(miss)))
    return out


# --- the model ------------------------------------------------------------------------------

class AudioProjection:
    """Raw audio window features → unit vectors in the joint space: standardise, then a small
    MLP (or a linear map). torch is imported only when one is built or loaded."""

    def __init__(self, d_in: int, d_out: int, hidden: int):
        import torch

        self.config = {"d_in": d_in, "d_out": d_out, "hidden": hidden}
        self.net = (torch.nn.Sequential(torch.nn.Linear(d_in, hidden), torch.nn.GELU(),
                                        torch.nn.Linear(hidden, d_out))
                    if hidden else torch.nn.Linear(d_in, d_out))
        self.mean = torch.zeros(d_in)
        self.scale = torch.ones(d_in)

    def forward(self, x):
        import torch.nn.functional as F

        return F.normalize(self.net((x - self.mean) / self.scale), dim=-1)

    def project(self, features: np.ndarray) -> np.ndarray:
        """Unit vectors in the joint space for (n, d_in) raw features."""
        import torch

        self.net.eval()
        with torch.inference_mode():
            return self.forward(torch.from_numpy(np.asarray(features, np.float32))).numpy()

    def state_dict(self) -> dict:
        return {"config": self.config, "net": self.net.state_dict(),
                "mean": self.mean, "scale": self.scale}

    def save(self, path: Path, record: ProjectionRecord) -> None:
        """Written whole (vidseek/core/files.py): a reader never loads half a model."""
        import torch

        with replaced_whole(path) as temporary:
            torch.save({**self.state_dict(), "record": asdict(record)}, temporary)

    @classmethod
    def load(cls, path: Path) -> AudioProjection:
        import torch

        if not path.is_file():
            raise ModelUnavailable(f"the audio projection file {path} is missing. Fix: run "
                                   "`vidseek train-audio` to train it again from the library")
        saved = torch.load(path, map_location="cpu", weights_only=True)
        projection = cls(**saved["config"])
        projection.net.load_state_dict(saved["net"])
        projection.mean, projection.scale = saved["mean"], saved["scale"]
        return projection


def fit_projection(pairs: PairSet, options: TrainingOptions = TrainingOptions(),
                   on_progress: Callable[[TrainingProgress], None] | None = None
                   ) -> AudioProjection:
    """Train a projection on these pairs with a symmetric InfoNCE loss; same seed, same weights."""
    import torch
    import torch.nn.functional as F

    torch.manual_seed(options.seed)
    generator = torch.Generator().manual_seed(options.seed)
    x = torch.from_numpy(np.asarray(pairs.features, np.float32))
    y = torch.from_numpy(np.asarray(pairs.targets, np.float32))
    projection = AudioProjection(x.shape[1], y.shape[1], options.hidden)
    projection.mean = x.mean(dim=0)
    projection.scale = x.std(dim=0).clamp_min(1e-6) if len(x) > 1 else torch.ones(x.shape[1])
    optimizer = torch.optim.AdamW(projection.net.parameters(), lr=options.learning_rate,
                                  weight_decay=options.weight_decay)
    projection.net.train()
    for epoch in range(1, options.epochs + 1):
        total, batches = 0.0, 0
        for batch in torch.randperm(len(x), generator=generator).split(options.batch_size):
            if len(batch) < 2:
                continue  # one pair has no negatives to learn from
            predicted, target = projection.forward(x[batch]), y[batch]
            logits = predicted @ target.T / options.temperature
            # Windows of one static shot share a target: all of them are right answers.
            positives = (target @ target.T >= SAME_TARGET_COSINE).float()
            labels = positives / positives.sum(dim=1, keepdim=True)
            loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total, batches = total + float(loss.detach()), batches + 1
        if on_progress:
            on_progress(TrainingProgress(epoch, options.epochs, total / max(1, batches)))
    projection.net.eval()
    return projection


# --- the library: collect, train, evaluate, switch ------------------------------------------

def collect_pairs(store: Store) -> PairSet:
    """Every stored audio window paired with the frames it overlaps in its own video."""
    features, targets, video_ids = [], [], []
    for video_id, audio in store.audio_features():
        frames = store.video_segments(video_id, "frame")
        if not frames:
            continue
        paired, window_means = window_targets(
            audio.t0, audio.t1, np.array([f.t0 for f in frames]), np.array([f.t1 for f in frames]),
            store.vectors(np.array([f.id for f in frames])))
        features.append(audio.features[paired])
        targets.append(window_means)
        video_ids.append(np.full(len(paired), video_id))
    if not features:
        return PairSet(np.zeros((0, 0), np.float32), np.zeros((0, 0), np.float32),
                       np.zeros(0, np.int64))
    return PairSet(np.concatenate(features), np.concatenate(targets), np.concatenate(video_ids))


def training_due(store: Store, min_pairs: int) -> bool:
    """No projection yet, and enough audio windows to train one."""
    return current_record(store.state()) is None and store.audio_feature_count() >= min_pairs


def train_audio_projection(store: Store, model_dir: Path,
                           options: TrainingOptions = TrainingOptions(),
                           on_progress: Callable[[TrainingProgress], None] | None = None
                           ) -> ProjectionRecord:
    """Train a new projection version on the library, measure it on held-out videos, save it,
    and rewrite every `audio` segment with it (from the stored features, no decoding)."""
    state = store.state()
    if not state.get("clip_model") or not state.get("audio_encoder"):
        raise ValueError("the library holds no audio windows yet: index videos with sound "
                         "first (`vidseek index FOLDER`, with index_audio on)")
    pairs = collect_pairs(store)
    if len(pairs) == 0:
        raise ValueError("the library holds no audio windows paired with frames: index videos "
                         "with sound first (`vidseek index FOLDER`, with index_audio on)")
    held = split_videos(pairs.video_ids, options.holdout_fraction, options.seed)
    train, test = pairs.subset(~held), pairs.subset(held)
    projection = fit_projection(train, options, on_progress)
    if len(test) > MAX_EVAL_PAIRS:
        test = test.subset(np.sort(np.random.default_rng(options.seed)
                                   .choice(len(test), MAX_EVAL_PAIRS, replace=False)))
    recall = retrieval_recall(projection.project(test.features), test.targets)
    previous = current_record(state)
    version = previous.version + 1 if previous else 1
    record = ProjectionRecord(
        version=version, file=f"audio-projection-v{version}.pt",
        clip_model=state["clip_model"], audio_encoder=state["audio_encoder"],
        pairs=len(train), videos=len(np.unique(train.video_ids)),
        heldout_pairs=len(test), heldout_videos=len(np.unique(test.video_ids)),
        recall_at_1=recall[1][0], recall_at_5=recall[5][0],
        chance_at_1=recall[1][1], chance_at_5=recall[5][1], seed=options.seed,
        trained_at=datetime.now(UTC).isoformat(timespec="seconds"))
    projection.save(model_dir / record.file, record)
    store.replace_audio_segments(project_library(store, projection),
                                 **{STATE_KEY: record.to_json()})
    if previous and previous.file != record.file:
        (model_dir / previous.file).unlink(missing_ok=True)
    return record


def project_library(store: Store, projection: AudioProjection) -> dict[int, list[Segment]]:
    """`audio` segments for every stored window, by video id."""
    out = {}
    for video_id, audio in store.audio_features():
        vectors = projection.project(audio.features)
        out[video_id] = [Segment("audio", float(a), float(b), v)
                         for a, b, v in zip(audio.t0, audio.t1, vectors, strict=True)]
    return out


class CurrentProjection:
    """The library's current projection for the indexer, reloaded when a new version is
    trained (by this process or another); None until one exists."""

    def __init__(self, store: Store, model_dir: Path, audio_encoder: str):
        self.store = store
        self.model_dir = model_dir
        self.audio_encoder = audio_encoder
        self._loaded: tuple[int, AudioProjection] | None = None

    def __call__(self) -> AudioProjection | None:
        record = current_record(self.store.state())
        if record is None:
            return None
        if record.audio_encoder != self.audio_encoder:
            raise ModelMismatch(
                f"the audio projection maps features of {record.audio_encoder} but the "
                f"settings ask for {self.audio_encoder}; run `vidseek reindex --reembed` and "
                f"`vidseek train-audio`, or set the Whisper model back")
        if self._loaded is None or self._loaded[0] != record.version:
            self._loaded = (record.version, AudioProjection.load(self.model_dir / record.file))
        return self._loaded[1]
