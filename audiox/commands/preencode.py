"""``audiox preencode --model debug|PATH --data manifest.jsonl --out DIR``: run the frozen encoders once.

Writes the VAE encoder outputs of every ``sample_size`` window, the CLIP features before the temporal transformer,
the T5 hidden states and the audio-prompt VAE outputs to safetensors shards; ``audiox train --data DIR`` then
trains without running any frozen encoder.

``--packed`` writes the compact variant (:mod:`audiox.training.packed`): VAE means and int8 text tokens plus the raw
video frames as one H.264 stream, so the video encoder stays trainable; ``--parts`` rebuilds some parts only
(e.g. ``--parts audio`` after the VAE changed).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from audiox.utils.dtypes import DTYPE_NAMES

PARTS_DEFAULT = "video,text,audio"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="debug", help="preset name or model folder (the model you will train)")
    p.add_argument("--data", required=True, help="manifest.jsonl")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--split", default="train", help="manifest split to encode ('all' for every entry)")
    p.add_argument("--batch-size", type=int, default=8, help="windows per encoder call")
    p.add_argument("--shard-items", type=int, default=256, help="windows per shard file")
    p.add_argument("--dtype", choices=DTYPE_NAMES, default="fp32",
                   help="storage dtype of the CLIP and T5 features (VAE outputs stay float32)")
    p.add_argument("--device", default="cpu", help="torch device for the encoders (cpu, cuda, cuda:1)")
    p.add_argument("--init-seed", type=int, default=0, help="weight-init seed for a preset --model")
    p.add_argument("--t5-path", default=None, help="local T5 folder for models with an external text encoder")
    p.add_argument("--force", action="store_true", help="write into a non-empty folder")
    p.add_argument("--vae", default=None, help="VAE weights from `audiox train-vae` to install in --model")
    p.add_argument("--packed", action="store_true",
                   help="compact folder: encoded audio and text, raw video frames (for a trainable video encoder)")
    p.add_argument("--parts", default=PARTS_DEFAULT, help="with --packed: parts to (re)write")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")


MAX_BATCH = 4096  # windows per encoder call
MAX_SHARD_ITEMS = 1_000_000
SPLITS = ("train", "test", "all")


def check_args(args: argparse.Namespace) -> tuple[Path, Path, tuple[str, ...]]:
    """Validate every argument before the model loads or anything is written.

    Returns:
        The manifest, the output folder and the packed parts.
    """
    from audiox.errors import InputError
    from audiox.training.checks import check_model_spec, manifest_entries
    from audiox.training.packed import PARTS, is_packed
    from audiox.utils import checks

    checks.threads(args.threads)
    checks.integer("--batch-size", args.batch_size, lo=1, hi=MAX_BATCH)
    checks.integer("--shard-items", args.shard_items, lo=1, hi=MAX_SHARD_ITEMS)
    checks.seed("--init-seed", args.init_seed)
    checks.device(args.device)
    if checks.text("--split", args.split) not in SPLITS:
        raise InputError(f"--split: unknown {args.split!r}; expected one of {', '.join(SPLITS)}")
    parts = tuple(p.strip() for p in checks.text("--parts", args.parts).split(",") if p.strip())
    bad = [p for p in parts if p not in PARTS]
    if bad or not parts or len(set(parts)) != len(parts):
        raise InputError(f"--parts: expected some of {','.join(PARTS)} (each once), got {args.parts!r}")
    if not args.packed and args.parts != PARTS_DEFAULT:
        raise InputError(f"--parts {args.parts}: only with --packed")
    model = check_model_spec("--model", args.model)
    if args.vae is not None:
        checks.input_file("--vae", args.vae)
    t5 = checks.input_folder("--t5-path", args.t5_path) if args.t5_path is not None else None
    data = Path(checks.path_arg("--data", args.data))
    manifest = checks.input_file("--data", data / "manifest.jsonl" if data.is_dir() else args.data)
    manifest_entries("--data", manifest, None if args.split == "all" else args.split)
    inputs = {"--data": manifest.parent, "--model": model.folder if model else None, "--t5-path": t5}
    out = checks.output_folder("--out", args.out, inputs=inputs)
    if out.is_dir() and any(out.iterdir()) and not args.force and not (args.packed and is_packed(out)):
        raise InputError(f"--out {out}: folder is not empty; pass --force to overwrite")
    return manifest, out, parts


def run(args: argparse.Namespace) -> int:
    manifest, out, parts = check_args(args)
    from audiox.training.preencode import preencode
    from audiox.training.run import load_model_spec

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    model = load_model_spec(args.model, seed=args.init_seed, t5_path=args.t5_path, vae=args.vae).to(args.device)
    split = None if args.split == "all" else args.split
    if args.packed:
        from audiox.training.packed import pack

        summary = pack(model, manifest, out, split=split, parts=parts, batch_size=args.batch_size, progress=True)
        print(json.dumps(summary))
        return 0
    summary = preencode(model, manifest, out, split=split, batch_size=args.batch_size, shard_items=args.shard_items,
                        dtype=args.dtype, force=args.force, progress=True)
    print(json.dumps({k: (len(v) if k == "skipped" else v) for k, v in summary.items()}))
    return 0
