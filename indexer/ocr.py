"""What is written on screen: text read off the sampled frames (OCR), one `ocr` segment per
stretch of consecutive frames that show the same text, embedded with the CLIP text encoder.

OCR engines sit in a registry keyed by spec string (`settings.ocr_model`), like the encoders:
`rapidocr:ppocr-v4` is PaddleOCR's PP-OCRv4 detection + recognition (Chinese and English) on
ONNX Runtime, shipped inside the rapidocr-onnxruntime wheel, so it works offline. Models load
on first use, never at import time.

OCR costs ten times what CLIP costs per frame, so it is selective (bench/ocr_speed.py):
it runs in the parent on the frames the sampler already thinned by scene change; a frame
without the sharp contrast text needs is skipped; a frame that repeats the last one read (a
static shot's periodic frame) reuses its text; detection runs on a downscaled frame and
recognition only inside the boxes it finds."""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from vidseek.core.errors import ModelUnavailable
from vidseek.core.records import Segment
from vidseek.core.settings import Settings
from vidseek.indexer.sampling import frame_signature
from vidseek.models.registry import Registry, Spec


@dataclass(frozen=True)
class TextLine:
    text: str
    score: float  # recognition confidence, 0..1


class OcrEngine(Protocol):
    spec: str

    def read(self, frame: np.ndarray) -> list[TextLine]:
        """The lines of text in a uint8 RGB frame, top to bottom."""
        ...


@dataclass(frozen=True)
class OcrOptions:
    frame_side: int  # frames decoded with this short side: 224 (CLIP's) merges words
    detect_side: int  # detection runs on the frame scaled to this longer side
    threads: int  # ONNX Runtime threads; 0: all cores
    local_change: float = 0.1  # a cell changing this much keeps the frame (text appeared)
    min_score: float = 0.6  # lines recognised with less confidence are dropped
    min_edges: float = 0.0005  # share of pixels with sharp contrast below which no text can be
    same_picture: float = 0.03  # largest cell change of a frame that repeats the last one read
    same_text: float = 0.8  # similarity of two reads that are the same text (OCR jitters)

    @classmethod
    def from_settings(cls, settings: Settings) -> OcrOptions:
        return cls(frame_side=settings.ocr_frame_side, detect_side=settings.ocr_detect_side,
                   threads=settings.threads)


class RapidOcrEngine:
    """PP-OCRv4 through rapidocr-onnxruntime; the weights ship inside the wheel."""

    MODELS = ("ppocr-v4",)

    def __init__(self, spec: Spec, options: OcrOptions):
        if spec.name not in self.MODELS:  # checked now: a typo must not wait for the first frame
            raise ModelUnavailable(f"rapidocr has no model {spec.name!r}; known: "
                                   f"{', '.join(self.MODELS)}")
        self.spec = str(spec)
        self.options = options
        self._model = None

    @property
    def model(self):
        if self._model is None:
            try:
                from rapidocr_onnxruntime import RapidOCR
            except ImportError:
                raise ModelUnavailable("rapidocr-onnxruntime is not installed. Fix: pip install "
                                       "rapidocr-onnxruntime, or set VIDSEEK_INDEX_OCR=false") from None
            o = self.options
            # Detection is given frames already scaled down to detect_side (below); "min" with
            # a tiny limit keeps it from scaling them up again (its default scales the shorter
            # side up to 736: 25x the pixels of a 320x180 frame). No angle classifier: text on
            # screen is upright, and it costs a pass per box.
            self._model = RapidOCR(det_limit_type="min", det_limit_side_len=32, use_cls=False,
                                   intra_op_num_threads=o.threads or os.cpu_count() or 1,
                                   inter_op_num_threads=1)
        return self._model

    def read(self, frame: np.ndarray) -> list[TextLine]:
        import cv2

        model = self.model
        image = np.ascontiguousarray(frame[..., ::-1])  # it expects BGR
        h, w = image.shape[:2]
        scale = min(1.0, self.options.detect_side / max(h, w))
        small = image if scale == 1.0 else cv2.resize(
            image, (max(1, round(w * scale)), max(1, round(h * scale))),
            interpolation=cv2.INTER_AREA)
        boxes, _ = model.text_det(small)
        if boxes is None or not len(boxes):
            return []
        # Recognition reads each box at full size: small text stays legible.
        boxes = [np.asarray(b, np.float32) / scale for b in model.sorted_boxes(boxes)]
        lines, _ = model.text_rec(model.get_crop_img_list(image, boxes))
        return [TextLine(str(text).strip(), float(score)) for text, score, *_ in lines
                if float(score) >= self.options.min_score and str(text).strip()]

    @classmethod
    def load(cls, spec: Spec, settings: Settings) -> RapidOcrEngine:
        return cls(spec, OcrOptions.from_settings(settings))

    @classmethod
    def installed(cls, spec: Spec, settings: Settings, download: bool) -> tuple[bool, str]:
        """Whether the engine and its weights are here (they ship in the wheel), and where."""
        try:
            import rapidocr_onnxruntime
        except ImportError:
            return False, "rapidocr-onnxruntime is not installed. Fix: pip install rapidocr-onnxruntime"
        models = os.path.join(os.path.dirname(rapidocr_onnxruntime.__file__), "models")
        return True, f"PP-OCRv4 detection + recognition (ONNX) in {models}"


