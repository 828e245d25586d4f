"""The query text encoder: open_clip's own encode_text (eager, all 77 positions) against
vidseek's traced text tower (cut at the end-of-text token, weights packed for oneDNN) in
float32 and bfloat16, and in bfloat16 on unpacked weights, alone and beside a thread that
keeps the GIL busy (as a web server's other request threads do); and an image query through
open_clip's eager image tower against the traced one.
Prints milliseconds per batch of queries and the ratios.

    python -m bench.query_encoder                      # ViT-B-32 with random weights
    python -m bench.query_encoder --model open_clip:vidseek-tiny/random --passes 5
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.synthetic import queries


def timed(encode: Callable[[object], object], texts: object, passes: int) -> float:
    """Median milliseconds of one call."""
    encode(texts)
    samples = []
    for _ in range(passes):
        started = time.perf_counter()
        encode(texts)
        samples.append((time.perf_counter() - started) * 1000)
    return float(np.median(samples))


def with_busy_gil(measure: Callable[[], float]) -> float:
    """`measure()` while another thread runs pure Python, holding the GIL whenever it can."""
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            sum(range(1000))

    spinner = threading.Thread(target=spin)
    spinner.start()
    try:
        return measure()
    finally:
        stop.set()
        spinner.join()


def open_clip_model(spec: str, settings):
    """A fresh open_clip model with the encoder's weights (the encoder takes over its own
    model's text modules)."""
    import open_clip
    import torch

    from vidseek.models.encoders import resolve_clip_weights
    from vidseek.models.registry import Spec

    parsed = Spec.parse(spec)
    torch.manual_seed(0)  # how the encoder seeds a random model
    pretrained = None if parsed.tag == "random" else resolve_clip_weights(parsed, settings)
    return open_clip.create_model(parsed.name, pretrained=pretrained).eval()


def main(argv: list[str] | None = None) -> int:
    import torch

    from vidseek.core.settings import Settings
    from vidseek.models.encoders import load_image_text_encoder
    from vidseek.models.text_tower import TracedTextEncoder

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="open_clip:ViT-B-32/random")
    p.add_argument("--passes", type=int, default=15, help="timed calls per figure")
    args = p.parse_args(argv)
    texts = queries(8)
    print(f"query encoder, {args.model}, 1 torch thread (as under `vidseek serve`), "
          f"median of {args.passes} calls")
    with tempfile.TemporaryDirectory() as tmp:
        settings = {precision: Settings.load(
            env={}, data_dir=Path(tmp), clip_model=args.model, allow_download=False, threads=1,
            text_precision=precision) for precision in ("float32", "bfloat16")}
        encoders = {precision: load_image_text_encoder(s) for precision, s in settings.items()}
        eager = open_clip_model(args.model, settings["float32"])
        unpacked = TracedTextEncoder(open_clip_model(args.model, settings["float32"]),
                                     torch.bfloat16, encoders["float32"].tokenizer(["a photo"]),
                                     pack=False)
    torch.set_num_threads(1)
    tokenizer = encoders["float32"].tokenizer

    def eager_encode(batch: list[str]):
        with torch.inference_mode():
            return eager.encode_text(tokenizer(batch))

    candidates = {"open_clip encode_text": eager_encode,
                  "traced float32": encoders["float32"].embed_texts,
                  "traced bfloat16 unpacked": lambda batch: unpacked(tokenizer(batch)),
                  "traced bfloat16": encoders["bfloat16"].embed_texts}
    rows = {}
    for name, encode in candidates.items():
        rows[name] = [timed(encode, texts[:1], args.passes), timed(encode, texts, args.passes),
                      with_busy_gil(lambda e=encode: timed(e, texts, max(3, args.passes // 3)))]
    print(f"{'':<26}{'1 query':>10}{'8 queries':>11}{'8, GIL busy':>13}")
    for name, (one, eight, busy) in rows.items():
        print(f"{name:<26}{one:>8.1f}ms{eight:>9.1f}ms{busy:>11.1f}ms")
    base = rows["open_clip encode_text"]
    for name in list(rows)[1:]:
        print(f"{name} vs open_clip: {base[1] / rows[name][1]:.2f}x alone, "
              f"{base[2] / rows[name][2]:.1f}x with the GIL busy (8 queries)")
    before, after = rows["traced bfloat16 unpacked"], rows["traced bfloat16"]
    print(f"packed weights vs unpacked (bfloat16): {before[0] / after[0]:.2f}x for 1 query, "
          f"{before[1] / after[1]:.2f}x for 8")
    encoder = encoders["float32"]
    image = np.random.default_rng(0).integers(0, 255, (1, 480, 640, 3), dtype=np.uint8)

    def eager_image(frames: np.ndarray):
        with torch.inference_mode():
            return eager.encode_image(encoder._pixels(frames))

    for name, encode in {"open_clip encode_image": eager_image,
                         "traced image tower": encoder.embed_images}.items():
        alone = timed(encode, image, args.passes)
        busy = with_busy_gil(lambda e=encode: timed(e, image, max(3, args.passes // 3)))
        print(f"1 image query (640x480), {name}: {alone:.1f} ms alone, {busy:.1f} ms with the "
              "GIL busy")
    cosines = (encoders["bfloat16"].embed_texts(queries(64)) *
               encoders["float32"].embed_texts(queries(64))).sum(axis=1)
    print(f"bfloat16 vs float32 vectors: min cosine {cosines.min():.5f} over 64 queries")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
