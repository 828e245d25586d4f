"""What finding faces costs, and how well it finds people.

    python -m bench.faces [--minutes 2] [--runs 3] [--set face_frame_side=288 ...]

Clips are made from the real photos in tests/data/faces (tests/face_clips.py): random shots of
3-8 s showing Obama, Biden, both at once, a third person or no one, still, panned or zoomed,
640x360 H.264, cut one after another; who is on screen is known to the second.

1. Speed: the frame path (ViT-B-32 with random weights: it costs what the real one costs)
   indexes the clips with faces off (the baseline), on, and on with the detector's full pass on
   every frame (no quick pass for large faces), alternately, in one run; medians of x real
   time. Target: faces on keeps at least half the baseline's x real time.
2. Finding, on the same clips indexed with faces: for each of Obama and Biden, a photo the
   clips never show (obama2.jpg, biden2.jpg) searched by face, and the person clustering made
   searched by person=: recall of the seconds the person is on screen (target >= 0.95), and the
   share of the seconds returned where they are not (target <= 2%). Clustering: purity and
   completeness of the face tracks (each labelled by the shot's people where one is shown).
   And the similarities that set `face_similarity`: each track to its own person's query photo
   (lowest) and to the other's (highest)."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from tests.face_clips import FACES, Shot, write_shots
from vidseek.core.settings import Settings
from vidseek.indexer.analysis import Stages
from vidseek.indexer.faces import FaceStage
from vidseek.indexer.pipeline import Indexer
from vidseek.library import Library
from vidseek.search.people.clustering import purity_and_completeness
from vidseek.search.people.finding import query_face

CACHE = Path(tempfile.gettempdir()) / "vidseek-bench-faces"
# What a shot may show, and who that is; the query photos (obama2.jpg, biden2.jpg) are not here.
POOL = [("obama.jpg", "obama"), ("obama1.jpg", "obama"), ("obama3.jpg", "obama"),
        ("obama-group", "obama"), ("obama-pair", "obama"), ("biden.jpg", "biden"),
        ("biden-group", "biden"), ("two_people.jpg", "obama,biden"), ("stranger", "stranger"),
        (None, None)]
QUERIES = {"obama": "obama2.jpg", "biden": "biden2.jpg"}
CLIP_SECONDS = 60


def make_clips(minutes: float) -> tuple[Path, dict[str, list[Shot]]]:
    """Clips of random shots, `minutes` long in all, and each clip's shots; reused."""
    root = CACHE / f"clips-{minutes:g}min"
    rng = np.random.default_rng(0)
    plan = {}
    for c in range(int(np.ceil(minutes * 60 / CLIP_SECONDS))):
        shots, total = [], 0
        while total < CLIP_SECONDS:
            seconds = int(min(rng.integers(3, 9), CLIP_SECONDS - total))
            picture, who = POOL[rng.integers(len(POOL))]
            wide = picture == "two_people.jpg"
            shots.append(Shot(seconds, picture, who, height=int(rng.integers(200, 300 if wide else 340)),
                              pan=int(rng.choice([0, 0, 80, -60])),
                              zoom=float(rng.choice([1.0, 1.0, 1.3]))))
            total += seconds
        plan[f"clip{c:03d}.mp4"] = shots
    if not root.exists():
        root.mkdir(parents=True)
        for name, shots in plan.items():
            write_shots(root / name, shots)
    return root, plan


class TimedEngine:
    """The configured face engine, adding up the seconds it detects and describes; with
    `full_pass`, every detection looks for small faces too."""

    def __init__(self, engine, full_pass: bool = False):
        self.engine, self.spec, self.dim, self.seconds = engine, engine.spec, engine.dim, 0.0
        self.large_face, self.full_pass = engine.large_face, full_pass

    def detect(self, picture, small=True):
        return self._timed(self.engine.detect, picture, small or self.full_pass)

    def describe(self, picture, boxes):
        return self._timed(self.engine.describe, picture, boxes)

    def _timed(self, method, *args):
        start = time.perf_counter()
        try:
            return method(*args)
        finally:
            self.seconds += time.perf_counter() - start


SETTINGS: dict[str, str] = {}  # --set: face settings other than the defaults, for both parts


def settings_for(data_dir: str, model: str, faces: bool) -> Settings:
    return Settings.load(env={}, data_dir=data_dir, clip_model=model, transcribe=False,
                         index_audio=False, index_subtitles=False, index_ocr=False,
                         index_faces=faces, allow_download=False, **SETTINGS)


def index_run(root: Path, model: str, faces: bool,
              full_pass: bool = False) -> tuple[float, float]:
    """(x real time, share of the wall time the face model took) indexing `root` afresh,
    models loaded before the clock starts."""
    with tempfile.TemporaryDirectory() as tmp:
        lib = Library(settings_for(tmp, model, faces))
        stages, engine = (), None
        if faces:
            stage = FaceStage.from_settings(lib.settings)
            stage.engine.detect(np.zeros((360, 640, 3), np.uint8))  # loads the models
            stage.engine = engine = TimedEngine(stage.engine, full_pass)
            stages = (stage,)
        report = Indexer(lib.settings, lib.store, lib.encoder, Stages(frames=stages)).index(root)
        lib.close()
    return (report.video_seconds / report.wall_seconds,
            engine.seconds / report.wall_seconds if engine else 0.0)


def on_screen_seconds(shots: list[Shot], who: str) -> set[int]:
    seconds, t = set(), 0
    for shot in shots:
        if who in (shot.who or "").split(","):
            seconds.update(range(t, t + shot.seconds))
        t += shot.seconds
    return seconds


