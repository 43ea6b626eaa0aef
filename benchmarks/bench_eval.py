"""Time ``evaluate folder`` scoring with the offline protocol (aisfx) on synthetic ten-second clips; one JSON line.

    python benchmarks/bench_eval.py [--n 1000] [--rate 16000] [--threads 1] [--dir /tmp/bench_eval]

Writes ``n`` clips (half "real", half "generated": tones and noise bursts drawn from one seeded generator) as
16-bit WAV, then scores the two folders twice with a fresh feature cache: the first run embeds every clip, the
second finds both sets in the cache (it still hashes every file's bytes to build the key). Reports clips per
second of each run, the speed-up, and the peak resident memory of this process (``ru_maxrss``).
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def write_clips(folder: Path, n: int, rate: int, seconds: float, rng: np.random.Generator) -> None:
    """``n`` clips: a few decaying tones over low noise, each with its own pitch, level and event times."""
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(rate * seconds)) / rate
    for i in range(n):
        x = rng.normal(scale=0.01, size=t.shape)
        for _ in range(int(rng.integers(1, 6))):
            start, f0 = rng.uniform(0, seconds - 0.5), rng.uniform(100, 4000)
            env = np.where(t >= start, np.exp(-(t - start) * rng.uniform(2, 10)), 0.0)
            x += rng.uniform(0.05, 0.3) * env * np.sin(2 * np.pi * f0 * t)
        sf.write(folder / f"clip{i:05d}.wav", np.clip(x, -1, 1).astype(np.float32), rate, subtype="PCM_16")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="clips in all (half real, half generated)")
    parser.add_argument("--rate", type=int, default=16000, help="sample rate of the clips (Hz)")
    parser.add_argument("--seconds", type=float, default=10.0, help="clip length")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--dir", default=None, help="work folder (default: a temporary one, removed)")
    args = parser.parse_args()

    import torch

    from audiox.evaluation.folders import load_embedders, score_folders
    from audiox.evaluation.protocols import PROTOCOLS
    from audiox.evaluation.scoring import list_audio

    torch.set_num_threads(args.threads)
    work = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="bench_eval_"))
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    write_clips(work / "real", args.n // 2, args.rate, args.seconds, rng)
    write_clips(work / "gen", args.n - args.n // 2, args.rate, args.seconds, rng)
    write_s = time.perf_counter() - t0
    proto = PROTOCOLS["offline"]
    embedders = load_embedders(proto, None)
    real, gen = list_audio(work / "real", "real"), list_audio(work / "gen", "gen")
    cache = work / "cache"
    shutil.rmtree(cache, ignore_errors=True)
    runs = []
    for _ in range(2):
        wall, cpu = time.perf_counter(), time.process_time()
        result = score_folders(proto, real, gen, embedders, cache_dir=cache)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        runs.append({"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "clips_per_s": round(args.n / wall, 2),
                     "cache": result["cache"], "fd": round(result["metrics"]["fd:aisfx"], 4),
                     "kad": round(result["metrics"]["kad:aisfx"], 5)})
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    out = {"bench": "eval-offline", "machine": platform.machine(), "threads": args.threads, "n_clips": args.n,
           "seconds_per_clip": args.seconds, "rate": args.rate, "write_clips_s": round(write_s, 1),
           "first_run": runs[0], "second_run_cached": runs[1],
           "cache_speedup": round(runs[0]["wall_s"] / max(runs[1]["wall_s"], 1e-9), 1),
           "peak_rss_mib": round(peak_mib, 1)}
    print(json.dumps(out))
    if not args.dir:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
