"""Audio-prompt conditioner: its own VAE encoder, a projection to the token width, a learned empty feature.

Key-compatible with ``conditioner.conditioners.audio_prompt.*``. An all-zero clip means "no audio" and maps to
``empty_audio_feat``. The release samples the VAE posterior here on every call; ``sample`` makes it explicit.
"""

from __future__ import annotations

import torch
from torch import nn

from audiox.config import AudioAutoencoderConditionerParams
from audiox.errors import InputError
from audiox.models.autoencoder import AutoencoderPretransform, vae_sample
from audiox.models.conditioners.features import FeatureMasking, all_zero


def set_audio_channels(audio: torch.Tensor, channels: int) -> torch.Tensor:
    """(B, C, T) -> (B, channels, T): mono is repeated, extra channels are dropped (official rule)."""
    if audio.shape[1] == channels:
        return audio
    if audio.shape[1] == 1:
        return audio.repeat(1, channels, 1)
    if audio.shape[1] > channels:
        return audio[:, :channels]
    raise ValueError(f"cannot map {audio.shape[1]} audio channels to {channels}")


class AudioConditioner(nn.Module):
    """Audio (B, C, L) -> tokens (B, latent_seq_len, cond_dim), mask (B, cond_dim) (an official quirk, unused).

    Args:
        params: conditioner config; ``latent_seq_len`` = L // downsampling_ratio (215 for 10 s at 44.1 kHz).
        cond_dim: output token width.

    Halves (see :mod:`audiox.models.conditioners.features`): :meth:`frozen_features` (the VAE encoder) and
    :meth:`tokens`.
    """

    role = "audio_prompt"
    feature_keys = ("prompt_raw", "prompt_empty")

    def __init__(self, params: AudioAutoencoderConditionerParams, cond_dim: int) -> None:
        super().__init__()
        self.params = params
        pt = params.pretransform_config
        self.latent_seq_len = params.latent_seq_len
        self.samples = params.latent_seq_len * pt.config.downsampling_ratio
        self.empty_audio_feat = nn.Parameter(torch.zeros(1, params.latent_seq_len, cond_dim))
        latent_dim = pt.config.latent_dim
        self.proj_out = nn.Identity() if latent_dim == cond_dim else nn.Linear(latent_dim, cond_dim)
        self.pretransform = AutoencoderPretransform(pt)

    def frozen_features(self, audio: torch.Tensor, *, grad: bool = False, conv2d: bool | None = None,
                        ) -> dict[str, torch.Tensor]:
        """The frozen half: the prompt's VAE encoder output, before the posterior draw (what pre-encoding stores).

        Args:
            audio: (B, C, L) at the model sample rate; L must give ``latent_seq_len`` latents.
            grad: ignored: the VAE is always frozen.
            conv2d: the encoder's Oobleck layout for this call (None: its own).

        Returns:
            ``prompt_raw`` (B, 2D, latent_seq_len) (posterior mean | scale; D channels for a non-VAE bottleneck) in
            the VAE dtype (zeros when every clip is all-zero: the encoder is skipped, since :meth:`tokens` gives such
            items the learned empty feature), and ``prompt_empty`` (B,) bool (an all-zero clip: no audio prompt).
        """
        vae = self.pretransform.model
        w = next(vae.parameters())
        empty = all_zero(audio)
        if bool(empty.all()) and audio.shape[-1] == self.samples:  # no prompt: tokens() uses the empty feature
            raw = torch.zeros(audio.shape[0], vae.cfg.encoder.config.latent_dim, self.latent_seq_len, dtype=w.dtype,
                              device=w.device)
            return {"prompt_raw": raw, "prompt_empty": empty.to(raw.device)}
        with torch.no_grad():
            raw = vae.encode_raw(set_audio_channels(audio, vae.io_channels).to(w), conv2d=conv2d)
        if raw.shape[2] != self.latent_seq_len:
            raise InputError(f"audio prompt gives {raw.shape[2]} latents, expected {self.latent_seq_len} "
                             f"({self.samples} samples)")
        return {"prompt_raw": raw, "prompt_empty": all_zero(audio).to(raw.device)}

    def tokens(self, features: dict[str, torch.Tensor], *, masking: FeatureMasking | None = None, sample: bool = True,
               generator: torch.Generator | None = None, noise: torch.Tensor | None = None,
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """The trainable half: posterior draw (or mean), projection, the learned empty feature.

        Args:
            features: ``prompt_raw`` (B, 2D, Np) and ``prompt_empty`` (B,) bool, as :meth:`frozen_features`.
            masking: training only: latent frames outside ``keep`` (B, Np) take the silent prompt's
                ``masking.empty["prompt_raw"]`` (2D, Np); ``dropped`` items are empty.
            sample: draw the VAE posterior (official) or use its mean (deterministic).
            generator / noise: the posterior noise source (noise: (B, D, Np)).

        Returns:
            tokens (B, Np, cond_dim) (``empty_audio_feat`` for empty items), mask (B, cond_dim) of ones.
        """
        raw, empty = features["prompt_raw"], features["prompt_empty"]
        if masking is not None and masking.keep is not None:
            silence = masking.empty["prompt_raw"].to(raw)
            raw = torch.where(masking.keep.to(raw.device)[:, None, :], raw, silence)
        if masking is not None and masking.dropped is not None:
            empty = empty | masking.dropped.to(empty.device)
        vae = self.pretransform.model
        lat = vae_sample(raw, sample=sample, generator=generator, noise=noise) if vae.is_vae else raw
        lat = lat / self.pretransform.scale
        y = self.proj_out(lat.transpose(1, 2).to(self.empty_audio_feat.dtype))
        b = y.shape[0]
        y = torch.where(empty.to(y.device).view(b, 1, 1), self.empty_audio_feat.to(y.dtype), y)
        return y, torch.ones(b, y.shape[2], device=y.device)

    def forward(self, audio: torch.Tensor, *, sample: bool = True, generator: torch.Generator | None = None,
                noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """``tokens(frozen_features(audio), ...)``: (B, C, L) -> tokens (B, Np, cond_dim), mask (B, cond_dim)."""
        return self.tokens(self.frozen_features(audio), sample=sample, generator=generator, noise=noise)
