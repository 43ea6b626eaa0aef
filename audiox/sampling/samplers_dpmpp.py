"""DPM-Solver++ samplers (Lu et al. 2022, arXiv:2211.01095) in k-diffusion 0.1.1's formulation.

Time is t = -ln sigma (half-log-SNR for sigma_data-free VE form) and h = t_{i+1} - t_i. The multistep SDE variants
(2M SDE, 3M SDE) are the official AudioX defaults; they return the denoised estimate on a final step to sigma = 0
and inject no noise on it.

Randomness: the stochastic samplers take ``noise`` (any :class:`~audiox.sampling.noise.NoiseSource`) or, when it is
None, a ``seed``: 2S-ancestral then draws fresh Gaussian noise from a generator seeded with it, the SDE samplers build
a :class:`~audiox.sampling.noise.BrownianTreeNoise` over [min positive sigma, max sigma] (as k-diffusion does).
With eta = 0 none of them draws random numbers and neither is required.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from audiox.errors import InputError
from audiox.sampling.noise import NoiseSource
from audiox.sampling.samplers_common import (
    Callback,
    Denoiser,
    ancestral_step,
    batch_sigma,
    brownian_or_given,
    check_sigmas,
    gaussian_or_given,
    steps_range,
    to_d,
)


def _t(sigma: Tensor) -> Tensor:
    return sigma.log().neg()


def _sigma(t: Tensor) -> Tensor:
    return t.neg().exp()


@torch.no_grad()
def sample_dpmpp_2s_ancestral(
    denoise: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    noise: NoiseSource | None = None,
    callback: Callback | None = None,
    progress: bool = False,
    eta: float = 1.0,
    s_noise: float = 1.0,
    seed: int | None = None,
) -> Tensor:
    """Ancestral sampling with DPM-Solver++(2S) single-step second-order steps (Lu et al. 2022, Algorithm 1).

    Each step goes deterministically to sigma_down with a midpoint (in t) evaluation, then adds noise of std
    sigma_up (not on a step to sigma = 0). Two denoiser calls per step, one on a step whose sigma_down is 0.

    Args:
        denoise: ``D(x (B, C, T), sigma (B,)) -> (B, C, T)``.
        x: (B, C, T) starting sample, already scaled by sigmas[0].
        sigmas: (N + 1,) descending sigmas, usually ending in 0.
        noise: noise source; None -> Gaussian noise from ``seed`` (required then, unless eta = 0).
        callback: called once per step, before the update, with {"x", "i", "sigma", "sigma_hat", "denoised"}.
        progress: show a tqdm bar.
        eta: ancestral noise fraction (1 = full ancestral, 0 = deterministic DPM-Solver++(2S)).
        s_noise: scale of the added noise.
        seed: seed of the default Gaussian noise source.
    """
    check_sigmas(sigmas, "sample_dpmpp_2s_ancestral")
    if eta:
        noise = gaussian_or_given(noise, x, seed, "sample_dpmpp_2s_ancestral")
    for i in steps_range(len(sigmas) - 1, progress):
        denoised = denoise(x, batch_sigma(sigmas[i], x))
        sigma_down, sigma_up = ancestral_step(sigmas[i], sigmas[i + 1], eta)
        if callback is not None:
            callback({"x": x, "i": i, "sigma": sigmas[i], "sigma_hat": sigmas[i], "denoised": denoised})
        if sigma_down == 0:
            x = x + to_d(x, sigmas[i], denoised) * (sigma_down - sigmas[i])
        else:
            t, t_next = _t(sigmas[i]), _t(sigma_down)
            h = t_next - t
            s = t + 0.5 * h
            x_mid = (_sigma(s) / _sigma(t)) * x - (-0.5 * h).expm1() * denoised
            denoised_mid = denoise(x_mid, batch_sigma(_sigma(s), x))
            x = (_sigma(t_next) / _sigma(t)) * x - (-h).expm1() * denoised_mid
        if sigmas[i + 1] > 0 and eta:
            x = x + noise(sigmas[i], sigmas[i + 1]) * s_noise * sigma_up
    return x


@torch.no_grad()
def sample_dpmpp_2m(
    denoise: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    noise: NoiseSource | None = None,
    seed: int | Sequence[int] | None = None,
    callback: Callback | None = None,
    progress: bool = False,
) -> Tensor:
    """DPM-Solver++(2M): second-order multistep data-prediction solver (Lu et al. 2022, Algorithm 2).

    One denoiser call per step; the first step and the step to sigma = 0 are first order.

    Args:
        denoise: ``D(x (B, C, T), sigma (B,)) -> (B, C, T)``.
        x: (B, C, T) starting sample, already scaled by sigmas[0].
        sigmas: (N + 1,) descending sigmas, usually ending in 0.
        noise, seed: ignored (deterministic sampler); accepted so every sampler has one signature.
        callback: called once per step, before the update, with {"x", "i", "sigma", "sigma_hat", "denoised"}.
        progress: show a tqdm bar.
    """
    check_sigmas(sigmas, "sample_dpmpp_2m")
    old_denoised: Tensor | None = None
    for i in steps_range(len(sigmas) - 1, progress):
        denoised = denoise(x, batch_sigma(sigmas[i], x))
        if callback is not None:
            callback({"x": x, "i": i, "sigma": sigmas[i], "sigma_hat": sigmas[i], "denoised": denoised})
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            t, t_next = _t(sigmas[i]), _t(sigmas[i + 1])
            h = t_next - t
            if old_denoised is None:
                denoised_d = denoised
            else:
                r = (t - _t(sigmas[i - 1])) / h
                denoised_d = (1 + 1 / (2 * r)) * denoised - (1 / (2 * r)) * old_denoised
            x = (_sigma(t_next) / _sigma(t)) * x - (-h).expm1() * denoised_d
        old_denoised = denoised
    return x


@torch.no_grad()
def sample_dpmpp_2m_sde(
    denoise: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    noise: NoiseSource | None = None,
    callback: Callback | None = None,
    progress: bool = False,
    eta: float = 1.0,
    s_noise: float = 1.0,
    solver_type: str = "midpoint",
    seed: int | Sequence[int] | None = None,
) -> Tensor:
    """DPM-Solver++(2M) SDE: second-order multistep solver of the reverse SDE (Lu et al. 2022, k-diffusion form).

    One denoiser call per step. A final step to sigma = 0 returns the denoised estimate, without noise.

    Args:
        denoise: ``D(x (B, C, T), sigma (B,)) -> (B, C, T)``.
        x: (B, C, T) starting sample, already scaled by sigmas[0].
        sigmas: (N + 1,) descending sigmas, usually ending in 0.
        noise: noise source; None -> Brownian tree from ``seed`` (required then, unless eta = 0).
        callback: called once per step, before the update, with {"x", "i", "sigma", "sigma_hat", "denoised"}.
        progress: show a tqdm bar.
        eta: SDE noise fraction (1 = full SDE, 0 = ODE).
        s_noise: scale of the injected noise.
        solver_type: second-order correction, ``'midpoint'`` (official default) or ``'heun'``.
        seed: seed (or B seeds) of the default Brownian tree.
    """
    check_sigmas(sigmas, "sample_dpmpp_2m_sde")
    if solver_type not in ("midpoint", "heun"):
        raise InputError(f"sample_dpmpp_2m_sde: solver_type must be 'midpoint' or 'heun', got {solver_type!r}")
    if eta:
        noise = brownian_or_given(noise, x, sigmas, seed, "sample_dpmpp_2m_sde")
    old_denoised: Tensor | None = None
    h_last: Tensor | None = None
    for i in steps_range(len(sigmas) - 1, progress):
        denoised = denoise(x, batch_sigma(sigmas[i], x))
        if callback is not None:
            callback({"x": x, "i": i, "sigma": sigmas[i], "sigma_hat": sigmas[i], "denoised": denoised})
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            h = _t(sigmas[i + 1]) - _t(sigmas[i])
            eta_h = eta * h
            phi = (-h - eta_h).expm1().neg()
            x = sigmas[i + 1] / sigmas[i] * (-eta_h).exp() * x + phi * denoised
            if old_denoised is not None:
                r = h_last / h
                if solver_type == "heun":
                    x = x + (phi / (-h - eta_h) + 1) * (1 / r) * (denoised - old_denoised)
                else:
                    x = x + 0.5 * phi * (1 / r) * (denoised - old_denoised)
            if eta:
                x = x + noise(sigmas[i], sigmas[i + 1]) * sigmas[i + 1] * (-2 * eta_h).expm1().neg().sqrt() * s_noise
            h_last = h
        old_denoised = denoised
    return x


@torch.no_grad()
def sample_dpmpp_3m_sde(
    denoise: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    noise: NoiseSource | None = None,
    callback: Callback | None = None,
    progress: bool = False,
    eta: float = 1.0,
    s_noise: float = 1.0,
    seed: int | Sequence[int] | None = None,
) -> Tensor:
    """DPM-Solver++(3M) SDE: third-order multistep solver of the reverse SDE (k-diffusion; AudioX's default).

    One denoiser call per step. The order ramps 1, 2, 3 over the first steps. A final step to sigma = 0 returns the
    denoised estimate, without noise, so a schedule ending in 0 asks ``noise`` for N - 1 tensors.

    Args:
        denoise: ``D(x (B, C, T), sigma (B,)) -> (B, C, T)``.
        x: (B, C, T) starting sample, already scaled by sigmas[0].
        sigmas: (N + 1,) descending sigmas, usually ending in 0.
        noise: noise source; None -> Brownian tree from ``seed`` (required then, unless eta = 0).
        callback: called once per step, before the update, with {"x", "i", "sigma", "sigma_hat", "denoised"}.
        progress: show a tqdm bar.
        eta: SDE noise fraction (1 = full SDE, 0 = ODE).
        s_noise: scale of the injected noise.
        seed: seed (or B seeds) of the default Brownian tree.
    """
    check_sigmas(sigmas, "sample_dpmpp_3m_sde")
    if eta:
        noise = brownian_or_given(noise, x, sigmas, seed, "sample_dpmpp_3m_sde")
    denoised_1: Tensor | None = None
    denoised_2: Tensor | None = None
    h_1: Tensor | None = None
    h_2: Tensor | None = None
    for i in steps_range(len(sigmas) - 1, progress):
        denoised = denoise(x, batch_sigma(sigmas[i], x))
        if callback is not None:
            callback({"x": x, "i": i, "sigma": sigmas[i], "sigma_hat": sigmas[i], "denoised": denoised})
        h: Tensor | None = None
        if sigmas[i + 1] == 0:
            x = denoised
        else:
            h = _t(sigmas[i + 1]) - _t(sigmas[i])
            h_eta = h * (eta + 1)
            x = torch.exp(-h_eta) * x + (-h_eta).expm1().neg() * denoised
            phi_2 = h_eta.neg().expm1() / h_eta + 1
            if h_2 is not None:
                r0, r1 = h_1 / h, h_2 / h
                d1_0 = (denoised - denoised_1) / r0
                d1_1 = (denoised_1 - denoised_2) / r1
                d1 = d1_0 + (d1_0 - d1_1) * r0 / (r0 + r1)
                d2 = (d1_0 - d1_1) / (r0 + r1)
                phi_3 = phi_2 / h_eta - 0.5
                x = x + phi_2 * d1 - phi_3 * d2
            elif h_1 is not None:
                d = (denoised - denoised_1) / (h_1 / h)
                x = x + phi_2 * d
            if eta:
                x = x + noise(sigmas[i], sigmas[i + 1]) * sigmas[i + 1] * (-2 * h * eta).expm1().neg().sqrt() * s_noise
        denoised_1, denoised_2 = denoised, denoised_1
        h_1, h_2 = h, h_1
    return x
