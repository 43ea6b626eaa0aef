"""The two halves of every conditioner, one implementation shared by inference and training.

- ``frozen_features(raw, *, grad=False) -> dict[str, Tensor]``: the frozen encoder (CLIP, T5 / MiniLM, the
  prompt's VAE encoder) and its input normalisation. Its output is what pre-encoding stores, under the
  conditioner's ``feature_keys``.
- ``tokens(features, *, masking=None) -> (tokens, mask)``: the trainable part (temporal transformer, projection,
  learned empty features, the posterior draw of the audio prompt). ``masking`` is given in training only.

``forward(raw)`` is ``tokens(frozen_features(raw))``.

``role`` (:data:`Role`), declared by each conditioner class, is the one answer to "which conditioner takes which
input": the batch key of its raw input in training and pre-encoding (``video``, ``text``, ``audio_prompt``), the
request's input in generation (:func:`audiox.pipeline.inputs.conditioner_ids`) and the modality name of training
masking; None where no input feeds it (numbers). :meth:`MultiConditioner.ids_for` finds the conditioners of a role.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

Role = Literal["video", "text", "audio_prompt"]
"""The inputs a conditioner can take (its class's ``role``; None: no input, e.g. numbers)."""


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
