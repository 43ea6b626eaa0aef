"""``audiox generate``: text / video / image / audio prompts -> WAV (and MP4 with the new soundtrack).

One job from flags, or many from ``--batch jobs.jsonl --out-dir DIR`` (one JSON object per line with the same
names as the flags: text, negative, video, image, audio, inpaint, continue, music, seconds, steps, cfg_scale,
sampler, seed, out, mux, video_start; the flags are the defaults of every line; ``out`` and ``mux`` are relative
to ``--out-dir``). Each output gets a ``.json`` sidecar with the settings and seed.

Every job is checked (values, paths, media, work limits) before the model loads; see
:mod:`audiox.pipeline.jobs`. Under a launcher that sets ``RANK`` and ``WORLD_SIZE`` (``torchrun``), each rank makes
its share of a batch (job ``i`` on rank ``i % WORLD_SIZE``), and ``--skip-done`` skips the jobs whose outputs are
complete with these settings, so rerunning the same command finishes a killed run; see
:mod:`audiox.pipeline.ranks`.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from audiox.errors import InputError
from audiox.utils.dtypes import DTYPE_NAMES, torch_dtype

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None,
                   help="model folder (official config.json + model.ckpt, or native; default: the built-in model)")
    p.add_argument("--t5-path", default=None, help="local Hugging Face T5 folder for official models")
    p.add_argument("--lora", action="append", default=None, metavar="DIR[:SCALE]",
                   help="LoRA adapter folder from `audiox train --lora` (export/lora), optionally scaled; repeatable")
    p.add_argument("--text", default=None, help="text prompt")
    p.add_argument("--negative", default=None, help="negative text prompt")
    p.add_argument("--video", default=None, help="video file (its frames condition the audio)")
    p.add_argument("--video-start", type=float, default=None, help="start time in the video (seconds)")
    p.add_argument("--image", default=None, help="image file (a still video)")
    p.add_argument("--audio", default=None, help="audio prompt / clip to inpaint or continue")
    p.add_argument("--inpaint", action="append", default=None, metavar="START-END",
                   help="regenerate this range of --audio in seconds (repeatable), e.g. 2.0-4.5")
    p.add_argument("--continue", dest="continue_audio", action="store_true", help="extend --audio up to --seconds")
    p.add_argument("--music", action="store_true", help="with a video/image and no text: ask for music")
    p.add_argument("--seconds", type=float, default=None, help="output length (default: one model window)")
    p.add_argument("--steps", type=int, default=None, help="sampler steps (default: the model's)")
    p.add_argument("--cfg-scale", type=float, default=None, help="classifier-free guidance scale")
    p.add_argument("--sampler", default=None, help="sampler name, e.g. dpmpp-3m-sde, k-dpm-2, euler")
    p.add_argument("--seed", type=int, default=None, help="random seed (default: a fresh one, recorded)")
    p.add_argument("-o", "--output", default=None, help="output .wav or .flac (default audiox_out.wav)")
    p.add_argument("--mux", default=None, help="also write this MP4: --video with the generated soundtrack")
    p.add_argument("--batch", default=None, help="JSONL file of jobs (see the module help)")
    p.add_argument("--out-dir", default=None, help="output folder for --batch")
    p.add_argument("--skip-done", action="store_true",
                   help="with --batch: skip the jobs whose outputs are complete and made with these settings (their "
                        "sidecars say so): rerun the same command to finish a killed run")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda if available)")
    p.add_argument("--fast", action="store_true",
                   help="the measured few-step preset (docs/fast_inference.md) and --dtype bf16 where the device has "
                        "bf16 instructions; --steps/--sampler/--dtype still override it")
    p.add_argument("--dtype", choices=DTYPE_NAMES, default=None,
                   help="DiT and video-encoder dtype (default fp32; with --fast bf16 where the device supports it)")
    p.add_argument("--vae-dtype", choices=DTYPE_NAMES, default=None,
                   help="VAE decoder dtype (default fp32; with --fast as --dtype); the encoder stays fp32")
    p.add_argument("--compile", action="store_true", help="torch.compile the DiT (slow first step; many clips)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (1 is fastest when other processes share the cores)")
    p.add_argument("--no-limits", action="store_true",
                   help="lift the bounds on work (600 s of output, 1000 steps, guidance scale 100)")


def _flags(args: argparse.Namespace) -> dict:
    """The job values given as flags (unset ones left out: they fall back to the batch line or the model)."""
    values = {"text": args.text, "negative": args.negative, "video": args.video, "image": args.image,
              "audio": args.audio, "inpaint": args.inpaint, "continue": args.continue_audio or None,
              "music": args.music or None, "seconds": args.seconds, "steps": args.steps, "cfg_scale": args.cfg_scale,
              "sampler": args.sampler, "seed": args.seed, "video_start": args.video_start}
    return {k: v for k, v in values.items() if v is not None}


_FLAGS = {"negative_text": "--negative", "continue_audio": "--continue", "out": "-o/--output",
          "limits": "--no-limits"}


def flag_name(field: str) -> str:
    """The flag of a request or job field (``cfg_scale`` -> ``--cfg-scale``): how messages name it here."""
    return _FLAGS.get(field, "--" + field.replace("_", "-"))


def batch_name(field: str) -> str:
    """The batch-file key of a field (``negative_text`` -> ``negative``); the limits are lifted by the flag."""
    from audiox.pipeline.jobs import job_key

    return "--no-limits" if field == "limits" else job_key(field)


def _lora_specs(values: list[str] | None) -> list:
    """The ``--lora DIR[:SCALE]`` adapters, each folder checked (files, config, base probe) before the model loads."""
    from audiox.checkpoint.lora import check_adapter_folder, parse_spec

    specs = [parse_spec(v, "--lora") for v in values or []]
    for spec in specs:
        check_adapter_folder(spec.folder, "--lora")
    return specs


def run(args: argparse.Namespace) -> int:
    from audiox.pipeline.jobs import check_jobs, parse_job, prepare_outputs, read_batch, run_jobs
    from audiox.pipeline.ranks import launcher_ranks, overall_bar, rank_device, share_line
    from audiox.pipeline.settings import NO_LIMITS, Limits
    from audiox.pipeline.source import inspect_model
    from audiox.utils import checks

    # 1. Everything is checked before the model loads; nothing is created before every check passed.
    threads = checks.threads(args.threads)
    device = checks.device(args.device)
    lora = _lora_specs(args.lora)
    ranks = launcher_ranks()  # RANK / WORLD_SIZE from torchrun or another launcher
    if ranks.world > 1 and not args.batch:
        raise InputError(f"environment: WORLD_SIZE={ranks.world} but one job; ranks share the jobs of --batch")
    if args.skip_done and not args.batch:
        raise InputError("--skip-done: only used with --batch")
    # several ranks: rank 0's one bar over the whole batch, no bar per job
    run_kw = dict(limits=NO_LIMITS if args.no_limits else Limits(), progress=not args.no_progress and ranks.world == 1)
    if args.batch:
        if not args.out_dir:
            raise InputError("--batch needs --out-dir")
        for flag, value in (("-o/--output", args.output), ("--mux", args.mux)):
            if value is not None:
                raise InputError(f"{flag}: not used with --batch (each line names its own 'out' and 'mux')")
        out_dir = checks.output_folder("--out-dir", args.out_dir)
        name = batch_name
        jobs = read_batch(args.batch, out_dir, _flags(args), name=name, **run_kw)
    else:
        if args.out_dir:
            raise InputError("--out-dir: only used with --batch (use -o for one output)")
        out = "audiox_out.wav" if args.output is None else args.output
        name = flag_name
        jobs = [parse_job({**_flags(args), "out": out, "mux": args.mux}, name=name, **run_kw)]
    source = inspect_model(args.model, text_encoder_path=args.t5_path)
    check_jobs(jobs, source, name=name, batch=checks.input_file("--batch", args.batch) if args.batch else None,
               folders={"--t5-path": Path(args.t5_path) if args.t5_path else None},
               mine=ranks.share(jobs) if ranks.world > 1 else None)  # each rank reads its own share's media
    # 2. Work
    if args.batch:
        from audiox.pipeline.ranks import plan

        run_values = {"model": str(source.path), "t5": args.t5_path, "dtype": args.dtype, "vae_dtype": args.vae_dtype,
                      "fast": args.fast, "lora": getattr(args, "lora", None)}
        share = plan(jobs, ranks, run_values, skip_done=args.skip_done)
        jobs = share.todo
    else:
        prepare_outputs(jobs)
    if threads:
        import torch

        torch.set_num_threads(threads)

    from audiox.pipeline import AudioXPipeline
    from audiox.pipeline.settings import RunOptions

    if args.batch and not jobs:
        _print_share(share_line(share, ranks))
        return 0
    pipe = AudioXPipeline.from_pretrained(
        source, device=rank_device(device, ranks),
        dtype=torch_dtype(args.dtype, what="--dtype") if args.dtype else None,
        vae_dtype=torch_dtype(args.vae_dtype, what="--vae-dtype") if args.vae_dtype else None,
        text_encoder_path=args.t5_path, options=RunOptions(compile=args.compile), few_step_bf16=args.fast,
        lora=[(spec.folder, spec.scale) for spec in lora])
    overall = overall_bar(share, ranks, args.no_progress) if args.batch else None
    for job, result in run_jobs(pipe, jobs, stamps=share.stamps if args.batch else None, bar=ranks.world == 1):
        print(f"wrote {checks.shown(job.out)} ({result.seconds:.2f} s, seed {result.settings['seed']})"
              + (f" and {checks.shown(job.mux)}" if job.mux else ""))
        if overall is not None:
            overall.n = share.completion.refresh()
            overall.refresh()
    if overall is not None:
        overall.close()
    if args.batch:
        _print_share(share_line(share, ranks))
    return 0


def _print_share(line: str | None) -> None:
    if line:
        print(line)
