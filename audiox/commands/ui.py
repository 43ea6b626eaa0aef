"""``audiox ui``: serve the web page (every task, with a bounded request queue) on this machine.

Every argument is checked, and the port is tried, before the model loads or Gradio is imported.
"""

from __future__ import annotations

import argparse

MAX_QUEUE = 1000  # waiting requests
MAX_CONCURRENCY = 64  # generations at once


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None,
                   help="model folder (official config.json + model.ckpt, or native; default: the built-in model)")
    p.add_argument("--t5-path", default=None, help="local Hugging Face T5 folder for official models")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only; ::1 for IPv6; 0.0.0.0 or :: "
                        "opens it to the network)")
    p.add_argument("--port", type=int, default=7860, help="TCP port (default 7860)")
    p.add_argument("--max-queue", type=int, default=16,
                   help="requests that may wait; more are refused with 'Queue is full' (default 16)")
    p.add_argument("--concurrency", type=int, default=1, help="generations that run at once (default 1)")
    p.add_argument("--lora", action="append", default=None, metavar="DIR[:SCALE]",
                   help="LoRA adapter folder from `audiox train --lora`, optionally scaled (repeatable); the page "
                        "names it")
    p.add_argument("--fast", action="store_true",
                   help="the few-step sampler preset and bf16 where the CPU/GPU supports it (docs/fast_inference.md)")


def check_args(args: argparse.Namespace):
    """Validate every argument; returns the model source (read without loading weights) and the checked address."""
    from audiox.pipeline.source import inspect_model
    from audiox.ui.address import check_listen, parse_host
    from audiox.utils import checks

    checks.integer("--port", args.port, lo=1, hi=65535)
    checks.integer("--max-queue", args.max_queue, lo=1, hi=MAX_QUEUE)
    checks.integer("--concurrency", args.concurrency, lo=1, hi=MAX_CONCURRENCY)
    parse_host(checks.text("--host", args.host))
    if args.t5_path is not None:
        checks.input_folder("--t5-path", args.t5_path)
    from audiox.commands.generate import _lora_specs

    args.lora_specs = _lora_specs(args.lora)
    source = inspect_model(args.model, text_encoder_path=args.t5_path)
    return source, check_listen(args.host, args.port)


def run(args: argparse.Namespace) -> int:
    source, address = check_args(args)
    from audiox.pipeline import AudioXPipeline
    from audiox.ui.server import serve

    pipe = AudioXPipeline.from_pretrained(source, text_encoder_path=args.t5_path, few_step_bf16=args.fast,
                                          lora=[(s.folder, s.scale) for s in args.lora_specs])
    from audiox.ui.app import example_folders

    print(f"serving {source.path} on {address.url} (queue {args.max_queue}, {args.concurrency} at once); "
          "Ctrl-C stops it")
    serve(pipe, host=address.host, port=address.port, max_queue=args.max_queue, concurrency=args.concurrency,
          source=source, examples=example_folders(source.weights.parent))
    return 0
