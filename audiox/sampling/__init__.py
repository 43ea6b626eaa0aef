"""Sampling: noise schedules, noise sources and k-diffusion-style samplers. Never imports models.

Entry point: :func:`sample` (``sample("dpmpp-3m-sde", denoise, noise, steps=..., sigma_min=..., sigma_max=...,
generator=...)``). The pieces are pure functions usable on their own: ``get_sigmas_*`` in :mod:`.schedules`,
``sample_*`` in :mod:`.samplers`, noise sources in :mod:`.noise`.
"""

from audiox.sampling import samplers
from audiox.sampling.noise import BrownianTreeNoise, GaussianNoise, NoiseSource, StoredNoise, tree_entropy
from audiox.sampling.registry import SAMPLER_NAMES, STOCHASTIC, get_sampler, sample
from audiox.sampling.samplers import *  # noqa: F403 (the sampler functions and their contract: samplers.__all__)
from audiox.sampling.schedules import get_sigmas_karras, get_sigmas_loglinear, get_sigmas_polyexponential

__all__ = [
    "SAMPLER_NAMES",
    "STOCHASTIC",
    "BrownianTreeNoise",
    "GaussianNoise",
    "NoiseSource",
    "StoredNoise",
    "get_sampler",
    "get_sigmas_karras",
    "get_sigmas_loglinear",
    "get_sigmas_polyexponential",
    "sample",
    "tree_entropy",
    *samplers.__all__,
]
