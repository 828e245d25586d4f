"""Clips made from the real face photos in tests/data/faces (README there: who is in which):
shots that show a photo still, panned or zoomed, cuts between them, and stretches with no face,
at known seconds. Used by tests/test_faces.py, tests/test_people.py and bench/faces.py."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

from tests.media import write_frames

FACES = Path(__file__).parent / "data" / "faces"
SIZE = (640, 360)
FPS = 5
# Faces cut out of the group photos (pixels): the third person, neither Obama nor Biden, and
# Obama and Biden as the group photos show them.
CROPS = {"stranger": ("obama_and_biden.jpg", (600, 390, 742, 524)),
         "biden-group": ("obama_and_biden.jpg", (250, 130, 415, 300)),
         "obama-group": ("obama_and_biden.jpg", (410, 115, 570, 285)),
         "obama-pair": ("two_people.jpg", (120, 0, 340, 210))}


@dataclass(frozen=True)
class Shot:
    """`seconds` of one photo (None: no one, a plain wall) on a grey frame, `height` pixels
    tall, moving by `pan` pixels to the right and growing by `zoom` (a factor) over the shot."""

    seconds: int
    photo: str | None = None
    who: str | None = None  # the person(s) on screen, for the expectations: "obama,biden"
    height: int = 300
    pan: int = 0
    zoom: float = 1.0


@cache
def photo(name: str) -> Image.Image:
    """A photo of tests/data/faces, or one of its CROPS by name."""
    if name in CROPS:
        file, box = CROPS[name]
        return Image.open(FACES / file).convert("RGB").crop(box)
    return Image.open(FACES / name).convert("RGB")


def shot_frame(shot: Shot, i: int, n: int) -> np.ndarray:
    w, h = SIZE
    frame = np.full((h, w, 3), 96, np.uint8)
    frame[:, ::40] = 140  # a wall with lines, so that no two shots look alike to the sampler
    if shot.photo is None:
        frame[h // 3::50] = 60
        return frame
    p = i / max(1, n - 1)
    picture = photo(shot.photo)
    height = min(h, round(shot.height * (1 + (shot.zoom - 1) * p)))
    width = round(picture.width * height / picture.height)
    image = np.asarray(picture.resize((width, height), Image.BILINEAR))
    x = max(0, min(w - width, 40 + round(shot.pan * p)))
    y = (h - height) // 2
    frame[y:y + height, x:x + width] = image[:, :min(width, w - x)]
    return frame


def write_shots(path: Path, shots: list[Shot]) -> Path:
    """A clip of these shots, one after another (a cut between each)."""
    frames = (shot_frame(shot, i, n) for shot in shots
              for n in [shot.seconds * FPS] for i in range(n))
    return write_frames(path, frames, FPS, SIZE)


def on_screen(shots: list[Shot], who: str) -> list[tuple[int, int]]:
    """The seconds (start, end) at which `who` is on screen, shot by shot, joined where they
    touch."""
    spans: list[tuple[int, int]] = []
    t = 0
    for shot in shots:
        if who in (shot.who or "").split(","):
            if spans and spans[-1][1] == t:
                spans[-1] = (spans[-1][0], t + shot.seconds)
            else:
                spans.append((t, t + shot.seconds))
        t += shot.seconds
    return spans


# Obama comes in at 3 s (panned), Biden at 7 s (a cut), no one at 10 s, Obama again at 12 s
# (zoomed), and a stranger at 15 s until the end at 18 s.
INTERVIEW = [
    Shot(3),
    Shot(4, "obama.jpg", "obama", pan=120),
    Shot(3, "biden.jpg", "biden"),
    Shot(2),
    Shot(3, "obama1.jpg", "obama", height=200, zoom=1.5),
    Shot(3, "stranger", "stranger", height=240),
]
# Biden, then Obama, each in a photo the first clip does not use.
SECOND = [
    Shot(2, "biden2.jpg", "biden", height=260),
    Shot(2),
    Shot(3, "obama3.jpg", "obama", height=300, pan=-80),
]
