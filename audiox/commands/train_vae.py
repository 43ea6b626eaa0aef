"""``audiox train-vae``: train the model's VAE (Oobleck or spectral ``"istft"`` decoder, as its config says).

``--data`` is a corpus (folder or manifest.jsonl) or a segments file (``.mulaw.xz``, :mod:`audiox.data.segments`);
``--write-segments FILE`` writes such a file from the corpus and exits (to train on a machine without the corpus).
"""

from __future__ import annotations

import argparse
import logging
import os
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


SEGMENTS_SUFFIX = ".mulaw.xz"
MAX_SECONDS = 600.0  # longest crop or segment


def _model_config(value: str) -> object:
    """The model config of ``--model``: a preset name or a ``config.json`` file (named with its key on errors)."""
    from audiox.config import load_config
    from audiox.errors import MediaError
    from audiox.models.presets import PRESETS, get_preset
    from audiox.utils import checks

    if checks.text("--model", value) in PRESETS:
        return get_preset(value)
    p = Path(checks.path_arg("--model", value))
    if p.is_dir():
        raise MediaError(f"{p}: --model is a folder; pass its config.json or a preset ({', '.join(PRESETS)})")
    if not p.exists():
        raise MediaError(f"{p}: --model not found; expected a preset ({', '.join(PRESETS)}) or a config.json")
    return load_config(checks.input_file("--model", value))


def check_args(args: argparse.Namespace) -> tuple[object, Path, Path, dict]:
    """Validate every argument before the corpus is read or anything is written.

    Returns:
        The model config, the data path (a manifest or a segments file), the output folder and the Lightning
        ``accelerator`` and ``devices``.
    """
    from audiox.errors import InputError
    from audiox.training import checks as train_checks
    from audiox.training.checks import MAX_BATCH, MAX_MINUTES, MAX_STEPS, MAX_WORKERS, SEED_MAX
    from audiox.utils import checks

    checks.threads(args.threads)
    checks.integer("--max-steps", args.max_steps, lo=1, hi=MAX_STEPS)
    checks.integer("--batch-size", args.batch_size, lo=1, hi=MAX_BATCH)
    checks.integer("--save-every", args.save_every, lo=1, hi=MAX_STEPS)
    checks.integer("--workers", args.workers, lo=0, hi=MAX_WORKERS)
    checks.integer("--seed", args.seed, lo=0, hi=SEED_MAX)
    checks.number("--lr", args.lr, lo=0, lo_open=True, hi=1e3)
    checks.number("--segment-seconds", args.segment_seconds, lo=0, lo_open=True, hi=MAX_SECONDS)
    if args.max_minutes is not None:
        checks.number("--max-minutes", args.max_minutes, lo=0, hi=MAX_MINUTES)
    train_checks.check_precision(args.precision)
    accelerator = train_checks.check_accelerator(args.accelerator)
    lightning = {"accelerator": accelerator, "devices": train_checks.check_devices(args.devices, accelerator)}
    cfg = _model_config(args.model)
    hop = cfg.downsampling_ratio
    checks.integer("--crop", args.crop, lo=max(hop, 256), hi=round(MAX_SECONDS * cfg.sample_rate))
    if args.crop % hop:
        raise InputError(f"--crop: must be a multiple of the VAE hop ({hop} samples), got {args.crop}")
    if round(args.segment_seconds * cfg.sample_rate) < 1:
        raise InputError(f"--segment-seconds: shorter than one sample, got {args.segment_seconds}")
    init = checks.input_file("--init", args.init) if args.init is not None else None
    data = Path(checks.path_arg("--data", args.data))
    if data.name.endswith(SEGMENTS_SUFFIX):
        data = checks.input_file("--data", args.data)
    else:
        data = checks.input_file("--data", data / "manifest.jsonl" if data.is_dir() else args.data)
        train_checks.manifest_entries("--data", data)
    if args.write_segments is not None:
        seg = Path(checks.path_arg("--write-segments", args.write_segments))
        if not seg.name.endswith(SEGMENTS_SUFFIX) or args.write_segments.endswith(("/", os.sep)):
            raise InputError(f"--write-segments {args.write_segments}: must be a file ending in {SEGMENTS_SUFFIX}")
        checks.output_file("--write-segments", seg, inputs=[data, init])
    out = checks.output_folder("--out", args.out, inputs={"--data": data.parent})
    if init is not None and checks.same_place(out / "vae.safetensors", init):
        raise InputError(f"--out {out}: its vae.safetensors is the --init file, which training would overwrite")
    return cfg, data, out, lightning


def run(args: argparse.Namespace) -> int:
    cfg, data, out, lightning = check_args(args)
    import pytorch_lightning as pl
    import torch
    from pytorch_lightning.loggers import CSVLogger
    from torch.utils.data import DataLoader

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
    if data.name.endswith(SEGMENTS_SUFFIX):
        from audiox.data.segments import read_segments

        clips = read_segments(data, sample_rate=cfg.sample_rate, channels=cfg.audio_channels)
    else:
        clips = load_corpus_audio(data, cfg.sample_rate, cfg.audio_channels)
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
    out.mkdir(parents=True, exist_ok=True)
    module.save_path, module.save_every = out / "vae.safetensors", args.save_every
    from datetime import timedelta

    max_time = timedelta(minutes=args.max_minutes) if args.max_minutes else None
    trainer = pl.Trainer(max_steps=tcfg.max_steps, max_time=max_time, **lightning, precision=args.precision,
                         logger=CSVLogger(str(out), name="logs"), log_every_n_steps=10, enable_checkpointing=False,
                         default_root_dir=str(out))
    torch.manual_seed(tcfg.seed)
    trainer.fit(module, loader)
    path = save_vae(out / "vae.safetensors", module.vae, cfg.model.pretransform)
    print(f"wrote {path}")
    return 0
