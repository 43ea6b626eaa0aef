"""Spectral losses shared by VAE training and the VAE checks."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from audiox.errors import ConfigError

DEFAULT_FFT_SIZES = (2048, 512, 128)  # VAETrainConfig's default, and the held-out distance's


def stft_loss(x: torch.Tensor, y: torch.Tensor, fft_sizes: tuple[int, ...]) -> torch.Tensor:
    """Multi-resolution STFT loss (spectral convergence + log-magnitude L1) between (B, C, T) signals."""
    total = x.new_zeros(())
    xf, yf = x.reshape(-1, x.shape[-1]), y.reshape(-1, y.shape[-1])
    sizes = [n for n in fft_sizes if n < x.shape[-1]]
    if not sizes:
        raise ConfigError(f"crop of {x.shape[-1]} samples is shorter than every STFT size {fft_sizes}")
    for n in sizes:
        win = torch.hann_window(n, device=x.device, dtype=x.dtype)
        sx = torch.stft(xf, n, n // 4, window=win, return_complex=True).abs() + 1e-5
        sy = torch.stft(yf, n, n // 4, window=win, return_complex=True).abs() + 1e-5
        sc = torch.linalg.norm(sy - sx) / torch.linalg.norm(sy)
        total = total + sc + F.l1_loss(sx.log(), sy.log())
    return total / len(sizes)
