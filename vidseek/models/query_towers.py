"""What a library encodes queries with: the CLIP towers on ONNX Runtime with torch kept out of
the process where they can be, the full encoder otherwise.

Importing torch costs a process hundreds of MB of memory (more with a CUDA build), and a server
mostly answers sentences. Where the text tower runs on ONNX Runtime (runtimes.text_runtime), a
child process loads the encoder the way indexing does, exports both towers (or finds them in
the cache) and tokenizes probe sentences with open_clip's tokenizer; this process then runs
those ONNX files, with CLIP's tokenizer ported to numpy (clip_tokenizer.py) provided the two
agree on every probe, and open_clip's image preprocessing done by PIL. The image tower is
loaded by the first image query, and can be released again.
"""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vidseek.core.errors import OnnxUnavailable, one_line
from vidseek.core.records import unit
from vidseek.core.settings import Settings
from vidseek.models.clip_tokenizer import ClipTokenizer, cut_at_eot
from vidseek.models.encoders import (
    ENCODERS,
    ImageTextEncoder,
    OpenClipEncoder,
    load_image_text_encoder,
    return_free_memory,
)
from vidseek.models.onnx_session import OnnxTower
from vidseek.models.runtimes import RuntimePlan, text_on_torch_anywhere

log = logging.getLogger(__name__)

# Sentences both tokenizers must turn into the same ids: accents, entities, CJK, emoji,
# contractions, digits, special-token text, and one past the context length.
PROBES = ("a photo of a dog", "Ünïcödé &amp;amp; ２０２６ 東京 🚀 it's  THE   end",
          "<start_of_text> don't we'll 3.14 $100 e-mail <END_OF_TEXT>",
          "naïve café Ελληνικά Русский عربى हिन्दी " * 12)


@dataclass(frozen=True)
class QueryTowers:
    """The configured encoder's towers as ONNX files, and what runs them the same way."""

    spec: str
    dim: int
    runtime: RuntimePlan  # the full encoder's plan: its `vectors` are the library's family
    text_runtime: str
    text_path: Path
    context_length: int
    probe_tokens: tuple[tuple[int, ...], ...]  # open_clip's ids for PROBES
    image_path: Path | None  # None: the export failed, so image queries load the full encoder
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]


def export_query_towers(settings: Settings) -> QueryTowers | None:
    """Load the configured open_clip encoder (in a child process: this imports torch) and give
    its towers' ONNX files, or None where the text tower runs on torch."""
    encoder: OpenClipEncoder = load_image_text_encoder(settings)  # load_query_encoder checked
    if encoder.text_export is None:
        return None
    try:
        image_path = encoder.export_image_tower()
    except OnnxUnavailable as e:
        log.warning("vidseek: %s; image queries will load the full encoder", e)
        image_path = None
    tokens = np.asarray(encoder.tokenizer(list(PROBES)))
    return QueryTowers(encoder.spec, encoder.dim, encoder.runtime, encoder.text_runtime,
                       encoder.text_export, tokens.shape[1],
                       tuple(tuple(row) for row in tokens.tolist()), image_path,
                       encoder.image_size, encoder.mean, encoder.std)


def pixels(frames: np.ndarray, size: int, mean: tuple, std: tuple) -> np.ndarray:
    """uint8 RGB frames (n×h×w×3) as the image tower's input (n×3×size×size, float32): the
    short side resized to `size` (bicubic, antialiased), centre-cropped, normalised. The same
    as the encoder's torch preprocessing to within 1e-5 of a pixel: PIL's bicubic on float
    images is the kernel torch's antialiased bicubic copies."""
    from PIL import Image

    n, h, w, _ = frames.shape
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    top, left = (nh - size) // 2, (nw - size) // 2
    out = np.empty((n, 3, size, size), np.float32)
    for i, frame in enumerate(frames):
        for c in range(3):
            channel = Image.fromarray(frame[..., c].astype(np.float32) / 255, mode="F")
            resized = np.asarray(channel.resize((nw, nh), Image.BICUBIC))
            crop = np.clip(resized[top:top + size, left:left + size], 0, 1)
            out[i, c] = (crop - mean[c]) / std[c]
    return out


