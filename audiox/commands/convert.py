"""``audiox convert SRC DST``: official checkpoint <-> native format, losslessly; a sharded training checkpoint
(``--strategy fsdp``) -> one model file."""

from __future__ import annotations

import argparse
from pathlib import Path

from audiox.utils.dtypes import DTYPE_NAMES


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("src", help="official folder (config.json + model.ckpt), native folder, a weights file, or a "
                               "sharded checkpoint folder of `audiox train --strategy fsdp` (its EMA model)")
    p.add_argument("dst", help="output folder")
    p.add_argument("--to", choices=["native", "official"], default=None,
                   help="target layout (default: native for a .ckpt source, official otherwise)")
    p.add_argument("--dtype", choices=DTYPE_NAMES, default=None,
                   help="cast floating tensors (default: keep the stored dtypes)")
    p.add_argument("--config", default=None, help="config.json when it is not beside the weights")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    p.add_argument("--merge-lora", action="append", default=None, metavar="DIR[:SCALE]",
                   help="fold this LoRA adapter (audiox train --lora) into the weights (repeatable); the output "
                        "is a plain model (default layout: native)")


def check_args(args: argparse.Namespace) -> str:
    """Validate the source, its config and the output folder before any weights are read; returns the target."""
    from audiox.checkpoint.locate import locate_model
    from audiox.errors import InputError
    from audiox.training.sharded import check_sharded, is_sharded
    from audiox.utils import checks

    if is_sharded(args.src):  # a --strategy fsdp training checkpoint: checked (its pickles read safely) here
        check_sharded(args.src, "src")
        src = None
    else:
        src = locate_model(args.src, name="src", config=args.config, config_flag="--config")
    dst = checks.output_folder("dst", args.dst)
    if checks.same_place(dst, src.folder if src else Path(args.src)):
        raise InputError(f"dst {dst}: is the source folder; choose another output folder")
    to = args.to or ("native" if src is None or src.weights.suffix != ".safetensors" or args.merge_lora
                     else "official")
    if args.merge_lora:
        from audiox.checkpoint.lora import check_adapter_folder, parse_spec

        for value in args.merge_lora:
            check_adapter_folder(parse_spec(value, "--merge-lora").folder, "--merge-lora")
    names = ["config.json", "model.safetensors" if to == "native" else "model.ckpt"]
    clash = [n for n in names
             if (dst / n).exists() and not (n == "config.json" and src and checks.same_place(dst / n, src.config_path))]
    if clash and not args.force:
        raise InputError(f"dst {dst / clash[0]}: already exists; pass --force to overwrite")
    return to


def run(args: argparse.Namespace) -> int:
    to = check_args(args)
    from audiox.training.sharded import is_sharded

    if is_sharded(args.src):  # its model (the EMA weights) as a native folder first, beside dst
        import tempfile

        from audiox.checkpoint.native import save_native
        from audiox.training.sharded import load_sharded_model

        parent = Path(args.dst).absolute().parent
        parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".audiox-sharded-", dir=parent) as tmp:
            save_native(load_sharded_model(args.src, name="src"), tmp, force=True)
            return _convert(argparse.Namespace(**{**vars(args), "src": tmp, "config": None}), to)
    return _convert(args, to)


def _convert(args: argparse.Namespace, to: str) -> int:
    if args.merge_lora:
        from audiox.checkpoint.lora import parse_spec, write_merged

        specs = [parse_spec(v, "--merge-lora") for v in args.merge_lora]
        path = write_merged(args.src, args.dst, specs, to=to, dtype=args.dtype, config=args.config, force=args.force)
        print(f"wrote {path} ({to}, {len(specs)} LoRA adapter(s) merged)")
        return 0
    from audiox.checkpoint.native import convert

    path = convert(args.src, args.dst, to=to, dtype=args.dtype, config=args.config, force=args.force)
    print(f"wrote {path} ({to})")
    return 0
