"""Audio-prompt conditioner: its own VAE encoder, a projection to the token width, a learned empty feature.

Key-compatible with ``conditioner.conditioners.audio_prompt.*``. An all-zero clip means "no audio" and maps to
``empty_audio_feat``. The release samples the VAE posterior here on every call; ``sample`` makes it explicit.
"""

from __future__ import annotations

import torch
from torch import nn

from audiox.config import AudioAutoencoderConditionerParams
from audiox.models.autoencoder import AutoencoderPretransform


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
    """

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

    def forward(self, audio: torch.Tensor, *, sample: bool = True, generator: torch.Generator | None = None,
                noise: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Args:
            audio: (B, C, L) at the model sample rate; L must give ``latent_seq_len`` latents.
            sample: draw the VAE posterior (official) or use its mean (deterministic).
            generator / noise: the posterior noise source (noise: (B, latent_dim, latent_seq_len)).
        """
        b = audio.shape[0]
        is_zero = (audio.reshape(b, -1) == 0).all(dim=1)
        audio = set_audio_channels(audio, self.pretransform.model.io_channels)
        with torch.no_grad():
            wdtype = self.proj_out.weight.dtype if isinstance(self.proj_out, nn.Linear) else audio.dtype
            lat = self.pretransform.encode(audio.to(wdtype), sample=sample, generator=generator, noise=noise)
        if lat.shape[2] != self.latent_seq_len:
            raise ValueError(f"audio prompt gives {lat.shape[2]} latents, expected {self.latent_seq_len} "
                             f"({self.samples} samples)")
        y = self.proj_out(lat.transpose(1, 2))
        y = torch.where(is_zero[:, None, None], self.empty_audio_feat.to(y.dtype), y)
        return y, torch.ones(b, y.shape[2], device=y.device)
