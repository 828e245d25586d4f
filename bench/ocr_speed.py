"""What reading on-screen text costs and how much of it it finds.

    python -m bench.ocr_speed [--minutes 10] [--runs 3]

1. Speed: the frame path on bench.index_speed's library (720p H.264, static, panning and
   moving shots), indexed with OCR off (the baseline) and on, alternately, in one run; medians
   of x real time. Target: OCR on keeps at least half the baseline's x real time.
2. Recall: clips of slides with English words and Chinese phrases rendered at known seconds
   (several sizes, on flat colours and on textures), indexed with OCR; a word counts as found
   when a keyword search for it returns an `ocr` hit within one sampled frame of when it
   appeared. ViT-B-32 with random weights costs what the real one costs."""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.index_speed import make_library
from tests.media import Slide, write_slides
from vidseek.core.settings import Settings
from vidseek.indexer.analysis import Stages
from vidseek.indexer.ocr import OcrStage
from vidseek.indexer.pipeline import Indexer
from vidseek.library import Library

WORDS = ["QUOKKA", "LIGHTHOUSE", "Platform 9", "EXIT", "Bakery", "SALE 50%", "Harbour Road",
         "MUSEUM", "Chapter Two", "WARNING", "Ticket Office", "Pharmacy", "NO PARKING",
         "Welcome", "Quarterly Results", "Zebra"]
PHRASES = ["袋鼠过马路", "火车站", "图书馆", "欢迎光临", "出口", "北京大学", "天气预报", "地铁"]
SIZES = (20, 28, 40, 56)


class CountingEngine:
    """The configured OCR engine, counting the frames it actually reads."""

    def __init__(self, engine):
        self.engine, self.spec, self.reads = engine, engine.spec, 0

    def read(self, frame):
        self.reads += 1
        return self.engine.read(frame)


def settings_for(tmp: str, model: str, ocr: bool) -> Settings:
    return Settings.load(env={}, data_dir=tmp, clip_model=model, transcribe=False,
                         index_audio=False, index_subtitles=False, index_ocr=ocr,
                         allow_download=False)


def index_run(root: Path, model: str, ocr: bool) -> tuple[float, int, int]:
    """(x real time, frames kept, frames the OCR engine read) indexing `root` afresh."""
    with tempfile.TemporaryDirectory() as tmp:
        lib = Library(settings_for(tmp, model, ocr))
        engine = None
        stages = ()
        if ocr:
            stage = OcrStage.from_settings(lib.settings, lib.encoder)
            engine = stage.engine = CountingEngine(stage.engine)
            stages = (stage,)
        indexer = Indexer(lib.settings, lib.store, lib.encoder, Stages(frames=stages))
        if engine:
            engine.read(np.zeros((360, 640, 3), np.uint8))  # load the model outside the timing
            engine.reads = 0
        report = indexer.index(root)
        kept = lib.store.segment_count("frame")
        lib.close()
    return report.video_seconds / report.wall_seconds, kept, engine.reads if engine else 0


def recall_clips(root: Path) -> list[tuple[str, str, float]]:
    """Slide clips of every word and phrase; (file, text, second it appears)."""
    rng = np.random.default_rng(0)
    shown = []
    texts = WORDS + PHRASES
    for c in range(0, len(texts), 6):
        slides, t = [], 0.0
        for i, text in enumerate(texts[c:c + 6]):
            colour = tuple(int(v) for v in rng.integers(40, 200, 3))
            background = None
            if i % 2:  # a smooth texture under the text, as in the speed library
                small = rng.integers(0, 255, (6, 10, 3)).astype(np.uint8)
                background = np.kron(small, np.ones((64, 64, 1), np.uint8))
            slides.append(Slide(2, color=colour))
            slides.append(Slide(3, text, colour, SIZES[(c + i) % len(SIZES)], background))
            shown.append((f"slides{c:02d}.mp4", text, t + 2))
            t += 5
        write_slides(root / f"slides{c:02d}.mp4", slides)
    return shown


def ocr_recall(model: str) -> tuple[int, int, int]:
    """(found by keyword search at the right second, read exactly, shown)."""
    with tempfile.TemporaryDirectory() as tmp:
        videos = Path(tmp) / "videos"
        videos.mkdir()
        shown = recall_clips(videos)
        lib = Library(settings_for(str(Path(tmp) / "data"), model, ocr=True))
        lib.indexer.index(videos)
        found = exact = 0
        texts = {s.text for v in lib.store.videos() for s in lib.store.video_segments(v.id, "ocr")}
        for name, text, t in shown:
            exact += text in texts
            moments = lib.engine.search_text(text, lib.search_options(modalities=("ocr",)))
            found += any(lib.store.video_path(m.video_id).endswith(name) and h.modality == "ocr"
                         and "keyword" in h.matched_by and abs(h.t0 - t) <= 1.0
                         for m in moments for h in m.hits)
        lib.close()
    return found, exact, len(shown)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model", default="open_clip:ViT-B-32/random")
    args = parser.parse_args()

    root = make_library(args.minutes)
    print(f"library: {root} ({args.minutes:g} min of 1280x720 H.264)", flush=True)
    off, on = [], []
    for run in range(args.runs):
        off.append(index_run(root, args.model, ocr=False))
        on.append(index_run(root, args.model, ocr=True))
        print(f"  run {run + 1}: OCR off {off[-1][0]:.1f}x, on {on[-1][0]:.1f}x real time",
              flush=True)
    base = statistics.median(x for x, _, _ in off)
    with_ocr = statistics.median(x for x, _, _ in on)
    print(f"frame path, OCR off: {base:6.1f}x real time ({off[0][1]} frames kept)  [baseline]")
    print(f"frame path, OCR on:  {with_ocr:6.1f}x real time ({on[0][2]} of {on[0][1]} kept "
          f"frames read by OCR) = {with_ocr / base:.2f}x the baseline   [target >= 0.5x]")
    t = time.perf_counter()
    found, exact, shown = ocr_recall(args.model)
    print(f"OCR recall on rendered slides: {found}/{shown} found by keyword search at the "
          f"right second ({found / shown:.0%}), {exact}/{shown} read exactly "
          f"({time.perf_counter() - t:.0f} s)")


if __name__ == "__main__":
    main()
