"""Cost of continuation against its length: 100-, 200- and 300-s continuations timed in the same run.

Two ways to reach a length, both with the built-in model (or ``--model``), ``--steps`` steps and a fixed seed:

- ``extend``: a 5-s clip continued to N s (``audiox generate --audio clip.wav --continue --seconds N``);
- ``long-clip``: a clip of N - half a window continued by the default half window (``--continue`` alone), the
  case whose cost used to grow with the square of the clip (every window walked the known clip sample by sample,
  and every window inside the clip was sampled although all of it is kept).

Prints one JSON line per run (wall and CPU seconds, the windows planned and those sampled, counted by VAE
decodes) and one summary line with the ratios time(N) / time(100 s), of wall and of CPU time (the process's:
on a machine shared with other work, the wall ratio also measures the others); the acceptance bound is
time(300 s) <= 3.5 x time(100 s).

    python benchmarks/bench_continuation.py [--steps 8] [--lengths 100 200 300] [--modes extend long-clip]
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time

import torch

from audiox.pipeline import AudioXPipeline
from audiox.pipeline.windows import plan_windows


def _clip(seconds: float, sr: int) -> torch.Tensor:
    """A mono test clip: a 440-Hz tone under a slow tremolo, 0.3 peak."""
    t = torch.arange(int(round(seconds * sr))) / sr
    return (0.3 * torch.sin(2 * math.pi * 440 * t) * torch.sin(2 * math.pi * 0.3 * t))[None]


def _planned(pipe: AudioXPipeline, total: int) -> int:
    """Windows planned for an output of ``total`` samples."""
    geo = pipe.geometry
    overlap = min(max(1, round(pipe.overlap_seconds * geo.sample_rate / geo.hop)) * geo.hop, geo.sample_size // 2)
    return len(plan_windows(total, geo.sample_size, overlap))


def _count_decodes(pipe: AudioXPipeline) -> list[int]:
    """Counts the VAE decodes (one per sampled window) in a one-item list."""
    calls = [0]
    decode = pipe.model.decode

    def counted(*args, **kwargs):
        calls[0] += 1
        return decode(*args, **kwargs)

    pipe.model.decode = counted
    return calls


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="model folder (default: the built-in model)")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lengths", type=float, nargs="+", default=[100.0, 200.0, 300.0])
    ap.add_argument("--modes", nargs="+", default=["extend", "long-clip"], choices=["extend", "long-clip"])
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    pipe = AudioXPipeline.from_pretrained(a.model, device="cpu")
    geo = pipe.geometry
    sr = geo.sample_rate
    decodes = _count_decodes(pipe)
    summary: dict[str, dict[str, float]] = {}
    for mode in a.modes:
        times: dict[float, tuple[float, float]] = {}
        for seconds in a.lengths:
            clip_s = 5.0 if mode == "extend" else seconds - geo.window_seconds / 2
            clip = _clip(clip_s, sr)
            kw = {"seconds": seconds} if mode == "extend" else {}
            decodes[0] = 0
            wall, cpu = time.perf_counter(), time.process_time()
            out = pipe("rain on a tin roof", audio=clip, continue_audio=True, steps=a.steps, seed=a.seed, **kw)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            total = out.audio.shape[-1]
            planned = _planned(pipe, total)
            times[seconds] = wall, cpu
            print(json.dumps({"bench": "continuation", "mode": mode, "clip_s": round(clip_s, 2),
                              "output_s": round(total / sr, 2), "steps": a.steps, "wall_s": round(wall, 2),
                              "cpu_s": round(cpu, 2), "windows": planned, "sampled_windows": decodes[0],
                              "wall_per_window_s": round(wall / planned, 3)}), flush=True)
        (w0, c0) = times[a.lengths[0]]
        summary[mode] = {f"{s:g}s/{a.lengths[0]:g}s": {"wall": round(w / w0, 2), "cpu": round(c / c0, 2)}
                         for s, (w, c) in times.items()}
    print(json.dumps({"bench": "continuation", "threads": torch.get_num_threads(),
                      "cpu": platform.processor() or platform.machine(), "ratios": summary, "bound": 3.5}))


if __name__ == "__main__":
    main()
