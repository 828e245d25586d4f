"""CLIP's byte-level BPE tokenizer without torch: what a server needs to turn a query into the
text tower's input when that tower runs on ONNX Runtime.

open_clip's `SimpleTokenizer` (clean "lower", truncation) gives the same ids; it returns torch
tensors, and importing open_clip imports torch, the largest part of a serving process's memory.
Its vocabulary file is read from the installed open_clip package without importing it.
vidseek/models/query_towers.py checks the two agree on probe sentences before it uses this one."""

from __future__ import annotations

import functools
import gzip
import html
import importlib.util
from pathlib import Path

import ftfy
import numpy as np
import regex

VOCABULARY_FILE = "bpe_simple_vocab_16e6.txt.gz"
MERGES = 49152 - 256 - 2  # the merges CLIP's vocabulary uses from the file
START, END = "<start_of_text>", "<end_of_text>"
# A server sees words without end; the BPE of each is remembered up to this many.
WORD_CACHE = 65536


def open_clip_vocabulary() -> Path:
    """The BPE merges file inside the installed open_clip package (not imported)."""
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("open_clip is not installed: its BPE vocabulary is not here")
    return Path(spec.submodule_search_locations[0]) / VOCABULARY_FILE


def byte_symbols() -> dict[int, str]:
    """Each byte as a printable character (CLIP's reversible byte-to-unicode table)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1),
                 *range(ord("®"), ord("ÿ") + 1)]
    others = [b for b in range(256) if b not in printable]
    return {**{b: chr(b) for b in printable}, **{b: chr(256 + i) for i, b in enumerate(others)}}


def clean(text: str) -> str:
    """ftfy-fixed, HTML-unescaped (twice), whitespace collapsed, lower case."""
    text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
    return " ".join(text.split()).lower()


def cut_at_eot(tokens):
    """Token ids (numpy or torch, batch × context) cut after the longest row's end-of-text
    token, and each row's EOT position: what the causal text tower reads (the padding after
    EOT cannot change its result)."""
    eot = tokens.argmax(-1)  # the end-of-text token has the highest id
    return tokens[:, :int(eot.max()) + 1], eot


class ClipTokenizer:
    """Sentences → token ids (n × context_length, int64): start token, BPE ids, end token,
    zero padding; a sentence too long is cut and ends with the end token."""

    def __init__(self, context_length: int = 77, vocabulary: Path | None = None):
        lines = gzip.open(vocabulary or open_clip_vocabulary()).read().decode("utf-8")
        merges = [tuple(line.split()) for line in lines.split("\n")[1:MERGES + 1]]
        symbols = list(byte_symbols().values())
        vocab = [*symbols, *(s + "</w>" for s in symbols), *("".join(m) for m in merges),
                 START, END]
        self._ids = {token: i for i, token in enumerate(vocab)}
        self._ranks = {merge: i for i, merge in enumerate(merges)}
        self._bytes = byte_symbols()
        self._words = regex.compile(
            rf"{START}|{END}|'s|'t|'re|'ve|'m|'ll|'d|[\p{{L}}]+|[\p{{N}}]|[^\s\p{{L}}\p{{N}}]+",
            regex.IGNORECASE)
        self.start, self.end = self._ids[START], self._ids[END]
        self.context_length = context_length
        self._bpe = functools.lru_cache(WORD_CACHE)(self._merge)

    def _merge(self, word: str) -> tuple[str, ...]:
        """One word's symbols merged by rank, lowest first, until no known pair is left."""
        if word in (START, END):
            return (word,)
        parts = (*word[:-1], word[-1] + "</w>")
        while len(parts) > 1:
            pairs = set(zip(parts, parts[1:]))
            best = min(pairs, key=lambda pair: self._ranks.get(pair, float("inf")))
            if best not in self._ranks:
                break
            merged, i = [], 0
            while i < len(parts):
                if i < len(parts) - 1 and (parts[i], parts[i + 1]) == best:
                    merged.append(parts[i] + parts[i + 1])
                    i += 2
                else:
                    merged.append(parts[i])
                    i += 1
            parts = tuple(merged)
        return parts

    def encode(self, text: str) -> list[int]:
        """The BPE ids of one sentence, without start and end tokens."""
        ids = []
        for word in self._words.findall(clean(text)):
            symbols = "".join(self._bytes[b] for b in word.encode("utf-8"))
            ids += [self._ids[part] for part in self._bpe(symbols)]
        return ids

    def __call__(self, texts: list[str]) -> np.ndarray:
        tokens = np.zeros((len(texts), self.context_length), np.int64)
        for row, text in zip(tokens, texts, strict=True):
            ids = [self.start, *self.encode(text), self.end][:self.context_length]
            ids[-1] = self.end
            row[:len(ids)] = ids
        return tokens
