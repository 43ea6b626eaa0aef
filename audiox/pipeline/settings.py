"""Sampler settings, the work limits of one generation, and their checks.

Everything here is cheap (no model, no media). The checks run where a
:class:`audiox.pipeline.request.GenerationRequest` is made (every front end makes one) and where a model's
defaults are read; they raise :class:`audiox.errors.RequestError`, whose message each front end words.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audiox.errors import ConfigError, InputError, RequestError, escaped, field_error
from audiox.models.diffusion import DEFAULT_CFG_SCALE
from audiox.utils import checks


@dataclass(frozen=True)
class SamplerSettings:
    """Defaults of the released model's README: dpmpp-3m-sde, CFG 7, sigma 0.3..500 (steps 100: its UI default)."""

    steps: int = 100
    cfg_scale: float = DEFAULT_CFG_SCALE
    sampler: str = "dpmpp-3m-sde"
    sigma_min: float = 0.3
    sigma_max: float = 500.0
    rho: float = 1.0
    scale_phi: float = 0.0


FEW_STEP_PRESET = {"steps": 16, "sampler": "dpmpp-2m-sde", "rho": 1.0}
"""The few-step preset (``--fast``), chosen by ``benchmarks/bench_few_step.py``; see docs/fast_inference.md."""


def few_step_settings(defaults: SamplerSettings) -> SamplerSettings:
    """A model's sampler defaults with the few-step preset's steps, sampler and schedule (its sigma range and
    guidance kept)."""
    from dataclasses import replace

    return replace(defaults, **FEW_STEP_PRESET)


@dataclass(frozen=True)
class RunOptions:
    """How a generation runs: the fast path's switches (each keeps the numbers the same or within the bounds of
    its dtype; see docs/fast_inference.md). The reference path is ``REFERENCE_RUN`` in float32.

    Attributes:
        attention: "sdpa" (fused kernels: flash / memory-efficient on GPU) or "math" (explicit float32 softmax:
            the official CPU order).
        cache_context: project the condition tokens to cross-attention k/v once per window, not at every step.
        skip_null_cross: the unconditional half of guidance skips cross-attention to the all-zero null context
            (its term is exactly zero).
        vae_chunk: latent frames the VAE decodes at a time (bounded memory for long audio); None: all at once.
        vae_conv2d: run the VAE's convolutions as 2-D channels-last ones (2-4x faster on x86 CPUs).
        compile: ``torch.compile`` the DiT (slow first call; pays off over many steps and generations).
    """

    attention: str = "sdpa"
    cache_context: bool = True
    skip_null_cross: bool = True
    vae_chunk: int | None = 96
    vae_conv2d: bool = True
    compile: bool = False

    def __post_init__(self) -> None:
        if self.attention not in ("sdpa", "math"):
            raise ConfigError(f"attention: unknown {self.attention!r}; expected 'sdpa' or 'math'")
        if self.vae_chunk is not None:
            checks.integer("vae_chunk", self.vae_chunk, lo=1)


DEFAULT_RUN = RunOptions()
"""The default run options: every switch of the fast path on (its numbers within the bounds of ``REFERENCE_RUN``)."""
REFERENCE_RUN = RunOptions(attention="math", cache_context=False, skip_null_cross=False, vae_chunk=None,
                           vae_conv2d=False)


@dataclass(frozen=True)
class Limits:
    """Upper bounds on the work of one generation call; ``None`` lifts a bound (``--no-limits``).

    Attributes:
        seconds: output length in seconds, including a clip to inpaint or continue (bounds the windows).
        steps: sampler steps per window.
        cfg_scale: guidance scale; far above any useful value the guided estimate leaves the range where
            float32 sampling stays finite.
    """

    seconds: float | None = 600.0
    steps: int | None = 1000
    cfg_scale: float | None = 100.0


DEFAULT_LIMITS = Limits()
NO_LIMITS = Limits(seconds=None, steps=None, cfg_scale=None)


SAMPLER_FIELDS = ("sampler", "steps", "cfg_scale", "sigma_min", "sigma_max", "scale_phi")
"""The sampler settings a request may give (each None there: the model's, from :class:`SamplerSettings`)."""


def check_sampling(values: Mapping[str, Any], limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """Check the sampler settings in ``values`` (any of :data:`SAMPLER_FIELDS`; None ones are left out) and,
    where both are given, sigma_min < sigma_max.

    Returns:
        The checked values (numbers as float, steps as int).

    Raises:
        RequestError: naming the first bad setting (its message words the field for each front end).
    """
    from audiox.sampling.registry import SAMPLER_NAMES

    out: dict[str, Any] = {}
    for n in SAMPLER_FIELDS:
        v = values.get(n)
        if v is None:
            continue
        try:
            if n == "sampler":
                if not isinstance(v, str) or v not in SAMPLER_NAMES:
                    raise RequestError("{0}" + escaped(f": unknown sampler {v!r}; expected one of: "
                                                       f"{', '.join(sorted(SAMPLER_NAMES))}"), n)
                out[n] = v
            elif n == "steps":
                out[n] = _within(n, checks.integer(n, v, lo=1), limits.steps)
            elif n == "cfg_scale":
                out[n] = _within(n, checks.number(n, v, lo=0, lo_open=True), limits.cfg_scale)
            else:
                out[n] = checks.number(n, v, lo=0, hi=1) if n == "scale_phi" else checks.number(n, v, lo=0,
                                                                                                 lo_open=True)
        except InputError as e:
            raise field_error(n, e) from None
    if "sigma_min" in out and "sigma_max" in out:
        check_sigmas(out["sigma_min"], out["sigma_max"])
    return out


def check_sigmas(sigma_min: float, sigma_max: float) -> None:
    """sigma_min < sigma_max (each already checked)."""
    if not sigma_min < sigma_max:
        raise RequestError("{0}/{1}" + escaped(f": need sigma_min < sigma_max, got {sigma_min}, {sigma_max}"),
                           "sigma_min", "sigma_max")


def _within(name: str, value: float, limit: float | None) -> Any:
    if limit is not None and value > limit:
        raise RequestError("{0}" + escaped(f": {value:g} is more than the limit of {limit:g}"), name,
                           lifted_by="limits")
    return value


def check_seconds(name: str, seconds: Any, limits: Limits = DEFAULT_LIMITS, *, what: str = "the output") -> float:
    """A positive finite length in seconds within ``limits.seconds``.

    Raises:
        RequestError: over the field ``name``.
    """
    try:
        v = checks.number(name, seconds, lo=0, lo_open=True)
    except InputError as e:
        raise field_error(name, e) from None
    if limits.seconds is not None and v > limits.seconds:
        raise RequestError("{0}" + escaped(f": {what} would be {v:g} s, more than the limit of "
                                           f"{limits.seconds:g} s"), name, lifted_by="limits")
    return v


def read_defaults(folder: Path) -> SamplerSettings:
    """Sampler defaults of a model folder: its optional ``generation.json`` over :class:`SamplerSettings`."""
    from audiox.checkpoint.native import GENERATION_DEFAULTS
    from audiox.config import from_dict

    p = folder / GENERATION_DEFAULTS
    if not p.is_file():
        return SamplerSettings()
    try:
        data = json.loads(p.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"{p}: not valid JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a JSON object")
    s = from_dict(SamplerSettings, data, "generation")
    try:
        check_sampling({n: getattr(s, n) for n in SAMPLER_FIELDS}, NO_LIMITS)
        checks.number("rho", s.rho, lo=0, lo_open=True)
    except InputError as e:
        raise ConfigError(f"{p}: {e}") from None
    return s
