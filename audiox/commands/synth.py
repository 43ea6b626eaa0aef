"""``audiox synth build``: build the generated multi-modal corpus (see ``docs/corpus.md``)."""

from __future__ import annotations

import argparse
import os
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

LARGE_N = 100_000  # samples: about 180 GB of 10 s stereo WAV; --allow-large lifts it


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``build`` action and its options."""
    sub = parser.add_subparsers(dest="synth_action", metavar="ACTION")
    b = sub.add_parser("build", help="generate N samples into a folder", description="Generate the corpus.")
    b.add_argument("--out", required=True, help="output folder (its parent must exist)")
    b.add_argument("--n", type=int, required=True, help=f"number of samples (at most {LARGE_N} without --allow-large)")
    b.add_argument("--seed", type=int, default=0, help="corpus seed (default 0)")
    b.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes (default: all CPUs)")
    b.add_argument("--sample-rate", type=int, default=44100, help="audio sample rate in Hz (default 44100)")
    b.add_argument("--seconds", type=float, default=10.0, help="clip length in seconds (default 10)")
    b.add_argument("--channels", type=int, default=2, choices=(1, 2), help="1 mono, 2 stereo (default 2)")
    b.add_argument("--fps", type=int, default=25, help="video frame rate (default 25)")
    b.add_argument("--video-size", type=int, default=224, help="video/image side in pixels (default 224)")
    b.add_argument("--test-fraction", type=float, default=0.1, help="held-out share of 10-sample blocks")
    b.add_argument("--overwrite", action="store_true", help="replace an existing corpus in --out")
    b.add_argument("--allow-large", action="store_true", help=f"allow more than {LARGE_N} samples")
    b.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def check_args(args: argparse.Namespace) -> Any:
    """Validate every option and the output folder before anything is generated; returns the BuildConfig."""
    from audiox.data.synth import BuildConfig
    from audiox.errors import ConfigError, InputError
    from audiox.utils import checks

    out = checks.output_folder("--out", args.out)
    checks.integer("--workers", args.workers, lo=1, hi=max(4, 4 * (os.cpu_count() or 1)))
    if not args.allow_large:
        checks.integer("--n", args.n, lo=1, hi=LARGE_N)
    cfg = BuildConfig(out=out, n=args.n, seed=args.seed, workers=args.workers, sample_rate=args.sample_rate,
                      seconds=args.seconds, channels=args.channels, fps=args.fps, video_size=args.video_size,
                      test_fraction=args.test_fraction, overwrite=args.overwrite, progress=not args.no_progress)
    try:
        cfg.check()
    except ConfigError as e:  # BuildConfig names its keys; name the flags
        key, _, rest = str(e).partition(": ")
        raise ConfigError(f"--{key.replace('_', '-')}: {rest}") from None
    free = shutil.disk_usage(out if out.is_dir() else out.resolve().parent).free
    if cfg.audio_bytes() > free:
        raise InputError(f"--n {args.n}: the audio alone needs {_size(cfg.audio_bytes())}, only "
                         f"{_size(free)} are free under {out}")
    return cfg


def _size(n_bytes: float) -> str:
    """A disk figure: GB from 1 GB up, MB below (a tiny disk is not "0.0 GB")."""
    return f"{n_bytes / 1e9:.1f} GB" if n_bytes >= 1e9 else f"{n_bytes / 1e6:.1f} MB"


def run(args: argparse.Namespace) -> int:
    """Run the chosen action; returns the exit status."""
    from audiox.errors import InputError

    if getattr(args, "synth_action", None) != "build":
        raise InputError("synth: missing action; use 'audiox synth build --out DIR --n N --seed S'")
    cfg = check_args(args)
    from audiox.data.synth import build

    start = time.perf_counter()
    entries = build(cfg)
    took = time.perf_counter() - start
    tasks = Counter(e.task for e in entries)
    print(f"built {len(entries)} samples in {took:.1f} s -> {Path(cfg.out) / 'manifest.jsonl'} "
          f"({', '.join(f'{t}={c}' for t, c in sorted(tasks.items()))})")
    return 0
