"""Training the Oobleck VAE on a corpus: multi-resolution STFT + waveform L1 + KL, Lightning, CPU or GPU.

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

from audiox.config import PretransformConfig, from_dict, to_dict
from audiox.errors import CheckpointError, ConfigError
from audiox.models.autoencoder import AutoencoderPretransform

log = logging.getLogger(__name__)

VAE_CONFIG_META = "audiox.pretransform_config"


@dataclass(frozen=True)
class VAETrainConfig:
    """Hyper-parameters of VAE training (defaults suit a small VAE on CPU)."""

    crop: int = 32768  # samples per training crop
    batch_size: int = 8
    lr: float = 3e-4
    weight_decay: float = 0.0
    kl_weight: float = 1e-4
    l1_weight: float = 1.0
    stft_weight: float = 1.0
    fft_sizes: tuple[int, ...] = (2048, 512, 128)
    max_steps: int = 2000
    seed: int = 0
    train_encoder: bool = True  # False: decoder only (encodings made earlier stay valid)


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


class CropDataset(Dataset):
    """Random fixed-length crops of in-memory clips (C, T) at the model rate; index = draw number (seeded)."""

    def __init__(self, clips: list[torch.Tensor], crop: int, length: int, seed: int) -> None:
        if not clips:
            raise ConfigError("no training audio found")
        self.clips, self.crop, self.length, self.seed = clips, crop, length, seed

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> torch.Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + i)
        clip = self.clips[int(torch.randint(len(self.clips), (1,), generator=g))]
        if clip.shape[-1] <= self.crop:
            return F.pad(clip, (0, self.crop - clip.shape[-1]))
        start = int(torch.randint(clip.shape[-1] - self.crop, (1,), generator=g))
        return clip[:, start:start + self.crop]


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
        self.save_path: Path | None = None  # when set, vae.safetensors is rewritten every save_every steps
        self.save_every = 0

    def on_train_batch_end(self, outputs, batch, batch_idx: int) -> None:
        if self.save_path is not None and self.save_every and self.global_step % self.save_every == 0:
            save_vae(self.save_path, self.vae, self.pretransform_cfg)

    def losses(self, audio: torch.Tensor, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        with torch.set_grad_enabled(self.cfg.train_encoder and torch.is_grad_enabled()):
            enc = self.vae.encode_raw(audio)
        mean, scale = enc.chunk(2, dim=1)
        std = F.softplus(scale) + 1e-4
        z = mean + std * torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        rec = self.vae.decode(z)[..., : audio.shape[-1]]
        kl = 0.5 * (mean.pow(2) + std.pow(2) - 2 * std.log() - 1).mean()
        l1 = F.l1_loss(rec, audio)
        spec = stft_loss(rec, audio, self.cfg.fft_sizes)
        total = self.cfg.l1_weight * l1 + self.cfg.stft_weight * spec + self.cfg.kl_weight * kl
        return {"loss": total, "l1": l1, "stft": spec, "kl": kl}

    def training_step(self, batch: torch.Tensor, batch_idx: int) -> torch.Tensor:
        g = torch.Generator(device=batch.device).manual_seed(self.cfg.seed * 7919 + self.global_step)
        out = self.losses(batch, g)
        self.log_dict({f"train/{k}": v for k, v in out.items()}, prog_bar=True, on_step=True)
        return out["loss"]

    def configure_optimizers(self):
        params = self.vae.parameters() if self.cfg.train_encoder else self.vae.decoder.parameters()
        return torch.optim.AdamW(params, lr=self.cfg.lr, weight_decay=self.cfg.weight_decay,
                                 betas=(0.8, 0.99))


def save_vae(path: str | os.PathLike, vae: torch.nn.Module, pretransform: PretransformConfig) -> Path:
    """Write the VAE weights with keys ``pretransform.model.*`` and its config in the metadata."""
    from audiox.checkpoint.io import write_safetensors

    sd = {f"pretransform.model.{k}": v.detach().cpu().contiguous() for k, v in vae.state_dict().items()}
    return write_safetensors(path, sd, {VAE_CONFIG_META: json.dumps(to_dict(pretransform))})


def load_vae_weights(vae: torch.nn.Module, path: str | os.PathLike, expected: PretransformConfig) -> None:
    """Strictly load a :func:`save_vae` file into an :class:`AudioAutoencoder` built from ``expected``."""
    from audiox.checkpoint.io import read_state_dict

    sd, meta = read_state_dict(path)
    if VAE_CONFIG_META in meta:
        cfg = from_dict(PretransformConfig, json.loads(meta[VAE_CONFIG_META]), "vae")
        # the latent ``scale`` belongs to the model using the VAE (how its DiT sees the latents), not to the weights
        if dataclasses.replace(cfg, scale=expected.scale) != expected:
            raise CheckpointError(f"{path}: VAE config differs from the model's pretransform config")
    sub = {k[len("pretransform.model."):]: v.float() for k, v in sd.items() if k.startswith("pretransform.model.")}
    missing, unexpected = vae.load_state_dict(sub, strict=False)
    if missing or unexpected:
        raise CheckpointError(f"{path}: VAE keys do not match: {len(missing)} missing, {len(unexpected)} unexpected")


def vae_from_file(path: str | os.PathLike) -> tuple[torch.nn.Module, PretransformConfig]:
    """Build the :class:`AudioAutoencoder` a :func:`save_vae` file describes and load it: ``(vae, its config)``."""
    from audiox.checkpoint.io import read_state_dict
    from audiox.models.autoencoder import AudioAutoencoder

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
