"""Face models found by spec string (`settings.face_model`), like the encoders: a face engine
finds faces in an RGB picture and describes each by a vector of identity, in a space of its own
(not CLIP's): two faces of one person lie close, of two people far apart.

`dlib:resnet-v1` is dlib's HOG face detector, its 5-point landmarks (to align a face) and its
ResNet face descriptor (128-d, 99.38% on LFW), with the weights of the PyPI package
face-recognition-models. The 68-point landmarks in that package are not used: their training
data is licensed for non-commercial use only. Models load on first use, never at import time.
An ONNX/CUDA model (ArcFace) would be one more class and one more registry entry."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from vidseek.core.errors import ModelUnavailable
from vidseek.core.records import unit
from vidseek.core.settings import Settings
from vidseek.models.registry import Registry, Spec


@dataclass(frozen=True)
class FaceBox:
    """A face found in a picture: its box in pixels (x1, y1 exclusive) and how sure the
    detector is (its own scale)."""

    x0: int
    y0: int
    x1: int
    y1: int
    score: float

    @property
    def area(self) -> int:
        return max(0, self.x1 - self.x0) * max(0, self.y1 - self.y0)


class FaceEngine(Protocol):
    spec: str
    dim: int
    large_face: int  # the shortest side (pixels) of a face that detect(small=False) finds

    def detect(self, picture: np.ndarray, small: bool = True) -> list[FaceBox]:
        """The faces in a uint8 RGB picture, largest first; `small` False: only those of
        `large_face` pixels and up, for less time."""
        ...

    def describe(self, picture: np.ndarray, boxes: list[FaceBox]) -> np.ndarray:
        """One unit-length identity vector per box of `picture`, shape (len(boxes), dim)."""
        ...


def dlib_weights_dir() -> Path | None:
    """Where face-recognition-models keeps its weights, found without importing it (its
    __init__ imports pkg_resources, gone from recent setuptools); None when not installed."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "models"


class DlibFaceEngine:
    """dlib's HOG detector + 5-point landmarks + ResNet descriptor, on the CPU."""

    MODELS = ("resnet-v1",)
    LANDMARKS = "shape_predictor_5_face_landmarks.dat"
    DESCRIPTOR = "dlib_face_recognition_resnet_model_v1.dat"
    dim = 128
    large_face = 80  # HOG's window: a smaller face is found only on a frame doubled first

    def __init__(self, spec: Spec, upsample: int):
        if spec.name not in self.MODELS:  # checked now: a typo must not wait for the first face
            raise ModelUnavailable(f"dlib has no face model {spec.name!r}; known: "
                                   f"{', '.join(self.MODELS)}")
        self.spec = str(spec)
        self.upsample = upsample
        self._models = None

    @property
    def models(self):
        """(detector, landmarks, descriptor), loaded on first use."""
        if self._models is None:
            try:
                import dlib
            except ImportError:
                raise ModelUnavailable("dlib is not installed. Fix: pip install dlib-bin, or set "
                                       "VIDSEEK_INDEX_FACES=false") from None
            weights = dlib_weights_dir()
            missing = [name for name in (self.LANDMARKS, self.DESCRIPTOR)
                       if weights is None or not (weights / name).is_file()]
            if missing:
                raise ModelUnavailable(f"the dlib face weights are missing ({', '.join(missing)}). "
                                       "Fix: pip install face-recognition-models, or set "
                                       "VIDSEEK_INDEX_FACES=false")
            self._models = (dlib.get_frontal_face_detector(),
                            dlib.shape_predictor(str(weights / self.LANDMARKS)),
                            dlib.face_recognition_model_v1(str(weights / self.DESCRIPTOR)))
        return self._models

    def detect(self, picture: np.ndarray, small: bool = True) -> list[FaceBox]:
        from PIL import Image

        detector = self.models[0]
        h, w = picture.shape[:2]
        # On grey, HOG reads one channel instead of the strongest of three: 30% less time,
        # the same faces found on the test photos (bench/faces.py).
        grey = np.asarray(Image.fromarray(np.ascontiguousarray(picture)).convert("L"))
        # Not doubled, the frame costs a quarter (bench/faces.py).
        rects, scores, _ = detector.run(grey, self.upsample if small else 0, 0.0)
        boxes = [FaceBox(max(0, r.left()), max(0, r.top()), min(w, r.right() + 1),
                         min(h, r.bottom() + 1), float(s)) for r, s in zip(rects, scores)]
        return sorted((b for b in boxes if b.area), key=lambda b: -b.area)

    def describe(self, picture: np.ndarray, boxes: list[FaceBox]) -> np.ndarray:
        import dlib

        _, landmarks, descriptor = self.models
        picture = np.ascontiguousarray(picture)
        out = np.zeros((len(boxes), self.dim), np.float32)
        for i, b in enumerate(boxes):
            shape = landmarks(picture, dlib.rectangle(b.x0, b.y0, b.x1 - 1, b.y1 - 1))
            out[i] = np.asarray(descriptor.compute_face_descriptor(picture, shape))
        # Unit length, so the index's inner product is a cosine (dlib's own distance is
        # Euclidean on vectors of length ~1.4; the threshold is set on the cosine).
        return unit(out)

    @classmethod
    def load(cls, spec: Spec, settings: Settings) -> DlibFaceEngine:
        return cls(spec, settings.face_upsample)

    @classmethod
    def installed(cls, spec: Spec, settings: Settings, download: bool) -> tuple[bool, str]:
        """Whether dlib and the weights are here (they ship in PyPI wheels), and where."""
        if importlib.util.find_spec("dlib") is None:
            return False, "dlib is not installed. Fix: pip install dlib-bin"
        weights = dlib_weights_dir()
        if weights is None or not (weights / cls.DESCRIPTOR).is_file():
            return False, "face weights are missing. Fix: pip install face-recognition-models"
        return True, f"HOG detector + 5-point landmarks + ResNet descriptor in {weights}"


FACE_ENGINES: Registry[FaceEngine] = Registry(
    "faces", "face model", "face_model", lambda s: Spec.parse(s.face_model),
    {"dlib": DlibFaceEngine})
