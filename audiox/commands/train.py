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
import os
import re
from pathlib import Path
from typing import Any

from audiox.errors import ConfigError, InputError, MediaError
from audiox.utils import checks

log = logging.getLogger(__name__)

MAX_STEPS = 10**9  # optimizer steps, checkpoint / demo intervals
MAX_BATCH = 4096  # items per device and step (more does not fit any device)
MAX_MINUTES = 10**7  # ~19 years; timedelta overflows far above
LIGHTNING_SEED_MAX = 2**32 - 1  # pytorch_lightning.seed_everything (numpy's range)
MAX_CLIP_SECONDS = 86_400  # a manifest entry longer than a day is a mistake (or Infinity)
MAX_SHARDS = 100_000  # tar shards one --data brace range may name
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")
WEIGHT_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")


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


# ---------------------------------------------------------------- argument checks shared by the commands
def path_arg(name: str, value: Any) -> str:
    """A path argument: valid text, not empty (``""`` would silently mean the current folder)."""
    s = checks.text(name, os.fspath(value))
    if not s.strip():
        raise InputError(f"{name}: empty path")
    return s


def input_file(name: str, value: Any) -> Path:
    """An existing regular file; ``name/`` (a trailing slash) is refused, it names a folder."""
    s = path_arg(name, value)
    p = checks.input_file(name, s)
    if s.endswith(("/", os.sep)):
        raise MediaError(f"{s}: {name} is a file, not a folder (remove the trailing '/')")
    return p


def input_folder(name: str, value: Any) -> Path:
    """An existing, readable folder."""
    p = Path(path_arg(name, value))
    if not p.exists():
        raise MediaError(f"{p}: {name} folder not found")
    if not p.is_dir():
        raise MediaError(f"{p}: {name} is a file, not a folder")
    if not os.access(p, os.R_OK | os.X_OK):
        raise MediaError(f"{p}: {name} folder is not readable (permission denied)")
    return p


def output_folder(name: str, value: Any, *, inputs: dict[str, Path | None] | None = None) -> Path:
    """:func:`checks.output_folder` that is also none of the ``inputs`` folders (``{flag: folder}``)."""
    out = checks.output_folder(name, path_arg(name, value))
    for flag, folder in (inputs or {}).items():
        if folder is not None and same_place(out, folder):
            raise InputError(f"{name} {out}: is also the {flag} folder; choose another folder")
    return out


def same_place(a: Path, b: Path) -> bool:
    """Whether two paths name the same file or folder (after resolving links; missing paths by name)."""
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()
    except OSError:
        return False


def read_model_config(name: str, path: Path) -> Any:
    """Parse a model ``config.json``; every error is one line naming the file (and the key)."""
    from audiox.config import load_config

    try:
        return load_config(path)
    except ConfigError as e:
        msg = str(e)
        raise ConfigError(msg if msg.startswith(str(path)) else f"{path}: {msg}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: {name} config is not UTF-8 text") from None


def model_folder(name: str, value: Any, *, presets: tuple[str, ...] = ()) -> Path:
    """An official or native model: a folder with ``config.json`` and weights, or a weights file beside one.

    Args:
        presets: preset names the argument may also take (named in the message when nothing is found).
    """
    p = Path(path_arg(name, value))
    if not p.exists():
        hint = f"; expected a preset ({', '.join(presets)}) or a model folder" if presets else ""
        raise MediaError(f"{p}: {name} not found{hint}")
    if p.is_dir():
        if not any((p / n).is_file() for n in ("model.safetensors", "model.ckpt")):
            raise MediaError(f"{p}: {name} folder holds no model.safetensors or model.ckpt")
        cfg = p / "config.json"
    else:
        input_file(name, value)
        if p.suffix.lower() not in WEIGHT_SUFFIXES:
            raise MediaError(f"{p}: {name} is not a model folder or a weights file ({', '.join(WEIGHT_SUFFIXES)})")
        cfg = p.parent / "config.json"
    if not cfg.is_file():
        raise MediaError(f"{cfg}: {name} has no config.json")
    read_model_config(name, cfg)
    return p


def check_model_spec(name: str, value: Any) -> Path | None:
    """A preset name (returns None) or a model folder / weights file (returned)."""
    from audiox.models.presets import PRESETS

    if checks.text(name, value) in PRESETS:
        return None
    return model_folder(name, value, presets=tuple(PRESETS))


def manifest_entries(name: str, path: Path, split: str | None = "train") -> list[Any]:
    """The entries of ``split`` (None: all) of a manifest; refuses a manifest without any."""
    from audiox.data.manifest import read_manifest

    entries = [e for e in read_manifest(path) if split is None or e.split == split]
    if not entries:
        raise ConfigError(f"{path}: {name} has no {split + ' ' if split else ''}entries")
    endless = next((e for e in entries if not e.seconds <= MAX_CLIP_SECONDS), None)  # also refuses nan, inf
    if endless is not None:
        raise ConfigError(f"{path}: entry {endless.id!r}: seconds must be at most {MAX_CLIP_SECONDS}, "
                          f"got {endless.seconds}")
    return entries


def check_accelerator(value: Any, name: str = "--accelerator") -> str:
    """A Lightning accelerator this machine has (auto, cpu, gpu/cuda with a CUDA device, mps)."""
    import torch

    a = checks.text(name, value).strip().lower()
    if a not in ACCELERATORS:
        raise InputError(f"{name}: unknown accelerator {value!r}; expected one of {', '.join(ACCELERATORS)}")
    if a in ("gpu", "cuda") and not torch.cuda.is_available():
        raise InputError(f"{name}: {value!r} requested but this torch build or machine has no CUDA device")
    if a == "mps":
        checks.device("mps", name)
    return a


