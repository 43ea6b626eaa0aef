"""Time ``audiox synth build`` for N samples and extrapolate to a target size; prints one JSON line.

    python benchmarks/bench_synth.py --n 100 --workers 2            # default 44.1 kHz stereo, 10 s, 224 px video
    python benchmarks/bench_synth.py --n 24 --sample-rate 16000 --seconds 4

The build is linear in N (samples are independent), so ``extrapolated_s = seconds_per_sample * target``.
On a shared machine the wall time depends on the other load, so the CPU time of the build (this process, its
workers and their fluidsynth/espeak-ng children) is reported too: ``extrapolated_idle_s`` = CPU seconds per
sample * target / min(workers, cpu_count), the wall time the build would take with the cores to itself.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import tempfile
import time
from collections import Counter
from pathlib import Path

from audiox.data.synth import BuildConfig, build


def _cpu_s() -> float:
    """User + system CPU seconds of this process and of its finished children (workers, subprocesses)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100, help="samples to build")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample-rate", type=int, default=44100, help="Hz")
    parser.add_argument("--seconds", type=float, default=10.0, help="clip length in s")
    parser.add_argument("--video-size", type=int, default=224, help="pixels")
    parser.add_argument("--target", type=int, default=2000, help="corpus size to extrapolate to")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-synth-") as tmp:
        out = Path(tmp) / "corpus"
        cfg = BuildConfig(out=out, n=1, seed=args.seed + 1, workers=1, sample_rate=args.sample_rate,
                          seconds=args.seconds, video_size=args.video_size)
        start = time.perf_counter()
        build(cfg)  # warm the page cache (soundfont, recordings) so that the timed run is representative
        warm_s = time.perf_counter() - start
        out2 = Path(tmp) / "timed"
        cfg = BuildConfig(out=out2, n=args.n, seed=args.seed, workers=args.workers, sample_rate=args.sample_rate,
                          seconds=args.seconds, video_size=args.video_size)
        cpu0 = _cpu_s()
        start = time.perf_counter()
        entries = build(cfg)
        total_s = time.perf_counter() - start
        cpu_s = _cpu_s() - cpu0
        size_mb = sum(p.stat().st_size for p in out2.rglob("*") if p.is_file()) / 1e6
    per_sample = total_s / args.n
    cores = min(args.workers, os.cpu_count() or 1)
    print(json.dumps({
        "bench": "synth_build", "n": args.n, "workers": args.workers, "sample_rate": args.sample_rate,
        "seconds": args.seconds, "video_size": args.video_size, "total_s": round(total_s, 2),
        "seconds_per_sample": round(per_sample, 4), "target": args.target,
        "extrapolated_s": round(per_sample * args.target, 1), "cpu_s": round(cpu_s, 2),
        "cpu_s_per_sample": round(cpu_s / args.n, 4),
        "extrapolated_idle_s": round(cpu_s / args.n * args.target / cores, 1),
        "load_avg_1min_after": round(os.getloadavg()[0], 2), "single_sample_cold_s": round(warm_s, 2),
        "corpus_mb": round(size_mb, 1), "mb_per_sample": round(size_mb / args.n, 3),
        "tasks": dict(sorted(Counter(e.task for e in entries).items())),
        "cpu_count": os.cpu_count(), "machine": platform.machine(),
    }))


if __name__ == "__main__":
    main()