def load_query_encoder(settings: Settings,
                       load_full: Callable[[], ImageTextEncoder]) -> ImageTextEncoder:
    """The towers on ONNX Runtime without torch (OnnxQueryEncoder), where the text tower runs
    there and the tokenizers agree; else `load_full()`, the encoder that indexes. Only open_clip's towers are
    exported (a backend registered in this process alone would not be in the child's registry)."""
    backend = ENCODERS.get(ENCODERS.spec_for(settings).backend)
    if backend is not OpenClipEncoder or text_on_torch_anywhere(settings):
        return load_full()
    towers = towers_from_child(settings)
    if towers is None:
        return load_full()
    tokenizer = ClipTokenizer(towers.context_length)
    if tokenizer(list(PROBES)).tolist() != [list(row) for row in towers.probe_tokens]:
        log.info("vidseek: %s's tokenizer is not CLIP's BPE; its queries run on the full "
                 "encoder", towers.spec)
        return load_full()
    return OnnxQueryEncoder(towers, tokenizer, load_full, settings.threads)


def towers_from_child(settings: Settings) -> QueryTowers | None:
    """`export_query_towers(settings)` run in a child process (its stderr is this one's): what
    it returns, or what it raised, raised here."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    child = subprocess.run([sys.executable, "-m", __name__], input=pickle.dumps(settings),
                           stdout=subprocess.PIPE, env=env, check=False)
    if child.returncode != 0:
        raise RuntimeError(f"the process that exports the query towers exited with status "
                           f"{child.returncode}")
    outcome = pickle.loads(child.stdout)
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def _child() -> None:
    """Read pickled settings on stdin, write the pickled outcome of export_query_towers on
    stdout; anything else the loading prints goes to stderr."""
    answer, sys.stdout = sys.stdout.buffer, sys.stderr
    settings = pickle.loads(sys.stdin.buffer.read())
    try:
        outcome = export_query_towers(settings)
    except Exception as e:  # noqa: BLE001  (raised again in the parent, as it was)
        outcome = e
    answer.write(pickle.dumps(outcome))
    answer.flush()


class OnnxQueryEncoder:
    """Sentences and images through the towers' ONNX files, without torch. The image tower
    loads on the first image query (and is let go by `release_image_tower`); where it has no
    export, images go through the full encoder, loaded then, which from then on answers
    sentences too (from the same file), and this text tower's copy is dropped."""

    def __init__(self, towers: QueryTowers, tokenizer: ClipTokenizer,
                 load_full: Callable[[], ImageTextEncoder], threads: int):
        self.spec, self.dim, self.runtime = towers.spec, towers.dim, towers.runtime
        self.text_runtime = towers.text_runtime
        self._towers, self._threads = towers, threads
        self._tokenizer = tokenizer
        self._text: OnnxTower | None = OnnxTower(towers.text_path, threads)
        self._image: OnnxTower | None = None
        self._image_path = towers.image_path
        self._load_full = load_full
        self._full: ImageTextEncoder | None = None
        self._lock = threading.Lock()

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        text = self._text  # read before _full: the full encoder is set before this is dropped
        if text is None:
            return self._full.embed_texts(texts)
        return unit(text(*cut_at_eot(self._tokenizer(list(texts)))))

    def embed_images(self, frames: np.ndarray) -> np.ndarray:
        tower = self._image_tower()
        if tower is None:
            return self._full_encoder().embed_images(frames)
        t = self._towers
        return unit(tower(pixels(frames, t.image_size, t.mean, t.std)))

    def _image_tower(self) -> OnnxTower | None:
        """The image tower's session, made on first use; None where there is no export, or
        ONNX Runtime cannot load it (a damaged file in the cache): the full encoder's then."""
        with self._lock:
            if self._image is None and self._image_path is not None:
                try:
                    self._image = OnnxTower(self._image_path, self._threads)
                except Exception as e:  # noqa: BLE001  (whatever ONNX Runtime raises)
                    log.warning("vidseek: ONNX Runtime cannot load %s (%s); image queries "
                                "will load the full encoder", self._image_path, one_line(e))
                    self._image_path = None
            return self._image

    def _full_encoder(self) -> ImageTextEncoder:
        with self._lock:
            if self._full is None:
                self._full = self._load_full()
                self._text = None  # its weights freed, and handed back to the OS
                return_free_memory()
            return self._full

    def release_image_tower(self) -> None:
        """Let the image tower's weights go (the next image query loads them again)."""
        with self._lock:
            self._image = None
        return_free_memory()
        if self._full is not None:
            self._full.release_image_tower()


if __name__ == "__main__":
    # Through the module's own name, so what it pickles is importable in the parent.
    from vidseek.models import query_towers

    query_towers._child()
