"""Weight-normalised 1-D convolutions whose parameters are ``weight_g`` / ``weight_v``, as in the checkpoint.

The effective weight is ``v * (g / ||v||)``, with the norm over every dim but 0 (old-style
``torch.nn.utils.weight_norm``). For a transposed conv dim 0 is the *input* channel, so ``weight_g`` is
(in, 1, 1). :meth:`fuse` folds the normalisation into a cached plain weight for fast inference.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _norm_except_dim0(v: torch.Tensor) -> torch.Tensor:
    return v.norm(2, dim=tuple(range(1, v.dim())), keepdim=True)


class _WNConvBase(nn.Module):
    def __init__(self, weight_shape: tuple[int, ...], bias_channels: int, bias: bool) -> None:
        super().__init__()
        # Registration order (bias, weight_g, weight_v) matches the official state-dict order.
        self.bias = nn.Parameter(torch.zeros(bias_channels)) if bias else None
        self.weight_g = nn.Parameter(torch.ones(weight_shape[0], *([1] * (len(weight_shape) - 1))))
        self.weight_v = nn.Parameter(torch.empty(weight_shape))
        nn.init.kaiming_uniform_(self.weight_v, a=5**0.5)
        with torch.no_grad():
            self.weight_g.copy_(_norm_except_dim0(self.weight_v))
        self._fused: torch.Tensor | None = None

    def weight(self) -> torch.Tensor:
        if self._fused is not None:
            return self._fused
        return self.weight_v * (self.weight_g / _norm_except_dim0(self.weight_v))

    def fuse(self) -> None:
        """Cache the effective weight (inference only; call :meth:`unfuse` before training)."""
        with torch.no_grad():
            self._fused = None
            self._fused = self.weight().detach()

    def unfuse(self) -> None:
        self._fused = None

    def _apply(self, fn, recurse=True):  # keep the cache consistent with dtype/device moves
        self._fused = None
        return super()._apply(fn, recurse)


class WNConv1d(_WNConvBase):
    """Conv1d with weight norm. Input (B, in, T) -> (B, out, T')."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, stride: int = 1,
                 padding: int = 0, dilation: int = 1, bias: bool = True) -> None:
        super().__init__((out_channels, in_channels, kernel_size), out_channels, bias)
        self.stride, self.padding, self.dilation = stride, padding, dilation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, in, T), or (B, in, 1, T) for the same convolution run as a 2-D one (see :func:`as_2d`)."""
        if x.dim() == 4:
            return F.conv2d(x, self.weight().unsqueeze(2), self.bias, (1, self.stride), (0, self.padding),
                            (1, self.dilation))
        return F.conv1d(x, self.weight(), self.bias, self.stride, self.padding, self.dilation)


class WNConvTranspose1d(_WNConvBase):
    """ConvTranspose1d with weight norm (dim 0 = input channels). Input (B, in, T) -> (B, out, T')."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, *, stride: int = 1,
                 padding: int = 0, bias: bool = True) -> None:
        super().__init__((in_channels, out_channels, kernel_size), out_channels, bias)
        self.stride, self.padding = stride, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, in, T), or (B, in, 1, T) for the same convolution run as a 2-D one (see :func:`as_2d`)."""
        if x.dim() == 4:
            return F.conv_transpose2d(x, self.weight().unsqueeze(2), self.bias, (1, self.stride), (0, self.padding))
        return F.conv_transpose1d(x, self.weight(), self.bias, self.stride, self.padding)


def as_2d(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Run a stack of these convolutions (and element-wise layers) on (B, C, T) as 2-D convolutions over
    (B, C, 1, T) in channels-last memory (time-major, channels contiguous): the same products, summed in another
    order, and faster on x86 CPUs (oneDNN's channels-last kernels: on one 128-channel, 7-tap layer 2x in float32,
    and 16x in bf16 on AMX against the float32 1-D layer). Returns (B, C', T')."""
    h = net(x.unsqueeze(2).contiguous(memory_format=torch.channels_last))
    return h.squeeze(2).contiguous()
