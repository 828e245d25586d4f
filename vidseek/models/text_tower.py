"""CLIP's text encoder as one traced graph: what a search query goes through.

Four things make a query cheap, and each is measured in `bench/query_encoder.py`:

- **Cut at the end-of-text token.** CLIP's text transformer is causal and pools at the
  end-of-text token, so the padding after it cannot change the result; a six-word query costs
  ~10 of 77 positions.
- **Traced.** Eager PyTorch takes the GIL back after each of the encoder's few hundred
  operations. In a web server whose other request threads are running Python, every one of
  those waits for a thread switch, and a pass of milliseconds alone takes seconds. The traced
  graph runs all of them in C++ without the GIL.
- **bfloat16 where the CPU computes it natively** (AVX512-BF16 or AMX). A batch of short
  queries is bound by reading the weights, and bfloat16 weights are half the bytes; the
  vectors stay within a cosine of 0.9999 of float32's.
- **Weights packed once.** oneDNN lays each linear layer's weight out for its own kernels;
  `F.linear` does that on every call, which for a query's few rows costs as much as the
  product itself, so the packed copies make a one-query pass much faster.
"""

from __future__ import annotations

import functools
import warnings

import torch

from vidseek.models.clip_tokenizer import cut_at_eot

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
    """An open_clip CLIP whose text tower this module can run: causal mask, pooled at EOT, and
    plain pre-norm blocks of self-attention (`nn.MultiheadAttention`) and an MLP."""
    if not (type(model).__name__ == "CLIP" and model.text_pool_type == "argmax"
            and model.attn_mask is not None and model.transformer.batch_first):
        return False
    return all(type(block).__name__ == "ResidualAttentionBlock"
               and not hasattr(block, "ln_1_kv")
               and block.attn.batch_first and block.attn._qkv_same_embed_dim
               and block.attn.bias_k is None and not block.attn.add_zero_attn
               for block in model.transformer.resblocks)


def traced(module: torch.nn.Module, *example: torch.Tensor) -> torch.jit.ScriptModule:
    """`module` as one TorchScript graph, which runs all its operations in C++ without taking
    the GIL back between them. TorchScript is in maintenance mode and says so; it is still the
    one way in this torch to run a model's Python-free graph without a C++ compiler at run
    time."""
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.jit.trace(module, example, check_trace=False)


@functools.cache
def _onednn_linear():
    """oneDNN's linear on a weight packed ahead of time, as a TorchScript function (its
    scalars argument is a type that only TorchScript can spell)."""
    def linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        scalars: list[int | float | complex | None] = []
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", scalars, "")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript's deprecation notice (see `traced`)
        return torch.jit.script(linear)


@functools.cache
def can_pack(dtype: torch.dtype) -> bool:
    """Whether this torch's oneDNN packs and multiplies `dtype` weights (builds and CPUs differ:
    an ARM build, say); tried once on a small layer."""
    if not torch.backends.mkldnn.is_available():
        return False
    weight, x = torch.ones(8, 16, dtype=dtype), torch.ones(2, 16, dtype=dtype)
    try:
        packed = torch.ops.mkldnn._reorder_linear_weight(weight, 16)
        return bool(torch.equal(_onednn_linear()(x, packed, None), x @ weight.T))
    except RuntimeError:
        return False


