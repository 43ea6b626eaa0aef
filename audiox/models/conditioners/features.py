"""The two halves of every conditioner, one implementation shared by inference and training.

- ``frozen_features(raw, *, grad=False) -> dict[str, Tensor]``: the frozen encoder (CLIP, T5 / MiniLM, the
  prompt's VAE encoder) and its input normalisation. Its output is what pre-encoding stores, under the
  conditioner's ``feature_keys``.
- ``tokens(features, *, masking=None) -> (tokens, mask)``: the trainable part (temporal transformer, projection,
  learned empty features, the posterior draw of the audio prompt). ``masking`` is given in training only.

``forward(raw)`` is ``tokens(frozen_features(raw))``. ``input_key`` names the batch key of the raw input (``video``,
``text``, ``audio_prompt``), which is also the modality name of training masking; None where training data has
no such input (numbers).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass(frozen=True)
class FeatureMasking:
    """Training-time masking of one conditioner's frozen features (never given at inference).

    Attributes:
        dropped: (B,) bool, items whose whole modality is dropped: they get the empty input's tokens.
        keep: (B, P) bool, feature positions kept (video: T x Q CLIP tokens; text: L tokens; audio prompt: Np
            latent frames); None keeps every position.
        empty: the frozen features of the empty input (the empty caption, a silent prompt), unbatched, under the
            conditioner's feature keys, for conditioners that have no learned empty feature.
    """

    dropped: torch.Tensor | None = None
    keep: torch.Tensor | None = None
    empty: dict[str, torch.Tensor] = field(default_factory=dict)


def all_zero(x: torch.Tensor) -> torch.Tensor:
    """(B, ...) -> (B,) bool: True for an all-zero item, the "absent" video or audio prompt."""
    return (x.reshape(x.shape[0], -1) == 0).all(dim=1)


def grad_enabled(module: nn.Module, grad: bool) -> torch.autograd.grad_mode.set_grad_enabled:
    """Gradients through an encoder only when asked, enabled, and the encoder has trainable parameters."""
    trainable = any(p.requires_grad for p in module.parameters())
    return torch.set_grad_enabled(grad and torch.is_grad_enabled() and trainable)
