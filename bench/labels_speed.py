"""Labeling speed: a library of stored segments labelled against many labels, and one learned
label retrained and applied to the whole library.

    python -m bench.labels_speed [--segments 1000000] [--labels 1000] [--runs 3]

The library is video-like (shots of about ten frames around one of a few thousand
"concepts", frames at cosine ~0.9 within a shot) and written straight into SQL: labeling reads
only SQL, never FAISS or a decoder. The labels are zero-shot ones described by a text encoder
that places each label's sentence at cosine 0.3 from its concept, as CLIP does, so a real share
of moments is labelled. Baseline, measured in the same run: reading every stored vector once
(the floor any labeling pass pays). Target (2 cores): both under 30 s at 1M segments and 1,000
labels."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sqlalchemy import delete, insert

from vidseek.core.records import unit
from vidseek.core.settings import Settings
from vidseek.library import labeling_options
from vidseek.search.labels.label_store import LabelStore
from vidseek.search.labels.labeling import Labeler, Vocabulary
from vidseek.search.storage.schema import LabeledVideo, SegmentRow, Video
from vidseek.search.storage.store import Store

DIM = 512
SPEC = "bench:concepts"
PER_VIDEO = 1000
SHOT_FRAMES = 10


class ConceptEncoder:
    """Text "concept N" → a unit vector at cosine 0.3 from concept N, mostly along a shared
    axis (how CLIP's text sits relative to images); other text → the shared axis."""

    spec, dim = SPEC, DIM

    def __init__(self, concepts: np.ndarray):
        self.concepts = concepts
        self.shared = unit(np.random.default_rng(99).standard_normal(DIM))

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        out = []
        for t in texts:
            words = t.split()
            if len(words) >= 2 and words[-2] == "concept":
                out.append(unit(0.3 * self.concepts[int(words[-1].rstrip("."))]
                                + 0.95 * self.shared))
            else:
                out.append(self.shared)
        return np.stack(out)


def fill(store: Store, n_segments: int, concepts: np.ndarray, seed: int = 0
         ) -> list[tuple[int, float, float]]:
    """`n_segments` frame segments in videos of PER_VIDEO, written with bulk SQL inserts.
    Returns the spans (video id, t0, t1) of the shots of concept 0: what a user would mark as
    examples of one thing."""
    rng = np.random.default_rng(seed)
    indexed_at = datetime.now(UTC).replace(tzinfo=None)
    examples = []
    store.set_state(clip_model=SPEC, dim=str(DIM))
    with store.engine.begin() as c:
        for v in range(0, n_segments, PER_VIDEO):
            n = min(PER_VIDEO, n_segments - v)
            video_id = c.execute(insert(Video).values(
                path=f"/synthetic/{v // PER_VIDEO:05d}.mp4", size=1, mtime_ns=1,
                duration=float(n), status="indexed",
                indexed_at=indexed_at)).inserted_primary_key[0]
            shots = -(-n // SHOT_FRAMES)
            which = rng.integers(0, len(concepts), shots)
            centres = concepts[which]
            examples += [(video_id, float(s * SHOT_FRAMES), float(min(n, (s + 1) * SHOT_FRAMES)))
                         for s in np.flatnonzero(which == 0).tolist()]
            frames = np.repeat(centres, SHOT_FRAMES, axis=0)[:n]
            frames = unit(frames + 0.015 * rng.standard_normal(frames.shape).astype(np.float32))
            blobs = frames.astype("<f2")
            c.execute(insert(SegmentRow), [
                {"video_id": video_id, "modality": "frame", "t0": float(i), "t1": float(i + 1),
                 "text": None, "language": None, "vector": blobs[i].tobytes()}
                for i in range(n)])
    return examples


def read_all(store: Store) -> float:
    """Seconds to read every stored vector once, in the chunks labeling reads them."""
    db = LabelStore(store.engine, lambda: DIM)
    started = time.perf_counter()
    for chunk in db.video_chunks(db.labeled_videos() or db.stale_videos(), 65536):
        db.segments(chunk, "frame")
    return time.perf_counter() - started


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--segments", type=int, default=1_000_000)
    p.add_argument("--labels", type=int, default=1000)
    p.add_argument("--concepts", type=int, default=2000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--dir", type=Path, help="where to build the library (default: a temp dir)")
    args = p.parse_args()
    rng = np.random.default_rng(0)
    concepts = unit(rng.standard_normal((args.concepts, DIM)))
    settings = Settings.load(env={})  # the defaults: the bench measures what users get
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        store = Store(f"sqlite:///{tmp}/bench.db", Path(tmp) / "faiss", settings.index_budget)
        started = time.perf_counter()
        examples = fill(store, args.segments, concepts)
        print(f"library: {args.segments} frame segments in {args.segments // PER_VIDEO} videos, "
              f"written in {time.perf_counter() - started:.1f} s")
        vocabulary = Vocabulary(1, ("a photo of {}.", "{}"), ("a photo.",),
                                tuple(f"concept {i}" for i in range(args.labels)))
        labeler = Labeler(store, SPEC, lambda: ConceptEncoder(concepts), vocabulary,
                          labeling_options(settings))
        started = time.perf_counter()
        labeler.sync()
        print(f"{args.labels} zero-shot labels described in {time.perf_counter() - started:.1f} s")

        reads, full = [], []
        for _ in range(args.runs):
            with store.engine.begin() as c:  # every video stale again: label it all
                c.execute(delete(LabeledVideo))
            reads.append(read_all(store))
            started = time.perf_counter()
            report = labeler.update()
            full.append(time.perf_counter() - started)
        print(f"read every stored vector (baseline): median {statistics.median(reads):.1f} s "
              f"(runs: {', '.join(f'{r:.1f}' for r in reads)})")
        print(f"label {args.segments} segments against {args.labels} labels (shots, labels, "
              f"per-video labels, chapters, SQL writes): median {statistics.median(full):.1f} s "
              f"(runs: {', '.join(f'{r:.1f}' for r in full)}); "
              f"{report.moments} labelled moments; "
              f"{statistics.median(full) / statistics.median(reads):.1f}x the baseline")

        retrain = []
        for video_id, t0, t1 in examples[:args.runs]:
            started = time.perf_counter()
            training = labeler.add_example("learned", video_id, t0, t1)
            applied = labeler.update()
            retrain.append(time.perf_counter() - started)
            assert applied.labels == 1 and applied.videos == 0
        print(f"retrain one learned label and label the library with it: median "
              f"{statistics.median(retrain):.1f} s (runs: "
              f"{', '.join(f'{r:.1f}' for r in retrain)}); {training.describe()}")
        store.close()


if __name__ == "__main__":
    main()
