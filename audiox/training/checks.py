"""Checks of training arguments (``audiox train``, ``train-vae``, ``preencode``, ``evaluate classifier``).

Like :mod:`audiox.utils.checks`, every check raises one line naming the argument and changes no file: they run
before a model loads or a corpus is read in bulk. Lightning is imported only inside :func:`check_strategy`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from audiox.checkpoint.locate import ModelFiles, locate_model
from audiox.errors import ConfigError, InputError, MediaError
from audiox.training.config import MAX_MINUTES, PRECISIONS, TRAIN_SEED_MAX
from audiox.utils import checks

__all__ = ["ACCELERATORS", "LAST", "MAX_BATCH", "MAX_CLIP_SECONDS", "MAX_MINUTES", "MAX_SHARDS", "MAX_STEPS",
           "MAX_WORKERS", "RESUME_KEYS", "TRAIN_SEED_MAX", "check_accelerator", "check_data", "check_devices",
           "check_init", "check_model_spec", "check_precision", "check_resume", "check_resume_state",
           "check_run_folder", "check_strategy", "manifest_entries"]

MAX_STEPS = 10**9  # optimizer steps, checkpoint / demo / save intervals
MAX_BATCH = 4096  # items per device and step (more does not fit any device)
MAX_WORKERS = max(16, 4 * (os.cpu_count() or 1))  # DataLoader worker processes
MAX_CLIP_SECONDS = 86_400  # a manifest entry longer than a day is a mistake (or Infinity)
MAX_SHARDS = 100_000  # tar shards one --data brace range may name
ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps")
LAST = "last.ckpt"  # OUT/checkpoints/LAST: the checkpoint --resume continues from
RESUME_KEYS = ("global_step", "state_dict", "optimizer_states", "loops")  # what Lightning restores from it


def check_model_spec(name: str, value: Any) -> ModelFiles | None:
    """A preset name (fresh weights: returns None) or a model folder / weights file to fine-tune."""
    from audiox.models.presets import PRESETS

    if checks.text(name, value) in PRESETS:
        return None
    return locate_model(value, name=name, presets=tuple(PRESETS))


def check_init(value: Any, name: str = "--init") -> ModelFiles:
    """A model folder or weights file whose matching tensors start the trained model (``--init``)."""
    return locate_model(value, name=name)


def check_precision(value: Any, name: str = "--precision") -> str:
    """A Lightning precision (``32-true``, ``bf16-mixed``, ...)."""
    if checks.text(name, value) not in PRECISIONS:
        raise InputError(f"{name}: unknown {value!r}; expected one of {', '.join(PRECISIONS)}")
    return value


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


def check_data(value: Any, name: str = "--data") -> Path | None:
    """Training data: a manifest (or corpus folder) with train entries, a pre-encoded/packed folder or tar shards.

    Returns:
        The folder that holds the data (None for tar shards).
    """
    from audiox.data.webdataset import expand_urls
    from audiox.training.data import data_kind

    s = checks.path_arg(name, value)
    p = Path(s)
    if not p.exists() and ".tar" not in s:
        raise MediaError(f"{p}: {name} not found (expected a manifest.jsonl, a pre-encoded folder or .tar shards)")
    if p.is_dir():
        if data_kind(s) == "manifest":
            manifest_entries(name, p / "manifest.jsonl")
        return p
    if ".tar" in s:
        count = 1
        for part in s.split(","):
            if "{" in part and ".." in part:
                for braces in re.findall(r"\{[^{}]*\}?", part):
                    m = re.fullmatch(r"\{(\d{1,9})\.\.(\d{1,9})\}", braces)
                    if m is None or int(m[2]) < int(m[1]):
                        raise InputError(f"{name}: bad brace range {braces!r}; expected e.g. {{000..009}}")
                    count *= int(m[2]) - int(m[1]) + 1
                    if count > MAX_SHARDS:
                        raise InputError(f"{name}: names more than {MAX_SHARDS} tar shards")
        expand_urls(s)
        return None
    manifest_entries(name, checks.input_file(name, s))
    return p.parent


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


def check_resume(out: str | os.PathLike, *, extra_keys: tuple[str, ...] = (), name: str = "--resume") -> dict[str, Any]:
    """``OUT/checkpoints/last.ckpt``, loaded safely and checked, before anything in ``out`` is touched.

    It must be one file (a DeepSpeed folder would be unpickled without the weights-only check, so it is not
    resumed) or the sharded folder of ``--strategy fsdp``, whose pickles are checked first
    (:func:`audiox.training.sharded.check_sharded`; its ``state_dict`` then holds meta tensors of the stored
    shapes). A single file must be readable by
    :func:`audiox.checkpoint.safe_load.safe_load` (not truncated, no object but tensors and plain values) and hold
    :data:`RESUME_KEYS` (plus ``extra_keys``): a non-negative integer step and a state dict of tensors. The file
    is memory-mapped, so the check reads little more than its object layout.

    Args:
        out: the run folder.
        extra_keys: further top-level keys the run's module saves (``audiox`` for ``audiox train``).
        name: the flag named in messages.

    Returns:
        The loaded checkpoint (tensors mapped from the file).

    Raises:
        ConfigError / CheckpointError: one line naming the file.
    """
    import torch

    from audiox.checkpoint.safe_load import safe_load
    from audiox.training.sharded import recover_last

    last = Path(out) / "checkpoints" / LAST
    if not recover_last(last, name):  # a --strategy fsdp swap of last.ckpt killed between its renames
        raise ConfigError(f"{name}: {last} not found")
    if last.is_dir() and not last.is_symlink():
        from audiox.training.sharded import is_sharded, sharded_resume_record

        if is_sharded(last):  # --strategy fsdp: every pickle its loaders read is checked first
            ckpt = sharded_resume_record(last, name)
            missing = [k for k in extra_keys if k not in ckpt]
            if missing:
                raise ConfigError(f"{last}: {name} checkpoint lacks {', '.join(missing)} (not written by this run's "
                                  "training)")
            return ckpt
    if last.is_dir():
        raise ConfigError(f"{last}: {name} checkpoint is a folder but not a --strategy fsdp checkpoint (DeepSpeed's "
                          "loaders unpickle without the weights-only check); it is not resumed")
    ckpt = safe_load(last, name=f"{name} checkpoint", mmap=True)
    if not isinstance(ckpt, dict):
        raise ConfigError(f"{last}: {name} checkpoint is a {type(ckpt).__name__}, not a Lightning checkpoint")
    missing = [k for k in (*RESUME_KEYS, *extra_keys) if k not in ckpt]
    if missing:
        raise ConfigError(f"{last}: {name} checkpoint lacks {', '.join(missing)} (not written by this run's "
                          "training)")
    step, sd = ckpt["global_step"], ckpt["state_dict"]
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ConfigError(f"{last}: {name} checkpoint: global_step must be an integer >= 0, got {step!r:.40}")
    if not isinstance(sd, dict) or not sd or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise ConfigError(f"{last}: {name} checkpoint: state_dict is not a mapping of tensors")
    return ckpt


def check_run_folder(out: str | os.PathLike, resume: bool, *,
                     extra_keys: tuple[str, ...] = ()) -> dict[str, Any] | None:
    """The run folder of a training job (``audiox train`` and ``train-vae`` alike), before anything in it changes:
    with ``resume`` its last checkpoint must be sound (:func:`check_resume`, which it returns); without, the folder
    must not hold a run already (a run is never overwritten by accident).

    Args:
        out: the run folder.
        resume: continue the run in ``out``.
        extra_keys: further top-level keys the run's module saves (see :func:`check_resume`).

    Raises:
        ConfigError / CheckpointError: one line naming the folder or file.
    """
    if resume:
        return check_resume(out, extra_keys=extra_keys)
    from audiox.training.sharded import swap_names

    last = Path(out) / "checkpoints" / LAST
    for p in (last, *swap_names(last)):  # a killed swap of last.ckpt still holds a run
        if p.exists():
            raise ConfigError(f"{out} already holds a run ({p}); pass --resume or choose another --out")
    return None


def check_resume_state(ckpt: dict[str, Any], module: Any, out: str | os.PathLike, name: str = "--resume") -> None:
    """The checkpoint's state dict has the tensors of ``module`` (names and shapes), or one line says which differ.

    Lightning would otherwise fail inside ``fit``, after the run folder was written to, with a message listing
    every key.
    """
    from audiox.checkpoint.official import check_keys

    sd = module.state_dict()
    keys = module.checkpoint_keys() if hasattr(module, "checkpoint_keys") else list(sd)  # a LoRA run: adapters
    where = f"{Path(out) / 'checkpoints' / LAST}: {name} checkpoint"
    check_keys({k: sd[k].shape for k in keys}, ckpt["state_dict"], where)
    if getattr(module, "lora_probe", None) is not None:
        from audiox.checkpoint.lora import probe_mismatch

        saved = (ckpt.get("audiox") or {}).get("lora_probe")
        bad = probe_mismatch(saved, module.lora_probe) if isinstance(saved, dict) else "no base probe"
        if bad is not None:
            raise ConfigError(f"{where}: its LoRA was trained on another base model (first difference: {bad})")
