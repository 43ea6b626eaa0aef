"""Waveform discriminators for adversarial VAE training: multi-period and multi-resolution (STFT magnitude).

The multi-period discriminator (HiFi-GAN) folds the waveform into a 2-D grid of ``period`` columns, so its
``(k, 1)`` convolutions see samples one period apart; the multi-resolution one (UnivNet) convolves STFT magnitude
images at several sizes. Every sub-discriminator returns its logits and the feature map after each hidden layer
(for feature matching). Channels of a clip are judged separately (folded into the batch). The losses are the
hinge GAN losses and an L1 feature-matching loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from audiox.errors import ConfigError

Features = list[torch.Tensor]


@dataclass(frozen=True)
class DiscriminatorConfig:
    """The discriminators of adversarial VAE training (``discriminator`` section of ``VAETrainConfig``).

    Args:
        periods: periods of the multi-period discriminator (samples), each > 1; empty: none.
        fft_sizes: STFT sizes of the multi-resolution discriminator (hop a quarter), each >= 16; empty: none.
        channels: base width; period discriminators widen to 4x, resolution ones keep it.
    """

    periods: tuple[int, ...] = (2, 3, 5, 7, 11)
    fft_sizes: tuple[int, ...] = (2048, 1024, 512)
    channels: int = 16

    def validate(self, path: str) -> None:
        where = f"{path}." if path else ""
        if any(p < 2 for p in self.periods):
            raise ConfigError(f"{where}periods: each must be >= 2, got {list(self.periods)}")
        if any(n < 16 for n in self.fft_sizes):
            raise ConfigError(f"{where}fft_sizes: each must be >= 16, got {list(self.fft_sizes)}")
        if not self.periods and not self.fft_sizes:
            raise ConfigError(f"{where}periods: no discriminator (periods and fft_sizes both empty)")
        if self.channels < 1:
            raise ConfigError(f"{where}channels: must be >= 1, got {self.channels}")


def _conv(cin: int, cout: int, kernel: tuple[int, int], stride: tuple[int, int]) -> nn.Module:
    pad = (kernel[0] // 2, kernel[1] // 2)
    return nn.utils.parametrizations.weight_norm(nn.Conv2d(cin, cout, kernel, stride, pad))


class _Stack(nn.Module):
    """Hidden 2-D convolutions (leaky ReLU after each) and a 1-channel logit convolution."""

    def __init__(self, widths: list[int], kernel: tuple[int, int], stride: tuple[int, int]) -> None:
        super().__init__()
        self.hidden = nn.ModuleList(_conv(a, b, kernel, stride) for a, b in zip(widths[:-1], widths[1:]))
        self.out = _conv(widths[-1], 1, (3, 3) if kernel[1] > 1 else (3, 1), (1, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, Features]:
        feats = []
        for conv in self.hidden:
            x = F.leaky_relu(conv(x), 0.1)
            feats.append(x)
        return self.out(x).flatten(1), feats


class PeriodDiscriminator(nn.Module):
    """One period: (B, 1, T) -> padded to a multiple of ``period`` -> (B, 1, T / period, period) -> logits."""

    def __init__(self, period: int, channels: int) -> None:
        super().__init__()
        self.period = period
        c = channels
        self.net = _Stack([1, c, 2 * c, 4 * c, 4 * c], (5, 1), (3, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, Features]:
        b, _, t = x.shape
        x = F.pad(x, (0, -t % self.period), mode="reflect" if -t % self.period < t else "constant")
        return self.net(x.view(b, 1, -1, self.period))


class ResolutionDiscriminator(nn.Module):
    """One STFT size: (B, 1, T) -> magnitude (B, 1, frames, n_fft // 2 + 1) -> logits."""

    def __init__(self, n_fft: int, channels: int) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)
        c = channels
        self.net = _Stack([1, c, c, c, c], (3, 9), (1, 2))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, Features]:
        spec = torch.stft(x[:, 0].float(), self.n_fft, self.n_fft // 4, window=self.window, return_complex=True)
        return self.net(spec.abs().transpose(1, 2).unsqueeze(1).to(x.dtype))


class MultiDiscriminator(nn.Module):
    """All periods and STFT sizes of a :class:`DiscriminatorConfig`.

    ``forward(x)`` with ``x`` (B, C, T) returns one ``(logits (B * C, L_i), features)`` per sub-discriminator;
    the STFT sizes must be shorter than ``T``.
    """

    def __init__(self, cfg: DiscriminatorConfig) -> None:
        super().__init__()
        self.discs = nn.ModuleList([PeriodDiscriminator(p, cfg.channels) for p in cfg.periods]
                                   + [ResolutionDiscriminator(n, cfg.channels) for n in cfg.fft_sizes])

    def forward(self, x: torch.Tensor) -> list[tuple[torch.Tensor, Features]]:
        x = x.reshape(-1, 1, x.shape[-1])
        return [d(x) for d in self.discs]


def hinge_discriminator_loss(real: list[tuple[torch.Tensor, Features]],
                             fake: list[tuple[torch.Tensor, Features]]) -> torch.Tensor:
    """Mean over sub-discriminators of ``relu(1 - D(real)) + relu(1 + D(fake))`` (each averaged over logits)."""
    terms = [F.relu(1 - r).mean() + F.relu(1 + f).mean() for (r, _), (f, _) in zip(real, fake)]
    return torch.stack(terms).mean()


def hinge_generator_loss(fake: list[tuple[torch.Tensor, Features]]) -> torch.Tensor:
    """Mean over sub-discriminators of ``-D(fake)`` (averaged over logits)."""
    return torch.stack([-f.mean() for f, _ in fake]).mean()


def feature_matching_loss(real: list[tuple[torch.Tensor, Features]],
                          fake: list[tuple[torch.Tensor, Features]]) -> torch.Tensor:
    """Mean over every hidden feature map of the L1 distance between fake and (detached) real features."""
    terms = [F.l1_loss(f, r.detach()) for (_, rf), (_, ff) in zip(real, fake) for r, f in zip(rf, ff)]
    return torch.stack(terms).mean()
