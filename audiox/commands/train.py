"""``audiox train --config CFG.json --model debug|PATH --data DATA --out runs/NAME``: train or fine-tune AudioX.

Parses and checks the arguments, then runs :func:`audiox.training.run.train` (which documents the outputs under
``--out``). Devices and nodes come from the flags or from the torchrun / SLURM environment.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from audiox.errors import InputError
from audiox.utils import checks


def add_arguments(p: argparse.ArgumentParser) -> None:
    from audiox.commands.run_flags import add_run_arguments

    p.add_argument("--config", default=None, help="training config JSON (TrainConfig keys; default: official values)")
    p.add_argument("--model", default="debug", help="preset name (fresh weights) or model folder to fine-tune")
    p.add_argument("--data", required=True, help="manifest.jsonl, pre-encoded folder, or .tar shards (glob/brace)")
    p.add_argument("--accumulate", type=int, default=None, help="gradient accumulation batches")
    p.add_argument("--checkpoint-every", type=int, default=None, help="steps between checkpoints")
    p.add_argument("--demo-every", type=int, default=None, help="steps between demos (0 = off)")
    p.add_argument("--num-nodes", type=int, default=1, help="nodes (SLURM/torchrun set the rest)")
    p.add_argument("--strategy", default="auto",
                   help="auto, ddp, fsdp (FSDP2: the DiT sharded per block, sharded checkpoints; CPU or GPU), "
                        "deepspeed (if installed), ...")
    p.add_argument("--init-seed", type=int, default=0, help="weight-init seed for a preset --model")
    p.add_argument("--vae", default=None, help="VAE weights from `audiox train-vae` to install in --model")
    p.add_argument("--init", default=None,
                   help="model folder or weights file whose tensors of equal name and shape start --model (e.g. "
                        "the built-in model's folder, to continue it or to warm-start a new design)")
    p.add_argument("--held-out", default=None,
                   help="held-out data in --data's format for the diagnostics (config diagnostics_every)")
    p.add_argument("--bench-data", default=None,
                   help="corpus folder whose held-out entries a small SynthBench scores (config bench_every)")
    p.add_argument("--t5-path", default=None, help="local T5 folder for models with an external text encoder")
    p.add_argument("--export-official", action="store_true", help="also export the official layout at the end")
    p.add_argument("--no-export", action="store_true", help="skip the final export")
    p.add_argument("--gradient-checkpointing", action="store_true",
                   help="recompute each DiT block's activations in the backward pass (less memory, ~1/3 more time)")
    p.add_argument("--lora", type=int, default=None, metavar="RANK",
                   help="train a LoRA adapter of this rank on the DiT linears (peft) instead of the whole model; "
                        "export/lora holds it (a few MB)")
    p.add_argument("--lora-alpha", type=float, default=None, help="LoRA alpha (default: the rank; update scale "
                                                                  "alpha/rank)")
    p.add_argument("--lora-targets", default=None, metavar="NAMES",
                   help="comma-separated DiT module names or suffixes (default: to_qkv,to_out,to_q,to_kv,"
                        "ff.ff.0.proj,ff.ff.2: attention and feed-forward)")
    p.add_argument("--lora-dropout", type=float, default=None, help="dropout on the adapters' input (default 0)")
    add_run_arguments(p, notes={"lr": "the base rate of the schedule", "precision": "default: the config's"})


_OVERRIDES = {"max_steps": "max_steps", "batch_size": "batch_size", "accumulate": "accumulate_grad_batches",
              "lr": "lr", "precision": "precision", "num_workers": "num_workers", "seed": "seed",
              "checkpoint_every": "checkpoint_every", "demo_every": "demo_every", "max_minutes": "max_minutes"}


def config_from_args(args: argparse.Namespace) -> Any:
    """The TrainConfig of ``--config`` with the command-line overrides applied."""
    from audiox.training.config import TrainConfig

    cfg = TrainConfig.load(args.config) if args.config else TrainConfig()
    changes = {field: getattr(args, arg) for arg, field in _OVERRIDES.items() if getattr(args, arg) is not None}
    if args.export_official:
        changes["export_official"] = True
    if getattr(args, "gradient_checkpointing", False):
        changes["gradient_checkpointing"] = True
    for arg, field in (("lora", "lora_rank"), ("lora_alpha", "lora_alpha"), ("lora_dropout", "lora_dropout")):
        if getattr(args, arg, None) is not None:
            changes[field] = getattr(args, arg)
    if getattr(args, "lora_targets", None) is not None:
        changes["lora_targets"] = tuple(t.strip() for t in args.lora_targets.split(",") if t.strip())
    cfg = cfg.replace(**changes)
    if cfg.lora_rank and cfg.export_official:
        raise InputError("--export-official: a LoRA run exports its adapter; merge it with `audiox convert "
                         "--merge-lora`")
    return cfg


def check_args(args: argparse.Namespace) -> dict[str, Any]:
    """Validate every ``audiox train`` argument before anything loads or is written.

    Returns:
        ``cfg`` (the TrainConfig), ``accelerator``, ``devices`` and ``strategy`` as Lightning takes them.
    """
    from audiox.commands.run_flags import check_run_arguments
    from audiox.training import checks as train_checks
    from audiox.training.checks import MAX_BATCH, MAX_STEPS

    lightning = check_run_arguments(args)
    ranges = {"accumulate": (1, MAX_BATCH), "checkpoint_every": (1, MAX_STEPS), "demo_every": (0, MAX_STEPS),
              "num_nodes": (1, 4096)}
    for attr, (lo, hi) in ranges.items():
        if getattr(args, attr) is not None:
            checks.integer("--" + attr.replace("_", "-"), getattr(args, attr), lo=lo, hi=hi)
    checks.seed("--init-seed", args.init_seed)
    if args.lora is not None:
        checks.integer("--lora", args.lora, lo=1, hi=4096)
    for flag, value, lo, hi in (("--lora-alpha", args.lora_alpha, 0.0, 1e6), ("--lora-dropout", args.lora_dropout,
                                                                                0.0, 0.99)):
        if value is not None and not lo <= value <= hi:  # NaN fails too
            raise InputError(f"{flag}: expected a number in [{lo:g}, {hi:g}], got {value}")
    if args.lora is None and any(v is not None for v in (args.lora_alpha, args.lora_targets, args.lora_dropout)):
        raise InputError("--lora-alpha/--lora-targets/--lora-dropout: only used with --lora RANK")
    strategy = train_checks.check_strategy(args.strategy)
    if args.config is not None:
        checks.input_file("--config", args.config)
    cfg = config_from_args(args)
    if cfg.lora_rank:  # the DiT's module names are those of every model: check the targets on the tiny debug one
        from audiox.checkpoint.lora import check_targets
        from audiox.models.presets import build_model

        check_targets(build_model("debug").dit, cfg.lora_targets)
    model = train_checks.check_model_spec("--model", args.model)
    if args.vae is not None:
        checks.input_file("--vae", args.vae)
    init = train_checks.check_init(args.init) if args.init is not None else None
    t5 = checks.input_folder("--t5-path", args.t5_path) if args.t5_path is not None else None
    data = train_checks.check_data(args.data)
    held_out = train_checks.check_data(args.held_out, "--held-out") if args.held_out is not None else None
    bench = checks.input_folder("--bench-data", args.bench_data) if args.bench_data is not None else None
    if bench is not None and not (bench / "manifest.jsonl").is_file():
        raise InputError(f"--bench-data: {bench} has no manifest.jsonl (expected an `audiox synth build` folder)")
    inputs = {"--data": data, "--held-out": held_out, "--bench-data": bench,
              "--model": model.folder if model else None, "--t5-path": t5,
              "--init": init.folder if init else None}
    out = checks.output_folder("--out", args.out, inputs=inputs)
    train_checks.check_run_folder(out, args.resume, extra_keys=("audiox",))  # loaded safely, nothing touched yet
    cpu = lightning["accelerator"] == "cpu" or (lightning["accelerator"] == "auto" and not _cuda())
    if strategy.startswith("deepspeed") and cpu:
        raise InputError(f"--strategy {strategy}: Lightning runs DeepSpeed on CUDA GPUs only; on CPU use --strategy "
                         "fsdp")
    if strategy == "fsdp":
        from audiox.training.sharded import fsdp_strategy

        if getattr(cfg, "lora_rank", 0):
            raise InputError("--strategy fsdp: not with --lora (the adapters are small; use ddp)")
        fsdp_strategy(lightning["accelerator"], lightning["devices"], args.num_nodes)  # accelerator and devices
    return {"cfg": cfg, **lightning, "strategy": strategy}


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def run(args: argparse.Namespace) -> int:
    ok = check_args(args)
    import pytorch_lightning as pl

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    from audiox.training.callbacks import quiet_lightning
    from audiox.training.run import load_model_spec, train

    quiet_lightning(getattr(args, "verbose", False))

    cfg = ok["cfg"]
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    model = load_model_spec(args.model, seed=args.init_seed, t5_path=args.t5_path, vae=args.vae, init=args.init)
    bench = None
    if args.bench_data is not None:
        from audiox.pipeline.bench import small_synthbench

        bench = small_synthbench(args.bench_data, n=cfg.bench_items, steps=cfg.bench_steps)
    summary = train(model, args.data, args.out, cfg, accelerator=ok["accelerator"], devices=ok["devices"],
                    num_nodes=args.num_nodes, strategy=ok["strategy"], resume=args.resume,
                    progress=not args.no_progress, export=not args.no_export, held_out=args.held_out,
                    bench=bench)
    if summary["rank"] == 0:
        share = 100 * summary["trainable"] / max(summary["parameters"], 1)
        print(f"trained {summary['trainable'] / 1e6:.3f} M of {summary['parameters'] / 1e6:.1f} M parameters "
              f"({share:.3f}%)" + (f", LoRA rank {cfg.lora_rank}" if cfg.lora_rank else ""))
        print(json.dumps(summary))
    return 0
