"""Embedders behind one small interface, found in a registry by a spec string.

A spec is `BACKEND:NAME/TAG`, e.g. `open_clip:ViT-B-32/laion2b_s34b_b79k`. The tag `random`
builds a seeded randomly initialised model (tests use the tiny `vidseek-tiny` config that way).
Models load lazily, on first use, never at import time."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from vidseek.settings import Settings

MODEL_CONFIGS = Path(__file__).resolve().parent / "model_configs"


class ModelUnavailable(RuntimeError):
    """A model's weights are not installed; the message says how to install them."""


class ImageTextEncoder(Protocol):
    spec: str
    dim: int

    def embed_images(self, frames: np.ndarray) -> np.ndarray: ...
    def embed_texts(self, texts: list[str]) -> np.ndarray: ...


@dataclass(frozen=True)
class Spec:
    backend: str
    name: str
    tag: str

    @classmethod
    def parse(cls, spec: str) -> Spec:
        backend, sep, rest = spec.partition(":")
        name, _, tag = rest.partition("/")
        if not sep or not name:
            raise ValueError(f"model spec {spec!r} is not BACKEND:NAME/TAG, "
                             "e.g. open_clip:ViT-B-32/laion2b_s34b_b79k")
        return cls(backend, name, tag)

    def __str__(self) -> str:
        return f"{self.backend}:{self.name}/{self.tag}" if self.tag else f"{self.backend}:{self.name}"


def _normalise(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def configure_torch(threads: int) -> None:
    import torch

    torch.set_num_threads(threads or os.cpu_count() or 1)


class OpenClipEncoder:
    """An open_clip model: images (uint8 RGB frames) and texts into one unit-length space."""

    def __init__(self, spec: str, model, tokenizer, image_size: int, mean, std, text_dtype):
        import torch

        from vidseek.indexer.text_tower import TracedTextEncoder, is_causal_clip, traced

        self.spec = spec
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.image_size = image_size
        self._mean = torch.tensor(mean).view(1, 3, 1, 1)
        self._std = torch.tensor(std).view(1, 3, 1, 1)
        if is_causal_clip(self.model):
            self._encode_text = TracedTextEncoder(self.model, text_dtype, tokenizer(["a photo"]))
        else:  # another text tower: open_clip's own code, as it is
            self._encode_text = self.model.encode_text
        # open_clip's ViT traced too: an image query in a busy server then costs what it costs
        # alone (bench/query_encoder.py), and the indexer's batches run the same graph.
        if type(self.model.visual).__name__ == "VisionTransformer":
            example = torch.zeros(1, 3, image_size, image_size)
            self._encode_image = traced(self.model.visual, example)
        else:
            self._encode_image = self.model.encode_image
        with torch.inference_mode():
            self.dim = int(self._encode_text(tokenizer(["x"])).shape[-1])

    @classmethod
    def load(cls, spec: Spec, settings: Settings) -> OpenClipEncoder:
        import open_clip
        import torch

        from vidseek.indexer.text_tower import native_bfloat16, resolve_precision

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
                   norm.std, resolve_precision(settings.text_precision, native_bfloat16()))

    def _pixels(self, frames: np.ndarray):
        """Resize the short side to the model's size, centre-crop, normalise: open_clip's own
        preprocessing, done on whole batches in torch instead of per PIL image."""
        import torch
        import torch.nn.functional as F

        x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float().div_(255)
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
            return _normalise(self._encode_image(self._pixels(frames)).numpy())

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return _normalise(self._encode_text(self.tokenizer(list(texts))).numpy())


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


ENCODERS: dict[str, Callable[[Spec, Settings], ImageTextEncoder]] = {
    "open_clip": OpenClipEncoder.load,
}


def load_image_text_encoder(settings: Settings) -> ImageTextEncoder:
    """Build the configured image+text encoder; raises ModelUnavailable with the fix."""
    spec = Spec.parse(settings.clip_model)
    if spec.backend not in ENCODERS:
        raise ModelUnavailable(f"unknown encoder backend {spec.backend!r}; "
                               f"known: {', '.join(ENCODERS)}")
    configure_torch(settings.threads)
    try:
        return ENCODERS[spec.backend](spec, settings)
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
