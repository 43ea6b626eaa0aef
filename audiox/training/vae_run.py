"""Run a VAE training job: training audio (or stored latents) -> Lightning -> ``vae.safetensors``, resumable.

``audiox train-vae`` parses and checks its arguments, loads the data with :func:`load_clips` or
:func:`load_latent_pairs` and calls :func:`train_vae`. Outputs under ``out``: ``vae.safetensors`` (rewritten
atomically every ``save_every`` steps and at the end), ``checkpoints/{last,step-*}.ckpt`` (weights, optimizer,
step), ``logs/version_*/metrics.csv`` (one per start or resume) and ``vae_train_config.json``. Every draw (crop,
posterior or latent noise) is seeded by the step or the draw number and nothing reads the global RNG, so a run
resumed from ``last.ckpt`` ends with the weights of an uninterrupted one.

Decoder-only training on latents (the spectral decoder of the built-in model): the latents are the posterior means
that ``audiox preencode --packed`` stored, made by the encoder of the ``init`` VAE (checked by fingerprint); the
encoder never runs, so a step costs only the decoder.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from audiox.config import PretransformConfig
from audiox.errors import ConfigError
from audiox.training.autoencoder import LatentPairs, VAETrainConfig

log = logging.getLogger(__name__)

SEGMENTS_SUFFIX = ".mulaw.xz"
CONFIG_NAME = "vae_train_config.json"


TONE_CLIP_SECONDS = 10.0  # length of the note clips added to training clips (latents: the packed window)


def _tones(n: int, length: int, sample_rate: int, channels: int, seed: int) -> torch.Tensor:
    from audiox.training.tone_clips import note_clips

    log.info("adding %d synthetic note clips to the training data", n)
    return note_clips(n, length, sample_rate, seed).expand(-1, channels, -1).contiguous()


def load_clips(data: str | os.PathLike, *, sample_rate: int, channels: int, tone_clips: int = 0, seed: int = 0,
               ) -> list[torch.Tensor]:
    """The training clips (C, T) of a corpus manifest (``train`` split) or of a segments file (``.mulaw.xz``).

    Args:
        data: ``manifest.jsonl`` or a file written by :func:`audiox.data.segments.write_segments`.
        sample_rate / channels: the model's; clips are decoded and resampled to them.
        tone_clips / seed: this many 10-s note clips (:mod:`audiox.training.tone_clips`, seeded) are appended.
    """
    if str(data).endswith(SEGMENTS_SUFFIX):
        from audiox.data.segments import read_segments

        clips = read_segments(data, sample_rate=sample_rate, channels=channels)
    else:
        from audiox.training.autoencoder import load_corpus_audio

        clips = load_corpus_audio(data, sample_rate, channels)
    if tone_clips:
        clips += list(_tones(tone_clips, round(TONE_CLIP_SECONDS * sample_rate), sample_rate, channels, seed))
    return clips


def load_latent_pairs(packed: str | os.PathLike, manifest: str | os.PathLike, init: str | os.PathLike, *,
                      sample_rate: int, channels: int, tone_clips: int = 0, seed: int = 0) -> LatentPairs:
    """The stored latents of a packed folder and the corpus clips they encode, fitted to the folder's window.

    Args:
        packed: a folder written by ``audiox preencode --packed``.
        manifest: the corpus manifest it was packed from (its items are found by id).
        init: the VAE file whose encoder made the latents (refused otherwise, before any audio is read).
        sample_rate / channels: the model's; the folder must have been packed at them.
        tone_clips / seed: this many note clips of the folder's window (:mod:`audiox.training.tone_clips`,
            seeded) are appended with their latents: posterior means of ``init``'s encoder, rounded to fp16 as the
            stored ones are.

    Raises:
        ConfigError: not a packed folder, another geometry or encoder, or items missing from the manifest.
    """
    from safetensors.torch import load_file

    from audiox.data.manifest import read_manifest
    from audiox.media import fit_length, load_audio
    from audiox.training.autoencoder import vae_from_file
    from audiox.training.packed import encoder_fingerprint, is_packed

    packed = Path(packed)
    if not is_packed(packed):
        raise ConfigError(f"{packed}: not a packed folder (make one with `audiox preencode --packed`)")
    meta = json.loads((packed / "meta.json").read_text())
    geo = meta["geometry"]
    if (geo["sample_rate"], geo["channels"]) != (sample_rate, channels):
        raise ConfigError(f"{packed}: packed at {geo['sample_rate']} Hz x {geo['channels']} channels, the model "
                          f"works at {sample_rate} Hz x {channels}")
    vae, _ = vae_from_file(init)
    if meta["fingerprints"].get("audio") != encoder_fingerprint(vae.encoder):
        raise ConfigError(f"{packed}: its latents come from another VAE encoder than {init}'s")
    if geo["hop"] != vae.downsampling_ratio:
        raise ConfigError(f"{packed}: latent hop {geo['hop']} differs from the VAE's {vae.downsampling_ratio}")
    latents = load_file(str(packed / "audio.safetensors"))["latents"]
    by_id = {e.id: e for e in read_manifest(manifest)}
    missing = [it["id"] for it in meta["items"] if it["id"] not in by_id]
    if missing:
        raise ConfigError(f"{manifest}: has no entry {missing[0]!r} of packed folder {packed}")
    root = Path(manifest).parent
    audio = torch.stack([fit_length(load_audio(root / by_id[it["id"]].audio, sample_rate=sample_rate,
                                               channels=channels), geo["sample_size"]) for it in meta["items"]])
    if tone_clips:
        tones = _tones(tone_clips, geo["sample_size"], sample_rate, channels, seed)
        vae.eval()
        with torch.inference_mode():
            z = torch.cat([vae.encode(tones[i:i + 8]) for i in range(0, tone_clips, 8)])
        latents = torch.cat([latents.float(), z.half().float()]).to(latents.dtype)
        audio = torch.cat([audio, tones])
    return LatentPairs(latents=latents, audio=audio, hop=geo["hop"])


def train_vae(pretransform: PretransformConfig, data: list[torch.Tensor] | LatentPairs, out: str | os.PathLike,
              tcfg: VAETrainConfig, *, init: str | os.PathLike | None = None, resume: bool = False,
              measure: Callable[[torch.nn.Module], tuple[torch.Tensor | None, dict[str, float]]] | None = None,
              eval_every: int = 0, sample_rate: int = 0,
              save_every: int = 200, max_minutes: float | None = None, precision: str = "32-true",
              accelerator: str = "auto", devices: int | str = "auto", workers: int = 0,
              progress: bool = True) -> dict[str, Any]:
    """Train the VAE of ``pretransform`` (its decoder replaced by ``tcfg.decoder`` if set) and write it to ``out``.

    Args:
        pretransform: the model's VAE config.
        data: training clips (C, T) at the model rate (the encoder runs), or :class:`LatentPairs` (the decoder
            alone learns; the encoder is the ``init`` one, unchanged).
        out: run folder (created).
        tcfg: hyper-parameters.
        init: start from these VAE weights (a ``vae.safetensors``); only from its encoder when ``tcfg.decoder`` is
            set and differs from its decoder. Ignored on resume (the checkpoint holds the weights).
        resume: continue from ``out/checkpoints/last.ckpt`` (weights, optimizer, step, data position), checked in
            full before anything under ``out`` changes; the temporary files of a killed run are then removed.
        measure / eval_every / sample_rate: call ``measure`` on the VAE every ``eval_every`` steps
            (:class:`~audiox.training.vae_heldout.VAEHeldoutCallback`: ``losses.jsonl``, ``losses.png`` and
            ``heldout/step-*/`` reconstructions at ``sample_rate`` in ``out``); None or 0: never.
        save_every: steps between checkpoints and rewrites of ``vae.safetensors``.
        max_minutes: also stop after this much training time (None: no limit).
        precision / accelerator / devices: Lightning arguments (e.g. ``bf16-mixed``).
        workers: DataLoader worker processes.
        progress: show Lightning's progress bar.

    Returns:
        ``steps``, ``loss`` (last logged), ``vae`` (the written file), ``out``.
    """
    from datetime import timedelta

    import pytorch_lightning as pl
    from pytorch_lightning.loggers import CSVLogger
    from torch.utils.data import DataLoader

    from audiox.config import to_dict
    from audiox.training.autoencoder import (
        CropDataset,
        LatentCropDataset,
        VAETrainingModule,
        load_vae_weights,
        save_vae,
        training_pretransform,
    )
    from audiox.training.callbacks import LAST, AtomicCheckpointIO, PeriodicCheckpoint, fit, sweep_temporaries
    from audiox.training.checks import check_resume_state, check_run_folder

    out = Path(out)
    last = out / "checkpoints" / LAST
    ckpt = check_run_folder(out, resume)  # the whole checkpoint is checked before anything under `out` changes
    latents = isinstance(data, LatentPairs)
    if latents and init is None and not resume:
        raise ConfigError("training a decoder on stored latents needs init: the VAE whose encoder made them")
    if latents:
        tcfg = dataclasses.replace(tcfg, train_encoder=False)  # the encoder does not run
    pre = training_pretransform(pretransform, tcfg)
    with torch.random.fork_rng(devices=[]):  # a seeded initialisation that leaves the global RNG alone
        torch.manual_seed(tcfg.seed)
        module = VAETrainingModule(pre, tcfg)
    if init is not None and not resume:
        load_vae_weights(module.vae, init, pre, new_decoder=tcfg.decoder is not None)
    if ckpt is not None:
        check_resume_state(ckpt, module, out)
        del ckpt  # Lightning loads it again (safely: AtomicCheckpointIO.load_checkpoint)
    module.save_path, module.save_every = out / "vae.safetensors", save_every

    class _Data(pl.LightningDataModule):
        def train_dataloader(self) -> Any:
            # the checkpoint is restored before the data is set up: global_step is the resumed step
            start = self.trainer.global_step * tcfg.batch_size * self.trainer.world_size
            length = tcfg.max_steps * tcfg.batch_size * self.trainer.world_size
            if latents:
                ds = LatentCropDataset(data, tcfg.crop, length, tcfg.seed, noise=tcfg.latent_noise, start=start)
            else:
                ds = CropDataset(data, tcfg.crop, length, tcfg.seed, start=start)
            return DataLoader(ds, batch_size=tcfg.batch_size, shuffle=False, num_workers=workers)

    callbacks: list[Any] = [PeriodicCheckpoint(out / "checkpoints", every=save_every, keep=1)]
    if measure is not None and eval_every:
        from audiox.training.vae_heldout import VAEHeldoutCallback

        callbacks.append(VAEHeldoutCallback(measure, sample_rate, out, eval_every))
    trainer = pl.Trainer(
        max_steps=tcfg.max_steps, max_time=timedelta(minutes=max_minutes) if max_minutes else None,
        accelerator=accelerator, devices=devices, precision=precision,
        gradient_clip_val=None if tcfg.adversarial else tcfg.grad_clip or None,  # manual optimization: the module's
        logger=CSVLogger(str(out), name="logs"), log_every_n_steps=10,
        enable_checkpointing=False, callbacks=callbacks,
        plugins=[AtomicCheckpointIO()], enable_progress_bar=progress, enable_model_summary=progress,
        num_sanity_val_steps=0, limit_val_batches=0, default_root_dir=str(out))
    if trainer.is_global_zero:
        if resume:
            sweep_temporaries(out)  # checkpoint and vae.safetensors writes of a killed run
        out.mkdir(parents=True, exist_ok=True)
        (out / CONFIG_NAME).write_text(json.dumps({"training": to_dict(tcfg), "pretransform": to_dict(pre)},
                                                  indent=1))
    fit(trainer, module, _Data(), str(last) if resume else None,
        ignore_warnings=(r".*does not have many workers.*",))
    path = save_vae(out / "vae.safetensors", module.vae, pre) if trainer.is_global_zero else out / "vae.safetensors"
    loss = trainer.callback_metrics.get("train/loss")
    log.info("VAE after %d steps: %s", trainer.global_step, path)
    return {"steps": trainer.global_step, "loss": float(loss) if loss is not None else None, "vae": str(path),
            "out": str(out)}

