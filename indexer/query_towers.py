"""What a library encodes queries with: the text tower on ONNX Runtime with torch kept out of
the process where it can be, the full encoder otherwise.

Importing torch costs a process ~0.5 GB of memory (more with a CUDA build of it), and a server
mostly answers sentences. Where the text tower runs on ONNX Runtime (runtimes.text_runtime), a
child process loads the encoder the way indexing does (exporting the text tower, or finding its
export in the cache) and tokenizes probe sentences with open_clip's tokenizer; this process
then runs that ONNX file with CLIP's tokenizer ported to numpy (clip_tokenizer.py), provided
the two agree on every probe. The first image query loads the full encoder, torch with it."""

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
from typing import TYPE_CHECKING

import numpy as np

from vidseek.indexer.clip_tokenizer import ClipTokenizer
from vidseek.indexer.onnx_session import OnnxTower
from vidseek.indexer.runtimes import RuntimePlan, text_on_torch_anywhere
from vidseek.search.records import unit
from vidseek.settings import Settings

if TYPE_CHECKING:
    from vidseek.indexer.encoders import ImageTextEncoder

log = logging.getLogger(__name__)

# Sentences both tokenizers must turn into the same ids: accents, entities, CJK, emoji,
# contractions, digits, special-token text, and one past the context length.
PROBES = ("a photo of a dog", "Ünïcödé &amp;amp; ２０２６ 東京 🚀 it's  THE   end",
          "<start_of_text> don't we'll 3.14 $100 e-mail <END_OF_TEXT>",
          "naïve café Ελληνικά Русский عربى हिन्दी " * 12)


@dataclass(frozen=True)
class TextTowerFile:
    """The configured encoder's text tower as an ONNX file, and what runs it the same way."""

    spec: str
    dim: int
    runtime: RuntimePlan  # the full encoder's plan: its `vectors` are the library's family
    text_runtime: str
    path: Path
    context_length: int
    probe_tokens: tuple[tuple[int, ...], ...]  # open_clip's ids for PROBES


def export_text_tower(settings: Settings) -> TextTowerFile | None:
    """Load the configured encoder (in a child process: this imports torch) and give its text
    tower's ONNX file, or None where the text tower runs on torch."""
    from vidseek.indexer.encoders import load_image_text_encoder

    encoder = load_image_text_encoder(settings)
    if encoder.text_export is None:
        return None
    tokens = np.asarray(encoder.tokenizer(list(PROBES)))
    return TextTowerFile(encoder.spec, encoder.dim, encoder.runtime, encoder.text_runtime,
                         encoder.text_export, tokens.shape[1],
                         tuple(tuple(row) for row in tokens.tolist()))


def load_query_encoder(settings: Settings,
                       load_full: Callable[[], ImageTextEncoder]) -> ImageTextEncoder:
    """The text tower alone, on ONNX Runtime without torch, where it runs there and the
    tokenizers agree; else `load_full()`, the encoder that indexes. Only open_clip's towers are
    exported (a backend registered in this process alone would not be in the child's registry)."""
    from vidseek.indexer.encoders import ENCODERS, OpenClipEncoder

    backend = ENCODERS.get(ENCODERS.spec_for(settings).backend)
    if backend is not OpenClipEncoder or text_on_torch_anywhere(settings):
        return load_full()
    tower = text_tower_from_child(settings)
    if tower is None:
        return load_full()
    tokenizer = ClipTokenizer(tower.context_length)
    if tokenizer(list(PROBES)).tolist() != [list(row) for row in tower.probe_tokens]:
        log.info("vidseek: %s's tokenizer is not CLIP's BPE; its queries run on the full "
                 "encoder", tower.spec)
        return load_full()
    return OnnxTextEncoder(tower, tokenizer, load_full, settings.threads)


def text_tower_from_child(settings: Settings) -> TextTowerFile | None:
    """`export_text_tower(settings)` run in a child process (its stderr is this one's): what
    it returns, or what it raised, raised here."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    child = subprocess.run([sys.executable, "-m", __name__], input=pickle.dumps(settings),
                           stdout=subprocess.PIPE, env=env, check=False)
    if child.returncode != 0:
        raise RuntimeError(f"the process that loads the text tower exited with status "
                           f"{child.returncode}")
    outcome = pickle.loads(child.stdout)
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def _child() -> None:
    """Read pickled settings on stdin, write the pickled outcome of export_text_tower on
    stdout; anything else the loading prints goes to stderr."""
    answer, sys.stdout = sys.stdout.buffer, sys.stderr
    settings = pickle.loads(sys.stdin.buffer.read())
    try:
        outcome = export_text_tower(settings)
    except Exception as e:  # noqa: BLE001  (raised again in the parent, as it was)
        outcome = e
    answer.write(pickle.dumps(outcome))
    answer.flush()


class OnnxTextEncoder:
    """Sentences through the text tower's ONNX file, tokenized without torch; images through
    the full encoder, loaded on the first image query, which then answers sentences too (from
    the same file) and this tower's copy is dropped."""

    def __init__(self, tower: TextTowerFile, tokenizer: ClipTokenizer,
                 load_full: Callable[[], ImageTextEncoder], threads: int):
        self.spec, self.dim, self.runtime = tower.spec, tower.dim, tower.runtime
        self.text_runtime = tower.text_runtime
        self._tokenizer = tokenizer
        self._text: OnnxTower | None = OnnxTower(tower.path, threads)
        self._load_full = load_full
        self._full: ImageTextEncoder | None = None
        self._lock = threading.Lock()

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        text = self._text  # read before _full: the full encoder is set before this is dropped
        if text is None:
            return self._full.embed_texts(texts)
        tokens = self._tokenizer(list(texts))
        eot = tokens.argmax(axis=-1)  # the end-of-text token has the highest id
        return unit(text(tokens[:, :int(eot.max()) + 1], eot))

    def embed_images(self, frames: np.ndarray) -> np.ndarray:
        return self._full_encoder().embed_images(frames)

    def _full_encoder(self) -> ImageTextEncoder:
        with self._lock:
            if self._full is None:
                from vidseek.indexer.encoders import return_free_memory

                self._full = self._load_full()
                self._text = None  # its weights freed, and handed back to the OS
                return_free_memory()
            return self._full

    def release_image_tower(self) -> None:
        if self._full is not None:
            self._full.release_image_tower()


if __name__ == "__main__":
    # Through the module's own name, so what it pickles is importable in the parent.
    from vidseek.indexer import query_towers

    query_towers._child()