class PackedLinear(torch.nn.Module):
    """`x @ weight.T + bias` on a copy of the weight that oneDNN has laid out for itself once.
    Plain `F.linear` repacks the weight on every call: for a query's few rows that doubles
    the cost of a bfloat16 text tower. Where oneDNN cannot (or not `pack`), plain `F.linear`."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, dtype: torch.dtype,
                 pack: bool):
        super().__init__()
        weight = weight.detach().to(dtype)
        self.packed = pack and can_pack(dtype)
        if self.packed:
            weight = torch.ops.mkldnn._reorder_linear_weight(weight, 16)
        self.register_buffer("weight", weight)
        self.register_buffer("bias", None if bias is None else bias.detach().to(dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.packed:
            return _onednn_linear()(x, self.weight, self.bias)
        return torch.nn.functional.linear(x, self.weight, self.bias)


class CausalSelfAttention(torch.nn.Module):
    """`nn.MultiheadAttention`'s self-attention (batch first), on packed projections."""

    def __init__(self, attn: torch.nn.MultiheadAttention, dtype: torch.dtype, pack: bool):
        super().__init__()
        self.heads = attn.num_heads
        self.in_proj = PackedLinear(attn.in_proj_weight, attn.in_proj_bias, dtype, pack)
        self.out_proj = PackedLinear(attn.out_proj.weight, attn.out_proj.bias, dtype, pack)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, n, width = x.shape
        q, k, v = self.in_proj(x).view(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        out = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.out_proj(out.transpose(1, 2).reshape(b, n, width))


class Block(torch.nn.Module):
    """open_clip's `ResidualAttentionBlock`, with its linear layers packed."""

    def __init__(self, block, dtype: torch.dtype, pack: bool):
        super().__init__()
        self.ln_1, self.ls_1 = block.ln_1, block.ls_1
        self.attn = CausalSelfAttention(block.attn, dtype, pack)
        self.ln_2, self.ls_2 = block.ln_2, block.ls_2
        mlp = block.mlp
        self.c_fc = PackedLinear(mlp.c_fc.weight, mlp.c_fc.bias, dtype, pack)
        self.act = mlp.gelu
        self.c_proj = PackedLinear(mlp.c_proj.weight, mlp.c_proj.bias, dtype, pack)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + self.ls_1(self.attn(self.ln_1(x), mask))
        return x + self.ls_2(self.c_proj(self.act(self.c_fc(self.ln_2(x)))))


class CausalTextTower(torch.nn.Module):
    """token ids cut after the longest end-of-text token, and its position per row → the
    projected text embeddings (float32, not normalised). Takes over the CLIP model's text
    modules: it packs the transformer's weights (and drops the model's unpacked ones) and
    shares, cast, the rest. The model's own `encode_text` does not work after this."""

    def __init__(self, clip, dtype: torch.dtype, pack: bool = True):
        super().__init__()
        self.token_embedding = clip.token_embedding
        self.positional_embedding = clip.positional_embedding
        self.blocks = torch.nn.ModuleList(Block(b, dtype, pack)
                                          for b in clip.transformer.resblocks)
        clip.transformer = None
        self.ln_final = clip.ln_final
        self.text_projection = clip.text_projection
        self.register_buffer("attn_mask", clip.attn_mask, persistent=False)
        self.to(dtype)

    def forward(self, tokens: torch.Tensor, eot: torch.Tensor) -> torch.Tensor:
        n = tokens.shape[1]
        x = self.token_embedding(tokens) + self.positional_embedding[:n]
        mask = self.attn_mask[:n, :n].to(x.dtype)
        for block in self.blocks:
            x = block(x, mask)
        x = self.ln_final(x)
        x = x[torch.arange(x.shape[0]), eot]
        if isinstance(self.text_projection, torch.nn.Linear):
            x = self.text_projection(x)
        elif self.text_projection is not None:
            x = x @ self.text_projection
        return x.float()


class TracedTextEncoder:
    """Token ids (batch × context) → text embeddings, through the traced tower (`pack=False`:
    on unpacked weights, only to measure what packing gains)."""

    def __init__(self, clip, dtype: torch.dtype, example: torch.Tensor, pack: bool = True):
        self._graph = traced(CausalTextTower(clip, dtype, pack).eval(), *cut_at_eot(example))
        # TorchScript profiles a graph's first run and optimises it on the second, each several
        # times slower than the runs after: both here, not in a user's first queries.
        for _ in range(2):
            self(example)

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self._graph(*cut_at_eot(tokens))
