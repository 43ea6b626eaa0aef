"""A spectral VAE decoder: ConvNeXt blocks over latent frames, then an inverse STFT (our extension, not official).

The Oobleck decoder builds the waveform with transposed convolutions. Trained small and without an adversarial loss
(the built-in model), it cannot hold a steady tone: its output repeats at the latent frame rate. This decoder
predicts a log-magnitude and a phase per STFT bin instead and synthesises the waveform by an inverse STFT, so a
partial is produced at its own frequency whatever the frame rate. It reads the same latents as the Oobleck decoder,
so it can replace one under a frozen encoder (and a trained DiT).

Layout: ``proj`` (conv k7, latents -> width) -> ``pre`` ConvNeXt blocks at the latent rate -> ``up`` (transposed
conv, x ``upsample``) -> ``post`` ConvNeXt blocks at the STFT frame rate -> ``norm`` -> ``head`` (linear to
``2 * (n_fft // 2 + 1)``: log-magnitudes, then phases) -> ``torch.istft`` (Hann window, hop ``ratio / upsample``).

Phase (``phase`` in the config). ``"free"``: the head's second half is each frame's phase. A steady partial then
needs a phase that grows with absolute time, which blocks of local convolutions cannot know: trained without an
adversarial loss, this decoder emitted waveforms periodic at the STFT frame rate (issue 25). ``"integrate"``: the
head gives each bin's phase advance per hop, as a deviation ``pi * tanh(h)`` from the advance of the bin's centre
frequency, and the phase is ``pi * k`` plus the advances summed over the earlier frames (a phase vocoder's
synthesis; ``pi * k`` is the phase a Hann-windowed sinusoid has in bin ``k`` of a centred STFT). A steady partial is
then one constant deviation, whatever its frequency, so the decoder can hold a tone.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from audiox.config import IstftDecoderParams

MAX_LOG_MAG = 6.0  # exp(6) ~ 400: a bound on one bin's magnitude keeps an untrained head from overflowing


class ConvNeXtBlock(nn.Module):
    """x + scale * mlp(norm(depthwise_conv7(x))). Shapes (B, C, T) -> (B, C, T)."""

    def __init__(self, channels: int, mult: int = 3) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(channels, channels, 7, padding=3, groups=channels)
        self.norm = nn.LayerNorm(channels, eps=1e-6)
        self.fc1 = nn.Linear(channels, mult * channels)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(mult * channels, channels)
        self.gamma = nn.Parameter(torch.full((channels,), 0.1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.dwconv(x).transpose(1, 2)
        h = self.fc2(self.act(self.fc1(self.norm(h))))
        return x + (self.gamma * h).transpose(1, 2)


class IstftDecoder(nn.Module):
    """Latents (B, latent_dim, N) -> audio (B, out_channels, N * ratio).

    Args:
        p: the decoder parameters (width, block counts, STFT size, upsampling between latent and STFT frames).
        ratio: audio samples per latent frame (the autoencoder's ``downsampling_ratio``).
    """

    def __init__(self, p: IstftDecoderParams, ratio: int) -> None:
        super().__init__()
        if ratio % p.upsample:
            raise ValueError(f"downsampling ratio {ratio} is not a multiple of upsample {p.upsample}")
        self.hop, self.n_fft, self.out_channels = ratio // p.upsample, p.n_fft, p.out_channels
        self.integrate = p.phase == "integrate"
        c = p.channels
        self.proj = nn.Conv1d(p.latent_dim, c, 7, padding=3)
        self.pre = nn.Sequential(*[ConvNeXtBlock(c) for _ in range(p.pre_blocks)])
        k = 2 * p.upsample
        self.up = nn.ConvTranspose1d(c, c, k, stride=p.upsample, padding=p.upsample // 2) if p.upsample > 1 \
            else nn.Identity()
        self.post = nn.Sequential(*[ConvNeXtBlock(c) for _ in range(p.post_blocks)])
        self.norm = nn.LayerNorm(c, eps=1e-6)
        self.head = nn.Linear(c, p.out_channels * 2 * (p.n_fft // 2 + 1))

    def spectrum(self, z: torch.Tensor) -> torch.Tensor:
        """Latents (B, D, N) -> complex STFT (B * out_channels, n_fft // 2 + 1, N * upsample) in fp32."""
        h = self.post(self.up(self.pre(self.proj(z))))
        h = self.head(self.norm(h.transpose(1, 2))).float()  # (B, frames, out * 2 * bins)
        b, frames, _ = h.shape
        h = h.reshape(b, frames, self.out_channels, 2, -1).permute(0, 2, 3, 4, 1)  # (B, out, 2, bins, frames)
        mag = h[:, :, 0].clamp(max=MAX_LOG_MAG).exp()
        phase = self._integrated_phase(h[:, :, 1]) if self.integrate else h[:, :, 1]
        return torch.polar(mag, phase).reshape(b * self.out_channels, -1, frames)

    def _integrated_phase(self, h: torch.Tensor) -> torch.Tensor:
        """Phase (..., bins, frames) from the head's advance deviations ``h``: ``pi k + sum_{s<t} advance_k(s)``."""
        bins, frames = h.shape[-2:]
        k = torch.arange(bins, device=h.device, dtype=torch.float64)
        t = torch.arange(frames, device=h.device, dtype=torch.float64)
        # the centre frequencies' part, k * hop / n_fft turns per hop, summed exactly (float64, mod 2 pi)
        centre = torch.remainder(math.pi * k[:, None] + 2 * math.pi * torch.remainder(
            k[:, None] * t * self.hop / self.n_fft, 1.0), 2 * math.pi).to(h.dtype)
        dev = math.pi * torch.tanh(h)
        return centre + torch.cumsum(dev, dim=-1) - dev  # the deviations of the earlier frames

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        spec = self.spectrum(z)
        length = spec.shape[-1] * self.hop
        window = torch.hann_window(self.n_fft, device=spec.device)
        audio = torch.istft(spec, self.n_fft, self.hop, window=window, center=True, length=length)
        return audio.reshape(z.shape[0], self.out_channels, length)
