"""Who is on screen: faces found in the sampled frames, followed through a shot, one `face`
segment per track (its span, its box where it was largest, a crop of it), described once by the
face model (vidseek/models/faces.py) in the face space, not CLIP's.

Faces cost like OCR, so the stage is selective (bench/faces.py): the detector runs on the
frames the sampler kept, at `face_frame_side`; a frame that repeats the last one (a static
shot's periodic frame) reuses its faces; inside a shot of large faces, a pass that finds large
faces alone (a quarter of the time) comes first; at most `face_max_per_frame` faces of a frame
are followed (the largest: a crowd costs no more); a face is described once per track, on the
frame where it is largest (a description made to check a link counts), not on every frame.
A box that overlaps one of the frame before continues its track when it also looks alike (a
small grey patch of the face); where it does not (a cut to someone else standing where they
stood, or a face turning), the face model decides, so one track never holds two people."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from vidseek.core.records import FACE, Segment
from vidseek.core.settings import Settings
from vidseek.indexer.sampling import frame_signature
from vidseek.models.faces import FACE_ENGINES, FaceBox, FaceEngine


@dataclass(frozen=True)
class FaceOptions:
    frame_side: int  # frames decoded with this short side
    max_per_frame: int  # the largest faces of a frame followed; the rest are left
    similarity: float  # cosine at or above which two faces are one person
    # A cell changing this much keeps the frame, as for text: a face that grows in a slow zoom
    # is found when it is large enough, not at the next scene change (bench/faces.py: Biden's
    # recall 0.981 against 0.904 with the sampler's own rule, for 60% more frames kept).
    local_change: float = 0.1
    same_picture: float = 0.03  # largest cell change of a frame that repeats the last one
    cut: float = 0.25  # mean cell change of a cut: every track ends there
    overlap: float = 0.3  # box overlap (IoU) of one face in consecutive frames
    # Correlation of two faces' 8-px grey patches at or above which they are one face without
    # asking the face model: one face a sampled step apart 0.60-0.99 in bench/faces.py's clips
    # (at 16 px 0.52-0.98: twice the links doubtful), two people up to 0.43 (any two photos).
    same_patch: float = 0.8
    crop_margin: float = 0.5  # of the box's size, kept around a face to describe and show it
    thumbnail_side: int = 160

    @classmethod
    def from_settings(cls, settings: Settings) -> FaceOptions:
        return cls(frame_side=settings.face_frame_side,
                   max_per_frame=settings.face_max_per_frame,
                   similarity=settings.face_similarity)


# --- pure: which boxes are one face through a shot -------------------------------------------

def overlap(a: FaceBox, b: FaceBox) -> float:
    """Intersection over union of two boxes."""
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    inter = max(0, w) * max(0, h)
    union = a.area + b.area - inter
    return inter / union if union else 0.0


def link(tracks: list[FaceBox], boxes: list[FaceBox], threshold: float) -> dict[int, int]:
    """Which box (by index) continues which track (by index of its last box): greedily, the
    pairs that overlap most first, each at least `threshold`."""
    pairs = sorted(((overlap(t, b), i, j) for i, t in enumerate(tracks)
                    for j, b in enumerate(boxes)), reverse=True)
    out: dict[int, int] = {}
    taken: set[int] = set()
    for score, i, j in pairs:
        if score < threshold:
            break
        if i not in out and j not in taken:
            out[i] = j
            taken.add(j)
    return out


@dataclass
class Track:
    """One face followed through consecutive frames: its first and last frame (by index among
    the kept frames), its latest box, and the crop where it was largest."""

    first: int
    last: int
    box: FaceBox
    best_area: int = 0
    crop: np.ndarray | None = field(default=None, repr=False)  # RGB around the face
    crop_box: FaceBox | None = None  # the face within `crop`
    relative: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)  # box in the frame, 0-1
    patch: np.ndarray | None = field(default=None, repr=False)  # of its latest box
    # Who it is, to check a doubtful link against: described once, from the crop of then.
    reference: np.ndarray | None = field(default=None, repr=False)
    vector: np.ndarray | None = field(default=None, repr=False)  # of its crop, once described
    described_area: int = 0  # the area of the crop `vector` describes


def patch(frame: np.ndarray, box: FaceBox, side: int = 8) -> np.ndarray:
    """A face's grey patch, `side` pixels square, zero mean and unit length: what two boxes of
    one face share from one sampled frame to the next."""
    grey = Image.fromarray(frame[box.y0:box.y1, box.x0:box.x1]).convert("L")
    values = np.asarray(grey.resize((side, side), Image.BILINEAR), np.float32).ravel()
    values -= values.mean()
    return values / max(float(np.linalg.norm(values)), 1e-6)


def crop_around(frame: np.ndarray, box: FaceBox, margin: float) -> tuple[np.ndarray, FaceBox]:
    """The part of `frame` around a face (`margin` of its size on each side), and the face's
    box within it."""
    h, w = frame.shape[:2]
    mx, my = round((box.x1 - box.x0) * margin), round((box.y1 - box.y0) * margin)
    x0, y0 = max(0, box.x0 - mx), max(0, box.y0 - my)
    x1, y1 = min(w, box.x1 + mx), min(h, box.y1 + my)
    return (frame[y0:y1, x0:x1].copy(),
            FaceBox(box.x0 - x0, box.y0 - y0, box.x1 - x0, box.y1 - y0, box.score))


def jpeg(picture: np.ndarray, side: int) -> bytes:
    image = Image.fromarray(picture)
    image.thumbnail((side, side))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


# --- the stage -------------------------------------------------------------------------------

@dataclass
class FaceReader:
    """Finds and follows the faces of one video's frames as they arrive, window by window."""

    engine: FaceEngine
    options: FaceOptions
    done: list[Track] = field(default_factory=list)
    open: list[Track] = field(default_factory=list)
    frames: int = 0
    _last_signature: np.ndarray | None = None
    _last_boxes: list[FaceBox] = field(default_factory=list)

    def add(self, frames: np.ndarray) -> None:
        for frame in frames:
            self._add(frame)
            self.frames += 1

    def _add(self, frame: np.ndarray) -> None:
        signature = frame_signature(frame, size=32)
        change = (np.inf if self._last_signature is None
                  else np.abs(signature - self._last_signature))
        self._last_signature = signature
        cut = np.mean(change) >= self.options.cut
        if np.max(change) < self.options.same_picture:
            boxes = self._last_boxes  # the same picture as the frame before: the same faces
        else:
            boxes = self._detect(frame, cut)[:self.options.max_per_frame]
        self._last_boxes = boxes
        if cut:  # no face carries over
            self.done += self.open
            self.open = []
        links = link([t.box for t in self.open], boxes, self.options.overlap)
        patches = [patch(frame, box) for box in boxes]
        vectors: dict[int, np.ndarray] = {}  # of the boxes the face model described, by index
        links = {i: j for i, j in links.items()
                 if self._same_face(self.open[i], frame, boxes[j], patches[j], j, vectors)}
        continued = set(links.values())
        still = []
        for i, track in enumerate(self.open):
            if i in links:
                j = links[i]
                track.last, track.box, track.patch = self.frames, boxes[j], patches[j]
                if self._keep_if_larger(track, frame) and j in vectors:
                    # Described whole just now: its crop needs no second description.
                    track.vector, track.described_area = vectors[j], track.best_area
                still.append(track)
            else:
                self.done.append(track)
        for j, box in enumerate(boxes):
            if j not in continued:
                track = Track(self.frames, self.frames, box, patch=patches[j])
                self._keep_if_larger(track, frame)
                still.append(track)
        self.open = still

    def _detect(self, frame: np.ndarray, cut: bool) -> list[FaceBox]:
        """The faces of a frame. Inside a shot whose last frame showed only large faces, the
        cheap pass that finds large faces alone is tried first, and kept when it finds as many,
        all large (a face that shrank, or left, makes the full pass look again); a small face
        that appears beside large ones waits for them to go, or for the next cut."""
        def large(boxes: list[FaceBox]) -> bool:
            return all(min(b.x1 - b.x0, b.y1 - b.y0) >= self.engine.large_face for b in boxes)

        last = self._last_boxes
        if not cut and last and large(last):
            boxes = self.engine.detect(frame, small=False)
            if len(boxes) >= len(last) and large(boxes):
                return boxes
        return self.engine.detect(frame)

    def _same_face(self, track: Track, frame: np.ndarray, box: FaceBox, box_patch: np.ndarray,
                   index: int, vectors: dict[int, np.ndarray]) -> bool:
        """Whether `box` (the frame's `index`th), overlapping the track's last box, is the same
        face: alike in a grey patch, or else to the face model (its vector kept in
        `vectors`)."""
        if float(track.patch @ box_patch) >= self.options.same_patch:
            return True
        if track.reference is None:
            track.reference = describe(self.engine, track)
        vectors[index] = self.engine.describe(frame, [box])[0]
        return float(track.reference @ vectors[index]) >= self.options.similarity

    def _keep_if_larger(self, track: Track, frame: np.ndarray) -> bool:
        """Keep the crop of the track's latest box where it is its largest yet; whether so."""
        if track.box.area > track.best_area:
            h, w = frame.shape[:2]
            b = track.box
            track.best_area = b.area
            track.crop, track.crop_box = crop_around(frame, b, self.options.crop_margin)
            track.relative = (b.x0 / w, b.y0 / h, b.x1 / w, b.y1 / h)
            return True
        return False

    def tracks(self) -> list[Track]:
        """Every track, in the order they started."""
        return sorted(self.done + self.open, key=lambda t: (t.first, t.box.x0))


