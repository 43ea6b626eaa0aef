"""Training throughput of built-in model sizes (samples/s), measured on a real packed folder.

For each DiT size: a training step of the real recipe (masking, CFG dropout, the trainable video tower, bf16
autocast, AdamW) on one fixed batch, timed over ``--steps`` steps after a warm-up step; plus the time to read and
collate that batch from the packed folder (the video frames are decoded there), reported separately because a
data-loader worker overlaps it with the step. The reference row is the shipped v1 size (width 384, depth 6)
measured in the same run.

    python benchmarks/bench_train_step.py --data runs/packed [--batch 32] [--steps 3] \
        [--sizes 384x6 256x6 256x4 192x4] [--vae-config configs/vae_candidates/c3_h512_integrate.json]

``--vae-config`` (a VAE training config with an ``autoencoder`` section: a candidate VAE of issue 25) swaps that
VAE into the model (its hop sets the latent length, its latent channels the DiT's io channels) and replaces the
batch's stored latents by random ones of its shape: the DiT cost that candidate's latent length implies.
"""

from __future__ import annotations

import argparse
import copy
import json
import time

import torch


def with_candidate_vae(cfg: dict, ae: dict) -> dict:
    """The built-in config dict ``cfg`` with its VAE (main and audio-prompt copy) replaced by ``ae`` (scale 1)."""
    cfg = copy.deepcopy(cfg)
    hop, dim = ae["downsampling_ratio"], ae["latent_dim"]
    pre = cfg["model"]["pretransform"]
    pre["config"], pre["scale"] = copy.deepcopy(ae), 1.0
    cfg["model"]["io_channels"] = dim
    cfg["model"]["diffusion"]["config"]["io_channels"] = dim
    for c in cfg["model"]["conditioning"]["configs"]:
        if c["id"] == "audio_prompt":
            c["config"]["pretransform_config"] = copy.deepcopy(pre)
            c["config"]["latent_seq_len"] = c["config"]["latent_seq_len"] * 1024 // hop
    return cfg


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="packed folder (audiox preencode --packed)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--sizes", nargs="+", default=["384x6", "256x6", "256x4", "192x4"], help="WIDTHxDEPTH")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--config", default="configs/builtin_v2_train.json")
    ap.add_argument("--vae-config", default=None, help="a candidate VAE (VAE training config with an autoencoder)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from audiox.data.dataset import collate
    from audiox.models.presets import build_model, builtin_config, config_from
    from audiox.training.config import TrainConfig
    from audiox.training.data import open_dataset
    from audiox.training.module import AudioXTrainingModule

    cfg = TrainConfig.load(args.config).replace(batch_size=args.batch, use_ema=False)
    ae = json.loads(open(args.vae_config).read())["autoencoder"] if args.vae_config else None
    rows = []
    for size in args.sizes:
        width, depth = (int(v) for v in size.split("x"))
        base = builtin_config(width=width, depth=depth, heads=width // 64)
        ds = open_dataset(args.data, config_from(base).geometry, cfg)
        t0 = time.perf_counter()
        batch = collate([ds[(i, 0)] for i in range(args.batch)])
        load_s = time.perf_counter() - t0
        if ae is not None:  # the candidate's latents: random, of its shape (the DiT's cost ignores their values)
            base = with_candidate_vae(base, ae)
            g = torch.Generator().manual_seed(0)
            for key in ("latents_raw", "prompt_raw"):
                n = batch[key].shape[-1] * 1024 // ae["downsampling_ratio"]
                batch[key] = torch.randn(args.batch, 2 * ae["latent_dim"], n, generator=g)
        model = build_model(base, seed=0)
        empty = ds.empty_features()
        if ae is not None:  # the empty audio prompt at the candidate's shape
            empty = {k: (torch.zeros(*v.shape[:-2], 2 * ae["latent_dim"], batch[k].shape[-1]) if k in batch
                         and k.endswith("_raw") else v) for k, v in empty.items()}
        module = AudioXTrainingModule(model, cfg, empty=empty)
        module.train()
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
        times = []
        for step in range(args.steps + 1):
            t0 = time.perf_counter()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.precision.startswith("bf16")):
                loss, _ = module.loss(batch, torch.Generator().manual_seed(step), training=True)
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            if step:
                times.append(time.perf_counter() - t0)
        step_s = sorted(times)[len(times) // 2]
        rows.append({"size": size, "latent_frames": batch["latents_raw"].shape[-1],
                     "dit_params_M": round(sum(p.numel() for p in model.dit.parameters()) / 1e6, 2),
                     "step_s": round(step_s, 3), "samples_per_s": round(args.batch / step_s, 1),
                     "batch_load_s": round(load_s, 3)})
        print(json.dumps(rows[-1]), flush=True)
    ref = rows[0]["samples_per_s"]
    for r in rows:
        r["speed_vs_first"] = round(r["samples_per_s"] / ref, 2)
    print(json.dumps({"threads": torch.get_num_threads(), "batch": args.batch, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
