"""``audiox preencode --model debug|PATH --data manifest.jsonl --out DIR``: run the frozen encoders once.

Writes the VAE encoder outputs of every ``sample_size`` window, the CLIP features before the temporal transformer,
the T5 hidden states and the audio-prompt VAE outputs to safetensors shards; ``audiox train --data DIR`` then
trains without running any frozen encoder.

``--packed`` writes the compact variant (:mod:`audiox.data.packed`): VAE means and int8 text tokens plus the raw
video frames as one H.264 stream, so the video encoder stays trainable; ``--parts`` rebuilds some parts only
(e.g. ``--parts audio`` after the VAE changed).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="debug", help="preset name or model folder (the model you will train)")
    p.add_argument("--data", required=True, help="manifest.jsonl")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--split", default="train", help="manifest split to encode ('all' for every entry)")
    p.add_argument("--batch-size", type=int, default=8, help="windows per encoder call")
    p.add_argument("--shard-items", type=int, default=256, help="windows per shard file")
    p.add_argument("--dtype", choices=["fp32", "fp16", "bf16"], default="fp32",
                   help="storage dtype of the CLIP and T5 features (VAE outputs stay float32)")
    p.add_argument("--device", default="cpu", help="torch device for the encoders (cpu, cuda, cuda:1)")
    p.add_argument("--init-seed", type=int, default=0, help="weight-init seed for a preset --model")
    p.add_argument("--t5-path", default=None, help="local T5 folder for models with an external text encoder")
    p.add_argument("--force", action="store_true", help="write into a non-empty folder")
    p.add_argument("--vae", default=None, help="VAE weights from `audiox train-vae` to install in --model")
    p.add_argument("--packed", action="store_true",
                   help="compact folder: encoded audio and text, raw video frames (for a trainable video encoder)")
    p.add_argument("--parts", default="video,text,audio", help="with --packed: parts to (re)write")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")


def run(args: argparse.Namespace) -> int:
    from audiox.commands.train import load_model_spec
    from audiox.training.preencode import preencode

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    model = load_model_spec(args.model, seed=args.init_seed, t5_path=args.t5_path, vae=args.vae).to(args.device)
    if Path(args.data).is_dir():
        args.data = str(Path(args.data) / "manifest.jsonl")
    if args.packed:
        from audiox.data.packed import pack

        parts = tuple(p.strip() for p in args.parts.split(",") if p.strip())
        summary = pack(model, args.data, args.out, split=None if args.split == "all" else args.split, parts=parts,
                       batch_size=args.batch_size, progress=True)
        print(json.dumps(summary))
        return 0
    summary = preencode(model, args.data, args.out, split=None if args.split == "all" else args.split,
                        batch_size=args.batch_size, shard_items=args.shard_items, dtype=args.dtype, force=args.force,
                        progress=True)
    print(json.dumps({k: (len(v) if k == "skipped" else v) for k, v in summary.items()}))
    return 0
