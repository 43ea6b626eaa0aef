"""``audiox convert SRC DST``: official checkpoint <-> native format, losslessly."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("src", help="official folder (config.json + model.ckpt), native folder, or a weights file")
    p.add_argument("dst", help="output folder")
    p.add_argument("--to", choices=["native", "official"], default=None,
                   help="target layout (default: native for a .ckpt source, official otherwise)")
    p.add_argument("--dtype", choices=["fp32", "fp16", "bf16"], default=None,
                   help="cast floating tensors (default: keep the stored dtypes)")
    p.add_argument("--config", default=None, help="config.json when it is not beside the weights")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")


def run(args: argparse.Namespace) -> int:
    from audiox.checkpoint.native import convert
    from audiox.checkpoint.official import find_weights

    to = args.to
    if to is None:
        src = Path(args.src)
        weights = find_weights(src) if src.is_dir() else src
        to = "native" if weights.suffix != ".safetensors" else "official"
    path = convert(args.src, args.dst, to=to, dtype=args.dtype, config=args.config, force=args.force)
    print(f"wrote {path} ({to})")
    return 0
