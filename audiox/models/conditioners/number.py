"""Number conditioner (seconds_start / seconds_total in Stable-Audio-style configs; unused by AudioX)."""

from __future__ import annotations

import math

import torch
from torch import nn

from audiox.config import NumberConditionerParams
from audiox.errors import ConfigError
from audiox.models.conditioners.features import FeatureMasking


class _LearnedFourier(nn.Module):
    """v (B,) -> [v, sin(2 pi v w), cos(2 pi v w)] (B, 1 + 2 * half), w learned (half,)."""

    def __init__(self, half: int) -> None:
        super().__init__()
        self.weights = nn.Parameter(torch.randn(half))

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        f = v[:, None] * self.weights[None, :] * 2 * math.pi
        return torch.cat([v[:, None], f.sin(), f.cos()], dim=-1)


class _NumberEmbedder(nn.Module):
    def __init__(self, features: int, dim: int = 256) -> None:
        super().__init__()
        self.embedding = nn.Sequential(_LearnedFourier(dim // 2), nn.Linear(dim + 1, features))

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        return self.embedding(v)


class NumberConditioner(nn.Module):
    """Floats (B,) -> one token (B, 1, cond_dim), mask ones (B, 1). Values are clamped to [min_val, max_val].

    Halves (see :mod:`audiox.models.conditioners.features`): :meth:`frozen_features` (the normalisation; nothing
    is frozen) and :meth:`tokens` (the learned Fourier embedding). Training data has no numbers (``role``
    None).
    """

    role = None
    feature_keys = ("number",)

    def __init__(self, params: NumberConditionerParams, cond_dim: int) -> None:
        super().__init__()
        self.min_val, self.max_val = params.min_val, params.max_val
        self.embedder = _NumberEmbedder(cond_dim)

    def frozen_features(self, values: torch.Tensor | list[float], *, grad: bool = False) -> dict[str, torch.Tensor]:
        """Values (B,) -> ``number`` (B,) clamped and scaled to [0, 1]. ``grad``: ignored (nothing to train)."""
        w = self.embedder.embedding[1].weight
        x = torch.as_tensor(values, dtype=w.dtype, device=w.device).reshape(-1)
        return {"number": (x.clamp(self.min_val, self.max_val) - self.min_val) / (self.max_val - self.min_val)}

    def tokens(self, features: dict[str, torch.Tensor], *, masking: FeatureMasking | None = None,
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """``number`` (B,) -> one token (B, 1, cond_dim) and mask (B, 1). ``masking``: not supported (None)."""
        if masking is not None:
            raise ConfigError("number conditioners have no training masking")
        y = self.embedder(features["number"])[:, None, :]
        return y, torch.ones(y.shape[0], 1, device=y.device)

    def forward(self, values: torch.Tensor | list[float]) -> tuple[torch.Tensor, torch.Tensor]:
        return self.tokens(self.frozen_features(values))
