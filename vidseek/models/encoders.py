"""Image+text embedders behind one small interface, found in a registry (vidseek/models/registry.py)
by a spec string.

A spec is `BACKEND:NAME/TAG`, e.g. `open_clip:ViT-B-32/laion2b_s34b_b79k`. The tag `random`
builds a seeded randomly initialised model (tests use the tiny `vidseek-tiny` config that way).
Models load lazily, on first use, never at import time."""

from __future__ import annotations

import ctypes
import functools
import gc
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from vidseek.core.errors import ModelUnavailable
from vidseek.core.records import unit
from vidseek.core.settings import Settings
from vidseek.models.query_encoder import QueryEncoder
from vidseek.models.registry import Registry, Spec
from vidseek.models.runtimes import RuntimePlan

log = logging.getLogger(__name__)
MODEL_CONFIGS = Path(__file__).resolve().parent / "model_configs"


class ImageTextEncoder(QueryEncoder, Protocol):
    """A query encoder that also says how it runs."""

    runtime: RuntimePlan  # how it runs; `runtime.vectors` is recorded with the library

    def release_image_tower(self) -> None: ...


def configure_torch(threads: int) -> None:
    """Run this thread's torch ops on `threads` (0: all cores). A thread's count stays its own
    once the thread has used torch; before that, its first use takes the count set last by any
    thread. A server's worker and its requests set different counts, so the calling thread
    takes its first use here, before setting, and keeps the count it asked for."""
    import torch

    torch.get_num_threads()
    torch.set_num_threads(threads or os.cpu_count() or 1)


class TorchTower:
    """A torch callable (traced graph or open_clip method) on one device and dtype: torch
    tensors in, float32 embeddings (numpy) out."""

    def __init__(self, forward, device: str, dtype):
        self._forward, self._device, self._dtype = forward, device, dtype

    def __call__(self, *inputs) -> np.ndarray:
        import torch

        with torch.inference_mode():
            inputs = [x.to(self._device, self._dtype if x.is_floating_point() else x.dtype)
                      for x in inputs]
            return self._forward(*inputs).float().cpu().numpy()