def returned_seconds(lib: Library, moments) -> dict[str, set[int]]:
    """The whole seconds the moments cover, by clip name."""
    out: dict[str, set[int]] = {}
    for m in moments:
        name = Path(lib.video(m.video_id).path).name
        out.setdefault(name, set()).update(range(int(round(m.t0)), int(round(m.t1))))
    return out


def score(truth: dict[str, set[int]], found: dict[str, set[int]]) -> tuple[float, float, int]:
    """(recall of the true seconds, share of returned seconds that are wrong, seconds)."""
    true = sum(len(s) for s in truth.values())
    hit = sum(len(truth.get(n, set()) & s) for n, s in found.items())
    returned = sum(len(s) for s in found.values())
    return hit / true if true else 1.0, (returned - hit) / returned if returned else 0.0, true


def quality(root: Path, plan: dict[str, list[Shot]], model: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        lib = Library(settings_for(tmp, model, faces=True))
        outcome = lib.index(root)
        deep = lib.search_options(k=1000)
        by_name = {v.id: Path(v.path).name for v in lib.videos()}
        tracks, labels, found = [], [], []
        for person in lib.list_people(hidden=True):
            for t in lib.person_tracks(str(person.id)):
                tracks.append(t)
                found.append(person.id)
        unassigned = [t for v in lib.videos() for t in lib.video_faces(v.id) if t.person_id is None]
        for t in [*tracks, *unassigned]:
            labels.append(track_truth(plan[by_name[t.video_id]], t.t0, t.t1))
        found += [None] * len(unassigned)
        known = [(lab, f) for lab, f in zip(labels, found) if lab is not None]
        purity, completeness = purity_and_completeness([lab for lab, _ in known],
                                                       [f for _, f in known])
        print(f"faces: {lib.store.segment_count('face')} tracks in "
              f"{sum(s.seconds for p in plan.values() for s in p)} s of clips; "
              f"{lib.people.count()} people founded ({outcome.people})")
        print(f"clustering: purity {purity:.3f}, completeness {completeness:.3f} over "
              f"{len(known)} tracks of one person's shots")
        engine = lib.face_engine
        for who, photo in QUERIES.items():
            truth = {n: on_screen_seconds(shots, who) for n, shots in plan.items()}
            query = np.array(Image.open(FACES / photo).convert("RGB"))
            by_face = score(truth, returned_seconds(lib, lib.search_face(query, deep)))
            cluster = max(lib.list_people(hidden=True), key=lambda p: len(
                {(by_name[t.video_id], s) for t in lib.person_tracks(str(p.id))
                 for s in range(int(t.t0), int(t.t1))}
                & {(n, s) for n, ss in truth.items() for s in ss}))
            by_person = score(truth, returned_seconds(lib, lib.search_person(str(cluster.id), deep)))
            print(f"{who}: {by_face[2]} s on screen; by face ({photo}): recall {by_face[0]:.3f} "
                  f"[target >= 0.95], wrong {by_face[1]:.1%} [target <= 2%]; by person= "
                  f"(cluster {cluster.id}): recall {by_person[0]:.3f}, wrong {by_person[1]:.1%}")
            q = query_face(engine, query)
            own, other = [], []
            for t, lab in zip([*tracks, *unassigned], labels):
                sim = float(lib.store.vectors([t.segment_id])[0] @ q)
                (own if lab == who else other if lab is not None else []).append(sim)
            print(f"  similarity to {photo}: own tracks >= {min(own):.3f}, other people's "
                  f"<= {max(other):.3f} (face_similarity {lib.settings.face_similarity})")
        lib.close()


def track_truth(shots: list[Shot], t0: float, t1: float) -> str | None:
    """The one person shown in the shot a track lies in (None: two people, or no one)."""
    t = 0
    for shot in shots:
        if t <= (t0 + t1) / 2 < t + shot.seconds:
            return shot.who if shot.who and "," not in shot.who else None
        t += shot.seconds
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--minutes", type=float, default=2.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model", default="open_clip:ViT-B-32/random")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a setting for the runs, e.g. face_frame_side=288")
    args = parser.parse_args()
    SETTINGS.update(item.split("=", 1) for item in args.set)
    root, plan = make_clips(args.minutes)
    print(f"clips: {root} ({args.minutes:g} min of 640x360 H.264)", flush=True)
    off, on, full = [], [], []
    for run in range(args.runs):  # --runs 0: the finding part alone
        off.append(index_run(root, args.model, faces=False)[0])
        on.append(index_run(root, args.model, faces=True))
        full.append(index_run(root, args.model, faces=True, full_pass=True))
        print(f"  run {run + 1}: faces off {off[-1]:.1f}x, on {on[-1][0]:.1f}x real time (the "
              f"face model {on[-1][1]:.0%} of it), on with the full pass on every frame "
              f"{full[-1][0]:.1f}x ({full[-1][1]:.0%})", flush=True)
    if args.runs:
        base = statistics.median(off)
        for name, runs in (("faces on", on), ("full pass", full)):
            x = statistics.median(x for x, _ in runs)
            print(f"frame path, {name + ':':10} {x:6.1f}x real time = {x / base:.2f}x the "
                  f"baseline   [target >= 0.5x]; the face model took "
                  f"{statistics.median(share for _, share in runs):.0%} of its wall time")
        print(f"frame path, faces off:  {base:6.1f}x real time  [baseline]")
    t = time.perf_counter()
    quality(root, plan, args.model)
    print(f"({time.perf_counter() - t:.0f} s)")


if __name__ == "__main__":
    main()
