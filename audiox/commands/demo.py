"""``audiox demo``: run every task once and write WAVs, MP4s and spectrogram PNGs to a folder.

Uses the built-in model shipped in the package (``audiox/assets/builtin``; without it, the tiny untrained ``debug``
model, which exercises every code path but produces noise-like audio, and the command says so). Video-to-audio and
image-to-audio run on a held-out clip of the generated corpus that ships beside the model (``examples/``), the
domain the built-in model was trained on, and video-to-audio also on a real video of ``../shared/media`` when
present (outside that domain).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="demo_out", help="output folder (default: demo_out)")
    p.add_argument("--model", default=None, help="model folder (default: the built-in model)")
    p.add_argument("--video", default=None, help="extra (real) video for video-to-audio "
                   "(default: the first ../shared/media/*.mp4, if any)")
    p.add_argument("--steps", type=int, default=None, help="sampler steps (default: the model's)")
    p.add_argument("--seed", type=int, default=0)


def _find_video(explicit: str | None) -> Path | None:
    if explicit:
        return Path(explicit)
    here = Path.cwd()
    for folder in (here / ".." / "shared" / "media", here / "shared" / "media"):
        vids = sorted(folder.glob("*.mp4")) if folder.is_dir() else []
        if vids:
            return vids[0].resolve()
    return None


def _still_frame(video: Path, out: Path) -> Path:
    from PIL import Image

    from audiox.media import read_video_frames

    frame = read_video_frames(video, fps=1.0, seconds=1.0, start=2.0, size=224)[0]
    Image.fromarray(frame.permute(1, 2, 0).numpy()).save(out)
    return out


MAX_STEPS = 1000  # sampler steps


def check_args(args: argparse.Namespace) -> Path:
    """Validate every argument before the model loads or the output folder is created; returns the folder."""
    from audiox.checkpoint.locate import locate_model
    from audiox.errors import InputError
    from audiox.utils import checks

    if args.steps is not None:
        checks.integer("--steps", args.steps, lo=1, hi=MAX_STEPS)
    checks.seed("--seed", args.seed)
    model = locate_model(args.model) if args.model is not None else None
    video = checks.input_file("--video", args.video) if args.video is not None else None
    out = checks.output_folder("--out", args.out, inputs={"--model": model.folder if model else None})
    if video is not None and out.exists() and video.resolve().is_relative_to(out.resolve()):
        raise InputError(f"--video {video}: is inside --out {out}, whose files the demo overwrites; "
                         "choose another --out")
    return out


def run(args: argparse.Namespace) -> int:
    out = check_args(args)
    from audiox.media import save_spectrogram
    from audiox.pipeline import AudioXPipeline
    from audiox.pipeline.core import builtin_model_dir

    out.mkdir(parents=True, exist_ok=True)
    model_dir = args.model or builtin_model_dir()
    steps = args.steps
    if model_dir is None:
        from audiox.models.presets import build_model

        print("NOTE: no built-in model is shipped yet: using the tiny UNTRAINED debug model. Every task runs, but "
              "the audio is noise-like until a trained model is given (--model DIR).")
        pipe = AudioXPipeline(build_model("debug", seed=0), source="debug (untrained)")
        steps = steps or 8
    else:
        pipe = AudioXPipeline.from_pretrained(model_dir)
    geo = pipe.geometry
    video = _find_video(args.video)
    kw = dict(steps=steps, seed=args.seed, progress=True)
    written: list[Path] = []
    t0 = time.time()

    def emit(name: str, result, **save_kw) -> None:
        wav = result.save(out / f"{name}.wav", **save_kw)
        written.append(wav)
        written.append(save_spectrogram(out / f"{name}.png", result.audio[0], result.sample_rate))
        if save_kw.get("mux_out"):
            written.append(Path(save_kw["mux_out"]))

    examples = Path(model_dir) / "examples" if model_dir is not None else None
    t2a_text, t2m_text = "Heavy rain falls while a siren wails.", "A cheerful piano melody in C major at 120 BPM."
    t2a = pipe(t2a_text, **kw)
    emit("text_to_audio", t2a)
    t2m = pipe(t2m_text, **kw)
    emit("text_to_music", t2m)
    own_video = examples / "video.mp4" if examples is not None and (examples / "video.mp4").is_file() else None
    if own_video is not None:
        emit("video_to_audio", pipe(video=own_video, **kw), mux_video=own_video,
             mux_out=out / "video_to_audio.mp4")
        emit("image_to_audio", pipe(image=examples / "image.png", **kw))
    if video is not None and video.is_file():
        name = "video_to_audio_real" if own_video is not None else "video_to_audio"
        emit(name, pipe(video=video, **kw), mux_video=video, mux_out=out / f"{name}.mp4")
        if own_video is None:
            frame = _still_frame(video, out / "image.png")
            written.append(frame)
            emit("image_to_audio", pipe(image=frame, **kw))
    elif own_video is None:
        print("no video found (pass --video FILE): skipping video-to-audio and image-to-audio")
    clip = t2a.audio[0]
    sec = clip.shape[-1] / geo.sample_rate
    emit("inpainting", pipe(t2a_text, audio=clip, inpaint=[(sec / 3, 2 * sec / 3)], **kw))
    music = t2m.audio[0]
    emit("continuation", pipe(t2m_text, audio=music, continue_audio=True,
                              seconds=1.5 * music.shape[-1] / geo.sample_rate, **kw))
    print(f"\ndemo finished in {time.time() - t0:.1f} s with model {pipe.source or model_dir}; wrote to {out}/:")
    for p in written:
        print(f"  {p}")
    return 0
