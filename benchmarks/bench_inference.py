"""Inference speed of one guided denoiser step, as ratios against reference paths measured in the same run.

Paths (all on the same random weights and inputs):
- ``reference``: float32, the context projections (to_cond_embed + per-layer to_kv) recomputed at every step, as
  the official DiT forward does;
- ``cached``: float32 with the projections computed once per call (what :func:`make_denoiser` does);
- ``cached_bf16``: the same with the DiT in bfloat16 (AMX on recent x86 CPUs), plus its deviation from float32.

Prints one JSON line. Usage: ``python benchmarks/bench_inference.py [--preset builtin|debug|official] [--depth N]``
(``--depth`` shrinks the official preset so that it fits a quick CPU run; per-block timings scale linearly).
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from audiox.models.diffusion import DEFAULT_CFG_SCALE, cfg_combine, make_denoiser, sigma_to_t, v_scalings
from audiox.models.presets import PRESETS, parse_config


def _time(fn, repeats: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="builtin", choices=sorted(PRESETS))
    ap.add_argument("--depth", type=int, default=None, help="override the DiT depth")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    raw = PRESETS[args.preset]()
    if args.depth:
        raw["model"]["diffusion"]["config"]["depth"] = args.depth
    cfg = parse_config(raw)
    from audiox.models.dit import DiT

    g = torch.Generator().manual_seed(0)
    dit = DiT(cfg.model.diffusion.config).eval()
    with torch.no_grad():
        for p in dit.parameters():  # random weights everywhere (the official init zeroes branch outputs)
            p.copy_(torch.randn(p.shape, generator=g) * 0.02)
    p = cfg.model.diffusion.config
    n_ctx = 471 if args.preset == "official" else 256
    x = torch.randn(1, p.io_channels, cfg.latent_length, generator=g)
    ctx = torch.randn(1, n_ctx, p.cond_token_dim, generator=g)
    sigma = torch.tensor([3.0])
    cfg_scale = DEFAULT_CFG_SCALE

    def reference() -> torch.Tensor:
        c_skip, c_out, c_in = (s[:, None, None] for s in v_scalings(sigma))
        both_ctx = torch.cat([ctx, torch.zeros_like(ctx)])
        out = dit(torch.cat([x * c_in] * 2), torch.cat([sigma_to_t(sigma)] * 2), both_ctx)
        cond, uncond = out.chunk(2)
        return cfg_combine(cond, uncond, cfg_scale) * c_out + x * c_skip

    with torch.no_grad():
        ref_out = reference()
        t_ref = _time(reference, args.repeats)
        den32 = make_denoiser(dit, ctx, cfg_scale=cfg_scale)
        out32 = den32(x, sigma)
        t_cached = _time(lambda: den32(x, sigma), args.repeats)
        dit_bf16 = dit.to(torch.bfloat16)
        den16 = make_denoiser(dit_bf16, ctx, cfg_scale=cfg_scale)
        out16 = den16(x, sigma)
        t_bf16 = _time(lambda: den16(x, sigma), args.repeats)
    rel = lambda a, b: ((a - b).abs().max() / b.abs().max()).item()  # noqa: E731
    print(json.dumps({
        "bench": "inference_step", "preset": args.preset, "depth": p.depth, "latent_frames": cfg.latent_length,
        "context_tokens": n_ctx, "threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine(),
        "seconds_reference": round(t_ref, 4), "seconds_cached": round(t_cached, 4),
        "seconds_cached_bf16": round(t_bf16, 4),
        "speedup_cached_vs_reference": round(t_ref / t_cached, 3),
        "speedup_bf16_vs_reference": round(t_ref / t_bf16, 3),
        "max_rel_diff_cached_vs_reference": rel(out32, ref_out),
        "max_rel_diff_bf16_vs_fp32": rel(out16.float(), out32),
    }))


if __name__ == "__main__":
    main()