def check_devices(value: Any, accelerator: str, name: str = "--devices") -> int | str:
    """``auto``, a device (process) count, ``-1`` (every GPU) or a list of GPU indices (``0,1``)."""
    import torch

    s = checks.text(name, value).strip()
    gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    gpus = torch.cuda.device_count() if gpu else 0
    if s == "auto":
        return s
    if s == "-1":
        if not gpu:
            raise InputError(f"{name}: -1 (every GPU) needs a CUDA device; this run uses the CPU")
        return -1
    if re.fullmatch(r"\d{1,9}", s):
        hi = gpus if gpu else 1 if accelerator == "mps" else max(8, os.cpu_count() or 1)
        return checks.integer(name, int(s), lo=1, hi=hi)
    if re.fullmatch(r"\d{1,9}(,\d{1,9})*,?", s):
        ids = [int(i) for i in s.split(",") if i]
        if not gpu:
            raise InputError(f"{name}: a list of device indices ({s}) needs CUDA devices; this run uses the CPU")
        if len(set(ids)) != len(ids) or max(ids) >= gpus:
            raise InputError(f"{name}: {s!r} names devices that do not exist (this machine has {gpus} GPUs)")
        return s
    raise InputError(f"{name}: expected auto, a count (2) or GPU indices (0,1), got {value!r}")


def check_strategy(value: Any, name: str = "--strategy") -> str:
    """A Lightning strategy name that is registered and whose package is installed."""
    import importlib.util

    s = checks.text(name, value).strip()
    if s == "auto":
        return s
    from pytorch_lightning.strategies import StrategyRegistry

    known = StrategyRegistry.available_strategies()
    if s not in known:
        raise InputError(f"{name}: unknown strategy {value!r}; expected auto, ddp, ddp_spawn, fsdp, deepspeed, ...")
    for prefix, package in (("deepspeed", "deepspeed"), ("xla", "torch_xla"), ("single_xla", "torch_xla"),
                            ("single_tpu", "torch_xla")):
        if s.startswith(prefix) and importlib.util.find_spec(package) is None:
            raise InputError(f"{name}: {s!r} needs the {package} package, which is not installed")
    return s


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


def _check_data(value: Any) -> Path | None:
    """``--data``: a manifest (or corpus folder) with train entries, a pre-encoded/packed folder or tar shards.

    Returns the folder that holds the data (None for tar shards).
    """
    from audiox.data.webdataset import expand_urls
    from audiox.training.data import data_kind

    s = path_arg("--data", value)
    p = Path(s)
    if not p.exists() and ".tar" not in s:
        raise MediaError(f"{p}: --data not found (expected a manifest.jsonl, a pre-encoded folder or .tar shards)")
    if p.is_dir():
        if data_kind(s) == "manifest":
            manifest_entries("--data", p / "manifest.jsonl")
        return p
    if ".tar" in s:
        count = 1
        for part in s.split(","):
            if "{" in part and ".." in part:
                for braces in re.findall(r"\{[^{}]*\}?", part):
                    m = re.fullmatch(r"\{(\d{1,9})\.\.(\d{1,9})\}", braces)
                    if m is None or int(m[2]) < int(m[1]):
                        raise InputError(f"--data: bad brace range {braces!r}; expected e.g. {{000..009}}")
                    count *= int(m[2]) - int(m[1]) + 1
                    if count > MAX_SHARDS:
                        raise InputError(f"--data: names more than {MAX_SHARDS} tar shards")
        expand_urls(s)
        return None
    manifest_entries("--data", input_file("--data", s))
    return p.parent


def check_args(args: argparse.Namespace) -> dict[str, Any]:
    """Validate every ``audiox train`` argument before anything loads or is written.

    Returns:
        ``cfg`` (the TrainConfig), ``accelerator``, ``devices`` and ``strategy`` as Lightning takes them.
    """
    from audiox.training.config import PRECISIONS

    checks.threads(args.threads)
    workers = max(16, 4 * (os.cpu_count() or 1))
    ranges = {"max_steps": (1, MAX_STEPS), "batch_size": (1, MAX_BATCH), "accumulate": (1, MAX_BATCH),
              "num_workers": (0, workers), "checkpoint_every": (1, MAX_STEPS), "demo_every": (0, MAX_STEPS),
              "num_nodes": (1, 4096), "seed": (0, LIGHTNING_SEED_MAX)}
    for attr, (lo, hi) in ranges.items():
        if getattr(args, attr) is not None:
            checks.integer("--" + attr.replace("_", "-"), getattr(args, attr), lo=lo, hi=hi)
    if args.lr is not None:
        checks.number("--lr", args.lr, lo=0, lo_open=True, hi=1e3)
    if args.max_minutes is not None:
        checks.number("--max-minutes", args.max_minutes, lo=0, hi=MAX_MINUTES)
    checks.seed("--init-seed", args.init_seed)
    if args.precision is not None and checks.text("--precision", args.precision) not in PRECISIONS:
        raise InputError(f"--precision: unknown {args.precision!r}; expected one of {', '.join(PRECISIONS)}")
    accelerator = check_accelerator(args.accelerator)
    devices = check_devices(args.devices, accelerator)
    strategy = check_strategy(args.strategy)
    if args.config is not None:
        input_file("--config", args.config)
    cfg = config_from_args(args)
    model = check_model_spec("--model", args.model)
    if args.vae is not None:
        input_file("--vae", args.vae)
    t5 = input_folder("--t5-path", args.t5_path) if args.t5_path is not None else None
    data = _check_data(args.data)
    model_dir = model if model is None or model.is_dir() else model.parent
    out = output_folder("--out", args.out, inputs={"--data": data, "--model": model_dir, "--t5-path": t5})
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
