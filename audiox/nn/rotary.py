"""Rotary position embedding (NeoX rotate-half layout), applied to the first ``dim`` channels of each head."""

from __future__ import annotations

import torch
from torch import nn


class RotaryEmbedding(nn.Module):
    """Holds ``inv_freq`` (dim/2,) = base^(-arange(0, dim, 2)/dim) as a persistent buffer (a checkpoint key)."""

    def __init__(self, dim: int, base: float = 10000.0) -> None:
        super().__init__()
        self.dim = dim
        inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2).float() / dim))
        self.register_buffer("inv_freq", inv_freq)

    def forward(self, seq_len: int, device: torch.device) -> torch.Tensor:
        """Angles (seq_len, dim) in float32 for positions 0..seq_len-1 (halves duplicated)."""
        t = torch.arange(seq_len, device=device, dtype=torch.float32)
        freqs = torch.outer(t, self.inv_freq.to(device=device, dtype=torch.float32))
        return torch.cat([freqs, freqs], dim=-1)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


def apply_rotary(x: torch.Tensor, freqs: torch.Tensor) -> torch.Tensor:
    """Rotate the first ``freqs.shape[-1]`` channels of ``x`` (B, H, N, Dh); the rest pass through.

    Computed in float32 and cast back to the input dtype.
    """
    rot = freqs.shape[-1]
    dtype = x.dtype
    x_rot, x_pass = x[..., :rot].float(), x[..., rot:]
    x_rot = x_rot * freqs.cos() + _rotate_half(x_rot) * freqs.sin()
    return torch.cat([x_rot.to(dtype), x_pass], dim=-1)
