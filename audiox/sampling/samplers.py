"""All samplers, one import away: pure functions ``sample_<name>(denoise, x, sigmas, *, noise, callback, ...)``.

The contract (k-diffusion's, made explicit):

- ``denoise(x (B, C, T), sigma (B,)) -> (B, C, T)`` is the denoised estimate D(x, sigma); samplers call it with the
  step's sigma repeated over the batch.
- ``x`` is the starting sample, already multiplied by sigmas[0] (by sigma_max for dpm-fast / dpm-adaptive).
- ``callback`` gets ``{"x", "i", "sigma", "sigma_hat", "denoised"}`` once per outer step, before the update.
- Stochastic samplers take a :class:`~audiox.sampling.noise.NoiseSource` or a ``seed``; deterministic ones draw no
  random numbers. Nothing here touches the global RNG.

The math follows k-diffusion 0.1.1, the version the official AudioX code pins. The implementations live in
``samplers_karras`` (Euler, Heun, DPM-2, LMS), ``samplers_dpmpp`` (DPM-Solver++ family) and ``samplers_dpm_solver``
(DPM-Solver fast / adaptive).
"""

from audiox.sampling.samplers_common import Callback, Denoiser, ancestral_step, to_d
from audiox.sampling.samplers_dpm_solver import sample_dpm_adaptive, sample_dpm_fast
from audiox.sampling.samplers_dpmpp import (
    sample_dpmpp_2m,
    sample_dpmpp_2m_sde,
    sample_dpmpp_2s_ancestral,
    sample_dpmpp_3m_sde,
)
from audiox.sampling.samplers_karras import lms_coefficients, sample_dpm_2, sample_euler, sample_heun, sample_lms

__all__ = [
    "Callback",
    "Denoiser",
    "ancestral_step",
    "lms_coefficients",
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
    "to_d",
]
