"""open_clip's towers on ONNX Runtime, exported once per model and cached beside the weights.

An export is keyed on the model spec, a fingerprint of the weights themselves and the version
of the export code below, so a changed model (another checkpoint, the same tag retrained, a
new export) gets a new file and never an old one. Each file is written under a temporary
name and renamed into place (vidseek/core/files.py): a process killed mid-export leaves no file that
a later load would take for a finished one; that load exports again."""

from __future__ import annotations

import contextlib
import copy
import hashlib
import importlib.util
import logging
import re
import warnings
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import torch

from vidseek.core.errors import OnnxUnavailable, one_line
from vidseek.core.files import remove_abandoned, replaced_whole
from vidseek.models.clip_tokenizer import cut_at_eot
from vidseek.models.onnx_session import OnnxTower
from vidseek.models.text_tower import CausalTextTower

# Bump when what export_image / export_text / quantise write changes: old files are not used.
EXPORT_VERSION = 1
OPSET = 17


def weights_fingerprint(model: torch.nn.Module) -> str:
    """A digest of every tensor's name, shape, dtype and a strided sample of its values:
    two checkpoints of one architecture differ in it, and it costs milliseconds, not the
    seconds that hashing every byte of a large model would."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        flat = tensor.detach().reshape(-1)
        sample = flat[:: max(1, flat.numel() // 4096)].float().cpu().numpy()
        digest.update(f"{name}:{tuple(tensor.shape)}:{tensor.dtype}".encode())
        digest.update(sample.tobytes())
    return digest.hexdigest()


def cache_key(spec: str, fingerprint: str) -> str:
    """The name an export of `spec` with these weights goes by. The exporter's onnx version is
    read from its package metadata: importing onnx costs a second, and a cached export does
    not need it."""
    text = f"{spec}|{fingerprint}|export v{EXPORT_VERSION}|opset {OPSET}|torch {torch.__version__}"
    return hashlib.sha256(f"{text}|onnx {metadata.version('onnx')}".encode()).hexdigest()[:20]


def cached_export(folder: Path, name: str, key: str, write: Callable[[Path], None]) -> Path:
    """`folder/name-key.onnx`, made by `write(temporary path)` if it is not there yet. The
    file appears only once complete (vidseek/core/files.py); exports of `name` for other keys are
    removed then, and the temporary files of exports that were killed."""
    path = folder / f"{name}-{key}.onnx"
    if path.is_file():
        return path
    with replaced_whole(path) as temporary:
        write(temporary)
    for old in folder.glob(f"{name}-*.onnx"):
        if old != path:
            old.unlink(missing_ok=True)
    remove_abandoned(folder, f"{name}-*")
    return path


def _export(module: torch.nn.Module, inputs: tuple, names: list[str], dynamic: dict,
            path: Path) -> None:
    # The TorchScript-based exporter (the dynamo one needs onnxscript, not installed). Not
    # under no_grad: there nn.MultiheadAttention takes a fused fast path ONNX cannot express.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, inputs, str(path), input_names=names, output_names=["embedding"],
                          dynamic_axes=dynamic, opset_version=OPSET, dynamo=False)


def export_image(model, image_size: int, path: Path) -> None:
    """The image tower: pixels (batch × 3 × size × size, normalised) → embeddings."""
    example = torch.zeros(2, 3, image_size, image_size)
    _export(model.visual.eval(), (example,), ["pixels"],
            {"pixels": {0: "batch"}, "embedding": {0: "batch"}}, path)


def export_text(model, tokens: torch.Tensor, path: Path) -> None:
    """The causal text tower cut at the end-of-text token (text_tower.CausalTextTower, fp32,
    unpacked): tokens (batch × length) and the end-of-text positions → embeddings."""
    tower = CausalTextTower(copy.deepcopy(model), torch.float32, pack=False).eval()
    _export(tower, cut_at_eot(tokens), ["tokens", "eot"],
            {"tokens": {0: "batch", 1: "length"}, "eot": {0: "batch"},
             "embedding": {0: "batch"}}, path)


def quantise(source: Path, path: Path) -> None:
    """Dynamic int8 quantisation: int8 weights, activations quantised per batch at run time."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.disable(logging.WARNING)  # its advice to pre-process first, on every call
    try:
        quantize_dynamic(str(source), str(path), weight_type=QuantType.QInt8)
    finally:
        logging.disable(logging.NOTSET)


def export_folder(model_dir: Path, spec: str) -> Path:
    """Where the exports of one model spec live: beside the other models of the library."""
    return model_dir / "onnx" / re.sub(r"[^A-Za-z0-9._-]+", "_", spec)


def onnx_key(fingerprint: str, spec: str) -> str:
    """What the exports of a model with these weights (weights_fingerprint) go by (cache_key);
    raises OnnxUnavailable when ONNX Runtime or the exporter's onnx package is missing."""
    # Looked up, not imported (a second's import that a cached export does not need): an
    # install too broken to import fails the export or the session, as OnnxUnavailable too.
    for package in ("onnx", "onnxruntime"):  # the exporter writes through onnx
        if importlib.util.find_spec(package) is None:
            raise OnnxUnavailable(f"{package} is not installed (pip install onnxruntime onnx)")
    return cache_key(spec, fingerprint)


def export_tower(model, spec: str, key: str, name: str, image_size: int, tokens: torch.Tensor,
                 precision: str, model_dir: Path) -> Path:
    """The file of the `name` tower ("image" or "text") of `model` at `precision` (fp32 or
    int8), exported under `key` (onnx_key) or taken from the cache. Raises OnnxUnavailable
    with the reason."""
    writers = {"image": lambda p: export_image(model, image_size, p),
               "text": lambda p: export_text(model, tokens, p)}
    folder = export_folder(model_dir, spec)
    with _unavailable_on_failure(spec, name):
        path = cached_export(folder, f"{name}-fp32", key, writers[name])
        if precision == "int8":
            path = cached_export(folder, f"{name}-int8", key,
                                 lambda p, source=path: quantise(source, p))
    return path


def onnx_tower(model, spec: str, key: str, name: str, image_size: int, tokens: torch.Tensor,
               precision: str, model_dir: Path, threads: int) -> OnnxTower:
    """That tower (export_tower) on ONNX Runtime. Raises OnnxUnavailable with the reason."""
    path = export_tower(model, spec, key, name, image_size, tokens, precision, model_dir)
    with _unavailable_on_failure(spec, name):
        return OnnxTower(path, threads)


@contextlib.contextmanager
def _unavailable_on_failure(spec: str, name: str):
    try:
        yield
    except Exception as e:  # noqa: BLE001  (any exporter or runtime failure: torch runs it)
        raise OnnxUnavailable(f"the ONNX export of {spec}'s {name} tower failed "
                              f"({type(e).__name__}: {one_line(e)})") from e
