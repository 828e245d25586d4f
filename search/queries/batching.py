"""Concurrent text queries share one encoder pass.

A web server gets many queries at once; encoding them one by one makes each wait for all the
others. Here the first caller encodes everything that is waiting, in one batch, while callers
that arrive meanwhile queue for the next batch; when a batch is done, the first of those
callers leads the next one, so nobody keeps working for others after its own answer is ready.
A lone query is encoded at once: no timer, no added latency."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass
class _Request:
    text: str
    done: threading.Event = field(default_factory=threading.Event)
    vector: np.ndarray | None = None
    error: BaseException | None = None
    leads: bool = False  # woken to encode the next batch (its own is in it)


class TextBatcher:
    """Wraps `embed(texts) -> (n, dim)` so that concurrent single-text calls are batched."""

    def __init__(self, embed: Callable[[list[str]], np.ndarray], max_batch: int = 32):
        self._embed = embed
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._pending: list[_Request] = []
        self._busy = False

    def embed_one(self, text: str) -> np.ndarray:
        """The vector of `text`, computed in a batch with whatever else is waiting."""
        request = _Request(text)
        with self._lock:
            self._pending.append(request)
            leads, self._busy = not self._busy, True
        if not leads:
            request.done.wait()
            leads = request.leads
        if leads:
            self._run_batch()
        if request.error is not None:
            raise request.error
        return request.vector

    def _run_batch(self) -> None:
        """Encode the oldest waiting requests (the caller's own among them), then hand over."""
        with self._lock:
            batch = self._pending[:self._max_batch]
            del self._pending[:self._max_batch]
        try:
            vectors = self._embed([r.text for r in batch])
            for r, v in zip(batch, vectors, strict=True):
                r.vector = v
        except BaseException as e:  # every waiter gets the error, none hangs
            for r in batch:
                r.error = e
        for r in batch:
            r.done.set()
        with self._lock:
            if self._pending:
                self._pending[0].leads = True
                self._pending[0].done.set()
            else:
                self._busy = False
