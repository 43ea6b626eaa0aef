"""Every sampler on Gaussian data, where the exact denoiser and the exact probability-flow ODE are known.

Data x0 ~ N(MU, S^2) per element. Then x_sigma = x0 + sigma * n has D(x, sigma) = MU + S^2 / (S^2 + sigma^2) (x - MU),
and the probability-flow ODE dx/dsigma = (x - D) / sigma is solved by
x(sigma) = MU + (x_T - MU) * sqrt(S^2 + sigma^2) / sqrt(S^2 + sigma_T^2).
"""

from __future__ import annotations

import math

import pytest
import torch

from audiox.sampling import (
    SAMPLER_NAMES,
    get_sigmas_polyexponential,
    sample,
    sample_dpm_2,
    sample_dpm_fast,
    sample_dpmpp_2m,
    sample_dpmpp_3m_sde,
    sample_euler,
    sample_heun,
    sample_lms,
)

MU, S = 0.5, 0.7
SIGMA_MIN, SIGMA_MAX = 0.002, 80.0


def gaussian_denoise(x: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    assert sigma.shape == (x.shape[0],)
    s2 = sigma.view(-1, *([1] * (x.ndim - 1))) ** 2
    return MU + S**2 / (S**2 + s2) * (x - MU)


def exact_ode(x_t: torch.Tensor, sigma_t: float, sigma: float) -> torch.Tensor:
    return MU + (x_t - MU) * math.sqrt(S**2 + sigma**2) / math.sqrt(S**2 + sigma_t**2)


# Moments of the final samples. 4000 x 2 x 2 = 16000 independent elements: the sample mean has std
# S / sqrt(16000) = 0.0055 and the sample variance std S^2 sqrt(2 / 16000) = 0.0055. Starting from N(0, sigma_max^2)
# instead of N(MU, S^2 + sigma_max^2) biases the mean by -MU * S / sigma_max = -0.004. Measured discretisation
# bias at these step counts is <= 0.025 on the variance (Euler: first order, so it gets 100 steps). Tolerances:
# mean 0.025 (~4 std + prior bias), variance 0.045 (~4 std + discretisation bias), i.e. ~9 % of S^2. A wrong noise
# scale or a missing correction term moves the variance by far more (e.g. Euler at 30 steps is already -0.08).
MEAN_TOL, VAR_TOL = 0.025, 0.045
STEPS = {"euler": 100}


@pytest.mark.parametrize("name", sorted(SAMPLER_NAMES))
def test_sampler_recovers_gaussian_moments(name):
    noise_init = torch.randn(4000, 2, 2, generator=torch.Generator().manual_seed(0))
    out = sample(
        name, gaussian_denoise, noise_init, steps=STEPS.get(name, 50), sigma_min=SIGMA_MIN, sigma_max=SIGMA_MAX, seed=1
    )
    assert out.shape == noise_init.shape and torch.isfinite(out).all()
    assert abs(out.mean().item() - MU) < MEAN_TOL, out.mean().item()
    assert abs(out.var().item() - S**2) < VAR_TOL, out.var().item()


def _ode_error(fn, steps: int) -> float:
    x_t = SIGMA_MAX * torch.randn(8, 1, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    sigmas = get_sigmas_polyexponential(steps, SIGMA_MIN, SIGMA_MAX).double()
    out = fn(gaussian_denoise, x_t, sigmas)
    return (out - exact_ode(x_t, SIGMA_MAX, 0.0)).abs().max().item()


# Measured max-abs errors vs the exact ODE solution at sigma = 0 (float64, log-linear schedule 80 -> 0.002 -> 0):
#   euler   50: 8.5e-2  100: 4.3e-2  200: 2.1e-2
#   heun    30: 3.0e-2   50: 1.0e-2  100: 2.4e-3      dpm_2     20: 3.5e-2  50: 4.9e-3  100: 1.2e-3
#   lms     25: 3.3e-2   50: 3.6e-3  100: 3.0e-4      dpmpp_2m  20: 2.8e-2  50: 4.7e-3  100: 1.2e-3
#   dpmpp_3m_sde (eta = 0, i.e. DPM-Solver++(3M))  20: 1.8e-2
# Steps each higher-order sampler needs to beat Euler's 100-step error (denoiser calls in brackets):
HIGHER_ORDER = {
    "heun": (sample_heun, 30),  # (59)
    "dpm_2": (sample_dpm_2, 20),  # (39)
    "lms": (sample_lms, 25),  # (25)
    "dpmpp_2m": (sample_dpmpp_2m, 20),  # (20)
    "dpmpp_3m_ode": (lambda d, x, s: sample_dpmpp_3m_sde(d, x, s, eta=0.0), 20),  # (20)
}


def test_higher_order_samplers_beat_euler_100_steps_with_fewer_steps():
    euler_100 = _ode_error(sample_euler, 100)
    assert 0.02 < euler_100 < 0.08  # a sane first-order error, not a broken reference
    for name, (fn, steps) in HIGHER_ORDER.items():
        err = _ode_error(fn, steps)
        assert err < euler_100, f"{name}: {steps} steps give {err:.3e} >= Euler-100 {euler_100:.3e}"


def test_empirical_convergence_orders():
    def order(fn) -> float:
        return math.log2(_ode_error(fn, 50) / _ode_error(fn, 100))

    assert 0.8 < order(sample_euler) < 1.2
    for fn in (sample_heun, sample_dpm_2, sample_dpmpp_2m):
        assert order(fn) > 1.8
    assert order(sample_lms) > 2.5  # order-4 multistep; its start-up steps limit the global order


def test_dpm_fast_matches_exact_ode_at_sigma_min():
    x_t = SIGMA_MAX * torch.randn(8, 1, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    exact = exact_ode(x_t, SIGMA_MAX, SIGMA_MIN)  # dpm-fast stops at sigma_min, not 0
    err = {
        n: (sample_dpm_fast(gaussian_denoise, x_t, SIGMA_MIN, SIGMA_MAX, n) - exact).abs().max().item()
        for n in (20, 50)
    }
    # measured 1.25e-2 and 7.3e-4: better than Euler-100 with 20 calls, and third order (ratio 2.5^3 = 15.6)
    assert err[20] < 0.043 and err[50] < err[20] / 8
