"""Sampling: noise schedules, noise sources and k-diffusion-style samplers. Never imports models.

Entry point: :func:`sample` (``sample("dpmpp-3m-sde", denoise, noise, steps=..., sigma_min=..., sigma_max=...,
seed=...)``). The pieces are pure functions usable on their own: ``get_sigmas_*`` in :mod:`.schedules`,
``sample_*`` in :mod:`.samplers`, noise sources in :mod:`.noise`.
"""

from audiox.sampling.noise import BrownianTreeNoise, GaussianNoise, NoiseSource, StoredNoise, draw_tree_seed
from audiox.sampling.registry import SAMPLER_NAMES, STOCHASTIC, get_sampler, sample
from audiox.sampling.samplers import (
    Callback,
    Denoiser,
    sample_dpm_2,
    sample_dpm_adaptive,
    sample_dpm_fast,
    sample_dpmpp_2m,
    sample_dpmpp_2m_sde,
    sample_dpmpp_2s_ancestral,
    sample_dpmpp_3m_sde,
    sample_euler,
    sample_heun,
    sample_lms,
)
from audiox.sampling.schedules import get_sigmas_karras, get_sigmas_loglinear, get_sigmas_polyexponential

__all__ = [
    "SAMPLER_NAMES",
    "STOCHASTIC",
    "BrownianTreeNoise",
    "Callback",
    "Denoiser",
    "draw_tree_seed",
    "GaussianNoise",
    "NoiseSource",
    "StoredNoise",
    "get_sampler",
    "get_sigmas_karras",
    "get_sigmas_loglinear",
    "get_sigmas_polyexponential",
    "sample",
    "sample_dpm_2",
    "sample_dpm_adaptive",
    "sample_dpm_fast",
    "sample_dpmpp_2m",
    "sample_dpmpp_2m_sde",
    "sample_dpmpp_2s_ancestral",
    "sample_dpmpp_3m_sde",
    "sample_euler",
    "sample_heun",
    "sample_lms",
]
