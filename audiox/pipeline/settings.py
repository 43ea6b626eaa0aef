"""Sampler settings, the work limits of one generation, and their checks (shared by the API and the CLI).

Everything here is cheap (no model, no media): the CLI runs these checks for every job before a model loads,
and :class:`audiox.pipeline.AudioXPipeline` runs them again for callers of the Python API.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audiox.errors import ConfigError, InputError
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


FAST_PRESET = {"steps": 16, "sampler": "dpmpp-2m-sde", "rho": 1.0}
"""The few-step preset (``--fast``), chosen by ``benchmarks/bench_few_step.py``; see docs/fast_inference.md."""


def fast_settings(defaults: SamplerSettings) -> SamplerSettings:
    """A model's sampler defaults with the few-step preset's steps, sampler and schedule (its sigma range and
    guidance kept)."""
    from dataclasses import replace

    return replace(defaults, **FAST_PRESET)


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


FAST_RUN = RunOptions()
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


def check_sampling(*, steps: Any, cfg_scale: Any, sampler: Any, sigma_min: Any, sigma_max: Any, scale_phi: Any,
                   limits: Limits = DEFAULT_LIMITS, name: Callable[[str], str] = str) -> None:
    """Raise :class:`InputError` naming the first bad sampler setting.

    Args:
        name: how a setting is called in messages (the CLI passes flag names, e.g. ``--cfg-scale``).
    """
    from audiox.sampling.registry import SAMPLER_NAMES

    if not isinstance(sampler, str) or sampler not in SAMPLER_NAMES:
        raise InputError(f"{name('sampler')}: unknown sampler {sampler!r}; expected one of: "
                         f"{', '.join(sorted(SAMPLER_NAMES))}")
    _within(name("steps"), checks.integer(name("steps"), steps, lo=1), limits.steps)
    _within(name("cfg_scale"), checks.number(name("cfg_scale"), cfg_scale, lo=0, lo_open=True), limits.cfg_scale)
    lo = checks.number(name("sigma_min"), sigma_min, lo=0, lo_open=True)
    hi = checks.number(name("sigma_max"), sigma_max, lo=0, lo_open=True)
    if not lo < hi:
        raise InputError(f"sigma_min/sigma_max: need sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
    checks.number(name("scale_phi"), scale_phi, lo=0, hi=1)


def _within(name: str, value: float, limit: float | None) -> None:
    if limit is not None and value > limit:
        raise InputError(f"{name}: {value:g} is more than the limit of {limit:g} (--no-limits lifts it)")


def check_seconds(name: str, seconds: Any, limits: Limits = DEFAULT_LIMITS, *, what: str = "the output") -> float:
    """A positive finite length in seconds within ``limits.seconds``."""
    v = checks.number(name, seconds, lo=0, lo_open=True)
    if limits.seconds is not None and v > limits.seconds:
        raise InputError(f"{name}: {what} would be {v:g} s, more than the limit of {limits.seconds:g} s "
                         "(--no-limits lifts it)")
    return v


def read_defaults(folder: Path) -> SamplerSettings:
    """Sampler defaults of a model folder: its optional ``generation.json`` over :class:`SamplerSettings`."""
    from audiox.config import from_dict

    p = folder / "generation.json"
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
        check_sampling(steps=s.steps, cfg_scale=s.cfg_scale, sampler=s.sampler, sigma_min=s.sigma_min,
                       sigma_max=s.sigma_max, scale_phi=s.scale_phi, limits=NO_LIMITS)
        checks.number("rho", s.rho, lo=0, lo_open=True)
    except InputError as e:
        raise ConfigError(f"{p}: {e}") from None
    return s
