"""Attention primitives: scaled dot-product attention with grouped kv heads, and a bias-free LayerNorm."""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, *, backend: str = "sdpa") -> torch.Tensor:
    """Non-causal, unmasked attention with scale 1/sqrt(Dh).

    Args:
        q: (B, H, N, Dh) queries.
        k, v: (B, Hkv, M, Dh); H must be a multiple of Hkv. kv head j serves query heads j*g..j*g+g-1
            (repeat-interleave), as in the official cross-attention.
        backend: "sdpa" (PyTorch fused kernels) or "math" (explicit softmax in float32; the reference). On a CPU
            below AVX-512, bf16/fp16 inputs take "math": the fused CPU kernel refuses them there.

    Returns:
        (B, H, N, Dh).
    """
    h, hkv = q.shape[1], k.shape[1]
    if h != hkv:
        k = k.repeat_interleave(h // hkv, dim=1)
        v = v.repeat_interleave(h // hkv, dim=1)
    if backend == "sdpa" and not (q.is_cpu and q.dtype != torch.float32 and not _cpu_avx512()):
        return F.scaled_dot_product_attention(q, k, v)
    scale = q.shape[-1] ** -0.5
    w = torch.einsum("bhnd,bhmd->bhnm", q, k).float() * scale
    return torch.einsum("bhnm,bhmd->bhnd", w.softmax(dim=-1).to(v.dtype), v)


@functools.cache
def _cpu_avx512() -> bool:
    """Whether PyTorch's CPU kernels run at AVX-512 level: its fused CPU attention needs it for bf16/fp16 inputs
    ("pack_vnni2 is only supported when avx512 is supported"), so below it those take the explicit softmax."""
    return torch.backends.cpu.get_cpu_capability().startswith("AVX512")


class LayerNormNoBias(nn.Module):
    """LayerNorm with learned ``gamma`` and a stored all-zero ``beta`` buffer (a checkpoint key), eps 1e-5."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(dim))
        self.register_buffer("beta", torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, x.shape[-1:], self.gamma, self.beta, self.eps)
