"""``audiox train-vae``: train the model's VAE (Oobleck or spectral ``"istft"`` decoder, as its config says).

``--data`` is a corpus (folder or manifest.jsonl) or a segments file (``.mulaw.xz``, :mod:`audiox.data.segments`);
``--write-segments FILE`` writes such a file from the corpus and exits (to train on a machine without the corpus).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="builtin", help="preset name or config.json whose pretransform to train")
    p.add_argument("--data", required=True, help="corpus manifest.jsonl (or its folder), or a .mulaw.xz segments file")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--max-steps", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--crop", type=int, default=32768, help="samples per training crop")
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--precision", default="32-true", help="Lightning precision, e.g. bf16-mixed")
    p.add_argument("--accelerator", default="auto")
    p.add_argument("--devices", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--save-every", type=int, default=200, help="rewrite OUT/vae.safetensors every N steps (atomic)")
    p.add_argument("--init", default=None, help="start from these VAE weights (a vae.safetensors)")
    p.add_argument("--decoder-only", action="store_true",
                   help="freeze the encoder (latents already encoded with this VAE stay valid)")
    p.add_argument("--max-minutes", type=float, default=None, help="also stop after this much training time")
    p.add_argument("--write-segments", default=None, metavar="FILE",
                   help="write one loud segment per training clip to FILE (.mulaw.xz) and exit")
    p.add_argument("--segment-seconds", type=float, default=2.0, help="segment length for --write-segments")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (1 is fastest when other processes share the cores)")


def run(args: argparse.Namespace) -> int:
    import pytorch_lightning as pl
    import torch
    from pytorch_lightning.loggers import CSVLogger
    from torch.utils.data import DataLoader

    from audiox.models.presets import config_from
    from audiox.training.autoencoder import (
        CropDataset,
        VAETrainConfig,
        VAETrainingModule,
        load_corpus_audio,
        load_vae_weights,
        save_vae,
    )

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = config_from(args.model)
    data = Path(args.data)
    if data.name.endswith(".mulaw.xz"):
        from audiox.data.segments import read_segments

        clips = read_segments(data, sample_rate=cfg.sample_rate, channels=cfg.audio_channels)
    else:
        manifest = data / "manifest.jsonl" if data.is_dir() else data
        clips = load_corpus_audio(manifest, cfg.sample_rate, cfg.audio_channels)
    if args.write_segments:
        from audiox.data.segments import write_segments

        length = round(args.segment_seconds * cfg.sample_rate)
        path = write_segments(clips, args.write_segments, sample_rate=cfg.sample_rate, length=length,
                              seed=args.seed)
        print(f"wrote {len(clips)} segments of {length} samples to {path}")
        return 0
    log.info("training the VAE on %d clips", len(clips))
    tcfg = VAETrainConfig(crop=args.crop, batch_size=args.batch_size, lr=args.lr, max_steps=args.max_steps,
                          seed=args.seed, train_encoder=not args.decoder_only)
    ds = CropDataset(clips, tcfg.crop, tcfg.max_steps * tcfg.batch_size, tcfg.seed)
    loader = DataLoader(ds, batch_size=tcfg.batch_size, shuffle=False, num_workers=args.workers)
    module = VAETrainingModule(cfg.model.pretransform, tcfg)
    if args.init:
        load_vae_weights(module.vae, args.init, cfg.model.pretransform)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    module.save_path, module.save_every = out / "vae.safetensors", args.save_every
    from datetime import timedelta

    max_time = timedelta(minutes=args.max_minutes) if args.max_minutes else None
    trainer = pl.Trainer(max_steps=tcfg.max_steps, max_time=max_time, accelerator=args.accelerator,
                         devices=args.devices,
                         precision=args.precision, logger=CSVLogger(str(out), name="logs"), log_every_n_steps=10,
                         enable_checkpointing=False, default_root_dir=str(out))
    torch.manual_seed(tcfg.seed)
    trainer.fit(module, loader)
    path = save_vae(out / "vae.safetensors", module.vae, cfg.model.pretransform)
    print(f"wrote {path}")
    return 0
