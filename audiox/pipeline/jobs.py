"""Generation jobs: one from command-line flags or many from a JSONL batch, each checked in full up front.

A job is checked in two steps, both before the model loads: :func:`parse_job` checks every value's type and
range (a batch line is read as bytes and decoded strictly, and the flags are the defaults of every line), and
:func:`check_jobs` checks the file system and the media: inputs exist and decode, outputs can be written, and
the work of each job is within :class:`Limits`. No output (audio, sidecar or ``mux`` video) may be an input of
any job, the batch file, or lie inside the model folder in use (nor the built-in model's), and no two jobs
may share an output.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audiox.errors import AudioXError, InputError
from audiox.pipeline.inputs import output_samples, parse_ranges
from audiox.pipeline.settings import DEFAULT_LIMITS, Limits, check_sampling, check_seconds
from audiox.pipeline.source import BUILTIN_DIR, ModelSource
from audiox.utils import checks

JOB_KEYS = ("text", "negative", "video", "image", "audio", "inpaint", "continue", "music", "seconds", "steps",
            "cfg_scale", "sampler", "seed", "out", "mux", "video_start")
AUDIO_SUFFIXES = (".wav", ".flac")
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov")
_FLAG_NAMES = {"out": "-o/--output", "continue": "--continue"}


@dataclass
class Job:
    """One generation: inputs, settings (None: the model's default) and outputs.

    Attributes:
        where: ``""`` for command-line flags, ``"FILE:LINE"`` for a batch line (prefixes every message).
        inpaint: (start, end) ranges in seconds of ``audio`` to regenerate.
    """

    out: Path
    where: str = ""
    text: str | None = None
    negative: str | None = None
    video: Path | None = None
    image: Path | None = None
    audio: Path | None = None
    inpaint: list[tuple[float, float]] | None = None
    continue_audio: bool = False
    music: bool = False
    seconds: float | None = None
    steps: int | None = None
    cfg_scale: float | None = None
    sampler: str | None = None
    seed: int | None = None
    mux: Path | None = None
    video_start: float = 0.0

    @property
    def sidecar(self) -> Path:
        return self.out.with_suffix(".json")

    def outputs(self) -> list[Path]:
        return [self.out, self.sidecar] + ([self.mux] if self.mux else [])

    def inputs(self) -> list[Path]:
        return [p for p in (self.video, self.image, self.audio) if p is not None]

    def pipeline_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :meth:`AudioXPipeline.__call__`."""
        return dict(text=self.text, video=_str(self.video), image=_str(self.image), audio=_str(self.audio),
                    negative_text=self.negative, seconds=self.seconds, inpaint=self.inpaint,
                    continue_audio=self.continue_audio, music=self.music, video_start=self.video_start,
                    steps=self.steps, cfg_scale=self.cfg_scale, sampler=self.sampler, seed=self.seed)


def _str(p: Path | None) -> str | None:
    return None if p is None else str(p)


class _Where:
    """Names values as flags (``--cfg-scale``) or as batch keys (``jobs.jsonl:3: cfg_scale``)."""

    def __init__(self, where: str) -> None:
        self.where = where

    def name(self, key: str) -> str:
        if self.where:
            return f"{self.where}: {key}"
        return self.bare(key)

    def bare(self, key: str) -> str:
        """The key (batch) or flag, without ``FILE:LINE`` (for messages that :func:`check_jobs` prefixes)."""
        return key if self.where else _FLAG_NAMES.get(key, "--" + key.replace("_", "-"))


def parse_job(raw: dict[str, Any], *, where: str = "", out_dir: Path | None = None) -> Job:
    """Check the types and ranges of one job's values (no file system access).

    Args:
        raw: values by :data:`JOB_KEYS` name (None or absent: the default).
        where: ``"FILE:LINE"`` for a batch line, ``""`` for flags.
        out_dir: batch output folder; ``out`` and ``mux`` are then relative paths that must stay inside it.
    """
    w = _Where(where)
    unknown = sorted(set(raw) - set(JOB_KEYS))
    if unknown:
        raise InputError(f"{w.name(unknown[0])}: unknown key; expected some of {', '.join(JOB_KEYS)}")

    def opt(key: str, check: Any) -> Any:
        value = raw.get(key)
        return None if value is None else check(w.name(key), value)

    def path(key: str) -> Path | None:
        value = raw.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise InputError(f"{w.name(key)}: expected a file path, got {value!r}")
        checks.no_trailing_separator(w.name(key), checks.text(w.name(key), value), "a file name")
        return Path(value)

    def flag(key: str) -> bool:
        value = raw.get(key, False)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise InputError(f"{w.name(key)}: expected true or false, got {value!r}")
        return value

    out = path("out")
    if out is None:
        raise InputError(f"{w.name('out')}: missing output path")
    mux = path("mux")
    if out_dir is not None:
        out = checks.inside(w.name("out"), out, out_dir)
        mux = checks.inside(w.name("mux"), mux, out_dir) if mux is not None else None
    return Job(
        out=out, where=where, text=opt("text", checks.text), negative=opt("negative", checks.text),
        video=path("video"), image=path("image"), audio=path("audio"),
        inpaint=parse_ranges(raw.get("inpaint"), name=w.name("inpaint")) or None,
        continue_audio=flag("continue"), music=flag("music"),
        seconds=opt("seconds", lambda n, v: checks.number(n, v, lo=0, lo_open=True)),
        steps=opt("steps", lambda n, v: checks.integer(n, v, lo=1)),
        cfg_scale=opt("cfg_scale", lambda n, v: checks.number(n, v, lo=0, lo_open=True)),
        sampler=opt("sampler", checks.text), seed=opt("seed", checks.seed), mux=mux,
        video_start=opt("video_start", lambda n, v: checks.number(n, v, lo=0)) or 0.0,
    )


def read_batch(path: str | os.PathLike, out_dir: Path, defaults: dict[str, Any]) -> list[Job]:
    """Parse every line of a JSONL batch file; ``defaults`` (the flags) fill what a line leaves out.

    A line without ``out`` writes ``jobNNNN.wav``. Raises on the first bad line, naming ``FILE:LINE``.
    """
    from audiox.utils.jsonl import parse_jsonl

    p = checks.input_file("--batch", path)
    jobs = []
    for n, obj in parse_jsonl(p.read_bytes(), str(p), error=InputError):
        where = f"{p}:{n}"
        raw = {**defaults, **{k: v for k, v in obj.items()}}
        raw.setdefault("out", f"job{len(jobs):04d}.wav")
        jobs.append(parse_job(raw, where=where, out_dir=out_dir))
    if not jobs:
        raise InputError(f"{p}: no jobs (one JSON object per line)")
    return jobs


def check_jobs(jobs: list[Job], source: ModelSource, limits: Limits = DEFAULT_LIMITS, *,
               batch: Path | None = None, folders: Mapping[str, Path | None] | None = None) -> None:
    """Check paths, settings, media and work of every job, and that no two jobs share an output.

    Reads media (audio decoded up to the limit, video demuxed, image decoded) but writes nothing.

    Args:
        batch: the batch file the jobs come from (no output may replace it).
        folders: more ``{flag: folder}`` no output may go into (e.g. ``{"--t5-path": ...}``); the model's folder
            and the built-in model's always count.
    """
    taken: dict[Path, str] = {}
    all_inputs = {_key(p): p for job in jobs for p in job.inputs()}
    keep_out = {"model": source.weights.parent, "built-in model": BUILTIN_DIR, **(folders or {})}
    for job in jobs:
        try:
            _check_job(job, source, limits, {"--batch": batch}, keep_out)
        except AudioXError as e:
            if job.where and job.where not in str(e):  # each message names FILE:LINE once
                raise type(e)(f"{job.where}: {e}") from None
            raise
        w = _Where(job.where)
        for out in job.outputs():
            k = _key(out)
            if k in all_inputs:
                raise InputError(f"{w.name('out')} {out}: is an input file of a job; it would be overwritten")
            if k in taken:
                raise InputError(f"{w.name('out')} {out}: also written by {taken[k] or 'another output'}")
            taken[k] = job.where or str(out)


def _key(p: Path) -> Path:
    return Path(os.path.realpath(p))


def _check_job(job: Job, source: ModelSource, limits: Limits, files: Mapping[str, Path | None],
               folders: Mapping[str, Path | None]) -> None:
    w = _Where(job.where)
    d = source.defaults
    check_sampling(steps=d.steps if job.steps is None else job.steps,
                   cfg_scale=d.cfg_scale if job.cfg_scale is None else job.cfg_scale,
                   sampler=d.sampler if job.sampler is None else job.sampler, sigma_min=d.sigma_min,
                   sigma_max=d.sigma_max, scale_phi=d.scale_phi, limits=limits, name=w.name)
    if job.seconds is not None:
        check_seconds(w.name("seconds"), job.seconds, limits)
    if job.video is not None and job.image is not None:
        raise InputError("give either --video or --image, not both")
    if (job.inpaint or job.continue_audio) and job.audio is None:
        raise InputError("--inpaint / --continue need --audio")
    if job.inpaint and job.continue_audio:
        raise InputError("choose --inpaint or --continue, not both")
    if job.mux is not None and job.video is None:
        raise InputError("--mux needs --video")
    for key in ("video", "image", "audio"):
        if getattr(job, key) is not None:
            setattr(job, key, checks.input_file(w.bare(key), getattr(job, key)))
    # batch outputs may go to new sub-folders of --out-dir
    kw = dict(inputs=job.inputs(), create_folder=bool(job.where), files=files, folders=folders)
    checks.output_file(w.name("out"), job.out, suffixes=AUDIO_SUFFIXES, **kw)
    checks.output_file(f"{w.name('out')} sidecar", job.sidecar, **kw)
    if job.mux is not None:
        checks.output_file(w.name("mux"), job.mux, suffixes=VIDEO_SUFFIXES, **kw)
    _check_media(job, source, limits)


def _check_media(job: Job, source: ModelSource, limits: Limits) -> None:
    """Decode what the job reads, and bound its output length."""
    from audiox.media import load_audio, load_image_as_video

    w = _Where(job.where)
    cfg, geo = source.config, source.config.geometry
    if job.video is not None:
        from audiox.media import check_video

        info = check_video(job.video)
        if job.video_start >= info.duration:
            raise InputError(f"{w.name('video_start')}: {job.video_start:g} s is past the end of {job.video} "
                             f"({info.duration:.2f} s)")
        if job.mux is not None:
            from audiox.media import check_muxable

            check_muxable(job.video, job.mux)
    if job.image is not None:
        load_image_as_video(job.image, n_frames=1, size=8)
    keeps_clip = bool(job.inpaint) or job.continue_audio
    clip_samples = 0
    if job.audio is not None:
        # a plain audio prompt uses the clip's start only; a kept clip becomes part of the output
        cap = None if limits.seconds is None else limits.seconds + 1.0
        clip = load_audio(job.audio, sample_rate=cfg.sample_rate, channels=cfg.audio_channels,
                          duration=cap if keeps_clip else min(cap or 1e9, source.window_seconds))
        if clip.shape[-1] == 0:
            raise InputError(f"{job.audio}: the clip is empty")
        clip_samples = clip.shape[-1] if keeps_clip else 0
    if job.inpaint:
        parse_ranges(job.inpaint, clip_samples / geo.sample_rate, w.name("inpaint"))
        total = max(clip_samples / geo.sample_rate, job.seconds or 0.0)
        check_seconds(w.name("audio"), total, limits, what=f"the inpainted clip {job.audio}")
    elif job.continue_audio and job.seconds is None:
        check_seconds(w.name("seconds"), clip_samples / geo.sample_rate + geo.window_seconds / 2, limits,
                      what=f"the continuation of {job.audio}")
    output_samples(clip_samples, job.seconds, inpaint=bool(job.inpaint), continue_audio=job.continue_audio,
                   geo=geo, name=w.name)


def run_jobs(pipe: Any, jobs: list[Job], *, limits: Limits = DEFAULT_LIMITS, progress: bool = True,
             ) -> Iterator[tuple[Job, Any]]:
    """Generate and save each checked job in turn (see :func:`check_jobs`); yields (job, AudioOutput).

    Args:
        pipe: an :class:`audiox.pipeline.AudioXPipeline`.
        progress: sampler progress bars, and a bar over the jobs when there are several.
    """
    from tqdm.auto import tqdm

    for job in tqdm(jobs, desc="jobs", disable=not progress or len(jobs) == 1):
        result = pipe(**job.pipeline_kwargs(), progress=progress, limits=limits)
        result.save(job.out, mux_video=job.video if job.mux else None, mux_out=job.mux, video_start=job.video_start)
        yield job, result


def prepare_outputs(jobs: list[Job]) -> None:
    """Create the output folders (batch sub-folders) and finish or remove what a killed earlier run left there."""
    from audiox.utils.files import recover

    for folder in sorted({p.parent for job in jobs for p in job.outputs()}):
        folder.mkdir(parents=True, exist_ok=True)
        recover(folder)
