"""``audiox train --config CFG.json --model debug|PATH --data DATA --out runs/NAME``: train or fine-tune AudioX.

Also the Python entry :func:`train`. Outputs under ``--out``: ``checkpoints/{last,step-*}.ckpt`` (atomic),
``logs/from-step-XXXXXXXX/metrics.csv`` (one per start or resume; TensorBoard events beside it when
``tensorboard`` is installed), ``demos/step-*/{i.wav,i.png}``, ``train_config.json`` and, at the end,
``export/native`` (EMA weights; plus ``export/official`` on request).
Devices and nodes come from the flags or from the torchrun / SLURM environment (Lightning detects both).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from audiox.errors import ConfigError
from audiox.utils import checks

log = logging.getLogger(__name__)

def load_model_spec(spec: str, *, seed: int = 0, t5_path: str | None = None, vae: str | None = None) -> Any:
    """A preset name (fresh weights from ``seed``) or an official/native model folder (fine-tuning).

    ``vae``: weights from ``audiox train-vae`` installed in place of the model's VAE (every copy, shared).
    """
    from audiox.models.presets import PRESETS, build_model

    if spec in PRESETS:
        model = build_model(spec, seed=seed)
    else:
        from audiox.checkpoint.official import load_model

        model = load_model(spec, text_encoder_path=t5_path, require_text_encoder=True)
    if vae:
        from audiox.training.autoencoder import install_vae

        install_vae(model, vae)
    return model


def train(model: Any, data: str, out: str | Path, cfg: Any, *, accelerator: str = "auto", devices: int | str = "auto",
          num_nodes: int = 1, strategy: str = "auto", resume: bool = False, progress: bool = True,
          export: bool = True, callbacks: list[Any] | None = None) -> dict[str, Any]:
    """Train ``model`` on ``data`` with ``cfg`` (a TrainConfig); returns a summary.

    Args:
        model: an AudioXModel (fresh or loaded for fine-tuning).
        data: manifest.jsonl, pre-encoded folder or tar shards (see :func:`audiox.training.data.data_kind`).
        out: run folder.
        accelerator / devices / num_nodes / strategy: Lightning flags ("ddp", "fsdp", "deepspeed", ...).
        resume: continue from ``out/checkpoints/last.ckpt`` (optimizer, scheduler, EMA, step, data position).
        export: write ``out/export/native`` (EMA weights) at the end.
        callbacks: extra Lightning callbacks (e.g. timers).

    Returns:
        ``steps``, ``loss`` (last logged), ``skipped`` (unreadable samples replaced), ``out``.
    """
    import warnings
    from datetime import timedelta

    import pytorch_lightning as pl
    import torch
    from pytorch_lightning.loggers import CSVLogger

    from audiox.training.callbacks import LAST, AtomicCheckpointIO, DemoCallback, PeriodicCheckpoint
    from audiox.training.data import check_preencoded, data_kind, make_dataloader, open_dataset
    from audiox.training.module import AudioXTrainingModule
    from audiox.training.preencode import geometry_for

    out = Path(out)
    ckpt_dir = out / "checkpoints"
    last = ckpt_dir / LAST
    ckpt_path, start_step = None, 0
    if resume:
        if not last.exists():
            raise ConfigError(f"--resume: {last} not found")
        ckpt_path = str(last)
        if last.is_file():  # sharded checkpoints (folders) name their logs by run count instead
            start_step = int(torch.load(last, map_location="cpu", weights_only=False, mmap=True)["global_step"])
        else:
            start_step = len(list((out / "logs").glob("from-*")))
    elif last.exists():
        raise ConfigError(f"{out} already holds a run ({last}); pass --resume or choose another --out")
    geometry = geometry_for(model)
    empty = None
    if data_kind(data) in ("preencoded", "packed"):
        pre = open_dataset(data, geometry, cfg)
        empty = pre.empty_features()
    module = AudioXTrainingModule(model, cfg, empty=empty)
    if empty is not None:
        check_preencoded(pre, model)

    class _Data(pl.LightningDataModule):
        def train_dataloader(self) -> Any:
            rank, world = self.trainer.global_rank, self.trainer.world_size
            # the checkpoint is restored before the data is set up: global_step is the resumed step
            start = self.trainer.global_step * cfg.batch_size * cfg.accumulate_grad_batches
            ds = open_dataset(data, geometry, cfg, rank=rank, world=world, start=start)
            return make_dataloader(ds, cfg, rank=rank, world=world, start=start)

    # a resumed run logs beside the first, never over it
    version = f"from-step-{start_step:08d}" if last.is_file() or not resume else f"from-run-{start_step:02d}"
    loggers: list[Any] = [CSVLogger(str(out), name="logs", version=version)]
    try:
        import tensorboard  # noqa: F401
        from pytorch_lightning.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(str(out), name="tensorboard", version=version))
    except ImportError:
        log.info("tensorboard is not installed: CSV logs only")
    callbacks = [PeriodicCheckpoint(ckpt_dir, every=cfg.checkpoint_every, keep=cfg.keep_checkpoints),
                 *(callbacks or [])]
    if cfg.demo_every:
        callbacks.append(DemoCallback(out / "demos", every=cfg.demo_every, count=cfg.demo_count, steps=cfg.demo_steps,
                                      cfg_scale=cfg.demo_cfg_scale, seed=cfg.seed))
    plugins = [] if str(strategy).startswith(("deepspeed", "fsdp")) else [AtomicCheckpointIO()]
    trainer = pl.Trainer(
        accelerator=accelerator, devices=devices, num_nodes=num_nodes, strategy=strategy, precision=cfg.precision,
        max_steps=cfg.max_steps, max_time=timedelta(minutes=cfg.max_minutes) if cfg.max_minutes else None,
        accumulate_grad_batches=cfg.accumulate_grad_batches,
        gradient_clip_val=cfg.gradient_clip_val or None, log_every_n_steps=cfg.log_every,
        use_distributed_sampler=False, enable_checkpointing=False, logger=loggers, callbacks=callbacks,
        plugins=plugins, enable_progress_bar=progress, enable_model_summary=progress, num_sanity_val_steps=0,
        limit_val_batches=0, default_root_dir=str(out))
    # the frozen encoders stay in eval mode on purpose (AudioXTrainingModule.train)
    warnings.filterwarnings("ignore", message=r".*module\(s\) in eval mode.*")
    if trainer.is_global_zero:
        out.mkdir(parents=True, exist_ok=True)
        (out / "train_config.json").write_text(json.dumps(cfg.to_dict(), indent=1))
    trainer.fit(module, datamodule=_Data(), ckpt_path=ckpt_path)
    loss = trainer.callback_metrics.get("train/loss")
    if export and trainer.is_global_zero:
        export_run(module, out / "export", official=cfg.export_official)
    return {"steps": trainer.global_step, "loss": float(loss) if loss is not None else None,
            "skipped": module.skipped_total, "out": str(out), "rank": trainer.global_rank}


def export_run(module: Any, folder: Path, *, official: bool = False) -> Path:
    """Write the EMA model as ``folder/native`` (and ``folder/official`` with the official layout)."""
    from audiox.checkpoint.native import convert, save_native

    native = folder / "native"
    save_native(module.export_model(use_ema=True), native, force=True)
    if official:
        convert(native, folder / "official", to="official", force=True)
    log.info("exported the EMA model to %s", folder)
    return native


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default=None, help="training config JSON (TrainConfig keys; default: official values)")
    p.add_argument("--model", default="debug", help="preset name (fresh weights) or model folder to fine-tune")
    p.add_argument("--data", required=True, help="manifest.jsonl, pre-encoded folder, or .tar shards (glob/brace)")
    p.add_argument("--out", required=True, help="run folder (checkpoints, logs, demos, export)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints/last.ckpt")
    p.add_argument("--max-steps", type=int, default=None, help="optimizer steps in total")
    p.add_argument("--batch-size", type=int, default=None, help="items per device and step")
    p.add_argument("--accumulate", type=int, default=None, help="gradient accumulation batches")
    p.add_argument("--lr", type=float, default=None, help="base learning rate")
    p.add_argument("--precision", default=None, help="32-true, bf16-mixed, 16-mixed, ...")
    p.add_argument("--num-workers", type=int, default=None, help="DataLoader workers per device")
    p.add_argument("--seed", type=int, default=None, help="training seed")
    p.add_argument("--checkpoint-every", type=int, default=None, help="steps between checkpoints")
    p.add_argument("--demo-every", type=int, default=None, help="steps between demos (0 = off)")
    p.add_argument("--accelerator", default="auto", help="cpu, gpu, auto")
    p.add_argument("--devices", default="auto", help="device count, list (0,1) or auto")
    p.add_argument("--num-nodes", type=int, default=1, help="nodes (SLURM/torchrun set the rest)")
    p.add_argument("--strategy", default="auto", help="auto, ddp, fsdp, deepspeed (if installed), ...")
    p.add_argument("--init-seed", type=int, default=0, help="weight-init seed for a preset --model")
    p.add_argument("--vae", default=None, help="VAE weights from `audiox train-vae` to install in --model")
    p.add_argument("--max-minutes", type=float, default=None, help="stop after this much training time (0: no limit)")
    p.add_argument("--t5-path", default=None, help="local T5 folder for models with an external text encoder")
    p.add_argument("--export-official", action="store_true", help="also export the official layout at the end")
    p.add_argument("--no-export", action="store_true", help="skip the final export")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (1 is fastest when other processes share the cores)")


_OVERRIDES = {"max_steps": "max_steps", "batch_size": "batch_size", "accumulate": "accumulate_grad_batches",
              "lr": "lr", "precision": "precision", "num_workers": "num_workers", "seed": "seed",
              "checkpoint_every": "checkpoint_every", "demo_every": "demo_every", "max_minutes": "max_minutes"}


def config_from_args(args: argparse.Namespace) -> Any:
    """The TrainConfig of ``--config`` with the command-line overrides applied."""
    from audiox.training.config import TrainConfig

    cfg = TrainConfig.load(args.config) if args.config else TrainConfig()
    changes = {field: getattr(args, arg) for arg, field in _OVERRIDES.items() if getattr(args, arg) is not None}
    if args.export_official:
        changes["export_official"] = True
    return cfg.replace(**changes)


def check_args(args: argparse.Namespace) -> dict[str, Any]:
    """Validate every ``audiox train`` argument before anything loads or is written.

    Returns:
        ``cfg`` (the TrainConfig), ``accelerator``, ``devices`` and ``strategy`` as Lightning takes them.
    """
    from audiox.training import checks as train_checks
    from audiox.training.checks import MAX_BATCH, MAX_MINUTES, MAX_STEPS, MAX_WORKERS, SEED_MAX

    checks.threads(args.threads)
    ranges = {"max_steps": (1, MAX_STEPS), "batch_size": (1, MAX_BATCH), "accumulate": (1, MAX_BATCH),
              "num_workers": (0, MAX_WORKERS), "checkpoint_every": (1, MAX_STEPS), "demo_every": (0, MAX_STEPS),
              "num_nodes": (1, 4096), "seed": (0, SEED_MAX)}
    for attr, (lo, hi) in ranges.items():
        if getattr(args, attr) is not None:
            checks.integer("--" + attr.replace("_", "-"), getattr(args, attr), lo=lo, hi=hi)
    if args.lr is not None:
        checks.number("--lr", args.lr, lo=0, lo_open=True, hi=1e3)
    if args.max_minutes is not None:
        checks.number("--max-minutes", args.max_minutes, lo=0, hi=MAX_MINUTES)
    checks.seed("--init-seed", args.init_seed)
    if args.precision is not None:
        train_checks.check_precision(args.precision)
    accelerator = train_checks.check_accelerator(args.accelerator)
    devices = train_checks.check_devices(args.devices, accelerator)
    strategy = train_checks.check_strategy(args.strategy)
    if args.config is not None:
        checks.input_file("--config", args.config)
    cfg = config_from_args(args)
    model = train_checks.check_model_spec("--model", args.model)
    if args.vae is not None:
        checks.input_file("--vae", args.vae)
    t5 = checks.input_folder("--t5-path", args.t5_path) if args.t5_path is not None else None
    data = train_checks.check_data(args.data)
    inputs = {"--data": data, "--model": model.folder if model else None, "--t5-path": t5}
    out = checks.output_folder("--out", args.out, inputs=inputs)
    last = out / "checkpoints" / "last.ckpt"
    if args.resume and not last.exists():
        raise ConfigError(f"--resume: {last} not found")
    if not args.resume and last.exists():
        raise ConfigError(f"{out} already holds a run ({last}); pass --resume or choose another --out")
    return {"cfg": cfg, "accelerator": accelerator, "devices": devices, "strategy": strategy}


def run(args: argparse.Namespace) -> int:
    ok = check_args(args)
    import pytorch_lightning as pl

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    cfg = ok["cfg"]
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    model = load_model_spec(args.model, seed=args.init_seed, t5_path=args.t5_path, vae=args.vae)
    summary = train(model, args.data, args.out, cfg, accelerator=ok["accelerator"], devices=ok["devices"],
                    num_nodes=args.num_nodes, strategy=ok["strategy"], resume=args.resume,
                    progress=not args.no_progress, export=not args.no_export)
    if summary["rank"] == 0:
        print(json.dumps(summary))
    return 0
