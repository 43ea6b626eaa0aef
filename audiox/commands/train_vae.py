"""``audiox train-vae``: train the model's VAE (Oobleck or spectral ``"istft"`` decoder, as its config says).

``--data`` is a corpus (folder or manifest.jsonl) or a segments file (``.mulaw.xz``, :mod:`audiox.data.segments`);
``--write-segments FILE`` writes such a file from the corpus and exits (to train on a machine without the corpus).
``--latents PACKED`` trains the decoder alone on the latents that ``audiox preencode --packed`` stored (made by
the ``--init`` VAE's encoder), with ``--data`` the corpus they came from; a ``decoder`` section in ``--config``
makes it a new decoder (how the built-in model got its spectral decoder). ``--resume`` continues a run exactly.
The job itself is :func:`audiox.training.vae_run.train_vae`.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

# flag -> VAETrainConfig field; unset flags leave the --config value (or the default) alone
_OVERRIDES = {"max_steps": "max_steps", "batch_size": "batch_size", "crop": "crop", "lr": "lr", "seed": "seed",
              "latent_noise": "latent_noise"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    from audiox.commands.run_flags import add_run_arguments

    p.add_argument("--model", default="builtin", help="preset name or config.json whose pretransform to train")
    p.add_argument("--data", required=True, help="corpus manifest.jsonl (or its folder), or a .mulaw.xz segments file")
    p.add_argument("--config", default=None, help="VAE training config JSON (VAETrainConfig keys; flags override)")
    p.add_argument("--crop", type=int, default=None, help="samples per training crop (default 32768)")
    p.add_argument("--save-every", type=int, default=200,
                   help="checkpoint and rewrite OUT/vae.safetensors every N steps (atomic)")
    p.add_argument("--eval-every", type=int, default=None,
                   help="every N steps, reconstruct held-out clips (the corpus's test split) and pure tones: "
                        "OUT/losses.jsonl, OUT/losses.png, OUT/heldout/step-*/ (default: --save-every; 0: never)")
    p.add_argument("--init", default=None, help="start from these VAE weights (a vae.safetensors)")
    p.add_argument("--decoder-only", action="store_true",
                   help="freeze the encoder (latents already encoded with this VAE stay valid)")
    p.add_argument("--latents", default=None, metavar="PACKED",
                   help="train the decoder alone on the latents of this packed folder (needs --init)")
    p.add_argument("--latent-noise", type=float, default=None,
                   help="with --latents: std of the Gaussian noise added to the latents (default 0)")
    p.add_argument("--write-segments", default=None, metavar="FILE",
                   help="write one loud segment per training clip to FILE (.mulaw.xz) and exit")
    p.add_argument("--segment-seconds", type=float, default=2.0, help="segment length for --write-segments")
    add_run_arguments(p, defaults={"precision": "32-true", "num_workers": 0},
                      notes={"max_steps": "default 2000", "batch_size": "crops; default 8", "lr": "default 3e-4",
                             "seed": "of the weights and every draw; default 0"})


MAX_SECONDS = 600.0  # longest crop or segment


def _model_config(value: str) -> Any:
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


def _train_config(args: argparse.Namespace) -> Any:
    """The VAETrainConfig of ``--config`` with the flags applied."""
    import dataclasses

    from audiox.training.autoencoder import VAETrainConfig
    from audiox.utils import checks

    cfg = VAETrainConfig.load(checks.input_file("--config", args.config)) if args.config else VAETrainConfig()
    changes = {field: getattr(args, arg) for arg, field in _OVERRIDES.items() if getattr(args, arg) is not None}
    if args.decoder_only:
        changes["train_encoder"] = False
    return dataclasses.replace(cfg, **changes)


def check_args(args: argparse.Namespace) -> dict[str, Any]:
    """Validate every argument before the corpus is read or anything is written.

    Returns:
        ``cfg`` (the model config), ``tcfg`` (the VAETrainConfig), ``data`` (a manifest or a segments file),
        ``out``, ``init`` and the Lightning ``accelerator`` and ``devices``.
    """
    from audiox.commands.run_flags import check_run_arguments
    from audiox.errors import InputError
    from audiox.training import checks as train_checks
    from audiox.training.checks import MAX_STEPS
    from audiox.training.vae_run import SEGMENTS_SUFFIX
    from audiox.utils import checks

    lightning = check_run_arguments(args)
    checks.integer("--save-every", args.save_every, lo=1, hi=MAX_STEPS)
    if args.eval_every is not None:
        checks.integer("--eval-every", args.eval_every, lo=0, hi=MAX_STEPS)
    if args.latent_noise is not None:
        checks.number("--latent-noise", args.latent_noise, lo=0, hi=1e3)
    checks.number("--segment-seconds", args.segment_seconds, lo=0, lo_open=True, hi=MAX_SECONDS)
    cfg = _model_config(args.model)
    tcfg = _train_config(args)
    from audiox.training.autoencoder import training_pretransform

    pre = training_pretransform(cfg.model.pretransform, tcfg)  # a decoder section fits the latents and hop
    hop = pre.config.downsampling_ratio
    if args.crop is not None:
        checks.integer("--crop", args.crop, lo=max(hop, 256), hi=round(MAX_SECONDS * cfg.sample_rate))
    if tcfg.crop % hop:
        where = "--crop" if args.crop is not None else f"{args.config}: crop"
        raise InputError(f"{where}: must be a multiple of the VAE hop ({hop} samples), got {tcfg.crop}")
    if round(args.segment_seconds * cfg.sample_rate) < 1:
        raise InputError(f"--segment-seconds: shorter than one sample, got {args.segment_seconds}")
    init = checks.input_file("--init", args.init) if args.init is not None else None
    data = Path(checks.path_arg("--data", args.data))
    if data.name.endswith(SEGMENTS_SUFFIX):
        data = checks.input_file("--data", args.data)
    else:
        data = checks.input_file("--data", data / "manifest.jsonl" if data.is_dir() else args.data)
        train_checks.manifest_entries("--data", data)
    latents = None
    if args.latents is not None:
        latents = _check_latents(args, data, init)
    elif args.latent_noise is not None:
        raise InputError("--latent-noise: only with --latents")
    if args.write_segments is not None:
        seg = Path(checks.path_arg("--write-segments", args.write_segments))
        if not seg.name.endswith(SEGMENTS_SUFFIX) or args.write_segments.endswith(("/", os.sep)):
            raise InputError(f"--write-segments {args.write_segments}: must be a file ending in {SEGMENTS_SUFFIX}")
        checks.output_file("--write-segments", seg, inputs=[data, init])
    out = checks.output_folder("--out", args.out, inputs={"--data": data.parent, "--latents": latents})
    if init is not None and checks.same_place(out / "vae.safetensors", init):
        raise InputError(f"--out {out}: its vae.safetensors is the --init file, which training would overwrite")
    if args.write_segments is None:
        train_checks.check_run_folder(out, args.resume)  # loaded safely, nothing touched yet
    return {"cfg": cfg, "tcfg": tcfg, "data": data, "out": out, "init": init, "latents": latents, "hop": hop,
            **lightning}


def _check_latents(args: argparse.Namespace, data: Path, init: Path | None) -> Path:
    """``--latents``: a packed folder, with --init and a corpus manifest, and without --write-segments."""
    from audiox.errors import InputError
    from audiox.training.packed import is_packed
    from audiox.training.vae_run import SEGMENTS_SUFFIX
    from audiox.utils import checks

    folder = checks.input_folder("--latents", args.latents)
    if not is_packed(folder):
        raise InputError(f"--latents {folder}: not a packed folder (make one with `audiox preencode --packed`)")
    if init is None:
        raise InputError("--latents: needs --init, the VAE whose encoder made the latents")
    if data.name.endswith(SEGMENTS_SUFFIX):
        raise InputError("--latents: --data must be the corpus the folder was packed from, not a segments file")
    if args.write_segments is not None:
        raise InputError("--write-segments: not used with --latents")
    return folder


def run(args: argparse.Namespace) -> int:
    ok = check_args(args)
    import torch

    from audiox.training.callbacks import quiet_lightning
    from audiox.training.vae_run import SEGMENTS_SUFFIX, load_clips, load_latent_pairs, train_vae

    quiet_lightning(getattr(args, "verbose", False))

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg, data, tcfg = ok["cfg"], ok["data"], ok["tcfg"]
    tones = {"tone_clips": 0 if args.write_segments else tcfg.tone_clips, "seed": tcfg.seed}
    if ok["latents"] is not None:
        source = load_latent_pairs(ok["latents"], data, ok["init"], sample_rate=cfg.sample_rate,
                                   channels=cfg.audio_channels, **tones)
        log.info("training the VAE decoder on %d stored latents", len(source.latents))
    else:
        source = load_clips(data, sample_rate=cfg.sample_rate, channels=cfg.audio_channels, **tones)
        if args.write_segments:
            from audiox.data.segments import write_segments

            length = round(args.segment_seconds * cfg.sample_rate)
            path = write_segments(source, args.write_segments, sample_rate=cfg.sample_rate, length=length,
                                  seed=ok["tcfg"].seed)
            print(f"wrote {len(source)} segments of {length} samples to {path}")
            return 0
        log.info("training the VAE on %d clips", len(source))
    every = args.save_every if args.eval_every is None else args.eval_every
    measure = None
    if every:
        import functools

        from audiox.evaluation.vae_check import heldout_values
        from audiox.training.vae_heldout import heldout_set

        manifest = None if data.name.endswith(SEGMENTS_SUFFIX) else data
        clips = heldout_set(manifest, cfg.sample_rate, cfg.audio_channels, ok["hop"])
        measure = functools.partial(heldout_values, clips=clips, sample_rate=cfg.sample_rate)
    summary = train_vae(cfg.model.pretransform, source, ok["out"], ok["tcfg"], init=ok["init"], resume=args.resume,
                        measure=measure, eval_every=every, sample_rate=cfg.sample_rate,
                        save_every=args.save_every, max_minutes=args.max_minutes, precision=args.precision,
                        accelerator=ok["accelerator"], devices=ok["devices"], workers=args.num_workers,
                        progress=not args.no_progress)
    print(f"wrote {summary['vae']} ({summary['steps']} steps)")
    return 0
