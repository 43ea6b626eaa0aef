"""Oobleck audio VAE (encoder, decoder, Gaussian bottleneck), key-compatible with the official checkpoint.

Module layout mirrors the official state dict: ``encoder.layers.{i}`` / ``decoder.layers.{i}`` Sequentials,
residual units as ``.layers.{0..3}``, weight-normalised convs with ``weight_g`` / ``weight_v``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from audiox.config import AutoencoderConfig, OobleckDecoderParams, OobleckEncoderParams, PretransformConfig
from audiox.models.istft_decoder import IstftDecoder
from audiox.nn.snake import SnakeBeta
from audiox.nn.wnconv import WNConv1d, WNConvTranspose1d, as_2d


class ResidualUnit(nn.Module):
    """x + conv1x1(snake(conv7_dilated(snake(x)))). Shapes (B, C, T) -> (B, C, T)."""

    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            SnakeBeta(channels),
            WNConv1d(channels, channels, 7, dilation=dilation, padding=3 * dilation),
            SnakeBeta(channels),
            WNConv1d(channels, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.layers(x)


class EncoderBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            ResidualUnit(cin, 1), ResidualUnit(cin, 3), ResidualUnit(cin, 9), SnakeBeta(cin),
            WNConv1d(cin, cout, 2 * stride, stride=stride, padding=math.ceil(stride / 2)),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class DecoderBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            SnakeBeta(cin),
            WNConvTranspose1d(cin, cout, 2 * stride, stride=stride, padding=math.ceil(stride / 2)),
            ResidualUnit(cout, 1), ResidualUnit(cout, 3), ResidualUnit(cout, 9),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class OobleckEncoder(nn.Module):
    """Audio (B, in_channels, L) -> (B, latent_dim, L // prod(strides))."""

    def __init__(self, p: OobleckEncoderParams) -> None:
        super().__init__()
        mults = (1, *p.c_mults)
        c = p.channels
        layers: list[nn.Module] = [WNConv1d(p.in_channels, c * mults[0], 7, padding=3)]
        for i, s in enumerate(p.strides):
            layers.append(EncoderBlock(c * mults[i], c * mults[i + 1], s))
        layers += [SnakeBeta(c * mults[-1]), WNConv1d(c * mults[-1], p.latent_dim, 3, padding=1)]
        self.layers = nn.Sequential(*layers)
        self.conv2d = False  # run as 2-D channels-last convolutions (see set_conv2d)

    def forward(self, x: torch.Tensor, *, conv2d: bool | None = None) -> torch.Tensor:
        """``conv2d``: the layout of this call (:func:`set_conv2d`); None: the module's own ``conv2d``."""
        return as_2d(self.layers, x) if (self.conv2d if conv2d is None else conv2d) else self.layers(x)


class OobleckDecoder(nn.Module):
    """Latents (B, latent_dim, N) -> audio (B, out_channels, N * prod(strides))."""

    def __init__(self, p: OobleckDecoderParams) -> None:
        super().__init__()
        mults = (1, *p.c_mults)
        c = p.channels
        layers: list[nn.Module] = [WNConv1d(p.latent_dim, c * mults[-1], 7, padding=3)]
        for i in range(len(p.strides), 0, -1):
            layers.append(DecoderBlock(c * mults[i], c * mults[i - 1], p.strides[i - 1]))
        layers += [
            SnakeBeta(c * mults[0]),
            WNConv1d(c * mults[0], p.out_channels, 7, padding=3, bias=False),
            nn.Tanh() if p.final_tanh else nn.Identity(),
        ]
        self.layers = nn.Sequential(*layers)
        self.conv2d = False  # run as 2-D channels-last convolutions (see set_conv2d)

    def forward(self, x: torch.Tensor, *, conv2d: bool | None = None) -> torch.Tensor:
        """``conv2d``: the layout of this call (:func:`set_conv2d`); None: the module's own ``conv2d``."""
        return as_2d(self.layers, x) if (self.conv2d if conv2d is None else conv2d) else self.layers(x)


def set_conv2d(model: nn.Module, on: bool) -> None:
    """Run every Oobleck encoder and decoder in ``model`` as 2-D channels-last convolutions (``on``) or as the
    official 1-D ones: the same products summed in another order (:func:`audiox.nn.wnconv.as_2d`); on the official
    VAE 1.3-1.5x faster in float32 on an x86 CPU, and 3.0-3.3x in bf16 (``benchmarks/bench_vae.py``).

    This sets the default of a model its caller owns; a user of a shared model (the pipeline) passes ``conv2d``
    per call instead (``encode`` / ``decode`` / the audio-prompt conditioner's ``frozen_features``)."""
    for m in model.modules():
        if isinstance(m, OobleckEncoder | OobleckDecoder):
            m.conv2d = on


def vae_sample(encoded: torch.Tensor, *, sample: bool, generator: torch.Generator | None = None,
               noise: torch.Tensor | None = None) -> torch.Tensor:
    """Gaussian VAE bottleneck: mean + (softplus(scale) + 1e-4) * eps.

    Args:
        encoded: (B, 2*D, N) encoder output, channels [:D] = mean, [D:] = scale.
        sample: False returns the mean (deterministic); True draws eps ~ N(0, 1).
        generator: RNG for eps when sampling (explicit; no global seeding).
        noise: optional eps (B, D, N) to use instead of drawing (reproduces a stored draw).

    Returns:
        (B, D, N) latents.
    """
    mean, scale = encoded.chunk(2, dim=1)
    if not sample:
        return mean
    std = nn.functional.softplus(scale) + 1e-4
    if noise is None:
        noise = torch.randn(mean.shape, generator=generator, device="cpu" if generator is None else
                            generator.device, dtype=mean.dtype).to(mean.device)
    return mean + std * noise


DECODE_OVERLAP = 16  # latent frames of context per side for chunked decoding (:meth:`AudioAutoencoder.decode`)


class AudioAutoencoder(nn.Module):
    """Oobleck VAE. ``encode`` maps (B, C, L) audio to (B, D, L // ratio) latents; ``decode`` inverts it.

    The official bottleneck samples on every encode; here ``sample=`` is explicit.
    """

    def __init__(self, cfg: AutoencoderConfig, *, iterate_batch: bool = False) -> None:
        super().__init__()
        self.cfg = cfg
        self.iterate_batch = iterate_batch
        self.encoder = OobleckEncoder(cfg.encoder.config)
        if cfg.decoder.type == "istft":
            self.decoder: nn.Module = IstftDecoder(cfg.decoder.config, cfg.downsampling_ratio)
        else:
            self.decoder = OobleckDecoder(cfg.decoder.config)
        self.is_vae = cfg.bottleneck is not None and cfg.bottleneck.type == "vae"
        self.latent_dim = cfg.latent_dim
        self.downsampling_ratio = cfg.downsampling_ratio
        self.io_channels = cfg.io_channels

    def encode_raw(self, audio: torch.Tensor, *, conv2d: bool | None = None) -> torch.Tensor:
        """Encoder output before the bottleneck: (B, C, L) -> (B, 2D, L // ratio) for a VAE; ``conv2d``: the
        Oobleck layout of this call (None: the encoder's own)."""
        if self.iterate_batch and audio.shape[0] > 1:
            return torch.cat([self._encoder(a[None], conv2d) for a in audio])
        return self._encoder(audio, conv2d)

    def _encoder(self, audio: torch.Tensor, conv2d: bool | None) -> torch.Tensor:
        return self.encoder(audio, conv2d=conv2d)

    def _decoder(self, latents: torch.Tensor, conv2d: bool | None) -> torch.Tensor:
        """The decoder (an iSTFT decoder has no 2-D layout: ``conv2d`` applies to Oobleck decoders only)."""
        if isinstance(self.decoder, OobleckDecoder):
            return self.decoder(latents, conv2d=conv2d)
        return self.decoder(latents)

    def encode(self, audio: torch.Tensor, *, sample: bool = False, generator: torch.Generator | None = None,
               noise: torch.Tensor | None = None, conv2d: bool | None = None) -> torch.Tensor:
        """Audio (B, io_channels, L samples) -> latents (B, latent_dim, L // downsampling_ratio).

        Args:
            sample: draw from the posterior (official behaviour) instead of taking its mean.
            generator / noise: source of the posterior noise when ``sample`` is True.
            conv2d: the Oobleck layout of this call (:func:`set_conv2d`; None: the encoder's own).
        """
        enc = self.encode_raw(audio, conv2d=conv2d)
        return vae_sample(enc, sample=sample, generator=generator, noise=noise) if self.is_vae else enc

    def decode(self, latents: torch.Tensor, *, chunk: int | None = None, overlap: int = DECODE_OVERLAP,
               conv2d: bool | None = None) -> torch.Tensor:
        """Latents (B, latent_dim, N) -> audio (B, io_channels, N * downsampling_ratio).

        Args:
            chunk: decode at most this many latent frames at a time (None: all at once). Each chunk is decoded
                with ``overlap`` frames of context on both sides, which are then cropped, so the activations held
                at once are bounded by ``chunk + 2 * overlap`` frames whatever the length of the audio.
            overlap: latent frames of context per side; beyond the decoder's receptive field (8-12 frames for
                the official Oobleck decoder) the chunks equal a whole decode up to float rounding.
            conv2d: the Oobleck layout of this call (:func:`set_conv2d`; None: the decoder's own).
        """
        if self.iterate_batch and latents.shape[0] > 1:
            return torch.cat([self.decode(z[None], chunk=chunk, overlap=overlap, conv2d=conv2d) for z in latents])
        n = latents.shape[-1]
        if chunk is None or n <= chunk:
            return self._decoder(latents, conv2d)
        r, pieces = self.downsampling_ratio, []
        for s in range(0, n, chunk):
            e = min(n, s + chunk)
            a, b = max(0, s - overlap), min(n, e + overlap)
            pieces.append(self._decoder(latents[..., a:b], conv2d)[..., (s - a) * r: (e - a) * r])
        return torch.cat(pieces, dim=-1)


class AutoencoderPretransform(nn.Module):
    """Holds the VAE as ``.model`` (the official key prefix ``pretransform.model.*``); latent scale 1."""

    def __init__(self, cfg: PretransformConfig) -> None:
        super().__init__()
        self.model = AudioAutoencoder(cfg.config, iterate_batch=cfg.iterate_batch)
        self.scale_values = cfg.scale
        if isinstance(cfg.scale, tuple):  # per channel: (1, D, 1), kept out of the state dict (it is config)
            self.register_buffer("scale", self.scale_tensor(), persistent=False)
        else:
            self.scale = cfg.scale

    def scale_tensor(self, device: torch.device | str | None = None) -> torch.Tensor:
        """The per-channel scale from the config as a float32 (1, D, 1) tensor (also after a meta-device build)."""
        return torch.tensor(self.scale_values, dtype=torch.float32, device=device).view(1, -1, 1)

    def encode(self, audio: torch.Tensor, **kw) -> torch.Tensor:
        return self.model.encode(audio, **kw) / self.scale

    def decode(self, latents: torch.Tensor, *, chunk: int | None = None, conv2d: bool | None = None,
               ) -> torch.Tensor:
        """Latents (B, D, N) -> audio; ``chunk``, ``conv2d``: see :meth:`AudioAutoencoder.decode`."""
        return self.model.decode(latents * self.scale, chunk=chunk, conv2d=conv2d)
