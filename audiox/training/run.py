"""Run a training job from a config: build or load the model, train it with Lightning, export the EMA weights.

``audiox train`` parses and checks its arguments, then calls :func:`load_model_spec` and :func:`train`. Outputs
under ``out``: ``checkpoints/{last,step-*}.ckpt`` (atomic), ``logs/from-step-XXXXXXXX/metrics.csv`` (one per start
or resume; TensorBoard events beside it when ``tensorboard`` is installed), ``demos/step-*/{i.wav,i.png}``,
``train_config.json`` and, at the end, ``export/native`` (EMA weights; plus ``export/official`` on request), or
with LoRA ``export/lora`` (the adapter in peft's format, :mod:`audiox.checkpoint.lora`).
Devices and nodes come from the arguments or from the torchrun / SLURM environment (Lightning detects both).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from audiox.errors import ConfigError

log = logging.getLogger(__name__)


def load_model_spec(spec: str, *, seed: int = 0, t5_path: str | None = None, vae: str | None = None,
                    init: str | None = None) -> Any:
    """A preset name (fresh weights from ``seed``) or an official/native model folder (fine-tuning).

    Args:
        spec: preset name (:data:`audiox.models.presets.PRESETS`) or model folder / weights file.
        seed: weight-initialisation seed of a preset.
        t5_path: local T5 folder for models with an external text encoder.
        vae: weights from ``audiox train-vae`` installed in place of the model's VAE (every copy, shared).
        init: a model folder or weights file: every tensor of the same name and shape replaces the model's
            (:func:`warm_start`), before ``vae``.

    Returns:
        The AudioXModel.
    """
    from audiox.models.presets import PRESETS, build_model

    if spec in PRESETS:
        model = build_model(spec, seed=seed)
    else:
        from audiox.checkpoint.official import load_model

        model = load_model(spec, text_encoder_path=t5_path, require_text_encoder=True)
    if init:
        warm_start(model, init)
    if vae:
        from audiox.training.autoencoder import install_vae

        install_vae(model, vae)
    return model


def warm_start(model: Any, source: str, *, extend: bool = False) -> dict[str, list[str]]:
    """Copy into ``model`` every tensor of ``source`` (a model folder or weights file) with the same name and shape.

    Continues a shipped model (everything matches) or starts a new design from an old one (the encoders and
    conditioners that kept their shapes). The VAE copies stay shared.

    Args:
        extend: also take a tensor of the same name that is smaller along some axes: it fills the leading block and
            the rest becomes zero. Right only where the new entries are appended inputs (a layer that now takes
            more inputs): they start switched off and the model computes what the source did.

    Returns:
        ``loaded``, ``extended`` (loaded by extension), ``fresh`` (model tensors left as they were) and ``unused``
        (source tensors not loaded) names; logged.
    """
    import torch

    from audiox.checkpoint.io import check_finite, read_state_dict
    from audiox.checkpoint.locate import find_weights
    from audiox.checkpoint.official import expand_shared

    p = Path(source)
    sd, meta = read_state_dict(find_weights(p) if p.is_dir() else p)
    sd = expand_shared(sd, meta)
    own = model.state_dict()

    def fits(k: str, v: torch.Tensor) -> bool:
        if k not in own or own[k].dim() != v.dim():
            return False
        if own[k].shape == v.shape:
            return True
        return extend and all(a <= b for a, b in zip(v.shape, own[k].shape))

    loaded = [k for k, v in sd.items() if fits(k, v)]
    extended = [k for k in loaded if own[k].shape != sd[k].shape]
    for k in loaded:
        check_finite(k, sd[k], source)
    with torch.no_grad():
        for k in loaded:
            if k in extended:
                own[k].zero_()
            own[k][tuple(slice(0, n) for n in sd[k].shape)] = sd[k].to(own[k].dtype)
    fresh = [k for k in own if k not in set(loaded)]
    unused = [k for k in sd if k not in set(loaded)]
    if not loaded:
        raise ConfigError(f"--init {source}: no tensor matches the model in name and shape")
    log.info("--init %s: %d tensors loaded (%d extended), %d fresh, %d unused", source, len(loaded), len(extended),
             len(fresh), len(unused))
    return {"loaded": loaded, "extended": extended, "fresh": fresh, "unused": unused}


def train(model: Any, data: str, out: str | Path, cfg: Any, *, accelerator: str = "auto", devices: int | str = "auto",
          num_nodes: int = 1, strategy: str = "auto", resume: bool = False, progress: bool = True,
          export: bool = True, callbacks: list[Any] | None = None, held_out: str | None = None,
          bench: Any = None) -> dict[str, Any]:
    """Train ``model`` on ``data`` with ``cfg`` (a TrainConfig); returns a summary.

    Args:
        model: an AudioXModel (fresh or loaded for fine-tuning).
        data: manifest.jsonl, pre-encoded folder or tar shards (see :func:`audiox.training.data.data_kind`).
        out: run folder.
        accelerator / devices / num_nodes / strategy: Lightning arguments ("ddp", "fsdp", "deepspeed", ...).
        resume: continue from ``out/checkpoints/last.ckpt`` (optimizer, scheduler, EMA, step, data position). The
            checkpoint is loaded safely and checked against the model before anything under ``out`` changes
            (:func:`audiox.training.checks.check_resume`); then the temporary files of a killed run are removed.
        progress: show Lightning's progress bar and model summary.
        export: write ``out/export/native`` (EMA weights) at the end.
        callbacks: extra Lightning callbacks (e.g. timers).
        held_out: data in the training data's format (e.g. the packed test split) for the diagnostics
            (``cfg.diagnostics_every``; :mod:`audiox.training.diagnostics`), written to ``out/diagnostics.*``.
        bench: ``run(model) -> scores``, e.g. :func:`audiox.pipeline.bench.small_synthbench`, called every
            ``cfg.bench_every`` steps with the EMA model (``out/bench.*``).

    Returns:
        ``steps``, ``loss`` (last logged), ``skipped`` (unreadable samples replaced), ``out``, ``rank``.
    """
    from datetime import timedelta

    import pytorch_lightning as pl
    from pytorch_lightning.loggers import CSVLogger

    from audiox.training.callbacks import (
        LAST,
        AtomicCheckpointIO,
        DemoCallback,
        PeriodicCheckpoint,
        fit,
        sweep_temporaries,
    )
    from audiox.training.checks import check_resume_state, check_run_folder
    from audiox.training.data import check_preencoded, data_kind, make_dataloader, open_dataset
    from audiox.training.module import AudioXTrainingModule

    out = Path(out)
    ckpt_dir = out / "checkpoints"
    last = ckpt_dir / LAST
    # the whole checkpoint is checked before anything under `out` changes
    ckpt = check_run_folder(out, resume, extra_keys=("audiox",))
    start_step = ckpt["global_step"] if ckpt is not None else 0
    geometry = model.config.geometry
    empty = None
    if data_kind(data) in ("preencoded", "packed"):
        pre = open_dataset(data, geometry, cfg)
        empty = pre.empty_features()
    module = AudioXTrainingModule(model, cfg, empty=empty)
    if empty is not None:
        check_preencoded(pre, model)
    if ckpt is not None:
        check_resume_state(ckpt, module, out)
        del ckpt  # Lightning loads it again (safely: AtomicCheckpointIO.load_checkpoint)

    class _Data(pl.LightningDataModule):
        def train_dataloader(self) -> Any:
            rank, world = self.trainer.global_rank, self.trainer.world_size
            # the checkpoint is restored before the data is set up: global_step is the resumed step
            start = self.trainer.global_step * cfg.batch_size * cfg.accumulate_grad_batches
            ds = open_dataset(data, geometry, cfg, rank=rank, world=world, start=start)
            return make_dataloader(ds, cfg, rank=rank, world=world, start=start)

    # a resumed run logs beside the first, never over it
    version = f"from-step-{start_step:08d}"
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
    if cfg.diagnostics_every and held_out:
        from audiox.training.diagnostics import DiagnosticsCallback

        callbacks.append(DiagnosticsCallback(held_out_batch(held_out, geometry, cfg), out, cfg.diagnostics_every))
    if cfg.bench_every and bench is not None:
        from audiox.training.diagnostics import BenchCallback

        callbacks.append(BenchCallback(bench, out, cfg.bench_every))
    plugins = [] if str(strategy).startswith(("deepspeed", "fsdp")) else [AtomicCheckpointIO()]
    sharded = strategy == "fsdp"  # FSDP2 per DiT block (audiox.training.sharded): folder checkpoints
    trainer = lightning_trainer(
        accelerator=accelerator, devices=devices, num_nodes=num_nodes, strategy=strategy, precision=cfg.precision,
        max_steps=cfg.max_steps, max_time=timedelta(minutes=cfg.max_minutes) if cfg.max_minutes else None,
        accumulate_grad_batches=cfg.accumulate_grad_batches,
        gradient_clip_val=cfg.gradient_clip_val or None, log_every_n_steps=cfg.log_every,
        use_distributed_sampler=False, enable_checkpointing=False, logger=loggers, callbacks=callbacks,
        plugins=plugins, enable_progress_bar=progress, enable_model_summary=progress, num_sanity_val_steps=0,
        limit_val_batches=0, default_root_dir=str(out))
    if trainer.is_global_zero:
        if resume:
            sweep_temporaries(out)  # checkpoint writes of a killed run
        out.mkdir(parents=True, exist_ok=True)
        (out / "train_config.json").write_text(json.dumps(cfg.to_dict(), indent=1))
    # the frozen encoders stay in eval mode on purpose (AudioXTrainingModule.train)
    fit(trainer, module, _Data(), str(last) if resume else None, ignore_warnings=(r".*module\(s\) in eval mode.*",))
    loss = trainer.callback_metrics.get("train/loss")
    if export and sharded:  # the weights are spread over the ranks: rank 0 exports the last checkpoint
        trainer.strategy.barrier("audiox_export")
        if trainer.is_global_zero:
            from audiox.training.sharded import load_sharded_model

            export_model(load_sharded_model(last), out / "export", official=cfg.export_official)
    elif export and trainer.is_global_zero:
        if cfg.lora_rank:
            module.export_adapter(out / "export" / "lora")
            log.info("exported the LoRA adapter (EMA values) to %s", out / "export" / "lora")
        else:
            export_run(module, out / "export", official=cfg.export_official)
    return {"steps": trainer.global_step, "loss": float(loss) if loss is not None else None,
            "skipped": module.skipped_total, "out": str(out), "rank": trainer.global_rank,
            "trainable": module.trainable_count, "parameters": module.total_count}


def lightning_trainer(*, accelerator: str, devices: Any, num_nodes: int, strategy: str, **kw: Any) -> Any:
    """``pl.Trainer`` with ``strategy`` (``fsdp``: :func:`audiox.training.sharded.fsdp_strategy`); a strategy that
    cannot run on ``accelerator`` is one :class:`ConfigError` line, raised before anything is written."""
    import pytorch_lightning as pl
    from lightning_fabric.utilities.exceptions import MisconfigurationException

    if strategy == "fsdp":
        from audiox.training.sharded import fsdp_strategy

        strategy = fsdp_strategy(accelerator, devices, num_nodes)
    try:
        return pl.Trainer(accelerator=accelerator, devices=devices, num_nodes=num_nodes, strategy=strategy, **kw)
    except (MisconfigurationException, ValueError, RuntimeError, ImportError) as e:
        name = strategy if isinstance(strategy, str) else "fsdp"
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ConfigError(f"--strategy {name}, --accelerator {accelerator}, --devices {devices}: {first}") from None


def held_out_batch(data: str, geometry: Any, cfg: Any) -> dict[str, Any]:
    """``cfg.diagnostics_items`` items spread evenly over ``data`` (windows at offset 0), collated."""
    from audiox.data.dataset import collate
    from audiox.training.data import open_dataset

    ds = open_dataset(data, geometry, cfg.replace(random_crop=False), split="test")
    n = min(cfg.diagnostics_items, len(ds))
    return collate([ds[(i * len(ds) // n, 0)] for i in range(n)])


def export_run(module: Any, folder: Path, *, official: bool = False) -> Path:
    """Write the EMA model as ``folder/native`` (and ``folder/official`` with the official layout).

    Args:
        module: the trained AudioXTrainingModule.
        folder: export folder (created).
        official: also convert to the official layout (``config.json`` + ``model.ckpt``).

    Returns:
        The native folder.
    """
    return export_model(module.export_model(use_ema=True), folder, official=official)


def export_model(model: Any, folder: Path, *, official: bool = False) -> Path:
    """Write ``model`` as ``folder/native`` (and ``folder/official``); returns the native folder."""
    from audiox.checkpoint.native import convert, save_native

    native = folder / "native"
    save_native(model, native, force=True)
    if official:
        convert(native, folder / "official", to="official", force=True)
    log.info("exported the EMA model to %s", folder)
    return native