def describe(engine: FaceEngine, track: Track) -> np.ndarray:
    """The identity vector of a track's largest face, described once per crop."""
    if track.vector is None or track.described_area != track.best_area:
        track.vector = engine.describe(track.crop, [track.crop_box])[0]
        track.described_area = track.best_area
    return track.vector


class FaceStage:
    """The frame stage for faces: find and follow them, describe each track once."""

    modality = FACE

    def __init__(self, engine: FaceEngine, options: FaceOptions):
        self.engine = engine
        self.options = options
        self.short_side = options.frame_side
        self.local_change = options.local_change

    @classmethod
    def from_settings(cls, settings: Settings, encoder=None) -> FaceStage:
        return cls(FACE_ENGINES.load(settings), FaceOptions.from_settings(settings))

    def reader(self) -> FaceReader:
        return FaceReader(self.engine, self.options)

    def segments(self, reader: FaceReader, spans: list[tuple[float, float]]) -> list[Segment]:
        """`face` segments for a video whose kept frames stand for `spans`: one per track, the
        tracks of one face that a cut or a fast move broke, joined again."""
        tracks = reader.tracks()
        vectors = [describe(self.engine, t) for t in tracks]
        tracks, vectors = self._rejoin(tracks, vectors)
        return [Segment(FACE, spans[t.first][0], spans[t.last][1], v, box=t.relative,
                        thumbnail=jpeg(t.crop, self.options.thumbnail_side))
                for t, v in zip(tracks, vectors, strict=True)]

    def _rejoin(self, tracks: list[Track], vectors: list[np.ndarray]
                ) -> tuple[list[Track], list[np.ndarray]]:
        """A track that starts on the frame after another ends, of the same person (a face
        that moved too far between two samples), continues it."""
        out: list[tuple[Track, np.ndarray]] = []
        for track, vector in zip(tracks, vectors, strict=True):
            before = next((i for i, (t, v) in enumerate(out) if t.last == track.first - 1
                           and float(v @ vector) >= self.options.similarity), None)
            if before is None:
                out.append((track, vector))
                continue
            t, v = out[before]
            larger = track if track.best_area > t.best_area else t
            joined = Track(t.first, track.last, track.box, larger.best_area, larger.crop,
                           larger.crop_box, larger.relative)
            out[before] = (joined, vector if larger is track else v)
        return [t for t, _ in out], [v for _, v in out]
