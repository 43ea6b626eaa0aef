"""One generation request: what to generate and how, checked once when it is made, then handed down unchanged.

Every front end builds a :class:`GenerationRequest` with its one constructor: ``audiox generate`` (its flags and
each line of a batch file, through :mod:`audiox.pipeline.jobs`), the web page (:mod:`audiox.ui.generate`) and
the Python API (:meth:`audiox.pipeline.AudioXPipeline.__call__`, whose keyword form builds one). The constructor
checks every value (types, ranges, the work limits, which fields go together) without reading a file or a model.
A refusal is a :class:`RequestError` whose message names the fields by their Python names; each front end words
them its own way (flags, batch keys, page labels) with :meth:`RequestError.worded`.

What needs the files or the model is checked where they are read: media by the jobs' checks and the pipeline,
clip lengths against ``inpaint`` by the pipeline, the model's defaults when :meth:`GenerationRequest.resolved`
fills them in.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from audiox.errors import InputError, RequestError, escaped, field_error
from audiox.pipeline.settings import (
    DEFAULT_LIMITS,
    SAMPLER_FIELDS,
    Limits,
    SamplerSettings,
    check_sampling,
    check_seconds,
    check_sigmas,
)
from audiox.utils import checks

Wording = Callable[[str], str]
"""A front end's name of a request field (``"cfg_scale"`` -> ``"--cfg-scale"``); ``""`` leaves a hint out."""


def _field(name: str, check: Callable[[str, Any], Any], value: Any) -> Any:
    """``check(name, value)``, its :class:`InputError` ("NAME: ...") raised as a :class:`RequestError`."""
    try:
        return check(name, value)
    except InputError as e:
        raise field_error(name, e) from None


def _texts(name: str, value: Any) -> str | tuple[str, ...] | None:
    """None, one prompt, or a batch of prompts (a list or tuple, kept as a tuple)."""
    if value is None or isinstance(value, str):
        return None if value is None else _field(name, checks.text, value)
    if not isinstance(value, (list, tuple)):
        raise RequestError("{0}" + escaped(f": expected a string, got {type(value).__name__}"), name)
    return tuple(_field(name, checks.text, "" if v is None else v) for v in value)


@dataclass(frozen=True)
class GenerationRequest:
    """One generation, every value checked by the constructor (see the module help).

    Attributes:
        text: the prompt, or a list of prompts (a batch). None: with a video or image, the official video prompt
            ("Generate general audio for the video", or "... music ..." with ``music``).
        negative_text: what to steer away from (replaces the text of the unconditional branch), or a list.
        video: a video path or frames (T, 3, S, S) 0..255, or a list of them (a batch).
        image: an image path or frames (3, S, S), or a list of them.
        audio: an audio path or (C, L) tensor at the model rate: the audio prompt, and the clip to inpaint or
            continue.
        video_start: start time in the video, seconds.
        inpaint: time ranges (seconds) of ``audio`` to regenerate: ``"2-4.5"`` strings or (start, end) pairs,
            kept sorted and merged as pairs; the rest of the clip is kept.
        continue_audio: extend ``audio``: its samples are kept and the rest up to ``seconds`` is generated.
        music: ask for music where the video prompt is used.
        seconds: output length (None: one model window; the clip for inpainting; the clip and half a window for
            continuation).
        steps, cfg_scale, sampler, sigma_min, sigma_max, scale_phi: sampler settings (None: the model's).
        seed: 0 .. 2**64 - 1 (:data:`audiox.utils.seeds.SEED_MAX`); None: a fresh one, drawn and recorded when
            the request is resolved.
        limits: bounds on steps, guidance and output length (``settings.NO_LIMITS`` lifts them).
        progress: show progress bars.
    """

    text: str | tuple[str, ...] | None = None
    negative_text: str | tuple[str, ...] | None = None
    video: Any = None
    image: Any = None
    audio: Any = None
    video_start: float = 0.0
    inpaint: tuple[tuple[float, float], ...] = ()
    continue_audio: bool = False
    music: bool = False
    seconds: float | None = None
    steps: int | None = None
    cfg_scale: float | None = None
    sampler: str | None = None
    sigma_min: float | None = None
    sigma_max: float | None = None
    scale_phi: float | None = None
    seed: int | None = None
    limits: Limits = DEFAULT_LIMITS
    progress: bool = False

    def __post_init__(self) -> None:
        from audiox.pipeline.inputs import parse_ranges

        def put(name: str, value: Any) -> None:
            object.__setattr__(self, name, value)

        put("text", _texts("text", self.text))
        put("negative_text", _texts("negative_text", self.negative_text))
        for name in ("video", "image", "audio"):
            if isinstance(getattr(self, name), list):
                put(name, tuple(getattr(self, name)))
        for name in ("continue_audio", "music", "progress"):
            if not isinstance(getattr(self, name), bool):
                raise RequestError("{0}" + escaped(f": expected true or false, got {getattr(self, name)!r}"), name)
        if not isinstance(self.limits, Limits):
            raise RequestError("{0}" + escaped(f": expected a Limits, got {type(self.limits).__name__}"), "limits")
        put("video_start", _field("video_start", lambda n, v: checks.number(n, v, lo=0), self.video_start))
        put("inpaint", tuple(_field("inpaint", lambda n, v: parse_ranges(v or None, name=n), self.inpaint)))
        if self.seconds is not None:
            put("seconds", check_seconds("seconds", self.seconds, self.limits))
        if self.seed is not None:
            put("seed", _field("seed", checks.seed, self.seed))
        for name, value in check_sampling({n: getattr(self, n) for n in SAMPLER_FIELDS}, self.limits).items():
            put(name, value)
        _check_combinations(self)

    def resolved(self, defaults: SamplerSettings) -> GenerationRequest:
        """This request with the model's sampler ``defaults`` in place of its None settings, and a fresh seed
        (:func:`audiox.utils.seeds.fresh_seed`) if it has none: what the output's sidecar records.

        A default beyond :attr:`limits` is refused here, and sigma_min < sigma_max is checked once both are known;
        the request's own values were checked when it was made.

        Args:
            defaults: the model's sampler settings (checked when they were read).
        """
        from audiox.utils.seeds import fresh_seed

        filled = {n: getattr(defaults, n) for n in SAMPLER_FIELDS if getattr(self, n) is None}
        check_sampling(filled, self.limits)
        out = copy.copy(self)  # the checked values stay as they are: no second check
        for name, value in {**filled, "seed": fresh_seed() if self.seed is None else self.seed}.items():
            object.__setattr__(out, name, value)
        check_sigmas(out.sigma_min, out.sigma_max)
        return out


def _check_combinations(r: GenerationRequest) -> None:
    """The fields that go together: one of video and image, a clip for inpainting or continuation, one batch size."""
    if r.video is not None and r.image is not None:
        raise RequestError("give either {0} or {1}, not both", "video", "image")
    if (r.inpaint or r.continue_audio) and r.audio is None:
        raise RequestError("{0} / {1} need {2}", "inpaint", "continue_audio", "audio")
    if r.inpaint and r.continue_audio:
        raise RequestError("choose {0} or {1}, not both", "inpaint", "continue_audio")
    sizes = {len(v) for v in (r.text, r.video, r.image, r.audio) if isinstance(v, tuple)}
    if len(sizes) > 1:
        raise RequestError(f"batched inputs disagree on the batch size: {sorted(sizes)}")
    n = sizes.pop() if sizes else 1
    if isinstance(r.negative_text, tuple) and len(r.negative_text) != n:
        raise RequestError("{0}" + f": got {len(r.negative_text)} items for a batch of {n}", "negative_text")
