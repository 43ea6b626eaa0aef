"""Generation jobs: one from command-line flags or many from a JSONL batch, each checked in full up front.

A job is a :class:`GenerationRequest` and its outputs, checked in two steps, both before the model loads:
:func:`parse_job` makes the request, whose constructor checks every value's type and range (a batch line is read
as bytes and decoded strictly, and the flags are the defaults of every line), and :func:`check_jobs` checks the
file system and the media: inputs exist and decode, outputs can be written, and the work of each job is within
its :class:`Limits`. Messages name fields by the batch keys unless the front end passes its own wording.

No output (audio, sidecar or ``mux`` video) may be an input of
any job, the batch file, or lie inside the model folder in use (nor the built-in model's), and no two jobs
may share an output.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audiox.errors import AudioXError, InputError, RequestError, escaped, field_error
from audiox.pipeline.inputs import output_samples, parse_ranges
from audiox.pipeline.request import GenerationRequest, Wording
from audiox.pipeline.settings import DEFAULT_LIMITS, Limits, check_seconds
from audiox.pipeline.source import BUILTIN_DIR, ModelSource
from audiox.utils import checks

JOB_KEYS = ("text", "negative", "video", "image", "audio", "inpaint", "continue", "music", "seconds", "steps",
            "cfg_scale", "sampler", "seed", "out", "mux", "video_start")
AUDIO_SUFFIXES = (".wav", ".flac")
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov")
_FIELDS = {"negative": "negative_text", "continue": "continue_audio"}  # batch key -> request field, where they differ
_KEYS = {f: k for k, f in _FIELDS.items()}
MEDIA = ("video", "image", "audio")


def job_key(field: str) -> str:
    """The batch-file key of a request (or job) field: ``negative_text`` -> ``negative``; the others as they are."""
    return _KEYS.get(field, field)


@dataclass(frozen=True)
class Job:
    """One generation: its checked request and where its outputs go.

    Attributes:
        request: the :class:`GenerationRequest` (media as file paths).
        out: the audio file; its ``.json`` sidecar goes beside it.
        mux: the MP4 with the video's new soundtrack, or None.
        where: ``""`` for command-line flags, ``"FILE:LINE"`` for a batch line (prefixes every message).
    """

    request: GenerationRequest
    out: Path
    mux: Path | None = None
    where: str = ""

    @property
    def sidecar(self) -> Path:
        return self.out.with_suffix(".json")

    def outputs(self) -> list[Path]:
        return [self.out, self.sidecar] + ([self.mux] if self.mux else [])

    def inputs(self) -> list[Path]:
        return [Path(getattr(self.request, k)) for k in MEDIA if getattr(self.request, k) is not None]


def parse_job(raw: dict[str, Any], *, name: Wording = job_key, where: str = "", out_dir: Path | None = None,
              limits: Limits = DEFAULT_LIMITS, progress: bool = False) -> Job:
    """One job from values by :data:`JOB_KEYS` name (None or absent: the default): its request is made (and so
    checked) here; the output paths are checked for their form (no file system access).

    Args:
        raw: the values (flags, or a batch line over the flags).
        name: how a field is named in messages (the front end's wording; default: the batch keys).
        where: ``"FILE:LINE"`` for a batch line, ``""`` for flags.
        out_dir: batch output folder; ``out`` and ``mux`` are then relative paths that must stay inside it.
        limits: bounds on the work of the job.
        progress: the job's progress bars.

    Raises:
        InputError: naming the first bad value, worded by ``name``.
    """
    try:
        return _parse_job(raw, where, out_dir, limits, progress)
    except AudioXError as e:
        raise worded(e, name, where) from None


def _parse_job(raw: dict[str, Any], where: str, out_dir: Path | None, limits: Limits, progress: bool) -> Job:
    unknown = sorted(set(raw) - set(JOB_KEYS))
    if unknown:
        raise InputError(f"{unknown[0]}: unknown key; expected some of {', '.join(JOB_KEYS)}")

    def path(key: str) -> str | None:
        value = raw.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise RequestError("{0}" + escaped(f": expected a file path, got {value!r}"), _FIELDS.get(key, key))
        try:
            checks.no_trailing_separator(key, checks.text(key, value), "a file name")
        except InputError as e:
            raise field_error(key, e) from None
        return value

    def inside(key: str, value: str | None) -> Path | None:
        if value is None or out_dir is None:
            return None if value is None else Path(value)
        try:
            return checks.inside(key, Path(value), out_dir)
        except InputError as e:
            raise field_error(key, e) from None

    out, mux = inside("out", path("out")), inside("mux", path("mux"))
    if out is None:
        raise RequestError("{0}: missing output path", "out")
    values = {_FIELDS.get(k, k): v for k, v in raw.items() if k not in ("out", "mux") and v is not None}
    values.update({k: path(k) for k in MEDIA if k in raw})
    values["inpaint"] = values.get("inpaint") or ()
    return Job(GenerationRequest(**values, limits=limits, progress=progress), out, mux, where)


def read_batch(path: str | os.PathLike, out_dir: Path, defaults: dict[str, Any], *, name: Wording = job_key,
               limits: Limits = DEFAULT_LIMITS, progress: bool = False) -> list[Job]:
    """Parse every line of a JSONL batch file; ``defaults`` (the flags) fill what a line leaves out.

    A line without ``out`` writes ``jobNNNN.wav``. Raises on the first bad line, naming ``FILE:LINE``.

    Args:
        name: how a field is named in messages (default: the batch keys).
        limits: bounds on the work of each job.
        progress: the jobs' progress bars.
    """
    from audiox.utils.jsonl import parse_jsonl

    p = checks.input_file("--batch", path)
    jobs = []
    for n, obj in parse_jsonl(p.read_bytes(), str(p), error=InputError):
        raw = {**defaults, **{k: v for k, v in obj.items()}}
        raw.setdefault("out", f"job{len(jobs):04d}.wav")
        jobs.append(parse_job(raw, name=name, where=f"{p}:{n}", out_dir=out_dir, limits=limits,
                              progress=progress))
    if not jobs:
        raise InputError(f"{p}: no jobs (one JSON object per line)")
    return jobs


def check_jobs(jobs: list[Job], source: ModelSource, *, name: Wording = job_key, batch: Path | None = None,
               folders: Mapping[str, Path | None] | None = None, mine: list[Job] | None = None) -> None:
    """Check paths, media and the model's defaults for every job, and that no two jobs share an output.

    Reads media (audio decoded up to the limit, video demuxed, image decoded) but writes nothing. Each job's
    values were checked when its request was made (:func:`parse_job`).

    Args:
        name: how a field is named in messages (the front end's wording; default: the batch keys).
        batch: the batch file the jobs come from (no output may replace it).
        folders: more ``{flag: folder}`` no output may go into (e.g. ``{"--t5-path": ...}``); the model's folder
            and the built-in model's always count.
        mine: a rank's share of ``jobs`` (:mod:`audiox.pipeline.ranks`): only these have their paths, media and
            defaults checked (each rank checks its own); no two of all ``jobs`` may share an output all the same.
            None: every job.
    """
    taken: dict[Path, str] = {}
    all_inputs = {_key(p): p for job in jobs for p in job.inputs()}
    keep_out = {"model": source.weights.parent, "built-in model": BUILTIN_DIR, **(folders or {})}
    checked = {id(j) for j in (jobs if mine is None else mine)}
    for job in jobs:
        try:
            if id(job) in checked:
                _check_job(job, source, {"--batch": batch}, keep_out, name)
        except AudioXError as e:
            raise worded(e, name, job.where) from None
        out_name = f"{job.where}: {name('out')}" if job.where else name("out")
        for out in job.outputs():
            k = _key(out)
            if k in all_inputs:
                raise InputError(f"{out_name} {out}: is an input file of a job; it would be overwritten")
            if k in taken:
                raise InputError(f"{out_name} {out}: also written by {taken[k] or 'another output'}")
            taken[k] = job.where or str(out)


def worded(error: AudioXError, name: Wording, where: str = "") -> AudioXError:
    """``error`` with its fields named by ``name`` (a :class:`RequestError`) and ``where`` (``FILE:LINE``) in front,
    once."""
    text = error.worded(name) if isinstance(error, RequestError) else str(error)
    if where and where not in text:
        text = f"{where}: {text}"
    return (InputError if isinstance(error, RequestError) else type(error))(text)


def _key(p: Path) -> Path:
    return Path(os.path.realpath(p))


def _check_job(job: Job, source: ModelSource, files: Mapping[str, Path | None], folders: Mapping[str, Path | None],
               name: Wording) -> None:
    req = job.request
    req.resolved(source.defaults)  # the model's defaults within the request's limits
    if job.mux is not None and req.video is None:
        raise RequestError("{0} needs {1}", "mux", "video")
    for key in MEDIA:
        if getattr(req, key) is not None:
            checks.input_file(name(key), getattr(req, key))
    # batch outputs may go to new sub-folders of --out-dir
    kw = dict(inputs=job.inputs(), create_folder=bool(job.where), files=files, folders=folders)
    checks.output_file(name("out"), job.out, suffixes=AUDIO_SUFFIXES, **kw)
    checks.output_file(f"{name('out')} sidecar", job.sidecar, **kw)
    if job.mux is not None:
        checks.output_file(name("mux"), job.mux, suffixes=VIDEO_SUFFIXES, **kw)
    _check_media(job, source)


def _check_media(job: Job, source: ModelSource) -> None:
    """Decode what the job reads, and bound its output length."""
    from audiox.media import load_audio, load_image_as_video

    req, limits = job.request, job.request.limits
    cfg, geo = source.config, source.config.geometry
    if req.video is not None:
        from audiox.media import check_video

        info = check_video(req.video)
        if req.video_start >= info.duration:
            raise RequestError("{0}" + escaped(f": {req.video_start:g} s is past the end of {req.video} "
                                               f"({info.duration:.2f} s)"), "video_start")
        if job.mux is not None:
            from audiox.media import check_muxable

            check_muxable(req.video, job.mux)
    if req.image is not None:
        load_image_as_video(req.image, n_frames=1, size=8)
    keeps_clip = bool(req.inpaint) or req.continue_audio
    clip_samples = 0
    if req.audio is not None:
        # a plain audio prompt uses the clip's start only; a kept clip becomes part of the output
        cap = None if limits.seconds is None else limits.seconds + 1.0
        clip = load_audio(req.audio, sample_rate=cfg.sample_rate, channels=cfg.audio_channels,
                          duration=cap if keeps_clip else min(cap or 1e9, source.window_seconds))
        if clip.shape[-1] == 0:
            raise InputError(f"{req.audio}: the clip is empty")
        clip_samples = clip.shape[-1] if keeps_clip else 0
    try:
        if req.inpaint:
            parse_ranges(list(req.inpaint), clip_samples / geo.sample_rate)
            total = max(clip_samples / geo.sample_rate, req.seconds or 0.0)
            check_seconds("audio", total, limits, what=f"the inpainted clip {req.audio}")
        elif req.continue_audio and req.seconds is None:
            check_seconds("seconds", clip_samples / geo.sample_rate + geo.window_seconds / 2, limits,
                          what=f"the continuation of {req.audio}")
        output_samples(clip_samples, req.seconds, inpaint=bool(req.inpaint), continue_audio=req.continue_audio,
                       geo=geo)
    except RequestError:
        raise
    except InputError as e:  # "inpaint: ..." / "seconds: ..."
        raise field_error(str(e).split(":", 1)[0], e) from None


def run_jobs(pipe: Any, jobs: list[Job], *, stamps: Mapping[Path, str] | None = None,
             bar: bool = True) -> Iterator[tuple[Job, Any]]:
    """Generate and save each checked job in turn (see :func:`check_jobs`); yields (job, AudioOutput).

    Args:
        pipe: an :class:`audiox.pipeline.AudioXPipeline`.
        jobs: the jobs; a bar over them when there are several, their requests show progress and ``bar``.
        stamps: ``{job.out: stamp}`` recorded in each sidecar under ``"job"`` (:mod:`audiox.pipeline.ranks`).
    """
    from tqdm.auto import tqdm

    show = bar and len(jobs) > 1 and all(j.request.progress for j in jobs)
    for job in tqdm(jobs, desc="jobs", disable=not show):
        result = pipe(job.request)
        if stamps is not None:
            result.settings["job"] = stamps[job.out]
        result.save(job.out, mux_video=job.request.video if job.mux else None, mux_out=job.mux,
                    video_start=job.request.video_start)
        yield job, result


def prepare_outputs(jobs: list[Job], *, own_only: bool = False) -> None:
    """Create the output folders (batch sub-folders) and finish or remove what a killed earlier run left there.

    Args:
        own_only: only the leftovers of these jobs' outputs (a rank's share; other ranks may be writing beside).
    """
    from audiox.utils.files import recover

    names: dict[Path, set[str]] = {}
    for p in (p for job in jobs for p in job.outputs()):
        names.setdefault(p.parent, set()).add(p.name)
    for folder in sorted(names):
        folder.mkdir(parents=True, exist_ok=True)
        recover(folder, names[folder] if own_only else None)