class OpenClipEncoder:
    """An open_clip model: images (uint8 RGB frames) and texts into one unit-length space,
    on the runtime, precision and device of `runtime` (vidseek/models/runtimes.py)."""

    def __init__(self, spec: str, model, tokenizer, image_size: int, mean, std, text_dtype,
                 runtime: RuntimePlan, text_on: str, model_dir: Path, threads: int,
                 load_again: Callable[[], OpenClipEncoder]):
        import torch

        from vidseek.models.onnx_export import weights_fingerprint

        self.spec = spec
        # Taken before either tower is moved, cast or dropped, so that every plan of one model
        # (a bfloat16 text tower on torch, say) names its exports alike.
        self._fingerprint = weights_fingerprint(model)
        self._load_again = load_again  # what brings a released image tower back
        self._image_lock = threading.Lock()
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.image_size = image_size
        self.mean, self.std = tuple(map(float, mean)), tuple(map(float, std))
        self._mean = torch.tensor(mean).view(1, 3, 1, 1).to(runtime.device)
        self._std = torch.tensor(std).view(1, 3, 1, 1).to(runtime.device)
        self._onnx = functools.partial(self._onnx_tower, runtime.precision, model_dir, threads)
        self._onnx_export = functools.partial(self._onnx_file, runtime.precision, model_dir)
        self.image_export: Path | None = None  # the image tower's ONNX file, when it runs there
        if runtime.runtime == "onnx":
            runtime = self._use_onnx_image(runtime)
            if runtime.runtime == "torch":  # ONNX cannot run here: the text tower neither
                text_on = "torch"
        self.runtime = runtime
        if runtime.runtime == "torch":
            self._use_torch(runtime)
        self.text_export: Path | None = None  # the text tower's ONNX file, when it runs there
        self.text_runtime = self._use_text(runtime, text_on, text_dtype)
        with torch.inference_mode():
            self.dim = int(self._encode_text(tokenizer(["x"])).shape[-1])

    @functools.cached_property
    def onnx_key(self) -> str:
        """What this model's ONNX exports go by (onnx_runtime.onnx_key)."""
        from vidseek.models.onnx_export import onnx_key

        return onnx_key(self._fingerprint, self.spec)

    def _onnx_tower(self, precision: str, model_dir: Path, threads: int, name: str):
        from vidseek.models.onnx_export import onnx_tower

        return onnx_tower(self.model, self.spec, self.onnx_key, name, self.image_size,
                          self.tokenizer(["a photo"]), precision, model_dir, threads)

    def _onnx_file(self, precision: str, model_dir: Path, name: str) -> Path:
        from vidseek.models.onnx_export import export_tower

        return export_tower(self.model, self.spec, self.onnx_key, name, self.image_size,
                            self.tokenizer(["a photo"]), precision, model_dir)

    def _use_onnx_image(self, runtime: RuntimePlan) -> RuntimePlan:
        """The image tower on ONNX Runtime; torch (fp32) if ONNX cannot run."""
        from vidseek.core.errors import OnnxUnavailable

        try:
            self._encode_image = self._onnx("image")
        except OnnxUnavailable as e:
            log.warning("vidseek: %s; running the CLIP encoders on torch (fp32)", e)
            return RuntimePlan("torch", "fp32", "cpu")
        self.image_export = self._encode_image.path
        self.model.visual = None  # ONNX Runtime holds its own copy of these weights
        return runtime

    def export_image_tower(self) -> Path:
        """The image tower's ONNX file at this plan's precision (fp32 where it runs on torch,
        whose vectors it gives to a cosine of 1.00000), exported if the cache lacks it (no
        session is made: whoever runs it does); raises OnnxUnavailable with the reason."""
        if self.image_export is None:
            self.image_export = self._onnx_export("image")
        return self.image_export

    def _use_text(self, runtime: RuntimePlan, text_on: str, text_dtype) -> str:
        """The text tower on `text_on` (runtimes.text_runtime), else on torch; says which."""
        from vidseek.core.errors import OnnxUnavailable
        from vidseek.models.clip_tokenizer import cut_at_eot
        from vidseek.models.text_tower import is_causal_clip

        if text_on == "onnx" and is_causal_clip(self.model):
            try:
                text = self._onnx("text")
            except OnnxUnavailable as e:
                log.warning("vidseek: %s; running the text encoder on torch", e)
            else:
                self._encode_text = lambda tokens: text(*cut_at_eot(tokens))
                self.text_export = text.path
                # ONNX Runtime holds its own copy of the text transformer's weights
                self.model.transformer = self.model.token_embedding = None
                return runtime.onnx_text
        self._use_torch_text(runtime, text_dtype)
        return "torch"

    def _use_torch(self, runtime: RuntimePlan) -> None:
        import torch

        from vidseek.models.text_tower import traced

        dtype = torch.float16 if runtime.precision == "fp16" else torch.float32
        self.model.to(runtime.device, dtype)
        # open_clip's ViT traced too: an image query in a busy server then costs what it costs
        # alone (bench/query_encoder.py), and the indexer's batches run the same graph.
        visual = self.model.encode_image
        if type(self.model.visual).__name__ == "VisionTransformer":
            example = torch.zeros(1, 3, self.image_size, self.image_size,
                                  device=runtime.device, dtype=dtype)
            visual = traced(self.model.visual, example)
        self._encode_image = TorchTower(visual, runtime.device, dtype)

    def _use_torch_text(self, runtime: RuntimePlan, text_dtype) -> None:
        import torch

        from vidseek.models.text_tower import TracedTextEncoder, is_causal_clip

        if runtime.device == "cpu" and is_causal_clip(self.model):
            # oneDNN-packed weights: a CPU detail (text_tower.py); gives float32 CPU tensors
            self._encode_text = TracedTextEncoder(self.model, text_dtype,
                                                  self.tokenizer(["a photo"]))
        else:  # on CUDA, or another text tower: open_clip's own code, as it is
            dtype = torch.float16 if runtime.precision == "fp16" else torch.float32
            self._encode_text = TorchTower(self.model.encode_text, runtime.device, dtype)

    @classmethod
    def load(cls, spec: Spec, settings: Settings) -> OpenClipEncoder:
        import open_clip
        import torch

        from vidseek.models.runtimes import resolve_runtime, resolve_text

        runtime = resolve_runtime(settings)
        text_dtype, text_on = resolve_text(settings, runtime)
        open_clip.add_model_config(MODEL_CONFIGS)
        if spec.name not in open_clip.list_models():
            raise ModelUnavailable(f"open_clip has no model called {spec.name!r}; "
                                   f"known: {', '.join(open_clip.list_models()[:8])}, ...")
        if spec.tag == "random":
            torch.manual_seed(0)
            pretrained = None
        else:
            pretrained = resolve_clip_weights(spec, settings)
        # open_clip and the hub client log every retry of a failed download (and that random
        # init is random); a failure reaches the user once, as ModelUnavailable with the fix.
        logging.disable(logging.ERROR)
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(spec.name,
                                                                         pretrained=pretrained)
        finally:
            logging.disable(logging.NOTSET)
        norm = next(t for t in preprocess.transforms if type(t).__name__ == "Normalize")
        size = model.visual.image_size
        size = size[0] if isinstance(size, (tuple, list)) else size
        return cls(str(spec), model, open_clip.get_tokenizer(spec.name), int(size), norm.mean,
                   norm.std, getattr(torch, text_dtype), runtime, text_on, settings.model_dir,
                   settings.threads, lambda: cls.load(spec, settings))

    @classmethod
    def installed(cls, spec: Spec, settings: Settings, download: bool) -> tuple[bool, str]:
        """Whether the weights are here without a network: random, a checkpoint file, or
        open_clip's hub cache (with `download`, fetched first)."""
        if spec.tag == "random":
            return True, "randomly initialised (for tests only: results carry no meaning)"
        if download:
            try:
                load_image_text_encoder(settings)
            except ModelUnavailable as e:
                return False, str(e)
        if settings.clip_checkpoint:
            path = Path(settings.clip_checkpoint).expanduser()
            return path.exists(), f"checkpoint {path}" + ("" if path.exists() else " does not exist")
        cached = cached_clip_weights(spec)
        if cached:
            return True, f"weights in open_clip cache: {cached}"
        return False, missing_clip_message(spec, "not in cache")

    def _pixels(self, frames: np.ndarray):
        """Resize the short side to the model's size, centre-crop, normalise: open_clip's own
        preprocessing, done on whole batches in torch instead of per PIL image."""
        import torch
        import torch.nn.functional as F

        # Moved as uint8 (a quarter of the bytes), then resized where the model runs.
        x = torch.from_numpy(np.ascontiguousarray(frames)).to(self.runtime.device)
        x = x.permute(0, 3, 1, 2).float().div_(255)
        h, w = x.shape[-2:]
        scale = self.image_size / min(h, w)
        nh, nw = max(self.image_size, round(h * scale)), max(self.image_size, round(w * scale))
        x = F.interpolate(x, size=(nh, nw), mode="bicubic", antialias=True, align_corners=False)
        top, left = (nh - self.image_size) // 2, (nw - self.image_size) // 2
        x = x[..., top:top + self.image_size, left:left + self.image_size].clamp_(0, 1)
        return (x - self._mean) / self._std

    def embed_images(self, frames: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return unit(self._image_tower()(self._pixels(frames)))

    def _image_tower(self):
        with self._image_lock:
            if self._encode_image is None:  # released: load the model again, keep its tower
                self._encode_image = self._load_again()._encode_image
                gc.collect()
                return_free_memory()  # the second model's text tower, just dropped
            return self._encode_image

    def release_image_tower(self) -> None:
        """Free the image tower's weights and give freed memory back to the OS: a server
        answers text queries with the text tower alone, and the image tower's weights plus the
        holes the text tower's unpacked weights left in the heap are a third of its memory
        (`python -m bench.image_tower_memory`). The next image query loads the model again
        (once)."""
        with self._image_lock:
            self._encode_image = None
            self.model.visual = None
        gc.collect()
        return_free_memory()

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return unit(self._encode_text(self.tokenizer(list(texts))))


def return_free_memory() -> None:
    """Hand the heap's free pages back to the OS: glibc keeps pages of freed blocks that are
    not at the heap's top, so dropped weights would still count in the process's memory."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to ask
        pass


def resolve_clip_weights(spec: Spec, settings: Settings) -> str:
    """A local checkpoint path for open_clip, or the pretrained tag when a download is allowed."""
    if settings.clip_checkpoint:
        path = Path(settings.clip_checkpoint).expanduser()
        if path.is_dir():
            found = sorted(p for ext in ("*.safetensors", "*.bin", "*.pt", "*.pth")
                           for p in path.glob(ext))
            if not found:
                raise ModelUnavailable(f"no checkpoint (*.safetensors, *.bin, *.pt) in {path}")
            path = found[0]
        if not path.is_file():
            raise ModelUnavailable(f"clip_checkpoint {path} does not exist")
        return str(path)
    cached = cached_clip_weights(spec)
    if cached:
        return cached
    if not settings.allow_download:
        raise ModelUnavailable(missing_clip_message(spec, "downloads are off (allow_download=false)"))
    return spec.tag


def cached_clip_weights(spec: Spec) -> str | None:
    """The weights file for a pretrained tag if open_clip's hub cache already holds it."""
    import open_clip
    from huggingface_hub import try_to_load_from_cache

    cfg = open_clip.get_pretrained_cfg(spec.name, spec.tag)
    if not cfg or not cfg.get("hf_hub"):
        return None
    repo, filename = os.path.split(cfg["hf_hub"])
    for name in ("open_clip_model.safetensors", filename or "open_clip_pytorch_model.bin"):
        found = try_to_load_from_cache(repo, name)
        if isinstance(found, str):
            return found
    return None


def missing_clip_message(spec: Spec, why: str) -> str:
    return (
        f"the weights of {spec} are not installed ({why}). Fix: connect to the network once "
        f"and run `vidseek models --download`, or copy the checkpoint file "
        f"(open_clip_pytorch_model.bin or .safetensors) to this machine and set "
        f"VIDSEEK_CLIP_CHECKPOINT=/path/to/it (or clip_checkpoint in vidseek.toml)."
    )


ENCODERS: Registry[ImageTextEncoder] = Registry(
    "image+text", "encoder backend", "clip_model", lambda s: Spec.parse(s.clip_model),
    {"open_clip": OpenClipEncoder})


def load_image_text_encoder(settings: Settings) -> ImageTextEncoder:
    """Build the configured image+text encoder; raises ModelUnavailable with the fix."""
    spec = ENCODERS.spec_for(settings)
    backend = ENCODERS.find(spec)
    configure_torch(settings.threads)
    try:
        return backend.load(spec, settings)
    except ModelUnavailable:
        raise
    except RuntimeError as e:
        if "not a known tag" in str(e):
            import open_clip

            known = ", ".join(open_clip.list_pretrained_tags_by_model(spec.name)) or "none"
            raise ModelUnavailable(f"open_clip has no pretrained tag {spec.tag!r} for "
                                   f"{spec.name}; known tags: {known}") from None
        if "download" in str(e).lower():
            raise ModelUnavailable(missing_clip_message(
                spec, "the download from open_clip's model hub failed: no network?")) from None
        raise
