"""The whole AudioX model: DiT + conditioners + VAE, with the official module tree (and so its key names).

``model.model.*`` is the DiT, ``conditioner.conditioners.{id}.*`` the conditioners, ``pretransform.model.*`` the
VAE that maps generated latents to audio.
"""

from __future__ import annotations

import torch
from torch import nn

from audiox.config import AudioXConfig
from audiox.models.autoencoder import AutoencoderPretransform
from audiox.models.conditioners.audio import AudioConditioner
from audiox.models.conditioners.features import FeatureMasking
from audiox.models.conditioners.multi import Conditioning, MultiConditioner, assemble
from audiox.models.dit import DiT


class DiTWrapper(nn.Module):
    """Holds the DiT as ``.model`` (official prefix ``model.model.*``)."""

    def __init__(self, dit: DiT) -> None:
        super().__init__()
        self.model = dit


class AudioXModel(nn.Module):
    """DiT, conditioners and VAE built from an :class:`AudioXConfig`.

    Args:
        cfg: the parsed config.
        clip_overrides: CLIP vision config fields that differ from ViT-B/32 (inferred from a checkpoint).
    """

    def __init__(self, cfg: AudioXConfig, *, clip_overrides: dict | None = None) -> None:
        super().__init__()
        self.config = cfg
        self.model = DiTWrapper(DiT(cfg.model.diffusion.config))
        self.conditioner = MultiConditioner(cfg.model.conditioning, clip_overrides=clip_overrides)
        self.pretransform = AutoencoderPretransform(cfg.model.pretransform)

    @property
    def dit(self) -> DiT:
        return self.model.model

    @property
    def sample_rate(self) -> int:
        return self.config.sample_rate

    def audio_conditioners(self) -> dict[str, AudioConditioner]:
        return {k: m for k, m in self.conditioner.conditioners.items() if isinstance(m, AudioConditioner)}

    def condition(self, inputs: dict, *, sample_audio: bool = True, generator: torch.Generator | None = None,
                  audio_noise: dict[str, torch.Tensor] | None = None, vae_conv2d: bool | None = None,
                  ) -> Conditioning:
        """Run the conditioners and assemble the context: ``condition_features(conditioner.frozen_features(...))``.

        Args:
            inputs: conditioner id -> raw input (see :meth:`MultiConditioner.frozen_features`).
            sample_audio / generator / audio_noise: the audio prompt's posterior draw (see :meth:`condition_features`).
            vae_conv2d: the audio-prompt encoders' layout for this call (None: their own).
        """
        features = self.conditioner.frozen_features(inputs, vae_conv2d=vae_conv2d)
        return self.condition_features(features, sample_audio=sample_audio, generator=generator,
                                       audio_noise=audio_noise)

    def condition_features(self, features: dict[str, dict[str, torch.Tensor]], *,
                           masking: dict[str, FeatureMasking] | None = None, sample_audio: bool = True,
                           generator: torch.Generator | None = None,
                           audio_noise: dict[str, torch.Tensor] | None = None) -> Conditioning:
        """The trainable half of conditioning, shared by generation and training: frozen features -> context.

        Args:
            features: conditioner id -> its frozen features (:meth:`MultiConditioner.frozen_features`, or stored by
                pre-encoding).
            masking: id -> training masking of those features (None at inference).
            sample_audio: sample the audio prompt's VAE posterior (official) or use its mean.
            generator / audio_noise: posterior noise source; audio_noise maps id -> (B, D, N) noise.

        Returns:
            The assembled :class:`Conditioning` (``cross_attn_cond`` (B, M, Dc) and the id spans).
        """
        outputs = self.conditioner.tokens(features, masking=masking, sample_audio=sample_audio, generator=generator,
                                          audio_noise=audio_noise)
        return assemble(outputs, self.config.model.diffusion)

    def decode(self, latents: torch.Tensor, *, chunk: int | None = None, conv2d: bool | None = None,
               ) -> torch.Tensor:
        """Latents (B, latent_dim, N) -> float32 audio (B, channels, N * downsampling_ratio), in the decoder's dtype.

        Args:
            chunk: latent frames decoded at a time (bounded memory for long audio; see
                :meth:`audiox.models.autoencoder.AudioAutoencoder.decode`); None: all at once.
            conv2d: the Oobleck layout of this call (:func:`audiox.models.autoencoder.set_conv2d`; None: the
                decoder's own).
        """
        with torch.no_grad():
            dtype = next(self.pretransform.model.decoder.parameters()).dtype
            return self.pretransform.decode(latents.to(dtype), chunk=chunk, conv2d=conv2d).float()

    def encode(self, audio: torch.Tensor, *, sample: bool = False, generator: torch.Generator | None = None,
               conv2d: bool | None = None) -> torch.Tensor:
        """Audio (B, channels, L) -> latents (B, latent_dim, L // downsampling_ratio) with the main VAE; ``conv2d``:
        as in :meth:`decode`."""
        with torch.no_grad():
            dtype = next(self.pretransform.model.encoder.parameters()).dtype
            return self.pretransform.encode(audio.to(dtype), sample=sample, generator=generator,
                                            conv2d=conv2d).float()
