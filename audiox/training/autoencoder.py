"""Training the VAE (Oobleck or spectral decoder): multi-resolution STFT + waveform L1 + KL, a Lightning module;
optionally adversarial (``adversarial_weight`` > 0: :mod:`audiox.models.discriminators`, hinge + feature matching).

Two kinds of batches: audio crops (the encoder runs; KL on its posterior) or, to train a decoder alone, pairs of
stored latents and their audio (:class:`LatentCropDataset`: the frozen encoder's posterior means from a packed
folder plus a little Gaussian noise, so the decoder tolerates a DiT's imperfect latents). Each dataset item is
seeded by its draw number, so a run resumed at step k draws what an uninterrupted run draws
(:mod:`audiox.training.vae_run` runs the job).

The trained VAE is written as ``vae.safetensors`` (keys ``pretransform.model.*``, config in the metadata) and
installed into a full model with :func:`install_vae` (main VAE and every audio-conditioner copy, shared).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from audiox.config import AutoencoderConfig, DecoderConfig, PretransformConfig, from_dict, to_dict
from audiox.errors import CheckpointError, ConfigError
from audiox.models.autoencoder import AutoencoderPretransform
from audiox.models.discriminators import DiscriminatorConfig, MultiDiscriminator
from audiox.nn.losses import DEFAULT_FFT_SIZES, stft_loss

log = logging.getLogger(__name__)

VAE_CONFIG_META = "audiox.pretransform_config"


@dataclass(frozen=True)
class VAETrainConfig:
    """Hyper-parameters of VAE training (defaults suit a small VAE on CPU); ``audiox train-vae --config`` keys.

    Args:
        crop: samples per training crop (a multiple of the VAE hop).
        batch_size / lr / weight_decay / max_steps / seed: the usual; AdamW with betas (0.8, 0.99).
        kl_weight / l1_weight / stft_weight: loss weights (KL only when the encoder runs).
        fft_sizes: STFT sizes of the multi-resolution loss (those shorter than the crop are used).
        train_encoder: False trains the decoder only (encodings made earlier stay valid).
        decoder: a decoder section (official JSON layout) replacing the model's VAE decoder, e.g. a spectral
            ``{"type": "istft", ...}``; None keeps the model's.
        autoencoder: a whole VAE (the pretransform's ``config`` section: encoder strides, hence the hop, latent
            channels, decoder) replacing the model's: a candidate VAE, trained from scratch (its latent scale is
            1 until measured); None keeps the model's. ``decoder``, if also set, replaces its decoder.
        latent_noise: std of the Gaussian noise added to stored latents (decoder training on latents only).
        grad_clip: gradient-norm clipping (0 = off).
        adversarial_weight: weight of the hinge GAN loss of the decoded audio; 0 (default) builds no
            discriminator (automatic optimization, as without these keys); > 0 adds ``discriminator`` and trains it
            with its own AdamW (``disc_lr``) by manual optimization, one global step per batch.
        feature_matching_weight: weight of the L1 feature-matching loss (discriminator features of real vs decoded).
        disc_lr: the discriminator's learning rate.
        disc_start_step: the discriminator and the adversarial terms are switched on from this global step.
        discriminator: periods, STFT sizes and width (:class:`DiscriminatorConfig`).
        tone_clips: synthetic note clips (:mod:`audiox.training.tone_clips`, seeded by ``seed``) added to the
            training data; on stored latents they are encoded by the ``init`` encoder.
    """

    crop: int = 32768
    batch_size: int = 8
    lr: float = 3e-4
    weight_decay: float = 0.0
    kl_weight: float = 1e-4
    l1_weight: float = 1.0
    stft_weight: float = 1.0
    fft_sizes: tuple[int, ...] = DEFAULT_FFT_SIZES
    max_steps: int = 2000
    seed: int = 0
    train_encoder: bool = True
    decoder: DecoderConfig | None = None
    autoencoder: AutoencoderConfig | None = None
    latent_noise: float = 0.0
    grad_clip: float = 0.0
    adversarial_weight: float = 0.0
    feature_matching_weight: float = 5.0
    disc_lr: float = 3e-4
    disc_start_step: int = 0
    discriminator: DiscriminatorConfig = DiscriminatorConfig()
    tone_clips: int = 0

    @property
    def adversarial(self) -> bool:
        return self.adversarial_weight > 0

    def validate(self, path: str) -> None:
        if self.tone_clips < 0:
            raise ConfigError(f"{path}.tone_clips: must be >= 0, got {self.tone_clips}".lstrip("."))
        for key in ("crop", "batch_size", "max_steps"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{path}.{key}: must be >= 1, got {getattr(self, key)}".lstrip("."))
        for key in ("lr", "weight_decay", "kl_weight", "l1_weight", "stft_weight", "latent_noise", "grad_clip",
                    "adversarial_weight", "feature_matching_weight", "disc_lr", "disc_start_step"):
            value = getattr(self, key)
            positive = key in ("lr", "disc_lr")
            if not 0 <= value < float("inf") or (positive and value == 0):
                raise ConfigError(f"{path}.{key}: must be a finite number {'> 0' if positive else '>= 0'}, "
                                  f"got {value}".lstrip("."))
        if not self.fft_sizes or min(self.fft_sizes) < 4:
            raise ConfigError(f"{path}.fft_sizes: expected STFT sizes >= 4, got {list(self.fft_sizes)}".lstrip("."))
        self.discriminator.validate(f"{path}.discriminator".lstrip("."))
        if self.adversarial and max(self.discriminator.fft_sizes, default=0) >= self.crop:
            raise ConfigError(f"{path}.discriminator.fft_sizes: each must be shorter than the crop ({self.crop}), "
                              f"got {list(self.discriminator.fft_sizes)}".lstrip("."))

    @classmethod
    def load(cls, path: str | os.PathLike) -> VAETrainConfig:
        """Strictly read a JSON object of these keys (``audiox train-vae --config``); errors name the file and key."""
        p = Path(path)
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
            raise ConfigError(f"{p}: not valid JSON ({type(e).__name__})") from None
        try:
            return from_dict(cls, data, "")
        except ConfigError as e:
            raise ConfigError(f"{p}: {e}") from None


class CropDataset(Dataset):
    """Random fixed-length crops of in-memory clips (C, T) at the model rate.

    Item ``i`` is draw ``start + i``, seeded by it alone: a dataset made with ``start = k * batch_size`` continues
    the draws of one made with ``start = 0`` after ``k`` batches.
    """

    def __init__(self, clips: list[torch.Tensor], crop: int, length: int, seed: int, *, start: int = 0) -> None:
        if not clips:
            raise ConfigError("no training audio found")
        self.clips, self.crop, self.length, self.seed, self.start = clips, crop, length, seed, start

    def __len__(self) -> int:
        return max(self.length - self.start, 0)

    def __getitem__(self, i: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.start + i)
        clip = self.clips[int(torch.randint(len(self.clips), (1,), generator=g))]
        if clip.shape[-1] <= self.crop:
            return F.pad(clip, (0, self.crop - clip.shape[-1]))
        start = int(torch.randint(clip.shape[-1] - self.crop, (1,), generator=g))
        return clip[:, start:start + self.crop]


@dataclass(frozen=True)
class LatentPairs:
    """Stored VAE latents and the audio they encode.

    Args:
        latents: (n, D, N) posterior means.
        audio: (n, C, N * hop) the clips at the model rate.
        hop: samples per latent frame.
    """

    latents: torch.Tensor
    audio: torch.Tensor
    hop: int


class LatentCropDataset(Dataset):
    """``(latents (D, F) + noise, audio (C, F * hop))`` crops of :class:`LatentPairs`, ``F = crop // hop`` frames.

    Seeded per draw like :class:`CropDataset` (item ``i`` is draw ``start + i``).
    """

    def __init__(self, pairs: LatentPairs, crop: int, length: int, seed: int, *, noise: float = 0.0,
                 start: int = 0) -> None:
        if not len(pairs.latents):
            raise ConfigError("no training latents found")
        self.pairs, self.length, self.seed, self.noise, self.start = pairs, length, seed, noise, start
        self.frames = min(crop // pairs.hop, pairs.latents.shape[-1])

    def __len__(self) -> int:
        return max(self.length - self.start, 0)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.start + i)
        lat, hop, f = self.pairs.latents, self.pairs.hop, self.frames
        k = int(torch.randint(lat.shape[0], (1,), generator=g))
        off = int(torch.randint(lat.shape[-1] - f + 1, (1,), generator=g))
        z = lat[k, :, off:off + f].float()
        z = z + self.noise * torch.randn(z.shape, generator=g)
        return z, self.pairs.audio[k, :, off * hop:(off + f) * hop]


def load_corpus_audio(manifest: str | os.PathLike, sample_rate: int, channels: int, split: str = "train",
                      ) -> list[torch.Tensor]:
    """All clips of ``split`` in a manifest, decoded at the model rate (unreadable files are skipped and logged)."""
    from audiox.data.manifest import read_manifest
    from audiox.errors import MediaError
    from audiox.media import load_audio

    root = Path(manifest).parent
    clips, skipped = [], 0
    for e in read_manifest(manifest):
        if e.split != split:
            continue
        try:
            clips.append(load_audio(root / e.audio, sample_rate=sample_rate, channels=channels))
        except MediaError as err:
            skipped += 1
            log.warning("skipping %s", err)
    if skipped:
        log.warning("%d unreadable clips skipped", skipped)
    return clips


class VAETrainingModule(pl.LightningModule):
    def __init__(self, pretransform: PretransformConfig, cfg: VAETrainConfig) -> None:
        super().__init__()
        self.pretransform_cfg = pretransform
        self.cfg = cfg
        self.vae = AutoencoderPretransform(pretransform).model
        if cfg.adversarial:  # built after the VAE: its seeded initialisation is that of a run without it
            self.discriminator = MultiDiscriminator(cfg.discriminator)
            self.automatic_optimization = False
        self.save_path: Path | None = None  # when set, vae.safetensors is rewritten every save_every steps
        self.save_every = 0

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        if (self.save_path is not None and self.save_every and self.global_step % self.save_every == 0
                and self.trainer.is_global_zero):
            save_vae(self.save_path, self.vae, self.pretransform_cfg)

    def decoder_losses(self, z: torch.Tensor, audio: torch.Tensor) -> dict[str, torch.Tensor]:
        """Weighted L1 + STFT loss of decoding ``z`` (B, D, N) against ``audio`` (B, C, T); ``rec``: the decoding."""
        rec = self.vae.decode(z)[..., : audio.shape[-1]].float()
        l1 = F.l1_loss(rec, audio)
        spec = stft_loss(rec, audio, self.cfg.fft_sizes)
        return {"loss": self.cfg.l1_weight * l1 + self.cfg.stft_weight * spec, "l1": l1, "stft": spec, "rec": rec}

    def losses(self, audio: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """Encode ``audio`` (B, C, T), sample the posterior with ``generator``, decode: L1 + STFT + KL."""
        with torch.set_grad_enabled(self.cfg.train_encoder and torch.is_grad_enabled()):
            enc = self.vae.encode_raw(audio)
        mean, scale = enc.chunk(2, dim=1)
        std = F.softplus(scale) + 1e-4
        z = mean + std * torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        out = self.decoder_losses(z, audio)
        kl = 0.5 * (mean.pow(2) + std.pow(2) - 2 * std.log() - 1).mean()
        return {**out, "loss": out["loss"] + self.cfg.kl_weight * kl, "kl": kl}

    def training_step(self, batch: torch.Tensor | list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        if isinstance(batch, (list, tuple)):  # stored latents and their audio: the decoder alone
            out = self.decoder_losses(*batch)
        else:
            g = torch.Generator(device=batch.device).manual_seed(self.cfg.seed * 7919 + self.global_step)
            out = self.losses(batch, g)
        audio = batch[1] if isinstance(batch, (list, tuple)) else batch
        rec = out.pop("rec")
        if self.cfg.adversarial:
            out = self.adversarial_step(audio, rec, out)
        self.log_dict({f"train/{k}": v for k, v in out.items()}, prog_bar=True, on_step=True)
        return out["loss"]

    def adversarial_step(self, audio: torch.Tensor, rec: torch.Tensor, out: dict[str, torch.Tensor],
                         ) -> dict[str, torch.Tensor]:
        """Manual optimization: the discriminator's step on ``audio`` vs the detached ``rec`` (B, C, T), then the
        VAE's on its losses ``out`` + hinge adversarial + feature matching (both only from ``disc_start_step``).

        Only the VAE's step goes through Lightning's counting wrapper: ``global_step`` (max_steps, resume, data
        position) advances once per batch; the discriminator's goes to the strategy (same precision, not counted).
        """
        from audiox.models.discriminators import feature_matching_loss, hinge_discriminator_loss, hinge_generator_loss

        cfg = self.cfg
        vae_opt, disc_opt = self.optimizers()
        if self.global_step >= cfg.disc_start_step:
            disc_opt.zero_grad()
            d_loss = hinge_discriminator_loss(self.discriminator(audio), self.discriminator(rec.detach()))
            self.manual_backward(d_loss)
            self._clip(disc_opt)
            self.trainer.strategy.optimizer_step(disc_opt.optimizer, closure=lambda: None)
            with torch.no_grad():
                real = self.discriminator(audio)
            fake = self.discriminator(rec)
            adv, fm = hinge_generator_loss(fake), feature_matching_loss(real, fake)
            out = {**out, "loss": out["loss"] + cfg.adversarial_weight * adv + cfg.feature_matching_weight * fm,
                   "adv": adv, "fm": fm, "disc": d_loss}
        vae_opt.zero_grad()
        self.manual_backward(out["loss"])
        self._clip(vae_opt)
        vae_opt.step()
        return out

    def _clip(self, opt) -> None:
        if self.cfg.grad_clip:  # the Trainer's clipping applies to automatic optimization only
            self.clip_gradients(opt, gradient_clip_val=self.cfg.grad_clip, gradient_clip_algorithm="norm")

    def configure_optimizers(self):
        params = self.vae.parameters() if self.cfg.train_encoder else self.vae.decoder.parameters()
        opt = torch.optim.AdamW(params, lr=self.cfg.lr, weight_decay=self.cfg.weight_decay, betas=(0.8, 0.99))
        if not self.cfg.adversarial:
            return opt
        return [opt, torch.optim.AdamW(self.discriminator.parameters(), lr=self.cfg.disc_lr,
                                       weight_decay=self.cfg.weight_decay, betas=(0.8, 0.99))]


def save_vae(path: str | os.PathLike, vae: torch.nn.Module, pretransform: PretransformConfig) -> Path:
    """Write the VAE weights with keys ``pretransform.model.*`` and its config in the metadata."""
    from audiox.checkpoint.io import write_safetensors

    sd = {f"pretransform.model.{k}": v.detach().cpu().contiguous() for k, v in vae.state_dict().items()}
    return write_safetensors(path, sd, {VAE_CONFIG_META: json.dumps(to_dict(pretransform))})


def training_pretransform(pretransform: PretransformConfig, tcfg: VAETrainConfig) -> PretransformConfig:
    """The VAE that ``tcfg`` trains: the model's, or ``tcfg.autoencoder`` (scale 1), with ``tcfg.decoder`` if set."""
    if tcfg.autoencoder is not None:
        pretransform = dataclasses.replace(pretransform, config=tcfg.autoencoder, scale=1.0)
    return with_decoder(pretransform, tcfg.decoder) if tcfg.decoder is not None else pretransform


