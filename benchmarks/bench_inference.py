"""Inference speed and memory: the fast path against the official order of operations, measured in one run.

Prints one JSON line per setting.

Part 1, one guided denoiser step (the DiT on the doubled batch [cond; uncond] with guidance), random weights, each
switch of :class:`audiox.pipeline.settings.RunOptions` added in turn:
- ``reference``: float32, explicit float32 softmax (the official CPU attention), the context projected to k/v at
  every step, the all-zero null context attended to (the official forward);
- ``+sdpa``: PyTorch's fused attention; ``+cache``: k/v once per generation; ``+skip_null`` (= ``fast_fp32``): the
  unconditional half skips cross-attention to the null context (exactly zero);
- ``fast_bf16``: the same with the DiT in bfloat16; ``fast_bf16_compile`` with ``--compile``.
Each line gives seconds per guided step, the ratio to the reference and the largest difference to it, relative to
the largest output magnitude.

Part 2 (``--e2e``), 10 s of audio end to end (conditioners + sampling + VAE decode) in a fresh process per setting,
on a full-size model folder in the official format with random weights (written once to ``--workdir``; a random
t5-base-sized encoder with a byte tokenizer stands in for t5-base). Each line gives the seconds, the peak resident
memory (``VmHWM``) after loading and at the end, and the ratio to the official default (250 dpmpp-3m-sde steps,
float32, reference path). Settings with many steps on a CPU run ``--measure-steps`` steps and report
``overhead + steps x seconds per step``, labelled ``"extrapolated_from_steps"``.

Usage::

    python benchmarks/bench_inference.py --preset official               # part 1, full size (minutes on a CPU)
    python benchmarks/bench_inference.py --preset official --depth 4     # part 1, quick
    python benchmarks/bench_inference.py --e2e --workdir /tmp/audiox-full --fast-steps 12 --fast-sampler dpmpp-2m
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import torch

from audiox.models.diffusion import DEFAULT_CFG_SCALE, make_denoiser
from audiox.models.presets import PRESETS, parse_config
from audiox.pipeline.settings import FEW_STEP_PRESET
from audiox.utils.dtypes import cpu_bf16_instructions


def _time(fn, repeats: int) -> float:
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t0)
    return best


def _machine() -> dict:
    return {"cpu": platform.processor() or platform.machine(), "threads": torch.get_num_threads(),
            "cpu_bf16": cpu_bf16_instructions(), "cuda": torch.cuda.get_device_name() if torch.cuda.is_available()
            else None}


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a.float() - b.float()).abs().max() / b.float().abs().max()).item()


def step_bench(args: argparse.Namespace) -> None:
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
    n_ctx = 471 if args.preset == "official" else 256  # official: 50 video + 128 text + 293 audio tokens
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    dit.to(dev)
    x = torch.randn(1, p.io_channels, cfg.latent_length, generator=g).to(dev)
    ctx = torch.randn(1, n_ctx, p.cond_token_dim, generator=g).to(dev)
    sigma = torch.tensor([3.0], device=dev)
    settings = [  # name, attention, cache_context, skip_null_cross, dtype, compile
        ("reference", "math", False, False, torch.float32, False),
        ("+sdpa", "sdpa", False, False, torch.float32, False),
        ("+cache", "sdpa", True, False, torch.float32, False),
        ("fast_fp32", "sdpa", True, True, torch.float32, False),
        ("fast_bf16", "sdpa", True, True, torch.bfloat16, False),
    ]
    if args.compile:
        settings.append(("fast_bf16_compile", "sdpa", True, True, torch.bfloat16, True))
    ref_out = t_ref = None
    info = {"bench": "guided_step", "preset": args.preset, "depth": p.depth, "width": p.embed_dim,
            "latent_frames": cfg.latent_length, "context_tokens": n_ctx, **_machine()}
    for name, attn, cache, skip, dtype, compiled in settings:
        net = dit.to(dtype)
        net.attn_backend = attn
        if compiled:
            net = torch.compile(net)
        with torch.no_grad():
            den = make_denoiser(net, ctx, cfg_scale=DEFAULT_CFG_SCALE, skip_null_cross=skip, cache_context=cache)
            out = den(x, sigma)
            t = _time(lambda: den(x, sigma), args.repeats)  # noqa: B023
        if ref_out is None:
            ref_out, t_ref = out, t
        print(json.dumps({**info, "setting": name, "seconds_per_step": round(t, 4),
                          "speedup_vs_reference": round(t_ref / t, 3),
                          "max_rel_diff_vs_reference": _rel(out, ref_out)}), flush=True)


# ----------------------------------------------------------------------------------------------------------------
# Part 2: end to end, one child process per setting

E2E = {  # name -> (DiT dtype, VAE decoder dtype, run options, sampler, steps or None for --fast-steps)
    "official_default": ("fp32", "fp32", "reference", "dpmpp-3m-sde", 250),
    "fast_bf16_250": ("bf16", "bf16", "fast", "dpmpp-3m-sde", 250),
    "fast_preset": ("bf16", "bf16", "fast", None, None),  # `generate --fast` on a CPU with bf16 instructions
    "fast_preset_fp32": ("fp32", "fp32", "fast", None, None),  # `generate --fast` on a CPU without them
    "fast_preset_vae_fp32": ("bf16", "fp32", "fast", None, None),
}
PROMPT = "a dog barks twice while rain falls on a tin roof"


def make_full_size_folder(folder: Path) -> None:
    """An official-format folder (config.json + model.ckpt, random weights) and a random t5-base-sized encoder."""
    if (folder / "model.ckpt").is_file() and (folder / "t5" / "config.json").is_file():
        return
    from transformers import ByT5Tokenizer, T5Config, T5EncoderModel

    from audiox.checkpoint.io import write_ckpt
    from audiox.checkpoint.official import vae_prefix
    from audiox.models.presets import build_model

    raw = PRESETS["official"]()
    model = build_model(raw, seed=0)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.dit.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.02)
    sd = model.state_dict()
    for c in model.config.model.conditioning.configs:  # the release stores the same VAE twice
        if c.type == "audio_autoencoder":
            for k in [k for k in sd if k.startswith("pretransform.")]:
                sd[vae_prefix(c.id) + k[len("pretransform."):]] = sd[k]
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(raw))
    write_ckpt(folder / "model.ckpt", sd)
    del model, sd
    t5 = T5EncoderModel(T5Config(vocab_size=32128, d_model=768, d_kv=64, d_ff=3072, num_layers=12, num_heads=12))
    t5.save_pretrained(folder / "t5")
    ByT5Tokenizer().save_pretrained(folder / "t5")


def _peak_gb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 2**20, 3)
    return float("nan")


def child(args: argparse.Namespace) -> None:
    """One setting in this (fresh) process: load, generate 10 s, print one JSON line."""
    from audiox.pipeline import AudioXPipeline
    from audiox.pipeline.settings import DEFAULT_RUN, REFERENCE_RUN
    from audiox.utils.dtypes import torch_dtype

    dtype, vae_dtype, opts, sampler, steps = E2E[args.child]
    sampler = sampler or args.fast_sampler
    steps = steps or args.fast_steps
    folder = Path(args.workdir)
    t0 = time.perf_counter()
    pipe = AudioXPipeline.from_pretrained(folder, dtype=torch_dtype(dtype), vae_dtype=torch_dtype(vae_dtype),
                                          text_encoder_path=folder / "t5",
                                          options=DEFAULT_RUN if opts == "fast" else REFERENCE_RUN)
    load_s, peak_load = time.perf_counter() - t0, _peak_gb()
    cuda = pipe.device.type == "cuda"
    kw = dict(seconds=10.0, sampler=sampler, cfg_scale=DEFAULT_CFG_SCALE, sigma_min=0.3, sigma_max=500.0, seed=0)
    if cuda:  # kernels selected and memory pools grown before the timed run
        pipe(PROMPT, **{**kw, "steps": 2})
        torch.cuda.reset_peak_memory_stats()
    dit_s = [0.0, 0]
    starts: list[float] = []

    def now() -> float:
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter()

    pipe.model.dit.register_forward_pre_hook(lambda *_: starts.append(now()))

    def post(*_):
        dit_s[0] += now() - starts.pop()
        dit_s[1] += 1

    pipe.model.dit.register_forward_hook(post)
    run_steps = min(steps, args.measure_steps) if steps > args.fast_steps else steps
    t0 = now()
    out = pipe(PROMPT, steps=run_steps, **kw)
    gen_s = now() - t0
    per_step = dit_s[0] / dit_s[1]
    e2e = gen_s - dit_s[0] + per_step * steps
    torch.save({"latents": out.latents, "audio": out.audio}, folder / f"out_{args.child}.pt")
    line = {"bench": "e2e_10s", "setting": args.child, "dtype": dtype, "vae_dtype": vae_dtype, "path": opts,
            "sampler": sampler, "steps": steps, "load_seconds": round(load_s, 2),
            "seconds_per_guided_step": round(per_step, 3), "overhead_seconds": round(gen_s - dit_s[0], 2),
            "e2e_seconds": round(e2e, 2), "peak_rss_gb_after_load": peak_load, "peak_rss_gb": _peak_gb(),
            "device": torch.cuda.get_device_name() if cuda else "cpu"}
    if cuda:
        line["peak_gpu_gb"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
    if run_steps != steps:
        line["extrapolated_from_steps"] = run_steps
    print(json.dumps(line), flush=True)


def e2e_bench(args: argparse.Namespace) -> None:
    folder = Path(args.workdir)
    subprocess.run([sys.executable, __file__, "--make-folder", "--workdir", str(folder)], check=True)
    lines = {}
    for name in args.settings:
        cmd = [sys.executable, __file__, "--child", name, "--workdir", str(folder), "--fast-steps",
               str(args.fast_steps), "--fast-sampler", args.fast_sampler, "--measure-steps", str(args.measure_steps)]
        res = subprocess.run(cmd, check=True, capture_output=True, text=True)
        lines[name] = json.loads(res.stdout.strip().splitlines()[-1])
        ref = lines.get("official_default")
        if ref is not None:
            lines[name]["speedup_vs_official_default"] = round(ref["e2e_seconds"] / lines[name]["e2e_seconds"], 2)
        print(json.dumps({**lines[name], **_machine()}), flush=True)
    outs = {n: torch.load(folder / f"out_{n}.pt", weights_only=True) for n in lines}
    for a, b in (("fast_preset", "fast_preset_fp32"), ("fast_preset", "fast_preset_vae_fp32")):
        if a in outs and b in outs:  # same seed, sampler and steps: the difference the dtype makes
            lat = (outs[a]["latents"] - outs[b]["latents"]).norm() / outs[b]["latents"].norm()
            err = outs[a]["audio"] - outs[b]["audio"]
            snr = 10 * torch.log10(outs[b]["audio"].pow(2).sum() / err.pow(2).sum().clamp_min(1e-30))
            print(json.dumps({"bench": "e2e_dtype_difference", "setting": a, "vs": b,
                              "latent_rel_l2": round(lat.item(), 5), "audio_snr_db": round(snr.item(), 2)}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="builtin", choices=sorted(PRESETS))
    ap.add_argument("--depth", type=int, default=None, help="override the DiT depth (part 1)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--compile", action="store_true", help="also time torch.compile (part 1)")
    ap.add_argument("--e2e", action="store_true", help="part 2: end to end on a full-size random model")
    ap.add_argument("--workdir", default="/tmp/audiox-full-size", help="where the full-size model folder is written")
    ap.add_argument("--settings", nargs="+", default=list(E2E), choices=list(E2E))
    ap.add_argument("--fast-steps", type=int, default=FEW_STEP_PRESET["steps"])
    ap.add_argument("--fast-sampler", default=FEW_STEP_PRESET["sampler"])
    ap.add_argument("--measure-steps", type=int, default=3,
                    help="steps actually run for settings with more steps than --fast-steps (then extrapolated)")
    ap.add_argument("--child", choices=list(E2E), help=argparse.SUPPRESS)
    ap.add_argument("--make-folder", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.make_folder:
        make_full_size_folder(Path(args.workdir))
    elif args.child:
        child(args)
    elif args.e2e:
        e2e_bench(args)
    else:
        step_bench(args)


if __name__ == "__main__":
    main()
