"""Concurrent text queries are encoded together, and each caller gets its own vector."""

import threading
import time

import numpy as np
import pytest

from vidseek.search.queries.batching import TextBatcher


class SlowEncoder:
    """Takes a while per pass, like a real model, and records the batches it saw."""

    def __init__(self):
        self.batches = []

    def __call__(self, texts):
        self.batches.append(list(texts))
        time.sleep(0.05)
        if "boom" in texts:
            raise RuntimeError("model failed")
        return np.array([[len(t), ord(t[0])] for t in texts], dtype=np.float32)


def test_a_lone_query_is_encoded_at_once():
    enc = SlowEncoder()
    assert TextBatcher(enc).embed_one("dog").tolist() == [3, ord("d")]
    assert enc.batches == [["dog"]]


def test_concurrent_queries_share_passes_and_get_their_own_vectors():
    enc = SlowEncoder()
    batcher = TextBatcher(enc)
    texts = [f"{chr(97 + i)}{'x' * i}" for i in range(12)]
    results = {}

    def ask(t):
        results[t] = batcher.embed_one(t)

    threads = [threading.Thread(target=ask, args=(t,)) for t in texts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {t: v.tolist() for t, v in results.items()} == {t: [len(t), ord(t[0])] for t in texts}
    assert len(enc.batches) < len(texts)  # some passes carried several queries
    assert sorted(t for b in enc.batches for t in b) == sorted(texts)


def test_an_encoder_error_reaches_every_waiter():
    batcher = TextBatcher(SlowEncoder())
    with pytest.raises(RuntimeError, match="model failed"):
        batcher.embed_one("boom")
    assert batcher.embed_one("ok").tolist() == [2, ord("o")]  # not stuck afterwards
