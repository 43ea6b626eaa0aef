"""Training throughput of built-in model sizes (samples/s), measured on a real packed folder.

For each DiT size: a training step of the real recipe (masking, CFG dropout, the trainable video tower, bf16
autocast, AdamW) on one fixed batch, timed over ``--steps`` steps after a warm-up step; plus the time to read and
collate that batch from the packed folder (the video frames are decoded there), reported separately because a
data-loader worker overlaps it with the step. The reference row is the shipped v1 size (width 384, depth 6)
measured in the same run.

    python benchmarks/bench_train_step.py --data runs/packed [--batch 32] [--steps 3] \
        [--sizes 384x6 256x6 256x4 192x4]
"""

from __future__ import annotations

import argparse
import json
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="packed folder (audiox preencode --packed)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--sizes", nargs="+", default=["384x6", "256x6", "256x4", "192x4"], help="WIDTHxDEPTH")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--config", default="configs/builtin_v2_train.json")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from audiox.data.dataset import collate
    from audiox.models.presets import build_model, builtin_config
    from audiox.training.config import TrainConfig
    from audiox.training.data import open_dataset
    from audiox.training.module import AudioXTrainingModule

    cfg = TrainConfig.load(args.config).replace(batch_size=args.batch, use_ema=False)
    rows = []
    for size in args.sizes:
        width, depth = (int(v) for v in size.split("x"))
        model = build_model(builtin_config(width=width, depth=depth, heads=width // 64), seed=0)
        ds = open_dataset(args.data, model.config.geometry, cfg)
        t0 = time.perf_counter()
        batch = collate([ds[(i, 0)] for i in range(args.batch)])
        load_s = time.perf_counter() - t0
        module = AudioXTrainingModule(model, cfg, empty=ds.empty_features())
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
        rows.append({"size": size, "dit_params_M": round(sum(p.numel() for p in model.dit.parameters()) / 1e6, 2),
                     "step_s": round(step_s, 3), "samples_per_s": round(args.batch / step_s, 1),
                     "batch_load_s": round(load_s, 3)})
        print(json.dumps(rows[-1]), flush=True)
    ref = rows[0]["samples_per_s"]
    for r in rows:
        r["speed_vs_first"] = round(r["samples_per_s"] / ref, 2)
    print(json.dumps({"threads": torch.get_num_threads(), "batch": args.batch, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
