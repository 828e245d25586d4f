"""ONNX Runtime sessions for exported towers; no torch here, so a server that runs only the
text tower (vidseek/models/query_towers.py) never imports it. vidseek/models/onnx_export.py exports them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def session(path: Path, threads: int):
    """An ONNX Runtime CPU session on `threads` threads (0: all cores). Idle threads sleep
    instead of spinning, so they leave the cores to decoding and Whisper in the pipeline."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or os.cpu_count() or 1
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


class OnnxTower:
    """One exported tower: arrays (numpy, or CPU torch tensors) in, float32 embeddings out
    (the GIL is released while ONNX Runtime computes)."""

    def __init__(self, path: Path, threads: int):
        self.path = path
        self._session = session(path, threads)
        self._names = [i.name for i in self._session.get_inputs()]

    def __call__(self, *inputs) -> np.ndarray:
        feeds = {n: np.ascontiguousarray(x) for n, x in zip(self._names, inputs, strict=True)}
        return self._session.run(None, feeds)[0]