OCR_ENGINES: Registry[OcrEngine] = Registry(
    "on-screen text", "OCR engine", "ocr_model", lambda s: Spec.parse(s.ocr_model),
    {"rapidocr": RapidOcrEngine})


# --- pure: which frames to read, and which reads are one span of text ----------------------

def could_hold_text(frame: np.ndarray, min_edges: float) -> bool:
    """False for a frame with (almost) no sharp contrast, which no legible text can be on:
    a flat colour, a fade, a blurred background. Costs well under a millisecond."""
    gray = frame.astype(np.int16).sum(axis=2)  # 0..765
    sharp = (np.abs(np.diff(gray, axis=1)) > 120).mean()
    return bool(sharp >= min_edges)


def normalised(text: str) -> str:
    return " ".join(text.casefold().split())


def same_text(a: str, b: str, threshold: float) -> bool:
    """Two reads of the same words: equal once normalised, or close enough that the difference
    is OCR jitter (a dropped space, one misread letter)."""
    a, b = normalised(a), normalised(b)
    return a == b or difflib.SequenceMatcher(None, a, b).ratio() >= threshold


@dataclass(frozen=True)
class TextSpan:
    t0: float
    t1: float
    text: str


def text_spans(reads: list[list[TextLine]], spans: list[tuple[float, float]],
               threshold: float = OcrOptions.same_text) -> list[TextSpan]:
    """Consecutive frames (each standing for `spans[i]`) that show the same text, as one span;
    its text is the frame's read with the best confidence. A frame without text ends a span."""
    out: list[TextSpan] = []
    best_score = 0.0
    for lines, (t0, t1) in zip(reads, spans, strict=True):
        text = " ".join(line.text for line in lines)
        if not text:
            continue
        score = sum(line.score for line in lines) / len(lines)
        last = out[-1] if out else None
        if last and abs(last.t1 - t0) < 1e-6 and same_text(last.text, text, threshold):
            better = score > best_score
            out[-1] = TextSpan(last.t0, t1, text if better else last.text)
            best_score = max(best_score, score)
        else:
            out.append(TextSpan(t0, t1, text))
            best_score = score
    return out


# --- the stage -------------------------------------------------------------------------------

@dataclass
class OcrReader:
    """Reads one video's frames as they arrive, window by window."""

    engine: OcrEngine
    options: OcrOptions
    reads: list[list[TextLine]] = field(default_factory=list)
    _last_signature: np.ndarray | None = None

    def add(self, frames: np.ndarray) -> None:
        for frame in frames:
            self.reads.append(self._read(frame))

    def _read(self, frame: np.ndarray) -> list[TextLine]:
        if not could_hold_text(frame, self.options.min_edges):
            self._last_signature = None
            return []
        signature = frame_signature(frame, size=32)
        if (self._last_signature is not None and self.reads
                and float(np.abs(signature - self._last_signature).max()) < self.options.same_picture):
            return self.reads[-1]  # the same picture as the frame just read: the same text
        self._last_signature = signature
        return self.engine.read(frame)


class OcrStage:
    """The frame stage for on-screen text: read frames, merge reads into spans, embed them."""

    modality = "ocr"

    def __init__(self, engine: OcrEngine, encoder, options: OcrOptions):
        self.engine = engine
        self.encoder = encoder
        self.options = options
        self.short_side = options.frame_side
        self.local_change = options.local_change

    @classmethod
    def from_settings(cls, settings: Settings, encoder) -> OcrStage:
        return cls(OCR_ENGINES.load(settings), encoder, OcrOptions.from_settings(settings))

    def reader(self) -> OcrReader:
        return OcrReader(self.engine, self.options)

    def segments(self, reader: OcrReader, spans: list[tuple[float, float]]) -> list[Segment]:
        """`ocr` segments for a video whose kept frames stand for `spans`."""
        found = text_spans(reader.reads, spans, self.options.same_text)
        if not found:
            return []
        vectors = self.encoder.embed_texts([s.text for s in found])
        return [Segment("ocr", s.t0, s.t1, v, text=s.text)
                for s, v in zip(found, vectors, strict=True)]
