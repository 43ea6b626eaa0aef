"""Sampler names (official ``sampler_type`` strings and our short names) and the one entry point :func:`sample`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import torch
from torch import Tensor

from audiox.errors import InputError
from audiox.sampling import samplers
from audiox.sampling.noise import GaussianNoise, NoiseSource, tree_entropy
from audiox.sampling.samplers import Callback, Denoiser
from audiox.sampling.schedules import get_sigmas_karras, get_sigmas_polyexponential

SAMPLER_NAMES: dict[str, Callable[..., Tensor]] = {
    # official AudioX / stable-audio-tools ``sampler_type`` strings (spec 5.2)
    "k-heun": samplers.sample_heun,
    "k-lms": samplers.sample_lms,
    "k-dpmpp-2s-ancestral": samplers.sample_dpmpp_2s_ancestral,
    "k-dpm-2": samplers.sample_dpm_2,
    "k-dpm-fast": samplers.sample_dpm_fast,
    "k-dpm-adaptive": samplers.sample_dpm_adaptive,
    "dpmpp-2m-sde": samplers.sample_dpmpp_2m_sde,
    "dpmpp-3m-sde": samplers.sample_dpmpp_3m_sde,
    # short names
    "euler": samplers.sample_euler,
    "heun": samplers.sample_heun,
    "dpm-2": samplers.sample_dpm_2,
    "lms": samplers.sample_lms,
    "dpmpp-2s-ancestral": samplers.sample_dpmpp_2s_ancestral,
    "dpmpp-2m": samplers.sample_dpmpp_2m,
    "dpm-fast": samplers.sample_dpm_fast,
    "dpm-adaptive": samplers.sample_dpm_adaptive,
}
"""Name -> sampler function. Official and short names for the same algorithm map to the same function."""

STOCHASTIC = frozenset({samplers.sample_dpmpp_2s_ancestral, samplers.sample_dpmpp_2m_sde, samplers.sample_dpmpp_3m_sde})
"""Samplers that need ``noise`` or ``seed`` with their default arguments (the others draw no random numbers)."""

SCHEDULES = ("polyexponential", "karras")


def get_sampler(name: str) -> Callable[..., Tensor]:
    """The sampler function for ``name``; :class:`InputError` listing the choices when it is unknown."""
    if name not in SAMPLER_NAMES:
        raise InputError(f"unknown sampler {name!r}; expected one of: {', '.join(SAMPLER_NAMES)}")
    return SAMPLER_NAMES[name]


def sample(
    name: str,
    denoise: Denoiser,
    noise_init: Tensor,
    *,
    steps: int,
    sigma_min: float,
    sigma_max: float,
    rho: float = 1.0,
    schedule: Literal["polyexponential", "karras"] = "polyexponential",
    noise: NoiseSource | None = None,
    seed: int | Sequence[int] | None = None,
    generator: torch.Generator | None = None,
    callback: Callback | None = None,
    progress: bool = False,
) -> Tensor:
    """Build the schedule, scale the initial noise and run the named sampler (the official ``sample_k`` flow).

    Sigmas are ``get_sigmas_<schedule>(steps, sigma_min, sigma_max, rho)`` (zero appended) and the start is
    ``noise_init * sigmas[0]`` (sigma_max rounded to float32), for every sampler as in the official code.
    ``k-dpm-fast`` / ``dpm-fast`` then spend exactly ``steps`` denoiser calls between sigma_max and sigma_min, and
    ``k-dpm-adaptive`` / ``dpm-adaptive`` choose their own steps (rtol = atol = 0.01, as the official code).

    Args:
        name: a key of :data:`SAMPLER_NAMES`, e.g. ``'dpmpp-3m-sde'`` (the official default).
        denoise: ``D(x (B, C, T), sigma (B,)) -> (B, C, T)``.
        noise_init: (B, C, T) standard normal starting noise.
        steps: number of sampling steps (>= 1); for dpm-adaptive it is unused but still validated.
        sigma_min: smallest non-zero sigma, > 0.
        sigma_max: largest sigma, > sigma_min.
        rho: schedule exponent (1 = log-linear for polyexponential, the official setting). With ``'karras'`` pass
            rho explicitly (7 in the paper): rho = 1 there means linear in sigma.
        schedule: ``'polyexponential'`` (official) or ``'karras'``.
        noise: noise source for stochastic samplers; ignored by deterministic ones.
        seed: seed for the stochastic samplers' default noise (Brownian tree for the SDE samplers, Gaussian for
            2S-ancestral); one of ``noise`` / ``seed`` / ``generator`` is required for them.
        generator: the generation's RNG, instead of ``seed``: 2S-ancestral draws its Gaussian noise from it, the SDE
            samplers' Brownian tree takes its entropy from it (:func:`audiox.sampling.noise.tree_entropy`, one draw,
            made only by those samplers).
        callback: per-step callback, see :mod:`audiox.sampling.samplers`.
        progress: show a tqdm bar.

    Returns:
        (B, C, T) final sample.
    """
    fn = get_sampler(name)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise InputError(f"steps must be an integer >= 1, got {steps!r}")
    if not sigma_min > 0:
        raise InputError(f"sigma_min must be > 0, got {sigma_min}")
    if not sigma_max > sigma_min:
        raise InputError(f"sigma_max must be > sigma_min, got sigma_max={sigma_max}, sigma_min={sigma_min}")
    if not rho > 0:
        raise InputError(f"rho must be > 0, got {rho}")
    if schedule not in SCHEDULES:
        raise InputError(f"schedule: unknown {schedule!r}; expected one of: {', '.join(SCHEDULES)}")

    if generator is not None and (noise is not None or seed is not None):
        raise InputError("give one of noise, seed and generator")

    make = get_sigmas_karras if schedule == "karras" else get_sigmas_polyexponential
    sigmas = make(steps, sigma_min, sigma_max, rho, device=noise_init.device)
    x = noise_init * sigmas[0]  # as the official sample_k, for every sampler (sigmas[0] is sigma_max in float32)
    if generator is not None and fn in STOCHASTIC:
        noise = GaussianNoise(x, generator) if fn is samplers.sample_dpmpp_2s_ancestral else None
        seed = None if noise is not None else tree_entropy(generator)  # the samplers build the tree over sigmas
    kwargs: dict[str, Any] = {"noise": noise, "seed": seed, "callback": callback, "progress": progress}
    if fn is samplers.sample_dpm_fast:
        return fn(denoise, x, sigma_min, sigma_max, steps, **kwargs)
    if fn is samplers.sample_dpm_adaptive:
        return fn(denoise, x, sigma_min, sigma_max, **kwargs)
    return fn(denoise, x, sigmas, **kwargs)
