"""The flags ``audiox train`` and ``audiox train-vae`` share: one definition and one check of each.

Each command adds its own flags (``--model``, ``--data``, ``--config``, ...) and words the shared ones' defaults;
the names, types and ranges are the same for both (``--num-workers`` in both: ``train-vae`` called it ``--workers``
before, a spelling no documentation used).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

HELP = {
    "out": "run folder (checkpoints, logs and the results)",
    "resume": "continue from OUT/checkpoints/last.ckpt",
    "max_steps": "optimizer steps in total",
    "batch_size": "items per device and step",
    "lr": "learning rate",
    "precision": "Lightning precision: 32-true, bf16-mixed, 16-mixed, ...",
    "accelerator": "cpu, gpu, auto",
    "devices": "device count, list (0,1) or auto",
    "seed": "training seed",
    "num_workers": "DataLoader workers per device",
    "max_minutes": "stop after this much training time (0: no limit)",
    "threads": "torch CPU threads (1 is fastest when other processes share the cores)",
    "no_progress": "no progress bar",
}
_TYPES = {"max_steps": int, "batch_size": int, "lr": float, "seed": int, "num_workers": int, "max_minutes": float,
          "threads": int}
_FLAGS_ONLY = ("resume", "no_progress")  # store_true


def add_run_arguments(p: argparse.ArgumentParser, *, defaults: Mapping[str, Any] | None = None,
                      notes: Mapping[str, str] | None = None) -> None:
    """Add the shared flags to ``p``.

    Args:
        defaults: flag (as its dest, ``num_workers``) -> default value other than None (``accelerator`` and
            ``devices`` default to ``auto``).
        notes: flag -> text added to its help (e.g. the default the command's config gives).
    """
    defaults = {"accelerator": "auto", "devices": "auto", **(defaults or {})}
    notes = notes or {}
    for dest, text in HELP.items():
        flag = "--" + dest.replace("_", "-")
        help_text = f"{text} ({notes[dest]})" if dest in notes else text
        if dest in _FLAGS_ONLY:
            p.add_argument(flag, action="store_true", help=help_text)
        else:
            p.add_argument(flag, required=dest == "out", type=_TYPES.get(dest, str), default=defaults.get(dest),
                           help=help_text)


def check_run_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """Check the shared flags' values (ranges, precision, accelerator and devices) before anything loads.

    Returns:
        ``accelerator`` and ``devices`` as Lightning takes them.
    """
    from audiox.training import checks as train_checks
    from audiox.training.checks import MAX_BATCH, MAX_MINUTES, MAX_STEPS, MAX_WORKERS, TRAIN_SEED_MAX
    from audiox.utils import checks

    checks.threads(args.threads)
    ranges = {"max_steps": (1, MAX_STEPS), "batch_size": (1, MAX_BATCH), "num_workers": (0, MAX_WORKERS),
              "seed": (0, TRAIN_SEED_MAX)}
    for attr, (lo, hi) in ranges.items():
        if getattr(args, attr) is not None:
            checks.integer("--" + attr.replace("_", "-"), getattr(args, attr), lo=lo, hi=hi)
    if args.lr is not None:
        checks.number("--lr", args.lr, lo=0, lo_open=True, hi=1e3)
    if args.max_minutes is not None:
        checks.number("--max-minutes", args.max_minutes, lo=0, hi=MAX_MINUTES)
    if args.precision is not None:
        train_checks.check_precision(args.precision)
    accelerator = train_checks.check_accelerator(args.accelerator)
    return {"accelerator": accelerator, "devices": train_checks.check_devices(args.devices, accelerator)}
