"""``audiox demo``: run every task once and write WAVs, MP4s and spectrogram PNGs to a folder.

Uses the built-in model shipped in the package (``audiox/assets/builtin``; without it, the tiny untrained ``debug``
model, which exercises every code path but produces noise-like audio, and the command says so). The tasks and
their inputs are those of :func:`audiox.demo.run_demo`: video-to-audio and image-to-audio run on the held-out clip
of the generated corpus that ships beside the model (``examples/``), and video-to-audio also on ``--video``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    p.add_argument("--model", default=None, help="model folder (default: the built-in model)")
    p.add_argument("--video", default=None, help="another (real) video for video-to-audio")
    p.add_argument("--steps", type=int, default=None, help="sampler steps (default: the model's)")
    p.add_argument("--seed", type=int, default=0)


MAX_STEPS = 1000  # sampler steps


def check_args(args: argparse.Namespace) -> Path:
    """Validate every argument and input before the model loads or the output folder is created; returns the folder.

    The videos must decode and be copyable into an MP4, and every file the demo writes
    (:func:`audiox.demo.planned_files`) must be writable, not an input, and outside the model folder.
    """
    from audiox.checkpoint.locate import locate_model
    from audiox.demo import check_inputs, planned_files
    from audiox.errors import InputError
    from audiox.pipeline.source import BUILTIN_DIR, builtin_model_dir
    from audiox.utils import checks

    if args.steps is not None:
        checks.integer("--steps", args.steps, lo=1, hi=MAX_STEPS)
    checks.seed("--seed", args.seed)
    model = locate_model(args.model) if args.model is not None else None
    video = checks.input_file("--video", args.video) if args.video is not None else None
    model_dir = model.folder if model is not None else builtin_model_dir()
    out = checks.output_folder("--out", args.out, inputs={"--model": model_dir})
    if video is not None and out.exists() and video.resolve().is_relative_to(out.resolve()):
        raise InputError(f"--video {video}: is inside --out {out}, whose files the demo overwrites; "
                         "choose another --out")
    examples = Path(model_dir) / "examples" if model_dir is not None else None
    has_clip = check_inputs(examples, video)
    folders = {"model": model_dir, "built-in model": BUILTIN_DIR}
    for f in planned_files(out, example_clip=has_clip, video=video is not None):
        checks.output_file("--out", f, create_folder=True, inputs=[video], folders=folders)
    return out


def run(args: argparse.Namespace) -> int:
    out = check_args(args)
    from audiox.demo import run_demo
    from audiox.pipeline import AudioXPipeline
    from audiox.pipeline.core import builtin_model_dir

    model_dir = args.model or builtin_model_dir()
    steps = args.steps
    if model_dir is None:
        from audiox.models.presets import build_model

        print("NOTE: no built-in model is shipped yet: using the tiny UNTRAINED debug model. Every task runs, but "
              "the audio is noise-like until a trained model is given (--model DIR).")
        pipe = AudioXPipeline(build_model("debug", seed=0).eval(), source="debug (untrained)")
        steps = steps or 8
    else:
        pipe = AudioXPipeline.from_pretrained(model_dir)
    t0 = time.time()
    examples = Path(model_dir) / "examples" if model_dir is not None else None
    written = run_demo(pipe, out, examples=examples, video=args.video, steps=steps, seed=args.seed)
    from audiox.utils.checks import shown

    print(f"\ndemo finished in {time.time() - t0:.1f} s with model {shown(pipe.source or model_dir)}; wrote to "
          f"{shown(out)}/:")
    for p in written:
        print(f"  {shown(p)}")
    return 0