def with_decoder(pretransform: PretransformConfig, decoder: DecoderConfig) -> PretransformConfig:
    """``pretransform`` with its VAE decoder replaced (checked: latent size, hop)."""
    ae = dataclasses.replace(pretransform.config, decoder=decoder)
    ae.validate("decoder")
    return dataclasses.replace(pretransform, config=ae)


def load_vae_weights(vae: torch.nn.Module, path: str | os.PathLike, expected: PretransformConfig, *,
                     new_decoder: bool = False) -> None:
    """Strictly load a :func:`save_vae` file into an :class:`AudioAutoencoder` built from ``expected``.

    Args:
        vae: the AudioAutoencoder.
        path: the file.
        expected: ``vae``'s pretransform config; the file's must equal it (its latent ``scale`` aside).
        new_decoder: the file's decoder may differ from ``expected``'s (another kind or size); then only its
            encoder is loaded and ``vae``'s decoder keeps its weights.
    """
    from audiox.checkpoint.io import check_finite, read_state_dict

    sd, meta = read_state_dict(path)
    encoder_only = False
    if VAE_CONFIG_META in meta:
        cfg = from_dict(PretransformConfig, json.loads(meta[VAE_CONFIG_META]), "vae")
        # the latent ``scale`` belongs to the model using the VAE (how its DiT sees the latents), not to the weights
        cfg = dataclasses.replace(cfg, scale=expected.scale)
        if new_decoder and cfg.config.decoder != expected.config.decoder:
            encoder_only = True
            cfg = dataclasses.replace(cfg, config=dataclasses.replace(cfg.config, decoder=expected.config.decoder))
        if cfg != expected:
            raise CheckpointError(f"{path}: VAE config differs from the model's pretransform config")
    prefix = "pretransform.model." + ("encoder." if encoder_only else "")
    sub = {k[len(prefix):]: v.float() for k, v in sd.items() if k.startswith(prefix)}
    for k, v in sub.items():
        check_finite(prefix + k, v, path)
    missing, unexpected = (vae.encoder if encoder_only else vae).load_state_dict(sub, strict=False)
    if missing or unexpected:
        raise CheckpointError(f"{path}: VAE keys do not match: {len(missing)} missing, {len(unexpected)} unexpected")


