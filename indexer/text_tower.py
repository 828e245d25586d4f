"""CLIP's text encoder as one traced graph: what a search query goes through.

Three things make a query cheap, and each is measured in `bench/query_encoder.py`:

- **Cut at the end-of-text token.** CLIP's text transformer is causal and pools at the
  end-of-text token, so the padding after it cannot change the result; a six-word query costs
  ~10 of 77 positions.
- **Traced.** Eager PyTorch takes the GIL back after each of the encoder's few hundred
  operations. In a web server whose other request threads are running Python, every one of
  those waits for a thread switch, and a pass that takes 50 ms alone takes seconds. The traced
  graph runs all of them in C++ without the GIL.
- **bfloat16 where the CPU computes it natively** (AVX512-BF16 or AMX). A batch of short
  queries is bound by reading the weights, and bfloat16 weights are half the bytes; the
  vectors stay within a cosine of 0.9999 of float32's.
"""

from __future__ import annotations

import warnings

import torch

PRECISIONS = ("auto", "float32", "bfloat16")


def native_bfloat16() -> bool:
    """Whether this CPU has bfloat16 arithmetic (else bfloat16 is emulated, and slower)."""
    return torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()


def resolve_precision(precision: str, native_bf16: bool) -> torch.dtype:
    if precision not in PRECISIONS:
        raise ValueError(f"text_precision must be one of {', '.join(PRECISIONS)}, "
                         f"not {precision!r}")
    if precision == "auto":
        precision = "bfloat16" if native_bf16 else "float32"
    return getattr(torch, precision)


def is_causal_clip(model) -> bool:
    """An open_clip CLIP whose text tower this module can run (causal mask, pooled at EOT)."""
    return (type(model).__name__ == "CLIP" and model.text_pool_type == "argmax"
            and model.attn_mask is not None)


class CausalTextTower(torch.nn.Module):
    """token ids cut after the longest end-of-text token, and its position per row → the
    projected text embeddings (float32, not normalised). Shares (and casts) the CLIP model's
    text modules: the model's own `encode_text` is not used after this."""

    def __init__(self, clip, dtype: torch.dtype):
        super().__init__()
        self.token_embedding = clip.token_embedding
        self.positional_embedding = clip.positional_embedding
        self.transformer = clip.transformer
        self.ln_final = clip.ln_final
        self.text_projection = clip.text_projection
        self.register_buffer("attn_mask", clip.attn_mask, persistent=False)
        self.to(dtype)

    def forward(self, tokens: torch.Tensor, eot: torch.Tensor) -> torch.Tensor:
        n = tokens.shape[1]
        x = self.token_embedding(tokens) + self.positional_embedding[:n]
        x = self.ln_final(self.transformer(x, attn_mask=self.attn_mask[:n, :n]))
        x = x[torch.arange(x.shape[0]), eot]
        if isinstance(self.text_projection, torch.nn.Linear):
            x = self.text_projection(x)
        elif self.text_projection is not None:
            x = x @ self.text_projection
        return x.float()


class TracedTextEncoder:
    """Token ids (batch × context) → text embeddings, through the traced tower."""

    def __init__(self, clip, dtype: torch.dtype, example: torch.Tensor):
        tower = CausalTextTower(clip, dtype).eval()
        with torch.no_grad(), warnings.catch_warnings():
            # TorchScript is in maintenance mode and says so; it is still the one way in this
            # torch to run a model's Python-free graph without a C++ compiler at run time.
            warnings.simplefilter("ignore")
            self._graph = torch.jit.trace(tower, self._cut(example), check_trace=False)

    @staticmethod
    def _cut(tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        eot = tokens.argmax(dim=-1)  # the end-of-text token has the highest id
        return tokens[:, :int(eot.max()) + 1].contiguous(), eot

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self._graph(*self._cut(tokens))
