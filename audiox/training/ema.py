"""Exponential moving average of a module's weights, with the ``ema_pytorch`` decay warm-up the release uses.

Official (the stable-audio-tools ``DiffusionCondTrainingWrapper`` the release trains with): ``EMA(dit,
beta=0.9999, power=3/4, update_every=1, update_after_step=1, include_online_model=False)``, updated once per
optimizer step. The decay after ``k`` counted updates is ``1 - (1 + k)^-power`` clamped to ``[0, beta]``, so
early averages follow the model closely.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


class EMA(nn.Module):
    """Holds ``ema_model``, a frozen copy of a module, and its update counter (both in the state dict).

    Args:
        model: the module to average (copied; the copy never receives gradients).
        beta: maximum decay.
        power: decay warm-up exponent.
        update_after_step: updates up to this count copy the weights instead of averaging.
        update_every: average only every this many calls to :meth:`update`.
    """

    def __init__(self, model: nn.Module, *, beta: float = 0.9999, power: float = 0.75, update_after_step: int = 1,
                 update_every: int = 1) -> None:
        super().__init__()
        self.beta = beta
        self.power = power
        self.update_after_step = update_after_step
        self.update_every = update_every
        # a frozen parameter (a LoRA run's base weights) is its own average: the copy shares it instead of doubling it
        shared = {id(p): p for p in model.parameters() if not p.requires_grad}
        self.ema_model = copy.deepcopy(model, memo=shared).eval().requires_grad_(False)
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    def train(self, mode: bool = True) -> EMA:
        super().train(mode)
        self.ema_model.eval()  # the average is only ever evaluated (no dropout)
        return self

    def decay(self) -> float:
        """Decay used by the next averaging update (0 while still copying)."""
        k = int(self.step) - self.update_after_step - 1
        if k <= 0:
            return 0.0
        return min(max(1 - (1 + k) ** -self.power, 0.0), self.beta)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Fold the current weights of ``model`` (same structure as the copy) into the average."""
        step = int(self.step)
        self.step += 1
        if step % self.update_every != 0:
            return
        src = dict(model.named_parameters())
        own = [(name, p) for name, p in self.ema_model.named_parameters() if p is not src[name]]
        if step <= self.update_after_step:
            for name, p in own:
                p.copy_(src[name].detach())
        else:
            w = 1.0 - self.decay()
            for name, p in own:
                p.lerp_(src[name].detach().to(p.dtype), w)
        src_buf = dict(model.named_buffers())
        for name, b in self.ema_model.named_buffers():
            b.copy_(src_buf[name])
