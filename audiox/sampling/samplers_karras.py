"""Probability-flow ODE samplers in sigma (Karras et al. 2022): Euler, Heun, DPM-2 and linear multistep.

All follow k-diffusion 0.1.1 step for step. Euler, Heun and DPM-2 support Karras "churn" (s_churn > 0), which is the
only thing that makes them stochastic; with the default s_churn = 0 they draw no random numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from audiox.errors import InputError
from audiox.sampling.noise import NoiseSource
from audiox.sampling.samplers_common import (
    Callback,
    Denoiser,
    batch_sigma,
    check_sigmas,
    churn_sigma,
    gaussian_or_given,
    steps_range,
    to_d,
)


@torch.no_grad()
def sample_euler(
    denoise: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    noise: NoiseSource | None = None,
    callback: Callback | None = None,
    progress: bool = False,
    s_churn: float = 0.0,
    s_tmin: float = 0.0,
    s_tmax: float = math.inf,
    s_noise: float = 1.0,
    seed: int | None = None,
) -> Tensor:
    """Euler steps of the probability-flow ODE: Karras et al. (2022), Algorithm 2 with first-order steps.

    Args:
        denoise: ``D(x (B, C, T), sigma (B,)) -> (B, C, T)``.
        x: (B, C, T) starting sample, already scaled by sigmas[0].
        sigmas: (N + 1,) descending sigmas, usually ending in 0.
        noise: churn noise source (only used when s_churn > 0).
        callback: called once per step, before the update, with {"x", "i", "sigma", "sigma_hat", "denoised"}.
        progress: show a tqdm bar.
        s_churn: Karras churn; 0 (default) means no added noise and no random numbers.
        s_tmin: churn only for sigma >= s_tmin.
        s_tmax: churn only for sigma <= s_tmax.
        s_noise: scale of the churn noise.
        seed: seeds a Gaussian churn noise source when s_churn > 0 and ``noise`` is None.
    """
    check_sigmas(sigmas, "sample_euler")
    noise = gaussian_or_given(noise, x, seed, "sample_euler") if s_churn > 0 else noise
    n = len(sigmas) - 1
    for i in steps_range(n, progress):
        x, sigma_hat = churn_sigma(x, sigmas[i], n, s_churn, s_tmin, s_tmax, s_noise, noise)
        denoised = denoise(x, batch_sigma(sigma_hat, x))
        d = to_d(x, sigma_hat, denoised)
        if callback is not None:
            callback({"x": x, "i": i, "sigma": sigmas[i], "sigma_hat": sigma_hat, "denoised": denoised})
        x = x + d * (sigmas[i + 1] - sigma_hat)
    return x


@torch.no_grad()
def sample_heun(
    denoise: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    noise: NoiseSource | None = None,
    callback: Callback | None = None,
    progress: bool = False,
    s_churn: float = 0.0,
    s_tmin: float = 0.0,
    s_tmax: float = math.inf,
    s_noise: float = 1.0,
    seed: int | None = None,
) -> Tensor:
    """Heun (trapezoidal predictor-corrector) steps: Karras et al. (2022), Algorithm 2.

    Two denoiser calls per step; the step to sigma = 0 is a plain Euler step.

    Args:
        denoise: ``D(x (B, C, T), sigma (B,)) -> (B, C, T)``.
        x: (B, C, T) starting sample, already scaled by sigmas[0].
        sigmas: (N + 1,) descending sigmas, usually ending in 0.
        noise: churn noise source (only used when s_churn > 0).
        callback: called once per step, before the update, with {"x", "i", "sigma", "sigma_hat", "denoised"}.
        progress: show a tqdm bar.
        s_churn: Karras churn; 0 (default) means no added noise and no random numbers.
        s_tmin: churn only for sigma >= s_tmin.
        s_tmax: churn only for sigma <= s_tmax.
        s_noise: scale of the churn noise.
        seed: seeds a Gaussian churn noise source when s_churn > 0 and ``noise`` is None.
    """
    check_sigmas(sigmas, "sample_heun")
    noise = gaussian_or_given(noise, x, seed, "sample_heun") if s_churn > 0 else noise
    n = len(sigmas) - 1
    for i in steps_range(n, progress):
        x, sigma_hat = churn_sigma(x, sigmas[i], n, s_churn, s_tmin, s_tmax, s_noise, noise)
        denoised = denoise(x, batch_sigma(sigma_hat, x))
        d = to_d(x, sigma_hat, denoised)
        if callback is not None:
            callback({"x": x, "i": i, "sigma": sigmas[i], "sigma_hat": sigma_hat, "denoised": denoised})
        dt = sigmas[i + 1] - sigma_hat
        if sigmas[i + 1] == 0:
            x = x + d * dt
        else:
            x_pred = x + d * dt
            d_pred = to_d(x_pred, sigmas[i + 1], denoise(x_pred, batch_sigma(sigmas[i + 1], x)))
            x = x + (d + d_pred) / 2 * dt
    return x


@torch.no_grad()
def sample_dpm_2(
    denoise: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    noise: NoiseSource | None = None,
    callback: Callback | None = None,
    progress: bool = False,
    s_churn: float = 0.0,
    s_tmin: float = 0.0,
    s_tmax: float = math.inf,
    s_noise: float = 1.0,
    seed: int | None = None,
) -> Tensor:
    """DPM-Solver-2 style midpoint steps (Lu et al. 2022) in the Karras ODE, as k-diffusion's ``sample_dpm_2``.

    Each step evaluates the derivative at the geometric midpoint sigma_mid = sqrt(sigma_i * sigma_{i+1}) and takes
    the full step with it; the step to sigma = 0 is a plain Euler step (i.e. returns the denoised estimate).

    Args:
        denoise: ``D(x (B, C, T), sigma (B,)) -> (B, C, T)``.
        x: (B, C, T) starting sample, already scaled by sigmas[0].
        sigmas: (N + 1,) descending sigmas, usually ending in 0.
        noise: churn noise source (only used when s_churn > 0).
        callback: called once per step, before the update, with {"x", "i", "sigma", "sigma_hat", "denoised"}.
        progress: show a tqdm bar.
        s_churn: Karras churn; 0 (default) means no added noise and no random numbers.
        s_tmin: churn only for sigma >= s_tmin.
        s_tmax: churn only for sigma <= s_tmax.
        s_noise: scale of the churn noise.
        seed: seeds a Gaussian churn noise source when s_churn > 0 and ``noise`` is None.
    """
    check_sigmas(sigmas, "sample_dpm_2")
    noise = gaussian_or_given(noise, x, seed, "sample_dpm_2") if s_churn > 0 else noise
    n = len(sigmas) - 1
    for i in steps_range(n, progress):
        x, sigma_hat = churn_sigma(x, sigmas[i], n, s_churn, s_tmin, s_tmax, s_noise, noise)
        denoised = denoise(x, batch_sigma(sigma_hat, x))
        d = to_d(x, sigma_hat, denoised)
        if callback is not None:
            callback({"x": x, "i": i, "sigma": sigmas[i], "sigma_hat": sigma_hat, "denoised": denoised})
        if sigmas[i + 1] == 0:
            x = x + d * (sigmas[i + 1] - sigma_hat)
        else:
            sigma_mid = sigma_hat.log().lerp(sigmas[i + 1].log(), 0.5).exp()
            x_mid = x + d * (sigma_mid - sigma_hat)
            d_mid = to_d(x_mid, sigma_mid, denoise(x_mid, batch_sigma(sigma_mid, x)))
            x = x + d_mid * (sigmas[i + 1] - sigma_hat)
    return x


def lms_coefficients(sigmas: np.ndarray, i: int, order: int) -> list[float]:
    """Linear-multistep weights for the step sigmas[i] -> sigmas[i + 1] from the last ``order`` derivatives.

    Weight j integrates the Lagrange basis polynomial through sigmas[i], ..., sigmas[i - order + 1] that is 1 at
    sigmas[i - j], over [sigmas[i], sigmas[i + 1]]. The integrand has degree order - 1, so Gauss-Legendre with
    ``order`` nodes is exact.

    Args:
        sigmas: (N + 1,) float64 sigmas.
        i: step index, >= order - 1.
        order: number of past derivatives.

    Returns:
        ``order`` floats; weight j multiplies the derivative of step i - j.
    """
    if order - 1 > i:
        raise ValueError(f"LMS order {order} too high for step {i}")
    nodes, weights = np.polynomial.legendre.leggauss(order)
    a, b = float(sigmas[i]), float(sigmas[i + 1])
    tau = (b - a) / 2 * nodes + (a + b) / 2
    w = (b - a) / 2 * weights
    past = [float(sigmas[i - k]) for k in range(order)]
    coeffs = []
    for j in range(order):
        basis = np.ones_like(tau)
        for k in range(order):
            if k != j:
                basis *= (tau - past[k]) / (past[j] - past[k])
        coeffs.append(float(np.sum(w * basis)))
    return coeffs


@torch.no_grad()
def sample_lms(
    denoise: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    noise: NoiseSource | None = None,
    seed: int | Sequence[int] | None = None,
    callback: Callback | None = None,
    progress: bool = False,
    order: int = 4,
) -> Tensor:
    """Linear multistep (Adams-Bashforth in sigma) sampler, k-diffusion's ``sample_lms``.

    One denoiser call per step; the order ramps up from 1 over the first steps.

    Args:
        denoise: ``D(x (B, C, T), sigma (B,)) -> (B, C, T)``.
        x: (B, C, T) starting sample, already scaled by sigmas[0].
        sigmas: (N + 1,) descending sigmas, usually ending in 0.
        noise, seed: ignored (deterministic sampler); accepted so every sampler has one signature.
        callback: called once per step, before the update, with {"x", "i", "sigma", "sigma_hat", "denoised"}.
        progress: show a tqdm bar.
        order: number of past derivatives combined (>= 1).
    """
    check_sigmas(sigmas, "sample_lms")
    if order < 1:
        raise InputError(f"sample_lms: order must be >= 1, got {order}")
    sigmas_np = sigmas.detach().cpu().double().numpy()
    ds: list[Tensor] = []
    for i in steps_range(len(sigmas) - 1, progress):
        denoised = denoise(x, batch_sigma(sigmas[i], x))
        ds.append(to_d(x, sigmas[i], denoised))
        if len(ds) > order:
            ds.pop(0)
        if callback is not None:
            callback({"x": x, "i": i, "sigma": sigmas[i], "sigma_hat": sigmas[i], "denoised": denoised})
        coeffs = lms_coefficients(sigmas_np, i, min(i + 1, order))
        x = x + sum(c * d for c, d in zip(coeffs, reversed(ds)))
    return x
