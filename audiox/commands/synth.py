"""``audiox synth build``: build the generated multi-modal corpus (see ``docs/corpus.md``)."""

from __future__ import annotations

import argparse
import os
import time
from collections import Counter
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the ``build`` action and its options."""
    sub = parser.add_subparsers(dest="synth_action", metavar="ACTION")
    b = sub.add_parser("build", help="generate N samples into a folder", description="Generate the corpus.")
    b.add_argument("--out", type=Path, required=True, help="output folder (its parent must exist)")
    b.add_argument("--n", type=int, required=True, help="number of samples")
    b.add_argument("--seed", type=int, default=0, help="corpus seed (default 0)")
    b.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes (default: all CPUs)")
    b.add_argument("--sample-rate", type=int, default=44100, help="audio sample rate in Hz (default 44100)")
    b.add_argument("--seconds", type=float, default=10.0, help="clip length in seconds (default 10)")
    b.add_argument("--channels", type=int, default=2, choices=(1, 2), help="1 mono, 2 stereo (default 2)")
    b.add_argument("--fps", type=int, default=25, help="video frame rate (default 25)")
    b.add_argument("--video-size", type=int, default=224, help="video/image side in pixels (default 224)")
    b.add_argument("--test-fraction", type=float, default=0.1, help="held-out share of 10-sample blocks")
    b.add_argument("--overwrite", action="store_true", help="replace an existing corpus in --out")
    b.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    """Run the chosen action; returns the exit status."""
    from audiox.data.synth import BuildConfig, build
    from audiox.errors import InputError

    if getattr(args, "synth_action", None) != "build":
        raise InputError("synth: missing action; use 'audiox synth build --out DIR --n N --seed S'")
    cfg = BuildConfig(out=args.out, n=args.n, seed=args.seed, workers=args.workers, sample_rate=args.sample_rate,
                      seconds=args.seconds, channels=args.channels, fps=args.fps, video_size=args.video_size,
                      test_fraction=args.test_fraction, overwrite=args.overwrite, progress=not args.no_progress)
    start = time.perf_counter()
    entries = build(cfg)
    took = time.perf_counter() - start
    tasks = Counter(e.task for e in entries)
    print(f"built {len(entries)} samples in {took:.1f} s -> {args.out}/manifest.jsonl "
          f"({', '.join(f'{t}={c}' for t, c in sorted(tasks.items()))})")
    return 0
