"""Fine-tuning memory and speed of the full-size (official) DiT: full fine-tuning against LoRA, with and without
activation checkpointing, batch 1 and 4, float32 and bf16-mixed. One JSON line per setting.

Each setting runs in a fresh child process (so that its peak memory is its own): the official DiT (width 1536,
24 heads, context 471 tokens of 768, 237 latent frames of 64 channels, as ``bench_inference.py`` builds it) with
random weights, trained as ``audiox train`` does: AdamW over the trainable tensors, the EMA of the DiT
(:class:`audiox.training.ema.EMA`, which shares the frozen base of a LoRA run), v-MSE on random targets.
``--steps`` steps are run (the first allocates the optimizer state); the last is timed.

Memory: on CUDA ``torch.cuda.max_memory_allocated``; on a CPU the process's peak resident memory (``VmHWM``) less
its resident memory before the DiT was built (the interpreter and torch). A full-size fp32 full fine-tuning does
not fit a 24 GiB CPU machine, so ``--depths`` measures shallower DiTs of the full width (each block costs the same)
and ``fit`` extrapolates every setting linearly in depth to 24 blocks (``peak = a + b * depth``; two depths give
a and b exactly). The frozen towers (VAE, CLIP, T5) come on top when the data is not pre-encoded: their parameter
bytes are printed by ``towers``.

Usage::

    python benchmarks/bench_finetune.py --depths 1 2 --threads 1 > bench_finetune.jsonl   # CPU grid
    python benchmarks/bench_finetune.py --depths 24 --device cuda                        # a GPU: the real size
    python benchmarks/bench_finetune.py --fit bench_finetune.jsonl                       # the docs table
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import time

METHODS = ("full", "lora16", "lora64")
FULL_DEPTH = 24
N_CTX = 471  # 50 video + 128 text + 293 audio-prompt tokens (bench_inference.py)


def _rss(field: str) -> int:
    """A ``/proc/self/status`` memory field in bytes (VmRSS, VmHWM)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def child(a: argparse.Namespace) -> dict:
    """One setting: build, ``a.steps`` training steps, report seconds of the last step and the peak memory."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(a.threads)
    from audiox.models.dit import DiT
    from audiox.models.presets import PRESETS, parse_config
    from audiox.training.ema import EMA

    dev = torch.device(a.device)
    base_rss = _rss("VmRSS")
    raw = PRESETS["official"]()
    raw["model"]["diffusion"]["config"]["depth"] = a.depth
    cfg = parse_config(raw)
    p = cfg.model.diffusion.config
    g = torch.Generator().manual_seed(0)
    dit = DiT(p)
    with torch.no_grad():
        for t in dit.parameters():
            t.copy_(torch.randn(t.shape, generator=g) * 0.02)
    if a.method == "full":
        trainable = list(dit.parameters())
    else:
        from audiox.checkpoint.lora import attach, lora_config

        dit.requires_grad_(False)
        attach(dit, lora_config(int(a.method.removeprefix("lora"))), generator=g)
        trainable = [t for n, t in dit.named_parameters() if ".lora_" in n]
    dit.to(dev).train()
    ema = EMA(dit)
    opt = torch.optim.AdamW(trainable, lr=1e-5)
    b = a.batch
    x = torch.randn(b, p.io_channels, cfg.latent_length, generator=g).to(dev)
    ctx = torch.randn(b, N_CTX, p.cond_token_dim, generator=g).to(dev)
    target = torch.randn(x.shape, generator=g).to(dev)
    t = torch.rand(b, generator=g).to(dev)
    if dev.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    seconds = 0.0
    for _ in range(a.steps):
        t0 = time.perf_counter()
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.precision == "bf16-mixed"):
            out = dit(x, t, ctx, checkpointing=a.checkpointing)
        loss = F.mse_loss(out.float(), target)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        ema.update(dit)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        seconds = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated() if dev.type == "cuda" else _rss("VmHWM") - base_rss
    return {"bench": "finetune_step", "device": str(dev), "depth": a.depth, "method": a.method,
            "checkpointing": a.checkpointing, "batch": b, "precision": a.precision,
            "trainable_params": sum(t.numel() for t in trainable),
            "dit_params": sum(t.numel() for n, t in dit.named_parameters() if ".lora_" not in n),
            "peak_bytes": peak, "seconds_per_step": round(seconds, 3), "threads": a.threads,
            "cuda": torch.cuda.get_device_name() if dev.type == "cuda" else None}


def towers() -> dict:
    """Parameter counts of the frozen parts of the official model (meta tensors: nothing is allocated)."""
    import torch

    from audiox.checkpoint.official import build_meta_model
    from audiox.models.presets import PRESETS, parse_config

    model = build_meta_model(parse_config(PRESETS["official"]()))
    parts: dict[str, int] = {}
    for n, t in model.state_dict().items():
        key = ("dit" if n.startswith("model.") else "vae" if n.startswith("pretransform.") else
               "clip" if "visual_encoder_model" in n else "audio_prompt_vae" if ".pretransform." in n else
               "conditioner_trainable")
        parts[key] = parts.get(key, 0) + t.numel()
    parts["t5_base_encoder"] = 109_628_544  # external (Hugging Face t5-base encoder), loaded in fp16
    del torch
    return {"bench": "towers", "params": parts}


def fit(path: str) -> list[dict]:
    """Extrapolate each setting of a CPU grid to the full depth: peak and seconds are linear in depth."""
    rows = [json.loads(ln) for ln in open(path) if ln.strip().startswith("{")]
    rows = [r for r in rows if r.get("bench") == "finetune_step"]
    key = lambda r: (r["method"], r["checkpointing"], r["batch"], r["precision"])  # noqa: E731
    out = []
    for k, group in itertools.groupby(sorted(rows, key=lambda r: (key(r), r["depth"])), key=key):
        g = {r["depth"]: r for r in group}
        if len(g) < 2:
            continue
        d1, d2 = sorted(g)[:2]
        res = {}
        for f in ("peak_bytes", "seconds_per_step"):
            slope = (g[d2][f] - g[d1][f]) / (d2 - d1)
            res[f] = g[d1][f] + slope * (FULL_DEPTH - d1)
        out.append({"method": k[0], "checkpointing": k[1], "batch": k[2], "precision": k[3],
                    "peak_gib_at_24": round(res["peak_bytes"] / 2**30, 2),
                    "seconds_per_step_at_24": round(res["seconds_per_step"], 1),
                    "measured_depths": [d1, d2]})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--depths", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 4])
    ap.add_argument("--precisions", nargs="+", default=["32-true", "bf16-mixed"])
    ap.add_argument("--checkpointing", nargs="+", default=["off", "on"], choices=["off", "on"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--fit", default=None, help="a JSONL of a CPU grid: print the extrapolated full-depth table")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        c = json.loads(a.child)
        print(json.dumps(child(argparse.Namespace(**c, device=a.device, threads=a.threads, steps=a.steps))))
        return
    if a.fit:
        for row in fit(a.fit):
            print(json.dumps(row))
        return
    print(json.dumps(towers()), flush=True)
    for depth, method, ck, batch, prec in itertools.product(a.depths, a.methods, a.checkpointing, a.batches,
                                                            a.precisions):
        spec = {"depth": depth, "method": method, "checkpointing": ck == "on", "batch": batch, "precision": prec}
        cmd = [sys.executable, __file__, "--child", json.dumps(spec), "--device", a.device,
               "--threads", str(a.threads), "--steps", str(a.steps)]
        r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        line = r.stdout.strip().splitlines()[-1] if r.returncode == 0 and r.stdout.strip() else None
        print(line or json.dumps({**spec, "error": (r.stderr.strip().splitlines() or ["?"])[-1]}), flush=True)


if __name__ == "__main__":
    main()