def vae_from_file(path: str | os.PathLike) -> tuple[torch.nn.Module, PretransformConfig]:
    """Build the :class:`AudioAutoencoder` a :func:`save_vae` file describes and load it: ``(vae, its config)``.

    ``path`` may also be a model folder (``config.json`` + ``model.safetensors``, e.g. ``audiox/assets/builtin``):
    its VAE is loaded.
    """
    from audiox.checkpoint.io import read_state_dict
    from audiox.models.autoencoder import AudioAutoencoder

    if Path(path).is_dir():
        from audiox.config import load_config

        cfg = load_config(Path(path) / "config.json").model.pretransform
        vae = AudioAutoencoder(cfg.config, iterate_batch=cfg.iterate_batch)
        load_vae_weights(vae, Path(path) / "model.safetensors", cfg)
        return vae, cfg
    _, meta = read_state_dict(path)
    if VAE_CONFIG_META not in meta:
        raise CheckpointError(f"{path}: no VAE config in the metadata (not written by `audiox train-vae`)")
    cfg = from_dict(PretransformConfig, json.loads(meta[VAE_CONFIG_META]), "vae")
    vae = AudioAutoencoder(cfg.config, iterate_batch=cfg.iterate_batch)
    load_vae_weights(vae, path, cfg)
    return vae, cfg


def install_vae(model, path: str | os.PathLike) -> None:
    """Load a trained VAE into ``model.pretransform`` and share it with every audio conditioner (strict)."""
    from audiox.models.conditioners.audio import AudioConditioner

    load_vae_weights(model.pretransform.model, path, model.config.model.pretransform)
    for cond in model.conditioner.conditioners.values():
        if isinstance(cond, AudioConditioner):
            if cond.pretransform.model.cfg != model.pretransform.model.cfg:
                raise CheckpointError("audio conditioner VAE config differs from the main VAE: cannot share")
            cond.pretransform = model.pretransform
