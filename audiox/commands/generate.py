"""``audiox generate``: text / video / image / audio prompts -> WAV (and MP4 with the new soundtrack).

One job from flags, or many from ``--batch jobs.jsonl --out-dir DIR`` (one JSON object per line with the same
names as the flags: text, negative, video, image, audio, inpaint, continue, music, seconds, steps, cfg_scale,
sampler, seed, out, mux). Each output gets a ``.json`` sidecar with the settings and seed.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from audiox.errors import InputError

log = logging.getLogger(__name__)

JOB_KEYS = {"text", "negative", "video", "image", "audio", "inpaint", "continue", "music", "seconds", "steps",
            "cfg_scale", "sampler", "seed", "out", "mux", "video_start"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None,
                   help="model folder (official config.json + model.ckpt, or native; default: the built-in model)")
    p.add_argument("--t5-path", default=None, help="local Hugging Face T5 folder for official models")
    p.add_argument("--text", default=None, help="text prompt")
    p.add_argument("--negative", default=None, help="negative text prompt")
    p.add_argument("--video", default=None, help="video file (its frames condition the audio)")
    p.add_argument("--video-start", type=float, default=0.0, help="start time in the video (seconds)")
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
    p.add_argument("-o", "--output", default="audiox_out.wav", help="output .wav or .flac")
    p.add_argument("--mux", default=None, help="also write this MP4: --video with the generated soundtrack")
    p.add_argument("--batch", default=None, help="JSONL file of jobs (see the module help)")
    p.add_argument("--out-dir", default=None, help="output folder for --batch")
    p.add_argument("--device", default=None, help="cpu, cuda, ... (default: cuda if available)")
    p.add_argument("--dtype", choices=["fp32", "bf16", "fp16"], default=None, help="DiT dtype (default fp32)")
    p.add_argument("--no-progress", action="store_true", help="hide progress bars")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads (1 is fastest when other processes share the cores)")


def _dtype(name: str | None):
    import torch

    return {None: None, "fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


def read_jobs(path: str, out_dir: Path) -> list[dict[str, Any]]:
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: batch file not found")
    jobs = []
    for n, line in enumerate(p.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            job = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(f"{p}:{n}: not valid JSON ({e.msg})") from None
        if not isinstance(job, dict):
            raise InputError(f"{p}:{n}: expected a JSON object")
        bad = sorted(set(job) - JOB_KEYS)
        if bad:
            raise InputError(f"{p}:{n}: unknown key {bad[0]!r}; expected some of {', '.join(sorted(JOB_KEYS))}")
        job.setdefault("out", f"job{len(jobs):04d}.wav")
        job["out"] = str(out_dir / job["out"])
        if job.get("mux"):
            job["mux"] = str(out_dir / job["mux"])
        jobs.append(job)
    if not jobs:
        raise InputError(f"{p}: no jobs")
    return jobs


def _check_job(job: dict[str, Any]) -> None:
    out = Path(job["out"])
    if out.suffix.lower() not in (".wav", ".flac"):
        raise InputError(f"output {out}: must end in .wav or .flac")
    if job.get("mux") and not job.get("video"):
        raise InputError("--mux needs --video")
    if job.get("mux") and Path(job["mux"]).suffix.lower() not in (".mp4", ".m4v", ".mov"):
        raise InputError(f"--mux {job['mux']}: must end in .mp4")
    for key in ("video", "image", "audio"):
        if job.get(key) and not Path(job[key]).is_file():
            from audiox.errors import MediaError

            raise MediaError(f"{job[key]}: {key} file not found")


def run(args: argparse.Namespace) -> int:
    from audiox.pipeline import AudioXPipeline

    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    if args.batch:
        if not args.out_dir:
            raise InputError("--batch needs --out-dir")
        jobs = read_jobs(args.batch, Path(args.out_dir))
        Path(args.out_dir).mkdir(parents=True, exist_ok=True)
        flags = {"steps": args.steps, "cfg_scale": args.cfg_scale, "sampler": args.sampler, "seconds": args.seconds,
                 "negative": args.negative, "music": args.music}
        jobs = [{**{k: v for k, v in flags.items() if v is not None}, **job} for job in jobs]  # flags = defaults
    else:
        jobs = [{"text": args.text, "negative": args.negative, "video": args.video, "image": args.image,
                 "audio": args.audio, "inpaint": args.inpaint, "continue": args.continue_audio, "music": args.music,
                 "seconds": args.seconds, "steps": args.steps, "cfg_scale": args.cfg_scale, "sampler": args.sampler,
                 "seed": args.seed, "out": args.output, "mux": args.mux, "video_start": args.video_start}]
    for job in jobs:  # fail fast, before loading the model
        _check_job(job)
    pipe = AudioXPipeline.from_pretrained(args.model, device=args.device, dtype=_dtype(args.dtype),
                                          text_encoder_path=args.t5_path)
    from tqdm.auto import tqdm

    for job in tqdm(jobs, desc="jobs", disable=args.no_progress or len(jobs) == 1):
        result = pipe(job.get("text"), video=job.get("video"), image=job.get("image"), audio=job.get("audio"),
                      negative_text=job.get("negative"), seconds=job.get("seconds"), inpaint=job.get("inpaint"),
                      continue_audio=bool(job.get("continue")), music=bool(job.get("music")),
                      video_start=float(job.get("video_start") or 0.0), steps=job.get("steps"),
                      cfg_scale=job.get("cfg_scale"), sampler=job.get("sampler"), seed=job.get("seed"),
                      progress=not args.no_progress)
        out = result.save(job["out"], mux_video=job.get("video") if job.get("mux") else None, mux_out=job.get("mux"),
                          video_start=float(job.get("video_start") or 0.0))
        print(f"wrote {out} ({result.seconds:.2f} s, seed {result.settings['seed']})"
              + (f" and {job['mux']}" if job.get("mux") else ""))
    return 0
