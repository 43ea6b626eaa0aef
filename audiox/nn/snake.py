"""SnakeBeta activation with log-scale parameters: y = x + sin^2(e^alpha * x) / (e^beta + 1e-9)."""

from __future__ import annotations

import torch
from torch import nn


class SnakeBeta(nn.Module):
    """Per-channel periodic activation. Input and output (B, C, T).

    ``alpha`` and ``beta`` are stored in log scale (zero-initialised, i.e. alpha = beta = 1).
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, C, ...) with channels on dim 1 (e.g. (B, C, T) or (B, C, 1, T))."""
        shape = (1, -1) + (1,) * (x.dim() - 2)
        alpha = self.alpha.exp().view(shape)
        beta = self.beta.exp().view(shape)
        return x + (1.0 / (beta + 1e-9)) * torch.sin(x * alpha).pow(2)
